#![doc = include_str!("../README.md")]
//!
//! ## Feature flags
//!
//! | feature | default | what it adds |
//! |---|---|---|
//! | `metrics` | no | Turns on the core's `metrics` feature: every delivery the middleware or an extractor checks is counted and timed through the `metrics` facade, see `rxscale_webhooks::metrics`. No recorder is installed. |
//! | `testing` | no | [`testing`]: fixtures, `TestDelivery` and signed `TestRequest`s, to test your handlers. |
//!
//! The crate needs no actix-web feature of its own: it depends on `actix-web` with default
//! features off, so your application's choice of features (compression, TLS, cookies) stands.
//!
//! ## Items at a glance
//!
//! - [`VerifiedEvent`] and [`VerifiedAs`]: the extractors (`FromRequest`).
//! - [`VerifyWebhook`]: the middleware (`Transform`), with its settings
//!   [`VerifyWebhook::replay_guard`] (exactly-once handling) and
//!   [`VerifyWebhook::pass_invalid_event_data`]; [`VerifyWebhookMiddleware`] is the service it
//!   wraps a route in.
//! - [`WebhookRejection`]: what both answer with when a delivery is refused (`ResponseError`).
//! - [`ExpectWithinLimit`]: answers 413 instead of `100 Continue` to an oversized
//!   `Content-Length`, for servers built with actix-http's `HttpService::build().expect(..)`.
//! - [`UndecodedEvent`]: what replaces the [`Verified`] event in the extensions when the
//!   middleware passes undecodable data through.
//! - [`Verifier`], [`Verified`], [`Event`] and the rest of the core crate's vocabulary,
//!   re-exported so that one dependency is enough.
#![cfg_attr(docsrs, feature(doc_cfg))]
#![deny(missing_docs)]

mod expect;
mod extract;
mod middleware;
mod rejection;
mod request;

pub use expect::ExpectWithinLimit;
#[allow(deprecated)]
pub use extract::VerifiedEnvelope;
pub use extract::{VerifiedAs, VerifiedEvent};
pub use middleware::{VerifyWebhook, VerifyWebhookMiddleware};
pub use rejection::WebhookRejection;
#[doc(no_inline)]
pub use rxscale_webhooks::UndecodedEvent;

#[doc(no_inline)]
pub use rxscale_webhooks::{
    ConfigError, DedupKey, EVENT_HEADER, Error, ErrorKind, Event, EventType, Fingerprint,
    OffsetDateTime, ReplayGuard, ReplayStore, SIGNATURE_HEADER, SigningSecret, Verified, Verifier,
    VerifierBuilder, event, pipeline, replay, sign,
};

#[cfg(feature = "testing")]
#[cfg_attr(docsrs, doc(cfg(feature = "testing")))]
pub mod testing;
