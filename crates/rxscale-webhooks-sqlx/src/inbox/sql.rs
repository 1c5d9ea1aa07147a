//! The inbox table, named under the ledger's prefix, and the SQL that uses it. Shared by
//! Postgres and SQLite except the claim, which on Postgres skips rows other workers hold.

use crate::schema::Migration;

/// Columns of a listing, in the order [`InboxEntry`](super::InboxEntry) reads them.
const ENTRY_COLUMNS: &str = "dedup_key, event_type, status, attempts, arrived_at, \
    next_attempt_at, completed_at, last_error";

#[derive(Debug)]
pub(crate) struct InboxTables {
    pub(crate) insert: String,
    #[cfg_attr(not(feature = "postgres"), allow(dead_code))]
    pub(crate) claim_postgres: String,
    #[cfg_attr(not(feature = "sqlite"), allow(dead_code))]
    pub(crate) claim_sqlite: String,
    pub(crate) complete: String,
    pub(crate) fail: String,
    pub(crate) release: String,
    pub(crate) list: String,
    pub(crate) get: String,
    pub(crate) retry_one: String,
    pub(crate) retry_dead: String,
    pub(crate) purge: String,
    pub(crate) count_by_status: String,
    pub(crate) migrations: Vec<Migration>,
}

impl InboxTables {
    pub(crate) fn new(prefix: &str) -> Self {
        let inbox = format!("{prefix}inbox");
        // A row is due when pending and past its retry time, or processing with an expired
        // lease (`next_attempt_at` holds the lease's end while processing). It waits while an
        // older version of its entity is still pending or processing, so that an entity's
        // events run in version order (then arrival order).
        //
        // Both scans walk the partial indexes of migration 101, which hold only open rows:
        // the lease reads open rows in arrival order and stops at its limit, instead of
        // sorting every due row. SQLite is told so (`INDEXED BY`): without statistics its
        // planner prefers the `(status, next_attempt_at)` index and a sort.
        let claim = |skip_locked: &str, open: &str, open_entity: &str| {
            format!(
                "UPDATE {inbox} SET status = 'processing', attempts = attempts + 1, \
                   lease_token = $3, next_attempt_at = $2 \
                 WHERE dedup_key IN ( \
                   SELECT i.dedup_key FROM {inbox} i{open} \
                   WHERE i.status IN ('pending', 'processing') AND i.next_attempt_at <= $1 \
                   AND NOT EXISTS ( \
                     SELECT 1 FROM {inbox} e{open_entity} \
                     WHERE e.entity_kind = i.entity_kind AND e.entity_id = i.entity_id \
                     AND e.status IN ('pending', 'processing') \
                     AND (e.entity_version < i.entity_version \
                       OR (e.entity_version = i.entity_version \
                         AND (e.arrived_at < i.arrived_at \
                           OR (e.arrived_at = i.arrived_at AND e.dedup_key < i.dedup_key))))) \
                   ORDER BY i.arrived_at, i.dedup_key LIMIT $4{skip_locked}) \
                 RETURNING dedup_key, body, signatures, arrived_at, attempts"
            )
        };
        InboxTables {
            insert: format!(
                "INSERT INTO {inbox} (dedup_key, event_type, body, signatures, arrived_at, \
                   event_time, entity_kind, entity_id, entity_version, status, attempts, \
                   next_attempt_at) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, 'pending', 0, $10) \
                 ON CONFLICT (dedup_key) DO NOTHING RETURNING 1"
            ),
            claim_postgres: claim(" FOR UPDATE SKIP LOCKED", "", ""),
            claim_sqlite: claim(
                "",
                &format!(" INDEXED BY {inbox}_open"),
                &format!(" INDEXED BY {inbox}_open_entity"),
            ),
            complete: format!(
                "UPDATE {inbox} SET status = $3, completed_at = $4, last_error = NULL, \
                   lease_token = NULL \
                 WHERE dedup_key = $1 AND lease_token = $2 AND status = 'processing'"
            ),
            fail: format!(
                "UPDATE {inbox} SET status = $3, next_attempt_at = $4, last_error = $5, \
                   lease_token = NULL \
                 WHERE dedup_key = $1 AND lease_token = $2 AND status = 'processing'"
            ),
            release: format!(
                "UPDATE {inbox} SET status = 'pending', next_attempt_at = $3, \
                   attempts = attempts - 1, lease_token = NULL \
                 WHERE dedup_key = $1 AND lease_token = $2 AND status = 'processing'"
            ),
            list: format!(
                "SELECT {ENTRY_COLUMNS} FROM {inbox} \
                 WHERE ($1 = '' OR status = $1) AND ($2 = '' OR event_type = $2) \
                 AND arrived_at <= $3 \
                 ORDER BY arrived_at, dedup_key LIMIT $4"
            ),
            get: format!("SELECT {ENTRY_COLUMNS}, body FROM {inbox} WHERE dedup_key = $1"),
            retry_one: format!(
                "UPDATE {inbox} SET status = 'pending', attempts = 0, next_attempt_at = $2, \
                   lease_token = NULL \
                 WHERE dedup_key = $1 AND status IN ('dead', 'pending')"
            ),
            retry_dead: format!(
                "UPDATE {inbox} SET status = 'pending', attempts = 0, next_attempt_at = $1, \
                   lease_token = NULL \
                 WHERE status = 'dead'"
            ),
            purge: format!(
                "DELETE FROM {inbox} WHERE status IN ('done', 'stale') AND completed_at < $1"
            ),
            count_by_status: format!("SELECT status, COUNT(*) FROM {inbox} GROUP BY status"),
            migrations: vec![
                Migration {
                    version: 100,
                    description: "the inbox: deliveries stored on arrival, processed by workers",
                    sql: format!(
                        "CREATE TABLE IF NOT EXISTS {inbox} (\
                           dedup_key TEXT PRIMARY KEY, \
                           event_type TEXT NOT NULL, \
                           body TEXT NOT NULL, \
                           signatures TEXT NOT NULL, \
                           arrived_at BIGINT NOT NULL, \
                           event_time BIGINT NOT NULL, \
                           entity_kind TEXT, \
                           entity_id TEXT, \
                           entity_version BIGINT, \
                           status TEXT NOT NULL, \
                           attempts BIGINT NOT NULL, \
                           next_attempt_at BIGINT NOT NULL, \
                           lease_token TEXT, \
                           last_error TEXT, \
                           completed_at BIGINT); \
                         CREATE INDEX IF NOT EXISTS {inbox}_due ON {inbox} (status, next_attempt_at); \
                         CREATE INDEX IF NOT EXISTS {inbox}_entity \
                           ON {inbox} (entity_kind, entity_id, entity_version); \
                         CREATE INDEX IF NOT EXISTS {inbox}_arrived ON {inbox} (arrived_at);"
                    ),
                },
                Migration {
                    version: 101,
                    description: "the inbox: indexes of the open (pending or processing) rows, for leasing",
                    sql: format!(
                        "CREATE INDEX IF NOT EXISTS {inbox}_open ON {inbox} (arrived_at, dedup_key) \
                           WHERE status IN ('pending', 'processing'); \
                         CREATE INDEX IF NOT EXISTS {inbox}_open_entity \
                           ON {inbox} (entity_kind, entity_id, entity_version) \
                           WHERE status IN ('pending', 'processing');"
                    ),
                },
            ],
        }
    }
}
