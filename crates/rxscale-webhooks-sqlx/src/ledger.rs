//! [`Ledger`]: the transactional claim, its migrations and its purge.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use rxscale_webhooks::{OffsetDateTime, Verified, Verifier};
use sqlx::{Pool, Transaction};
use tracing::{Instrument as _, field};

use crate::Error;
use crate::backend::Backend;
use crate::claim::{Claim, Entity};
use crate::schema::{Migration, Tables};

/// The default table prefix: tables are `rxscale_webhooks_keys`,
/// `rxscale_webhooks_entity_versions` and `rxscale_webhooks_migrations`.
pub const DEFAULT_TABLE_PREFIX: &str = "rxscale_webhooks_";

/// The default margin added to the verifier's maximum age before a key may be purged: 1 hour.
pub const DEFAULT_PURGE_MARGIN: Duration = Duration::from_secs(60 * 60);

/// Records, in your own database transaction, which events' effects were committed and the
/// last applied version of each entity.
///
/// ```text
/// let mut tx = ledger.begin(&pool).await?;          // BEGIN (BEGIN IMMEDIATE on SQLite)
/// match ledger.claim(&mut tx, &verified).await? {   // the claim joins the transaction
///     Claim::Fresh => { /* your writes, in tx */ }
///     Claim::Duplicate | Claim::Stale => {}         // nothing to apply
/// }
/// tx.commit().await?;                               // effects and claim commit together
/// ```
///
/// Nothing is kept in memory and there is no lease: a copy of an event being handled waits,
/// inside [`claim`](Self::claim), for the first transaction to end, and then sees
/// [`Duplicate`](Claim::Duplicate), or [`Fresh`](Claim::Fresh) if the first one rolled back or
/// its process died. Cheap to clone.
#[derive(Clone)]
pub struct Ledger {
    tables: Arc<Tables>,
    ordering: bool,
    purge_margin: Duration,
}

impl fmt::Debug for Ledger {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Ledger")
            .field("table_prefix", &self.tables.prefix)
            .field("ordering", &self.ordering)
            .field("purge_margin", &self.purge_margin)
            .finish()
    }
}

impl Default for Ledger {
    fn default() -> Self {
        Ledger::new()
    }
}

impl Ledger {
    /// A ledger with the defaults: [`DEFAULT_TABLE_PREFIX`], ordering on,
    /// [`DEFAULT_PURGE_MARGIN`].
    #[must_use]
    pub fn new() -> Self {
        match LedgerBuilder::new().build() {
            Ok(ledger) => ledger,
            // The default prefix is a constant that the unit tests check.
            Err(_) => unreachable!("the default table prefix is valid"),
        }
    }

    /// A builder to change the table prefix, ordering or purge margin.
    pub fn builder() -> LedgerBuilder {
        LedgerBuilder::new()
    }

    pub(crate) fn orders(&self) -> bool {
        self.ordering
    }

    pub(crate) fn tables(&self) -> &Tables {
        &self.tables
    }

    /// The table prefix.
    #[must_use]
    pub fn table_prefix(&self) -> &str {
        &self.tables.prefix
    }

    /// The ledger's schema, step by step, for running it with your own migration tool instead
    /// of [`migrate`](Self::migrate). Record nothing else: `migrate` keeps its own
    /// `{prefix}migrations` table.
    #[must_use]
    pub fn migrations(&self) -> Vec<Migration> {
        self.tables.migrations()
    }

    /// Creates or upgrades the ledger's tables. Run it once at start-up, before serving: it is
    /// never run implicitly. Safe to run from several instances at once (they take turns) and
    /// again on every start (applied steps are skipped). Returns the versions it applied.
    ///
    /// # Errors
    ///
    /// [`Error`] when the database cannot be reached or refuses the DDL.
    pub async fn migrate<DB: Backend>(&self, pool: &Pool<DB>) -> Result<Vec<i64>, Error> {
        let now = OffsetDateTime::now_utc().unix_timestamp();
        let mut tx = pool.begin_with(DB::BEGIN).await?;
        let ran = DB::migrate(&mut tx, &self.tables, now).await?;
        tx.commit().await?;
        if !ran.is_empty() {
            tracing::info!(prefix = %self.tables.prefix, versions = ?ran, "ledger tables migrated");
        }
        Ok(ran)
    }

    /// Begins a transaction for [`claim`](Self::claim): `BEGIN` on Postgres,
    /// `BEGIN IMMEDIATE` on SQLite, so that concurrent deliveries wait their turn on the busy
    /// timeout instead of failing. On Postgres, `pool.begin()` does the same.
    ///
    /// # Errors
    ///
    /// [`Error`] (503) when no connection comes within the pool's acquire timeout.
    pub async fn begin<DB: Backend>(
        &self,
        pool: &Pool<DB>,
    ) -> Result<Transaction<'static, DB>, Error> {
        Ok(pool.begin_with(DB::BEGIN).await?)
    }

    /// Claims a verified RxScale event inside `tx`, and orders it against its entity (see
    /// [`Entity::of`]) unless ordering is off.
    ///
    /// - [`Fresh`](Claim::Fresh): apply the effects in `tx`, then commit.
    /// - [`Duplicate`](Claim::Duplicate): already applied; answer 200 with
    ///   `X-Webhook-Duplicate: true`.
    /// - [`Stale`](Claim::Stale): a newer version of the entity was applied; answer 200 with
    ///   `X-Webhook-Stale: true` and apply nothing.
    ///
    /// The claim is part of `tx`: it commits or rolls back with your effects.
    ///
    /// # Errors
    ///
    /// [`Error`], 503 when the database is down, times out or loses a race it cannot wait
    /// out. Roll back (drop `tx`) and answer with it: RxScale retries.
    pub async fn claim<DB: Backend>(
        &self,
        tx: &mut Transaction<'_, DB>,
        verified: &Verified,
    ) -> Result<Claim, Error> {
        let entity = if self.ordering {
            Entity::of(verified)
        } else {
            None
        };
        self.claim_with(tx, verified, entity).await
    }

    /// Like [`claim`](Self::claim), with the entity and version you choose (or `None` for no
    /// ordering): for events decoded into your own type with `Verifier::verify_as`, or to order
    /// RxScale events by something else. Ordering applies whenever `entity` is given, whatever
    /// [`LedgerBuilder::ordering`] says.
    ///
    /// # Errors
    ///
    /// As for [`claim`](Self::claim).
    pub async fn claim_with<DB: Backend, T>(
        &self,
        tx: &mut Transaction<'_, DB>,
        verified: &Verified<T>,
        entity: Option<Entity<'_>>,
    ) -> Result<Claim, Error> {
        let key = verified.dedup_key().as_str();
        let span = tracing::info_span!(
            "rxscale_webhooks_sqlx::claim",
            dedup_key = %key,
            entity_kind = entity.map(|entity| entity.kind()),
            outcome = field::Empty,
            stale = field::Empty,
        );
        let event_time = verified.timestamp().unix_timestamp();
        #[cfg(feature = "metrics")]
        let started = std::time::Instant::now();
        let result = DB::claim(&mut **tx, &self.tables, key, event_time, entity)
            .instrument(span.clone())
            .await;
        #[cfg(feature = "metrics")]
        rxscale_webhooks::metrics::record_store_call("ledger", "claim", started.elapsed());
        let _entered = span.enter();
        match result {
            Ok(claim) => {
                span.record("outcome", claim.as_str());
                #[cfg(feature = "metrics")]
                rxscale_webhooks::metrics::record_ledger_claim(claim.as_str());
                span.record("stale", claim == Claim::Stale);
                match claim {
                    Claim::Fresh => tracing::debug!("claimed"),
                    Claim::Duplicate => tracing::info!("duplicate: effects already committed"),
                    Claim::Stale => tracing::info!(
                        version = entity.map(|entity| entity.version()),
                        "stale: a newer version of the entity was applied; acknowledged without effects"
                    ),
                }
                Ok(claim)
            }
            Err(source) => {
                let error = Error::from(source);
                span.record("outcome", error.kind().code());
                #[cfg(feature = "metrics")]
                rxscale_webhooks::metrics::record_ledger_claim(error.kind().code());
                tracing::warn!(error = %error, "claim failed; answering {}", error.status_code());
                Err(error)
            }
        }
    }

    /// Deletes the keys of events too old to come back: older than the verifier's maximum
    /// age plus the purge margin, since the verifier rejects them before any claim. Entity
    /// versions stay (one small row per entity), so ordering still holds afterwards. Returns
    /// how many keys it deleted; deletes nothing when the verifier has no maximum age.
    ///
    /// Schedule it, e.g. hourly from a `tokio::time::interval` task or a cron job; it is never
    /// run implicitly.
    ///
    /// # Errors
    ///
    /// [`Error`] when the database cannot be reached.
    pub async fn purge<DB: Backend>(
        &self,
        pool: &Pool<DB>,
        verifier: &Verifier,
    ) -> Result<u64, Error> {
        self.purge_at(pool, verifier, OffsetDateTime::now_utc())
            .await
    }

    /// [`purge`](Self::purge) as if the time were `now`.
    ///
    /// # Errors
    ///
    /// As for [`purge`](Self::purge).
    pub async fn purge_at<DB: Backend>(
        &self,
        pool: &Pool<DB>,
        verifier: &Verifier,
        now: OffsetDateTime,
    ) -> Result<u64, Error> {
        let Some(max_age) = verifier.max_age() else {
            tracing::warn!("the verifier has no maximum age: no key is ever safe to purge");
            return Ok(0);
        };
        let keep = max_age.saturating_add(self.purge_margin);
        let cutoff = now
            .unix_timestamp()
            .saturating_sub(i64::try_from(keep.as_secs()).unwrap_or(i64::MAX));
        let mut tx = pool.begin_with(DB::BEGIN).await?;
        let deleted = DB::purge(&mut tx, &self.tables, cutoff).await?;
        tx.commit().await?;
        tracing::info!(deleted, "purged old dedup keys");
        Ok(deleted)
    }
}

/// Builds a [`Ledger`]. Every setting has a default.
#[derive(Debug, Clone)]
#[must_use]
pub struct LedgerBuilder {
    table_prefix: String,
    ordering: bool,
    purge_margin: Duration,
}

impl Default for LedgerBuilder {
    fn default() -> Self {
        LedgerBuilder::new()
    }
}

impl LedgerBuilder {
    /// The defaults.
    pub fn new() -> Self {
        LedgerBuilder {
            table_prefix: DEFAULT_TABLE_PREFIX.to_owned(),
            ordering: true,
            purge_margin: DEFAULT_PURGE_MARGIN,
        }
    }

    /// The prefix of the ledger's table names: 1 to 40 of `[a-z0-9_]`, starting with a letter.
    /// Default: [`DEFAULT_TABLE_PREFIX`] (`rxscale_webhooks_`).
    pub fn table_prefix(mut self, prefix: impl Into<String>) -> Self {
        self.table_prefix = prefix.into();
        self
    }

    /// Whether [`Ledger::claim`] orders events per entity and answers older ones
    /// [`Stale`](Claim::Stale). Default: `true`. Off, every new event is
    /// [`Fresh`](Claim::Fresh); [`Ledger::claim_with`] still orders by the entity you pass.
    pub fn ordering(mut self, enabled: bool) -> Self {
        self.ordering = enabled;
        self
    }

    /// What [`Ledger::purge`] keeps beyond the verifier's maximum age, for clock differences
    /// and future skew. Default: [`DEFAULT_PURGE_MARGIN`] (1 hour).
    pub fn purge_margin(mut self, margin: Duration) -> Self {
        self.purge_margin = margin;
        self
    }

    /// The ledger.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::Config`](crate::ErrorKind::Config) when the table prefix is not a plain
    /// identifier.
    pub fn build(self) -> Result<Ledger, Error> {
        Ok(Ledger {
            tables: Arc::new(Tables::new(&self.table_prefix)?),
            ordering: self.ordering,
            purge_margin: self.purge_margin,
        })
    }
}
