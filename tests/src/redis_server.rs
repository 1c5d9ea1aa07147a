//! A real `redis-server` for tests: spawned on an ephemeral loopback port, without persistence
//! unless asked for, and killed on drop. It can be stopped and started again on the same port to
//! test recovery.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A running `redis-server` owned by the test.
#[derive(Debug)]
pub struct RedisServer {
    port: u16,
    child: Option<Child>,
    /// The AOF directory of a persistent server.
    data_dir: Option<PathBuf>,
}

impl RedisServer {
    /// Starts a fresh server. Panics, with install instructions, when `redis-server` is missing:
    /// the tests never skip.
    pub fn start() -> Self {
        RedisServer::start_with(None)
    }

    /// Starts a server that keeps what it acknowledged across [`restart`](Self::restart): AOF
    /// with `appendfsync always`, as docs/scaling-out.md recommends, in a fresh directory.
    pub fn start_persistent() -> Self {
        let dir = std::env::temp_dir().join(format!(
            "rxscale-webhooks-redis-{}-{}",
            std::process::id(),
            free_port()
        ));
        std::fs::create_dir_all(&dir).expect("create the redis data directory");
        RedisServer::start_with(Some(dir))
    }

    /// Like [`start_persistent`](Self::start_persistent), with the AOF in `dir` (created if
    /// missing, removed on drop): for the soak, which keeps its Redis next to its logs.
    ///
    /// A Redis that restarts empty forgets every completed key and reopens replay for all of
    /// them; a deployment that relies on the replay guard keeps what Redis acknowledged, so a
    /// crash test should too. `appendfsync always` makes every reply follow its write to the AOF:
    /// with `everysec`, Redis may postpone the write by up to 2 s while a background fsync is
    /// slow, and still reply (an early soak run saw an acknowledged claim vanish after a SIGKILL).
    pub fn start_persistent_in(dir: &Path) -> Self {
        std::fs::create_dir_all(dir).expect("create the redis data directory");
        RedisServer::start_with(Some(dir.to_owned()))
    }

    fn start_with(data_dir: Option<PathBuf>) -> Self {
        crate::require_tool(
            "redis-server",
            "apt-get install -y redis-server (tests/run.sh does this)",
        );
        let port = free_port();
        let mut server = RedisServer {
            port,
            child: None,
            data_dir,
        };
        server.restart();
        server
    }

    /// `redis://127.0.0.1:{port}/0`.
    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}/0", self.port)
    }

    /// The server's address.
    pub fn addr(&self) -> SocketAddr {
        SocketAddr::from(([127, 0, 0, 1], self.port))
    }

    /// Kills the server (as a crash would) and waits until the port refuses connections.
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
        let deadline = Instant::now() + Duration::from_secs(5);
        while TcpStream::connect(self.addr()).is_ok() {
            assert!(Instant::now() < deadline, "redis-server did not stop");
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Starts the server again on the same port, and waits until it answers PING. It comes back
    /// empty, unless it was started with [`start_persistent`](Self::start_persistent).
    pub fn restart(&mut self) {
        self.stop();
        let port = self.port.to_string();
        let mut args = vec![
            "--port",
            &port,
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--daemonize",
            "no",
            "--protected-mode",
            "yes",
        ];
        let dir;
        match &self.data_dir {
            Some(data_dir) => {
                dir = data_dir.display().to_string();
                args.extend([
                    "--appendonly",
                    "yes",
                    "--appendfsync",
                    "always",
                    "--dir",
                    &dir,
                ]);
            }
            None => args.extend(["--appendonly", "no"]),
        }
        let child = Command::new("redis-server")
            .args(&args)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("failed to spawn redis-server");
        self.child = Some(child);
        // A persistent server replays its AOF before it answers PING (`-LOADING` until then).
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if ping(self.addr()) {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "redis-server did not answer PING on port {}",
                self.port
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// The number of keys (`DBSIZE` over a raw connection), or `None` when the server does not
    /// answer.
    pub fn dbsize(&self) -> Option<u64> {
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

    /// Runs one command over a raw connection and returns the raw RESP reply, for assertions
    /// that should not go through the code under test.
    pub fn raw_command(&self, parts: &[&str]) -> String {
        let mut stream = TcpStream::connect(self.addr()).expect("connect to redis-server");
        stream
            .set_read_timeout(Some(Duration::from_secs(2)))
            .expect("set timeout");
        let mut request = format!("*{}\r\n", parts.len());
        for part in parts {
            request.push_str(&format!("${}\r\n{part}\r\n", part.len()));
        }
        stream.write_all(request.as_bytes()).expect("write");
        let mut buf = [0u8; 4096];
        let n = stream.read(&mut buf).expect("read");
        String::from_utf8_lossy(&buf[..n]).into_owned()
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
        if let Some(dir) = &self.data_dir {
            let _ = std::fs::remove_dir_all(dir);
        }
    }
}

fn ping(addr: SocketAddr) -> bool {
    let Ok(mut stream) = TcpStream::connect_timeout(&addr, Duration::from_millis(200)) else {
        return false;
    };
    let _ = stream.set_read_timeout(Some(Duration::from_millis(500)));
    if stream.write_all(b"PING\r\n").is_err() {
        return false;
    }
    let mut buf = [0u8; 16];
    matches!(stream.read(&mut buf), Ok(n) if buf[..n].starts_with(b"+PONG"))
}

/// A port that was free a moment ago on 127.0.0.1.
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .map(|addr| addr.port())
        .expect("bind an ephemeral port")
}
