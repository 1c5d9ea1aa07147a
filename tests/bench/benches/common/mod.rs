//! What the benches share: an interleaved comparison for a noisy machine, the examples built
//! with the bench profile, and a bounded HTTP load driver on loopback.
//!
//! The comparison: each round runs one batch of every case back to back (in rotating order),
//! so that a burst of load from elsewhere hits all of them alike. The report is the median over
//! rounds of each case's time per operation, and the median over rounds of each case's ratio to
//! the first case (the baseline) within the same round.
#![allow(dead_code)] // each bench uses part of it

use std::path::PathBuf;
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use rxscale_webhooks::sign;
use rxscale_webhooks_tests::test_secret;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::Child;

/// A named case: runs `batch` operations and returns how long they took.
pub(crate) type Case<'a> = (&'a str, Box<dyn FnMut(u64) -> Duration + 'a>);

/// A case of [`interleave`].
pub(crate) fn case<'a>(name: &'a str, run: impl FnMut(u64) -> Duration + 'a) -> Case<'a> {
    (name, Box::new(run))
}

/// The medians of one case.
pub(crate) struct Summary {
    pub(crate) name: String,
    /// Median time per operation over the rounds.
    pub(crate) per_op: Duration,
    /// Median over the rounds of (this case's time) / (the baseline's time in the same round).
    pub(crate) ratio: f64,
    /// Median over the rounds of (this case's time per op) - (the baseline's, same round), µs.
    pub(crate) delta_us: f64,
}

/// Runs `rounds` rounds of `batch` operations of every case (one warm-up round first, not
/// counted) and prints one line per case under `title`.
pub(crate) fn interleave(
    title: &str,
    rounds: usize,
    batch: u64,
    cases: &mut [Case<'_>],
) -> Vec<Summary> {
    for (_, run) in cases.iter_mut() {
        run(batch);
    }
    let mut per_op: Vec<Vec<f64>> = vec![Vec::with_capacity(rounds); cases.len()];
    for round in 0..rounds {
        // Rotate the order, so that no case always runs first in its round.
        for offset in 0..cases.len() {
            let index = (round + offset) % cases.len();
            let elapsed = (cases[index].1)(batch);
            per_op[index].push(elapsed.as_secs_f64() / batch as f64);
        }
    }
    let baseline = per_op[0].clone();
    println!("{title}: {rounds} interleaved rounds of {batch} operations per case");
    cases
        .iter()
        .zip(&per_op)
        .map(|((name, _), times)| {
            let ratios: Vec<f64> = times.iter().zip(&baseline).map(|(t, b)| t / b).collect();
            let deltas: Vec<f64> = times.iter().zip(&baseline).map(|(t, b)| t - b).collect();
            let summary = Summary {
                name: (*name).to_owned(),
                per_op: Duration::from_secs_f64(median(times)),
                ratio: median(&ratios),
                delta_us: median(&deltas) * 1e6,
            };
            println!(
                "  {:<40} {:>10.1?}/op   x{:.2} of {}   ({:+.1} µs/op)",
                summary.name, summary.per_op, summary.ratio, cases[0].0, summary.delta_us
            );
            summary
        })
        .collect()
}

fn median(values: &[f64]) -> f64 {
    let mut sorted = values.to_vec();
    sorted.sort_by(f64::total_cmp);
    match sorted.len() {
        0 => 0.0,
        n if n % 2 == 1 => sorted[n / 2],
        n => (sorted[n / 2 - 1] + sorted[n / 2]) / 2.0,
    }
}

/// Builds an example of the `examples` package with the bench profile (optimised, as a
/// deployment would be) and returns its executable.
pub(crate) fn example_binary(name: &str) -> PathBuf {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned());
    let workspace = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..");
    let output = std::process::Command::new(cargo)
        .current_dir(&workspace)
        .args(["build", "--quiet", "--profile", "bench", "-p", "examples"])
        .args(["--example", name, "--message-format=json"])
        .stderr(Stdio::inherit())
        .output()
        .expect("cargo runs");
    assert!(
        output.status.success(),
        "building the example {name} failed"
    );
    String::from_utf8(output.stdout)
        .unwrap()
        .lines()
        .filter_map(|line| serde_json::from_str::<serde_json::Value>(line).ok())
        .filter(|message| message["target"]["name"] == name)
        .find_map(|message| message["executable"].as_str().map(PathBuf::from))
        .expect("cargo reports the example's executable")
}

/// A receiver process on an ephemeral loopback port; killed on drop.
pub(crate) struct Receiver {
    pub(crate) addr: String,
    _child: Child,
}

impl Receiver {
    /// Starts `binary` with `PORT=0` and `env`, and waits for its `listening on` line on stderr
    /// (stdout, one line per handled event, is discarded; stderr keeps being drained).
    pub(crate) async fn spawn(binary: &std::path::Path, env: &[(&str, &str)]) -> Receiver {
        let mut command = tokio::process::Command::new(binary);
        command
            .env("PORT", "0")
            .env("RUST_LOG", "warn")
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .kill_on_drop(true);
        for (name, value) in env {
            command.env(name, value);
        }
        let mut child = command.spawn().unwrap();
        let mut stderr = BufReader::new(child.stderr.take().unwrap()).lines();
        let addr = tokio::time::timeout(Duration::from_secs(60), async {
            loop {
                let line = stderr
                    .next_line()
                    .await
                    .unwrap()
                    .expect("the receiver exited before listening");
                if let Some(addr) = line
                    .strip_prefix("listening on http://")
                    .and_then(|rest| rest.strip_suffix("/webhooks/rxscale"))
                {
                    return addr.to_owned();
                }
            }
        })
        .await
        .expect("the receiver listens within 60 s");
        tokio::spawn(async move { while let Ok(Some(_)) = stderr.next_line().await {} });
        Receiver {
            addr,
            _child: child,
        }
    }
}

/// Delivers every body once, signed with the test secret, `concurrency` in flight, spread
/// round-robin over `receivers`; each must be answered 200 without a duplicate mark. Returns
/// the wall time.
pub(crate) async fn deliver(
    receivers: &[&Receiver],
    bodies: Vec<String>,
    concurrency: usize,
) -> Duration {
    let urls: Vec<String> = receivers
        .iter()
        .map(|receiver| format!("http://{}/webhooks/rxscale", receiver.addr))
        .collect();
    let queue = Arc::new(Mutex::new(
        bodies.into_iter().enumerate().collect::<Vec<_>>(),
    ));
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(30))
        .build()
        .unwrap();
    let started = Instant::now();
    let workers: Vec<_> = (0..concurrency)
        .map(|_| {
            let (queue, client, urls) = (queue.clone(), client.clone(), urls.clone());
            tokio::spawn(async move {
                loop {
                    let Some((index, body)) = queue.lock().unwrap().pop() else {
                        return;
                    };
                    let response = client
                        .post(&urls[index % urls.len()])
                        .header("x-webhook-signature", sign(&test_secret(), &body))
                        .body(body)
                        .send()
                        .await
                        .unwrap();
                    assert_eq!(response.status(), 200);
                    assert!(response.headers().get("x-webhook-duplicate").is_none());
                }
            })
        })
        .collect();
    for worker in workers {
        worker.await.unwrap();
    }
    started.elapsed()
}
