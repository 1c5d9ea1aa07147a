//! What the middleware and the extractor share: the header lookup and reading the body through
//! the core's pipeline.

use futures_util::{Stream, StreamExt as _};
use poem::Body;
use poem::http::HeaderMap;
use poem::http::header::{CONTENT_LENGTH, HeaderValue};
use rxscale_webhooks::pipeline::{
    BodyReader, DISCARD_AFTER_REJECTION_BYTES, DISCARD_AFTER_REJECTION_TIME, Pipeline, Rejection,
    body_read_failed, content_length,
};

/// Every value of a header, for the pipeline's header lookup.
pub(crate) fn lookup<'a>(headers: &'a HeaderMap) -> impl Fn(&'static str) -> ValueIter<'a> + 'a {
    move |name| headers.get_all(name).into_iter().map(HeaderValue::as_bytes)
}

type ValueIter<'a> =
    std::iter::Map<poem::http::header::ValueIter<'a, HeaderValue>, fn(&'a HeaderValue) -> &'a [u8]>;

/// Reads the whole body within the verifier's limit and body-read deadline: 413 from the
/// `Content-Length` before a byte is read or as soon as the bytes pass the limit, 408 when the
/// deadline passes. What is left of a refused body is discarded within bounds, so that the
/// client can read the answer before the connection closes.
pub(crate) async fn read_body(
    pipeline: &Pipeline,
    body: Body,
    headers: &HeaderMap,
) -> Result<bytes::Bytes, Rejection> {
    let mut stream = Box::pin(body.into_bytes_stream());
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

async fn read_into<S, E>(reader: &mut BodyReader, stream: &mut S) -> Result<(), Rejection>
where
    S: Stream<Item = Result<bytes::Bytes, E>> + Unpin,
    E: std::fmt::Display,
{
    while let Some(chunk) = stream.next().await {
        reader.push(chunk.map_err(body_read_failed)?)?;
    }
    Ok(())
}

/// Reads and throws away the rest of a refused body in the background, within
/// [`DISCARD_AFTER_REJECTION_BYTES`] and [`DISCARD_AFTER_REJECTION_TIME`]: closing while the
/// client still sends would reset the connection and lose the answer.
fn discard_within_bounds<S, E>(mut stream: S)
where
    S: Stream<Item = Result<bytes::Bytes, E>> + Unpin + Send + 'static,
{
    tokio::spawn(async move {
        let discard = async {
            let mut left = DISCARD_AFTER_REJECTION_BYTES;
            while let Some(Ok(chunk)) = stream.next().await {
                match left.checked_sub(chunk.len() as u64) {
                    Some(rest) => left = rest,
                    None => break,
                }
            }
        };
        let _ = tokio::time::timeout(DISCARD_AFTER_REJECTION_TIME, discard).await;
    });
}
