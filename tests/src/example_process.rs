//! The example receivers as processes: spawned from the binaries `cargo run -p examples`
//! builds, their stdout read line by line on a thread of its own, so that each handled event is
//! counted as soon as its line is written. `actix_example.rs` and `lambda_emulator.rs` compare
//! them with `axum_receiver` case by case.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, mpsc};
use std::time::Duration;

use rxscale_webhooks::testing::fixture_at;
use rxscale_webhooks::{EventType, Verified, Verifier, sign};

use crate::matrix::{Observation, Target};
use crate::{TEST_SECRET, test_secret};

/// How long a test waits for a line from an example.
pub const LINE_TIMEOUT: Duration = Duration::from_secs(20);
/// The examples' webhook route.
pub const PATH: &str = "/webhooks/rxscale";

/// A command for the example `binary`, without any of the variables the examples read.
pub fn command(binary: &Path) -> Command {
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
pub struct Running {
    /// The example's process.
    pub child: Child,
    /// Where it answers.
    pub addr: SocketAddr,
    lines: mpsc::Receiver<String>,
    /// Every line it printed on stdout so far.
    pub printed: Arc<Mutex<Vec<String>>>,
    count: Arc<AtomicUsize>,
}

impl Running {
    /// Starts the example with the test secret on an ephemeral port; returns once it listens.
    pub fn start(binary: &Path) -> Running {
        Running::start_with(binary, None)
    }

    /// Like [`Running::start`], sharing its claims through Redis when `redis_url` is given.
    pub fn start_with(binary: &Path, redis_url: Option<&str>) -> Running {
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

        Running::reading(child, addr)
    }

    /// A started process whose stdout is piped, answering at `addr`: for an example that does not
    /// listen itself (`lambda_receiver`, behind the Lambda emulator).
    pub fn reading(mut child: Child, addr: SocketAddr) -> Running {
        let stdout = child.stdout.take().expect("the example's stdout is piped");
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

    /// The next line on its stdout; panics after [`LINE_TIMEOUT`].
    pub fn next_line(&self) -> String {
        self.lines
            .recv_timeout(LINE_TIMEOUT)
            .expect("a line on stdout in time")
    }

    /// Kills the example and returns the lines it printed that [`Running::next_line`] did not
    /// return, once its stdout has closed.
    pub fn stop(&mut self) -> Vec<String> {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let mut rest = Vec::new();
        // The reader thread drops its sender at the end of stdout, which ends this loop.
        while let Ok(line) = self.lines.recv_timeout(LINE_TIMEOUT) {
            rest.push(line);
        }
        rest
    }

    /// The matrix's view of it: its handler calls are its stdout lines.
    pub fn target(&self) -> Target {
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
pub fn as_verified(body: &str) -> Verified {
    let verifier = Verifier::builder().secret(test_secret()).build().unwrap();
    verifier.verify(body, sign(&test_secret(), body)).unwrap()
}

/// The line the examples print for an event they handled.
pub fn expected_line(body: &str) -> String {
    let verified = as_verified(body);
    format!(
        r#"{{"handled":"{}","key":"{}"}}"#,
        verified.event_type(),
        verified.dedup_key()
    )
}

/// Runs the example to its end: it must fail, print nothing on stdout and one line on stderr
/// naming `variable`.
pub fn fails_naming(variable: &str, command: &mut Command) {
    let output = command.output().unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8(output.stderr).unwrap();
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(stderr.contains(variable), "{stderr}");
    assert!(output.stdout.is_empty());
}

/// How many events each case of the matrix had handled, from the order of `running`'s stdout.
///
/// The matrix closes every case with a genuine delivery of a new event: the stock update at the
/// matrix's start time minus the case's index. Its line therefore ends the case's own lines.
/// The start time is a second at or after `started`: the latest one whose stock update was
/// handled, since no case sends one from the future of the matrix.
pub fn handled_per_case(running: &Running, cases: usize, started: i64) -> Vec<usize> {
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

/// `observations` with each case's handler calls taken from the order of `running`'s stdout
/// ([`handled_per_case`]) rather than from when the reading thread saw the lines.
pub fn with_counts(
    observations: Vec<Observation>,
    running: &Running,
    started: i64,
) -> Vec<Observation> {
    let counts = handled_per_case(running, observations.len(), started);
    observations
        .into_iter()
        .zip(counts)
        .map(|(seen, handler_calls)| Observation {
            handler_calls,
            ..seen
        })
        .collect()
}
