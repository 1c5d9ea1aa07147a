use std::fmt;

use actix_web::http::StatusCode;
use actix_web::http::header::{HeaderName, HeaderValue};
use actix_web::{HttpResponse, ResponseError};
use rxscale_webhooks::pipeline::Rejection;
use rxscale_webhooks::{Error, ErrorKind};

/// Why a delivery was refused by [`VerifiedEvent`](crate::VerifiedEvent),
/// [`VerifiedAs`](crate::VerifiedAs) or [`VerifyWebhook`](crate::VerifyWebhook).
///
/// It implements [`ResponseError`], so actix-web answers it for you: the status and the short
/// JSON body (`{"error":"signature_mismatch"}`, content type `application/json`) come from the
/// core's [`Rejection`], exactly as on every other framework. It has the same shape, and gives
/// the same answers, as `rxscale_webhooks_axum::WebhookRejection`: [`kind`](Self::kind),
/// [`status`](Self::status), [`body_text`](Self::body_text).
///
/// Take `Result<VerifiedEvent, WebhookRejection>` in a handler to answer differently; match on
/// [`kind`](WebhookRejection::kind).
///
/// The one answer that is not about the delivery is a server mistake: no `Verifier` was
/// registered for the route. That is a 500 `{"error":"verifier_not_configured"}`, logged at
/// error level with how to fix it, and [`kind`](WebhookRejection::kind) is `None`.
#[derive(Debug)]
pub struct WebhookRejection(Rejection);

impl WebhookRejection {
    /// Which check the delivery failed; `None` when no `Verifier` was registered (a server
    /// misconfiguration, answered with 500) or the replay guard answered.
    #[must_use]
    pub fn kind(&self) -> Option<ErrorKind> {
        self.0.kind()
    }

    /// The HTTP status: 401, 413, 400 or 422 (500 without a `Verifier`).
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

    /// Whether the route has no `Verifier` registered: a bug in the server, not in the request.
    #[must_use]
    pub fn is_missing_verifier(&self) -> bool {
        self.0.is_verifier_not_configured()
    }
}

impl From<Rejection> for WebhookRejection {
    fn from(rejection: Rejection) -> Self {
        WebhookRejection(rejection)
    }
}

impl ResponseError for WebhookRejection {
    fn status_code(&self) -> StatusCode {
        self.status()
    }

    fn error_response(&self) -> HttpResponse {
        let mut response = HttpResponse::build(self.status());
        for &(name, value) in self.0.headers() {
            response.insert_header((
                HeaderName::from_static(name),
                HeaderValue::from_static(value),
            ));
        }
        response.body(self.body_text())
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
