//! [`RedisStore`]: the claim / complete / release protocol as Lua scripts over one key each.

use std::fmt;
use std::time::{Duration, Instant};

use redis::Script;
use rxscale_webhooks::replay::{ClaimOutcome, ClaimToken, ReplayStore, StoreError, StoreFuture};

use crate::builder::RedisStoreBuilder;
use crate::connection::Connection;
use crate::key::redis_key;

/// The value of a completed key. Claim tokens are 32 hex digits, so they never equal it.
const COMPLETED: &str = "completed";

/// `SET key token NX PX lease`, and on failure tell a completed key from a live claim, in one
/// round trip and atomically. A key that already holds our own token is our claim: a claim the
/// client sent again after its first answer was lost (a timeout, a failover) must not lock its
/// own event out until the lease ends.
const CLAIM: &str = r"
if redis.call('SET', KEYS[1], ARGV[1], 'NX', 'PX', ARGV[2]) then return 1 end
local held = redis.call('GET', KEYS[1])
if held == ARGV[3] then return 2 end
if held == ARGV[1] then return 1 end
return 3
";

/// Turns our claim into a completed key, only if we still hold it.
const COMPLETE: &str = r"
if redis.call('GET', KEYS[1]) == ARGV[1] then
  redis.call('SET', KEYS[1], ARGV[2], 'PX', ARGV[3])
  return 1
end
return 0
";

/// Deletes our claim, only if we still hold it.
const RELEASE: &str = r"
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
";

/// A [`ReplayStore`] in Redis, shared by every receiver instance: one Redis endpoint, or a Redis
/// Cluster (feature `cluster`).
///
/// Cheap to clone: clones share one multiplexed connection that reconnects by itself.
#[derive(Clone)]
pub struct RedisStore {
    connection: Connection,
    prefix: String,
    scripts: Scripts,
}

#[derive(Clone)]
struct Scripts {
    claim: Script,
    complete: Script,
    release: Script,
}

impl fmt::Debug for RedisStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RedisStore")
            .field("prefix", &self.prefix)
            .field("cluster", &self.connection.is_cluster())
            .finish_non_exhaustive()
    }
}

impl RedisStore {
    /// Connects with the defaults of [`RedisStoreBuilder`].
    ///
    /// `urls` is what `RXSCALE_REDIS_URL` holds: one `redis://` URL for a single Redis, or
    /// (feature `cluster`) several comma-separated node URLs of a Redis Cluster.
    ///
    /// # Errors
    ///
    /// [`ConnectError`](crate::ConnectError) when a URL is invalid, when several are given
    /// without the `cluster` feature, or when Redis cannot be reached.
    pub async fn connect(urls: &str) -> Result<Self, crate::ConnectError> {
        RedisStore::builder(urls).connect().await
    }

    /// Starts configuring a store for the Redis at `urls`: one URL (`redis://host:port/db`) for a
    /// single Redis, or several comma-separated node URLs for a Redis Cluster (feature
    /// `cluster`). With one URL of a cluster node, such as a managed service's configuration
    /// endpoint, add [`RedisStoreBuilder::cluster`].
    pub fn builder(urls: impl Into<String>) -> RedisStoreBuilder {
        RedisStoreBuilder::new(urls.into())
    }

    pub(crate) fn new(connection: Connection, prefix: String) -> Self {
        RedisStore {
            connection,
            prefix,
            scripts: Scripts {
                claim: Script::new(CLAIM),
                complete: Script::new(COMPLETE),
                release: Script::new(RELEASE),
            },
        }
    }

    /// The key prefix in use.
    #[must_use]
    pub fn key_prefix(&self) -> &str {
        &self.prefix
    }

    /// Whether the store talks to a Redis Cluster.
    #[must_use]
    pub fn is_cluster(&self) -> bool {
        self.connection.is_cluster()
    }

    /// The Redis key that holds the claim or completion of `dedup_key`: `{prefix}{dedup_key}` on
    /// a single Redis; on a cluster, `{prefix}{{dedup_key}}` with the dedup key as the key's one
    /// hash tag (`%`, `{` and `}` in it percent-encoded), so that everything the store keeps for
    /// one event lives in one slot.
    #[must_use]
    pub fn redis_key(&self, dedup_key: &str) -> String {
        redis_key(&self.prefix, dedup_key, self.connection.is_cluster())
    }
}

fn millis(duration: Duration) -> u64 {
    // PX 0 is an error in Redis; a zero lease or TTL still has to mean "expire at once".
    u64::try_from(duration.as_millis())
        .unwrap_or(u64::MAX)
        .max(1)
}

fn store_error(operation: &str, err: redis::RedisError) -> StoreError {
    // RedisError's text never includes the connection URL (and thus no password). It stays the
    // source, behind the core's opaque error: no redis type in this crate's API.
    StoreError::with_source(format_args!("redis {operation} failed"), err)
}

impl ReplayStore for RedisStore {
    fn claim<'a>(
        &'a self,
        key: &'a str,
        token: &'a ClaimToken,
        lease: Duration,
    ) -> StoreFuture<'a, ClaimOutcome> {
        Box::pin(async move {
            let mut invocation = self.scripts.claim.prepare_invoke();
            invocation
                .key(self.redis_key(key))
                .arg(token.to_hex())
                .arg(millis(lease))
                .arg(COMPLETED);
            let code: i64 = self
                .connection
                .invoke(&invocation)
                .await
                .map_err(|err| store_error("claim", err))?;
            match code {
                1 => Ok(ClaimOutcome::Fresh),
                2 => Ok(ClaimOutcome::Duplicate),
                3 => Ok(ClaimOutcome::InFlight),
                other => Err(StoreError::new(format_args!(
                    "redis claim returned {other}"
                ))),
            }
        })
    }

    fn complete<'a>(
        &'a self,
        key: &'a str,
        token: &'a ClaimToken,
        ttl: Duration,
    ) -> StoreFuture<'a, bool> {
        Box::pin(async move {
            let mut invocation = self.scripts.complete.prepare_invoke();
            invocation
                .key(self.redis_key(key))
                .arg(token.to_hex())
                .arg(COMPLETED)
                .arg(millis(ttl));
            let done: i64 = self
                .connection
                .invoke(&invocation)
                .await
                .map_err(|err| store_error("complete", err))?;
            Ok(done == 1)
        })
    }

    fn release<'a>(&'a self, key: &'a str, token: &'a ClaimToken) -> StoreFuture<'a, bool> {
        Box::pin(async move {
            let mut invocation = self.scripts.release.prepare_invoke();
            invocation.key(self.redis_key(key)).arg(token.to_hex());
            let removed: i64 = self
                .connection
                .invoke(&invocation)
                .await
                .map_err(|err| store_error("release", err))?;
            Ok(removed == 1)
        })
    }

    fn release_detached(&self, key: String, token: ClaimToken) {
        // Called from Drop when a handler panicked or was cancelled. Without a runtime to run
        // on, the lease expires by itself.
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            return;
        };
        let store = self.clone();
        runtime.spawn(async move {
            if let Err(err) = store.release(&key, &token).await {
                tracing::warn!(dedup_key = %key, error = %err, "could not release claim; its lease will expire");
            }
        });
    }

    fn complete_detached(
        &self,
        key: String,
        token: ClaimToken,
        ttl: Duration,
        lease_ends: Instant,
    ) {
        // Without a runtime to run on, the claim's lease expires and a redelivery is handled
        // again: the at-least-once fallback.
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            tracing::error!(dedup_key = %key, "no runtime to retry completion on; a redelivery after the lease will be handled again");
            return;
        };
        let store = self.clone();
        runtime.spawn(async move {
            let mut pause = COMPLETE_RETRY_FIRST_PAUSE;
            let mut attempts = 1u32;
            loop {
                let now = Instant::now();
                if now >= lease_ends {
                    tracing::error!(dedup_key = %key, attempts, "could not record the handler's success before the lease ended; a redelivery will be handled again");
                    return;
                }
                tokio::time::sleep(pause.min(lease_ends - now)).await;
                pause = (pause * 2).min(COMPLETE_RETRY_MAX_PAUSE);
                attempts += 1;
                match store.complete(&key, &token, ttl).await {
                    Ok(true) => {
                        tracing::info!(dedup_key = %key, attempts, "recorded the handler's success after retrying");
                        return;
                    }
                    Ok(false) => {
                        tracing::warn!(dedup_key = %key, attempts, "claim was gone when retrying completion (lease ended or Redis lost it); a redelivery will be handled again");
                        return;
                    }
                    Err(err) => tracing::debug!(dedup_key = %key, attempts, error = %err, "retrying completion"),
                }
            }
        });
    }
}

/// The first pause before retrying a failed completion; it doubles up to
/// [`COMPLETE_RETRY_MAX_PAUSE`].
const COMPLETE_RETRY_FIRST_PAUSE: Duration = Duration::from_millis(100);
const COMPLETE_RETRY_MAX_PAUSE: Duration = Duration::from_secs(2);
