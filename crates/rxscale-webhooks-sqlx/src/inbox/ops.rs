//! The inbox's statements on each database, behind the sealed [`Backend`](crate::Backend).

use std::future::Future;

use super::sql::InboxTables;
use crate::schema::Tables;

/// A verified delivery about to be stored. Owned, so that it can wait in the write queue of a
/// SQLite inbox file. No `Debug`: it holds the body.
pub(crate) struct NewRow {
    pub(crate) key: String,
    pub(crate) event_type: String,
    pub(crate) body: String,
    pub(crate) signatures: String,
    pub(crate) arrived_at_ms: i64,
    pub(crate) event_time: i64,
    /// Kind, id and version of the event's entity.
    pub(crate) entity: Option<(String, String, i64)>,
}

/// A row a worker leased. No `Debug`: it holds the body.
pub(crate) struct LeasedRow {
    pub(crate) key: String,
    pub(crate) body: String,
    pub(crate) signatures: String,
    pub(crate) arrived_at_ms: i64,
    pub(crate) attempts: i64,
}

pub(crate) type EntryRow = (
    String,
    String,
    String,
    i64,
    i64,
    i64,
    Option<i64>,
    Option<String>,
);

pub(crate) type EntryRowWithBody = (
    String,
    String,
    String,
    i64,
    i64,
    i64,
    Option<i64>,
    Option<String>,
    String,
);

/// What a listing selects: empty strings select everything.
pub(crate) struct ListQuery<'a> {
    pub(crate) status: &'a str,
    pub(crate) event_type: &'a str,
    pub(crate) arrived_before_ms: i64,
    pub(crate) limit: i64,
}

type Fut<'c, T> = std::pin::Pin<Box<dyn Future<Output = Result<T, sqlx::Error>> + Send + 'c>>;

#[allow(private_interfaces)]
pub(crate) mod sealed {
    use super::*;

    pub trait InboxOps: sqlx::Database {
        fn inbox_migrate<'c>(
            conn: &'c mut Self::Connection,
            tables: &'c Tables,
            inbox: &'c InboxTables,
            now: i64,
        ) -> Fut<'c, Vec<i64>>;

        fn inbox_insert<'c>(
            conn: &'c mut Self::Connection,
            inbox: &'c InboxTables,
            row: &'c NewRow,
        ) -> Fut<'c, bool>;

        /// The name of the in-process write queue for `pool`'s database when its writes are
        /// grouped (a SQLite file, which has one writer), or `None` (Postgres).
        fn group_key(pool: &sqlx::Pool<Self>) -> Option<String>;

        /// Copies a grouped file's write-ahead log into the database without blocking its
        /// writer (SQLite `wal_checkpoint(PASSIVE)`); nothing on Postgres.
        fn inbox_checkpoint<'c>(conn: &'c mut Self::Connection) -> Fut<'c, ()>;

        fn inbox_lease<'c>(
            conn: &'c mut Self::Connection,
            inbox: &'c InboxTables,
            now_ms: i64,
            lease_until_ms: i64,
            token: &'c str,
            limit: i64,
        ) -> Fut<'c, Vec<LeasedRow>>;

        fn inbox_complete<'c>(
            conn: &'c mut Self::Connection,
            inbox: &'c InboxTables,
            key: &'c str,
            token: &'c str,
            status: &'static str,
            now_ms: i64,
        ) -> Fut<'c, bool>;

        #[allow(clippy::too_many_arguments)]
        fn inbox_fail<'c>(
            conn: &'c mut Self::Connection,
            inbox: &'c InboxTables,
            key: &'c str,
            token: &'c str,
            status: &'static str,
            next_attempt_ms: i64,
            error: &'c str,
        ) -> Fut<'c, bool>;

        fn inbox_release<'c>(
            conn: &'c mut Self::Connection,
            inbox: &'c InboxTables,
            key: &'c str,
            token: &'c str,
            now_ms: i64,
        ) -> Fut<'c, bool>;

        fn inbox_list<'c>(
            conn: &'c mut Self::Connection,
            inbox: &'c InboxTables,
            query: ListQuery<'c>,
        ) -> Fut<'c, Vec<EntryRow>>;

        fn inbox_get<'c>(
            conn: &'c mut Self::Connection,
            inbox: &'c InboxTables,
            key: &'c str,
        ) -> Fut<'c, Option<EntryRowWithBody>>;

        fn inbox_retry<'c>(
            conn: &'c mut Self::Connection,
            inbox: &'c InboxTables,
            key: Option<&'c str>,
            now_ms: i64,
        ) -> Fut<'c, u64>;

        fn inbox_purge<'c>(
            conn: &'c mut Self::Connection,
            inbox: &'c InboxTables,
            cutoff_ms: i64,
        ) -> Fut<'c, u64>;

        fn inbox_counts<'c>(
            conn: &'c mut Self::Connection,
            inbox: &'c InboxTables,
        ) -> Fut<'c, Vec<(String, i64)>>;
    }
}

#[cfg_attr(
    not(any(feature = "postgres", feature = "sqlite")),
    allow(unused_macros)
)]
macro_rules! inbox_ops {
    ($db:ty, $conn:ty, $claim:ident, $lock:expr, $group_key:expr, $checkpoint:expr) => {
        #[allow(private_interfaces)]
        impl sealed::InboxOps for $db {
            fn inbox_migrate<'c>(
                conn: &'c mut $conn,
                tables: &'c Tables,
                inbox: &'c InboxTables,
                now: i64,
            ) -> Fut<'c, Vec<i64>> {
                Box::pin(async move {
                    let lock: Option<&str> = $lock;
                    if let Some(lock) = lock {
                        sqlx::query(lock)
                            .bind(format!("rxscale-webhooks-sqlx:{}", tables.prefix))
                            .execute(&mut *conn)
                            .await?;
                    }
                    let create = tables.create_migrations_table();
                    sqlx::Executor::execute(&mut *conn, create.as_str()).await?;
                    let applied: Vec<i64> = sqlx::query_scalar(&tables.applied_versions())
                        .fetch_all(&mut *conn)
                        .await?;
                    let mut ran = Vec::new();
                    for migration in &inbox.migrations {
                        if applied.contains(&migration.version) {
                            continue;
                        }
                        sqlx::Executor::execute(&mut *conn, migration.sql.as_str()).await?;
                        sqlx::query(&tables.record_migration())
                            .bind(migration.version)
                            .bind(migration.description)
                            .bind(now)
                            .execute(&mut *conn)
                            .await?;
                        ran.push(migration.version);
                    }
                    Ok(ran)
                })
            }

            fn inbox_insert<'c>(
                conn: &'c mut $conn,
                inbox: &'c InboxTables,
                row: &'c NewRow,
            ) -> Fut<'c, bool> {
                Box::pin(async move {
                    let entity = row.entity.as_ref();
                    let inserted = sqlx::query(&inbox.insert)
                        .bind(row.key.as_str())
                        .bind(row.event_type.as_str())
                        .bind(row.body.as_str())
                        .bind(row.signatures.as_str())
                        .bind(row.arrived_at_ms)
                        .bind(row.event_time)
                        .bind(entity.map(|(kind, _, _)| kind.as_str()))
                        .bind(entity.map(|(_, id, _)| id.as_str()))
                        .bind(entity.map(|(_, _, version)| *version))
                        .bind(row.arrived_at_ms)
                        .fetch_optional(&mut *conn)
                        .await?;
                    Ok(inserted.is_some())
                })
            }

            fn group_key(pool: &sqlx::Pool<$db>) -> Option<String> {
                let key: fn(&sqlx::Pool<$db>) -> Option<String> = $group_key;
                key(pool)
            }

            fn inbox_checkpoint<'c>(conn: &'c mut $conn) -> Fut<'c, ()> {
                Box::pin(async move {
                    let checkpoint: Option<&str> = $checkpoint;
                    if let Some(checkpoint) = checkpoint {
                        sqlx::Executor::execute(&mut *conn, checkpoint).await?;
                    }
                    Ok(())
                })
            }

            fn inbox_lease<'c>(
                conn: &'c mut $conn,
                inbox: &'c InboxTables,
                now_ms: i64,
                lease_until_ms: i64,
                token: &'c str,
                limit: i64,
            ) -> Fut<'c, Vec<LeasedRow>> {
                Box::pin(async move {
                    let rows: Vec<(String, String, String, i64, i64)> =
                        sqlx::query_as(&inbox.$claim)
                            .bind(now_ms)
                            .bind(lease_until_ms)
                            .bind(token)
                            .bind(limit)
                            .fetch_all(&mut *conn)
                            .await?;
                    let mut rows: Vec<LeasedRow> = rows
                        .into_iter()
                        .map(
                            |(key, body, signatures, arrived_at_ms, attempts)| LeasedRow {
                                key,
                                body,
                                signatures,
                                arrived_at_ms,
                                attempts,
                            },
                        )
                        .collect();
                    // RETURNING gives no order: process in arrival order.
                    rows.sort_by(|a, b| (a.arrived_at_ms, &a.key).cmp(&(b.arrived_at_ms, &b.key)));
                    Ok(rows)
                })
            }

            fn inbox_complete<'c>(
                conn: &'c mut $conn,
                inbox: &'c InboxTables,
                key: &'c str,
                token: &'c str,
                status: &'static str,
                now_ms: i64,
            ) -> Fut<'c, bool> {
                Box::pin(async move {
                    let done = sqlx::query(&inbox.complete)
                        .bind(key)
                        .bind(token)
                        .bind(status)
                        .bind(now_ms)
                        .execute(&mut *conn)
                        .await?;
                    Ok(done.rows_affected() == 1)
                })
            }

            fn inbox_fail<'c>(
                conn: &'c mut $conn,
                inbox: &'c InboxTables,
                key: &'c str,
                token: &'c str,
                status: &'static str,
                next_attempt_ms: i64,
                error: &'c str,
            ) -> Fut<'c, bool> {
                Box::pin(async move {
                    let done = sqlx::query(&inbox.fail)
                        .bind(key)
                        .bind(token)
                        .bind(status)
                        .bind(next_attempt_ms)
                        .bind(error)
                        .execute(&mut *conn)
                        .await?;
                    Ok(done.rows_affected() == 1)
                })
            }

            fn inbox_release<'c>(
                conn: &'c mut $conn,
                inbox: &'c InboxTables,
                key: &'c str,
                token: &'c str,
                now_ms: i64,
            ) -> Fut<'c, bool> {
                Box::pin(async move {
                    let done = sqlx::query(&inbox.release)
                        .bind(key)
                        .bind(token)
                        .bind(now_ms)
                        .execute(&mut *conn)
                        .await?;
                    Ok(done.rows_affected() == 1)
                })
            }

            fn inbox_list<'c>(
                conn: &'c mut $conn,
                inbox: &'c InboxTables,
                query: ListQuery<'c>,
            ) -> Fut<'c, Vec<EntryRow>> {
                Box::pin(async move {
                    sqlx::query_as(&inbox.list)
                        .bind(query.status)
                        .bind(query.event_type)
                        .bind(query.arrived_before_ms)
                        .bind(query.limit)
                        .fetch_all(&mut *conn)
                        .await
                })
            }

            fn inbox_get<'c>(
                conn: &'c mut $conn,
                inbox: &'c InboxTables,
                key: &'c str,
            ) -> Fut<'c, Option<EntryRowWithBody>> {
                Box::pin(async move {
                    sqlx::query_as(&inbox.get)
                        .bind(key)
                        .fetch_optional(&mut *conn)
                        .await
                })
            }

            fn inbox_retry<'c>(
                conn: &'c mut $conn,
                inbox: &'c InboxTables,
                key: Option<&'c str>,
                now_ms: i64,
            ) -> Fut<'c, u64> {
                Box::pin(async move {
                    let done = match key {
                        Some(key) => {
                            sqlx::query(&inbox.retry_one)
                                .bind(key)
                                .bind(now_ms)
                                .execute(&mut *conn)
                                .await?
                        }
                        None => {
                            sqlx::query(&inbox.retry_dead)
                                .bind(now_ms)
                                .execute(&mut *conn)
                                .await?
                        }
                    };
                    Ok(done.rows_affected())
                })
            }

            fn inbox_purge<'c>(
                conn: &'c mut $conn,
                inbox: &'c InboxTables,
                cutoff_ms: i64,
            ) -> Fut<'c, u64> {
                Box::pin(async move {
                    let done = sqlx::query(&inbox.purge)
                        .bind(cutoff_ms)
                        .execute(&mut *conn)
                        .await?;
                    Ok(done.rows_affected())
                })
            }

            fn inbox_counts<'c>(
                conn: &'c mut $conn,
                inbox: &'c InboxTables,
            ) -> Fut<'c, Vec<(String, i64)>> {
                Box::pin(async move {
                    sqlx::query_as(&inbox.count_by_status)
                        .fetch_all(&mut *conn)
                        .await
                })
            }
        }
    };
}

#[cfg(feature = "postgres")]
inbox_ops!(
    sqlx::Postgres,
    sqlx::PgConnection,
    claim_postgres,
    Some("SELECT pg_advisory_xact_lock(hashtext($1))"),
    |_| None,
    None
);

#[cfg(feature = "sqlite")]
inbox_ops!(
    sqlx::Sqlite,
    sqlx::SqliteConnection,
    claim_sqlite,
    None,
    |pool| {
        let options = pool.connect_options();
        Some(options.get_filename().to_string_lossy().into_owned())
    },
    Some("PRAGMA wal_checkpoint(PASSIVE)")
);
