use std::fmt;
use std::io::Cursor;

use rocket::http::{Header, Status};
use rocket::request::Request;
use rocket::response::{self, Responder, Response};
use rxscale_webhooks::pipeline::Rejection;
use rxscale_webhooks::{Error, ErrorKind};

/// Why [`VerifiedEvent`](crate::VerifiedEvent) refused a delivery.
///
/// The status and the short JSON body (`{"error":"signature_mismatch"}`, content type
/// `application/json`) come from the core's [`Rejection`], exactly as on every other framework.
/// It has the same shape, and gives the same answers, as `rxscale_webhooks_axum::WebhookRejection`:
/// [`kind`](Self::kind), [`status`](Self::status), [`body_text`](Self::body_text).
///
/// With the [`VerifyWebhooks`](crate::VerifyWebhooks) fairing attached, every refused delivery is
/// answered with its rejection, whatever catcher Rocket ran for the status. A handler may take
/// `Result<VerifiedEvent, WebhookRejection>` to see the rejection (to count or log it); the
/// answer stays the rejection's. It is also a [`Responder`], for handlers that return it.
///
/// The one answer that is not about the delivery is a server mistake: the fairing was not
/// attached. That is a 500 `{"error":"verifier_not_configured"}`, logged at error level with how
/// to fix it, and [`kind`](Self::kind) is `None`.
#[derive(Debug)]
pub struct WebhookRejection(Rejection);

impl WebhookRejection {
    /// Which check the delivery failed; `None` when the fairing is missing (a server
    /// misconfiguration, answered with 500) or the replay guard answered.
    #[must_use]
    pub fn kind(&self) -> Option<ErrorKind> {
        self.0.kind()
    }

    /// The HTTP status: 401, 408, 413, 400 or 422; 200, 409 or 503 from the replay guard (500
    /// without the fairing).
    #[must_use]
    pub fn status(&self) -> Status {
        Status::new(self.0.status())
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

    /// Whether the [`VerifyWebhooks`](crate::VerifyWebhooks) fairing is missing: a bug in the
    /// server, not in the request.
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

/// Makes `response` the answer to `rejection`: its status, its headers, its body.
pub(crate) fn answer(rejection: &Rejection, response: &mut Response<'_>) {
    response.set_status(Status::new(rejection.status()));
    for &(name, value) in rejection.headers() {
        response.set_header(Header::new(name, value));
    }
    let body = rejection.body();
    response.set_sized_body(body.len(), Cursor::new(body));
}

impl<'r> Responder<'r, 'static> for WebhookRejection {
    fn respond_to(self, _request: &'r Request<'_>) -> response::Result<'static> {
        let mut response = Response::new();
        answer(&self.0, &mut response);
        Ok(response)
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
