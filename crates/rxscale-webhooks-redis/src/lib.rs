#![doc = include_str!("../README.md")]
//!
//! ## Feature flags
//!
//! | feature | default | what it adds |
//! |---|---|---|
//! | *(none)* | | One Redis endpoint through the `redis` crate's reconnecting `ConnectionManager` on tokio. |
//! | `cluster` | no | Redis Cluster through the `redis` crate's async cluster client (`cluster-async`): a comma-separated list of node URLs, or [`RedisStoreBuilder::cluster`], connects to a cluster. |
#![cfg_attr(docsrs, feature(doc_cfg))]
#![deny(missing_docs)]

mod builder;
mod connection;
mod key;
mod store;

pub use builder::{ConnectError, RedisStoreBuilder};
pub use store::RedisStore;

/// Default key prefix: `rxscale-webhooks:`.
pub const DEFAULT_KEY_PREFIX: &str = "rxscale-webhooks:";
