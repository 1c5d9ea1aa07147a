//! The soak's Redis: a real `redis-server` on a loopback port, **with AOF persistence**; or,
//! with `--cluster`, a real Redis Cluster whose fault is a primary SIGKILLed and failed over.
//!
//! The tests' `RedisServer` restarts empty, which is right for its tests but would make the
//! soak's outage a different fault: a Redis that forgets every completed key reopens replay for
//! all of them (docs/scaling-out.md, "Redis itself", says to enable AOF when that matters). A
//! production deployment that relies on the replay guard keeps what Redis acknowledged, so the
//! soak does too: `appendonly yes`, `appendfsync always`, so that every reply is preceded by
//! its write to the AOF. With `everysec`, Redis may postpone that write by up to 2 s while a
//! background fsync is slow, and still reply: an early soak run saw a claim acknowledged just
//! before the SIGKILL vanish after the restart.

use std::io::{Read as _, Write as _};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use rxscale_webhooks_tests::redis_cluster::RedisCluster;
use rxscale_webhooks_tests::redis_server::free_port;
use rxscale_webhooks_tests::require_tool;

use crate::BoxError;

pub(crate) struct PersistentRedis {
    port: u16,
    dir: PathBuf,
    child: Option<Child>,
}

impl PersistentRedis {
    pub(crate) fn start(dir: &Path) -> Result<Self, BoxError> {
        require_tool(
            "redis-server",
            "apt-get install -y redis-server (tests/bench/soak/run.sh does this)",
        );
        std::fs::create_dir_all(dir)?;
        let mut redis = PersistentRedis {
            port: free_port(),
            dir: dir.to_owned(),
            child: None,
        };
        redis.restart()?;
        Ok(redis)
    }

    pub(crate) fn url(&self) -> String {
        format!("redis://127.0.0.1:{}/0", self.port)
    }

    fn addr(&self) -> SocketAddr {
        SocketAddr::from(([127, 0, 0, 1], self.port))
    }

    /// SIGKILL, as a crash, then waits until the port refuses connections.
    pub(crate) fn kill(&mut self) -> Result<(), BoxError> {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
        let deadline = Instant::now() + Duration::from_secs(5);
        while TcpStream::connect(self.addr()).is_ok() {
            if Instant::now() > deadline {
                return Err("redis-server did not stop".into());
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        Ok(())
    }

    /// Starts the server on the same port and directory (so it reloads its AOF) and waits until
    /// it answers PING (not `-LOADING`).
    pub(crate) fn restart(&mut self) -> Result<(), BoxError> {
        self.kill()?;
        let child = Command::new("redis-server")
            .args(["--port", &self.port.to_string()])
            .args(["--bind", "127.0.0.1", "--protected-mode", "yes"])
            .args(["--daemonize", "no", "--save", ""])
            .args(["--appendonly", "yes", "--appendfsync", "always"])
            .args(["--maxmemory-policy", "noeviction"])
            .arg("--dir")
            .arg(&self.dir)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .map_err(|error| format!("spawn redis-server: {error}"))?;
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(20);
        while !self.ping() {
            if Instant::now() > deadline {
                return Err(format!("redis-server did not answer PING on {}", self.port).into());
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        Ok(())
    }

    fn ping(&self) -> bool {
        let Ok(mut stream) = TcpStream::connect_timeout(&self.addr(), Duration::from_millis(200))
        else {
            return false;
        };
        let _ = stream.set_read_timeout(Some(Duration::from_millis(500)));
        if stream.write_all(b"PING\r\n").is_err() {
            return false;
        }
        let mut buf = [0u8; 16];
        matches!(stream.read(&mut buf), Ok(n) if buf[..n].starts_with(b"+PONG"))
    }

    /// `DBSIZE`, over a raw connection.
    pub(crate) fn dbsize(&self) -> Option<u64> {
        let mut stream = TcpStream::connect_timeout(&self.addr(), Duration::from_secs(1)).ok()?;
        stream.set_read_timeout(Some(Duration::from_secs(2))).ok()?;
        stream.write_all(b"DBSIZE\r\n").ok()?;
        let mut buf = [0u8; 64];
        let n = stream.read(&mut buf).ok()?;
        std::str::from_utf8(&buf[..n])
            .ok()?
            .trim()
            .strip_prefix(':')?
            .parse()
            .ok()
    }
}

impl Drop for PersistentRedis {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// The soak's store: the persistent single Redis, or (`--cluster`) a real Redis Cluster of 3
/// primaries with 1 replica each (the tests' harness, `tests/src/redis_cluster.rs`).
pub(crate) enum Store {
    Single(PersistentRedis),
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
            return Ok(Store::Single(PersistentRedis::start(dir)?));
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
            Store::Single(redis) => redis.kill(),
            Store::Cluster { .. } => Err("a Redis outage is a primary kill on a cluster".into()),
        }
    }

    /// Starts the single Redis again on its port and directory.
    pub(crate) fn restart(&mut self) -> Result<(), BoxError> {
        match self {
            Store::Single(redis) => redis.restart(),
            Store::Cluster { .. } => Err("a cluster node is not restarted".into()),
        }
    }
}
