use std::fmt::Debug;
use std::ops::Deref;

use rxscale_webhooks::pipeline::{Delivery, Pipeline, Rejection};
use rxscale_webhooks::{Verified, Verifier};
use salvo::extract::{Extractible, Metadata};
use salvo::{Depot, Request, Writer};
use tracing::Instrument as _;

use crate::hoop::VerifiedBy;
use crate::rejection::WebhookRejection;
use crate::request::{lookup, read_body};

/// Extracts an authentic, fresh RxScale delivery as a typed [`Event`](rxscale_webhooks::Event):
/// a handler argument (`Extractible`).
///
/// - Behind [`VerifyWebhook`](crate::VerifyWebhook), it takes the [`Verified`] event the hoop
///   put in the request extensions: nothing is read or verified twice.
/// - Otherwise it takes the request body, reads at most the verifier's `max_body_bytes` (413
///   as soon as the body passes it) and verifies it with the [`Verifier`] in the depot
///   (`affix_state::inject(verifier)`).
///
/// Without the hoop it does not deduplicate: exactly-once handling needs
/// [`VerifyWebhook::replay_guard`](crate::VerifyWebhook::replay_guard), which sees the
/// handler's answer. Failures render a [`WebhookRejection`].
///
/// ```
/// use salvo::affix_state;
/// use salvo::prelude::*;
/// use rxscale_webhooks_salvo::{Event, VerifiedEvent, Verifier};
///
/// #[handler]
/// async fn handle(event: VerifiedEvent) {
///     if let Event::PharmacyOrderCreated(order) = event.event() {
///         println!("order {} ({})", order.uid, event.dedup_key());
///     }
/// }
///
/// # fn main() -> Result<(), rxscale_webhooks_salvo::ConfigError> {
/// let verifier = Verifier::builder().secret("whsec_abc123").build()?;
/// let router = Router::with_path("webhooks/rxscale")
///     .hoop(affix_state::inject(verifier))
///     .post(handle);
/// # let _ = router;
/// # Ok(())
/// # }
/// ```
#[derive(Debug, Clone)]
pub struct VerifiedEvent(pub Verified);

impl VerifiedEvent {
    /// The verified delivery.
    #[must_use]
    pub fn into_inner(self) -> Verified {
        self.0
    }
}

impl Deref for VerifiedEvent {
    type Target = Verified;

    fn deref(&self) -> &Verified {
        &self.0
    }
}

impl<'ex> Extractible<'ex> for VerifiedEvent {
    fn metadata() -> &'static Metadata {
        static METADATA: Metadata = Metadata::new("VerifiedEvent");
        &METADATA
    }

    async fn extract(
        req: &'ex mut Request,
        depot: &'ex mut Depot,
    ) -> Result<Self, impl Writer + Send + Debug + 'static> {
        // Taken out, not cloned: the hoop verified it for this handler.
        if let Some(verified) = req.extensions_mut().remove::<Verified>() {
            return Ok(VerifiedEvent(verified));
        }
        // Behind the hoop (which counts the delivery already) when the data did not decode.
        let nested = req.extensions().get::<VerifiedBy>().is_some();
        let delivery = if nested {
            Delivery::start_nested()
        } else {
            Delivery::start()
        };
        let span = delivery.span().clone();
        let result = verify(req, depot, &delivery).instrument(span).await;
        if let Err(rejection) = &result {
            delivery.record(rejection.outcome());
        }
        delivery.finish();
        result.map(VerifiedEvent).map_err(WebhookRejection::from)
    }
}

async fn verify(
    req: &mut Request,
    depot: &Depot,
    delivery: &Delivery,
) -> Result<Verified, Rejection> {
    let verifier = req
        .extensions()
        .get::<VerifiedBy>()
        .map(|by| by.0.clone())
        .or_else(|| depot.get_typed::<Verifier>().ok().cloned());
    let Some(verifier) = verifier else {
        tracing::error!(
            target: "rxscale_webhooks",
            path = req.uri().path(),
            "no rxscale_webhooks::Verifier is registered for this route, so every delivery is \
             answered 500: add `.hoop(affix_state::inject(verifier))` to the router or \
             `.hoop(VerifyWebhook::new(verifier))`"
        );
        return Err(Rejection::verifier_not_configured());
    };
    let pipeline = Pipeline::new(verifier);
    let body = req.take_body();
    let bytes = read_body(&pipeline, body, req.headers()).await?;
    pipeline.check_event(lookup(req.headers()), &bytes, delivery)
}
