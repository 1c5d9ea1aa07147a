#![doc = include_str!("../README.md")]
//!
//! ## Feature flags
//!
//! | feature | default | what it adds |
//! |---|---|---|
//! | `metrics` | no | Turns on the core's `metrics` feature (and the tower layer's): every delivery the layer or an extractor checks is counted and timed through the `metrics` facade, see `rxscale_webhooks::metrics`. No recorder is installed. |
//! | `testing` | no | [`testing`]: fixtures, `TestDelivery` and signed `http::Request`s for `Router::oneshot`, to test your handlers. |
//!
//! ## Items at a glance
//!
//! - [`VerifiedEvent`] and [`VerifiedAs`]: the extractors.
//! - [`WebhookRejection`]: what they answer with when a delivery is refused.
//! - [`serve`]: `axum::serve` with a header-read (and idle) timeout and a cap on open
//!   connections that sheds idle ones first; use it for a public webhook endpoint
//!   (`docs/axum.md`, "Serving a public endpoint").
//! - [`VerifyLayer`]: the tower layer, re-exported from `rxscale-webhooks-tower`, with
//!   [`UndecodedEvent`] and [`VerifiedBody`]. With [`VerifyLayer::replay_guard`] it also
//!   makes each event handled once; see [Exactly once](#exactly-once-needs-the-layer).
//! - [`ReplayGuard`] and the [`replay`] module (`MemoryStore`, `FailMode`, ...), re-exported
//!   from the core for the layer's guard.
//! - [`Verifier`], [`Verified`], [`Event`] and the rest of the core crate's vocabulary,
//!   re-exported so that one dependency is enough.
#![cfg_attr(docsrs, feature(doc_cfg))]
#![deny(missing_docs)]

mod extract;
mod rejection;
mod serve;

#[allow(deprecated)]
pub use extract::VerifiedEnvelope;
pub use extract::{VerifiedAs, VerifiedEvent};
pub use rejection::WebhookRejection;
pub use serve::{DEFAULT_HEADER_READ_TIMEOUT, DEFAULT_MAX_CONNECTIONS, Serve, serve};

#[doc(no_inline)]
pub use rxscale_webhooks_tower::{
    ResponseBody, ResponseFuture, UndecodedEvent, VerifiedBody, Verify, VerifyLayer,
};

#[doc(no_inline)]
pub use rxscale_webhooks::{
    ConfigError, DedupKey, EVENT_HEADER, Error, ErrorKind, Event, EventType, Fingerprint,
    OffsetDateTime, ReplayGuard, ReplayStore, SIGNATURE_HEADER, SigningSecret, Verified, Verifier,
    VerifierBuilder, event, pipeline, replay, sign,
};

#[cfg(feature = "testing")]
#[cfg_attr(docsrs, doc(cfg(feature = "testing")))]
pub mod testing;
