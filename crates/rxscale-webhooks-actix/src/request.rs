//! What the middleware and the extractors share about a request: the header lookup, reading the
//! body through the core's pipeline, and the mark the middleware leaves for the extractors.

use actix_web::dev::Payload;
use actix_web::http::header::{CONTENT_LENGTH, HeaderMap, HeaderValue};
use actix_web::web::Bytes;
use futures_util::StreamExt as _;
use rxscale_webhooks::Verifier;
use rxscale_webhooks::pipeline::{
    BodyReader, DISCARD_AFTER_REJECTION_BYTES, DISCARD_AFTER_REJECTION_TIME, Pipeline, Rejection,
    body_read_failed, content_length,
};

/// Every value of a header, for the pipeline's header lookup.
pub(crate) fn lookup<'a>(headers: &'a HeaderMap) -> impl Fn(&'static str) -> ValueIter<'a> + 'a {
    move |name| headers.get_all(name).map(HeaderValue::as_bytes)
}

type ValueIter<'a> =
    std::iter::Map<std::slice::Iter<'a, HeaderValue>, fn(&'a HeaderValue) -> &'a [u8]>;

/// Reads the whole body within the verifier's limit and its body-read deadline, refusing it as
/// soon as it is known to pass the limit: from its `Content-Length` before a byte is read, or
/// from the bytes received so far; or as soon as the deadline passes (408).
///
/// A refused body's payload is not dropped on the spot: dropped, actix-web would keep reading a
/// chunked body to its end to keep the connection alive, however long it is (issue 14 saw
/// 252 MiB read after a 413). It is handed to [`discard_within_bounds`] instead, so that
/// actix-web closes the connection after the answer, discarding at most for its
/// `client_disconnect_timeout`.
pub(crate) async fn read_body(
    pipeline: &Pipeline,
    payload: &mut Payload,
    headers: &HeaderMap,
) -> Result<Bytes, Rejection> {
    let length = content_length(headers.get(CONTENT_LENGTH).map(HeaderValue::as_bytes));
    let mut reader = match pipeline.body_reader(length) {
        Ok(reader) => reader,
        Err(rejection) => {
            discard_within_bounds(payload.take());
            return Err(rejection);
        }
    };
    let deadline = reader.timeout();
    let read = actix_web::rt::time::timeout(deadline, read_into(&mut reader, payload)).await;
    let rejection = match read {
        Ok(Ok(())) => return Ok(reader.finish()),
        Ok(Err(rejection)) => rejection,
        Err(_elapsed) => reader.timed_out(),
    };
    discard_within_bounds(payload.take());
    Err(rejection)
}

async fn read_into(reader: &mut BodyReader, payload: &mut Payload) -> Result<(), Rejection> {
    while let Some(chunk) = payload.next().await {
        reader.push(chunk.map_err(body_read_failed)?)?;
    }
    Ok(())
}

/// Keeps what is left of a refused body alive until the answer is on its way, then reads and
/// throws it away within [`DISCARD_AFTER_REJECTION_BYTES`] and [`DISCARD_AFTER_REJECTION_TIME`].
///
/// While the payload lives, actix-web answers with `Connection: close` and then closes the
/// connection after lingering for at most its `client_disconnect_timeout` (1 s by default),
/// instead of draining an unbounded chunked body; the client, still sending, can read the
/// answer meanwhile.
fn discard_within_bounds(mut payload: Payload) {
    if matches!(payload, Payload::None) {
        return;
    }
    actix_web::rt::spawn(async move {
        let discard = async {
            let mut left = DISCARD_AFTER_REJECTION_BYTES;
            while let Some(Ok(chunk)) = payload.next().await {
                match left.checked_sub(chunk.len() as u64) {
                    Some(rest) => left = rest,
                    None => break,
                }
            }
        };
        let _ = actix_web::rt::time::timeout(DISCARD_AFTER_REJECTION_TIME, discard).await;
    });
}

/// Marks a request the middleware verified, with the verifier it used, so that
/// [`VerifiedAs`](crate::VerifiedAs) can check the same bytes as its own type.
#[derive(Clone)]
pub(crate) struct VerifiedBy(pub(crate) Verifier);
