//! `cargo run -p examples --example actix_receiver` behaves as its documentation says, shares
//! its claims through Redis with `axum_receiver`, and answers every case of the shared table
//! like `axum_receiver`, handler calls included: the real binaries, real HTTP on loopback, their
//! stdout read line by line.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, mpsc};
use std::time::Duration;

use rxscale_webhooks::testing::fixture_at;
use rxscale_webhooks::{EventType, OffsetDateTime, Verified, Verifier, sign};
use rxscale_webhooks_tests::matrix::{Observation, Target, case_names, observe_matrix};
use rxscale_webhooks_tests::receiver;
use rxscale_webhooks_tests::redis_server::RedisServer;
use rxscale_webhooks_tests::{TEST_SECRET, example_binary, test_secret};

const LINE_TIMEOUT: Duration = Duration::from_secs(20);
const PATH: &str = "/webhooks/rxscale";

fn command(binary: &PathBuf) -> Command {
    let mut command = Command::new(binary);
    command
        .env_remove("RXSCALE_WEBHOOK_SECRET")
        .env_remove("HOST")
        .env_remove("PORT")
        .env_remove("RXSCALE_REDIS_URL")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    command
}

/// A running example: its address, and its stdout lines as they come, read on a thread of
/// their own so that a line is counted as soon as it is written.
struct Running {
    child: Child,
    addr: SocketAddr,
    lines: mpsc::Receiver<String>,
    printed: Arc<Mutex<Vec<String>>>,
    count: Arc<AtomicUsize>,
}

impl Running {
    fn start(binary: &PathBuf) -> Running {
        Running::start_with(binary, None)
    }

    /// Like [`Running::start`], sharing its claims through Redis when `redis_url` is given.
    fn start_with(binary: &PathBuf, redis_url: Option<&str>) -> Running {
        let mut command = command(binary);
        command
            .env("RXSCALE_WEBHOOK_SECRET", TEST_SECRET)
            .env("PORT", "0");
        if let Some(url) = redis_url {
            command.env("RXSCALE_REDIS_URL", url);
        }
        let mut child = command.spawn().unwrap();
        let stderr = child.stderr.take().unwrap();
        let (banner_tx, banner_rx) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                let _ = banner_tx.send(line);
            }
        });
        let banner = banner_rx
            .recv_timeout(LINE_TIMEOUT)
            .expect("the example says where it listens, in time");
        let addr: SocketAddr = banner
            .strip_prefix("listening on http://")
            .and_then(|rest| rest.strip_suffix(PATH))
            .unwrap_or_else(|| panic!("unexpected banner: {banner}"))
            .parse()
            .unwrap();
        assert!(
            addr.ip().is_loopback(),
            "binds 127.0.0.1 unless HOST is set"
        );

        let stdout = child.stdout.take().unwrap();
        let (lines_tx, lines) = mpsc::channel();
        let printed = Arc::new(Mutex::new(Vec::new()));
        let count = Arc::new(AtomicUsize::new(0));
        let (record, counter) = (printed.clone(), count.clone());
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                record.lock().unwrap().push(line.clone());
                counter.fetch_add(1, Ordering::SeqCst);
                let _ = lines_tx.send(line);
            }
        });
        Running {
            child,
            addr,
            lines,
            printed,
            count,
        }
    }

    fn next_line(&self) -> String {
        self.lines
            .recv_timeout(LINE_TIMEOUT)
            .expect("a line on stdout in time")
    }

    fn target(&self) -> Target {
        Target {
            addr: self.addr,
            path: PATH.to_owned(),
            handler_calls: self.count.clone(),
        }
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `body` as the examples verify it: with the default 72-hour window, recent timestamps pass.
fn as_verified(body: &str) -> Verified {
    let verifier = Verifier::builder().secret(test_secret()).build().unwrap();
    verifier.verify(body, sign(&test_secret(), body)).unwrap()
}

/// The line the examples print for an event they handled.
fn expected_line(body: &str) -> String {
    let verified = as_verified(body);
    format!(
        r#"{{"handled":"{}","key":"{}"}}"#,
        verified.event_type(),
        verified.dedup_key()
    )
}

/// Runs the example to its end: it must fail, print nothing on stdout and one line on stderr
/// naming `variable`.
fn fails_naming(variable: &str, command: &mut Command) {
    let output = command.output().unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8(output.stderr).unwrap();
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(stderr.contains(variable), "{stderr}");
    assert!(output.stdout.is_empty());
}

async fn deliver(addr: SocketAddr, body: &str, signature: &str) -> u16 {
    reqwest::Client::new()
        .post(format!("http://{addr}{PATH}"))
        .header("content-type", "application/json")
        .header("x-webhook-signature", signature)
        .body(body.to_owned())
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn actix_receiver_behaves_as_documented() {
    let binary = example_binary("actix_receiver");

    // Without the secret, or with a PORT that is not a port: one line naming the variable.
    fails_naming("RXSCALE_WEBHOOK_SECRET", &mut command(&binary));
    fails_naming(
        "PORT",
        command(&binary)
            .env("RXSCALE_WEBHOOK_SECRET", TEST_SECRET)
            .env("PORT", "http"),
    );

    let mut running = Running::start(&binary);
    let now = OffsetDateTime::now_utc().unix_timestamp();
    let unknown = format!(
        r#"{{"event_type":"rxscale_setup_test","timestamp":{now},"payload_version":"1","data":{{"uid":"setup-1"}}}}"#
    );
    let mut bodies: Vec<String> = EventType::ALL
        .iter()
        .map(|&event_type| fixture_at(event_type, now))
        .collect();
    bodies.push(unknown);

    for body in &bodies {
        // A rejected delivery first: it must print nothing.
        assert_eq!(deliver(running.addr, body, &"0".repeat(64)).await, 401);
        assert_eq!(
            deliver(running.addr, body, &sign(&test_secret(), body)).await,
            200
        );
        assert_eq!(running.next_line(), expected_line(body));
    }

    // GET on the webhook path is the framework's 405, not a verification failure.
    let get = reqwest::get(format!("http://{}{PATH}", running.addr))
        .await
        .unwrap();
    assert_eq!(get.status(), 405);

    running.child.kill().unwrap();
    running.child.wait().unwrap();
    std::thread::sleep(Duration::from_millis(200));
    // Nothing else was printed: every line on stdout was one handled event.
    assert_eq!(running.printed.lock().unwrap().len(), bodies.len());
}

/// Claims live in Redis when `RXSCALE_REDIS_URL` is set, in the same keys as `axum_receiver`'s:
/// an event one of them handled is a marked duplicate for the other.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn actix_receiver_shares_its_claims_through_redis_even_with_axum_receiver() {
    let binary = example_binary("actix_receiver");

    // An unreachable Redis: one line naming the variable, and a failing exit.
    let closed_port = rxscale_webhooks_tests::redis_server::free_port();
    let unreachable = format!("redis://127.0.0.1:{closed_port}/0");
    fails_naming(
        "RXSCALE_REDIS_URL",
        command(&binary)
            .env("RXSCALE_WEBHOOK_SECRET", TEST_SECRET)
            .env("RXSCALE_REDIS_URL", unreachable),
    );

    let redis = RedisServer::start();
    let actix = Running::start_with(&binary, Some(&redis.url()));
    let axum = Running::start_with(&example_binary("axum_receiver"), Some(&redis.url()));
    let client = receiver::client();
    let now = OffsetDateTime::now_utc().unix_timestamp();
    for (i, &event_type) in EventType::ALL.iter().enumerate() {
        let (first, second) = if i % 2 == 0 {
            (&actix, &axum)
        } else {
            (&axum, &actix)
        };
        let body = fixture_at(event_type, now);
        receiver::deliver(&client, first.addr, &body)
            .await
            .assert_processed();
        assert_eq!(first.next_line(), expected_line(&body));
        receiver::deliver(&client, second.addr, &body)
            .await
            .assert_duplicate();
    }

    std::thread::sleep(Duration::from_millis(200));
    let printed = |running: &Running| running.printed.lock().unwrap().len();
    assert_eq!(
        printed(&actix) + printed(&axum),
        EventType::ALL.len(),
        "each event was handled once, by one of them"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn actix_receiver_answers_every_shared_case_like_axum_receiver() {
    let actix = Running::start(&example_binary("actix_receiver"));
    let axum = Running::start(&example_binary("axum_receiver"));
    let (actix_target, axum_target) = (actix.target(), axum.target());
    let started = OffsetDateTime::now_utc().unix_timestamp();
    let (by_actix, by_axum) =
        tokio::join!(observe_matrix(&actix_target), observe_matrix(&axum_target));
    assert_eq!(by_actix.len(), case_names().len());
    assert_eq!(by_actix.len(), by_axum.len());
    // Every case ended with a genuine delivery that was answered 200.
    assert!(by_actix.iter().all(|seen| seen.still_serving));
    assert!(by_axum.iter().all(|seen| seen.still_serving));

    // Both run a replay guard, so both handle each event once: a case that repeats an event an
    // earlier case had handled is a duplicate on both, and the handler counts of every case
    // must agree too. They are taken from the order of the lines on stdout, not from when the
    // reading thread saw them.
    let with_counts = |observations: Vec<Observation>, running: &Running| {
        let counts = handled_per_case(running, observations.len(), started);
        observations
            .into_iter()
            .zip(counts)
            .map(|(seen, handler_calls)| Observation {
                handler_calls,
                ..seen
            })
            .collect::<Vec<_>>()
    };
    let by_actix = with_counts(by_actix, &actix);
    let by_axum = with_counts(by_axum, &axum);
    let disagreements: Vec<_> = by_actix
        .iter()
        .zip(&by_axum)
        .filter(|(a, b)| a != b)
        .map(|(a, b)| format!("  actix_receiver: {a:?}\n  axum_receiver:  {b:?}"))
        .collect();
    assert!(
        disagreements.is_empty(),
        "actix_receiver and axum_receiver disagree:\n{}",
        disagreements.join("\n")
    );
    let handled: usize = by_actix.iter().map(|seen| seen.handler_calls).sum();
    assert!(
        handled > 0,
        "some cases are genuine deliveries: {by_actix:?}"
    );
}

/// How many events each case of the matrix had handled, from the order of `running`'s stdout.
///
/// The matrix closes every case with a genuine delivery of a new event: the stock update at the
/// matrix's start time minus the case's index. Its line therefore ends the case's own lines.
/// The start time is a second at or after `started`: the latest one whose stock update was
/// handled, since no case sends one from the future of the matrix.
fn handled_per_case(running: &Running, cases: usize, started: i64) -> Vec<usize> {
    let closing_key = |at: i64| {
        let body = fixture_at(EventType::PharmacySkuStockUpdated, at);
        as_verified(&body).dedup_key().to_string()
    };
    let keys = || -> Vec<String> {
        running
            .printed
            .lock()
            .unwrap()
            .iter()
            .map(|line| {
                let line: serde_json::Value = serde_json::from_str(line).unwrap();
                line["key"].as_str().unwrap().to_owned()
            })
            .collect()
    };
    // Lines may still be on their way through the pipe: wait, bounded, for the last case's.
    let deadline = std::time::Instant::now() + LINE_TIMEOUT;
    let (printed, closing) = loop {
        let printed = keys();
        let matrix_start = (started..=started + 10)
            .rev()
            .find(|at| printed.contains(&closing_key(*at)));
        if let Some(matrix_start) = matrix_start {
            let last = i64::try_from(cases).unwrap() - 1;
            let closing: Vec<String> = (0..=last).map(|i| closing_key(matrix_start - i)).collect();
            if closing.iter().all(|key| printed.contains(key)) {
                break (printed, closing);
            }
        }
        assert!(
            std::time::Instant::now() < deadline,
            "not every case's closing delivery was printed: {printed:?}"
        );
        std::thread::sleep(Duration::from_millis(50));
    };
    let mut counts = Vec::with_capacity(cases);
    let mut in_case = 0;
    for key in &printed {
        if counts.len() < cases && *key == closing[counts.len()] {
            counts.push(in_case);
            in_case = 0;
        } else {
            in_case += 1;
        }
    }
    assert_eq!(
        counts.len(),
        cases,
        "closing lines out of order: {printed:?}"
    );
    assert_eq!(in_case, 0, "lines after the last case: {printed:?}");
    counts
}
