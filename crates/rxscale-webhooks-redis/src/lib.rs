#![doc = include_str!("../README.md")]
//!
//! ## Feature flags
//!
//! | feature | default | what it adds |
//! |---|---|---|
//! | *(none)* | | Uses the `redis` crate with tokio and its reconnecting `ConnectionManager`. |
#![cfg_attr(docsrs, feature(doc_cfg))]
#![deny(missing_docs)]

use std::fmt;
use std::time::{Duration, Instant};

use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use redis::{Client, Script};
use rxscale_webhooks::replay::{ClaimOutcome, ClaimToken, ReplayStore, StoreError, StoreFuture};

/// Default key prefix: `rxscale-webhooks:`.
pub const DEFAULT_KEY_PREFIX: &str = "rxscale-webhooks:";

/// The value of a completed key. Claim tokens are 32 hex digits, so they never equal it.
const COMPLETED: &str = "completed";

/// `SET key token NX PX lease`, and on failure tell a completed key from a live claim, in one
/// round trip and atomically.
const CLAIM: &str = r"
if redis.call('SET', KEYS[1], ARGV[1], 'NX', 'PX', ARGV[2]) then return 1 end
if redis.call('GET', KEYS[1]) == ARGV[3] then return 2 end
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

/// A [`ReplayStore`] in Redis, shared by every receiver instance.
///
/// Cheap to clone: clones share one multiplexed connection that reconnects by itself.
#[derive(Clone)]
pub struct RedisStore {
    connection: ConnectionManager,
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
            .finish_non_exhaustive()
    }
}

impl RedisStore {
    /// Connects with the defaults of [`RedisStoreBuilder`].
    ///
    /// # Errors
    ///
    /// [`ConnectError`] when the URL is invalid or Redis cannot be reached.
    pub async fn connect(url: &str) -> Result<Self, ConnectError> {
        RedisStore::builder(url).connect().await
    }

    /// Starts configuring a store for the Redis at `url` (`redis://host:port/db`).
    pub fn builder(url: impl Into<String>) -> RedisStoreBuilder {
        RedisStoreBuilder {
            url: url.into(),
            prefix: DEFAULT_KEY_PREFIX.to_owned(),
            connect_timeout: Duration::from_secs(2),
            response_timeout: Duration::from_millis(1000),
        }
    }

    /// The key prefix in use.
    #[must_use]
    pub fn key_prefix(&self) -> &str {
        &self.prefix
    }

    fn key(&self, dedup_key: &str) -> String {
        format!("{}{dedup_key}", self.prefix)
    }
}

fn millis(duration: Duration) -> u64 {
    // PX 0 is an error in Redis; a zero lease or TTL still has to mean "expire at once".
    u64::try_from(duration.as_millis())
        .unwrap_or(u64::MAX)
        .max(1)
}

fn store_error(operation: &str, err: &redis::RedisError) -> StoreError {
    // RedisError's text never includes the connection URL (and thus no password).
    StoreError::new(format_args!("redis {operation}: {err}"))
}

impl ReplayStore for RedisStore {
    fn claim<'a>(
        &'a self,
        key: &'a str,
        token: &'a ClaimToken,
        lease: Duration,
    ) -> StoreFuture<'a, ClaimOutcome> {
        Box::pin(async move {
            let mut connection = self.connection.clone();
            let code: i64 = self
                .scripts
                .claim
                .key(self.key(key))
                .arg(token.to_hex())
                .arg(millis(lease))
                .arg(COMPLETED)
                .invoke_async(&mut connection)
                .await
                .map_err(|err| store_error("claim", &err))?;
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
            let mut connection = self.connection.clone();
            let done: i64 = self
                .scripts
                .complete
                .key(self.key(key))
                .arg(token.to_hex())
                .arg(COMPLETED)
                .arg(millis(ttl))
                .invoke_async(&mut connection)
                .await
                .map_err(|err| store_error("complete", &err))?;
            Ok(done == 1)
        })
    }

    fn release<'a>(&'a self, key: &'a str, token: &'a ClaimToken) -> StoreFuture<'a, bool> {
        Box::pin(async move {
            let mut connection = self.connection.clone();
            let removed: i64 = self
                .scripts
                .release
                .key(self.key(key))
                .arg(token.to_hex())
                .invoke_async(&mut connection)
                .await
                .map_err(|err| store_error("release", &err))?;
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

/// Configures a [`RedisStore`]. Obtained from [`RedisStore::builder`].
#[must_use]
#[derive(Clone)]
pub struct RedisStoreBuilder {
    url: String,
    prefix: String,
    connect_timeout: Duration,
    response_timeout: Duration,
}

impl fmt::Debug for RedisStoreBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // The URL may hold a password.
        f.debug_struct("RedisStoreBuilder")
            .field("prefix", &self.prefix)
            .field("connect_timeout", &self.connect_timeout)
            .field("response_timeout", &self.response_timeout)
            .finish_non_exhaustive()
    }
}

impl RedisStoreBuilder {
    /// The prefix put before every dedup key, to share a Redis with other applications or
    /// several receivers.
    ///
    /// Default: `rxscale-webhooks:` ([`DEFAULT_KEY_PREFIX`]).
    pub fn key_prefix(mut self, prefix: impl Into<String>) -> Self {
        self.prefix = prefix.into();
        self
    }

    /// How long one connection attempt may take.
    ///
    /// Default: 2 seconds.
    pub fn connect_timeout(mut self, timeout: Duration) -> Self {
        self.connect_timeout = timeout;
        self
    }

    /// How long one command may take before the store reports itself unavailable (and the
    /// guard answers 503 when failing closed). Keep it well under RxScale's 5-second budget.
    ///
    /// Default: 1 second.
    pub fn response_timeout(mut self, timeout: Duration) -> Self {
        self.response_timeout = timeout;
        self
    }

    /// Connects. The connection then reconnects by itself whenever Redis comes back.
    ///
    /// # Errors
    ///
    /// [`ConnectError`] when the URL is invalid or Redis cannot be reached now.
    pub async fn connect(self) -> Result<RedisStore, ConnectError> {
        let client = Client::open(self.url.as_str()).map_err(|err| ConnectError {
            message: format!("invalid redis URL: {}", err.kind_description()),
        })?;
        let config = ConnectionManagerConfig::new()
            .set_connection_timeout(Some(self.connect_timeout))
            .set_response_timeout(Some(self.response_timeout))
            .set_number_of_retries(2)
            .set_max_delay(Duration::from_millis(500));
        let connection = ConnectionManager::new_with_config(client, config)
            .await
            .map_err(|err| ConnectError {
                message: format!("cannot reach redis: {err}"),
            })?;
        Ok(RedisStore {
            connection,
            prefix: self.prefix,
            scripts: Scripts {
                claim: Script::new(CLAIM),
                complete: Script::new(COMPLETE),
                release: Script::new(RELEASE),
            },
        })
    }
}

/// The store could not be set up: an invalid URL, or Redis unreachable at start-up.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConnectError {
    message: String,
}

impl fmt::Display for ConnectError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for ConnectError {}

trait KindDescription {
    fn kind_description(&self) -> String;
}

impl KindDescription for redis::RedisError {
    fn kind_description(&self) -> String {
        // The URL parser's message may echo the URL, password included; keep only the kind.
        format!("{:?}", self.kind())
    }
}
