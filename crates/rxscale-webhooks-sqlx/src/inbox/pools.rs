//! [`InboxPools`]: the database of your effects and the inbox's, as one value.

use sqlx::Pool;

use crate::backend::Backend;

/// The pools a reply-first app needs: the database of your effects (and the [`Ledger`]), and
/// the database of the inbox table. Give it to [`Inbox::migrate_all`], [`Inbox::worker`] and
/// [`InboxRoute::new`]; each takes the pool it needs.
///
/// - Postgres: one database for both ([`InboxPools::postgres`], or any [`Pool`] through
///   `From`); the worker marks an event done in the transaction of its effects.
/// - SQLite: the inbox in a file of its own, `PATH.inbox` next to `PATH`
///   ([`InboxPools::sqlite`]), so that arrivals are stored while a slow handler holds the
///   writer of `PATH`. The event is then marked done right after its effects commit; see
///   `docs/inbox.md` for what that means when the process dies in between.
///
/// Cheap to clone.
///
/// [`Ledger`]: crate::Ledger
/// [`Inbox::migrate_all`]: crate::Inbox::migrate_all
/// [`Inbox::worker`]: crate::Inbox::worker
/// [`InboxRoute::new`]: crate::InboxRoute::new
#[derive(Debug)]
pub struct InboxPools<DB: Backend> {
    effects: Pool<DB>,
    inbox: Option<Pool<DB>>,
}

impl<DB: Backend> Clone for InboxPools<DB> {
    fn clone(&self) -> Self {
        InboxPools {
            effects: self.effects.clone(),
            inbox: self.inbox.clone(),
        }
    }
}

impl<DB: Backend> InboxPools<DB> {
    /// One database for your effects and the inbox.
    #[must_use]
    pub fn new(pool: Pool<DB>) -> Self {
        InboxPools {
            effects: pool,
            inbox: None,
        }
    }

    /// Your effects in `effects`, the inbox in `inbox`.
    #[must_use]
    pub fn separate(effects: Pool<DB>, inbox: Pool<DB>) -> Self {
        InboxPools {
            effects,
            inbox: Some(inbox),
        }
    }

    /// The database of your effects and the ledger.
    #[must_use]
    pub fn effects(&self) -> &Pool<DB> {
        &self.effects
    }

    /// The database of the inbox table: the one the route stores into and the
    /// `rxscale-webhooks inbox` command reads.
    #[must_use]
    pub fn inbox(&self) -> &Pool<DB> {
        self.inbox.as_ref().unwrap_or(&self.effects)
    }

    /// The inbox's pool when it is not the effects' one.
    pub(crate) fn separate_inbox(&self) -> Option<&Pool<DB>> {
        self.inbox.as_ref()
    }
}

impl<DB: Backend> From<Pool<DB>> for InboxPools<DB> {
    fn from(pool: Pool<DB>) -> Self {
        InboxPools::new(pool)
    }
}

#[cfg(feature = "postgres")]
#[cfg_attr(docsrs, doc(cfg(feature = "postgres")))]
impl InboxPools<sqlx::Postgres> {
    /// [`postgres::pool`](crate::postgres::pool)`(url)` for both.
    ///
    /// # Errors
    ///
    /// As [`postgres::pool`](crate::postgres::pool).
    pub fn postgres(url: &str) -> Result<Self, crate::Error> {
        Ok(InboxPools::new(crate::postgres::pool(url)?))
    }
}

#[cfg(feature = "sqlite")]
#[cfg_attr(docsrs, doc(cfg(feature = "sqlite")))]
impl InboxPools<sqlx::Sqlite> {
    /// [`sqlite::pool`](crate::sqlite::pool)`(url)` for your effects and
    /// [`sqlite::inbox_pool`](crate::sqlite::inbox_pool)`(url)` (the file `PATH.inbox`) for
    /// the inbox.
    ///
    /// # Errors
    ///
    /// As [`sqlite::inbox_pool`](crate::sqlite::inbox_pool).
    pub fn sqlite(url: &str) -> Result<Self, crate::Error> {
        Ok(InboxPools::separate(
            crate::sqlite::pool(url)?,
            crate::sqlite::inbox_pool(url)?,
        ))
    }
}
