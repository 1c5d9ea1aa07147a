//! What the hoop and the extractor share: the header lookup and reading the body through the
//! core's pipeline.

use bytes::Bytes;
use http_body_util::BodyExt as _;
use rxscale_webhooks::pipeline::{
    BodyReader, DISCARD_AFTER_REJECTION_BYTES, DISCARD_AFTER_REJECTION_TIME, Pipeline, Rejection,
    body_read_failed, content_length,
};
use salvo::http::ReqBody;
use salvo::http::header::{CONTENT_LENGTH, HeaderMap, HeaderValue};

/// Every value of a header, for the pipeline's header lookup.
pub(crate) fn lookup<'a>(headers: &'a HeaderMap) -> impl Fn(&'static str) -> ValueIter<'a> + 'a {
    move |name| headers.get_all(name).into_iter().map(HeaderValue::as_bytes)
}

type ValueIter<'a> = std::iter::Map<
    salvo::http::header::ValueIter<'a, HeaderValue>,
    fn(&'a HeaderValue) -> &'a [u8],
>;

/// Reads the whole body within the verifier's limit and body-read deadline: 413 from the
/// `Content-Length` before a byte is read or as soon as the bytes pass the limit, 408 when the
/// deadline passes. What is left of a refused body is discarded within bounds, so that the
/// client can read the answer before the connection closes.
pub(crate) async fn read_body(
    pipeline: &Pipeline,
    mut body: ReqBody,
    headers: &HeaderMap,
) -> Result<Bytes, Rejection> {
    let length = content_length(headers.get(CONTENT_LENGTH).map(HeaderValue::as_bytes));
    let mut reader = match pipeline.body_reader(length) {
        Ok(reader) => reader,
        Err(rejection) => {
            discard_within_bounds(body);
            return Err(rejection);
        }
    };
    let deadline = reader.timeout();
    let rejection = match tokio::time::timeout(deadline, read_into(&mut reader, &mut body)).await {
        Ok(Ok(())) => return Ok(reader.finish()),
        Ok(Err(rejection)) => rejection,
        Err(_elapsed) => reader.timed_out(),
    };
    discard_within_bounds(body);
    Err(rejection)
}

async fn read_into(reader: &mut BodyReader, body: &mut ReqBody) -> Result<(), Rejection> {
    while let Some(frame) = body.frame().await {
        if let Ok(data) = frame.map_err(body_read_failed)?.into_data() {
            reader.push(data)?;
        }
    }
    Ok(())
}

/// Reads and throws away the rest of a refused body in the background, within
/// [`DISCARD_AFTER_REJECTION_BYTES`] and [`DISCARD_AFTER_REJECTION_TIME`]: closing while the
/// client still sends would reset the connection and lose the answer.
fn discard_within_bounds(mut body: ReqBody) {
    if matches!(body, ReqBody::None | ReqBody::Once(_)) {
        return;
    }
    tokio::spawn(async move {
        let discard = async {
            let mut left = DISCARD_AFTER_REJECTION_BYTES;
            while let Some(Ok(frame)) = body.frame().await {
                let size = frame.data_ref().map_or(0, |data| data.len() as u64);
                match left.checked_sub(size) {
                    Some(rest) => left = rest,
                    None => break,
                }
            }
        };
        let _ = tokio::time::timeout(DISCARD_AFTER_REJECTION_TIME, discard).await;
    });
}
