//! The databases a [`Ledger`](crate::Ledger) runs on. Sealed: each one's SQL and locking is
//! written and tested here.

use std::future::Future;

use crate::claim::{Claim, Entity};
use crate::schema::Tables;

/// A database the ledger supports: `sqlx::Postgres` (feature `postgres`) or `sqlx::Sqlite`
/// (feature `sqlite`). Sealed.
pub trait Backend: sealed::Sealed + crate::inbox::ops::sealed::InboxOps {}

// `Tables` is crate-private on purpose: the sealed methods are not for callers.
#[allow(private_interfaces)]
pub(crate) mod sealed {
    use super::*;

    pub trait Sealed: sqlx::Database {
        /// How a ledger transaction begins. SQLite takes the write lock up front
        /// (`BEGIN IMMEDIATE`), so that concurrent deliveries queue on the busy timeout instead
        /// of failing to upgrade a read lock.
        const BEGIN: &'static str;

        fn claim<'c>(
            conn: &'c mut Self::Connection,
            tables: &'c Tables,
            key: &'c str,
            event_time: i64,
            entity: Option<Entity<'c>>,
        ) -> impl Future<Output = Result<Claim, sqlx::Error>> + Send + 'c;

        fn migrate<'c>(
            conn: &'c mut Self::Connection,
            tables: &'c Tables,
            now: i64,
        ) -> impl Future<Output = Result<Vec<i64>, sqlx::Error>> + Send + 'c;

        fn purge<'c>(
            conn: &'c mut Self::Connection,
            tables: &'c Tables,
            cutoff: i64,
        ) -> impl Future<Output = Result<u64, sqlx::Error>> + Send + 'c;
    }
}

/// What is shared by both backends, written once against a concrete connection type.
#[cfg_attr(
    not(any(feature = "postgres", feature = "sqlite")),
    allow(unused_macros)
)]
macro_rules! shared_steps {
    ($conn:ty) => {
        /// Inserts the key unless it is there; whether it did, from the row count (no row
        /// comes back to decode).
        async fn insert_key(
            conn: &mut $conn,
            tables: &Tables,
            key: &str,
            event_time: i64,
        ) -> Result<bool, sqlx::Error> {
            let done = sqlx::query(&tables.insert_key)
                .bind(key)
                .bind(event_time)
                .execute(&mut *conn)
                .await?;
            Ok(done.rows_affected() == 1)
        }

        async fn duplicate_or_stale(
            conn: &mut $conn,
            tables: &Tables,
            key: &str,
        ) -> Result<Claim, sqlx::Error> {
            let stale: Option<bool> = sqlx::query_scalar(&tables.key_is_stale)
                .bind(key)
                .fetch_optional(&mut *conn)
                .await?;
            // A row purged in between was a duplicate all the same.
            Ok(if stale == Some(true) {
                Claim::Stale
            } else {
                Claim::Duplicate
            })
        }

        async fn mark_stale(
            conn: &mut $conn,
            tables: &Tables,
            key: &str,
        ) -> Result<Claim, sqlx::Error> {
            sqlx::query(&tables.mark_stale)
                .bind(key)
                .execute(&mut *conn)
                .await?;
            Ok(Claim::Stale)
        }

        async fn migrate_in(
            conn: &mut $conn,
            tables: &Tables,
            now: i64,
        ) -> Result<Vec<i64>, sqlx::Error> {
            let create = tables.create_migrations_table();
            sqlx::Executor::execute(&mut *conn, create.as_str()).await?;
            let applied: Vec<i64> = sqlx::query_scalar(&tables.applied_versions())
                .fetch_all(&mut *conn)
                .await?;
            let mut ran = Vec::new();
            for migration in tables.migrations() {
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
        }

        async fn purge_in(
            conn: &mut $conn,
            tables: &Tables,
            cutoff: i64,
        ) -> Result<u64, sqlx::Error> {
            let done = sqlx::query(&tables.purge)
                .bind(cutoff)
                .execute(&mut *conn)
                .await?;
            Ok(done.rows_affected())
        }
    };
}

#[cfg(feature = "postgres")]
#[allow(private_interfaces)]
mod postgres {
    use super::*;
    use sqlx::PgConnection;

    shared_steps!(PgConnection);

    impl Backend for sqlx::Postgres {}

    impl sealed::Sealed for sqlx::Postgres {
        const BEGIN: &'static str = "BEGIN";

        async fn claim<'c>(
            conn: &'c mut PgConnection,
            tables: &'c Tables,
            key: &'c str,
            event_time: i64,
            entity: Option<Entity<'c>>,
        ) -> Result<Claim, sqlx::Error> {
            let Some(entity) = entity else {
                return if insert_key(conn, tables, key, event_time).await? {
                    Ok(Claim::Fresh)
                } else {
                    duplicate_or_stale(conn, tables, key).await
                };
            };
            let (claimed, advanced): (bool, bool) = sqlx::query_as(&tables.claim_with_entity_pg)
                .bind(key)
                .bind(event_time)
                .bind(entity.kind())
                .bind(entity.id())
                .bind(entity.version())
                .fetch_one(&mut *conn)
                .await?;
            match (claimed, advanced) {
                (false, _) => duplicate_or_stale(conn, tables, key).await,
                (true, true) => Ok(Claim::Fresh),
                (true, false) => mark_stale(conn, tables, key).await,
            }
        }

        async fn migrate<'c>(
            conn: &'c mut PgConnection,
            tables: &'c Tables,
            now: i64,
        ) -> Result<Vec<i64>, sqlx::Error> {
            // Instances starting together migrate one after the other.
            sqlx::query("SELECT pg_advisory_xact_lock(hashtext($1))")
                .bind(format!("rxscale-webhooks-sqlx:{}", tables.prefix))
                .execute(&mut *conn)
                .await?;
            migrate_in(conn, tables, now).await
        }

        async fn purge<'c>(
            conn: &'c mut PgConnection,
            tables: &'c Tables,
            cutoff: i64,
        ) -> Result<u64, sqlx::Error> {
            purge_in(conn, tables, cutoff).await
        }
    }
}

#[cfg(feature = "sqlite")]
#[allow(private_interfaces)]
mod sqlite {
    use super::*;
    use sqlx::SqliteConnection;

    shared_steps!(SqliteConnection);

    impl Backend for sqlx::Sqlite {}

    impl sealed::Sealed for sqlx::Sqlite {
        const BEGIN: &'static str = "BEGIN IMMEDIATE";

        async fn claim<'c>(
            conn: &'c mut SqliteConnection,
            tables: &'c Tables,
            key: &'c str,
            event_time: i64,
            entity: Option<Entity<'c>>,
        ) -> Result<Claim, sqlx::Error> {
            // In-process, so statements cost no round trip; the transaction holds the write
            // lock, so nothing interleaves between them.
            if !insert_key(conn, tables, key, event_time).await? {
                return duplicate_or_stale(conn, tables, key).await;
            }
            let Some(entity) = entity else {
                return Ok(Claim::Fresh);
            };
            let advanced = sqlx::query(&tables.advance_entity)
                .bind(entity.kind())
                .bind(entity.id())
                .bind(entity.version())
                .execute(&mut *conn)
                .await?;
            if advanced.rows_affected() == 1 {
                Ok(Claim::Fresh)
            } else {
                mark_stale(conn, tables, key).await
            }
        }

        async fn migrate<'c>(
            conn: &'c mut SqliteConnection,
            tables: &'c Tables,
            now: i64,
        ) -> Result<Vec<i64>, sqlx::Error> {
            // BEGIN IMMEDIATE already serialises migrating instances.
            migrate_in(conn, tables, now).await
        }

        async fn purge<'c>(
            conn: &'c mut SqliteConnection,
            tables: &'c Tables,
            cutoff: i64,
        ) -> Result<u64, sqlx::Error> {
            purge_in(conn, tables, cutoff).await
        }
    }
}
