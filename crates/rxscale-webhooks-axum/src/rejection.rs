use std::fmt;

use axum::http::header::CONTENT_TYPE;
use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use rxscale_webhooks::ErrorKind;

/// Why [`VerifiedEvent`](crate::VerifiedEvent) or [`VerifiedEnvelope`](crate::VerifiedEnvelope)
/// refused a request.
///
/// Like axum's own rejections, each variant has a [`status`](WebhookRejection::status) and a
/// [`body_text`](WebhookRejection::body_text), and answers with them as a response. The status
/// map is the one [`VerifyLayer`](crate::VerifyLayer) uses, taken from
/// [`ErrorKind`]: the body is a short JSON object such as `{"error":"signature_mismatch"}`.
///
/// Take `Result<VerifiedEvent, WebhookRejection>` in a handler to answer differently.
#[derive(Debug)]
#[non_exhaustive]
pub enum WebhookRejection {
    /// The delivery failed one of the verifier's checks; [`Error::kind`] says which.
    ///
    /// [`Error::kind`]: rxscale_webhooks::Error::kind
    Verification(rxscale_webhooks::Error),
    /// The body is larger than the smaller of axum's `DefaultBodyLimit` and the verifier's
    /// `max_body_bytes`.
    BodyTooLarge(BodyTooLarge),
    /// The body could not be read to its end: the client went away or broke the framing.
    BodyReadFailed(BodyReadFailed),
}

impl WebhookRejection {
    /// The HTTP status this rejection answers with.
    #[must_use]
    pub fn status(&self) -> StatusCode {
        match self {
            WebhookRejection::Verification(error) => status(error.kind().status_code()),
            WebhookRejection::BodyTooLarge(inner) => inner.status(),
            WebhookRejection::BodyReadFailed(inner) => inner.status(),
        }
    }

    /// The JSON response body, e.g. `{"error":"signature_mismatch"}`.
    #[must_use]
    pub fn body_text(&self) -> String {
        match self {
            WebhookRejection::Verification(error) => error.kind().response_body().to_owned(),
            WebhookRejection::BodyTooLarge(inner) => inner.body_text(),
            WebhookRejection::BodyReadFailed(inner) => inner.body_text(),
        }
    }

    /// Why the request was rejected.
    #[must_use]
    pub fn kind(&self) -> ErrorKind {
        match self {
            WebhookRejection::Verification(error) => error.kind(),
            WebhookRejection::BodyTooLarge(_) => ErrorKind::BodyTooLarge,
            WebhookRejection::BodyReadFailed(_) => ErrorKind::BodyReadFailed,
        }
    }
}

impl IntoResponse for WebhookRejection {
    fn into_response(self) -> Response {
        json_response(self.status(), self.body_text())
    }
}

impl fmt::Display for WebhookRejection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            WebhookRejection::Verification(error) => error.fmt(f),
            WebhookRejection::BodyTooLarge(inner) => inner.fmt(f),
            WebhookRejection::BodyReadFailed(inner) => inner.fmt(f),
        }
    }
}

impl std::error::Error for WebhookRejection {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            WebhookRejection::Verification(error) => Some(error),
            WebhookRejection::BodyTooLarge(inner) => Some(inner),
            WebhookRejection::BodyReadFailed(inner) => Some(inner),
        }
    }
}

/// The body is larger than the limit: 413 `{"error":"body_too_large"}`.
#[derive(Debug)]
pub struct BodyTooLarge {
    _private: (),
}

impl BodyTooLarge {
    pub(crate) fn new() -> Self {
        BodyTooLarge { _private: () }
    }

    /// 413 Payload Too Large.
    #[must_use]
    pub fn status(&self) -> StatusCode {
        status(ErrorKind::BodyTooLarge.status_code())
    }

    /// `{"error":"body_too_large"}`.
    #[must_use]
    pub fn body_text(&self) -> String {
        ErrorKind::BodyTooLarge.response_body().to_owned()
    }
}

impl IntoResponse for BodyTooLarge {
    fn into_response(self) -> Response {
        json_response(self.status(), self.body_text())
    }
}

impl fmt::Display for BodyTooLarge {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("body exceeds the size limit")
    }
}

impl std::error::Error for BodyTooLarge {}

/// The body could not be read to its end: 400 `{"error":"body_read_failed"}`.
///
/// The client usually went away, so nobody reads this answer; 400 keeps it out of server-error
/// alerts. The handler is never called.
#[derive(Debug)]
pub struct BodyReadFailed {
    source: axum::Error,
}

impl BodyReadFailed {
    pub(crate) fn new(source: axum::Error) -> Self {
        BodyReadFailed { source }
    }

    /// 400 Bad Request.
    #[must_use]
    pub fn status(&self) -> StatusCode {
        status(ErrorKind::BodyReadFailed.status_code())
    }

    /// `{"error":"body_read_failed"}`.
    #[must_use]
    pub fn body_text(&self) -> String {
        ErrorKind::BodyReadFailed.response_body().to_owned()
    }
}

impl IntoResponse for BodyReadFailed {
    fn into_response(self) -> Response {
        json_response(self.status(), self.body_text())
    }
}

impl fmt::Display for BodyReadFailed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("the request body could not be read")
    }
}

impl std::error::Error for BodyReadFailed {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(&self.source)
    }
}

fn status(code: u16) -> StatusCode {
    StatusCode::from_u16(code).unwrap_or(StatusCode::BAD_REQUEST)
}

fn json_response(status: StatusCode, body: String) -> Response {
    let mut response = (status, body).into_response();
    response
        .headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    response
}
