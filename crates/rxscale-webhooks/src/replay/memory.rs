use std::time::{Duration, Instant};

use moka::Expiry;
use moka::ops::compute::Op;
use moka::policy::EvictionPolicy;
use moka::sync::Cache;

use super::store::{ClaimOutcome, ClaimToken, ReplayStore, StoreFuture};

/// Default capacity of a [`MemoryStore`]: 100 000 keys.
pub const DEFAULT_CAPACITY: u64 = 100_000;

/// An in-process [`ReplayStore`] for a single receiver instance.
///
/// Bounded in size (least recently used keys are evicted first once full), with a TTL per entry,
/// safe under concurrency: built on `moka`'s cache, whose per-key `and_compute_with` makes each
/// claim atomic. Several instances need a shared store such as `rxscale-webhooks-redis`.
///
/// Sizing: an entry costs roughly its key (~60 bytes) plus ~100 bytes of bookkeeping; the
/// default 100 000 keys take about 16 MiB. Once full, the oldest completed keys are forgotten
/// first, which re-opens replay for those events: size it for the deliveries you receive within
/// the age window.
#[derive(Clone)]
pub struct MemoryStore {
    cache: Cache<String, Entry>,
}

#[derive(Clone, Debug)]
enum Entry {
    Claimed { token: ClaimToken, until: Instant },
    Completed { until: Instant },
}

impl Entry {
    fn until(&self) -> Instant {
        match self {
            Entry::Claimed { until, .. } | Entry::Completed { until } => *until,
        }
    }
}

struct EntryExpiry;

impl Expiry<String, Entry> for EntryExpiry {
    fn expire_after_create(&self, _: &String, entry: &Entry, now: Instant) -> Option<Duration> {
        Some(entry.until().saturating_duration_since(now))
    }

    fn expire_after_update(
        &self,
        _: &String,
        entry: &Entry,
        now: Instant,
        _: Option<Duration>,
    ) -> Option<Duration> {
        Some(entry.until().saturating_duration_since(now))
    }
}

impl Default for MemoryStore {
    fn default() -> Self {
        Self::new()
    }
}

impl MemoryStore {
    /// A store holding at most [`DEFAULT_CAPACITY`] keys.
    #[must_use]
    pub fn new() -> Self {
        Self::with_capacity(DEFAULT_CAPACITY)
    }

    /// A store holding at most `capacity` keys.
    #[must_use]
    pub fn with_capacity(capacity: u64) -> Self {
        MemoryStore {
            cache: Cache::builder()
                .max_capacity(capacity)
                // moka's default TinyLFU admission would turn away the newest keys once the
                // store is full, forgetting an event right after handling it. Replay
                // protection wants the opposite: forget the oldest first.
                .eviction_policy(EvictionPolicy::lru())
                .expire_after(EntryExpiry)
                .build(),
        }
    }

    /// How many keys the store holds right now (claims and completed keys), after running
    /// pending evictions.
    #[must_use]
    pub fn len(&self) -> u64 {
        self.cache.run_pending_tasks();
        self.cache.entry_count()
    }

    /// Whether the store holds no key.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn claim_now(&self, key: &str, token: &ClaimToken, lease: Duration) -> ClaimOutcome {
        let now = Instant::now();
        let mut outcome = ClaimOutcome::Fresh;
        self.cache.entry_by_ref(key).and_compute_with(|existing| {
            match existing.map(|e| e.into_value()) {
                // An expired entry may linger until moka's housekeeping runs: treat it as gone.
                Some(entry) if entry.until() > now => {
                    outcome = match entry {
                        Entry::Completed { .. } => ClaimOutcome::Duplicate,
                        Entry::Claimed { .. } => ClaimOutcome::InFlight,
                    };
                    Op::Nop
                }
                _ => Op::Put(Entry::Claimed {
                    token: token.clone(),
                    until: now + lease,
                }),
            }
        });
        outcome
    }

    /// Applies `replacement` if `token` still holds a live claim on `key`.
    fn settle(&self, key: &str, token: &ClaimToken, replacement: Option<Entry>) -> bool {
        let now = Instant::now();
        let mut settled = false;
        self.cache.entry_by_ref(key).and_compute_with(|existing| {
            match existing.map(|e| e.into_value()) {
                Some(Entry::Claimed { token: held, until }) if &held == token && until > now => {
                    settled = true;
                    match replacement {
                        Some(entry) => Op::Put(entry),
                        None => Op::Remove,
                    }
                }
                _ => Op::Nop,
            }
        });
        settled
    }
}

impl ReplayStore for MemoryStore {
    fn claim<'a>(
        &'a self,
        key: &'a str,
        token: &'a ClaimToken,
        lease: Duration,
    ) -> StoreFuture<'a, ClaimOutcome> {
        let outcome = self.claim_now(key, token, lease);
        Box::pin(std::future::ready(Ok(outcome)))
    }

    fn complete<'a>(
        &'a self,
        key: &'a str,
        token: &'a ClaimToken,
        ttl: Duration,
    ) -> StoreFuture<'a, bool> {
        let until = Instant::now() + ttl;
        let settled = self.settle(key, token, Some(Entry::Completed { until }));
        Box::pin(std::future::ready(Ok(settled)))
    }

    fn release<'a>(&'a self, key: &'a str, token: &'a ClaimToken) -> StoreFuture<'a, bool> {
        let settled = self.settle(key, token, None);
        Box::pin(std::future::ready(Ok(settled)))
    }

    fn release_detached(&self, key: String, token: ClaimToken) {
        self.settle(&key, &token, None);
    }
}

impl std::fmt::Debug for MemoryStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MemoryStore")
            .field("entries", &self.cache.entry_count())
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn block<T>(future: StoreFuture<'_, T>) -> T {
        // The memory store's futures are always ready.
        let waker = std::task::Waker::noop();
        let mut cx = std::task::Context::from_waker(waker);
        let mut future = future;
        match future.as_mut().poll(&mut cx) {
            std::task::Poll::Ready(result) => result.unwrap(),
            std::task::Poll::Pending => panic!("memory store future was pending"),
        }
    }

    #[test]
    fn claim_complete_duplicate() {
        let store = MemoryStore::new();
        let token = ClaimToken::random().unwrap();
        let lease = Duration::from_secs(60);
        assert_eq!(block(store.claim("k", &token, lease)), ClaimOutcome::Fresh);
        let other = ClaimToken::random().unwrap();
        assert_eq!(
            block(store.claim("k", &other, lease)),
            ClaimOutcome::InFlight
        );
        // Someone else's token neither completes nor releases.
        assert!(!block(store.complete("k", &other, lease)));
        assert!(!block(store.release("k", &other)));
        assert!(block(store.complete("k", &token, Duration::from_secs(600))));
        assert_eq!(
            block(store.claim("k", &other, lease)),
            ClaimOutcome::Duplicate
        );
    }

    #[test]
    fn release_lets_the_retry_in_and_leases_expire() {
        let store = MemoryStore::new();
        let first = ClaimToken::random().unwrap();
        let second = ClaimToken::random().unwrap();
        assert_eq!(
            block(store.claim("k", &first, Duration::from_secs(60))),
            ClaimOutcome::Fresh
        );
        assert!(block(store.release("k", &first)));
        assert_eq!(
            block(store.claim("k", &second, Duration::from_millis(30))),
            ClaimOutcome::Fresh
        );
        std::thread::sleep(Duration::from_millis(60));
        let third = ClaimToken::random().unwrap();
        assert_eq!(
            block(store.claim("k", &third, Duration::from_secs(60))),
            ClaimOutcome::Fresh
        );
        // The expired claim's owner can no longer settle it.
        assert!(!block(store.complete(
            "k",
            &second,
            Duration::from_secs(60)
        )));
    }

    #[test]
    fn concurrent_claims_have_exactly_one_winner() {
        let store = MemoryStore::new();
        let winners = std::thread::scope(|scope| {
            let handles: Vec<_> = (0..16)
                .map(|_| {
                    scope.spawn(|| {
                        let token = ClaimToken::random().unwrap();
                        block(store.claim("same", &token, Duration::from_secs(60)))
                    })
                })
                .collect();
            handles
                .into_iter()
                .map(|h| h.join().unwrap())
                .filter(|o| *o == ClaimOutcome::Fresh)
                .count()
        });
        assert_eq!(winners, 1);
    }

    #[test]
    fn a_full_store_forgets_the_oldest_keys_first() {
        let store = MemoryStore::with_capacity(10);
        let token = ClaimToken::random().unwrap();
        let ttl = Duration::from_secs(600);
        for i in 0..100 {
            let key = format!("key-{i}");
            block(store.claim(&key, &token, Duration::from_secs(60)));
            assert!(block(store.complete(&key, &token, ttl)));
            let _ = store.len(); // runs pending evictions, as a busy receiver's traffic would
        }
        let other = ClaimToken::random().unwrap();
        assert_eq!(
            block(store.claim("key-99", &other, Duration::from_secs(60))),
            ClaimOutcome::Duplicate,
            "the newest key was forgotten"
        );
        assert_eq!(
            block(store.claim("key-0", &other, Duration::from_secs(60))),
            ClaimOutcome::Fresh,
            "the oldest key was kept"
        );
    }

    #[test]
    fn size_is_bounded() {
        let store = MemoryStore::with_capacity(100);
        for i in 0..1000 {
            let token = ClaimToken::random().unwrap();
            block(store.claim(&format!("key-{i}"), &token, Duration::from_secs(60)));
        }
        assert!(store.len() <= 100, "{}", store.len());
    }
}
