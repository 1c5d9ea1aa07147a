//! The store side of the replay guard: what a [`ReplayStore`] implementation reads and returns.
//!
//! The guard (see `guard.rs`) runs the protocol; a store only has to answer its three calls
//! atomically. Nothing here knows about HTTP.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// A boxed, sendable future, so that [`ReplayStore`] stays object-safe without an async runtime.
pub type StoreFuture<'a, T> = Pin<Box<dyn Future<Output = Result<T, StoreError>> + Send + 'a>>;

/// A shared store of claims and completed keys.
///
/// Implementations must make `claim` atomic: of any number of concurrent claims of one key,
/// exactly one is [`Fresh`](ClaimOutcome::Fresh) while it is live.
pub trait ReplayStore: Send + Sync + 'static {
    /// Claims `key` for `lease`, with `token` identifying this claim.
    fn claim<'a>(
        &'a self,
        key: &'a str,
        token: &'a ClaimToken,
        lease: Duration,
    ) -> StoreFuture<'a, ClaimOutcome>;

    /// Marks `key` completed for `ttl`, if `token` still holds the claim. Returns whether it did.
    fn complete<'a>(
        &'a self,
        key: &'a str,
        token: &'a ClaimToken,
        ttl: Duration,
    ) -> StoreFuture<'a, bool>;

    /// Removes the claim on `key` if `token` still holds it. Returns whether it did.
    fn release<'a>(&'a self, key: &'a str, token: &'a ClaimToken) -> StoreFuture<'a, bool>;

    /// Releases without waiting, for use from `Drop` (a panicking or cancelled handler). The
    /// default does nothing and lets the lease expire; stores that can, release right away.
    fn release_detached(&self, key: String, token: ClaimToken) {
        let _ = (key, token);
    }

    /// Keeps trying to [`complete`](ReplayStore::complete) in the background after a call to it
    /// failed, until `lease_ends`; the handler's response is not held up meanwhile.
    ///
    /// The handler has already succeeded at this point. Until the key is recorded, a
    /// redelivery finds the claim live and is answered 409; once the lease has run out, a
    /// redelivery would run the handler a second time, so retrying past `lease_ends` is
    /// pointless (the token no longer holds the key). The default does nothing: stores that
    /// can fail transiently (over a network) should override it.
    fn complete_detached(
        &self,
        key: String,
        token: ClaimToken,
        ttl: Duration,
        lease_ends: Instant,
    ) {
        let _ = (key, token, ttl, lease_ends);
    }
}

/// What a claim found.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ClaimOutcome {
    /// Nobody held the key: the claim is ours and the handler runs.
    Fresh,
    /// The key was completed before: acknowledge without running the handler.
    Duplicate,
    /// Another worker or instance holds a live claim.
    InFlight,
}

/// A random token identifying one claim, so that only its owner completes or releases it.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct ClaimToken([u8; 16]);

impl ClaimToken {
    /// A fresh random token from the operating system's generator.
    ///
    /// # Errors
    ///
    /// [`StoreError`] when the operating system has no randomness to give.
    pub fn random() -> Result<Self, StoreError> {
        let mut bytes = [0u8; 16];
        getrandom::fill(&mut bytes)
            .map_err(|err| StoreError::with_source("no randomness for a token", err))?;
        Ok(ClaimToken(bytes))
    }

    /// The token as 32 lowercase hex digits.
    #[must_use]
    pub fn to_hex(&self) -> String {
        base16ct::lower::encode_string(&self.0)
    }
}

impl fmt::Debug for ClaimToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ClaimToken({})", self.to_hex())
    }
}

/// A replay store could not be reached or answered nonsense.
///
/// Opaque: the store's own error type stays inside the store. Its cause, when the store gives
/// one ([`StoreError::with_source`]), is the [`source`](std::error::Error::source), so error
/// reporters and the guard's log lines show the whole chain.
#[derive(Clone)]
pub struct StoreError {
    message: String,
    source: Option<Arc<dyn std::error::Error + Send + Sync + 'static>>,
}

impl StoreError {
    /// A store error with a message for the logs. Keep secrets (passwords in URLs) out of it.
    pub fn new(message: impl fmt::Display) -> Self {
        StoreError {
            message: message.to_string(),
            source: None,
        }
    }

    /// A store error caused by `source` (the store client's own error), which becomes its
    /// [`source`](std::error::Error::source). `message` says what the store was doing; the
    /// cause's text is not repeated in it. Both go to the logs: keep secrets out of them.
    pub fn with_source(
        message: impl fmt::Display,
        source: impl std::error::Error + Send + Sync + 'static,
    ) -> Self {
        StoreError {
            message: message.to_string(),
            source: Some(Arc::new(source)),
        }
    }
}

impl fmt::Debug for StoreError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StoreError")
            .field("message", &self.message)
            .field("source", &self.source)
            .finish()
    }
}

impl fmt::Display for StoreError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "replay store unavailable: {}", self.message)
    }
}

impl std::error::Error for StoreError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.source
            .as_deref()
            .map(|source| source as &(dyn std::error::Error + 'static))
    }
}

/// Displays an error followed by its [`source`](std::error::Error::source)s, `: `-separated,
/// for log lines that should carry the whole cause.
pub(crate) struct Chain<'a>(pub(crate) &'a (dyn std::error::Error + 'static));

impl fmt::Display for Chain<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)?;
        let mut cause = self.0.source();
        while let Some(error) = cause {
            write!(f, ": {error}")?;
            cause = error.source();
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::error::Error as _;

    #[test]
    fn a_store_error_keeps_its_cause_as_the_source() {
        let cause = std::io::Error::new(std::io::ErrorKind::ConnectionRefused, "refused");
        let err = StoreError::with_source("redis claim failed", cause);
        assert_eq!(
            err.to_string(),
            "replay store unavailable: redis claim failed"
        );
        let source = err.source().expect("a source");
        assert_eq!(
            source
                .downcast_ref::<std::io::Error>()
                .map(std::io::Error::kind),
            Some(std::io::ErrorKind::ConnectionRefused)
        );
        assert_eq!(
            Chain(&err).to_string(),
            "replay store unavailable: redis claim failed: refused"
        );
        // Cloning shares the cause.
        assert!(err.clone().source().is_some());
        assert!(StoreError::new("no cause").source().is_none());
    }
}
