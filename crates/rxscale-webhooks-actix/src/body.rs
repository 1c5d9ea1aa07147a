//! Reading the request body within the verifier's limit, for the extractor and the middleware.

use actix_web::dev::Payload;
use actix_web::http::header::{CONTENT_LENGTH, HeaderMap};
use actix_web::web::{Bytes, BytesMut};
use futures_util::StreamExt as _;
use rxscale_webhooks::{Error, ErrorKind};

/// Reads the whole body, refusing it as soon as it is known to pass `limit`: from its
/// `Content-Length` before a byte is read, or from the bytes received so far. Nothing past the
/// limit is kept; what actix-web does with the rest (close, or drain a chunked body) is its own.
pub(crate) async fn read_limited(
    payload: &mut Payload,
    headers: &HeaderMap,
    limit: usize,
) -> Result<Bytes, Error> {
    let declared = declared_length(headers);
    if let Some(length) = declared.filter(|&length| length > limit as u64) {
        tracing::debug!(
            kind = ErrorKind::BodyTooLarge.code(),
            declared_length = length,
            limit,
            "rxscale webhook rejected: Content-Length exceeds the limit; the body is not read"
        );
        return Err(Error::body_too_large(limit));
    }
    // The declared length is at most `limit` here, so it is safe to reserve up front.
    let capacity = declared.map_or(0, |length| usize::try_from(length).unwrap_or(limit));
    let mut first: Option<Bytes> = None;
    let mut body = BytesMut::new();
    let mut read = 0usize;
    while let Some(chunk) = payload.next().await {
        let chunk = chunk.map_err(|error| {
            tracing::debug!(
                kind = ErrorKind::BodyReadFailed.code(),
                %error,
                "rxscale webhook rejected: the body could not be read"
            );
            Error::body_read_failed(error)
        })?;
        read = read.saturating_add(chunk.len());
        if read > limit {
            tracing::debug!(
                kind = ErrorKind::BodyTooLarge.code(),
                read,
                limit,
                "rxscale webhook rejected: the body grew past the limit; the rest is not read"
            );
            return Err(Error::body_too_large(limit));
        }
        if chunk.is_empty() {
            continue;
        }
        // A body that arrives in one chunk is kept as that very `Bytes`, without a copy.
        match first.take() {
            None if body.is_empty() => first = Some(chunk),
            None => body.extend_from_slice(&chunk),
            Some(previous) => {
                body.reserve(capacity.max(read));
                body.extend_from_slice(&previous);
                body.extend_from_slice(&chunk);
            }
        }
    }
    Ok(first.unwrap_or_else(|| body.freeze()))
}

fn declared_length(headers: &HeaderMap) -> Option<u64> {
    headers
        .get(CONTENT_LENGTH)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.trim().parse().ok())
}
