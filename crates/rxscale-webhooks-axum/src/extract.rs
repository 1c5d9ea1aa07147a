use std::ops::{Deref, DerefMut};
use std::time::Instant;

use axum::RequestExt;
use axum::extract::{FromRef, FromRequest, Request};
use axum::http::header::CONTENT_LENGTH;
use axum::http::{HeaderMap, HeaderValue};
use rxscale_webhooks::{Error, ErrorKind, OffsetDateTime, SIGNATURE_HEADER, Verified, Verifier};
use rxscale_webhooks_tower::__private as trace;
use serde::de::DeserializeOwned;
use tracing::Instrument;

use crate::rejection::{BodyReadFailed, BodyTooLarge, WebhookRejection};

/// Extracts an authentic, fresh RxScale delivery as a typed [`Event`](rxscale_webhooks::Event).
///
/// - Behind [`VerifyLayer`](crate::VerifyLayer), it takes the [`Verified`] event the layer put
///   in the request extensions: nothing is verified twice.
/// - Otherwise it reads the body itself, within the smaller of axum's `DefaultBodyLimit` and
///   the verifier's `max_body_bytes`, and verifies it with the [`Verifier`] from the router's
///   state (through [`FromRef`]).
///
/// It consumes the body, so it must be the handler's last argument. Failures answer with
/// [`WebhookRejection`].
///
/// **Exactly once needs the layer.** The extractor runs before your handler and never sees
/// its response, so on its own it cannot tell a handled event from a failed one, and does not
/// deduplicate: every authentic redelivery reaches the handler. Mount
/// [`VerifyLayer::replay_guard`](crate::VerifyLayer::replay_guard) on the route to have each
/// event handled once; the extractor then takes the layer's result.
///
/// ```
/// use axum::{http::StatusCode, routing::post, Router};
/// use rxscale_webhooks_axum::{Event, VerifiedEvent, Verifier};
///
/// async fn handle(VerifiedEvent(verified): VerifiedEvent) -> StatusCode {
///     if let Event::PharmacyOrderCreated(order) = verified.event() {
///         println!("order {} ({})", order.uid, verified.dedup_key());
///     }
///     StatusCode::OK
/// }
///
/// # fn main() -> Result<(), rxscale_webhooks_axum::ConfigError> {
/// let verifier = Verifier::builder().secret("whsec_abc123").build()?;
/// let app: Router = Router::new()
///     .route("/webhooks/rxscale", post(handle))
///     .with_state(verifier);
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

impl<S> FromRequest<S> for VerifiedEvent
where
    Verifier: FromRef<S>,
    S: Send + Sync,
{
    type Rejection = WebhookRejection;

    async fn from_request(mut request: Request, state: &S) -> Result<Self, Self::Rejection> {
        if let Some(verified) = request.extensions_mut().remove::<Verified>() {
            return Ok(VerifiedEvent(verified));
        }
        let verifier = Verifier::from_ref(state);
        verify_request(request, &verifier, |body, signatures, now| {
            verifier.verify_any_at(body, signatures.iter().map(HeaderValue::as_bytes), now)
        })
        .await
        .map(VerifiedEvent)
    }
}

/// Like [`VerifiedEvent`], with `data` decoded into a type of your own.
///
/// `T` is anything serde can decode, for instance your own struct, `serde_json::Value`, or
/// `Box<serde_json::value::RawValue>` to keep `data` verbatim. The envelope is checked exactly
/// as for [`VerifiedEvent`]; a `data` that does not fit `T` is 422 `invalid_event_data`.
///
/// Behind [`VerifyLayer`](crate::VerifyLayer), a `Verified<T>` in the extensions is used as is;
/// for any other `T` the body the layer passed on is verified again as `T`, with the
/// [`Verifier`] from the state. As with [`VerifiedEvent`], exactly-once handling needs the
/// layer's [replay guard](crate::VerifyLayer::replay_guard): the extractor alone does not
/// deduplicate.
///
/// ```
/// use axum::{http::StatusCode, routing::post, Router};
/// use rxscale_webhooks_axum::{VerifiedEnvelope, Verifier};
///
/// #[derive(serde::Deserialize)]
/// struct Order {
///     uid: String,
/// }
///
/// async fn handle(order: VerifiedEnvelope<Order>) -> StatusCode {
///     println!("{} for {}", order.event_type(), order.event().uid);
///     StatusCode::OK
/// }
///
/// # fn main() -> Result<(), rxscale_webhooks_axum::ConfigError> {
/// let verifier = Verifier::builder().secret("whsec_abc123").build()?;
/// let app: Router = Router::new()
///     .route("/webhooks/orders", post(handle))
///     .with_state(verifier);
/// # let _ = app;
/// # Ok(())
/// # }
/// ```
#[derive(Debug, Clone)]
pub struct VerifiedEnvelope<T>(pub Verified<T>);

impl<T> VerifiedEnvelope<T> {
    /// The verified delivery.
    #[must_use]
    pub fn into_inner(self) -> Verified<T> {
        self.0
    }
}

impl<T> Deref for VerifiedEnvelope<T> {
    type Target = Verified<T>;

    fn deref(&self) -> &Verified<T> {
        &self.0
    }
}

impl<T> DerefMut for VerifiedEnvelope<T> {
    fn deref_mut(&mut self) -> &mut Verified<T> {
        &mut self.0
    }
}

impl<T, S> FromRequest<S> for VerifiedEnvelope<T>
where
    T: DeserializeOwned + Send + Sync + 'static,
    Verifier: FromRef<S>,
    S: Send + Sync,
{
    type Rejection = WebhookRejection;

    async fn from_request(mut request: Request, state: &S) -> Result<Self, Self::Rejection> {
        if let Some(verified) = request.extensions_mut().remove::<Verified<T>>() {
            return Ok(VerifiedEnvelope(verified));
        }
        let verifier = Verifier::from_ref(state);
        verify_request(request, &verifier, |body, signatures, now| {
            verifier.verify_as_any_at::<T>(body, signatures.iter().map(HeaderValue::as_bytes), now)
        })
        .await
        .map(VerifiedEnvelope)
    }
}

/// Reads the body within both limits, then runs `check` on it, inside a delivery span that
/// looks like the layer's.
async fn verify_request<T>(
    request: Request,
    verifier: &Verifier,
    check: impl FnOnce(&[u8], &[HeaderValue], OffsetDateTime) -> Result<Verified<T>, Error>,
) -> Result<Verified<T>, WebhookRejection> {
    let span = trace::delivery_span();
    let started = Instant::now();
    let result = async {
        let limit = verifier.max_body_bytes();
        // `with_limited_body` applies axum's `DefaultBodyLimit` exactly as the `Bytes`
        // extractor does; `to_bytes` adds the verifier's limit on top, so the smaller wins.
        let (parts, body) = request.with_limited_body().into_parts();
        if declared_length(&parts.headers).is_some_and(|length| length > limit as u64) {
            return Err(too_large("declared Content-Length exceeds the limit"));
        }
        let body = axum::body::to_bytes(body, limit).await.map_err(|error| {
            if is_length_limit(&error) {
                too_large("the body grew past the limit; the rest is not read")
            } else {
                tracing::debug!(
                    kind = ErrorKind::BodyReadFailed.code(),
                    %error,
                    "rxscale webhook rejected: the body could not be read"
                );
                WebhookRejection::BodyReadFailed(BodyReadFailed::new(error))
            }
        })?;
        let signatures: Vec<HeaderValue> = parts
            .headers
            .get_all(SIGNATURE_HEADER)
            .iter()
            .cloned()
            .collect();
        let verified = check(&body, &signatures, OffsetDateTime::now_utc())
            .map_err(WebhookRejection::Verification)?;
        trace::record_verified(&span, &verified, "accepted");
        trace::warn_on_event_header_mismatch(&parts.headers, verified.event_type());
        Ok(verified)
    }
    .instrument(span.clone())
    .await;
    if let Err(rejection) = &result {
        trace::record_rejection(&span, rejection_code(rejection));
    }
    trace::record_elapsed(&span, started);
    result
}

fn too_large(reason: &'static str) -> WebhookRejection {
    tracing::debug!(
        kind = ErrorKind::BodyTooLarge.code(),
        reason,
        "rxscale webhook rejected"
    );
    WebhookRejection::BodyTooLarge(BodyTooLarge::new())
}

fn rejection_code(rejection: &WebhookRejection) -> &'static str {
    rejection.kind().code()
}

fn declared_length(headers: &HeaderMap) -> Option<u64> {
    headers
        .get(CONTENT_LENGTH)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.trim().parse().ok())
}

/// Whether a body error is a `Limited` body passing its limit, however deeply axum wrapped it.
fn is_length_limit(error: &axum::Error) -> bool {
    let mut current: Option<&(dyn std::error::Error + 'static)> = Some(error);
    while let Some(error) = current {
        if error.is::<http_body_util::LengthLimitError>() {
            return true;
        }
        current = error.source();
    }
    false
}
