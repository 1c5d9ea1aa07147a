use std::future::{Ready, ready};
use std::rc::Rc;
use std::time::Instant;

use actix_web::HttpResponse;
use actix_web::body::{EitherBody, MessageBody};
use actix_web::dev::{Payload, Service, ServiceRequest, ServiceResponse, Transform, forward_ready};
use actix_web::http::StatusCode;
use actix_web::http::header::{HeaderMap, HeaderValue};
use actix_web::web::Bytes;
use actix_web::{HttpMessage as _, ResponseError as _};
use futures_util::future::LocalBoxFuture;
use rxscale_webhooks::__adapter::{self, Checked};
use rxscale_webhooks::replay::{DUPLICATE_HEADER, GuardAnswer};
use rxscale_webhooks::{EVENT_HEADER, ReplayGuard, Verifier};
use tracing::{Instrument as _, Span};

use crate::body::read_limited;
use crate::extract::signatures;
use crate::rejection::WebhookRejection;
use crate::trace;

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
    config: Config,
}

#[derive(Debug, Clone)]
struct Config {
    verifier: Verifier,
    pass_invalid_event_data: bool,
    replay_guard: Option<ReplayGuard>,
}

impl VerifyWebhook {
    /// Middleware that checks deliveries with `verifier`, including its `max_body_bytes` limit.
    pub fn new(verifier: Verifier) -> Self {
        VerifyWebhook {
            config: Config {
                verifier,
                pass_invalid_event_data: false,
                replay_guard: None,
            },
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
        self.config.pass_invalid_event_data = pass;
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
        self.config.replay_guard = Some(guard);
        self
    }

    /// The verifier this middleware checks with.
    #[must_use]
    pub fn verifier(&self) -> &Verifier {
        &self.config.verifier
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
            config: Rc::new(self.config.clone()),
        }))
    }
}

/// The service [`VerifyWebhook`] wraps a route's handler in.
pub struct VerifyWebhookMiddleware<S> {
    service: Rc<S>,
    config: Rc<Config>,
}

impl<S> std::fmt::Debug for VerifyWebhookMiddleware<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("VerifyWebhookMiddleware")
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

/// Marks a request the middleware verified, with the verifier it used, so that
/// [`VerifiedEnvelope`](crate::VerifiedEnvelope) can check the same bytes as its own type.
#[derive(Clone)]
pub(crate) struct VerifiedBy(pub(crate) Verifier);

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
        let config = Rc::clone(&self.config);
        let span = trace::delivery_span();
        let started = Instant::now();
        let recorded = span.clone();
        let future = async move {
            let span = recorded;
            let mut payload = request.take_payload();
            let (bytes, checked) =
                match verify(&config, &mut payload, request.headers(), &span).await {
                    Ok(passed) => passed,
                    Err(rejection) => {
                        trace::record_rejection(&span, rejection.kind());
                        trace::record_elapsed(&span, started);
                        let response = rejection.error_response();
                        return Ok(request.into_response(response).map_into_right_body());
                    }
                };
            // Held across the handler: if it panics or the request's future is dropped, the
            // admission is dropped unfinished, which releases the claim.
            let admission = match &config.replay_guard {
                Some(guard) => {
                    let ttl = guard.completed_ttl_for(&config.verifier);
                    let admitted = guard.admit(checked.dedup_key().as_str(), ttl).await;
                    match __adapter::admitted(&span, checked.outcome(), admitted) {
                        Ok(admission) => admission,
                        Err(answer) => {
                            trace::record_elapsed(&span, started);
                            let response = guard_response(answer);
                            return Ok(request.into_response(response).map_into_right_body());
                        }
                    }
                }
                None => None,
            };
            {
                let mut extensions = request.extensions_mut();
                match checked {
                    Checked::Decoded(verified) => {
                        extensions.insert(verified);
                    }
                    Checked::Undecoded(undecoded) => {
                        extensions.insert(undecoded);
                    }
                }
                extensions.insert(VerifiedBy(config.verifier.clone()));
            }
            request.set_payload(Payload::from(bytes));
            let response = service.call(request).await;
            if let Some(admission) = admission {
                // Settled before the response leaves, so that a 2xx RxScale sees always has its
                // key recorded as completed.
                let succeeded = matches!(&response, Ok(r) if r.status().is_success());
                admission.finish(succeeded).await;
            }
            trace::record_elapsed(&span, started);
            response.map(ServiceResponse::map_into_left_body)
        };
        Box::pin(future.instrument(span))
    }
}

/// The replay guard's own answer: 200 duplicate, 409 or 503, as JSON.
fn guard_response(answer: GuardAnswer) -> HttpResponse {
    let status =
        StatusCode::from_u16(answer.status_code()).unwrap_or(StatusCode::SERVICE_UNAVAILABLE);
    let mut response = HttpResponse::build(status);
    response.content_type("application/json");
    if answer.is_duplicate() {
        response.insert_header((DUPLICATE_HEADER, "true"));
    }
    response.body(answer.response_body())
}

/// Reads the body within the limit and checks it; on success returns the very bytes.
async fn verify(
    config: &Config,
    payload: &mut Payload,
    headers: &HeaderMap,
    span: &Span,
) -> Result<(Bytes, Checked), WebhookRejection> {
    let verifier = &config.verifier;
    let bytes = read_limited(payload, headers, verifier.max_body_bytes())
        .await
        .map_err(WebhookRejection::delivery)?;
    let checked = __adapter::check_delivery(
        verifier,
        &bytes,
        || signatures(headers),
        headers.get_all(EVENT_HEADER).map(HeaderValue::as_bytes),
        config.pass_invalid_event_data,
        config.replay_guard.is_some(),
        span,
    )
    .map_err(WebhookRejection::delivery)?;
    Ok((bytes, checked))
}
