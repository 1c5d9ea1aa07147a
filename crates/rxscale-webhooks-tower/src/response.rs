//! The layer's own answer to a delivery it does not pass on.

use http::{HeaderName, HeaderValue, Response, StatusCode};
use rxscale_webhooks::pipeline::Rejection;

use crate::body::ResponseBody;
use crate::discard::RefusedBody;

/// The response for `rejection`: its status, headers and JSON body. Its extensions carry the
/// [`Rejection`] itself and, for a failed check, the [`rxscale_webhooks::Error`] and its
/// [`rxscale_webhooks::ErrorKind`], so that outer layers read why without parsing the body.
///
/// With `rest`, the answer says `Connection: close`, and what is left of the request body is
/// discarded within bounds after the text, before the connection closes.
pub(crate) fn rejection_response<B>(
    rejection: Rejection,
    rest: Option<RefusedBody>,
) -> Response<ResponseBody<B>> {
    let closes = rest.is_some();
    let mut response = Response::new(ResponseBody::rejection(rejection.body(), rest));
    // Every status a rejection has (400..=503, 200) is valid.
    *response.status_mut() = StatusCode::from_u16(rejection.status()).unwrap_or_else(|_| {
        unreachable!("every status the SDK answers with is a valid HTTP status")
    });
    let headers = response.headers_mut();
    for &(name, value) in rejection.headers() {
        headers.insert(
            HeaderName::from_static(name),
            HeaderValue::from_static(value),
        );
    }
    if closes {
        headers.insert(http::header::CONNECTION, HeaderValue::from_static("close"));
    }
    let extensions = response.extensions_mut();
    if let Some(error) = rejection.error() {
        extensions.insert(error.kind());
        extensions.insert(error.clone());
    }
    extensions.insert(rejection);
    response
}
