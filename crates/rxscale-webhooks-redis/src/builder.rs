//! [`RedisStoreBuilder`]: which Redis, in which mode, with which timeouts.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use redis::Client;
use redis::aio::{ConnectionManager, ConnectionManagerConfig};

use crate::DEFAULT_KEY_PREFIX;
use crate::connection::{Connection, split_urls};
use crate::store::RedisStore;

/// Configures a [`RedisStore`]. Obtained from [`RedisStore::builder`].
#[must_use]
#[derive(Clone)]
pub struct RedisStoreBuilder {
    urls: String,
    prefix: String,
    connect_timeout: Duration,
    response_timeout: Duration,
    cluster: bool,
}

impl fmt::Debug for RedisStoreBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // The URLs may hold a password.
        f.debug_struct("RedisStoreBuilder")
            .field("prefix", &self.prefix)
            .field("connect_timeout", &self.connect_timeout)
            .field("response_timeout", &self.response_timeout)
            .field("cluster", &self.cluster)
            .finish_non_exhaustive()
    }
}

impl RedisStoreBuilder {
    pub(crate) fn new(urls: String) -> Self {
        RedisStoreBuilder {
            urls,
            prefix: DEFAULT_KEY_PREFIX.to_owned(),
            connect_timeout: Duration::from_secs(2),
            response_timeout: Duration::from_millis(1000),
            cluster: false,
        }
    }

    /// The prefix put before every dedup key, to share a Redis with other applications or
    /// several receivers. On a cluster it must not contain `{` or `}`: the store puts the hash
    /// tag right after it.
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
    /// guard answers 503 when failing closed). Keep it well under RxScale's 5-second budget. On
    /// a cluster it bounds the whole command, redirects and retries after a failed node
    /// included.
    ///
    /// Default: 1 second.
    pub fn response_timeout(mut self, timeout: Duration) -> Self {
        self.response_timeout = timeout;
        self
    }

    /// Treats the URL (or URLs) as seed nodes of a Redis Cluster even when there is only one,
    /// such as a managed service's configuration endpoint. Several comma-separated URLs always
    /// mean a cluster.
    ///
    /// Default: `false`: one URL is a single Redis.
    #[cfg(feature = "cluster")]
    #[cfg_attr(docsrs, doc(cfg(feature = "cluster")))]
    pub fn cluster(mut self, cluster: bool) -> Self {
        self.cluster = cluster;
        self
    }

    /// Connects. The connection then reconnects by itself whenever Redis (or a cluster node)
    /// comes back; on a cluster it also follows the slot map as slots move and replicas are
    /// promoted.
    ///
    /// # Errors
    ///
    /// [`ConnectError`] when a URL is invalid, when several URLs are given without the `cluster`
    /// feature, when the key prefix holds a brace on a cluster, or when Redis cannot be reached
    /// now.
    pub async fn connect(self) -> Result<RedisStore, ConnectError> {
        let urls = split_urls(&self.urls);
        let connection = match urls.as_slice() {
            [] => return Err(ConnectError::new("no redis URL given")),
            [url] if !self.cluster => self.connect_single(url).await?,
            _ => self.connect_cluster(&urls).await?,
        };
        Ok(RedisStore::new(connection, self.prefix))
    }

    async fn connect_single(&self, url: &str) -> Result<Connection, ConnectError> {
        let client = Client::open(url).map_err(|err| invalid_url(&err))?;
        let config = ConnectionManagerConfig::new()
            .set_connection_timeout(Some(self.connect_timeout))
            .set_response_timeout(Some(self.response_timeout))
            .set_number_of_retries(2)
            .set_max_delay(Duration::from_millis(500));
        let connection = ConnectionManager::new_with_config(client, config)
            .await
            .map_err(|err| ConnectError::unreachable("cannot reach redis", err))?;
        Ok(Connection::Single(connection))
    }

    #[cfg(not(feature = "cluster"))]
    #[allow(clippy::unused_async)]
    async fn connect_cluster(&self, urls: &[String]) -> Result<Connection, ConnectError> {
        Err(ConnectError::new(format_args!(
            "{} redis URLs name a Redis Cluster; enable the `cluster` feature of rxscale-webhooks-redis",
            urls.len()
        )))
    }

    #[cfg(feature = "cluster")]
    async fn connect_cluster(&self, urls: &[String]) -> Result<Connection, ConnectError> {
        use redis::cluster::ClusterClientBuilder;

        if !crate::key::prefix_fits_hash_tag(&self.prefix) {
            return Err(ConnectError::new(
                "the key prefix must not contain `{` or `}` on a Redis Cluster: the store puts each key's hash tag after it",
            ));
        }
        let mut nodes = Vec::with_capacity(urls.len());
        for url in urls {
            nodes.push(
                redis::IntoConnectionInfo::into_connection_info(url.as_str())
                    .map_err(|err| invalid_url(&err))?,
            );
        }
        // Retries with short pauses, all within the response timeout: a node that just failed
        // is retried (and the slot map refreshed) until a replica takes over or the timeout
        // turns the delivery into a prompt 503.
        let client = ClusterClientBuilder::new(nodes)
            .connection_timeout(self.connect_timeout)
            .response_timeout(self.response_timeout)
            .overall_response_timeout(Some(self.response_timeout))
            .retries(6)
            .min_retry_wait(10)
            .max_retry_wait(250)
            .retry_wait_formula(10, 2)
            .build()
            .map_err(|err| invalid_url(&err))?;
        let connection = client
            .get_async_connection()
            .await
            .map_err(|err| ConnectError::unreachable("cannot reach the redis cluster", err))?;
        Ok(Connection::Cluster(connection))
    }
}

fn invalid_url(err: &redis::RedisError) -> ConnectError {
    // The URL parser's message may echo the URL, password included; keep only the kind.
    ConnectError::new(format_args!("invalid redis URL: {:?}", err.kind()))
}

/// The store could not be set up: an invalid URL, or Redis unreachable at start-up.
///
/// Opaque: when Redis could not be reached, the client's error is the
/// [`source`](std::error::Error::source), so reporters show the cause; no type of the `redis`
/// crate is part of this crate's API. An invalid URL keeps only the parser's error kind, since
/// the parser's message may echo the URL and its password.
#[derive(Debug, Clone)]
pub struct ConnectError {
    message: String,
    source: Option<Arc<redis::RedisError>>,
}

impl ConnectError {
    fn new(message: impl fmt::Display) -> Self {
        ConnectError {
            message: message.to_string(),
            source: None,
        }
    }

    fn unreachable(message: &'static str, source: redis::RedisError) -> Self {
        ConnectError {
            message: message.to_owned(),
            source: Some(Arc::new(source)),
        }
    }
}

impl fmt::Display for ConnectError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for ConnectError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.source
            .as_deref()
            .map(|source| source as &(dyn std::error::Error + 'static))
    }
}
