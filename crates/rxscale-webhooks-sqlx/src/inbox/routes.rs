//! [`InboxRoute`]: a route that verifies, stores and answers, one line on axum or actix-web.

use std::fmt;

use rxscale_webhooks::pipeline::{Delivery, Pipeline, Rejection};
use rxscale_webhooks::{SIGNATURE_HEADER, Verifier};
use sqlx::Pool;

use super::{Inbox, InboxPools, Stored};
use crate::Error;
use crate::backend::Backend;

/// A reply-first webhook route: it verifies the delivery (signature, age, body limit, exactly
/// as the framework adapters do), [stores](Inbox::store) it and answers 200, or 200 with
/// `X-Webhook-Duplicate: true` for a copy, within milliseconds. Workers do the rest.
///
/// | answer | when |
/// |---|---|
/// | 200 `{"status":"stored"}` | stored for the workers |
/// | 200 `{"status":"duplicate"}`, `X-Webhook-Duplicate: true` | a copy of a stored event |
/// | 401, 413, 400, 422 | verification failed (the pipeline's rejections) |
/// | 503 | the database could not store it: RxScale retries |
///
/// - axum (feature `axum`): `Router::new().route("/webhooks/rxscale", route.axum())`
/// - actix-web (feature `actix`): `App::new().service(route.actix("/webhooks/rxscale"))`
pub struct InboxRoute<DB: Backend> {
    inbox: Inbox,
    pool: Pool<DB>,
    pipeline: Pipeline,
}

impl<DB: Backend> Clone for InboxRoute<DB> {
    fn clone(&self) -> Self {
        InboxRoute {
            inbox: self.inbox.clone(),
            pool: self.pool.clone(),
            pipeline: self.pipeline.clone(),
        }
    }
}

impl<DB: Backend> fmt::Debug for InboxRoute<DB> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("InboxRoute")
            .field("inbox", &self.inbox)
            .finish_non_exhaustive()
    }
}

/// The answer as the frameworks need it: status, body and headers.
#[cfg_attr(not(any(feature = "axum", feature = "actix")), allow(dead_code))]
struct Answer {
    status: u16,
    body: &'static str,
    duplicate: bool,
    rejection_headers: &'static [(&'static str, &'static str)],
}

#[cfg_attr(not(any(feature = "axum", feature = "actix")), allow(dead_code))]
impl<DB: Backend> InboxRoute<DB> {
    /// A route storing into `inbox` in the inbox database of `pools` (a [`Pool`], or
    /// [`InboxPools`]), verifying with `verifier`.
    #[must_use]
    pub fn new(inbox: Inbox, pools: impl Into<InboxPools<DB>>, verifier: Verifier) -> Self {
        InboxRoute {
            inbox,
            pool: pools.into().inbox().clone(),
            pipeline: Pipeline::new(verifier),
        }
    }

    fn rejected(&self, rejection: &Rejection, delivery: &Delivery) -> Answer {
        delivery.record(rejection.outcome());
        delivery.finish();
        Answer {
            status: rejection.status(),
            body: rejection.body(),
            duplicate: false,
            rejection_headers: rejection.headers(),
        }
    }

    async fn answer<'h, I>(
        &self,
        headers: impl Fn(&'static str) -> I,
        body: &[u8],
        delivery: &Delivery,
    ) -> Answer
    where
        I: IntoIterator<Item = &'h [u8]>,
    {
        let verified = match self.pipeline.check_event(&headers, body, delivery) {
            Ok(verified) => verified,
            Err(rejection) => return self.rejected(&rejection, delivery),
        };
        let stored = self
            .inbox
            .store(&self.pool, &verified, body, headers(SIGNATURE_HEADER))
            .await;
        delivery.finish();
        match stored {
            Ok(stored) => Answer {
                status: 200,
                body: stored.response_body(),
                duplicate: stored == Stored::Duplicate,
                rejection_headers: &[],
            },
            Err(error) => error_answer(&error),
        }
    }
}

#[cfg_attr(not(any(feature = "axum", feature = "actix")), allow(dead_code))]
fn error_answer(error: &Error) -> Answer {
    Answer {
        status: error.status_code(),
        body: error.body_text(),
        duplicate: false,
        rejection_headers: &[],
    }
}

#[cfg(feature = "axum")]
mod axum_route {
    use std::sync::Arc;

    use axum::body::Body;
    use axum::extract::Request;
    use axum::response::Response;
    use futures_util::StreamExt as _;
    use http::header::{CONTENT_LENGTH, CONTENT_TYPE};
    use http::{HeaderName, HeaderValue, StatusCode};
    use rxscale_webhooks::pipeline::{Delivery, body_read_failed, content_length};
    use tracing::Instrument as _;

    use super::{Answer, InboxRoute};
    use crate::backend::Backend;

    impl<DB: Backend> InboxRoute<DB> {
        /// The route for axum: `Router::new().route("/webhooks/rxscale", route.axum())`.
        pub fn axum<S: Clone + Send + Sync + 'static>(self) -> axum::routing::MethodRouter<S> {
            let route = Arc::new(self);
            axum::routing::post(move |request: Request| {
                let route = Arc::clone(&route);
                async move {
                    let delivery = Delivery::start();
                    let span = delivery.span().clone();
                    route.handle_axum(request, &delivery).instrument(span).await
                }
            })
        }

        async fn handle_axum(&self, request: Request, delivery: &Delivery) -> Response {
            let (parts, body) = request.into_parts();
            let declared = content_length(parts.headers.get(CONTENT_LENGTH).map(|v| v.as_bytes()));
            let mut reader = match self.pipeline.body_reader(declared) {
                Ok(reader) => reader,
                Err(rejection) => return respond(self.rejected(&rejection, delivery)),
            };
            let mut stream = body.into_data_stream();
            while let Some(chunk) = stream.next().await {
                let pushed = match chunk {
                    Ok(chunk) => reader.push(chunk),
                    Err(error) => Err(body_read_failed(error)),
                };
                if let Err(rejection) = pushed {
                    return respond(self.rejected(&rejection, delivery));
                }
            }
            let body = reader.finish();
            let headers = &parts.headers;
            let answer = self
                .answer(
                    |name| headers.get_all(name).iter().map(HeaderValue::as_bytes),
                    &body,
                    delivery,
                )
                .await;
            respond(answer)
        }
    }

    fn respond(answer: Answer) -> Response {
        let mut response = Response::new(Body::from(answer.body));
        *response.status_mut() = StatusCode::from_u16(answer.status).unwrap_or_else(|_| {
            unreachable!("every status the SDK answers with is a valid HTTP status")
        });
        let headers = response.headers_mut();
        headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
        for (name, value) in answer.rejection_headers {
            headers.insert(
                HeaderName::from_static(name),
                HeaderValue::from_static(value),
            );
        }
        if answer.duplicate {
            headers.insert(
                HeaderName::from_static(crate::DUPLICATE_HEADER),
                HeaderValue::from_static("true"),
            );
        }
        response
    }
}

#[cfg(feature = "actix")]
mod actix_route {
    use std::sync::Arc;

    use actix_web::http::StatusCode;
    use actix_web::http::header::CONTENT_LENGTH;
    use actix_web::{HttpRequest, HttpResponse, web};
    use futures_util::StreamExt as _;
    use rxscale_webhooks::pipeline::{Delivery, body_read_failed, content_length};
    use tracing::Instrument as _;

    use super::{Answer, InboxRoute};
    use crate::backend::Backend;

    impl<DB: Backend> InboxRoute<DB> {
        /// The resource for actix-web: `App::new().service(route.actix("/webhooks/rxscale"))`.
        pub fn actix(self, path: &str) -> actix_web::Resource {
            let route = Arc::new(self);
            web::resource(path).route(web::post().to(
                move |request: HttpRequest, payload: web::Payload| {
                    let route = Arc::clone(&route);
                    async move {
                        let delivery = Delivery::start();
                        let span = delivery.span().clone();
                        route
                            .handle_actix(request, payload, &delivery)
                            .instrument(span)
                            .await
                    }
                },
            ))
        }

        async fn handle_actix(
            &self,
            request: HttpRequest,
            mut payload: web::Payload,
            delivery: &Delivery,
        ) -> HttpResponse {
            let declared =
                content_length(request.headers().get(CONTENT_LENGTH).map(|v| v.as_bytes()));
            let mut reader = match self.pipeline.body_reader(declared) {
                Ok(reader) => reader,
                Err(rejection) => return respond(self.rejected(&rejection, delivery)),
            };
            while let Some(chunk) = payload.next().await {
                let pushed = match chunk {
                    Ok(chunk) => reader.push(chunk),
                    Err(error) => Err(body_read_failed(error)),
                };
                if let Err(rejection) = pushed {
                    return respond(self.rejected(&rejection, delivery));
                }
            }
            let body = reader.finish();
            let headers = request.headers();
            let answer = self
                .answer(
                    |name| headers.get_all(name).map(|value| value.as_bytes()),
                    &body,
                    delivery,
                )
                .await;
            respond(answer)
        }
    }

    fn respond(answer: Answer) -> HttpResponse {
        let status = StatusCode::from_u16(answer.status).unwrap_or_else(|_| {
            unreachable!("every status the SDK answers with is a valid HTTP status")
        });
        let mut response = HttpResponse::build(status);
        response.content_type("application/json");
        for header in answer.rejection_headers {
            response.insert_header(*header);
        }
        if answer.duplicate {
            response.insert_header((crate::DUPLICATE_HEADER, "true"));
        }
        response.body(answer.body)
    }
}
