//! The ledger's tables, named under a prefix, and the SQL that uses them. The SQL text is the
//! same for Postgres and SQLite (both accept `$n` parameters, `ON CONFLICT` and `RETURNING`),
//! except Postgres's one-round-trip claim, which SQLite's `WITH` cannot express.

use crate::Error;

/// One step of the ledger's schema, as [`Ledger::migrations`](crate::Ledger::migrations) lists
/// them for your own migration tool.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Migration {
    /// Increasing version number, recorded in the `{prefix}migrations` table.
    pub version: i64,
    /// What the step does.
    pub description: &'static str,
    /// The SQL, with the table prefix filled in. Runs on Postgres and on SQLite.
    pub sql: String,
}

const MAX_PREFIX_LEN: usize = 40;

/// Table names and statements, built once per ledger.
#[derive(Debug)]
pub(crate) struct Tables {
    pub(crate) prefix: String,
    pub(crate) migrations_table: String,
    pub(crate) insert_key: String,
    pub(crate) key_is_stale: String,
    pub(crate) mark_stale: String,
    #[cfg_attr(not(feature = "sqlite"), allow(dead_code))]
    pub(crate) advance_entity: String,
    #[cfg_attr(not(feature = "postgres"), allow(dead_code))]
    pub(crate) claim_with_entity_pg: String,
    pub(crate) purge: String,
}

impl Tables {
    pub(crate) fn new(prefix: &str) -> Result<Self, Error> {
        let valid = !prefix.is_empty()
            && prefix.len() <= MAX_PREFIX_LEN
            && prefix.starts_with(|c: char| c.is_ascii_lowercase())
            && prefix
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_');
        if !valid {
            return Err(Error::config(
                "table prefix must be 1 to 40 of [a-z0-9_], starting with a letter",
            ));
        }
        let keys = format!("{prefix}keys");
        let entities = format!("{prefix}entity_versions");
        Ok(Tables {
            prefix: prefix.to_owned(),
            migrations_table: format!("{prefix}migrations"),
            insert_key: format!(
                "INSERT INTO {keys} (dedup_key, event_time) VALUES ($1, $2) \
                 ON CONFLICT (dedup_key) DO NOTHING"
            ),
            key_is_stale: format!("SELECT stale FROM {keys} WHERE dedup_key = $1"),
            mark_stale: format!("UPDATE {keys} SET stale = TRUE WHERE dedup_key = $1"),
            advance_entity: format!(
                "INSERT INTO {entities} (kind, id, version) VALUES ($1, $2, $3) \
                 ON CONFLICT (kind, id) DO UPDATE SET version = excluded.version \
                 WHERE {entities}.version <= excluded.version"
            ),
            // One statement, one round trip: the entity is only touched when the key is new.
            // (The plain claims above answer with their row count, which rides on the
            // CommandComplete message every statement gets; this one needs its two answers.)
            // In READ COMMITTED, both ON CONFLICT clauses wait for a concurrent transaction
            // holding the same key or entity and then act on what it committed.
            claim_with_entity_pg: format!(
                "WITH claimed AS ( \
                   INSERT INTO {keys} (dedup_key, event_time) VALUES ($1, $2) \
                   ON CONFLICT (dedup_key) DO NOTHING RETURNING 1 \
                 ), advanced AS ( \
                   INSERT INTO {entities} (kind, id, version) \
                   SELECT $3::text, $4::text, $5::bigint FROM claimed \
                   ON CONFLICT (kind, id) DO UPDATE SET version = excluded.version \
                   WHERE {entities}.version <= excluded.version RETURNING 1 \
                 ) \
                 SELECT EXISTS (SELECT 1 FROM claimed), EXISTS (SELECT 1 FROM advanced)"
            ),
            purge: format!("DELETE FROM {keys} WHERE event_time < $1"),
        })
    }

    pub(crate) fn create_migrations_table(&self) -> String {
        format!(
            "CREATE TABLE IF NOT EXISTS {} (version BIGINT PRIMARY KEY, \
             description TEXT NOT NULL, applied_at BIGINT NOT NULL)",
            self.migrations_table
        )
    }

    pub(crate) fn applied_versions(&self) -> String {
        format!("SELECT version FROM {}", self.migrations_table)
    }

    pub(crate) fn record_migration(&self) -> String {
        format!(
            "INSERT INTO {} (version, description, applied_at) VALUES ($1, $2, $3)",
            self.migrations_table
        )
    }

    pub(crate) fn migrations(&self) -> Vec<Migration> {
        let prefix = &self.prefix;
        vec![Migration {
            version: 1,
            description: "dedup keys of applied events, and the last applied version per entity",
            sql: format!(
                "CREATE TABLE IF NOT EXISTS {prefix}keys (\
                   dedup_key TEXT PRIMARY KEY, \
                   event_time BIGINT NOT NULL, \
                   stale BOOLEAN NOT NULL DEFAULT FALSE); \
                 CREATE INDEX IF NOT EXISTS {prefix}keys_event_time ON {prefix}keys (event_time); \
                 CREATE TABLE IF NOT EXISTS {prefix}entity_versions (\
                   kind TEXT NOT NULL, \
                   id TEXT NOT NULL, \
                   version BIGINT NOT NULL, \
                   PRIMARY KEY (kind, id));"
            ),
        }]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefixes_are_plain_identifiers() {
        assert!(Tables::new("rxscale_webhooks_").is_ok());
        assert!(Tables::new("app2_").is_ok());
        for bad in [
            "",
            "2x",
            "a-b",
            "a b",
            "A_",
            "x\"; DROP TABLE y; --",
            &"a".repeat(41),
        ] {
            assert_eq!(
                Tables::new(bad).err().map(|e| e.kind()),
                Some(crate::ErrorKind::Config),
                "{bad}"
            );
        }
    }
}
