//! What the middleware and the extractors share about a request: the header lookup, reading the
//! body through the core's pipeline, and the mark the middleware leaves for the extractors.

use actix_web::dev::Payload;
use actix_web::http::header::{CONTENT_LENGTH, HeaderMap, HeaderValue};
use actix_web::web::Bytes;
use futures_util::StreamExt as _;
use rxscale_webhooks::Verifier;
use rxscale_webhooks::pipeline::{Pipeline, Rejection, body_read_failed, content_length};

/// Every value of a header, for the pipeline's header lookup.
pub(crate) fn lookup<'a>(headers: &'a HeaderMap) -> impl Fn(&'static str) -> ValueIter<'a> + 'a {
    move |name| headers.get_all(name).map(HeaderValue::as_bytes)
}

type ValueIter<'a> =
    std::iter::Map<std::slice::Iter<'a, HeaderValue>, fn(&'a HeaderValue) -> &'a [u8]>;

/// Reads the whole body within the verifier's limit, refusing it as soon as it is known to pass
/// it: from its `Content-Length` before a byte is read, or from the bytes received so far.
/// Nothing past the limit is kept; what actix-web does with the rest is its own.
pub(crate) async fn read_body(
    pipeline: &Pipeline,
    payload: &mut Payload,
    headers: &HeaderMap,
) -> Result<Bytes, Rejection> {
    let length = content_length(headers.get(CONTENT_LENGTH).map(HeaderValue::as_bytes));
    let mut reader = pipeline.body_reader(length)?;
    while let Some(chunk) = payload.next().await {
        reader.push(chunk.map_err(body_read_failed)?)?;
    }
    Ok(reader.finish())
}

/// Marks a request the middleware verified, with the verifier it used, so that
/// [`VerifiedAs`](crate::VerifiedAs) can check the same bytes as its own type.
#[derive(Clone)]
pub(crate) struct VerifiedBy(pub(crate) Verifier);
