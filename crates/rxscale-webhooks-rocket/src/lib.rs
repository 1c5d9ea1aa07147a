#![doc = include_str!("../README.md")]
//!
//! ## Feature flags
//!
//! | feature | default | what it adds |
//! |---|---|---|
//! | `metrics` | no | Turns on the core's `metrics` feature: every delivery the data guard checks is counted and timed through the `metrics` facade, see `rxscale_webhooks::metrics`. No recorder is installed. |
//!
//! The crate needs no Rocket feature of its own: it depends on `rocket` with default features
//! off, so your application's choice (`http2`, `tls`, `json`) stands.
//!
//! ## Items at a glance
//!
//! - [`VerifiedEvent`]: the data guard (`FromData`).
//! - [`VerifyWebhooks`]: the fairing that holds the verifier and the optional
//!   [`ReplayGuard`] ([`VerifyWebhooks::replay_guard`]), answers refusals and settles claims.
//! - [`WebhookRejection`]: why a delivery was refused, and a `Responder`.
//! - [`LIMIT_NAME`]: `json/rxscale-webhook`, the Rocket limit the body is read within.
//! - [`Verifier`], [`Verified`], [`Event`] and the rest of the core crate's vocabulary,
//!   re-exported so that one dependency is enough.
#![cfg_attr(docsrs, feature(doc_cfg))]
#![deny(missing_docs)]

mod data;
mod fairing;
mod rejection;

pub use data::VerifiedEvent;
pub use fairing::{LIMIT_NAME, VerifyWebhooks};
pub use rejection::WebhookRejection;

#[doc(no_inline)]
pub use rxscale_webhooks::{
    ConfigError, DedupKey, EVENT_HEADER, Error, ErrorKind, Event, EventType, Fingerprint,
    OffsetDateTime, ReplayGuard, ReplayStore, SIGNATURE_HEADER, SigningSecret, Verified, Verifier,
    VerifierBuilder, event, pipeline, replay, sign,
};
