use std::fmt;

use rxscale_webhooks::pipeline::Rejection;
use rxscale_webhooks::{Error, ErrorKind};
use warp::http::StatusCode;
use warp::http::header::{HeaderName, HeaderValue};
use warp::reply::Response;

/// Why a delivery was refused by [`verified_event`](crate::verified_event) or
/// [`verified_event_and_body`](crate::verified_event_and_body).
///
/// The filters reject with it (it is a `warp::reject::Reject`); [`recover`](crate::recover)
/// turns it into the answer. As a [`warp::Reply`] it has the status and short JSON body
/// (`{"error":"signature_mismatch"}`, content type `application/json`) of the core's
/// [`Rejection`], exactly as on every other framework, and the same shape as
/// `rxscale_webhooks_axum::WebhookRejection`: [`kind`](Self::kind), [`status`](Self::status),
/// [`body_text`](Self::body_text).
#[derive(Debug)]
pub struct WebhookRejection(Rejection);

impl WebhookRejection {
    /// Which check the delivery failed; `None` when the replay guard answered.
    #[must_use]
    pub fn kind(&self) -> Option<ErrorKind> {
        self.0.kind()
    }

    /// The HTTP status: 401, 408, 413, 400 or 422.
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

    /// The answer, as a response.
    #[must_use]
    pub fn response(&self) -> Response {
        let mut response = Response::new(self.body_text().into());
        *response.status_mut() = self.status();
        for &(name, value) in self.0.headers() {
            response.headers_mut().insert(
                HeaderName::from_static(name),
                HeaderValue::from_static(value),
            );
        }
        response
    }
}

impl From<Rejection> for WebhookRejection {
    fn from(rejection: Rejection) -> Self {
        WebhookRejection(rejection)
    }
}

impl warp::reject::Reject for WebhookRejection {}

impl warp::Reply for WebhookRejection {
    fn into_response(self) -> Response {
        self.response()
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
