//! Pools with timeouts that fit RxScale's 5-second budget, for Postgres and SQLite.

use std::time::Duration;

/// How long [`Ledger::begin`](crate::Ledger::begin) waits for a connection before answering
/// 503: 2 seconds.
pub const DEFAULT_ACQUIRE_TIMEOUT: Duration = Duration::from_secs(2);

/// Postgres `statement_timeout` of the pool's sessions, which also bounds how long a claim waits
/// for a concurrent copy's transaction: 2 seconds. With [`DEFAULT_ACQUIRE_TIMEOUT`], a 503
/// comes within 5 seconds even when the database hangs.
pub const DEFAULT_STATEMENT_TIMEOUT: Duration = Duration::from_secs(2);

/// SQLite busy timeout: how long a transaction waits for the write lock: 2 seconds.
pub const DEFAULT_BUSY_TIMEOUT: Duration = Duration::from_secs(2);

/// Postgres pools.
#[cfg(feature = "postgres")]
#[cfg_attr(docsrs, doc(cfg(feature = "postgres")))]
pub mod postgres {
    use std::str::FromStr as _;

    use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions};

    use super::{DEFAULT_ACQUIRE_TIMEOUT, DEFAULT_STATEMENT_TIMEOUT};
    use crate::Error;

    /// A lazily connecting pool for `url` (`postgres://user:pass@host/db`) with
    /// [`DEFAULT_ACQUIRE_TIMEOUT`] and [`DEFAULT_STATEMENT_TIMEOUT`]. It opens no connection
    /// until first used, so a database that is down at start-up fails the first query (503),
    /// not the process; it reconnects by itself when the database is back.
    ///
    /// TLS (`sslmode=require`) needs one of sqlx's TLS features in your own `Cargo.toml`, e.g.
    /// `sqlx = { version = "0.8", features = ["tls-rustls-ring-webpki"] }`: this crate enables
    /// none.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::Config`](crate::ErrorKind::Config) when `url` does not parse. The message
    /// never repeats the URL, which may hold a password.
    pub fn pool(url: &str) -> Result<PgPool, Error> {
        let options = PgConnectOptions::from_str(url)
            .map_err(|_| Error::config("DATABASE_URL is not a valid postgres:// URL"))?;
        Ok(pool_options().connect_lazy_with(with_statement_timeout(options)))
    }

    /// Pool options with [`DEFAULT_ACQUIRE_TIMEOUT`], for building your own pool.
    #[must_use]
    pub fn pool_options() -> PgPoolOptions {
        PgPoolOptions::new().acquire_timeout(DEFAULT_ACQUIRE_TIMEOUT)
    }

    /// `options` with [`DEFAULT_STATEMENT_TIMEOUT`] set for every session.
    #[must_use]
    pub fn with_statement_timeout(options: PgConnectOptions) -> PgConnectOptions {
        let millis = DEFAULT_STATEMENT_TIMEOUT.as_millis().to_string();
        options.options([("statement_timeout", millis.as_str())])
    }
}

/// SQLite pools.
#[cfg(feature = "sqlite")]
#[cfg_attr(docsrs, doc(cfg(feature = "sqlite")))]
pub mod sqlite {
    use std::str::FromStr as _;

    use sqlx::sqlite::{
        SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous,
    };

    use super::{DEFAULT_ACQUIRE_TIMEOUT, DEFAULT_BUSY_TIMEOUT};
    use crate::Error;

    /// Connections in a [`pool`]: SQLite has one writer at a time, so more only add waiting.
    pub const DEFAULT_MAX_CONNECTIONS: u32 = 4;

    /// A lazily connecting pool for `url` (`sqlite://PATH?mode=rwc`), in WAL mode with
    /// [`DEFAULT_BUSY_TIMEOUT`], [`DEFAULT_ACQUIRE_TIMEOUT`] and [`DEFAULT_MAX_CONNECTIONS`].
    /// Deliveries beyond the pool's size queue for a connection, and
    /// [`Ledger::begin`](crate::Ledger::begin) takes the write lock up front, so concurrent
    /// deliveries wait their turn rather than fail.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::Config`](crate::ErrorKind::Config) when `url` does not parse.
    pub fn pool(url: &str) -> Result<SqlitePool, Error> {
        let options = SqliteConnectOptions::from_str(url)
            .map_err(|_| Error::config("DATABASE_URL is not a valid sqlite:// URL"))?
            .journal_mode(SqliteJournalMode::Wal)
            .busy_timeout(DEFAULT_BUSY_TIMEOUT);
        Ok(SqlitePoolOptions::new()
            .max_connections(DEFAULT_MAX_CONNECTIONS)
            .acquire_timeout(DEFAULT_ACQUIRE_TIMEOUT)
            .connect_lazy_with(options))
    }

    /// A pool for the [`Inbox`](crate::Inbox) of the SQLite database at `url`: the file
    /// `PATH.inbox` next to `PATH`, created when missing, in WAL mode with `synchronous =
    /// FULL` (every commit is synced before a 200 is answered), automatic checkpoints off (the
    /// [`Inbox`](crate::Inbox) that writes the file has them run beside its commits) and the
    /// same timeouts as [`pool`]. An [`Inbox`](crate::Inbox) groups this file's writes: see
    /// [`Inbox::store`](crate::Inbox::store).
    ///
    /// SQLite has one writer per file, and a worker holds it while your handler runs. Keeping
    /// the inbox in a file of its own lets arrivals be stored (and answered) while a slow
    /// handler's transaction is open. Give it to [`Worker::inbox_pool`](crate::Worker::inbox_pool)
    /// and to the `rxscale-webhooks inbox` command, which finds it from the same `url`.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::Config`](crate::ErrorKind::Config) when `url` does not parse or names an
    /// in-memory database.
    pub fn inbox_pool(url: &str) -> Result<SqlitePool, Error> {
        let options = SqliteConnectOptions::from_str(url)
            .map_err(|_| Error::config("DATABASE_URL is not a valid sqlite:// URL"))?;
        let path = options.get_filename();
        if path.as_os_str().is_empty() || path.as_os_str() == ":memory:" || url.contains(":memory:")
        {
            return Err(Error::config(
                "the inbox needs a SQLite file, not an in-memory database",
            ));
        }
        let mut inbox = path.as_os_str().to_owned();
        inbox.push(".inbox");
        let options = options
            .filename(std::path::PathBuf::from(inbox))
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            // Explicit: a 200 promises the delivery is on disk, so each commit syncs the WAL.
            .synchronous(SqliteSynchronous::Full)
            // The Inbox's writer has the log checkpointed on another connection, so that no
            // commit (and no 200 waiting for it) pays for a checkpoint.
            .pragma("wal_autocheckpoint", "0")
            .busy_timeout(DEFAULT_BUSY_TIMEOUT);
        Ok(SqlitePoolOptions::new()
            .max_connections(DEFAULT_MAX_CONNECTIONS)
            .acquire_timeout(DEFAULT_ACQUIRE_TIMEOUT)
            .connect_lazy_with(options))
    }
}
