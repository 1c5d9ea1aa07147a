#![doc = include_str!("../README.md")]
//!
//! ## Feature flags
//!
//! | feature | default | what it adds |
//! |---|---|---|
//! | `postgres` | no | [`Backend`] for `sqlx::Postgres` (ledger and [`Inbox`], workers leasing with `FOR UPDATE SKIP LOCKED`), and [`postgres::pool`]. |
//! | `sqlite` | no | [`Backend`] for `sqlx::Sqlite`, [`sqlite::pool`] and [`sqlite::inbox_pool`]. |
//! | `axum` | no | `IntoResponse` for [`Claim`] and [`Error`]; [`InboxRoute::axum`], the reply-first route. |
//! | `actix` | no | `Responder` for [`Claim`], `ResponseError` for [`Error`]; [`InboxRoute::actix`]. |
//! | `metrics` | no | Each [`Ledger::claim`] is counted in `rxscale_webhook_ledger_claims_total{outcome}` and timed in `rxscale_webhook_store_duration_seconds{store="ledger",operation="claim"}` through the `metrics` facade (see `rxscale_webhooks::metrics`). No recorder is installed. |
//!
//! Enable at least one database. The crate enables no TLS feature of sqlx (nothing here pulls
//! a TLS stack); to reach Postgres over TLS, add one of sqlx's TLS features to your own
//! dependency on sqlx, e.g. `features = ["tls-rustls-ring-webpki"]`. MySQL is not supported.
//!
//! ## Items at a glance
//!
//! - [`Ledger`] and [`LedgerBuilder`]: [`Ledger::claim`] inside your transaction,
//!   [`Ledger::migrate`], [`Ledger::purge`].
//! - [`Claim`]: `Fresh`, `Duplicate` or `Stale`; [`Entity`]: what orders events.
//! - [`Error`] and [`ErrorKind`]: 503 for a database that is down or slow, never a 2xx.
//! - [`postgres::pool`] and [`sqlite::pool`]: pools whose timeouts fit RxScale's 5 s budget.
//! - Reply first, process durably: [`Inbox`] ([`Inbox::store`] on arrival, [`Inbox::list`],
//!   [`Inbox::retry`], [`Inbox::purge`]), [`InboxPools`] (the effects' and the inbox's
//!   databases), [`InboxRoute`] (one line on axum or actix-web),
//!   [`Worker`] and [`WorkerHandle`] (the tokio task that runs your handler), [`Stored`],
//!   [`InboxStatus`], [`InboxEntry`], [`InboxFilter`], [`Done`]. Guide: `docs/inbox.md`.
#![cfg_attr(docsrs, feature(doc_cfg))]
#![deny(missing_docs)]
// Without a database feature there is nothing to run the SQL on.
#![cfg_attr(not(any(feature = "postgres", feature = "sqlite")), allow(dead_code))]

mod backend;
mod claim;
mod error;
mod inbox;
mod ledger;
mod pool;
mod response;
mod schema;

pub use backend::Backend;
pub use claim::{Claim, DUPLICATE_HEADER, Entity, STALE_HEADER};
pub use error::{Error, ErrorKind};
pub use inbox::{
    DEFAULT_CONCURRENCY, DEFAULT_LEASE, DEFAULT_LIST_LIMIT, DEFAULT_MAX_ATTEMPTS, Done, Inbox,
    InboxEntry, InboxFilter, InboxPools, InboxRoute, InboxStatus, Stored, Worker, WorkerHandle,
};
pub use ledger::{DEFAULT_PURGE_MARGIN, DEFAULT_TABLE_PREFIX, Ledger, LedgerBuilder};
#[cfg(feature = "postgres")]
pub use pool::postgres;
#[cfg(feature = "sqlite")]
pub use pool::sqlite;
pub use pool::{DEFAULT_ACQUIRE_TIMEOUT, DEFAULT_BUSY_TIMEOUT, DEFAULT_STATEMENT_TIMEOUT};
pub use schema::Migration;

/// Re-exported so that your `Cargo.toml` needs no second, possibly different, sqlx version for
/// the types in this crate's signatures.
pub use sqlx;
