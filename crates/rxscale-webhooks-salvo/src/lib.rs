#![doc = include_str!("../README.md")]
//!
//! ## Feature flags
//!
//! | feature | default | what it adds |
//! |---|---|---|
//! | `metrics` | no | Turns on the core's `metrics` feature: every delivery the hoop or the extractor checks is counted and timed through the `metrics` facade, see `rxscale_webhooks::metrics`. No recorder is installed. |
//!
//! The crate depends on `salvo` with default features off, so your application's choice of
//! features (`server`, `http1`, TLS, ...) stands.
//!
//! ## Items at a glance
//!
//! - [`VerifyWebhook`]: the hoop (`Handler`), with [`VerifyWebhook::replay_guard`]
//!   (exactly-once handling).
//! - [`VerifiedEvent`]: the extractor (`Extractible`), a handler argument.
//! - [`WebhookRejection`]: what both answer when a delivery is refused (`Scribe`).
//! - [`Verifier`], [`Verified`], [`Event`] and the rest of the core crate's vocabulary,
//!   re-exported so that one dependency is enough.
#![cfg_attr(docsrs, feature(doc_cfg))]
#![deny(missing_docs)]

mod extract;
mod hoop;
mod rejection;
mod request;

pub use extract::VerifiedEvent;
pub use hoop::VerifyWebhook;
pub use rejection::WebhookRejection;

#[doc(no_inline)]
pub use rxscale_webhooks::{
    ConfigError, DedupKey, EVENT_HEADER, Error, ErrorKind, Event, EventType, Fingerprint,
    OffsetDateTime, ReplayGuard, ReplayStore, SIGNATURE_HEADER, SigningSecret, UndecodedEvent,
    Verified, Verifier, VerifierBuilder, event, pipeline, replay, sign,
};
