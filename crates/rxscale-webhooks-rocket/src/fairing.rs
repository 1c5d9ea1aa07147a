use std::sync::{Mutex, OnceLock, PoisonError};

use rocket::data::Limits;
use rocket::fairing::{self, Fairing, Info, Kind};
use rocket::{Build, Request, Response, Rocket};
use rxscale_webhooks::pipeline::{Delivery, Pipeline, Rejection, settle};
use rxscale_webhooks::replay::Admission;
use rxscale_webhooks::{ReplayGuard, Verifier};
use tracing::Instrument as _;

/// The name of the Rocket limit [`VerifiedEvent`](crate::VerifiedEvent) reads the body within,
/// together with the verifier's `max_body_bytes`: the smaller wins. Unset, the verifier's limit
/// alone applies (unlike Rocket's own guards, it does not fall back to `json`).
pub const LIMIT_NAME: &str = "json/rxscale-webhook";

/// The fairing that makes [`VerifiedEvent`](crate::VerifiedEvent) work: it holds the
/// [`Verifier`] and the optional [`ReplayGuard`] in Rocket's managed state, answers every
/// refused delivery with its [`WebhookRejection`](crate::WebhookRejection) (status, headers and
/// JSON body, the same as on axum and actix-web), and, with a replay guard, settles each claim
/// with the handler's answer: a 2xx completes the event, anything else (a panic is a 500)
/// releases it for RxScale's retry.
///
/// Attach it once (a second one replaces the first):
///
/// ```
/// use rocket::http::Status;
/// use rxscale_webhooks_rocket::{VerifiedEvent, Verifier, VerifyWebhooks};
///
/// #[rocket::post("/webhooks/rxscale", data = "<event>")]
/// fn handle(event: VerifiedEvent) -> Status {
///     println!("{}", event.dedup_key());
///     Status::Ok
/// }
///
/// # fn main() -> Result<(), rxscale_webhooks_rocket::ConfigError> {
/// let verifier = Verifier::builder().secret("whsec_abc123").build()?;
/// let rocket = rocket::build()
///     .attach(VerifyWebhooks::new(verifier))
///     .mount("/", rocket::routes![handle]);
/// # let _ = rocket;
/// # Ok(())
/// # }
/// ```
#[must_use]
#[derive(Debug, Clone)]
pub struct VerifyWebhooks {
    pipeline: Pipeline,
}

impl VerifyWebhooks {
    /// Verifies deliveries with `verifier`; no replay guard.
    pub fn new(verifier: Verifier) -> Self {
        VerifyWebhooks {
            pipeline: Pipeline::new(verifier),
        }
    }

    /// Handles each event once: a delivery of an event already handled is answered 200 with
    /// `X-Webhook-Duplicate: true` and `{"status":"duplicate"}`, one still being handled 409,
    /// without calling the handler. Default: no guard, every authentic delivery reaches the
    /// handler.
    ///
    /// Use a store every instance shares (Redis, a database) when more than one runs.
    pub fn replay_guard(mut self, guard: ReplayGuard) -> Self {
        self.pipeline = self.pipeline.replay_guard(guard);
        self
    }
}

/// What the data guard finds in managed state.
#[derive(Debug)]
pub(crate) struct Settings {
    pub(crate) pipeline: Pipeline,
    limit: OnceLock<usize>,
}

impl Settings {
    /// The smaller of [`LIMIT_NAME`] (when set exactly) and the verifier's `max_body_bytes`.
    pub(crate) fn limit(&self, limits: &Limits) -> usize {
        *self.limit.get_or_init(|| {
            let verifier_limit = self.pipeline.verifier().max_body_bytes();
            // `Limits::get` falls back to `json`; a limit set under the exact name is unchanged
            // by setting it again to the value found.
            let exact = limits
                .get(LIMIT_NAME)
                .filter(|&found| limits.clone().limit(LIMIT_NAME, found) == *limits);
            exact.map_or(verifier_limit, |limit| {
                usize::try_from(limit.as_u64()).map_or(verifier_limit, |l| l.min(verifier_limit))
            })
        })
    }
}

/// What the fairing does to the response of a request the data guard saw.
pub(crate) enum Pending {
    /// Answer with this rejection.
    Reject(Rejection),
    /// Record the handler's answer and settle the claim with it.
    Settle(Delivery, Admission),
}

/// The request-local slot the data guard leaves [`Pending`] work in.
#[derive(Default)]
pub(crate) struct Slot(Mutex<Option<Pending>>);

impl Slot {
    pub(crate) fn put(request: &Request<'_>, pending: Pending) {
        let slot = request.local_cache(Slot::default);
        *slot.0.lock().unwrap_or_else(PoisonError::into_inner) = Some(pending);
    }

    fn take(request: &Request<'_>) -> Option<Pending> {
        let slot = request.local_cache(Slot::default);
        slot.0.lock().unwrap_or_else(PoisonError::into_inner).take()
    }
}

#[rocket::async_trait]
impl Fairing for VerifyWebhooks {
    fn info(&self) -> Info {
        Info {
            name: "rxscale-webhooks",
            kind: Kind::Ignite | Kind::Response | Kind::Singleton,
        }
    }

    async fn on_ignite(&self, rocket: Rocket<Build>) -> fairing::Result {
        Ok(rocket.manage(Settings {
            pipeline: self.pipeline.clone(),
            limit: OnceLock::new(),
        }))
    }

    async fn on_response<'r>(&self, request: &'r Request<'_>, response: &mut Response<'r>) {
        match Slot::take(request) {
            None => {}
            Some(Pending::Reject(rejection)) => crate::rejection::answer(&rejection, response),
            Some(Pending::Settle(delivery, admission)) => {
                let status = response.status();
                let headers = response.headers();
                delivery.record_answer(status.code, |name| headers.get(name).map(str::as_bytes));
                let span = delivery.span().clone();
                // Settled before the response leaves, so that a 2xx RxScale sees always has its
                // key recorded as completed.
                settle(admission, status.class().is_success())
                    .instrument(span)
                    .await;
                delivery.finish();
            }
        }
    }
}
