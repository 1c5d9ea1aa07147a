#![doc = include_str!("../README.md")]
//!
//! ## Feature flags
//!
//! | feature | default | what it adds |
//! |---|---|---|
//! | `metrics` | no | Turns on the core's `metrics` feature: every delivery the middleware or the extractor checks is counted and timed through the `metrics` facade, see `rxscale_webhooks::metrics`. No recorder is installed. |
//!
//! The crate needs no poem feature of its own: it depends on `poem` with default features
//! off, so your application's choice (`server`, TLS, ...) stands.
//!
//! ## Items at a glance
//!
//! - [`VerifyWebhook`]: the middleware, with [`VerifyWebhook::replay_guard`] (exactly-once
//!   handling); [`VerifyWebhookEndpoint`] is the endpoint it wraps a handler in.
//! - [`VerifiedEvent`]: the extractor (`FromRequest`).
//! - [`WebhookRejection`]: what both answer when a delivery is refused (`ResponseError`,
//!   `IntoResponse`).
//! - [`Verifier`], [`Verified`], [`Event`] and the rest of the core crate's vocabulary,
//!   re-exported so that one dependency is enough.
#![cfg_attr(docsrs, feature(doc_cfg))]
#![deny(missing_docs)]

mod extract;
mod middleware;
mod rejection;
mod request;

pub use extract::VerifiedEvent;
pub use middleware::{VerifyWebhook, VerifyWebhookEndpoint};
pub use rejection::WebhookRejection;

#[doc(no_inline)]
pub use rxscale_webhooks::{
    ConfigError, DedupKey, EVENT_HEADER, Error, ErrorKind, Event, EventType, Fingerprint,
    OffsetDateTime, ReplayGuard, ReplayStore, SIGNATURE_HEADER, SigningSecret, UndecodedEvent,
    Verified, Verifier, VerifierBuilder, event, pipeline, replay, sign,
};
