//! [`Worker`]: the tokio task that processes stored events.

use std::collections::HashSet;
use std::future::Future;
use std::hash::{BuildHasher as _, Hasher as _};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rxscale_webhooks::{OffsetDateTime, Verified, Verifier};
use sqlx::{Pool, Transaction};
use tokio::sync::watch;
use tokio::task::JoinSet;

use super::group::Mark;
use super::ops::LeasedRow;
use super::redact::redact;
use super::{Inbox, InboxPools, InboxStatus, now_ms};
use crate::backend::Backend;
use crate::{Claim, Error};

/// What a worker did with one event, given to [`Worker::on_done`] after its commit.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Done {
    /// The dedup key.
    pub key: String,
    /// The event type.
    pub event_type: String,
    /// `Fresh`: your handler ran and its effects committed. `Duplicate`: the effects had
    /// committed before (a worker died after its commit). `Stale`: a newer version of the
    /// entity was applied; skipped.
    pub claim: Claim,
}

type OnDone = Arc<dyn Fn(&Done) + Send + Sync>;

/// Runs your handler on each stored event, in the background. Build it with
/// [`Inbox::worker`], set what you need, then [`spawn`](Self::spawn) it.
///
/// Your handler receives the transaction in which the event was claimed in the [`Ledger`]
/// and the event, re-verified from its stored bytes at its arrival time; it writes its effects
/// in the transaction and returns it. The worker marks the event done in that same
/// transaction (on Postgres; see [`inbox_pool`](Self::inbox_pool) for a separate inbox
/// database) and commits. An `Err` rolls everything back and schedules a retry.
///
/// ```text
/// inbox.worker(pool, verifier, |mut tx, event| async move {
///     sqlx::query("...").execute(&mut *tx).await?;  // effects, in the claim's transaction
///     Ok::<_, Error>(tx)                             // the worker marks it done and commits
/// })
/// ```
///
/// - Several workers, in one process or many, share the table: on Postgres a worker leases
///   due events with `FOR UPDATE SKIP LOCKED`, so no two lease the same one.
/// - A lease ([`lease`](Self::lease)) hands the event of a worker that died to another one
///   once it runs out. The ledger claim makes sure its effects still commit only once.
/// - Events of one entity (order, SKU, meeting) are leased in version order: a newer one
///   waits while an older one is pending or processing. One older than what was applied is
///   marked `stale` and skipped.
/// - A failure is retried after an exponential backoff with jitter
///   ([`backoff`](Self::backoff)); after [`max_attempts`](Self::max_attempts) the event is a
///   dead letter (`dead`) with the last error, from which every value of the body is
///   redacted.
///
/// [`Ledger`]: crate::Ledger
#[must_use]
pub struct Worker<DB: Backend, H> {
    inbox: Inbox,
    pool: Pool<DB>,
    inbox_pool: Option<Pool<DB>>,
    verifier: Verifier,
    handler: H,
    concurrency: usize,
    batch_size: u32,
    lease: Duration,
    poll_interval: Duration,
    max_attempts: u32,
    backoff_base: Duration,
    backoff_max: Duration,
    on_done: Option<OnDone>,
}

impl<DB: Backend, H> std::fmt::Debug for Worker<DB, H> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Worker")
            .field("concurrency", &self.concurrency)
            .field("batch_size", &self.batch_size)
            .field("lease", &self.lease)
            .field("poll_interval", &self.poll_interval)
            .field("max_attempts", &self.max_attempts)
            .field("backoff_base", &self.backoff_base)
            .field("backoff_max", &self.backoff_max)
            .finish_non_exhaustive()
    }
}

/// Default [`Worker::concurrency`]: 2 events at a time.
pub const DEFAULT_CONCURRENCY: usize = 2;
/// Default [`Worker::lease`]: 60 seconds.
pub const DEFAULT_LEASE: Duration = Duration::from_secs(60);
/// Default [`Worker::max_attempts`]: 8.
pub const DEFAULT_MAX_ATTEMPTS: u32 = 8;

impl<DB, H, Fut, E> Worker<DB, H>
where
    DB: Backend,
    H: Fn(Transaction<'static, DB>, Verified) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<Transaction<'static, DB>, E>> + Send,
    E: std::fmt::Display,
{
    pub(crate) fn new(inbox: Inbox, pools: InboxPools<DB>, verifier: Verifier, handler: H) -> Self {
        Worker {
            inbox,
            inbox_pool: pools.separate_inbox().cloned(),
            pool: pools.effects().clone(),
            verifier,
            handler,
            concurrency: DEFAULT_CONCURRENCY,
            batch_size: 4,
            lease: DEFAULT_LEASE,
            poll_interval: Duration::from_millis(250),
            max_attempts: DEFAULT_MAX_ATTEMPTS,
            backoff_base: Duration::from_secs(1),
            backoff_max: Duration::from_secs(300),
            on_done: None,
        }
    }

    /// How many events this worker processes at a time, each in its own transaction.
    /// Default: [`DEFAULT_CONCURRENCY`] (2). At least 1. On SQLite, effects transactions take
    /// turns anyway.
    pub fn concurrency(mut self, concurrency: usize) -> Self {
        self.concurrency = concurrency.max(1);
        self
    }

    /// How many due events one lease takes. Default: 4. Each is processed before its lease runs
    /// out or left for another worker. At least 1.
    pub fn batch_size(mut self, batch_size: u32) -> Self {
        self.batch_size = batch_size.max(1);
        self
    }

    /// How long a leased event stays with this worker before another one may take it.
    /// Default: [`DEFAULT_LEASE`] (60 s). Make it longer than your slowest handler: a handler
    /// that outlives its lease has its work rolled back (the ledger keeps it exactly once).
    pub fn lease(mut self, lease: Duration) -> Self {
        self.lease = lease;
        self
    }

    /// How often an idle worker looks for due events that no signal announced (arrivals at
    /// other instances, retries coming due, expired leases). Arrivals through the same
    /// [`Inbox`] wake it at once. Default: 250 ms.
    pub fn poll_interval(mut self, interval: Duration) -> Self {
        self.poll_interval = interval;
        self
    }

    /// Attempts before an event becomes a dead letter. Default: [`DEFAULT_MAX_ATTEMPTS`] (8).
    /// At least 1.
    pub fn max_attempts(mut self, attempts: u32) -> Self {
        self.max_attempts = attempts.max(1);
        self
    }

    /// The retry delay after the n-th failure is `base * 2^(n-1)`, at most `max`, of which a
    /// random part up to one half is taken off (jitter), so that failures that happened
    /// together do not retry together. Default: 1 s and 5 min.
    pub fn backoff(mut self, base: Duration, max: Duration) -> Self {
        self.backoff_base = base;
        self.backoff_max = max.max(base);
        self
    }

    /// The pool of the inbox table, when it is not in the database of your effects. Default:
    /// the inbox pool of the [`InboxPools`] given to [`Inbox::worker`]; given a plain pool,
    /// that pool, and the event is marked done in the transaction of its effects.
    ///
    /// With a separate inbox database (on SQLite, [`sqlite::inbox_pool`](crate::sqlite::inbox_pool),
    /// so that arrivals never wait for the single writer of your effects' database), the event
    /// is marked done right after that commit, in the inbox file's next grouped commit; a
    /// worker that dies in between leaves it to the next one, whose ledger claim answers
    /// [`Claim::Duplicate`]: the effects still commit once.
    pub fn inbox_pool(mut self, pool: Pool<DB>) -> Self {
        self.inbox_pool = Some(pool);
        self
    }

    /// Called after each event's commit, e.g. to log or count it. Default: nothing.
    pub fn on_done(mut self, on_done: impl Fn(&Done) + Send + Sync + 'static) -> Self {
        self.on_done = Some(Arc::new(on_done));
        self
    }

    /// Starts the worker on the current tokio runtime. Keep the handle and call
    /// [`WorkerHandle::shutdown`] when the app stops.
    pub fn spawn(self) -> WorkerHandle
    where
        Fut: 'static,
        E: 'static,
    {
        let (stop, stopping) = watch::channel(false);
        let in_flight = Arc::new(Mutex::new(HashSet::new()));
        // SQLite has one writer per file: the effects transactions of this worker take turns
        // in the process rather than in SQLite's busy handler.
        let effects_turn = DB::group_key(&self.pool).map(|_| tokio::sync::Mutex::new(()));
        let shared = Arc::new(Shared {
            effects_turn,
            inbox: self.inbox,
            inbox_pool: self.inbox_pool.clone(),
            pool: self.pool,
            verifier: self.verifier,
            handler: self.handler,
            batch_size: self.batch_size,
            lease: self.lease,
            poll_interval: self.poll_interval,
            max_attempts: self.max_attempts,
            backoff_base: self.backoff_base,
            backoff_max: self.backoff_max,
            on_done: self.on_done,
            in_flight: Arc::clone(&in_flight),
        });
        let mut tasks = JoinSet::new();
        for _ in 0..self.concurrency {
            let shared = Arc::clone(&shared);
            let stopping = stopping.clone();
            tasks.spawn(async move { shared.run(stopping).await });
        }
        let release: Release = {
            let shared = Arc::clone(&shared);
            Box::new(move |rows| Box::pin(async move { shared.release_all(rows).await }))
        };
        WorkerHandle {
            stop,
            tasks,
            in_flight,
            release,
        }
    }
}

type Release = Box<
    dyn FnOnce(Vec<(String, String)>) -> std::pin::Pin<Box<dyn Future<Output = ()> + Send>> + Send,
>;

/// A running [`Worker`]. Dropping it stops nothing: call [`shutdown`](Self::shutdown).
pub struct WorkerHandle {
    stop: watch::Sender<bool>,
    tasks: JoinSet<()>,
    in_flight: Arc<Mutex<HashSet<(String, String)>>>,
    release: Release,
}

impl std::fmt::Debug for WorkerHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WorkerHandle")
            .field("tasks", &self.tasks.len())
            .finish_non_exhaustive()
    }
}

impl WorkerHandle {
    /// Stops leasing, lets the events in progress finish (commit or fail), returns the leased
    /// events not yet started to the inbox, and waits for all of it.
    pub async fn shutdown(self) {
        self.shutdown_within(Duration::MAX).await;
    }

    /// [`shutdown`](Self::shutdown), but after `grace` the events still in progress are
    /// abandoned: their transactions roll back and they are returned to the inbox, due at once.
    /// Returns whether everything finished within `grace`.
    pub async fn shutdown_within(mut self, grace: Duration) -> bool {
        let _ = self.stop.send(true);
        let tasks = &mut self.tasks;
        let finished =
            tokio::time::timeout(grace, async { while tasks.join_next().await.is_some() {} })
                .await
                .is_ok();
        if !finished {
            self.tasks.abort_all();
            while self.tasks.join_next().await.is_some() {}
            let rows: Vec<_> = self
                .in_flight
                .lock()
                .map(|mut set| set.drain().collect())
                .unwrap_or_default();
            tracing::warn!(
                returned = rows.len(),
                "inbox worker: events still in progress after the grace period were rolled back"
            );
            (self.release)(rows).await;
        }
        finished
    }
}

struct Shared<DB: Backend, H> {
    effects_turn: Option<tokio::sync::Mutex<()>>,
    inbox: Inbox,
    pool: Pool<DB>,
    inbox_pool: Option<Pool<DB>>,
    verifier: Verifier,
    handler: H,
    batch_size: u32,
    lease: Duration,
    poll_interval: Duration,
    max_attempts: u32,
    backoff_base: Duration,
    backoff_max: Duration,
    on_done: Option<OnDone>,
    in_flight: Arc<Mutex<HashSet<(String, String)>>>,
}

/// What became of an event: committed, failed (retry or dead letter), or left alone.
enum Step {
    Committed(Done),
    Failed(String),
    /// The database was down, slow or contended: try again soon, without using up an attempt.
    Transient(Error),
    Abandoned,
}

/// Why an attempt did not commit.
enum AttemptError {
    Handler(String),
    Database(Error),
}

impl From<Error> for AttemptError {
    fn from(error: Error) -> Self {
        AttemptError::Database(error)
    }
}

impl From<sqlx::Error> for AttemptError {
    fn from(error: sqlx::Error) -> Self {
        AttemptError::Database(Error::from(error))
    }
}

static TOKENS: AtomicU64 = AtomicU64::new(0);

/// A lease token: unique within the process, and random across processes.
fn new_token() -> String {
    let mut hasher = std::collections::hash_map::RandomState::new().build_hasher();
    hasher.write_u64(TOKENS.fetch_add(1, Ordering::Relaxed));
    hasher.write_u128(
        OffsetDateTime::now_utc()
            .unix_timestamp_nanos()
            .unsigned_abs(),
    );
    format!("{:016x}{:08x}", hasher.finish(), std::process::id())
}

/// A random number in `0..=max`.
fn jitter(max: u64) -> u64 {
    if max == 0 {
        return 0;
    }
    let mut hasher = std::collections::hash_map::RandomState::new().build_hasher();
    hasher.write_u64(TOKENS.fetch_add(1, Ordering::Relaxed));
    hasher.finish() % (max + 1)
}

fn ms(duration: Duration) -> i64 {
    i64::try_from(duration.as_millis()).unwrap_or(i64::MAX)
}

impl<DB, H, Fut, E> Shared<DB, H>
where
    DB: Backend,
    H: Fn(Transaction<'static, DB>, Verified) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<Transaction<'static, DB>, E>> + Send,
    E: std::fmt::Display,
{
    fn inbox_pool(&self) -> &Pool<DB> {
        self.inbox_pool.as_ref().unwrap_or(&self.pool)
    }

    async fn run(&self, mut stopping: watch::Receiver<bool>) {
        let mut idle_errors = 0u32;
        while !*stopping.borrow() {
            let now = now_ms();
            let token = new_token();
            let lease_until = now.saturating_add(ms(self.lease));
            let leased = self
                .inbox
                .lease_rows(
                    self.inbox_pool(),
                    now,
                    lease_until,
                    &token,
                    i64::from(self.batch_size),
                )
                .await;
            let rows = match leased {
                Ok(rows) => {
                    idle_errors = 0;
                    rows
                }
                Err(source) => {
                    // The database is down or slow: the events wait in the table.
                    idle_errors = idle_errors.saturating_add(1);
                    let error = Error::from(source);
                    if idle_errors == 1 {
                        tracing::warn!(error = %error, "inbox worker: leasing failed; retrying");
                    }
                    let pause = self.poll_interval.max(Duration::from_millis(100));
                    tokio::select! {
                        () = tokio::time::sleep(pause) => {}
                        _ = stopping.changed() => {}
                    }
                    continue;
                }
            };
            if rows.is_empty() {
                let arrived = self.inbox.arrived().notified();
                tokio::select! {
                    () = arrived => {}
                    () = tokio::time::sleep(self.poll_interval) => {}
                    _ = stopping.changed() => {}
                }
                continue;
            }
            let mut rows = rows.into_iter();
            for row in rows.by_ref() {
                if *stopping.borrow() {
                    self.release(&row.key, &token).await;
                    continue;
                }
                // Leave what this lease no longer covers to whoever leases it next.
                if now_ms() >= lease_until {
                    continue;
                }
                self.process(row, &token).await;
            }
        }
        // Whatever this worker queued for a SQLite inbox file has committed before it stops.
        self.inbox.flush(self.inbox_pool()).await;
    }

    async fn release(&self, key: &str, token: &str) {
        self.release_until(key, token, now_ms()).await;
    }

    /// Returns a leased event to the inbox, due at `due_ms`, without counting the attempt.
    async fn release_until(&self, key: &str, token: &str, due_ms: i64) {
        let release = Mark::Release { due_ms };
        let released = self
            .inbox
            .mark_row(self.inbox_pool(), key, token, release)
            .await;
        if let Err(source) = released {
            tracing::warn!(dedup_key = %key, error = %Error::from(source),
                "inbox worker: could not return a leased event; it is due again when its lease runs out");
        }
    }

    async fn release_all(&self, rows: Vec<(String, String)>) {
        for (key, token) in rows {
            self.release(&key, &token).await;
        }
    }

    async fn process(&self, row: LeasedRow, token: &str) {
        let entry = (row.key.clone(), token.to_owned());
        if let Ok(mut set) = self.in_flight.lock() {
            set.insert(entry.clone());
        }
        let span = tracing::info_span!("rxscale_webhooks_sqlx::inbox", dedup_key = %row.key, attempt = row.attempts);
        let step = tracing::Instrument::instrument(self.attempt(&row, token), span.clone()).await;
        if let Ok(mut set) = self.in_flight.lock() {
            set.remove(&entry);
        }
        let _entered = span.enter();
        match step {
            Step::Committed(done) => {
                tracing::debug!(claim = done.claim.as_str(), "inbox: processed");
                if let Some(on_done) = &self.on_done {
                    on_done(&done);
                }
            }
            Step::Abandoned => {}
            Step::Failed(error) => self.fail(&row, token, &error).await,
            Step::Transient(error) => {
                tracing::warn!(error = %error, "inbox worker: database unavailable; the event waits");
                let retry_at =
                    now_ms().saturating_add(ms(self.poll_interval.max(Duration::from_millis(500))));
                self.release_until(&row.key, token, retry_at).await;
            }
        }
    }

    async fn attempt(&self, row: &LeasedRow, token: &str) -> Step {
        let arrived =
            OffsetDateTime::from_unix_timestamp_nanos(i128::from(row.arrived_at_ms) * 1_000_000)
                .unwrap_or(OffsetDateTime::UNIX_EPOCH);
        // The stored bytes, verified again with the signatures they came with, at their
        // arrival time: the age window applies at arrival, not now.
        let verified = match self.verifier.verify_any_at(
            row.body.as_bytes(),
            row.signatures.split('\n'),
            arrived,
        ) {
            Ok(verified) => verified,
            Err(error) => {
                return Step::Failed(format!(
                    "stored event failed verification ({}): {}",
                    error.kind(),
                    redact(&error.to_string(), &row.body)
                ));
            }
        };
        let ledger = self.inbox.ledger();
        let same_tx = self.inbox_pool.is_none();
        let event_type = verified.event_type().to_owned();
        let result: Result<Option<Claim>, AttemptError> = async {
            let _turn = match &self.effects_turn {
                Some(turn) => Some(turn.lock().await),
                None => None,
            };
            let mut tx = ledger.begin(&self.pool).await?;
            let claim = ledger.claim(&mut tx, &verified).await?;
            let mut tx = if claim == Claim::Fresh {
                (self.handler)(tx, verified)
                    .await
                    .map_err(|e| AttemptError::Handler(redact(&e.to_string(), &row.body)))?
            } else {
                tx
            };
            if same_tx {
                let marked = DB::inbox_complete(
                    &mut tx,
                    self.inbox.tables(),
                    &row.key,
                    token,
                    status_of(claim).as_str(),
                    now_ms(),
                )
                .await?;
                if !marked {
                    // Another worker leased it after our lease ran out: roll back.
                    tracing::warn!("inbox worker: lease lost before commit; rolled back");
                    return Ok(None);
                }
            }
            tx.commit().await?;
            Ok(Some(claim))
        }
        .await;
        let claim = match result {
            Ok(Some(claim)) => claim,
            Ok(None) => return Step::Abandoned,
            Err(AttemptError::Handler(error)) => return Step::Failed(error),
            Err(AttemptError::Database(error)) if error.is_transient() => {
                return Step::Transient(error);
            }
            Err(AttemptError::Database(error)) => return Step::Failed(error.to_string()),
        };
        if !same_tx {
            // On a SQLite inbox file the mark joins the file's next grouped commit, with the
            // arrivals and the other tasks' marks queued meanwhile; this worker's other tasks
            // run their effects while it waits.
            let complete = Mark::Complete {
                status: status_of(claim).as_str(),
                now_ms: now_ms(),
            };
            let marked = self
                .inbox
                .mark_row(self.inbox_pool(), &row.key, token, complete)
                .await;
            if let Err(source) = marked {
                tracing::warn!(error = %Error::from(source),
                    "inbox worker: effects committed but the inbox row not marked; the next lease finds it a duplicate");
            }
        }
        Step::Committed(Done {
            key: row.key.clone(),
            event_type,
            claim,
        })
    }

    async fn fail(&self, row: &LeasedRow, token: &str, error: &str) {
        let attempts = u32::try_from(row.attempts.max(1)).unwrap_or(u32::MAX);
        let dead = attempts >= self.max_attempts;
        let delay = self.backoff(attempts);
        let next = now_ms().saturating_add(ms(delay));
        let status = if dead {
            InboxStatus::Dead
        } else {
            InboxStatus::Pending
        };
        if dead {
            tracing::error!(attempts, error = %error, "inbox: dead letter after the last attempt");
        } else {
            tracing::warn!(attempts, retry_in_ms = ms(delay), error = %error, "inbox: handler failed; retrying later");
        }
        let fail = Mark::Fail {
            status: status.as_str(),
            next_attempt_ms: next,
            error: error.to_owned(),
        };
        let marked = self
            .inbox
            .mark_row(self.inbox_pool(), &row.key, token, fail)
            .await;
        if let Err(source) = marked {
            tracing::warn!(error = %Error::from(source),
                "inbox worker: could not record the failure; the event is due again when its lease runs out");
        }
    }

    fn backoff(&self, attempts: u32) -> Duration {
        let factor = 2u32.saturating_pow(attempts.saturating_sub(1).min(30));
        let full = self
            .backoff_base
            .saturating_mul(factor)
            .min(self.backoff_max);
        let full_ms = u64::try_from(full.as_millis()).unwrap_or(u64::MAX);
        Duration::from_millis(full_ms - jitter(full_ms / 2))
    }
}

fn status_of(claim: Claim) -> InboxStatus {
    match claim {
        Claim::Fresh | Claim::Duplicate => InboxStatus::Done,
        Claim::Stale => InboxStatus::Stale,
    }
}
