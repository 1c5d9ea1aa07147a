//! A real Redis Cluster for tests: three primaries with one replica each, every node a
//! `redis-server --cluster-enabled yes` on ephemeral loopback ports (client and cluster-bus port
//! both chosen free), joined by `redis-cli --cluster create`, killed on drop. Nodes can be
//! SIGKILLed to force a failover, and slots moved with `redis-cli --cluster reshard`.

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::redis_server::free_port;

/// How long a node may be unreachable before the cluster fails it over: short, to keep the
/// failover tests fast.
pub const NODE_TIMEOUT: Duration = Duration::from_millis(1500);

const INSTALL: &str =
    "apt-get install -y redis-server redis-tools (the project's .ci/run does this)";

/// A running cluster owned by the test.
#[derive(Debug)]
pub struct RedisCluster {
    nodes: Vec<Node>,
    dir: PathBuf,
}

#[derive(Debug)]
struct Node {
    port: u16,
    child: Option<Child>,
}

/// One line of `CLUSTER NODES`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodeInfo {
    /// The node's id.
    pub id: String,
    /// Its client port on 127.0.0.1.
    pub port: u16,
    /// Whether it is a primary (`master` flag).
    pub primary: bool,
    /// Whether the cluster marks it failed (`fail` or `fail?`).
    pub failed: bool,
    /// The slot ranges it serves, inclusive.
    pub slots: Vec<(u16, u16)>,
}

impl RedisCluster {
    /// Starts six nodes and joins them as three primaries with one replica each, then waits
    /// until every node reports `cluster_state:ok` and every replica is in sync. Panics, with
    /// install instructions, when `redis-server` or `redis-cli` is missing: the tests never skip.
    pub fn start() -> Self {
        crate::require_tool("redis-server", INSTALL);
        crate::require_tool("redis-cli", INSTALL);
        let dir = std::env::temp_dir().join(format!(
            "rxscale-webhooks-cluster-{}-{}",
            std::process::id(),
            free_port()
        ));
        std::fs::create_dir_all(&dir).expect("create the cluster's directory");
        let mut cluster = RedisCluster {
            nodes: Vec::new(),
            dir,
        };
        for _ in 0..6 {
            let node = cluster.spawn_ready_node();
            cluster.nodes.push(node);
        }
        let addresses: Vec<String> = cluster
            .nodes
            .iter()
            .map(|node| format!("127.0.0.1:{}", node.port))
            .collect();
        let output = Command::new("redis-cli")
            .arg("--cluster")
            .arg("create")
            .args(&addresses)
            .args(["--cluster-replicas", "1", "--cluster-yes"])
            .stdin(Stdio::null())
            .output()
            .expect("run redis-cli --cluster create");
        assert!(
            output.status.success(),
            "redis-cli --cluster create failed: {}",
            String::from_utf8_lossy(&output.stdout)
        );
        cluster.wait_until_healthy(Duration::from_secs(30));
        cluster
    }

    /// Starts one node on fresh ports and waits until it answers PING. A port that was free a
    /// moment ago may have been taken by a parallel test since: redis-server then exits at once,
    /// and the node is started again on other ports, up to five times.
    fn spawn_ready_node(&self) -> Node {
        const ATTEMPTS: u32 = 5;
        for attempt in 1..=ATTEMPTS {
            let port = free_port();
            let mut child = self.spawn_node(port);
            let deadline = Instant::now() + Duration::from_secs(30);
            loop {
                if cli(port, &["PING"]).is_some_and(|out| out.trim() == "PONG") {
                    return Node {
                        port,
                        child: Some(child),
                    };
                }
                if let Ok(Some(status)) = child.try_wait() {
                    eprintln!(
                        "redis-server on port {port} exited ({status}) on attempt {attempt} of \
                         {ATTEMPTS}: {}",
                        self.node_log_tail(port)
                    );
                    break;
                }
                if Instant::now() >= deadline {
                    let _ = child.kill();
                    let _ = child.wait();
                    panic!(
                        "timed out after 30s waiting until the cluster node on port {port} \
                         answers PING: {}",
                        self.node_log_tail(port)
                    );
                }
                std::thread::sleep(Duration::from_millis(50));
            }
        }
        panic!("no cluster node could start in {ATTEMPTS} attempts: ports kept being taken");
    }

    fn node_log_tail(&self, port: u16) -> String {
        let log = std::fs::read_to_string(self.dir.join(port.to_string()).join("redis.log"))
            .unwrap_or_default();
        let lines: Vec<&str> = log.lines().collect();
        lines[lines.len().saturating_sub(5)..].join(" | ")
    }

    fn spawn_node(&self, port: u16) -> Child {
        // The cluster bus gets a free port of its own rather than the default port + 10000,
        // which may be taken (or above 65535).
        let bus_port = free_port().to_string();
        let node_dir = self.dir.join(port.to_string());
        std::fs::create_dir_all(&node_dir).expect("create a node's directory");
        let timeout = NODE_TIMEOUT.as_millis().to_string();
        Command::new("redis-server")
            .args(["--port", &port.to_string(), "--cluster-port", &bus_port])
            .args(["--bind", "127.0.0.1", "--protected-mode", "yes"])
            .args([
                "--cluster-enabled",
                "yes",
                "--cluster-node-timeout",
                &timeout,
            ])
            .args(["--cluster-config-file", "nodes.conf"])
            .args(["--dir", &node_dir.display().to_string()])
            .args(["--logfile", &node_dir.join("redis.log").display().to_string()])
            .args(["--save", "", "--appendonly", "no", "--daemonize", "no"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("failed to spawn redis-server")
    }

    /// Every node's URL, comma-separated: what `RXSCALE_REDIS_URL` holds for a cluster.
    pub fn urls(&self) -> String {
        self.nodes
            .iter()
            .map(|node| format!("redis://127.0.0.1:{}", node.port))
            .collect::<Vec<_>>()
            .join(",")
    }

    /// The nodes as one live node sees them.
    pub fn nodes(&self) -> Vec<NodeInfo> {
        let port = self.live_port();
        let out = cli(port, &["CLUSTER", "NODES"]).expect("CLUSTER NODES answers");
        out.lines().filter_map(parse_node_line).collect()
    }

    /// The live primaries, in slot order.
    pub fn primaries(&self) -> Vec<NodeInfo> {
        let mut primaries: Vec<NodeInfo> = self
            .nodes()
            .into_iter()
            .filter(|node| node.primary && !node.failed && !node.slots.is_empty())
            .collect();
        primaries.sort_by_key(|node| node.slots[0].0);
        primaries
    }

    /// Runs a command on the node at `port` through `redis-cli`, outside the code under test.
    pub fn command(&self, port: u16, args: &[&str]) -> String {
        cli(port, args).unwrap_or_else(|| panic!("redis-cli on port {port} failed: {args:?}"))
    }

    /// The slot of `key`, as the cluster computes it.
    pub fn keyslot(&self, key: &str) -> u16 {
        self.command(self.live_port(), &["CLUSTER", "KEYSLOT", key])
            .trim()
            .parse()
            .expect("CLUSTER KEYSLOT answers a number")
    }

    /// Every key on the live primaries (fine for the few thousand keys of a test).
    pub fn keys(&self) -> Vec<String> {
        let mut keys = Vec::new();
        for primary in self.primaries() {
            let out = self.command(primary.port, &["--scan"]);
            keys.extend(out.lines().map(str::to_owned));
        }
        keys
    }

    /// SIGKILLs the node at `port`, as a crash would.
    pub fn kill(&mut self, port: u16) {
        let node = self
            .nodes
            .iter_mut()
            .find(|node| node.port == port)
            .expect("a node of this cluster");
        if let Some(mut child) = node.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Waits until every live node reports `cluster_state:ok` with all 16384 slots served by
    /// live primaries, and every live replica's link to its primary is up.
    pub fn wait_until_healthy(&self, within: Duration) {
        wait_for(within, "the cluster is healthy", || {
            self.live_ports().iter().all(|&port| {
                let Some(info) = cli(port, &["CLUSTER", "INFO"]) else {
                    return false;
                };
                if !(info.contains("cluster_state:ok") && info.contains("cluster_slots_ok:16384")) {
                    return false;
                }
                let Some(replication) = cli(port, &["INFO", "replication"]) else {
                    return false;
                };
                !replication.contains("role:slave") || replication.contains("master_link_status:up")
            })
        });
    }

    /// Moves `slots` slots from the primary `from` to the primary `to` (node ids) with
    /// `redis-cli --cluster reshard`, keys included. Blocks until done.
    pub fn reshard(&self, from: &str, to: &str, slots: u32) {
        let output = Command::new("redis-cli")
            .args(["--cluster", "reshard"])
            .arg(format!("127.0.0.1:{}", self.live_port()))
            .args(["--cluster-from", from, "--cluster-to", to])
            .args(["--cluster-slots", &slots.to_string()])
            .args(["--cluster-yes", "--cluster-pipeline", "10"])
            .stdin(Stdio::null())
            .output()
            .expect("run redis-cli --cluster reshard");
        assert!(
            output.status.success(),
            "redis-cli --cluster reshard failed: {}{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
    }

    fn live_ports(&self) -> Vec<u16> {
        self.nodes
            .iter()
            .filter(|node| node.child.is_some())
            .map(|node| node.port)
            .collect()
    }

    fn live_port(&self) -> u16 {
        self.live_ports()[0]
    }
}

impl Drop for RedisCluster {
    fn drop(&mut self) {
        for node in &mut self.nodes {
            if let Some(mut child) = node.child.take() {
                let _ = child.kill();
                let _ = child.wait();
            }
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn cli(port: u16, args: &[&str]) -> Option<String> {
    let output = Command::new("redis-cli")
        .args(["-h", "127.0.0.1", "-p", &port.to_string()])
        .args(args)
        .stdin(Stdio::null())
        .stderr(Stdio::null())
        .output()
        .ok()?;
    output
        .status
        .success()
        .then(|| String::from_utf8_lossy(&output.stdout).into_owned())
        .filter(|out| !out.starts_with("Could not connect") && !out.starts_with("ERR"))
}

fn parse_node_line(line: &str) -> Option<NodeInfo> {
    let fields: Vec<&str> = line.split_whitespace().collect();
    let [id, address, flags, ..] = fields.as_slice() else {
        return None;
    };
    let port = address
        .split(['@', ','])
        .next()?
        .rsplit(':')
        .next()?
        .parse()
        .ok()?;
    let slots = fields
        .get(8..)
        .unwrap_or_default()
        .iter()
        .filter(|field| !field.starts_with('['))
        .filter_map(|field| match field.split_once('-') {
            Some((start, end)) => Some((start.parse().ok()?, end.parse().ok()?)),
            None => field.parse().ok().map(|slot| (slot, slot)),
        })
        .collect();
    Some(NodeInfo {
        id: (*id).to_owned(),
        port,
        primary: flags.contains("master"),
        failed: flags.contains("fail"),
        slots,
    })
}

fn wait_for(within: Duration, what: &str, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + within;
    while !done() {
        assert!(
            Instant::now() < deadline,
            "timed out after {within:?} waiting until {what}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}
