//! The guard side of the replay protocol: what the tower layer, the actix middleware and the
//! pipeline use around a handler, and what an adapter turns into a response.

use std::fmt;
use std::sync::Arc;
use std::time::{Duration, Instant};

#[cfg(feature = "memory-store")]
use super::memory::MemoryStore;
use super::store::{Chain, ClaimOutcome, ClaimToken, ReplayStore, StoreError};
use crate::verifier::Verifier;

/// The header added to a response that was answered as a duplicate.
pub const DUPLICATE_HEADER: &str = "x-webhook-duplicate";

/// Default lease of a claim: 60 seconds.
pub const DEFAULT_LEASE: Duration = Duration::from_secs(60);

/// What to do when the store cannot be reached.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum FailMode {
    /// Answer 503 and never acknowledge without processing: RxScale retries later. The default.
    #[default]
    Closed,
    /// Run the handler without deduplication. Duplicates may then be processed twice.
    Open,
}

/// Why the guard answered instead of the handler.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum GuardAnswer {
    /// Already handled: 200 with `X-Webhook-Duplicate: true`.
    Duplicate,
    /// Being handled elsewhere right now: 409, so RxScale retries later.
    InFlight,
    /// The store is unreachable and the guard fails closed: 503.
    StoreUnavailable,
}

impl GuardAnswer {
    /// The HTTP status: 200, 409 or 503.
    #[must_use]
    pub const fn status_code(self) -> u16 {
        match self {
            GuardAnswer::Duplicate => 200,
            GuardAnswer::InFlight => 409,
            GuardAnswer::StoreUnavailable => 503,
        }
    }

    /// The snake_case code for bodies and logs.
    #[must_use]
    pub const fn code(self) -> &'static str {
        match self {
            GuardAnswer::Duplicate => "duplicate",
            GuardAnswer::InFlight => "in_flight",
            GuardAnswer::StoreUnavailable => "replay_store_unavailable",
        }
    }

    /// The terse JSON body.
    #[must_use]
    pub const fn response_body(self) -> &'static str {
        match self {
            GuardAnswer::Duplicate => r#"{"status":"duplicate"}"#,
            GuardAnswer::InFlight => r#"{"error":"in_flight"}"#,
            GuardAnswer::StoreUnavailable => r#"{"error":"replay_store_unavailable"}"#,
        }
    }

    /// Whether the response carries `X-Webhook-Duplicate: true`.
    #[must_use]
    pub const fn is_duplicate(self) -> bool {
        matches!(self, GuardAnswer::Duplicate)
    }
}

/// Runs the claim / complete / release protocol against a [`ReplayStore`].
///
/// Cheap to clone. Build it with [`ReplayGuard::new`] and hand it to the tower layer or the actix
/// middleware.
#[derive(Clone)]
pub struct ReplayGuard {
    store: Arc<dyn ReplayStore>,
    lease: Duration,
    completed_ttl: Option<Duration>,
    fail_mode: FailMode,
}

impl fmt::Debug for ReplayGuard {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ReplayGuard")
            .field("lease", &self.lease)
            .field("completed_ttl", &self.completed_ttl)
            .field("fail_mode", &self.fail_mode)
            .finish_non_exhaustive()
    }
}

impl ReplayGuard {
    /// A guard over `store` with a 60-second lease, fail-closed, remembering completed keys for
    /// the verifier's age window plus its future skew.
    pub fn new(store: impl ReplayStore) -> Self {
        ReplayGuard {
            store: Arc::new(store),
            lease: DEFAULT_LEASE,
            completed_ttl: None,
            fail_mode: FailMode::Closed,
        }
    }

    /// A guard over the in-memory store with its default capacity: for a single instance.
    #[cfg(feature = "memory-store")]
    #[cfg_attr(docsrs, doc(cfg(feature = "memory-store")))]
    pub fn in_memory() -> Self {
        ReplayGuard::new(MemoryStore::new())
    }

    /// How long a claim lives without being completed or released.
    ///
    /// Default: 60 seconds. Make it longer than your slowest handler: a lease that expires
    /// while the handler still runs lets a retry run it a second time.
    #[must_use]
    pub fn lease(mut self, lease: Duration) -> Self {
        self.lease = lease;
        self
    }

    /// How long a completed key is remembered.
    ///
    /// Default: the verifier's `max_age` plus `max_future_skew` (72 h 5 min with the verifier's
    /// defaults), the longest time a replay could still pass the age check. With the age check
    /// switched off, the default is 7 days; set a value at least as long as RxScale may retry.
    #[must_use]
    pub fn completed_ttl(mut self, ttl: Duration) -> Self {
        self.completed_ttl = Some(ttl);
        self
    }

    /// What to do when the store is unreachable.
    ///
    /// Default: [`FailMode::Closed`] (503).
    #[must_use]
    pub fn fail_mode(mut self, mode: FailMode) -> Self {
        self.fail_mode = mode;
        self
    }

    /// The TTL for completed keys under `verifier`'s windows.
    #[must_use]
    pub fn completed_ttl_for(&self, verifier: &Verifier) -> Duration {
        const WITHOUT_AGE_CHECK: Duration = Duration::from_secs(7 * 24 * 60 * 60);
        self.completed_ttl.unwrap_or_else(|| {
            verifier.max_age().map_or(WITHOUT_AGE_CHECK, |age| {
                age + verifier.max_future_skew().unwrap_or_default()
            })
        })
    }

    /// Claims `key`. `Ok` means run the handler and then call [`Admission::finish`];
    /// `Err` is the answer to send instead.
    ///
    /// # Errors
    ///
    /// The [`GuardAnswer`] to send without running the handler.
    pub async fn admit(
        &self,
        key: &str,
        completed_ttl: Duration,
    ) -> Result<Admission, GuardAnswer> {
        let token = match ClaimToken::random() {
            Ok(token) => token,
            Err(err) => return self.store_failed(key, &err),
        };
        // Taken before the claim is sent, so that the lease never ends later here than in the
        // store.
        let claimed_at = Instant::now();
        match self.store.claim(key, &token, self.lease).await {
            Ok(ClaimOutcome::Fresh) => Ok(Admission {
                claim: Some(HeldClaim {
                    store: Arc::clone(&self.store),
                    key: key.to_owned(),
                    token,
                    lease_ends: claimed_at + self.lease,
                }),
                completed_ttl,
            }),
            Ok(ClaimOutcome::Duplicate) => Err(GuardAnswer::Duplicate),
            Ok(ClaimOutcome::InFlight) => Err(GuardAnswer::InFlight),
            Err(err) => self.store_failed(key, &err),
        }
    }

    fn store_failed(&self, key: &str, err: &StoreError) -> Result<Admission, GuardAnswer> {
        match self.fail_mode {
            FailMode::Closed => {
                tracing::error!(dedup_key = key, error = %Chain(err), "replay store unavailable; answering 503");
                Err(GuardAnswer::StoreUnavailable)
            }
            FailMode::Open => {
                tracing::warn!(dedup_key = key, error = %Chain(err), "replay store unavailable; processing without deduplication (fail-open)");
                Ok(Admission {
                    claim: None,
                    completed_ttl: Duration::ZERO,
                })
            }
        }
    }
}

/// Permission to run the handler once. Report its outcome with [`Admission::finish`]; if it is
/// dropped instead (panic, cancellation), the claim is released.
#[derive(Debug)]
#[must_use = "call finish() with the handler's status, or the claim is released on drop"]
pub struct Admission {
    claim: Option<HeldClaim>,
    completed_ttl: Duration,
}

struct HeldClaim {
    store: Arc<dyn ReplayStore>,
    key: String,
    token: ClaimToken,
    lease_ends: Instant,
}

impl fmt::Debug for HeldClaim {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HeldClaim")
            .field("key", &self.key)
            .finish_non_exhaustive()
    }
}

impl Admission {
    /// Whether a claim is held (false when the store failed open).
    #[must_use]
    pub fn is_guarded(&self) -> bool {
        self.claim.is_some()
    }

    /// Records the handler's outcome: a 2xx completes the key, anything else releases it.
    ///
    /// Store failures here are logged, not returned: the handler's answer stands either way (a
    /// completed handler whose key could not be recorded is better acknowledged than retried).
    /// A failed completion is handed to [`ReplayStore::complete_detached`], which keeps trying
    /// while the claim's lease lasts, so that an outage of the store right after the handler
    /// succeeded does not let a later redelivery run the handler again.
    pub async fn finish(mut self, handler_succeeded: bool) {
        let Some(claim) = self.claim.take() else {
            return;
        };
        if !handler_succeeded {
            match claim.store.release(&claim.key, &claim.token).await {
                Ok(true) => {}
                Ok(false) => {
                    tracing::debug!(dedup_key = %claim.key, "claim had expired before it was released")
                }
                Err(err) => tracing::warn!(
                    dedup_key = %claim.key,
                    error = %Chain(&err),
                    "could not release the claim; a redelivery is answered 409 until its lease ends"
                ),
            }
            return;
        }
        match claim
            .store
            .complete(&claim.key, &claim.token, self.completed_ttl)
            .await
        {
            Ok(true) => {}
            Ok(false) => tracing::warn!(
                dedup_key = %claim.key,
                "claim had expired before the handler finished; consider a longer lease"
            ),
            Err(err) => {
                tracing::error!(
                    dedup_key = %claim.key,
                    error = %Chain(&err),
                    "could not record the handler's success; retrying in the background until the lease ends"
                );
                claim.store.complete_detached(
                    claim.key,
                    claim.token,
                    self.completed_ttl,
                    claim.lease_ends,
                );
            }
        }
    }
}

impl Drop for Admission {
    fn drop(&mut self) {
        if let Some(claim) = self.claim.take() {
            tracing::debug!(dedup_key = %claim.key, "handler did not finish; releasing its claim");
            claim.store.release_detached(claim.key, claim.token);
        }
    }
}

#[cfg(test)]
#[cfg(feature = "memory-store")]
mod tests {
    use super::*;
    use crate::replay::store::StoreFuture;
    use std::future::Future;
    use std::sync::Mutex;

    /// The memory store, but `complete` fails like a store that just went away, and
    /// `complete_detached` records what it was handed.
    #[derive(Clone, Default)]
    struct CompleteFails {
        inner: MemoryStore,
        handed_over: Arc<Mutex<Vec<(String, Duration, Instant)>>>,
    }

    impl ReplayStore for CompleteFails {
        fn claim<'a>(
            &'a self,
            key: &'a str,
            token: &'a ClaimToken,
            lease: Duration,
        ) -> StoreFuture<'a, ClaimOutcome> {
            self.inner.claim(key, token, lease)
        }

        fn complete<'a>(
            &'a self,
            _: &'a str,
            _: &'a ClaimToken,
            _: Duration,
        ) -> StoreFuture<'a, bool> {
            Box::pin(async { Err(StoreError::new("connection refused")) })
        }

        fn release<'a>(&'a self, key: &'a str, token: &'a ClaimToken) -> StoreFuture<'a, bool> {
            self.inner.release(key, token)
        }

        fn complete_detached(
            &self,
            key: String,
            token: ClaimToken,
            ttl: Duration,
            lease_ends: Instant,
        ) {
            let other = ClaimToken::random().unwrap();
            assert_ne!(other, token);
            assert_eq!(
                block(self.inner.claim(&key, &other, Duration::from_secs(1))).unwrap(),
                ClaimOutcome::InFlight,
                "the claim handed over is still held"
            );
            self.handed_over
                .lock()
                .unwrap()
                .push((key, ttl, lease_ends));
        }
    }

    fn block<T>(future: impl Future<Output = T>) -> T {
        // Every future here is ready at once: the memory store never waits.
        let mut future = std::pin::pin!(future);
        let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
        match future.as_mut().poll(&mut cx) {
            std::task::Poll::Ready(output) => output,
            std::task::Poll::Pending => panic!("future was pending"),
        }
    }

    #[test]
    fn a_failed_completion_is_handed_to_the_background_until_the_lease_ends() {
        let store = CompleteFails::default();
        let lease = Duration::from_secs(45);
        let guard = ReplayGuard::new(store.clone()).lease(lease);
        let before = Instant::now();
        let admission = block(guard.admit("key-1", Duration::from_secs(600))).unwrap();
        let after = Instant::now();
        block(admission.finish(true));

        let handed_over = store.handed_over.lock().unwrap();
        let [(key, ttl, lease_ends)] = handed_over.as_slice() else {
            panic!("expected one hand-over, got {handed_over:?}");
        };
        assert_eq!(key, "key-1");
        assert_eq!(*ttl, Duration::from_secs(600));
        assert!(before + lease <= *lease_ends && *lease_ends <= after + lease);
    }

    #[test]
    fn only_a_failed_completion_is_handed_over() {
        let store = CompleteFails::default();
        let guard = ReplayGuard::new(store.clone());
        let admission = block(guard.admit("failed-handler", Duration::from_secs(600))).unwrap();
        block(admission.finish(false));
        let dropped = block(guard.admit("dropped", Duration::from_secs(600))).unwrap();
        drop(dropped);
        assert!(store.handed_over.lock().unwrap().is_empty());
        assert!(
            block(guard.admit("failed-handler", Duration::from_secs(600))).is_ok(),
            "a failed handler's claim was released"
        );
    }
}
