//! `cargo run -p examples --example actix_receiver` behaves as its documentation says, and like
//! `axum_receiver` on every case of the shared table: the real binaries, real HTTP on loopback,
//! their stdout read line by line.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, mpsc};
use std::time::Duration;

use rxscale_webhooks::testing::fixture_at;
use rxscale_webhooks::{EventType, OffsetDateTime, Verifier, sign};
use rxscale_webhooks_tests::matrix::{Observation, Target, case_names, observe_matrix};
use rxscale_webhooks_tests::{TEST_SECRET, test_secret};

const LINE_TIMEOUT: Duration = Duration::from_secs(20);
const PATH: &str = "/webhooks/rxscale";

/// Builds an example with the cargo that runs these tests and returns its executable.
fn example_binary(name: &str) -> PathBuf {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned());
    let workspace = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..");
    let output = Command::new(cargo)
        .current_dir(&workspace)
        .args(["build", "--quiet", "-p", "examples", "--example", name])
        .arg("--message-format=json-render-diagnostics")
        .stderr(Stdio::inherit())
        .output()
        .expect("cargo runs");
    assert!(output.status.success(), "building {name} failed");
    String::from_utf8(output.stdout)
        .unwrap()
        .lines()
        .filter_map(|line| serde_json::from_str::<serde_json::Value>(line).ok())
        .filter(|message| message["target"]["name"] == name)
        .find_map(|message| message["executable"].as_str().map(PathBuf::from))
        .expect("cargo reports the example's executable")
}

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
        let mut child = command(binary)
            .env("RXSCALE_WEBHOOK_SECRET", TEST_SECRET)
            .env("PORT", "0")
            .spawn()
            .unwrap();
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

    // Without the secret: one line naming the variable, and a failing exit.
    let output = command(&binary).output().unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8(output.stderr).unwrap();
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(stderr.contains("RXSCALE_WEBHOOK_SECRET"), "{stderr}");
    assert!(output.stdout.is_empty());

    // A PORT that is not a port: one line naming it.
    let output = command(&binary)
        .env("RXSCALE_WEBHOOK_SECRET", TEST_SECRET)
        .env("PORT", "http")
        .output()
        .unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8(output.stderr).unwrap();
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(stderr.contains("PORT"), "{stderr}");

    let mut running = Running::start(&binary);
    // The example's verifier uses the default 72-hour window: recent timestamps pass.
    let verifier = Verifier::builder().secret(test_secret()).build().unwrap();
    let now = OffsetDateTime::now_utc().unix_timestamp();
    let unknown = format!(
        r#"{{"event_type":"rxscale_setup_test","timestamp":{now},"payload_version":"1","data":{{"uid":"setup-1"}}}}"#
    );
    let mut bodies: Vec<String> = EventType::ALL
        .into_iter()
        .map(|event_type| fixture_at(event_type, now))
        .collect();
    bodies.push(unknown);

    for body in &bodies {
        // A rejected delivery first: it must print nothing.
        assert_eq!(deliver(running.addr, body, &"0".repeat(64)).await, 401);
        assert_eq!(
            deliver(running.addr, body, &sign(&test_secret(), body)).await,
            200
        );
        let expected = verifier.verify(body, sign(&test_secret(), body)).unwrap();
        assert_eq!(
            running.next_line(),
            format!(
                r#"{{"handled":"{}","key":"{}"}}"#,
                expected.event_type(),
                expected.dedup_key()
            )
        );
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn actix_receiver_answers_every_shared_case_like_axum_receiver() {
    let actix = Running::start(&example_binary("actix_receiver"));
    let axum = Running::start(&example_binary("axum_receiver"));
    let (actix_target, axum_target) = (actix.target(), axum.target());
    let (by_actix, by_axum) =
        tokio::join!(observe_matrix(&actix_target), observe_matrix(&axum_target));
    assert_eq!(by_actix.len(), case_names().len());
    assert_eq!(by_actix.len(), by_axum.len());
    // The handler calls of a case are counted from stdout, which a separate thread reads: a
    // line may be counted a moment after the answer. So the per-case counts are not compared;
    // the totals are, once everything has been read.
    let answer = |seen: &Observation| Observation {
        handler_calls: 0,
        ..seen.clone()
    };
    let disagreements: Vec<_> = by_actix
        .iter()
        .zip(&by_axum)
        .filter(|(a, b)| answer(a) != answer(b))
        .map(|(a, b)| format!("  actix_receiver: {a:?}\n  axum_receiver:  {b:?}"))
        .collect();
    assert!(
        disagreements.is_empty(),
        "actix_receiver and axum_receiver disagree:\n{}",
        disagreements.join("\n")
    );
    // Every case ended with a genuine delivery that was answered 200.
    assert!(by_actix.iter().all(|seen| seen.still_serving));

    // The same events were handled. `axum_receiver` runs a replay guard (issue 5), so it
    // handles each dedup key once where a receiver without one handles every redelivery: the
    // distinct keys are what both must agree on.
    std::thread::sleep(Duration::from_millis(500));
    let handled = |running: &Running| {
        let keys: BTreeMap<String, String> = running
            .printed
            .lock()
            .unwrap()
            .iter()
            .map(|line| {
                let line: serde_json::Value = serde_json::from_str(line).unwrap();
                let text = |field: &str| line[field].as_str().unwrap().to_owned();
                (text("key"), text("handled"))
            })
            .collect();
        let mut types: Vec<String> = keys.into_values().collect();
        types.sort();
        types
    };
    let (actix_handled, axum_handled) = (handled(&actix), handled(&axum));
    assert!(
        actix_handled.len() > case_names().len(),
        "{actix_handled:?}"
    );
    assert_eq!(actix_handled, axum_handled, "the same events were handled");
}
