use std::fmt;

use rxscale_webhooks::pipeline::Rejection;
use rxscale_webhooks::{Error, ErrorKind};
use salvo::http::StatusCode;
use salvo::http::header::{HeaderName, HeaderValue};
use salvo::{Response, Scribe};

/// Why a delivery was refused by [`VerifiedEvent`](crate::VerifiedEvent) or
/// [`VerifyWebhook`](crate::VerifyWebhook).
///
/// It implements salvo's [`Scribe`] (and so `Writer`): `res.render(rejection)` writes the
/// status and the short JSON body (`{"error":"signature_mismatch"}`, content type
/// `application/json`) of the core's [`Rejection`], exactly as on every other framework. It has
/// the same shape as `rxscale_webhooks_axum::WebhookRejection`: [`kind`](Self::kind),
/// [`status`](Self::status), [`body_text`](Self::body_text).
#[derive(Debug)]
pub struct WebhookRejection(Rejection);

impl WebhookRejection {
    /// Which check the delivery failed; `None` when no `Verifier` was registered (a server
    /// misconfiguration, answered with 500) or the replay guard answered.
    #[must_use]
    pub fn kind(&self) -> Option<ErrorKind> {
        self.0.kind()
    }

    /// The HTTP status: 401, 408, 413, 400 or 422; 200, 409 or 503 from the replay guard; 500
    /// without a `Verifier`.
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

impl Scribe for WebhookRejection {
    fn render(self, res: &mut Response) {
        res.status_code(self.status());
        for &(name, value) in self.0.headers() {
            res.headers_mut().insert(
                HeaderName::from_static(name),
                HeaderValue::from_static(value),
            );
        }
        res.body(bytes::Bytes::from_static(self.body_text().as_bytes()));
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
