//! Exactly-once handling across retries and instances: the replay guard.
//!
//! RxScale retries deliveries and tells receivers to deduplicate on the dedup key
//! (`event_type:timestamp:data.uid`). A [`ReplayGuard`] turns that into a protocol that the
//! tower layer and the actix middleware run around your handler:
//!
//! 1. **Claim** the key. [`Fresh`](ClaimOutcome::Fresh): the handler runs.
//!    [`Duplicate`](ClaimOutcome::Duplicate): already handled; answer 200 with
//!    `X-Webhook-Duplicate: true` and skip the handler. [`InFlight`](ClaimOutcome::InFlight):
//!    someone holds a live claim; answer 409 so RxScale retries later.
//! 2. **Complete** only after the handler answered 2xx: the key is remembered for at least the
//!    verifier's age window, which closes the replay window completely.
//! 3. **Release** on anything else — a non-2xx, an error, a panic, a dropped future — so the
//!    retry is processed. A claim is a lease that expires by itself (default 60 s), so a crashed
//!    instance blocks nothing for long, and release is token-checked, so it never removes
//!    someone else's claim.
//!
//! When the store is unreachable the guard fails **closed** by default (503: never acknowledge
//! without processing); [`FailMode::Open`] is the explicit alternative.
//!
//! Stores implement [`ReplayStore`]: [`MemoryStore`] for one instance (the default), and the
//! `rxscale-webhooks-redis` crate for several.

#[cfg(feature = "memory-store")]
mod memory;

// The store side (what `ReplayStore` implementations read) and the guard side (what adapters and
// handlers read) live apart; the guard depends on the store side, never the other way round.
mod guard;
mod store;

pub use guard::{Admission, DEFAULT_LEASE, DUPLICATE_HEADER, FailMode, GuardAnswer, ReplayGuard};
#[cfg(feature = "memory-store")]
#[cfg_attr(docsrs, doc(cfg(feature = "memory-store")))]
pub use memory::{DEFAULT_CAPACITY, MemoryStore};
pub use store::{ClaimOutcome, ClaimToken, ReplayStore, StoreError, StoreFuture};
