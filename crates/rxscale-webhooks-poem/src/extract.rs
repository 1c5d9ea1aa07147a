use std::ops::Deref;

use poem::web::RequestBody;
use poem::{FromRequest, Request};
use rxscale_webhooks::pipeline::{Delivery, Pipeline, Rejection};
use rxscale_webhooks::{Verified, Verifier};
use tracing::Instrument as _;

use crate::middleware::VerifiedBy;
use crate::rejection::WebhookRejection;
use crate::request::{lookup, read_body};

/// Extracts an authentic, fresh RxScale delivery as a typed [`Event`](rxscale_webhooks::Event).
///
/// - Behind [`VerifyWebhook`](crate::VerifyWebhook), it takes the [`Verified`] event the
///   middleware put in the request extensions: nothing is read or verified twice.
/// - Otherwise it takes the request body, reads at most the verifier's `max_body_bytes` (413
///   as soon as the body passes it) and verifies it with the [`Verifier`] added with
///   `.data(verifier)`.
///
/// Without the middleware it **owns the body**, so it cannot be combined with `Json` or
/// `Bytes` in the same handler, and it does not deduplicate: exactly-once handling needs
/// [`VerifyWebhook::replay_guard`](crate::VerifyWebhook::replay_guard), which sees the
/// handler's answer. Failures answer with [`WebhookRejection`].
///
/// ```
/// use poem::{EndpointExt, Route, handler, post};
/// use rxscale_webhooks_poem::{Event, VerifiedEvent, Verifier};
///
/// #[handler]
/// fn handle(event: VerifiedEvent) {
///     if let Event::PharmacyOrderCreated(order) = event.event() {
///         println!("order {} ({})", order.uid, event.dedup_key());
///     }
/// }
///
/// # fn main() -> Result<(), rxscale_webhooks_poem::ConfigError> {
/// let verifier = Verifier::builder().secret("whsec_abc123").build()?;
/// let app = Route::new().at("/webhooks/rxscale", post(handle)).data(verifier);
/// # let _ = app;
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

impl<'a> FromRequest<'a> for VerifiedEvent {
    async fn from_request(request: &'a Request, body: &mut RequestBody) -> poem::Result<Self> {
        if let Some(verified) = request.extensions().get::<Verified>() {
            return Ok(VerifiedEvent(verified.clone()));
        }
        // Behind the middleware, which counts the delivery already.
        let delivery = if request.extensions().get::<VerifiedBy>().is_some() {
            Delivery::start_nested()
        } else {
            Delivery::start()
        };
        let span = delivery.span().clone();
        let result = async {
            let verifier = request
                .extensions()
                .get::<VerifiedBy>()
                .map(|by| by.0.clone())
                .or_else(|| request.data::<Verifier>().cloned());
            let Some(verifier) = verifier else {
                tracing::error!(
                    target: "rxscale_webhooks",
                    path = request.uri().path(),
                    "no rxscale_webhooks::Verifier is registered for this route, so every \
                     delivery is answered 500: add `.data(verifier)` to the route or wrap the \
                     handler with `VerifyWebhook::new(verifier)`"
                );
                return Err(Rejection::verifier_not_configured());
            };
            let pipeline = Pipeline::new(verifier);
            let body = body.take().unwrap_or_default();
            let bytes = read_body(&pipeline, body, request.headers()).await?;
            pipeline.check_event(lookup(request.headers()), &bytes, &delivery)
        }
        .instrument(span)
        .await;
        if let Err(rejection) = &result {
            delivery.record(rejection.outcome());
        }
        delivery.finish();
        Ok(VerifiedEvent(result.map_err(WebhookRejection::from)?))
    }
}
