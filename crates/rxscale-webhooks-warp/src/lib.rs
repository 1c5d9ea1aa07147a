#![doc = include_str!("../README.md")]
//!
//! ## Feature flags
//!
//! | feature | default | what it adds |
//! |---|---|---|
//! | `metrics` | no | Turns on the core's `metrics` feature: every delivery the filters check is counted and timed through the `metrics` facade, see `rxscale_webhooks::metrics`. No recorder is installed. |
//!
//! The crate depends on `warp` with default features off, so your application's choice
//! (`server`, compression, ...) stands.
//!
//! ## Items at a glance
//!
//! - [`verified_event`] and [`verified_event_and_body`]: the filters.
//! - [`recover`]: answers their rejections (use with `Filter::recover`).
//! - [`WebhookRejection`]: what they reject with (`Reject`, `Reply`).
//! - [`Verifier`], [`Verified`], [`Event`] and the rest of the core crate's vocabulary,
//!   re-exported so that one dependency is enough.
#![cfg_attr(docsrs, feature(doc_cfg))]
#![deny(missing_docs)]

mod filter;
mod rejection;

pub use filter::{recover, verified_event, verified_event_and_body};
pub use rejection::WebhookRejection;

#[doc(no_inline)]
pub use rxscale_webhooks::{
    ConfigError, DedupKey, EVENT_HEADER, Error, ErrorKind, Event, EventType, Fingerprint,
    OffsetDateTime, ReplayGuard, ReplayStore, SIGNATURE_HEADER, SigningSecret, Verified, Verifier,
    VerifierBuilder, event, pipeline, replay, sign,
};
