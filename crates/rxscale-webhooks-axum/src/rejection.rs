use std::fmt;

use axum::http::{HeaderName, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use rxscale_webhooks::pipeline::Rejection;
use rxscale_webhooks::{Error, ErrorKind};
use rxscale_webhooks_tower::{RefusedBody, ResponseBody};

/// Why [`VerifiedEvent`](crate::VerifiedEvent) or [`VerifiedAs`](crate::VerifiedAs) refused a
/// request.
///
/// Like axum's own rejections it has a [`kind`](WebhookRejection::kind), a
/// [`status`](WebhookRejection::status) and a [`body_text`](WebhookRejection::body_text), and
/// answers with them as a response (`content-type: application/json`). It has the same shape,
/// and gives the same answers, as `rxscale_webhooks_actix::WebhookRejection`: both wrap the
/// core's [`Rejection`], where the status map lives.
///
/// Take `Result<VerifiedEvent, WebhookRejection>` in a handler to answer differently.
#[derive(Debug)]
pub struct WebhookRejection(Rejection, Option<RefusedBody>);

impl WebhookRejection {
    /// Which check the delivery failed; `None` only for answers that are not about the
    /// delivery (the extractors give none today).
    #[must_use]
    pub fn kind(&self) -> Option<ErrorKind> {
        self.0.kind()
    }

    /// The HTTP status: 401, 413, 408, 400 or 422.
    #[must_use]
    pub fn status(&self) -> StatusCode {
        StatusCode::from_u16(self.0.status()).unwrap_or_else(|_| {
            unreachable!("every status the SDK answers with is a valid HTTP status")
        })
    }

    /// The JSON response body, e.g. `{"error":"signature_mismatch"}`.
    #[must_use]
    pub fn body_text(&self) -> &'static str {
        self.0.body()
    }

    /// The verifier's error, with its non-secret [`detail`](Error::detail).
    #[must_use]
    pub fn error(&self) -> Option<&Error> {
        self.0.error()
    }

    /// The core's rejection.
    #[must_use]
    pub fn rejection(&self) -> &Rejection {
        &self.0
    }
}

impl WebhookRejection {
    /// A 413 after which what is left of the body is discarded within bounds, so that the
    /// client can read the answer (see [`RefusedBody`]).
    pub(crate) fn with_refused_body(rejection: Rejection, rest: Option<RefusedBody>) -> Self {
        WebhookRejection(rejection, rest)
    }
}

impl From<Rejection> for WebhookRejection {
    fn from(rejection: Rejection) -> Self {
        WebhookRejection(rejection, None)
    }
}

impl IntoResponse for WebhookRejection {
    fn into_response(self) -> Response {
        let status = self.status();
        let mut response = match self.1 {
            Some(rest) => {
                let body = ResponseBody::<axum::body::Body>::rejection(self.0.body(), Some(rest));
                let mut response = Response::new(axum::body::Body::new(body));
                *response.status_mut() = status;
                response.headers_mut().insert(
                    axum::http::header::CONNECTION,
                    HeaderValue::from_static("close"),
                );
                response
            }
            None => (status, self.0.body()).into_response(),
        };
        let headers = response.headers_mut();
        for &(name, value) in self.0.headers() {
            headers.insert(
                HeaderName::from_static(name),
                HeaderValue::from_static(value),
            );
        }
        response
    }
}

impl fmt::Display for WebhookRejection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

impl std::error::Error for WebhookRejection {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(&self.0)
    }
}
