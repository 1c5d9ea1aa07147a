use std::ops::{Deref, DerefMut};

use axum::RequestExt;
use axum::extract::{FromRef, FromRequest, Request};
use axum::http::header::{CONTENT_LENGTH, EXPECT};
use axum::http::{HeaderMap, HeaderValue};
use http_body_util::BodyExt as _;
use rxscale_webhooks::pipeline::{Delivery, Pipeline, Rejection, body_read_failed, content_length};
use rxscale_webhooks::{ErrorKind, Verified, Verifier};
use rxscale_webhooks_tower::RefusedBody;
use serde::de::DeserializeOwned;
use tracing::Instrument;

use crate::rejection::WebhookRejection;

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
        verify_request(request, verifier, |pipeline, headers, body, delivery| {
            pipeline.check_event(lookup(headers), body, delivery)
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
/// use rxscale_webhooks_axum::{VerifiedAs, Verifier};
///
/// #[derive(serde::Deserialize)]
/// struct Order {
///     uid: String,
/// }
///
/// async fn handle(order: VerifiedAs<Order>) -> StatusCode {
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

impl<T, S> FromRequest<S> for VerifiedAs<T>
where
    T: DeserializeOwned + Send + Sync + 'static,
    Verifier: FromRef<S>,
    S: Send + Sync,
{
    type Rejection = WebhookRejection;

    async fn from_request(mut request: Request, state: &S) -> Result<Self, Self::Rejection> {
        if let Some(verified) = request.extensions_mut().remove::<Verified<T>>() {
            return Ok(VerifiedAs(verified));
        }
        let verifier = Verifier::from_ref(state);
        verify_request(request, verifier, |pipeline, headers, body, delivery| {
            pipeline.check_as::<T, _>(lookup(headers), body, delivery)
        })
        .await
        .map(VerifiedAs)
    }
}

/// Reads the body through the pipeline within both limits (axum's `DefaultBodyLimit`, applied
/// by `with_limited_body` exactly as the `Bytes` extractor does, and the verifier's), then runs
/// `check` on it, inside the delivery's span.
async fn verify_request<T>(
    request: Request,
    verifier: Verifier,
    check: impl FnOnce(&Pipeline, &HeaderMap, &[u8], &Delivery) -> Result<T, Rejection>,
) -> Result<T, WebhookRejection> {
    let pipeline = Pipeline::new(verifier);
    // Behind the layer (which left its result in the extensions), the delivery is counted there.
    let extensions = request.extensions();
    let behind_layer = extensions.get::<Verified>().is_some()
        || extensions
            .get::<rxscale_webhooks::UndecodedEvent>()
            .is_some();
    let delivery = if behind_layer {
        Delivery::start_nested()
    } else {
        Delivery::start()
    };
    let result = async {
        let (parts, mut body) = request.with_limited_body().into_parts();
        // A body refused before it is read is not polled under `Expect: 100-continue`: polling
        // it would invite the client to send it.
        let expects_continue = parts
            .headers
            .get(EXPECT)
            .is_some_and(|value| value.as_bytes().eq_ignore_ascii_case(b"100-continue"));
        let refused = |rejection: Rejection, body: axum::body::Body| {
            let rest = if expects_continue || rejection.kind() != Some(ErrorKind::BodyTooLarge) {
                None
            } else {
                RefusedBody::new(body)
            };
            WebhookRejection::with_refused_body(rejection, rest)
        };
        let length = content_length(parts.headers.get(CONTENT_LENGTH).map(HeaderValue::as_bytes));
        let mut reader = match pipeline.body_reader(length) {
            Ok(reader) => reader,
            Err(rejection) => return Err(refused(rejection, body)),
        };
        let deadline = tokio::time::sleep(reader.timeout());
        tokio::pin!(deadline);
        loop {
            let frame = tokio::select! {
                biased;
                frame = body.frame() => frame,
                () = &mut deadline => return Err(reader.timed_out().into()),
            };
            let Some(frame) = frame else { break };
            match frame {
                Ok(frame) => {
                    if let Ok(data) = frame.into_data()
                        && let Err(rejection) = reader.push(data)
                    {
                        return Err(refused(rejection, body));
                    }
                }
                Err(error) if is_length_limit(&error) => {
                    return Err(reader.framework_limit_reached().into());
                }
                Err(error) => return Err(body_read_failed(error).into()),
            }
        }
        check(&pipeline, &parts.headers, &reader.finish(), &delivery)
            .map_err(WebhookRejection::from)
    }
    .instrument(delivery.span().clone())
    .await;
    if let Err(rejection) = &result {
        delivery.record(rejection.rejection().outcome());
    }
    delivery.finish();
    result
}

/// Every value of a header, for the pipeline's header lookup.
fn lookup<'a>(headers: &'a HeaderMap) -> impl Fn(&'static str) -> ValueIter<'a> + 'a {
    move |name| headers.get_all(name).iter().map(HeaderValue::as_bytes)
}

type ValueIter<'a> =
    std::iter::Map<axum::http::header::ValueIter<'a, HeaderValue>, fn(&'a HeaderValue) -> &'a [u8]>;

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
