use bytes::{Buf, Bytes};
use futures_util::{Stream, StreamExt as _};
use rxscale_webhooks::pipeline::{
    BodyReader, DISCARD_AFTER_REJECTION_BYTES, DISCARD_AFTER_REJECTION_TIME, Delivery, Pipeline,
    Rejection, body_read_failed, content_length,
};
use rxscale_webhooks::{Verified, Verifier};
use tracing::Instrument as _;
use warp::Filter;
use warp::http::HeaderMap;
use warp::http::header::{CONTENT_LENGTH, HeaderValue};

use crate::rejection::WebhookRejection;

/// A filter that reads the body within the verifier's limits, verifies it, and extracts the
/// authentic, fresh delivery as a typed [`Event`](rxscale_webhooks::Event).
///
/// It takes the body (413 as soon as it passes `max_body_bytes`, 408 past the body-read
/// deadline) and rejects with a [`WebhookRejection`]: end the chain with
/// `.recover(rxscale_webhooks_warp::recover)` so that the rejection is answered with its status
/// and JSON body (without it, warp answers an unhandled rejection with 500).
///
/// A filter cannot see the handler's answer, so it does not deduplicate: for exactly-once
/// handling put the route behind `rxscale_webhooks_tower::VerifyLayer::replay_guard` through
/// `warp::service` (see `docs/warp.md`).
///
/// ```
/// use warp::Filter;
/// use rxscale_webhooks_warp::{Verified, Verifier, recover, verified_event};
///
/// # fn main() -> Result<(), rxscale_webhooks_warp::ConfigError> {
/// let verifier = Verifier::builder().secret("whsec_abc123").build()?;
/// let route = warp::post()
///     .and(warp::path!("webhooks" / "rxscale"))
///     .and(verified_event(verifier))
///     .map(|event: Verified| {
///         println!("{} {}", event.event_type(), event.dedup_key());
///         warp::http::StatusCode::OK
///     })
///     .recover(recover);
/// # let _ = route;
/// # Ok(())
/// # }
/// ```
pub fn verified_event(
    verifier: Verifier,
) -> impl Filter<Extract = (Verified,), Error = warp::Rejection> + Clone {
    verified_event_and_body(verifier).map(|verified: Verified, _body: Bytes| verified)
}

/// Like [`verified_event`], and also extracts the very bytes that were verified, for handlers
/// that decode or store the body themselves.
pub fn verified_event_and_body(
    verifier: Verifier,
) -> impl Filter<Extract = (Verified, Bytes), Error = warp::Rejection> + Clone {
    let pipeline = Pipeline::new(verifier);
    warp::header::headers_cloned()
        .and(warp::body::stream())
        .and_then(move |headers: HeaderMap, body| {
            let pipeline = pipeline.clone();
            async move {
                let delivery = Delivery::start();
                let span = delivery.span().clone();
                let result = check(&pipeline, &headers, body, &delivery)
                    .instrument(span)
                    .await;
                if let Err(rejection) = &result {
                    delivery.record(rejection.outcome());
                }
                delivery.finish();
                result.map_err(|rejection| warp::reject::custom(WebhookRejection::from(rejection)))
            }
        })
        .untuple_one()
}

/// Answers a [`WebhookRejection`] with its status and JSON body; passes every other rejection
/// on, so that warp's own answers (404, 405, ...) stand. Use it with `Filter::recover`.
pub async fn recover(rejection: warp::Rejection) -> Result<warp::reply::Response, warp::Rejection> {
    match rejection.find::<WebhookRejection>() {
        Some(webhook) => Ok(webhook.response()),
        None => Err(rejection),
    }
}

async fn check<S, B>(
    pipeline: &Pipeline,
    headers: &HeaderMap,
    body: S,
    delivery: &Delivery,
) -> Result<(Verified, Bytes), Rejection>
where
    S: Stream<Item = Result<B, warp::Error>> + Send + 'static,
    B: Buf,
{
    let bytes = read_body(pipeline, Box::pin(body), headers).await?;
    let lookup = |name| headers.get_all(name).into_iter().map(HeaderValue::as_bytes);
    let verified = pipeline.check_event(lookup, &bytes, delivery)?;
    Ok((verified, bytes))
}

/// Reads the whole body within the verifier's limit and body-read deadline; what is left of a
/// refused body is discarded within bounds, so that the client can read the answer before the
/// connection closes.
async fn read_body<S, B>(
    pipeline: &Pipeline,
    mut stream: std::pin::Pin<Box<S>>,
    headers: &HeaderMap,
) -> Result<Bytes, Rejection>
where
    S: Stream<Item = Result<B, warp::Error>> + Send + 'static,
    B: Buf,
{
    let length = content_length(headers.get(CONTENT_LENGTH).map(HeaderValue::as_bytes));
    let mut reader = match pipeline.body_reader(length) {
        Ok(reader) => reader,
        Err(rejection) => {
            discard_within_bounds(stream);
            return Err(rejection);
        }
    };
    let deadline = reader.timeout();
    let rejection = match tokio::time::timeout(deadline, read_into(&mut reader, &mut stream)).await
    {
        Ok(Ok(())) => return Ok(reader.finish()),
        Ok(Err(rejection)) => rejection,
        Err(_elapsed) => reader.timed_out(),
    };
    discard_within_bounds(stream);
    Err(rejection)
}

async fn read_into<S, B>(reader: &mut BodyReader, stream: &mut S) -> Result<(), Rejection>
where
    S: Stream<Item = Result<B, warp::Error>> + Unpin,
    B: Buf,
{
    while let Some(chunk) = stream.next().await {
        reader.push(chunk.map_err(body_read_failed)?)?;
    }
    Ok(())
}

fn discard_within_bounds<S, B>(mut stream: std::pin::Pin<Box<S>>)
where
    S: Stream<Item = Result<B, warp::Error>> + Send + 'static,
    B: Buf,
{
    tokio::spawn(async move {
        let discard = async {
            let mut left = DISCARD_AFTER_REJECTION_BYTES;
            while let Some(Ok(chunk)) = stream.next().await {
                match left.checked_sub(chunk.remaining() as u64) {
                    Some(rest) => left = rest,
                    None => break,
                }
            }
        };
        let _ = tokio::time::timeout(DISCARD_AFTER_REJECTION_TIME, discard).await;
    });
}
