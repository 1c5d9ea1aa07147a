use std::fmt;

use actix_web::http::StatusCode;
use actix_web::http::header::{self, HeaderValue};
use actix_web::{HttpResponse, ResponseError};
use rxscale_webhooks::{Error, ErrorKind};

/// The body of the 500 answered when no [`Verifier`](rxscale_webhooks::Verifier) is registered.
const MISSING_VERIFIER_BODY: &str = r#"{"error":"verifier_not_configured"}"#;

/// Why a delivery was refused by [`VerifiedEvent`](crate::VerifiedEvent),
/// [`VerifiedEnvelope`](crate::VerifiedEnvelope) or [`VerifyWebhook`](crate::VerifyWebhook).
///
/// It implements [`ResponseError`], so actix-web answers it for you: the status and the short
/// JSON body (`{"error":"signature_mismatch"}`, content type `application/json`) come from the
/// core crate's [`ErrorKind`], exactly as on every other framework.
///
/// Take `Result<VerifiedEvent, WebhookRejection>` in a handler to answer differently; match on
/// [`kind`](WebhookRejection::kind).
///
/// The one answer that is not about the delivery is a server mistake: no `Verifier` was
/// registered for the route. That is a 500 `{"error":"verifier_not_configured"}`, logged at
/// error level with how to fix it, and [`kind`](WebhookRejection::kind) is `None`.
pub struct WebhookRejection {
    inner: Inner,
}

enum Inner {
    Delivery(Error),
    MissingVerifier,
}

impl WebhookRejection {
    pub(crate) fn delivery(error: Error) -> Self {
        WebhookRejection {
            inner: Inner::Delivery(error),
        }
    }

    pub(crate) fn missing_verifier() -> Self {
        WebhookRejection {
            inner: Inner::MissingVerifier,
        }
    }

    /// Which check the delivery failed, or `None` when no `Verifier` was registered (a server
    /// misconfiguration, answered with 500).
    #[must_use]
    pub fn kind(&self) -> Option<ErrorKind> {
        match &self.inner {
            Inner::Delivery(error) => Some(error.kind()),
            Inner::MissingVerifier => None,
        }
    }

    /// The verifier's error, with its non-secret [`detail`](Error::detail); `None` when no
    /// `Verifier` was registered.
    #[must_use]
    pub fn error(&self) -> Option<&Error> {
        match &self.inner {
            Inner::Delivery(error) => Some(error),
            Inner::MissingVerifier => None,
        }
    }

    /// Whether the route has no `Verifier` registered: a bug in the server, not in the request.
    #[must_use]
    pub fn is_missing_verifier(&self) -> bool {
        matches!(self.inner, Inner::MissingVerifier)
    }

    /// The HTTP status this rejection answers with: 401, 413, 400 or 422 (500 without a
    /// `Verifier`).
    #[must_use]
    pub fn status(&self) -> StatusCode {
        match self.kind() {
            Some(kind) => {
                StatusCode::from_u16(kind.status_code()).unwrap_or(StatusCode::BAD_REQUEST)
            }
            None => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// The JSON response body, e.g. `{"error":"signature_mismatch"}`.
    #[must_use]
    pub fn body_text(&self) -> &'static str {
        self.kind()
            .map_or(MISSING_VERIFIER_BODY, ErrorKind::response_body)
    }
}

impl ResponseError for WebhookRejection {
    fn status_code(&self) -> StatusCode {
        self.status()
    }

    fn error_response(&self) -> HttpResponse {
        HttpResponse::build(self.status())
            .insert_header((
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/json"),
            ))
            .body(self.body_text())
    }
}

impl fmt::Debug for WebhookRejection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.inner {
            Inner::Delivery(error) => f.debug_tuple("WebhookRejection").field(error).finish(),
            Inner::MissingVerifier => f.write_str("WebhookRejection(MissingVerifier)"),
        }
    }
}

impl fmt::Display for WebhookRejection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.inner {
            Inner::Delivery(error) => error.fmt(f),
            Inner::MissingVerifier => f.write_str(
                "no rxscale_webhooks::Verifier is registered for this route; add \
                 `.app_data(web::Data::new(verifier))` or `.app_data(verifier)` to the App, \
                 scope or resource, or wrap the route with `VerifyWebhook::new(verifier)`",
            ),
        }
    }
}

impl std::error::Error for WebhookRejection {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match &self.inner {
            Inner::Delivery(error) => Some(error),
            Inner::MissingVerifier => None,
        }
    }
}
