//! [`ExpectWithinLimit`]: refusing an oversized body before actix-web invites the client to
//! send it.

use std::future::{Ready, ready};

use actix_web::HttpMessage as _;
use actix_web::ResponseError as _;
use actix_web::dev::{Service, ServiceFactory};
use actix_web::http::header::{CONTENT_LENGTH, HeaderValue};
use rxscale_webhooks::Verifier;
use rxscale_webhooks::pipeline::{Pipeline, content_length};

use crate::rejection::WebhookRejection;

/// The `Expect: 100-continue` service for actix-http's `HttpService::build().expect(..)`: a
/// request whose `Content-Length` is over the verifier's `max_body_bytes` is answered 413
/// `{"error":"body_too_large"}` **instead of** `100 Continue`, so the client never sends the
/// body; any other request goes on, and gets its `100 Continue`.
///
/// actix-web's `HttpServer` answers `100 Continue` before any middleware or extractor runs, and
/// offers no way to change that: [`VerifyWebhook`](crate::VerifyWebhook) can only answer 413
/// after the client was invited to upload. To answer first, build the server with
/// `actix-server` and actix-http's builder, as `examples/examples/actix_receiver.rs` does:
///
/// ```no_run
/// use actix_service::map_config;
/// use actix_web::dev::AppConfig;
/// use actix_web::{App, HttpResponse, web};
/// use rxscale_webhooks_actix::{ExpectWithinLimit, Verifier, VerifyWebhook};
///
/// # async fn run() -> std::io::Result<()> {
/// let verifier = Verifier::builder().secret("whsec_abc123").build().unwrap();
/// actix_server::Server::build()
///     .bind("rxscale-webhooks", ("127.0.0.1", 3000), move || {
///         let verifier = verifier.clone();
///         let app = App::new().service(web::resource("/webhooks/rxscale").route(
///             web::post()
///                 .to(|| async { HttpResponse::Ok().finish() })
///                 .wrap(VerifyWebhook::new(verifier.clone())),
///         ));
///         actix_http::HttpService::build()
///             .expect(ExpectWithinLimit::new(&verifier))
///             .finish(map_config(app, |_| AppConfig::default()))
///             .tcp()
///     })?
///     .run()
///     .await
/// # }
/// ```
#[derive(Debug, Clone)]
pub struct ExpectWithinLimit {
    pipeline: Pipeline,
}

impl ExpectWithinLimit {
    /// Refuses what `verifier` would refuse for its size.
    #[must_use]
    pub fn new(verifier: &Verifier) -> Self {
        ExpectWithinLimit {
            pipeline: Pipeline::new(verifier.clone()),
        }
    }
}

impl ServiceFactory<actix_http::Request> for ExpectWithinLimit {
    type Response = actix_http::Request;
    type Error = actix_web::Error;
    type Config = ();
    type Service = ExpectWithinLimit;
    type InitError = ();
    type Future = Ready<Result<ExpectWithinLimit, ()>>;

    fn new_service(&self, _config: ()) -> Self::Future {
        ready(Ok(self.clone()))
    }
}

impl Service<actix_http::Request> for ExpectWithinLimit {
    type Response = actix_http::Request;
    type Error = actix_web::Error;
    type Future = Ready<Result<actix_http::Request, actix_web::Error>>;

    actix_web::dev::always_ready!();

    fn call(&self, request: actix_http::Request) -> Self::Future {
        let declared = content_length(
            request
                .headers()
                .get(CONTENT_LENGTH)
                .map(HeaderValue::as_bytes),
        );
        // Logs the refusal like any other; the reader itself is not needed.
        match self.pipeline.body_reader(declared) {
            Ok(_) => ready(Ok(request)),
            Err(rejection) => {
                let response = WebhookRejection::from(rejection).error_response();
                ready(Err(actix_web::error::InternalError::from_response(
                    "body_too_large",
                    response,
                )
                .into()))
            }
        }
    }
}
