//! [`Rejection`]: the one answer every adapter sends when a delivery does not reach the handler.

use std::fmt;

use crate::error::{Error, ErrorKind};
use crate::pipeline::Outcome;
use crate::replay::{DUPLICATE_HEADER, GuardAnswer};

const JSON: (&str, &str) = ("content-type", "application/json");
const JSON_HEADERS: &[(&str, &str)] = &[JSON];
const DUPLICATE_HEADERS: &[(&str, &str)] = &[JSON, (DUPLICATE_HEADER, "true")];
const VERIFIER_NOT_CONFIGURED_BODY: &str = r#"{"error":"verifier_not_configured"}"#;

/// Why a delivery was answered without running the handler, and the answer to send.
///
/// Every adapter turns it into its framework's response the same way: [`status`](Self::status),
/// every header of [`headers`](Self::headers), and [`body`](Self::body). What caused it stays
/// available: the verifier's [`Error`] ([`error`](Self::error), with its non-secret detail), the
/// replay guard's [`GuardAnswer`] ([`guard_answer`](Self::guard_answer)), or a route with no
/// [`Verifier`](crate::Verifier) registered ([`is_verifier_not_configured`](Self::is_verifier_not_configured)).
///
/// | cause | status | body |
/// |---|---|---|
/// | an [`Error`] | [`ErrorKind::status_code`] | [`ErrorKind::response_body`] |
/// | a [`GuardAnswer`] | [`GuardAnswer::status_code`] | [`GuardAnswer::response_body`], plus `X-Webhook-Duplicate: true` for a duplicate |
/// | no verifier registered | 500 | `{"error":"verifier_not_configured"}` |
#[derive(Debug, Clone)]
pub struct Rejection {
    cause: Cause,
}

#[derive(Debug, Clone)]
enum Cause {
    Error(Error),
    Guard(GuardAnswer),
    VerifierNotConfigured,
}

impl Rejection {
    /// The answer to a delivery that failed a check.
    #[must_use]
    pub fn from_error(error: Error) -> Self {
        Rejection {
            cause: Cause::Error(error),
        }
    }

    /// The replay guard's own answer: a duplicate, a claim in flight, or the store unavailable.
    #[must_use]
    pub fn from_guard(answer: GuardAnswer) -> Self {
        Rejection {
            cause: Cause::Guard(answer),
        }
    }

    /// The answer when an extractor finds no [`Verifier`](crate::Verifier) for its route: a
    /// server mistake, 500 `{"error":"verifier_not_configured"}`.
    #[must_use]
    pub fn verifier_not_configured() -> Self {
        Rejection {
            cause: Cause::VerifierNotConfigured,
        }
    }

    /// The HTTP status: 401, 413, 400 or 422 for a failed check, 200, 409 or 503 from the
    /// replay guard, 500 without a verifier.
    #[must_use]
    pub fn status(&self) -> u16 {
        match &self.cause {
            Cause::Error(error) => error.kind().status_code(),
            Cause::Guard(answer) => answer.status_code(),
            Cause::VerifierNotConfigured => 500,
        }
    }

    /// The snake_case code, as in the body and the span's `outcome`, e.g. `signature_mismatch`.
    #[must_use]
    pub fn code(&self) -> &'static str {
        self.outcome().code()
    }

    /// The terse JSON body, e.g. `{"error":"signature_mismatch"}`.
    #[must_use]
    pub fn body(&self) -> &'static str {
        match &self.cause {
            Cause::Error(error) => error.kind().response_body(),
            Cause::Guard(answer) => answer.response_body(),
            Cause::VerifierNotConfigured => VERIFIER_NOT_CONFIGURED_BODY,
        }
    }

    /// Every header the answer carries, as `(lowercase name, value)`: `content-type:
    /// application/json`, and `x-webhook-duplicate: true` for a duplicate.
    #[must_use]
    pub fn headers(&self) -> &'static [(&'static str, &'static str)] {
        match &self.cause {
            Cause::Guard(answer) if answer.is_duplicate() => DUPLICATE_HEADERS,
            _ => JSON_HEADERS,
        }
    }

    /// Which check the delivery failed; `None` for a replay guard's answer or a missing verifier.
    #[must_use]
    pub fn kind(&self) -> Option<ErrorKind> {
        self.error().map(Error::kind)
    }

    /// The verifier's error, with its non-secret [`detail`](Error::detail).
    #[must_use]
    pub fn error(&self) -> Option<&Error> {
        match &self.cause {
            Cause::Error(error) => Some(error),
            _ => None,
        }
    }

    /// Takes the verifier's error out.
    #[must_use]
    pub fn into_error(self) -> Option<Error> {
        match self.cause {
            Cause::Error(error) => Some(error),
            _ => None,
        }
    }

    /// The replay guard's answer, when it was the guard that answered.
    #[must_use]
    pub fn guard_answer(&self) -> Option<GuardAnswer> {
        match &self.cause {
            Cause::Guard(answer) => Some(*answer),
            _ => None,
        }
    }

    /// Whether no verifier was registered for the route: a bug in the server, not the request.
    #[must_use]
    pub fn is_verifier_not_configured(&self) -> bool {
        matches!(self.cause, Cause::VerifierNotConfigured)
    }

    /// The delivery's outcome, as recorded in its span.
    #[must_use]
    pub fn outcome(&self) -> Outcome {
        match &self.cause {
            Cause::Error(error) => Outcome::Rejected(error.kind()),
            Cause::Guard(answer) => Outcome::Answered(*answer),
            Cause::VerifierNotConfigured => Outcome::VerifierNotConfigured,
        }
    }
}

impl From<Error> for Rejection {
    fn from(error: Error) -> Self {
        Rejection::from_error(error)
    }
}

impl From<GuardAnswer> for Rejection {
    fn from(answer: GuardAnswer) -> Self {
        Rejection::from_guard(answer)
    }
}

impl fmt::Display for Rejection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.cause {
            Cause::Error(error) => error.fmt(f),
            Cause::Guard(answer) => write!(f, "answered by the replay guard: {}", answer.code()),
            Cause::VerifierNotConfigured => f.write_str(
                "no rxscale_webhooks::Verifier is registered for this route; register one with \
                 the framework's application state, or wrap the route with the adapter's \
                 middleware",
            ),
        }
    }
}

impl std::error::Error for Rejection {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match &self.cause {
            Cause::Error(error) => Some(error),
            _ => None,
        }
    }
}
