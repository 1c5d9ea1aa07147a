#![doc = include_str!("../README.md")]
//!
//! ## Feature flags
//!
//! | feature | default | what it adds |
//! |---|---|---|
//! | `memory-store` | yes | [`replay::MemoryStore`], the in-process replay store (on `moka`). |
//! | `metrics` | no | [`metrics`]: rates and distributions through the `metrics` facade (deliveries by outcome, verification and handler durations, clock skew, replay and ledger claims, store latency, secrets' last use). No recorder is installed. |
//! | `testing` | no | [`testing`]: realistic signed-payload fixtures for every event type, for your own tests. |
//!
//! ## Modules at a glance
//!
//! - [`Verifier`] and [`VerifierBuilder`]: the checks, in their normative order.
//! - [`Verified`]: what a successful check yields, with its [`DedupKey`].
//! - [`Event`] and the payload types in [`event`].
//! - [`Error`] and [`ErrorKind`]: one kind per failure, each with its HTTP status.
//! - [`SigningSecret`] and [`Fingerprint`].
//! - [`pipeline`]: the delivery pipeline every framework adapter runs (reading the body within
//!   the limit, checking, the replay guard, the span and the answer), for writing adapters.
#![cfg_attr(docsrs, feature(doc_cfg))]
#![deny(missing_docs)]

mod envelope;
mod error;
pub mod event;
pub mod replay;
mod secret;
mod signature;
mod undecoded;
mod verified;
mod verifier;

pub mod pipeline;

#[cfg(feature = "metrics")]
#[cfg_attr(docsrs, doc(cfg(feature = "metrics")))]
pub mod metrics;

#[cfg(feature = "fuzzing")]
#[doc(hidden)]
pub mod fuzzing;

#[cfg(feature = "testing")]
#[cfg_attr(docsrs, doc(cfg(feature = "testing")))]
pub mod testing;

pub use error::{ConfigError, Error, ErrorKind};
pub use event::{Event, EventType};
pub use replay::{ReplayGuard, ReplayStore};
pub use secret::{Fingerprint, SECRET_PREFIX, SigningSecret};
pub use signature::{EVENT_HEADER, SIGNATURE_HEADER, sign};
pub use undecoded::UndecodedEvent;
pub use verified::{DedupKey, Verified};
pub use verifier::{
    DEFAULT_BODY_READ_TIMEOUT, DEFAULT_MAX_AGE, DEFAULT_MAX_BODY_BYTES, DEFAULT_MAX_FUTURE_SKEW,
    Verifier, VerifierBuilder,
};

/// Re-exported so that callers name the same `OffsetDateTime` that [`Verifier::verify_at`]
/// takes without adding the `time` crate themselves.
pub use time::OffsetDateTime;
