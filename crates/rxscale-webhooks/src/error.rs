use std::fmt;
use std::sync::Arc;

/// Why a delivery was rejected.
///
/// The mapping to an HTTP status and to a wire code lives here, once, so that every adapter
/// answers the same way: see [`ErrorKind::status_code`] and [`ErrorKind::code`].
///
/// | kind | status | code |
/// |---|---|---|
/// | [`MissingSignature`](ErrorKind::MissingSignature) | 401 | `missing_signature` |
/// | [`MalformedSignature`](ErrorKind::MalformedSignature) | 401 | `malformed_signature` |
/// | [`SignatureMismatch`](ErrorKind::SignatureMismatch) | 401 | `signature_mismatch` |
/// | [`BodyTooLarge`](ErrorKind::BodyTooLarge) | 413 | `body_too_large` |
/// | [`MalformedPayload`](ErrorKind::MalformedPayload) | 400 | `malformed_payload` |
/// | [`Expired`](ErrorKind::Expired) | 400 | `expired` |
/// | [`FromFuture`](ErrorKind::FromFuture) | 400 | `from_future` |
/// | [`InvalidEventData`](ErrorKind::InvalidEventData) | 422 | `invalid_event_data` |
/// | [`BodyReadFailed`](ErrorKind::BodyReadFailed) | 400 | `body_read_failed` |
/// | [`BodyReadTimeout`](ErrorKind::BodyReadTimeout) | 408 | `body_read_timeout` |
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ErrorKind {
    /// The `X-Webhook-Signature` header is absent, empty or blank.
    MissingSignature,
    /// After trimming surrounding whitespace, the header is not exactly 64 hex digits.
    MalformedSignature,
    /// The signature is well formed but no configured secret produced it for these bytes.
    SignatureMismatch,
    /// The body is larger than the configured limit. Checked before any hashing.
    BodyTooLarge,
    /// The body is authentic but is not an RxScale envelope: not JSON, not an object, or
    /// `event_type`, `timestamp` or `data` missing or of the wrong type.
    MalformedPayload,
    /// The authentic `timestamp` is older than the configured maximum age.
    Expired,
    /// The authentic `timestamp` lies further in the future than the allowed clock skew.
    FromFuture,
    /// The event type is one this SDK knows, but its authentic `data` does not decode into the
    /// event's type. The error's message names the field.
    InvalidEventData,
    /// The request body could not be read to its end (the client went away or the connection
    /// broke). Only the framework adapters produce it; nothing was verified.
    BodyReadFailed,
    /// The request body did not arrive in full within the body-read deadline
    /// ([`VerifierBuilder::body_read_timeout`](crate::VerifierBuilder::body_read_timeout)).
    /// Only the framework adapters produce it; nothing was verified.
    BodyReadTimeout,
}

impl ErrorKind {
    /// Every kind, in the order of the checks that produce them.
    pub const ALL: &'static [ErrorKind] = &[
        ErrorKind::BodyReadFailed,
        ErrorKind::BodyReadTimeout,
        ErrorKind::BodyTooLarge,
        ErrorKind::MissingSignature,
        ErrorKind::MalformedSignature,
        ErrorKind::SignatureMismatch,
        ErrorKind::MalformedPayload,
        ErrorKind::Expired,
        ErrorKind::FromFuture,
        ErrorKind::InvalidEventData,
    ];

    /// The snake_case code used in response bodies and logs, e.g. `signature_mismatch`.
    #[must_use]
    pub const fn code(self) -> &'static str {
        match self {
            ErrorKind::MissingSignature => "missing_signature",
            ErrorKind::MalformedSignature => "malformed_signature",
            ErrorKind::SignatureMismatch => "signature_mismatch",
            ErrorKind::BodyTooLarge => "body_too_large",
            ErrorKind::MalformedPayload => "malformed_payload",
            ErrorKind::Expired => "expired",
            ErrorKind::FromFuture => "from_future",
            ErrorKind::InvalidEventData => "invalid_event_data",
            ErrorKind::BodyReadFailed => "body_read_failed",
            ErrorKind::BodyReadTimeout => "body_read_timeout",
        }
    }

    /// The HTTP status every adapter answers with: 401, 413, 408, 400 or 422.
    #[must_use]
    pub const fn status_code(self) -> u16 {
        match self {
            ErrorKind::MissingSignature
            | ErrorKind::MalformedSignature
            | ErrorKind::SignatureMismatch => 401,
            ErrorKind::BodyTooLarge => 413,
            ErrorKind::BodyReadTimeout => 408,
            ErrorKind::MalformedPayload
            | ErrorKind::Expired
            | ErrorKind::FromFuture
            | ErrorKind::BodyReadFailed => 400,
            ErrorKind::InvalidEventData => 422,
        }
    }

    /// The terse JSON response body, e.g. `{"error":"signature_mismatch"}`.
    #[must_use]
    pub const fn response_body(self) -> &'static str {
        match self {
            ErrorKind::MissingSignature => r#"{"error":"missing_signature"}"#,
            ErrorKind::MalformedSignature => r#"{"error":"malformed_signature"}"#,
            ErrorKind::SignatureMismatch => r#"{"error":"signature_mismatch"}"#,
            ErrorKind::BodyTooLarge => r#"{"error":"body_too_large"}"#,
            ErrorKind::MalformedPayload => r#"{"error":"malformed_payload"}"#,
            ErrorKind::Expired => r#"{"error":"expired"}"#,
            ErrorKind::FromFuture => r#"{"error":"from_future"}"#,
            ErrorKind::InvalidEventData => r#"{"error":"invalid_event_data"}"#,
            ErrorKind::BodyReadFailed => r#"{"error":"body_read_failed"}"#,
            ErrorKind::BodyReadTimeout => r#"{"error":"body_read_timeout"}"#,
        }
    }

    /// Whether the request failed authentication (the body must then be treated as untrusted).
    #[must_use]
    pub const fn is_unauthenticated(self) -> bool {
        matches!(
            self,
            ErrorKind::MissingSignature
                | ErrorKind::MalformedSignature
                | ErrorKind::SignatureMismatch
                | ErrorKind::BodyTooLarge
                | ErrorKind::BodyReadFailed
                | ErrorKind::BodyReadTimeout
        )
    }

    const fn description(self) -> &'static str {
        match self {
            ErrorKind::MissingSignature => "missing X-Webhook-Signature",
            ErrorKind::MalformedSignature => "X-Webhook-Signature is not 64 hex digits",
            ErrorKind::SignatureMismatch => "signature does not match the body",
            ErrorKind::BodyTooLarge => "body exceeds the size limit",
            ErrorKind::MalformedPayload => "body is not an RxScale webhook envelope",
            ErrorKind::Expired => "event timestamp is older than the maximum age",
            ErrorKind::FromFuture => "event timestamp is too far in the future",
            ErrorKind::InvalidEventData => "event data does not decode",
            ErrorKind::BodyReadFailed => "request body could not be read",
            ErrorKind::BodyReadTimeout => "request body did not arrive within the deadline",
        }
    }
}

impl fmt::Display for ErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.code())
    }
}

/// A rejected delivery.
///
/// Opaque on purpose: match on [`Error::kind`]. The message never contains a secret or a
/// computed signature; for [`ErrorKind::InvalidEventData`] it names the offending field.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Error {
    kind: ErrorKind,
    detail: Option<Box<str>>,
}

impl Error {
    pub(crate) const fn new(kind: ErrorKind) -> Self {
        Error { kind, detail: None }
    }

    pub(crate) fn with_detail(kind: ErrorKind, detail: impl Into<Box<str>>) -> Self {
        Error {
            kind,
            detail: Some(detail.into()),
        }
    }

    /// The body passed `limit` bytes while an adapter was still reading it.
    #[must_use]
    pub fn body_too_large(limit: usize) -> Self {
        Error::with_detail(
            ErrorKind::BodyTooLarge,
            format!("more than {limit} bytes, limit {limit}"),
        )
    }

    /// The body could not be read to its end. `reason` goes to the logs, never to the client:
    /// keep secrets out of it.
    #[must_use]
    pub fn body_read_failed(reason: impl fmt::Display) -> Self {
        Error::with_detail(ErrorKind::BodyReadFailed, reason.to_string())
    }

    /// What went wrong.
    #[must_use]
    pub fn kind(&self) -> ErrorKind {
        self.kind
    }

    /// Extra, non-secret context: the failing field path, the age of the event, and so on.
    #[must_use]
    pub fn detail(&self) -> Option<&str> {
        self.detail.as_deref()
    }

    /// Shorthand for `self.kind().status_code()`.
    #[must_use]
    pub fn status_code(&self) -> u16 {
        self.kind.status_code()
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.kind.description())?;
        if let Some(detail) = &self.detail {
            write!(f, ": {detail}")?;
        }
        Ok(())
    }
}

impl std::error::Error for Error {}

/// A mistake in configuration, found before any request is served.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub enum ConfigError {
    /// [`VerifierBuilder::build`](crate::VerifierBuilder::build) was called without any secret.
    NoSecret,
    /// A secret was empty.
    EmptySecret,
    /// `max_body_bytes` was set to zero, which would reject every delivery.
    ZeroBodyLimit,
    /// The environment variable holding the secret is not set.
    MissingEnvVar {
        /// The variable's name.
        name: String,
    },
    /// The environment variable holding the secret is not valid Unicode.
    EnvVarNotUnicode {
        /// The variable's name.
        name: String,
    },
    /// The file holding the secret could not be read.
    SecretFile {
        /// The file's path, as given.
        path: String,
        /// Why reading failed: the I/O error, as [`source`](std::error::Error::source). Shared,
        /// so that the error stays `Clone`.
        source: Arc<std::io::Error>,
    },
}

// Written out rather than derived: a derived `source` would be the `Arc` itself, and
// `downcast_ref::<io::Error>()` on it would fail.
impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ConfigError::NoSecret => f.write_str(
                "no signing secret configured: add one with Verifier::builder().secret(..)",
            ),
            ConfigError::EmptySecret => f.write_str("a signing secret is empty"),
            ConfigError::ZeroBodyLimit => f.write_str("max_body_bytes must be greater than zero"),
            ConfigError::MissingEnvVar { name } => write!(
                f,
                "environment variable {name} is not set; it must hold the whsec_... signing secret"
            ),
            ConfigError::EnvVarNotUnicode { name } => {
                write!(f, "environment variable {name} is not valid UTF-8")
            }
            ConfigError::SecretFile { path, .. } => {
                write!(f, "cannot read signing secret file {path}")
            }
        }
    }
}

impl std::error::Error for ConfigError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            ConfigError::SecretFile { source, .. } => Some(&**source),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::error::Error as _;

    #[test]
    fn secret_file_keeps_the_io_error_as_its_source() {
        let path = std::env::temp_dir().join(format!(
            "rxscale-absent-secret-{}/secret",
            std::process::id()
        ));
        let err = crate::SigningSecret::from_file(&path).unwrap_err();
        assert!(matches!(err, ConfigError::SecretFile { .. }), "{err:?}");
        let source = err.source().expect("SecretFile has a source");
        let io = source
            .downcast_ref::<std::io::Error>()
            .expect("the source is the io::Error");
        assert_eq!(io.kind(), std::io::ErrorKind::NotFound);
        // The cause is the source, not repeated in the message.
        assert!(!err.to_string().contains(&io.to_string()), "{err}");
    }
}
