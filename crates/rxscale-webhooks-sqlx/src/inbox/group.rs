//! Group commit for a SQLite inbox file.
//!
//! SQLite has one writer per file. When arrivals, leases and completions each begin their own
//! transaction, all but one find the file locked and wait in SQLite's busy handler, which
//! sleeps in steps of up to 100 ms: that, not the work, was the tail of the time to the 200.
//! So each [`Inbox`] keeps, per SQLite file, one in-process FIFO queue and one writer task. The
//! writer takes everything that queued while its previous transaction committed, runs it in
//! one `BEGIN IMMEDIATE` transaction and commits once (one sync of the WAL, `synchronous =
//! FULL`); only then does it answer each waiter. An arrival is therefore answered 200 only
//! after the commit that holds it, as before: grouping shares the sync, it never skips it.
//!
//! A completion after the effects committed in the other file joins the queue like any write
//! and commits with whatever queued with it (arrivals, other tasks' completions, a lease). If
//! the process dies before that commit, the event's lease runs out and the next worker's
//! ledger claim finds it [`Duplicate`](crate::Claim::Duplicate): its effects still commit once.
//!
//! If a grouped transaction fails, each write is retried in a transaction of its own, so that
//! one bad write never fails the others and every waiter gets its own error. On Postgres
//! (no [`group_key`](super::ops::sealed::InboxOps::group_key)) every write goes straight to
//! the pool, as concurrent writers there do not wait for each other.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use sqlx::Pool;
use tokio::sync::{mpsc, oneshot};

use super::Inbox;
use super::ops::{LeasedRow, NewRow};
use super::sql::InboxTables;
use crate::backend::Backend;

/// At most this many writes share one transaction.
const MAX_BATCH: usize = 512;

/// How often, at most, the writer has the file's write-ahead log checkpointed while it writes.
const CHECKPOINT_EVERY: std::time::Duration = std::time::Duration::from_millis(200);

/// What a worker records about a leased row.
pub(crate) enum Mark {
    /// Processed (`done`) or skipped (`stale`).
    Complete { status: &'static str, now_ms: i64 },
    /// Failed: `pending` again at `next_attempt_ms`, or `dead`.
    Fail {
        status: &'static str,
        next_attempt_ms: i64,
        error: String,
    },
    /// Returned unprocessed, due at `due_ms`.
    Release { due_ms: i64 },
}

type Reply<T> = oneshot::Sender<Result<T, sqlx::Error>>;

/// One write waiting in the queue.
enum Job {
    Insert {
        row: NewRow,
        reply: Reply<bool>,
    },
    Lease {
        now_ms: i64,
        lease_until_ms: i64,
        token: String,
        limit: i64,
        reply: Reply<Vec<LeasedRow>>,
    },
    Mark {
        key: String,
        token: String,
        mark: Mark,
        reply: Reply<bool>,
    },
    /// Answered once everything queued before it has committed.
    Flush {
        reply: oneshot::Sender<()>,
    },
}

enum Outcome {
    Inserted(bool),
    Leased(Vec<LeasedRow>),
    Marked(bool),
    Flushed,
}

/// The write queues of one [`Inbox`], by SQLite file.
#[derive(Default)]
pub(crate) struct Groups {
    queues: Mutex<HashMap<String, mpsc::UnboundedSender<Job>>>,
}

impl Groups {
    /// Queues `job` for `key`'s writer, starting one (on the current tokio runtime) when there
    /// is none or its runtime has gone.
    fn send<DB: Backend>(
        &self,
        key: String,
        pool: &Pool<DB>,
        tables: &Arc<InboxTables>,
        job: Job,
    ) -> Result<(), sqlx::Error> {
        let mut queues = self.queues.lock().map_err(|_| sqlx::Error::WorkerCrashed)?;
        let job = match queues.get(&key) {
            Some(queue) => match queue.send(job) {
                Ok(()) => return Ok(()),
                Err(mpsc::error::SendError(job)) => job,
            },
            None => job,
        };
        let (queue, jobs) = mpsc::unbounded_channel();
        tokio::spawn(write(pool.clone(), Arc::clone(tables), jobs));
        queue.send(job).map_err(|_| sqlx::Error::WorkerCrashed)?;
        queues.insert(key, queue);
        Ok(())
    }
}

async fn answer<T>(reply: oneshot::Receiver<Result<T, sqlx::Error>>) -> Result<T, sqlx::Error> {
    // A writer that is gone (its runtime shut down) answers nothing: unavailable, retry.
    reply.await.unwrap_or(Err(sqlx::Error::WorkerCrashed))
}

impl Inbox {
    /// Stores `row`: through the file's write queue on SQLite, answered after the commit.
    pub(crate) async fn insert_row<DB: Backend>(
        &self,
        pool: &Pool<DB>,
        row: NewRow,
    ) -> Result<bool, sqlx::Error> {
        if let Some(key) = DB::group_key(pool) {
            let (reply, answered) = oneshot::channel();
            self.groups()
                .send(key, pool, self.shared_tables(), Job::Insert { row, reply })?;
            return answer(answered).await;
        }
        let mut conn = pool.acquire().await?;
        DB::inbox_insert(&mut conn, self.tables(), &row).await
    }

    /// Leases up to `limit` due rows for `token`.
    pub(crate) async fn lease_rows<DB: Backend>(
        &self,
        pool: &Pool<DB>,
        now_ms: i64,
        lease_until_ms: i64,
        token: &str,
        limit: i64,
    ) -> Result<Vec<LeasedRow>, sqlx::Error> {
        if let Some(key) = DB::group_key(pool) {
            let (reply, answered) = oneshot::channel();
            let job = Job::Lease {
                now_ms,
                lease_until_ms,
                token: token.to_owned(),
                limit,
                reply,
            };
            self.groups().send(key, pool, self.shared_tables(), job)?;
            return answer(answered).await;
        }
        let mut conn = pool.acquire().await?;
        DB::inbox_lease(
            &mut conn,
            self.tables(),
            now_ms,
            lease_until_ms,
            token,
            limit,
        )
        .await
    }

    /// Records `mark` on the row `key` leased with `token`. Returns whether the lease still
    /// held.
    pub(crate) async fn mark_row<DB: Backend>(
        &self,
        pool: &Pool<DB>,
        key: &str,
        token: &str,
        mark: Mark,
    ) -> Result<bool, sqlx::Error> {
        if let Some(group) = DB::group_key(pool) {
            let (reply, answered) = oneshot::channel();
            let job = Job::Mark {
                key: key.to_owned(),
                token: token.to_owned(),
                mark,
                reply,
            };
            self.groups().send(group, pool, self.shared_tables(), job)?;
            return answer(answered).await;
        }
        let mut conn = pool.acquire().await?;
        mark_on::<DB>(&mut conn, self.tables(), key, token, &mark).await
    }

    /// Waits until every write queued so far for `pool`'s file has committed (or failed).
    pub(crate) async fn flush<DB: Backend>(&self, pool: &Pool<DB>) {
        if let Some(key) = DB::group_key(pool) {
            let (reply, answered) = oneshot::channel();
            let job = Job::Flush { reply };
            if self
                .groups()
                .send(key, pool, self.shared_tables(), job)
                .is_ok()
            {
                let _ = answered.await;
            }
        }
    }
}

async fn mark_on<DB: Backend>(
    conn: &mut DB::Connection,
    tables: &InboxTables,
    key: &str,
    token: &str,
    mark: &Mark,
) -> Result<bool, sqlx::Error> {
    match mark {
        Mark::Complete { status, now_ms } => {
            DB::inbox_complete(conn, tables, key, token, status, *now_ms).await
        }
        Mark::Fail {
            status,
            next_attempt_ms,
            error,
        } => DB::inbox_fail(conn, tables, key, token, status, *next_attempt_ms, error).await,
        Mark::Release { due_ms } => DB::inbox_release(conn, tables, key, token, *due_ms).await,
    }
}

/// The writer of one file: runs what queued in one transaction, commits, answers.
///
/// SQLite's automatic checkpoint runs inside the commit that crosses its threshold and holds
/// every waiter of that commit for as long as it copies and syncs the database file: tens of
/// milliseconds. The inbox pool turns it off (`wal_autocheckpoint = 0`), and the writer has a
/// passive checkpoint run on another connection instead, which does not block its commits.
async fn write<DB: Backend>(
    pool: Pool<DB>,
    tables: Arc<InboxTables>,
    mut queue: mpsc::UnboundedReceiver<Job>,
) {
    let checkpointing = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let mut last_checkpoint = tokio::time::Instant::now();
    let mut jobs = Vec::new();
    while let Some(job) = queue.recv().await {
        if last_checkpoint.elapsed() >= CHECKPOINT_EVERY
            && !checkpointing.swap(true, std::sync::atomic::Ordering::AcqRel)
        {
            last_checkpoint = tokio::time::Instant::now();
            let (pool, checkpointing) = (pool.clone(), Arc::clone(&checkpointing));
            tokio::spawn(async move {
                let done = async {
                    let mut conn = pool.acquire().await?;
                    DB::inbox_checkpoint(&mut conn).await
                }
                .await;
                if let Err(error) = done {
                    tracing::debug!(error = %crate::Error::from(error), "inbox: checkpoint failed");
                }
                checkpointing.store(false, std::sync::atomic::Ordering::Release);
            });
        }
        jobs.push(job);
        while jobs.len() < MAX_BATCH {
            match queue.try_recv() {
                Ok(job) => jobs.push(job),
                Err(_) => break,
            }
        }
        let batch = std::mem::take(&mut jobs);
        let writes = batch
            .iter()
            .filter(|job| !matches!(job, Job::Flush { .. }))
            .count();
        if writes == 0 {
            deliver_all(batch, Vec::new());
            continue;
        }
        match run(&pool, &tables, &batch).await {
            Ok(outcomes) => {
                tracing::debug!(writes, "inbox: grouped writes committed");
                deliver_all(batch, outcomes);
            }
            Err(error) if writes == 1 => fail_all(batch, error),
            Err(error) => {
                tracing::debug!(writes, error = %crate::Error::from(error),
                    "inbox: a grouped write failed; writing one by one");
                for job in batch {
                    let single = [job];
                    match run(&pool, &tables, &single).await {
                        Ok(outcomes) => deliver_all(single.into(), outcomes),
                        Err(error) => fail_all(single.into(), error),
                    }
                }
            }
        }
    }
}

/// Runs `jobs` in one transaction; one outcome per job, in order.
async fn run<DB: Backend>(
    pool: &Pool<DB>,
    tables: &InboxTables,
    jobs: &[Job],
) -> Result<Vec<Outcome>, sqlx::Error> {
    let mut tx = pool.begin_with(DB::BEGIN).await?;
    let mut outcomes = Vec::with_capacity(jobs.len());
    for job in jobs {
        outcomes.push(match job {
            Job::Insert { row, .. } => {
                Outcome::Inserted(DB::inbox_insert(&mut tx, tables, row).await?)
            }
            Job::Lease {
                now_ms,
                lease_until_ms,
                token,
                limit,
                ..
            } => Outcome::Leased(
                DB::inbox_lease(&mut tx, tables, *now_ms, *lease_until_ms, token, *limit).await?,
            ),
            Job::Mark {
                key, token, mark, ..
            } => Outcome::Marked(mark_on::<DB>(&mut tx, tables, key, token, mark).await?),
            Job::Flush { .. } => Outcome::Flushed,
        });
    }
    tx.commit().await?;
    Ok(outcomes)
}

fn deliver_all(jobs: Vec<Job>, outcomes: Vec<Outcome>) {
    let mut outcomes = outcomes.into_iter();
    for job in jobs {
        // A waiter that went away (its request was cancelled) is no error: the write stands.
        match (job, outcomes.next()) {
            (Job::Insert { reply, .. }, Some(Outcome::Inserted(inserted))) => {
                let _ = reply.send(Ok(inserted));
            }
            (Job::Lease { reply, .. }, Some(Outcome::Leased(rows))) => {
                let _ = reply.send(Ok(rows));
            }
            (Job::Mark { reply, .. }, Some(Outcome::Marked(marked))) => {
                let _ = reply.send(Ok(marked));
            }
            (Job::Flush { reply }, _) => {
                let _ = reply.send(());
            }
            // `run` gives one outcome per job, of its kind.
            _ => {}
        }
    }
}

/// Answers the one write of `jobs` with `error` (and its flushes).
fn fail_all(jobs: Vec<Job>, error: sqlx::Error) {
    let mut error = Some(error);
    for job in jobs {
        match job {
            Job::Insert { reply, .. } => {
                let _ = reply.send(Err(error.take().unwrap_or(sqlx::Error::WorkerCrashed)));
            }
            Job::Lease { reply, .. } => {
                let _ = reply.send(Err(error.take().unwrap_or(sqlx::Error::WorkerCrashed)));
            }
            Job::Mark { reply, .. } => {
                let _ = reply.send(Err(error.take().unwrap_or(sqlx::Error::WorkerCrashed)));
            }
            Job::Flush { reply } => {
                let _ = reply.send(());
            }
        }
    }
}
