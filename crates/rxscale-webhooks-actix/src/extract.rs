use std::ops::{Deref, DerefMut};

use actix_web::dev::Payload;
use actix_web::http::header::HeaderMap;
use actix_web::{FromRequest, HttpMessage as _, HttpRequest, web};
use futures_util::future::LocalBoxFuture;
use rxscale_webhooks::pipeline::{Delivery, Pipeline, Rejection};
use rxscale_webhooks::{Verified, Verifier};
use serde::de::DeserializeOwned;
use tracing::Instrument as _;

use crate::rejection::WebhookRejection;
use crate::request::{VerifiedBy, lookup, read_body};

/// Extracts an authentic, fresh RxScale delivery as a typed [`Event`](rxscale_webhooks::Event).
///
/// - Behind [`VerifyWebhook`](crate::VerifyWebhook), it takes the [`Verified`] event the
///   middleware put in the request extensions: nothing is read or verified twice.
/// - Otherwise it takes the request body, reads at most the verifier's `max_body_bytes` (413 as
///   soon as the body passes it), and verifies it with the [`Verifier`] registered through
///   `app_data`: `.app_data(web::Data::new(verifier))` or `.app_data(verifier)`.
///
/// Without the middleware it **owns the body**: it cannot be combined with `web::Json`,
/// `web::Bytes` or `String` in the same handler (they would find the body already taken). To
/// get both the event and the body, wrap the route with [`VerifyWebhook`](crate::VerifyWebhook).
///
/// **Exactly once needs the middleware.** The extractor runs before your handler and never sees
/// its response, so on its own it cannot tell a handled event from a failed one, and does not
/// deduplicate: every authentic redelivery reaches the handler. Wrap the route with
/// [`VerifyWebhook::replay_guard`](crate::VerifyWebhook::replay_guard) to have each event
/// handled once; the extractor then takes the middleware's result.
///
/// Failures answer with [`WebhookRejection`].
///
/// ```
/// use actix_web::{web, App, HttpResponse};
/// use rxscale_webhooks_actix::{Event, VerifiedEvent, Verifier};
///
/// async fn handle(event: VerifiedEvent) -> HttpResponse {
///     if let Event::PharmacyOrderCreated(order) = event.event() {
///         println!("order {} ({})", order.uid, event.dedup_key());
///     }
///     HttpResponse::Ok().finish()
/// }
///
/// # fn main() -> Result<(), rxscale_webhooks_actix::ConfigError> {
/// let verifier = Verifier::builder().secret("whsec_abc123").build()?;
/// let app = App::new()
///     .app_data(web::Data::new(verifier))
///     .route("/webhooks/rxscale", web::post().to(handle));
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

impl DerefMut for VerifiedEvent {
    fn deref_mut(&mut self) -> &mut Verified {
        &mut self.0
    }
}

impl FromRequest for VerifiedEvent {
    type Error = WebhookRejection;
    type Future = LocalBoxFuture<'static, Result<Self, WebhookRejection>>;

    fn from_request(request: &HttpRequest, payload: &mut Payload) -> Self::Future {
        // Taken out, not cloned: a clone of a large order costs as much as a tenth of the request
        // (docs/benchmarks.md). A second extractor of the same request verifies again instead.
        let taken = request.extensions_mut().remove::<Verified>();
        if let Some(verified) = taken {
            return Box::pin(async move { Ok(VerifiedEvent(verified)) });
        }
        let future = verify_request(request, payload, |pipeline, headers, body, delivery| {
            pipeline.check_event(lookup(headers), body, delivery)
        });
        Box::pin(async move { future.await.map(VerifiedEvent) })
    }
}

/// Like [`VerifiedEvent`], with `data` decoded into a type of your own.
///
/// `T` is anything serde can decode: your own struct, `serde_json::Value`, or
/// `Box<serde_json::value::RawValue>` to keep `data` verbatim. The envelope is checked exactly
/// as for [`VerifiedEvent`]; a `data` that does not fit `T` is 422 `invalid_event_data`.
///
/// It always verifies the body itself, so it owns the body like [`VerifiedEvent`] does. Behind
/// [`VerifyWebhook`](crate::VerifyWebhook) it reads the bytes the middleware put back and
/// verifies them with the middleware's verifier (no `app_data` needed).
///
/// As with [`VerifiedEvent`], exactly-once handling needs the middleware's
/// [replay guard](crate::VerifyWebhook::replay_guard): the extractor alone does not
/// deduplicate.
///
/// ```
/// use actix_web::{web, App, HttpResponse};
/// use rxscale_webhooks_actix::{VerifiedAs, Verifier};
///
/// #[derive(serde::Deserialize)]
/// struct Order {
///     uid: String,
/// }
///
/// async fn handle(order: VerifiedAs<Order>) -> HttpResponse {
///     println!("{} for {}", order.event_type(), order.event().uid);
///     HttpResponse::Ok().finish()
/// }
///
/// # fn main() -> Result<(), rxscale_webhooks_actix::ConfigError> {
/// let verifier = Verifier::builder().secret("whsec_abc123").build()?;
/// let app = App::new()
///     .app_data(verifier) // a plain Verifier works as well as web::Data<Verifier>
///     .route("/webhooks/orders", web::post().to(handle));
/// # let _ = app;
/// # Ok(())
/// # }
/// ```
#[derive(Debug, Clone)]
pub struct VerifiedAs<T>(pub Verified<T>);

/// The former name of [`VerifiedAs`].
#[deprecated(note = "renamed to `VerifiedAs`")]
pub type VerifiedEnvelope<T> = VerifiedAs<T>;

impl<T> VerifiedAs<T> {
    /// The verified delivery.
    #[must_use]
    pub fn into_inner(self) -> Verified<T> {
        self.0
    }
}

impl<T> Deref for VerifiedAs<T> {
    type Target = Verified<T>;

    fn deref(&self) -> &Verified<T> {
        &self.0
    }
}

impl<T> DerefMut for VerifiedAs<T> {
    fn deref_mut(&mut self) -> &mut Verified<T> {
        &mut self.0
    }
}

impl<T> FromRequest for VerifiedAs<T>
where
    T: DeserializeOwned + 'static,
{
    type Error = WebhookRejection;
    type Future = LocalBoxFuture<'static, Result<Self, WebhookRejection>>;

    fn from_request(request: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let future = verify_request(request, payload, |pipeline, headers, body, delivery| {
            pipeline.check_as::<T, _>(lookup(headers), body, delivery)
        });
        Box::pin(async move { future.await.map(VerifiedAs) })
    }
}

/// How an extractor checks the bytes: as an [`Event`](rxscale_webhooks::Event) or as its own `T`.
type Check<T> = fn(&Pipeline, &HeaderMap, &[u8], &Delivery) -> Result<Verified<T>, Rejection>;

/// Finds the verifier, then reads and checks the body through the pipeline, inside the
/// delivery's span.
fn verify_request<T: 'static>(
    request: &HttpRequest,
    payload: &mut Payload,
    check: Check<T>,
) -> LocalBoxFuture<'static, Result<Verified<T>, WebhookRejection>> {
    // Behind the middleware, which counts the delivery already.
    let behind_middleware = request.extensions().contains::<VerifiedBy>();
    let delivery = if behind_middleware {
        Delivery::start_nested()
    } else {
        Delivery::start()
    };
    let Some(verifier) = find_verifier(request) else {
        delivery.span().in_scope(|| {
            tracing::error!(
                target: "rxscale_webhooks",
                path = request.path(),
                "no rxscale_webhooks::Verifier is registered for this route, so every delivery \
                 is answered 500: add `.app_data(web::Data::new(verifier))` or \
                 `.app_data(verifier)` to the App, scope or resource, or wrap the route with \
                 `VerifyWebhook::new(verifier)`"
            );
        });
        let rejection = Rejection::verifier_not_configured();
        delivery.record(rejection.outcome());
        delivery.finish();
        return Box::pin(async { Err(rejection.into()) });
    };
    let request = request.clone();
    let mut payload = payload.take();
    let span = delivery.span().clone();
    Box::pin(
        async move {
            let pipeline = Pipeline::new(verifier);
            let headers = request.headers();
            let result = match read_body(&pipeline, &mut payload, headers).await {
                Ok(body) => check(&pipeline, headers, &body, &delivery),
                Err(rejection) => Err(rejection),
            };
            if let Err(rejection) = &result {
                delivery.record(rejection.outcome());
            }
            delivery.finish();
            result.map_err(WebhookRejection::from)
        }
        .instrument(span),
    )
}

/// The middleware's verifier first (it is the one that authenticated these bytes), then
/// `web::Data<Verifier>`, then a plain `Verifier`.
fn find_verifier(request: &HttpRequest) -> Option<Verifier> {
    if let Some(VerifiedBy(verifier)) = request.extensions().get::<VerifiedBy>() {
        return Some(verifier.clone());
    }
    request
        .app_data::<web::Data<Verifier>>()
        .map(|data| Verifier::clone(data))
        .or_else(|| request.app_data::<Verifier>().cloned())
}
