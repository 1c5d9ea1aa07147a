#![doc = include_str!("../README.md")]
//!
//! ## Feature flags
//!
//! | feature | default | what it adds |
//! |---|---|---|
//! | `metrics` | no | Turns on the core's `metrics` feature: every delivery the layer checks is counted and timed through the `metrics` facade, see `rxscale_webhooks::metrics`. No recorder is installed. |
//!
//! The crate depends on `tower-layer`, `tower-service`, `http`, `http-body`, `tracing` and `tokio`
//! (its timer, for the body-read deadline), never on a web framework.
//!
//! ## Items at a glance
//!
//! - [`VerifyLayer`]: the layer, with its settings [`VerifyLayer::replay_guard`] (exactly-once
//!   handling) and [`VerifyLayer::pass_invalid_event_data`].
//! - [`Verify`]: the service it wraps yours in; [`ResponseFuture`] is its future.
//! - [`VerifiedBody`]: the request body your service receives, the verified bytes.
//! - [`ResponseBody`]: your response body, or the layer's own JSON rejection.
//! - [`RefusedBody`]: what is left of a body refused with 413, discarded within bounds after
//!   the answer so that the client can read it.
//! - [`UndecodedEvent`]: what replaces the [`Verified`](rxscale_webhooks::Verified) event in the
//!   extensions when undecodable data is passed through.
#![cfg_attr(docsrs, feature(doc_cfg))]
#![deny(missing_docs)]

mod body;
mod collect;
mod discard;
mod future;
mod layer;
mod response;
mod service;

pub use body::{ResponseBody, VerifiedBody};
pub use discard::RefusedBody;
pub use future::ResponseFuture;
pub use layer::VerifyLayer;
#[doc(no_inline)]
pub use rxscale_webhooks::UndecodedEvent;
pub use service::Verify;
