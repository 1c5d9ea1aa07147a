//! The soak's Redis: the tests' `redis-server` launcher **with AOF persistence**
//! ([`RedisServer::start_persistent_in`]: a Redis that forgot every completed key on restart
//! would reopen replay for all of them, a different fault from the outage the soak injects); or,
//! with `--cluster`, a real Redis Cluster whose fault is a primary SIGKILLed and failed over.

use std::path::Path;
use std::time::Duration;

use rxscale_webhooks_tests::redis_cluster::RedisCluster;
use rxscale_webhooks_tests::redis_server::RedisServer;

use crate::BoxError;

/// The soak's store: the persistent single Redis, or (`--cluster`) a real Redis Cluster of 3
/// primaries with 1 replica each (the tests' harness, `tests/src/redis_cluster.rs`).
pub(crate) enum Store {
    Single(RedisServer),
    Cluster {
        cluster: RedisCluster,
        /// The primaries at the start, in slot order: each still has its replica until killed.
        original_primaries: Vec<u16>,
        killed: usize,
    },
}

impl Store {
    pub(crate) fn start(dir: &Path, cluster: bool) -> Result<Self, BoxError> {
        if !cluster {
            return Ok(Store::Single(RedisServer::start_persistent_in(dir)));
        }
        let cluster = RedisCluster::start();
        let original_primaries = cluster.primaries().iter().map(|node| node.port).collect();
        Ok(Store::Cluster {
            cluster,
            original_primaries,
            killed: 0,
        })
    }

    /// What `RXSCALE_REDIS_URL` holds: one URL, or the cluster's node URLs comma-separated.
    pub(crate) fn url(&self) -> String {
        match self {
            Store::Single(redis) => redis.url(),
            Store::Cluster { cluster, .. } => cluster.urls(),
        }
    }

    pub(crate) fn is_cluster(&self) -> bool {
        matches!(self, Store::Cluster { .. })
    }

    /// The keys the store holds (`DBSIZE`, or the keys of every live primary).
    pub(crate) fn key_count(&self) -> Option<u64> {
        match self {
            Store::Single(redis) => redis.dbsize(),
            Store::Cluster { cluster, .. } => u64::try_from(cluster.keys().len()).ok(),
        }
    }

    /// SIGKILLs the next original primary that still has its replica; returns its port.
    pub(crate) fn kill_primary(&mut self) -> Result<u16, BoxError> {
        let Store::Cluster {
            cluster,
            original_primaries,
            killed,
        } = self
        else {
            return Err("kill_primary on a single Redis".into());
        };
        let port = *original_primaries
            .get(*killed)
            .ok_or("no primary with a replica left to kill")?;
        cluster.kill(port);
        *killed += 1;
        Ok(port)
    }

    /// Waits until the cluster serves every slot from a live primary again (a replica was
    /// promoted) and every live replica is in sync; panics after `within`.
    pub(crate) fn wait_until_healthy(&self, within: Duration) {
        if let Store::Cluster { cluster, .. } = self {
            cluster.wait_until_healthy(within);
        }
    }
}

impl Store {
    /// SIGKILLs the single Redis (the cluster's fault is [`Store::kill_primary`]).
    pub(crate) fn kill_single(&mut self) -> Result<(), BoxError> {
        match self {
            Store::Single(redis) => {
                redis.stop();
                Ok(())
            }
            Store::Cluster { .. } => Err("a Redis outage is a primary kill on a cluster".into()),
        }
    }

    /// Starts the single Redis again on its port and directory.
    pub(crate) fn restart(&mut self) -> Result<(), BoxError> {
        match self {
            Store::Single(redis) => {
                redis.restart();
                Ok(())
            }
            Store::Cluster { .. } => Err("a cluster node is not restarted".into()),
        }
    }
}
