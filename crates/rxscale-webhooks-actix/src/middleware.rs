use std::future::{Ready, ready};
use std::rc::Rc;

use actix_web::HttpMessage as _;
use actix_web::ResponseError as _;
use actix_web::body::{EitherBody, MessageBody};
use actix_web::dev::{Payload, Service, ServiceRequest, ServiceResponse, Transform, forward_ready};
use futures_util::future::LocalBoxFuture;
use rxscale_webhooks::pipeline::{CheckedDelivery, Delivery, Pipeline, Rejection, settle};
use rxscale_webhooks::{ReplayGuard, Verifier};
use tracing::Instrument as _;

use crate::rejection::WebhookRejection;
use crate::request::{VerifiedBy, lookup, read_body};

/// Middleware that verifies every request as an RxScale webhook before the handler runs.
///
/// On success it
///
/// - puts the very bytes it verified back into the request payload, so `web::Json<T>`,
///   `web::Bytes`, `String` and [`VerifiedEvent`](crate::VerifiedEvent) all still work in the
///   handler;
/// - stores the [`Verified`](rxscale_webhooks::Verified) event in the request extensions: take
///   it with [`VerifiedEvent`](crate::VerifiedEvent) or `web::ReqData<Verified>`.
///
/// On failure it answers the [`WebhookRejection`] itself and the handler never runs. Several
/// `X-Webhook-Signature` headers are allowed: the delivery passes if any of them matches.
///
/// Wrap the webhook's **route** (`web::post().to(handle).wrap(..)`), not the resource or the
/// app, so that a wrong method still gets actix-web's 405 rather than a 401.
///
/// ```
/// use actix_web::{web, App, HttpResponse};
/// use rxscale_webhooks_actix::{Verified, Verifier, VerifyWebhook};
///
/// async fn handle(
///     verified: web::ReqData<Verified>,
///     body: web::Json<serde_json::Value>, // the verified bytes, intact
/// ) -> HttpResponse {
///     println!("{} {}", verified.dedup_key(), body["data"]["uid"]);
///     HttpResponse::Ok().finish()
/// }
///
/// # fn main() -> Result<(), rxscale_webhooks_actix::ConfigError> {
/// let verifier = Verifier::builder().secret("whsec_abc123").build()?;
/// let app = App::new().route(
///     "/webhooks/rxscale",
///     web::post().to(handle).wrap(VerifyWebhook::new(verifier)),
/// );
/// # let _ = app;
/// # Ok(())
/// # }
/// ```
#[must_use]
#[derive(Debug, Clone)]
pub struct VerifyWebhook {
    pipeline: Pipeline,
}

impl VerifyWebhook {
    /// Middleware that checks deliveries with `verifier`, including its `max_body_bytes` limit.
    pub fn new(verifier: Verifier) -> Self {
        VerifyWebhook {
            pipeline: Pipeline::new(verifier),
        }
    }

    /// Whether an authentic, fresh delivery of a known event type whose `data` does not decode
    /// ([`ErrorKind::InvalidEventData`](crate::ErrorKind::InvalidEventData)) is passed on to
    /// the handler with an [`UndecodedEvent`](crate::UndecodedEvent) in its extensions, instead
    /// of being answered with 422.
    ///
    /// Passing it on lets you acknowledge (and store) an event whose shape changed before this
    /// SDK learned it, rather than have RxScale retry it for as long as it retries.
    ///
    /// Default: `false`, such deliveries are rejected with 422.
    pub fn pass_invalid_event_data(mut self, pass: bool) -> Self {
        self.pipeline = self.pipeline.pass_invalid_event_data(pass);
        self
    }

    /// Runs each verified delivery through `guard`, so that every event is handled exactly once,
    /// with the tower layer's protocol and answers:
    ///
    /// - a fresh dedup key is claimed and the handler runs; a 2xx completes the key before the
    ///   response leaves, anything else releases it for the retry;
    /// - a key already handled is answered 200 `{"status":"duplicate"}` with
    ///   `X-Webhook-Duplicate: true`, one being handled right now 409 `{"error":"in_flight"}`,
    ///   and an unreachable store 503 `{"error":"replay_store_unavailable"}` (unless the guard
    ///   fails open); the handler does not run;
    /// - a handler that panics, or whose request future is dropped (a timeout middleware,
    ///   shutdown), releases the claim. actix-web keeps running a handler whose client went
    ///   away, so its own answer settles the claim then.
    ///
    /// Deliveries passed through with an [`UndecodedEvent`](crate::UndecodedEvent) are guarded
    /// too: they have a dedup key like any other. The span's `outcome` records the decision:
    /// `accepted` (or `passed_through`), `duplicate`, `in_flight`, `replay_store_unavailable` or
    /// `accepted_unguarded`.
    ///
    /// Build the guard once, outside the `HttpServer` factory, and clone it into each worker's
    /// middleware: clones share one store. See `docs/replay-protection.md`.
    ///
    /// ```
    /// use actix_web::{web, App, HttpResponse};
    /// use rxscale_webhooks_actix::{ReplayGuard, VerifiedEvent, Verifier, VerifyWebhook};
    ///
    /// async fn handle(event: VerifiedEvent) -> HttpResponse {
    ///     println!("once: {}", event.dedup_key());
    ///     HttpResponse::Ok().finish()
    /// }
    ///
    /// # fn main() -> Result<(), rxscale_webhooks_actix::ConfigError> {
    /// let verifier = Verifier::builder().secret("whsec_abc123").build()?;
    /// let guard = ReplayGuard::in_memory(); // or ReplayGuard::new(RedisStore) for several instances
    /// let factory = move || {
    ///     let middleware = VerifyWebhook::new(verifier.clone()).replay_guard(guard.clone());
    ///     App::new().service(
    ///         web::resource("/webhooks/rxscale").route(web::post().to(handle).wrap(middleware)),
    ///     )
    /// };
    /// # let _ = factory;
    /// # Ok(())
    /// # }
    /// ```
    ///
    /// Default: none, every verified delivery reaches the handler.
    pub fn replay_guard(mut self, guard: ReplayGuard) -> Self {
        self.pipeline = self.pipeline.replay_guard(guard);
        self
    }

    /// The verifier this middleware checks with.
    #[must_use]
    pub fn verifier(&self) -> &Verifier {
        self.pipeline.verifier()
    }

    /// The pipeline this middleware runs every delivery through.
    pub fn pipeline(&self) -> &Pipeline {
        &self.pipeline
    }
}

impl<S, B> Transform<S, ServiceRequest> for VerifyWebhook
where
    S: Service<ServiceRequest, Response = ServiceResponse<B>, Error = actix_web::Error> + 'static,
    B: MessageBody + 'static,
{
    type Response = ServiceResponse<EitherBody<B>>;
    type Error = actix_web::Error;
    type Transform = VerifyWebhookMiddleware<S>;
    type InitError = ();
    type Future = Ready<Result<Self::Transform, Self::InitError>>;

    fn new_transform(&self, service: S) -> Self::Future {
        ready(Ok(VerifyWebhookMiddleware {
            service: Rc::new(service),
            pipeline: Rc::new(self.pipeline.clone()),
        }))
    }
}

/// The service [`VerifyWebhook`] wraps a route's handler in.
pub struct VerifyWebhookMiddleware<S> {
    service: Rc<S>,
    pipeline: Rc<Pipeline>,
}

impl<S> std::fmt::Debug for VerifyWebhookMiddleware<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("VerifyWebhookMiddleware")
            .field("pipeline", &self.pipeline)
            .finish_non_exhaustive()
    }
}

impl<S, B> Service<ServiceRequest> for VerifyWebhookMiddleware<S>
where
    S: Service<ServiceRequest, Response = ServiceResponse<B>, Error = actix_web::Error> + 'static,
    B: MessageBody + 'static,
{
    type Response = ServiceResponse<EitherBody<B>>;
    type Error = actix_web::Error;
    type Future = LocalBoxFuture<'static, Result<Self::Response, Self::Error>>;

    forward_ready!(service);

    fn call(&self, mut request: ServiceRequest) -> Self::Future {
        let service = Rc::clone(&self.service);
        let pipeline = Rc::clone(&self.pipeline);
        let delivery = Delivery::start();
        let span = delivery.span().clone();
        let future = async move {
            let mut payload = request.take_payload();
            let checked = check(&pipeline, &mut payload, &request, &delivery).await;
            // The admission is held across the handler: if it panics or the request's future
            // is dropped, the admission is dropped unfinished, which releases the claim.
            let (bytes, checked, admission) = match checked {
                Ok(passed) => passed,
                Err(rejection) => return Ok(reject(request, rejection, &delivery)),
            };
            {
                let mut extensions = request.extensions_mut();
                match checked {
                    CheckedDelivery::Decoded(verified) => {
                        extensions.insert(verified);
                    }
                    CheckedDelivery::Undecoded(undecoded) => {
                        extensions.insert(undecoded);
                    }
                }
                extensions.insert(VerifiedBy(pipeline.verifier().clone()));
            }
            request.set_payload(Payload::from(bytes));
            let response = service.call(request).await;
            if let Ok(response) = &response {
                let headers = response.headers();
                delivery.record_answer(response.status().as_u16(), |name| {
                    headers.get_all(name).map(|value| value.as_bytes())
                });
            }
            if let Some(admission) = admission {
                // Settled before the response leaves, so that a 2xx RxScale sees always has its
                // key recorded as completed.
                let succeeded = matches!(&response, Ok(r) if r.status().is_success());
                settle(admission, succeeded).await;
            }
            delivery.finish();
            response.map(ServiceResponse::map_into_left_body)
        };
        Box::pin(future.instrument(span))
    }
}

type Checked = (
    actix_web::web::Bytes,
    CheckedDelivery,
    Option<rxscale_webhooks::replay::Admission>,
);

/// Reads the body within the limit, checks it and claims it; on success returns the very bytes.
async fn check(
    pipeline: &Pipeline,
    payload: &mut Payload,
    request: &ServiceRequest,
    delivery: &Delivery,
) -> Result<Checked, Rejection> {
    let headers = request.headers();
    let bytes = read_body(pipeline, payload, headers).await?;
    let (checked, admission) = pipeline
        .check_and_admit(lookup(headers), &bytes, delivery)
        .await?;
    Ok((bytes, checked, admission))
}

/// The middleware's own answer, with the outcome and elapsed time recorded.
fn reject<B>(
    request: ServiceRequest,
    rejection: Rejection,
    delivery: &Delivery,
) -> ServiceResponse<EitherBody<B>> {
    delivery.record(rejection.outcome());
    delivery.finish();
    let response = WebhookRejection::from(rejection).error_response();
    request.into_response(response).map_into_right_body()
}
