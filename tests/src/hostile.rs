//! The hostile-client suite's tools (tests/tests/hostile_*.rs): the example receivers as
//! shipped, started as child processes (optionally under `prlimit`), their peak memory read from
//! `/proc`, and raw HTTP/1.1 over loopback sockets, every read and write bounded in time.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::Stdio;
use std::time::{Duration, Instant};

use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;
use tokio::process::{Child, Command};

use crate::{TEST_SECRET, example_binary, require_tool};

/// How long any single step of a hostile test may take before the test fails.
pub const STEP: Duration = Duration::from_secs(20);

/// An example receiver, as shipped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Example {
    /// `examples/examples/axum_receiver.rs`: the tower layer behind `rxscale_webhooks_axum::serve`.
    Axum,
    /// `examples/examples/actix_receiver.rs`: the actix-web middleware.
    Actix,
    /// `examples/examples/pharmacy_receiver.rs`: the axum extractor, SQLite.
    Pharmacy,
    /// `examples/examples/rocket_receiver.rs`: the Rocket data guard and fairing.
    Rocket,
    /// `examples/examples/poem_receiver.rs`: the poem middleware.
    Poem,
    /// `examples/examples/salvo_receiver.rs`: the salvo hoop.
    Salvo,
}

impl Example {
    /// Every example.
    pub const ALL: &'static [Example] = &[
        Example::Axum,
        Example::Actix,
        Example::Pharmacy,
        Example::Rocket,
        Example::Poem,
        Example::Salvo,
    ];

    /// The example's name.
    pub fn name(self) -> &'static str {
        match self {
            Example::Axum => "axum_receiver",
            Example::Actix => "actix_receiver",
            Example::Pharmacy => "pharmacy_receiver",
            Example::Rocket => "rocket_receiver",
            Example::Poem => "poem_receiver",
            Example::Salvo => "salvo_receiver",
        }
    }
}

/// A phase of the hostile suite that an example's framework cannot bound the way the others
/// do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    /// A body trickled one byte at a time: 408 at the body-read deadline.
    TrickledBody,
    /// A request head sent in part, then nothing: closed at the header-read timeout.
    UnfinishedHead,
    /// A connection that sends nothing: closed at the header-read timeout.
    SilentConnection,
    /// `Expect: 100-continue` with a `Content-Length` over the limit: the 413 comes first.
    ExpectContinue,
    /// A flood of idle and slowloris sockets larger than the receiver's open-files limit (256):
    /// valid deliveries still answered within 1 s, because the receiver sheds idle connections.
    FloodAboveOpenFiles,
}

/// A documented deviation (docs/security.md, "Hostile clients"): on `example`, `phase` behaves
/// as `why` says, and the suite asserts that behaviour instead of the common one, so that a
/// framework release that closes the gap fails the test until the deviation is removed.
#[derive(Debug, Clone, Copy)]
pub struct Deviation {
    /// The example receiver.
    pub example: Example,
    /// The phase.
    pub phase: Phase,
    /// Why, in one line.
    pub why: &'static str,
}

/// How many bytes of a body Rocket reads before routing, with no deadline (its `_method` form
/// field check peeks `"_method=delete".len()` bytes): the data guard's body-read deadline
/// starts after them.
pub const ROCKET_PEEKED_BYTES: u32 = 14;

/// Every deviation of the hostile suite.
pub const DEVIATIONS: &[Deviation] = &[
    Deviation {
        example: Example::Actix,
        phase: Phase::FloodAboveOpenFiles,
        why: "actix-web cannot shed idle connections when it runs out of open files",
    },
    Deviation {
        example: Example::Rocket,
        phase: Phase::FloodAboveOpenFiles,
        why: "Rocket closes no connection that has not sent a whole request head",
    },
    Deviation {
        example: Example::Poem,
        phase: Phase::FloodAboveOpenFiles,
        why: "poem closes no connection that trickles its request head, and sheds none",
    },
    Deviation {
        example: Example::Salvo,
        phase: Phase::FloodAboveOpenFiles,
        why: "salvo sheds no idle connection at the open-files limit: a delivery waits for a \
              hostile one to reach the 2 s header timeout",
    },
    Deviation {
        example: Example::Rocket,
        phase: Phase::TrickledBody,
        why: "Rocket reads the first 14 bytes of every body before routing, with no deadline; \
              the guard's deadline starts after them",
    },
    Deviation {
        example: Example::Rocket,
        phase: Phase::UnfinishedHead,
        why: "Rocket 0.5 turns hyper's header-read timeout off and offers none of its own",
    },
    Deviation {
        example: Example::Rocket,
        phase: Phase::SilentConnection,
        why: "Rocket 0.5 turns hyper's header-read timeout off and offers none of its own",
    },
    Deviation {
        example: Example::Rocket,
        phase: Phase::ExpectContinue,
        why: "Rocket reads the first 14 bytes of every body before routing, so hyper sends \
              100 Continue first; the 413 follows those bytes",
    },
    Deviation {
        example: Example::Poem,
        phase: Phase::UnfinishedHead,
        why: "poem has no header-read timeout, and its idle timeout shuts a connection down \
              gracefully, which waits for a request whose head has begun",
    },
];

impl Example {
    /// The documented deviation of this example in `phase`, if any.
    pub fn deviation(self, phase: Phase) -> Option<&'static Deviation> {
        DEVIATIONS
            .iter()
            .find(|deviation| deviation.example == self && deviation.phase == phase)
    }
}

/// A running example receiver; killed on drop.
pub struct Receiver {
    /// The child process.
    pub child: Child,
    /// Where it listens.
    pub addr: SocketAddr,
    _dir: Option<TempDir>,
}

/// A directory removed on drop (the pharmacy receiver's SQLite file).
struct TempDir(PathBuf);

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

impl Receiver {
    /// Builds and starts `example` with the test secret on an ephemeral port; with `nofile`,
    /// under `prlimit --nofile=N:N`.
    pub async fn start(example: Example, nofile: Option<u32>) -> Receiver {
        Receiver::start_with(example, nofile, &[]).await
    }

    /// Like [`Receiver::start`], with extra environment variables.
    pub async fn start_with(
        example: Example,
        nofile: Option<u32>,
        env: &[(&str, &str)],
    ) -> Receiver {
        let binary = example_binary(example.name());
        let mut command = match nofile {
            Some(limit) => {
                require_tool("prlimit", "apt-get install -y util-linux");
                let mut command = Command::new("prlimit");
                command
                    .arg(format!("--nofile={limit}:{limit}"))
                    .arg(&binary);
                command
            }
            None => Command::new(&binary),
        };
        command
            .env("RXSCALE_WEBHOOK_SECRET", TEST_SECRET)
            .env("PORT", "0")
            .env("RUST_LOG", "info")
            .env_remove("HOST")
            .env_remove("RXSCALE_REDIS_URL")
            .env_remove("RXSCALE_BODY_READ_TIMEOUT_MS")
            .envs(env.iter().copied())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .kill_on_drop(true);
        let dir = (example == Example::Pharmacy).then(|| {
            let dir = std::env::temp_dir().join(format!(
                "rxscale-hostile-{}-{}",
                std::process::id(),
                std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .map_or(0, |d| d.as_nanos())
            ));
            std::fs::create_dir_all(&dir).unwrap();
            command.env(
                "DATABASE_URL",
                format!("sqlite://{}?mode=rwc", dir.join("pharmacy.db").display()),
            );
            TempDir(dir)
        });
        let mut child = command.spawn().unwrap();
        let mut stderr = BufReader::new(child.stderr.take().unwrap()).lines();
        let addr = tokio::time::timeout(STEP, async {
            loop {
                let line = stderr
                    .next_line()
                    .await
                    .unwrap()
                    .unwrap_or_else(|| panic!("{} ended before listening", example.name()));
                if let Some(addr) = line
                    .strip_prefix("listening on http://")
                    .and_then(|rest| rest.strip_suffix("/webhooks/rxscale"))
                {
                    break addr.parse::<SocketAddr>().unwrap();
                }
            }
        })
        .await
        .expect("the example starts in time");
        // The examples log every rejection to stderr: keep reading it, so that their writes
        // never block on a full pipe.
        tokio::spawn(async move { while let Ok(Some(_)) = stderr.next_line().await {} });
        Receiver {
            child,
            addr,
            _dir: dir,
        }
    }

    /// The process's peak resident set size (`VmHWM`), in KiB.
    pub fn peak_rss_kib(&self) -> u64 {
        let pid = self.child.id().expect("the receiver runs");
        let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
        status
            .lines()
            .find_map(|line| line.strip_prefix("VmHWM:"))
            .and_then(|rest| rest.trim().strip_suffix("kB"))
            .and_then(|kib| kib.trim().parse().ok())
            .expect("VmHWM in /proc/<pid>/status")
    }

    /// How many file descriptors the process has open.
    pub fn open_files(&self) -> usize {
        let pid = self.child.id().expect("the receiver runs");
        std::fs::read_dir(format!("/proc/{pid}/fd")).map_or(0, Iterator::count)
    }
}

/// A signed, fresh `pharmacy_order_created` with a unique uid: (body, signature).
pub fn valid_delivery(n: u64) -> (String, String) {
    let now = rxscale_webhooks::OffsetDateTime::now_utc().unix_timestamp();
    let body = rxscale_webhooks::testing::fixture_at(
        rxscale_webhooks::EventType::PharmacyOrderCreated,
        now,
    )
    .replace("po-abc123", &format!("po-hostile-{n}-{now}"));
    let signature = rxscale_webhooks::sign(&crate::test_secret(), &body);
    (body, signature)
}

/// Delivers a valid event over a fresh connection; the status and how long the answer took.
pub async fn deliver_valid(addr: SocketAddr, n: u64) -> (u16, Duration) {
    let (status, _, elapsed) = deliver_valid_with_body(addr, n).await;
    (status, elapsed)
}

/// Like [`deliver_valid`], with the response body too: it tells the SDK's answers (a JSON
/// error) from a framework's own (actix-web's 408 has none).
async fn deliver_valid_with_body(addr: SocketAddr, n: u64) -> (u16, String, Duration) {
    let (body, signature) = valid_delivery(n);
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(0)
        .build()
        .unwrap();
    let started = Instant::now();
    let answer = tokio::time::timeout(STEP, async {
        let response = client
            .post(format!("http://{addr}/webhooks/rxscale"))
            .header("content-type", "application/json")
            .header("x-webhook-signature", signature)
            .body(body)
            .send()
            .await?;
        let status = response.status().as_u16();
        Ok::<_, reqwest::Error>((status, response.text().await?))
    })
    .await
    .expect("an answer in time")
    .expect("an answer");
    (answer.0, answer.1, started.elapsed())
}

/// Delivers a valid event after the receiver was put under load, to check it still serves:
/// the status and body of the answer.
///
/// actix-web answers a fresh connection 408 with an empty body, before reading its head, when
/// its worker was too busy to refresh the clock the head timer starts from: actix-http reads
/// "now" from a cache its worker refreshes every 500 ms, so after a busy stretch of more than
/// `client_request_timeout` (2 s in the example) a new connection's head deadline has already
/// passed (actix-web#1269). The SDK's own 408 (`body_read_timeout`) always has a body. RxScale
/// would retry such a 408, and so does this function, once, after the clock's refresh.
pub async fn deliver_valid_after_load(example: Example, addr: SocketAddr, n: u64) -> (u16, String) {
    let (status, body, _) = deliver_valid_with_body(addr, n).await;
    let stale_head_timeout = example == Example::Actix && status == 408 && body.is_empty();
    if !stale_head_timeout {
        return (status, body);
    }
    eprintln!("{example:?}: 408 from actix-web's head timer on a stale clock; retrying once");
    // The refresh period, 500 ms, plus margin.
    tokio::time::sleep(Duration::from_millis(600)).await;
    let (status, body, _) = deliver_valid_with_body(addr, n + 1).await;
    (status, body)
}

/// A request head for `POST /webhooks/rxscale` with a wrong (well-formed) signature and the
/// given extra header lines (each ending in `\r\n`).
pub fn head(extra: &str) -> String {
    format!(
        "POST /webhooks/rxscale HTTP/1.1\r\nhost: localhost\r\ncontent-type: application/json\r\n\
         x-webhook-signature: {}\r\n{extra}\r\n",
        "ab".repeat(32)
    )
}

/// `len` bytes as one-byte chunks (`1\r\nX\r\n` each), then the last chunk.
pub fn one_byte_chunks(len: usize) -> Vec<u8> {
    let mut body = b"1\r\nX\r\n".repeat(len);
    body.extend_from_slice(b"0\r\n\r\n");
    body
}

/// Reads one response head (status line and headers) within `limit`: the status, or `None`
/// when the connection closed first. `100 Continue` heads are returned like any other.
pub async fn read_status(stream: &mut TcpStream, limit: Duration) -> Option<u16> {
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    let read = tokio::time::timeout(limit, async {
        while !head.ends_with(b"\r\n\r\n") {
            match stream.read(&mut byte).await {
                Ok(1) => head.push(byte[0]),
                _ => return false,
            }
        }
        true
    })
    .await
    .expect("a response, or the connection closed, in time");
    if !read {
        return None;
    }
    let text = String::from_utf8_lossy(&head);
    text.split(' ')
        .nth(1)
        .and_then(|status| status.parse().ok())
}

/// Waits until the server closes `stream` (EOF or reset), reading and discarding whatever it
/// sends; how long it took, or `None` if it was still open after `limit`.
pub async fn closed_within(stream: &mut TcpStream, limit: Duration) -> Option<Duration> {
    let started = Instant::now();
    let mut buffer = [0u8; 4096];
    tokio::time::timeout(limit, async {
        loop {
            match stream.read(&mut buffer).await {
                Ok(0) | Err(_) => break,
                Ok(_) => {}
            }
        }
    })
    .await
    .ok()
    .map(|()| started.elapsed())
}

/// Connects, within [`STEP`].
pub async fn connect(addr: SocketAddr) -> TcpStream {
    tokio::time::timeout(STEP, TcpStream::connect(addr))
        .await
        .expect("connects in time")
        .expect("connects")
}

/// Writes all of `bytes`, within [`STEP`]; whether the server took them all.
pub async fn write_all(stream: &mut TcpStream, bytes: &[u8]) -> bool {
    tokio::time::timeout(STEP, stream.write_all(bytes))
        .await
        .expect("written in time")
        .is_ok()
}
