use std::fmt;

/// What went wrong, for matching. `#[non_exhaustive]`: new kinds may appear.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ErrorKind {
    /// The client cannot be built or used as configured: a bad base URL, a plain-`http` base URL
    /// to a non-loopback host, a missing or empty API key, an operation the chosen API does not
    /// document.
    Config,
    /// A subscription's `target` is not an HTTPS URL. Refused locally, before any request.
    InsecureTarget,
    /// `401`: the API key is missing, unknown or revoked.
    Unauthorized,
    /// `403`: the key lacks a permission; [`Error::required_permission`] names it.
    PermissionDenied,
    /// `404`: no such subscription (or no such path: check the path spelling).
    NotFound,
    /// `422`: RxScale refused the request's content (an unknown event type, a bad target).
    Unprocessable,
    /// `5xx`: RxScale failed. Safe-to-retry operations were already retried.
    Server,
    /// Any other non-success status.
    UnexpectedStatus,
    /// The request did not complete: connection refused, TLS failure, timeout.
    Transport,
    /// A success response whose body is not what spec §1.6 describes.
    InvalidResponse,
    /// A registration succeeded but the response carries no `signing_secret`. The subscription
    /// exists ([`Error::subscription_uid`]) yet its deliveries cannot be verified: remove it and
    /// register again, or ask RxScale for the secret (spec §1.6.2 notes the published Management
    /// API example omits the field).
    MissingSigningSecret,
}

impl ErrorKind {
    /// Every kind, for exhaustive documentation and tests.
    pub const ALL: &'static [ErrorKind] = &[
        ErrorKind::Config,
        ErrorKind::InsecureTarget,
        ErrorKind::Unauthorized,
        ErrorKind::PermissionDenied,
        ErrorKind::NotFound,
        ErrorKind::Unprocessable,
        ErrorKind::Server,
        ErrorKind::UnexpectedStatus,
        ErrorKind::Transport,
        ErrorKind::InvalidResponse,
        ErrorKind::MissingSigningSecret,
    ];

    /// A stable snake_case name, for logs and `--json` output.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorKind::Config => "config",
            ErrorKind::InsecureTarget => "insecure_target",
            ErrorKind::Unauthorized => "unauthorized",
            ErrorKind::PermissionDenied => "permission_denied",
            ErrorKind::NotFound => "not_found",
            ErrorKind::Unprocessable => "unprocessable",
            ErrorKind::Server => "server",
            ErrorKind::UnexpectedStatus => "unexpected_status",
            ErrorKind::Transport => "transport",
            ErrorKind::InvalidResponse => "invalid_response",
            ErrorKind::MissingSigningSecret => "missing_signing_secret",
        }
    }
}

impl fmt::Display for ErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// An error of this crate: [`Error::kind`] for matching, `Display` for people.
///
/// Messages name operations, paths, statuses and permissions. RxScale's own message is included
/// after sanitising (control characters removed, `whsec_…` tokens redacted, at most 300
/// characters); the API key and signing secrets never appear.
pub struct Error {
    kind: ErrorKind,
    what: String,
    status: Option<u16>,
    message: Option<String>,
    permission: Option<&'static str>,
    subscription_uid: Option<String>,
    source: Option<Box<dyn std::error::Error + Send + Sync + 'static>>,
}

impl Error {
    fn new(kind: ErrorKind, what: impl Into<String>) -> Self {
        Error {
            kind,
            what: what.into(),
            status: None,
            message: None,
            permission: None,
            subscription_uid: None,
            source: None,
        }
    }

    pub(crate) fn config(what: impl Into<String>) -> Self {
        Error::new(ErrorKind::Config, what)
    }

    pub(crate) fn insecure_target(what: impl Into<String>) -> Self {
        Error::new(ErrorKind::InsecureTarget, what)
    }

    pub(crate) fn invalid_response(what: impl Into<String>) -> Self {
        Error::new(ErrorKind::InvalidResponse, what)
    }

    pub(crate) fn missing_signing_secret(operation: &str, uid: String) -> Self {
        let mut error = Error::new(
            ErrorKind::MissingSigningSecret,
            format!(
                "{operation}: RxScale created subscription {uid} but its response carries no \
                 signing_secret, so its deliveries cannot be verified (the Management API's \
                 published example omits the field, spec §1.6.2). Remove the subscription and \
                 register again, or ask RxScale support for its secret"
            ),
        );
        error.subscription_uid = Some(uid);
        error
    }

    pub(crate) fn transport(operation: &str, err: reqwest::Error) -> Self {
        let reason = if err.is_timeout() {
            "timed out"
        } else if err.is_connect() {
            "cannot connect"
        } else {
            "request failed"
        };
        let mut innermost: &dyn std::error::Error = &err;
        while let Some(inner) = innermost.source() {
            innermost = inner;
        }
        let what = format!("{operation}: {reason}: {innermost}");
        let mut error = Error::new(ErrorKind::Transport, what);
        error.source = Some(Box::new(err));
        error
    }

    pub(crate) fn status(
        operation: &str,
        status: u16,
        message: Option<String>,
        permission: &'static str,
    ) -> Self {
        let (kind, what) = match status {
            401 => (
                ErrorKind::Unauthorized,
                format!(
                    "{operation}: 401 Unauthorized: RxScale did not accept the API key (missing, \
                     unknown or revoked; check the X-API-Key and the host)"
                ),
            ),
            403 => (
                ErrorKind::PermissionDenied,
                format!(
                    "{operation}: 403 Permission Denied: the API key lacks the permission \
                     {permission}"
                ),
            ),
            404 => (
                ErrorKind::NotFound,
                format!(
                    "{operation}: 404 Not Found: no such subscription, or this host does not \
                     serve this path (try the other path spelling)"
                ),
            ),
            422 => (
                ErrorKind::Unprocessable,
                format!("{operation}: 422 Unprocessable: RxScale refused the request's content"),
            ),
            500..=599 => (
                ErrorKind::Server,
                format!("{operation}: {status}: RxScale failed to handle the request"),
            ),
            _ => (
                ErrorKind::UnexpectedStatus,
                format!("{operation}: unexpected status {status}"),
            ),
        };
        let mut error = Error::new(kind, what);
        error.status = Some(status);
        error.message = message;
        if status == 403 {
            error.permission = Some(permission);
        }
        error
    }

    /// What went wrong, for matching.
    #[must_use]
    pub fn kind(&self) -> ErrorKind {
        self.kind
    }

    /// The HTTP status RxScale answered with, when it answered.
    #[must_use]
    pub fn http_status(&self) -> Option<u16> {
        self.status
    }

    /// RxScale's own message from the error response, sanitised, when there was one.
    #[must_use]
    pub fn message(&self) -> Option<&str> {
        self.message.as_deref()
    }

    /// For [`ErrorKind::PermissionDenied`]: the permission the operation needs, as the spec names
    /// it (`webhooks_read`, `webhooks_write`, `notification_subscription:read`,
    /// `notification_subscription:write`).
    #[must_use]
    pub fn required_permission(&self) -> Option<&'static str> {
        self.permission
    }

    /// For [`ErrorKind::MissingSigningSecret`]: the uid of the subscription that was created.
    #[must_use]
    pub fn subscription_uid(&self) -> Option<&str> {
        self.subscription_uid.as_deref()
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.what)?;
        if let Some(message) = &self.message {
            write!(f, " (RxScale said: {message})")?;
        }
        Ok(())
    }
}

impl fmt::Debug for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Error")
            .field("kind", &self.kind)
            .field("status", &self.status)
            .field("what", &self.what)
            .field("message", &self.message)
            .finish_non_exhaustive()
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.source
            .as_deref()
            .map(|source| source as &(dyn std::error::Error + 'static))
    }
}

/// The longest message kept from an error response.
const MAX_MESSAGE_CHARS: usize = 300;

/// RxScale's message from an error body: the `message`, `detail` or `error` string of a JSON
/// object, a FastAPI-style `detail` list (its `msg` and `loc`, never its `input`), or short plain
/// text. Sanitised: control characters dropped, `whsec_…` tokens and the API key redacted,
/// truncated.
pub(crate) fn response_message(body: &[u8], api_key: &str) -> Option<String> {
    let raw = match serde_json::from_slice::<serde_json::Value>(body) {
        Ok(serde_json::Value::Object(object)) => ["message", "detail", "error", "title"]
            .iter()
            .find_map(|field| match object.get(*field) {
                Some(serde_json::Value::String(text)) => Some(text.clone()),
                Some(serde_json::Value::Array(items)) => {
                    let parts: Vec<String> = items.iter().filter_map(detail_item).collect();
                    (!parts.is_empty()).then(|| parts.join("; "))
                }
                _ => None,
            })?,
        Ok(serde_json::Value::String(text)) => text,
        Ok(_) => return None,
        Err(_) => {
            let text = std::str::from_utf8(body).ok()?.trim();
            if text.is_empty() || text.starts_with('<') {
                return None;
            }
            text.to_owned()
        }
    };
    let sanitised = sanitise(&raw, api_key);
    (!sanitised.is_empty()).then_some(sanitised)
}

fn detail_item(item: &serde_json::Value) -> Option<String> {
    let msg = item.get("msg")?.as_str()?;
    let loc = item
        .get("loc")
        .and_then(serde_json::Value::as_array)
        .map(|parts| {
            parts
                .iter()
                .map(|part| match part {
                    serde_json::Value::String(text) => text.clone(),
                    other => other.to_string(),
                })
                .collect::<Vec<_>>()
                .join(".")
        });
    Some(match loc {
        Some(loc) if !loc.is_empty() => format!("{loc}: {msg}"),
        _ => msg.to_owned(),
    })
}

fn sanitise(raw: &str, api_key: &str) -> String {
    let mut text: String = raw
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    if !api_key.is_empty() {
        text = text.replace(api_key, "[redacted API key]");
    }
    let mut out = String::with_capacity(text.len());
    let mut rest = text.as_str();
    while let Some(at) = rest.find(rxscale_webhooks::SECRET_PREFIX) {
        out.push_str(&rest[..at]);
        out.push_str("[redacted signing secret]");
        let after = &rest[at..];
        let end = after
            .find(|c: char| c.is_whitespace() || c == '"' || c == '\'' || c == ',')
            .unwrap_or(after.len());
        rest = &after[end..];
    }
    out.push_str(rest);
    let trimmed = out.trim();
    if trimmed.chars().count() > MAX_MESSAGE_CHARS {
        let cut: String = trimmed.chars().take(MAX_MESSAGE_CHARS).collect();
        format!("{cut}…")
    } else {
        trimmed.to_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_are_extracted_and_sanitised() {
        assert_eq!(
            response_message(br#"{"detail":"Permission Denied"}"#, "k").as_deref(),
            Some("Permission Denied")
        );
        assert_eq!(
            response_message(
                br#"{"detail":[{"loc":["body","target"],"msg":"must be https","input":"jane@example.com"}]}"#,
                "k"
            )
            .as_deref(),
            Some("body.target: must be https")
        );
        assert_eq!(
            response_message(b"bad key key_123 and whsec_abc,def\n", "key_123").as_deref(),
            Some("bad key [redacted API key] and [redacted signing secret],def")
        );
        assert_eq!(response_message(b"<html>oops</html>", "k"), None);
        assert_eq!(response_message(b"{}", "k"), None);
        let long = "x".repeat(1000);
        let cut = response_message(long.as_bytes(), "k").unwrap_or_default();
        assert_eq!(cut.chars().count(), MAX_MESSAGE_CHARS + 1);
    }

    #[test]
    fn every_kind_has_a_distinct_name() {
        let mut names: Vec<_> = ErrorKind::ALL.iter().map(|kind| kind.as_str()).collect();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), ErrorKind::ALL.len());
    }
}
