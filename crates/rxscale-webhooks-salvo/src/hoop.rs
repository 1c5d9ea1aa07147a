use rxscale_webhooks::pipeline::{CheckedDelivery, Delivery, Pipeline, Rejection, settle};
use rxscale_webhooks::{ReplayGuard, Verifier};
use salvo::http::header::HeaderValue;
use salvo::http::{ReqBody, StatusCode};
use salvo::{Depot, FlowCtrl, Handler, Request, Response, async_trait};
use tracing::Instrument as _;

use crate::rejection::WebhookRejection;
use crate::request::{lookup, read_body};

/// A hoop that verifies every request as an RxScale webhook before the handler runs.
///
/// On success it puts the very bytes it verified back as the request body (so
/// `req.parse_json()` and `req.payload()` still work) and stores the
/// [`Verified`](rxscale_webhooks::Verified) event in the request extensions: take it with
/// [`VerifiedEvent`](crate::VerifiedEvent). On failure it renders the [`WebhookRejection`]
/// and skips the rest of the chain: the handler never runs.
///
/// Add it to the router that holds the `post` goal, so that a wrong method still gets
/// salvo's 405 rather than a 401.
///
/// ```
/// use salvo::prelude::*;
/// use rxscale_webhooks_salvo::{VerifiedEvent, Verifier, VerifyWebhook};
///
/// #[handler]
/// async fn handle(event: VerifiedEvent, res: &mut Response) {
///     res.render(format!("{}", event.dedup_key()));
/// }
///
/// # fn main() -> Result<(), rxscale_webhooks_salvo::ConfigError> {
/// let verifier = Verifier::builder().secret("whsec_abc123").build()?;
/// let router = Router::with_path("webhooks/rxscale")
///     .hoop(VerifyWebhook::new(verifier))
///     .post(handle);
/// # let _ = router;
/// # Ok(())
/// # }
/// ```
#[must_use]
#[derive(Debug, Clone)]
pub struct VerifyWebhook {
    pipeline: Pipeline,
}

impl VerifyWebhook {
    /// A hoop that checks deliveries with `verifier`, including its `max_body_bytes` limit.
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
    /// the tower layer's protocol and answers: a 2xx from the rest of the chain completes the
    /// key before the response leaves, anything else (a panic or a dropped request included)
    /// releases it; a key already handled is answered 200 `{"status":"duplicate"}` with
    /// `X-Webhook-Duplicate: true`, one in flight 409, an unreachable store 503. See
    /// `docs/replay-protection.md`.
    ///
    /// Default: none, every verified delivery reaches the handler.
    pub fn replay_guard(mut self, guard: ReplayGuard) -> Self {
        self.pipeline = self.pipeline.replay_guard(guard);
        self
    }

    /// The verifier this hoop checks with.
    #[must_use]
    pub fn verifier(&self) -> &Verifier {
        self.pipeline.verifier()
    }
}

/// Marks a request the hoop verified, with the verifier it used.
#[derive(Clone)]
pub(crate) struct VerifiedBy(pub(crate) Verifier);

#[async_trait]
impl Handler for VerifyWebhook {
    async fn handle(
        &self,
        req: &mut Request,
        depot: &mut Depot,
        res: &mut Response,
        ctrl: &mut FlowCtrl,
    ) {
        let delivery = Delivery::start();
        let span = delivery.span().clone();
        async {
            let body = req.take_body();
            let bytes = match read_body(&self.pipeline, body, req.headers()).await {
                Ok(bytes) => bytes,
                Err(rejection) => return reject(rejection, &delivery, res, ctrl),
            };
            // Held across the chain: dropped unfinished (a panic, a dropped request), it
            // releases the claim.
            let door = self
                .pipeline
                .check_and_admit(lookup(req.headers()), &bytes, &delivery)
                .await;
            let (checked, admission) = match door {
                Ok(passed) => passed,
                Err(rejection) => return reject(rejection, &delivery, res, ctrl),
            };
            match checked {
                CheckedDelivery::Decoded(verified) => {
                    req.extensions_mut().insert(verified);
                }
                CheckedDelivery::Undecoded(undecoded) => {
                    req.extensions_mut().insert(undecoded);
                }
            }
            let verifier = VerifiedBy(self.pipeline.verifier().clone());
            req.extensions_mut().insert(verifier);
            req.replace_body(ReqBody::Once(bytes));
            ctrl.call_next(req, depot, res).await;
            // salvo answers 200 when nothing in the chain set a status.
            let status = res.status_code.unwrap_or(StatusCode::OK);
            let headers = res.headers();
            delivery.record_answer(status.as_u16(), |name| {
                headers.get_all(name).into_iter().map(HeaderValue::as_bytes)
            });
            if let Some(admission) = admission {
                settle(admission, status.is_success()).await;
            }
            delivery.finish();
        }
        .instrument(span)
        .await;
    }
}

/// The hoop's own answer, with the outcome and elapsed time recorded; the rest of the chain is
/// skipped.
fn reject(rejection: Rejection, delivery: &Delivery, res: &mut Response, ctrl: &mut FlowCtrl) {
    delivery.record(rejection.outcome());
    delivery.finish();
    res.render(WebhookRejection::from(rejection));
    ctrl.skip_rest();
}
