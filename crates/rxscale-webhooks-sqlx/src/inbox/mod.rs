//! [`Inbox`]: reply first, process durably. A verified delivery is stored in one short
//! transaction and answered 200 at once; [`Worker`]s run your handler in the background, each
//! event's effects committing together with its [`Ledger`] claim.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use rxscale_webhooks::{OffsetDateTime, Verified};
use sqlx::Pool;
use tokio::sync::Notify;

use crate::backend::Backend;
use crate::claim::{DUPLICATE_HEADER, Entity};
use crate::{Error, Ledger};

mod group;
pub(crate) mod ops;
mod pools;
mod redact;
mod routes;
mod sql;
mod worker;

use group::Groups;
use ops::{ListQuery, NewRow};
pub use pools::InboxPools;
pub use routes::InboxRoute;
use sql::InboxTables;
pub use worker::{
    DEFAULT_CONCURRENCY, DEFAULT_LEASE, DEFAULT_MAX_ATTEMPTS, Done, Worker, WorkerHandle,
};

/// What [`Inbox::store`] did with a delivery.
///
/// Exhaustive on purpose, like [`Claim`](crate::Claim).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Stored {
    /// First copy: stored, a worker will process it. Answer 200.
    New,
    /// A copy of an event already in the inbox: nothing stored. Answer 200 with
    /// `X-Webhook-Duplicate: true`.
    Duplicate,
}

impl Stored {
    /// The response header that marks a duplicate: `X-Webhook-Duplicate: true`.
    #[must_use]
    pub const fn header(self) -> Option<(&'static str, &'static str)> {
        match self {
            Stored::New => None,
            Stored::Duplicate => Some((DUPLICATE_HEADER, "true")),
        }
    }

    /// The terse JSON body: `{"status":"stored"}` or `{"status":"duplicate"}`.
    #[must_use]
    pub const fn response_body(self) -> &'static str {
        match self {
            Stored::New => r#"{"status":"stored"}"#,
            Stored::Duplicate => r#"{"status":"duplicate"}"#,
        }
    }
}

/// Where an event stands in the inbox.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum InboxStatus {
    /// Waiting for a worker, maybe until its next retry time.
    Pending,
    /// Leased by a worker. When the lease runs out (the worker died), it is due again.
    Processing,
    /// Processed: its effects committed (or had committed before, for a copy).
    Done,
    /// Skipped: a newer version of its entity had been applied.
    Stale,
    /// A dead letter: its handler failed on every attempt. `rxscale-webhooks inbox retry`
    /// or [`Inbox::retry`] queues it again.
    Dead,
}

impl InboxStatus {
    /// Every status.
    pub const ALL: &'static [InboxStatus] = &[
        InboxStatus::Pending,
        InboxStatus::Processing,
        InboxStatus::Done,
        InboxStatus::Stale,
        InboxStatus::Dead,
    ];

    /// The lowercase name stored in the table and printed by the CLI: `pending`,
    /// `processing`, `done`, `stale` or `dead`.
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            InboxStatus::Pending => "pending",
            InboxStatus::Processing => "processing",
            InboxStatus::Done => "done",
            InboxStatus::Stale => "stale",
            InboxStatus::Dead => "dead",
        }
    }

    /// The status named `name`, if any.
    #[must_use]
    pub fn from_name(name: &str) -> Option<Self> {
        InboxStatus::ALL
            .iter()
            .copied()
            .find(|status| status.as_str() == name)
    }
}

impl fmt::Display for InboxStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One event in the inbox, as [`Inbox::list`] and [`Inbox::get`] return it. Its `Debug` shows
/// no body.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct InboxEntry {
    /// The dedup key, `{event_type}:{timestamp}:{data.uid}`.
    pub key: String,
    /// The event type.
    pub event_type: String,
    /// Where it stands.
    pub status: InboxStatus,
    /// Attempts so far (a lease counts as one).
    pub attempts: i64,
    /// When it arrived, in Unix milliseconds.
    pub arrived_at_ms: i64,
    /// Pending: when it is due; processing: when the lease runs out. Unix milliseconds.
    pub next_attempt_at_ms: i64,
    /// When it was processed or skipped, in Unix milliseconds.
    pub completed_at_ms: Option<i64>,
    /// The last failure, redacted: no value from the body appears in it.
    pub last_error: Option<String>,
}

type EntryTuple = (
    String,
    String,
    String,
    i64,
    i64,
    i64,
    Option<i64>,
    Option<String>,
);

impl InboxEntry {
    fn from_row(row: EntryTuple) -> Self {
        let (key, event_type, status, attempts, arrived, next, completed, last_error) = row;
        InboxEntry {
            key,
            event_type,
            // Only this crate writes the column.
            status: InboxStatus::from_name(&status).unwrap_or(InboxStatus::Pending),
            attempts,
            arrived_at_ms: arrived,
            next_attempt_at_ms: next,
            completed_at_ms: completed,
            last_error,
        }
    }
}

/// Which events [`Inbox::list`] returns. Every filter is off by default; at most
/// [`DEFAULT_LIST_LIMIT`] events, oldest first.
#[derive(Debug, Clone, Default)]
#[must_use]
pub struct InboxFilter {
    status: Option<InboxStatus>,
    event_type: Option<String>,
    older_than: Option<Duration>,
    limit: Option<u32>,
}

/// How many events [`Inbox::list`] returns unless [`InboxFilter::limit`] says otherwise.
pub const DEFAULT_LIST_LIMIT: u32 = 1000;

impl InboxFilter {
    /// Every event (up to the limit).
    pub fn new() -> Self {
        InboxFilter::default()
    }

    /// Only events in `status`. Default: any.
    pub fn status(mut self, status: InboxStatus) -> Self {
        self.status = Some(status);
        self
    }

    /// Only events of this type. Default: any.
    pub fn event_type(mut self, event_type: impl Into<String>) -> Self {
        self.event_type = Some(event_type.into());
        self
    }

    /// Only events that arrived at least `age` ago. Default: any age.
    pub fn older_than(mut self, age: Duration) -> Self {
        self.older_than = Some(age);
        self
    }

    /// At most `limit` events. Default: [`DEFAULT_LIST_LIMIT`].
    pub fn limit(mut self, limit: u32) -> Self {
        self.limit = Some(limit);
        self
    }
}

/// The reply-first inbox: a table `{prefix}inbox` next to the [`Ledger`]'s tables.
///
/// - [`store`](Self::store) keeps a verified delivery's exact body, its dedup key and its
///   arrival time in one short statement; answer 200 when it returns. A copy of a stored event
///   is [`Stored::Duplicate`].
/// - [`worker`](Self::worker) builds a [`Worker`], the tokio task that runs your handler.
/// - [`list`](Self::list), [`get`](Self::get), [`retry`](Self::retry),
///   [`retry_dead`](Self::retry_dead) and [`purge`](Self::purge) are what the
///   `rxscale-webhooks inbox` command runs.
///
/// Cheap to clone; clones share the wake-up signal that tells this process's workers that an
/// event arrived.
#[derive(Clone)]
pub struct Inbox {
    inner: Arc<InboxInner>,
}

struct InboxInner {
    ledger: Ledger,
    tables: Arc<InboxTables>,
    arrived: Notify,
    groups: Groups,
}

impl fmt::Debug for Inbox {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Inbox")
            .field("ledger", &self.inner.ledger)
            .finish_non_exhaustive()
    }
}

impl Default for Inbox {
    fn default() -> Self {
        Inbox::new(Ledger::new())
    }
}

pub(crate) fn now_ms() -> i64 {
    i64::try_from(OffsetDateTime::now_utc().unix_timestamp_nanos() / 1_000_000).unwrap_or(i64::MAX)
}

fn duration_ms(duration: Duration) -> i64 {
    i64::try_from(duration.as_millis()).unwrap_or(i64::MAX)
}

impl Inbox {
    /// An inbox next to `ledger`'s tables, under the same prefix (`{prefix}inbox`). Workers
    /// claim events with this ledger.
    #[must_use]
    pub fn new(ledger: Ledger) -> Self {
        let tables = InboxTables::new(ledger.table_prefix());
        Inbox {
            inner: Arc::new(InboxInner {
                ledger,
                tables: Arc::new(tables),
                arrived: Notify::new(),
                groups: Groups::default(),
            }),
        }
    }

    /// The ledger the workers claim events with.
    #[must_use]
    pub fn ledger(&self) -> &Ledger {
        &self.inner.ledger
    }

    pub(crate) fn tables(&self) -> &InboxTables {
        &self.inner.tables
    }

    fn shared_tables(&self) -> &Arc<InboxTables> {
        &self.inner.tables
    }

    fn groups(&self) -> &Groups {
        &self.inner.groups
    }

    pub(crate) fn arrived(&self) -> &Notify {
        &self.inner.arrived
    }

    /// Creates the inbox table (and the ledger's `{prefix}migrations` table, which records
    /// it) in `pool`'s database. Explicit and safe to repeat, like [`Ledger::migrate`], which
    /// you also run on the database of your effects.
    ///
    /// # Errors
    ///
    /// [`Error`] when the database cannot be reached or refuses the DDL.
    pub async fn migrate<DB: Backend>(&self, pool: &Pool<DB>) -> Result<Vec<i64>, Error> {
        let now = OffsetDateTime::now_utc().unix_timestamp();
        let mut tx = pool.begin_with(DB::BEGIN).await?;
        let ran = DB::inbox_migrate(&mut tx, self.ledger().tables(), self.tables(), now).await?;
        tx.commit().await?;
        if !ran.is_empty() {
            tracing::info!(prefix = %self.ledger().table_prefix(), "inbox table migrated");
        }
        Ok(ran)
    }

    /// Stores a verified delivery: its exact `body`, the `signatures` it was verified with
    /// (so that a worker verifies the stored bytes again, at their arrival time), its dedup key
    /// and the arrival time, in one statement. Answer 200 once it returns `Ok`: the row is
    /// committed by then.
    ///
    /// On a SQLite file, concurrent stores (and the workers' leases and completions) queue in
    /// this process and commit together in one transaction, each answered after that commit:
    /// SQLite has one writer, and this spares them its busy waits. On Postgres each store is
    /// its own statement.
    ///
    /// `verified` must come from verifying `body` with `signatures`.
    ///
    /// # Errors
    ///
    /// [`Error`], 503 when the database is down or slow: nothing was stored, RxScale retries.
    pub async fn store<DB: Backend, T>(
        &self,
        pool: &Pool<DB>,
        verified: &Verified,
        body: &[u8],
        signatures: impl IntoIterator<Item = T>,
    ) -> Result<Stored, Error>
    where
        T: AsRef<[u8]>,
    {
        // A verified body is JSON, hence UTF-8.
        let body = std::str::from_utf8(body)
            .map_err(|_| Error::config("a verified body is UTF-8 JSON; this one is not"))?;
        let signatures = signatures
            .into_iter()
            .map(|value| String::from_utf8_lossy(value.as_ref()).into_owned())
            .collect::<Vec<_>>()
            .join("\n");
        let entity = if self.ledger().orders() {
            Entity::of(verified)
        } else {
            None
        };
        let row = NewRow {
            key: verified.dedup_key().as_str().to_owned(),
            event_type: verified.event_type().to_owned(),
            body: body.to_owned(),
            signatures,
            arrived_at_ms: now_ms(),
            event_time: verified.timestamp().unix_timestamp(),
            entity: entity.map(|e| (e.kind().to_owned(), e.id().to_owned(), e.version())),
        };
        let key = verified.dedup_key().as_str();
        let inserted = self.insert_row(pool, row).await.map_err(|source| {
            let error = Error::from(source);
            tracing::warn!(dedup_key = %key, error = %error, "inbox: storing failed");
            error
        })?;
        if inserted {
            tracing::debug!(dedup_key = %key, "inbox: stored");
            self.arrived().notify_waiters();
            Ok(Stored::New)
        } else {
            tracing::info!(dedup_key = %key, "inbox: duplicate of a stored event");
            Ok(Stored::Duplicate)
        }
    }

    /// A worker that runs `handler` on each stored event; see [`Worker`]. `pools` is a
    /// [`Pool`] that holds both the inbox and your effects, or [`InboxPools`] (SQLite: the
    /// inbox in a file of its own).
    pub fn worker<DB, H, Fut, E>(
        &self,
        pools: impl Into<InboxPools<DB>>,
        verifier: rxscale_webhooks::Verifier,
        handler: H,
    ) -> Worker<DB, H>
    where
        DB: Backend,
        H: Fn(sqlx::Transaction<'static, DB>, Verified) -> Fut + Send + Sync + 'static,
        Fut: std::future::Future<Output = Result<sqlx::Transaction<'static, DB>, E>> + Send,
        E: fmt::Display,
    {
        Worker::new(self.clone(), pools.into(), verifier, handler)
    }

    /// Runs [`Ledger::migrate`] on the database of your effects and [`migrate`](Self::migrate)
    /// on the inbox's, which may be the same. Explicit and safe to repeat.
    ///
    /// # Errors
    ///
    /// [`Error`] when a database cannot be reached or refuses the DDL.
    pub async fn migrate_all<DB: Backend>(&self, pools: &InboxPools<DB>) -> Result<(), Error> {
        self.ledger().migrate(pools.effects()).await?;
        self.migrate(pools.inbox()).await?;
        Ok(())
    }

    /// Events matching `filter`, oldest first.
    ///
    /// # Errors
    ///
    /// [`Error`] when the database cannot be reached.
    pub async fn list<DB: Backend>(
        &self,
        pool: &Pool<DB>,
        filter: &InboxFilter,
    ) -> Result<Vec<InboxEntry>, Error> {
        let now = now_ms();
        let query = ListQuery {
            status: filter.status.map_or("", InboxStatus::as_str),
            event_type: filter.event_type.as_deref().unwrap_or(""),
            arrived_before_ms: now.saturating_sub(filter.older_than.map_or(0, duration_ms)),
            limit: i64::from(filter.limit.unwrap_or(DEFAULT_LIST_LIMIT)),
        };
        let mut conn = pool.acquire().await?;
        let rows = DB::inbox_list(&mut conn, self.tables(), query).await?;
        Ok(rows.into_iter().map(InboxEntry::from_row).collect())
    }

    /// One event and its stored body (which holds personal data: show it only to whom may
    /// see it).
    ///
    /// # Errors
    ///
    /// [`Error`] when the database cannot be reached.
    pub async fn get<DB: Backend>(
        &self,
        pool: &Pool<DB>,
        key: &str,
    ) -> Result<Option<(InboxEntry, String)>, Error> {
        let mut conn = pool.acquire().await?;
        let row = DB::inbox_get(&mut conn, self.tables(), key).await?;
        Ok(row.map(|(a, b, c, d, e, f, g, h, body)| {
            (InboxEntry::from_row((a, b, c, d, e, f, g, h)), body)
        }))
    }

    /// Queues a dead or pending event again, due now, with its attempts reset. Returns
    /// whether it did: an event that is processing, done or stale is left alone, so nothing
    /// runs twice.
    ///
    /// # Errors
    ///
    /// [`Error`] when the database cannot be reached.
    pub async fn retry<DB: Backend>(&self, pool: &Pool<DB>, key: &str) -> Result<bool, Error> {
        let mut conn = pool.acquire().await?;
        let done = DB::inbox_retry(&mut conn, self.tables(), Some(key), now_ms()).await?;
        drop(conn);
        self.arrived().notify_waiters();
        Ok(done == 1)
    }

    /// Queues every dead letter again. Returns how many.
    ///
    /// # Errors
    ///
    /// [`Error`] when the database cannot be reached.
    pub async fn retry_dead<DB: Backend>(&self, pool: &Pool<DB>) -> Result<u64, Error> {
        let mut conn = pool.acquire().await?;
        let done = DB::inbox_retry(&mut conn, self.tables(), None, now_ms()).await?;
        drop(conn);
        self.arrived().notify_waiters();
        Ok(done)
    }

    /// Deletes processed and stale events completed more than `older_than` ago. Pending,
    /// processing and dead events are never deleted. Returns how many it deleted.
    ///
    /// A copy of a purged event that still arrives is stored again, and its worker finds it
    /// [`Duplicate`](crate::Claim::Duplicate) in the ledger: its effects do not run twice as
    /// long as the ledger keeps its key ([`Ledger::purge`]).
    ///
    /// # Errors
    ///
    /// [`Error`] when the database cannot be reached.
    pub async fn purge<DB: Backend>(
        &self,
        pool: &Pool<DB>,
        older_than: Duration,
    ) -> Result<u64, Error> {
        let cutoff = now_ms().saturating_sub(duration_ms(older_than));
        let mut conn = pool.acquire().await?;
        let deleted = DB::inbox_purge(&mut conn, self.tables(), cutoff).await?;
        tracing::info!(deleted, "inbox: purged processed events");
        Ok(deleted)
    }

    /// How many events are in each status.
    ///
    /// # Errors
    ///
    /// [`Error`] when the database cannot be reached.
    pub async fn counts<DB: Backend>(
        &self,
        pool: &Pool<DB>,
    ) -> Result<Vec<(InboxStatus, i64)>, Error> {
        let mut conn = pool.acquire().await?;
        let rows = DB::inbox_counts(&mut conn, self.tables()).await?;
        Ok(rows
            .into_iter()
            .filter_map(|(status, count)| InboxStatus::from_name(&status).map(|s| (s, count)))
            .collect())
    }
}
