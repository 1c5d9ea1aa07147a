use poem::http::HeaderValue;
use poem::{Endpoint, IntoResponse as _, Middleware, Request, Response};
use rxscale_webhooks::pipeline::{CheckedDelivery, Delivery, Pipeline, Rejection, settle};
use rxscale_webhooks::{ReplayGuard, Verifier};
use tracing::Instrument as _;

use crate::rejection::WebhookRejection;
use crate::request::{lookup, read_body};

/// Middleware that verifies every request as an RxScale webhook before the endpoint runs.
///
/// On success it puts the very bytes it verified back as the request body (so `Json<T>`,
/// `Vec<u8>` and `String` still work in the handler) and stores the
/// [`Verified`](rxscale_webhooks::Verified) event in the request extensions: take it with
/// [`VerifiedEvent`](crate::VerifiedEvent) or `Data<&Verified>`. On failure it answers the
/// [`WebhookRejection`] itself and the handler never runs.
///
/// Put it on the method (`post(handle.with(..))`), not on the route, so that a wrong method
/// still gets poem's 405 rather than a 401.
///
/// ```
/// use poem::web::Data;
/// use poem::{EndpointExt, Route, handler, post};
/// use rxscale_webhooks_poem::{Verified, Verifier, VerifyWebhook};
///
/// #[handler]
/// fn handle(verified: Data<&Verified>, body: Vec<u8>) {
///     // `body`: the very bytes that were verified
///     println!("{} ({} bytes)", verified.dedup_key(), body.len());
/// }
///
/// # fn main() -> Result<(), rxscale_webhooks_poem::ConfigError> {
/// let verifier = Verifier::builder().secret("whsec_abc123").build()?;
/// let app = Route::new().at("/webhooks/rxscale", post(handle.with(VerifyWebhook::new(verifier))));
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

    /// Whether an authentic, fresh delivery whose `data` does not decode is passed on with an
    /// [`UndecodedEvent`](crate::UndecodedEvent) in the extensions instead of answered 422.
    ///
    /// Default: `false`, such deliveries are rejected with 422.
    pub fn pass_invalid_event_data(mut self, pass: bool) -> Self {
        self.pipeline = self.pipeline.pass_invalid_event_data(pass);
        self
    }

    /// Runs each verified delivery through `guard`, so that every event is handled once, with
    /// the tower layer's protocol and answers: a 2xx from the endpoint completes the key before
    /// the response leaves, anything else (a panic or a dropped request included) releases it;
    /// a key already handled is answered 200 `{"status":"duplicate"}` with
    /// `X-Webhook-Duplicate: true`, one in flight 409, an unreachable store 503. See
    /// `docs/replay-protection.md`.
    ///
    /// Default: none, every verified delivery reaches the endpoint.
    pub fn replay_guard(mut self, guard: ReplayGuard) -> Self {
        self.pipeline = self.pipeline.replay_guard(guard);
        self
    }

    /// The verifier this middleware checks with.
    #[must_use]
    pub fn verifier(&self) -> &Verifier {
        self.pipeline.verifier()
    }
}

impl<E: Endpoint> Middleware<E> for VerifyWebhook {
    type Output = VerifyWebhookEndpoint<E>;

    fn transform(&self, inner: E) -> Self::Output {
        VerifyWebhookEndpoint {
            inner,
            pipeline: self.pipeline.clone(),
        }
    }
}

/// The endpoint [`VerifyWebhook`] wraps a handler in.
#[derive(Debug)]
pub struct VerifyWebhookEndpoint<E> {
    inner: E,
    pipeline: Pipeline,
}

/// Marks a request the middleware verified, with the verifier it used.
#[derive(Clone)]
pub(crate) struct VerifiedBy(pub(crate) Verifier);

impl<E: Endpoint> Endpoint for VerifyWebhookEndpoint<E> {
    type Output = Response;

    async fn call(&self, mut request: Request) -> poem::Result<Response> {
        let delivery = Delivery::start();
        let span = delivery.span().clone();
        async move {
            let body = request.take_body();
            let bytes = match read_body(&self.pipeline, body, request.headers()).await {
                Ok(bytes) => bytes,
                Err(rejection) => return Ok(reject(rejection, &delivery)),
            };
            // Held across the endpoint: dropped unfinished (a panic, a dropped request), it
            // releases the claim.
            let door = self
                .pipeline
                .check_and_admit(lookup(request.headers()), &bytes, &delivery)
                .await;
            let (checked, admission) = match door {
                Ok(passed) => passed,
                Err(rejection) => return Ok(reject(rejection, &delivery)),
            };
            match checked {
                CheckedDelivery::Decoded(verified) => {
                    request.extensions_mut().insert(verified);
                }
                CheckedDelivery::Undecoded(undecoded) => {
                    request.extensions_mut().insert(undecoded);
                }
            }
            let verifier = VerifiedBy(self.pipeline.verifier().clone());
            request.extensions_mut().insert(verifier);
            request.set_body(bytes);
            let response = self.inner.get_response(request).await;
            let headers = response.headers();
            delivery.record_answer(response.status().as_u16(), |name| {
                headers.get_all(name).into_iter().map(HeaderValue::as_bytes)
            });
            if let Some(admission) = admission {
                settle(admission, response.status().is_success()).await;
            }
            delivery.finish();
            Ok(response)
        }
        .instrument(span)
        .await
    }
}

/// The middleware's own answer, with the outcome and elapsed time recorded.
fn reject(rejection: Rejection, delivery: &Delivery) -> Response {
    delivery.record(rejection.outcome());
    delivery.finish();
    WebhookRejection::from(rejection).into_response()
}
