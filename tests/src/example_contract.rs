//! The contract every `*_receiver` example follows, as `axum_receiver` defines it: the real
//! binary, real HTTP on loopback, its stdout read line by line.
//!
//! - Without `RXSCALE_WEBHOOK_SECRET`, or with a `PORT` that is not a port, or an unreachable
//!   `RXSCALE_REDIS_URL`: one stderr line naming the variable, and a failing exit.
//! - `POST /webhooks/rxscale`; the banner `listening on http://ADDR/webhooks/rxscale` on stderr.
//! - One `{"handled":..,"key":..}` line on stdout per handled event, nothing else.
//! - 401 for a bad signature; 200 for a handled event; 200 with `X-Webhook-Duplicate: true` for
//!   its retry, also across two instances sharing one Redis.
//!
//! A test per example calls [`behaves_as_documented`] and [`shares_its_claims_through_redis`]
//! with the example's name.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::Stdio;
use std::time::Duration;

use crate::redis_server::RedisServer;
use crate::{TEST_SECRET, example_binary, test_secret};
use rxscale_webhooks::testing::fixture_at;
use rxscale_webhooks::{EventType, OffsetDateTime, Verifier, sign};
use tokio::io::{AsyncBufReadExt, BufReader, Lines};
use tokio::process::{Child, ChildStdout, Command};

const LINE_TIMEOUT: Duration = Duration::from_secs(20);

/// Builds the example with the cargo that runs these tests and returns its executable.
fn command(binary: &PathBuf) -> Command {
    let mut command = Command::new(binary);
    command
        .env_remove("RXSCALE_WEBHOOK_SECRET")
        .env_remove("HOST")
        .env_remove("PORT")
        .env_remove("RXSCALE_REDIS_URL")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    command
}

async fn next_line(lines: &mut Lines<BufReader<ChildStdout>>) -> String {
    tokio::time::timeout(LINE_TIMEOUT, lines.next_line())
        .await
        .expect("a line in time")
        .unwrap()
        .expect("a line before the end of stdout")
}

/// Starts the example with the test secret on an ephemeral port and waits until it listens.
async fn start(binary: &PathBuf) -> (Child, SocketAddr, Lines<BufReader<ChildStdout>>) {
    start_with(binary, None).await
}

/// Like [`start`], with `RXSCALE_REDIS_URL` set when `redis_url` is given.
async fn start_with(
    binary: &PathBuf,
    redis_url: Option<&str>,
) -> (Child, SocketAddr, Lines<BufReader<ChildStdout>>) {
    let mut command = command(binary);
    command
        .env("RXSCALE_WEBHOOK_SECRET", TEST_SECRET)
        .env("PORT", "0");
    if let Some(url) = redis_url {
        command.env("RXSCALE_REDIS_URL", url);
    }
    let mut child = command.spawn().unwrap();
    let mut stderr = BufReader::new(child.stderr.take().unwrap()).lines();
    let banner = tokio::time::timeout(LINE_TIMEOUT, stderr.next_line())
        .await
        .expect("the example starts in time")
        .unwrap()
        .expect("the example says where it listens");
    let addr: SocketAddr = banner
        .strip_prefix("listening on http://")
        .and_then(|rest| rest.strip_suffix("/webhooks/rxscale"))
        .unwrap_or_else(|| panic!("unexpected banner: {banner}"))
        .parse()
        .unwrap();
    // The example logs every rejection to stderr: keep reading it, so that its writes never meet
    // a closed pipe.
    tokio::spawn(async move { while let Ok(Some(_)) = stderr.next_line().await {} });
    assert!(
        addr.ip().is_loopback(),
        "binds 127.0.0.1 unless HOST is set"
    );
    let stdout = BufReader::new(child.stdout.take().unwrap()).lines();
    (child, addr, stdout)
}

/// The status, and whether the delivery was answered as a duplicate.
async fn deliver_marked(addr: SocketAddr, body: &str, signature: &str) -> (u16, bool) {
    let response = reqwest::Client::new()
        .post(format!("http://{addr}/webhooks/rxscale"))
        .header("content-type", "application/json")
        .header("x-webhook-signature", signature)
        .body(body.to_owned())
        .send()
        .await
        .unwrap();
    let duplicate = response
        .headers()
        .get("x-webhook-duplicate")
        .is_some_and(|value| value == "true");
    (response.status().as_u16(), duplicate)
}

async fn deliver(addr: SocketAddr, body: &str, signature: &str) -> u16 {
    deliver_marked(addr, body, signature).await.0
}

fn expected_line(body: &str) -> String {
    let verifier = Verifier::builder().secret(test_secret()).build().unwrap();
    let expected = verifier.verify(body, sign(&test_secret(), body)).unwrap();
    format!(
        r#"{{"handled":"{}","key":"{}"}}"#,
        expected.event_type(),
        expected.dedup_key()
    )
}

/// The example `example` starts, prints and answers as `axum_receiver` does, with the memory
/// replay store.
pub async fn behaves_as_documented(example: &str) {
    let binary = example_binary(example);

    // Without the secret: one line naming the variable, and a failing exit.
    let output = command(&binary).output().await.unwrap();
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
        .await
        .unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8(output.stderr).unwrap();
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(stderr.contains("PORT"), "{stderr}");

    let (mut child, addr, mut stdout) = start(&binary).await;
    // The example's verifier uses the default 72-hour window: recent timestamps pass.
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
        assert_eq!(deliver(addr, body, &"0".repeat(64)).await, 401);
        let signature = sign(&test_secret(), body);
        assert_eq!(deliver_marked(addr, body, &signature).await, (200, false));
        assert_eq!(next_line(&mut stdout).await, expected_line(body));
        // RxScale's retry of a handled event: acknowledged, marked, and not handled again.
        assert_eq!(deliver_marked(addr, body, &signature).await, (200, true));
    }

    child.kill().await.unwrap();
    // Nothing else was printed: every line on stdout was one handled event.
    assert!(stdout.next_line().await.unwrap().is_none());
}

/// Two instances of the example `example` on one Redis (`RXSCALE_REDIS_URL`): an event handled
/// by one is a duplicate for the other; an unreachable Redis fails the start with one line.
pub async fn shares_its_claims_through_redis(example: &str) {
    let binary = example_binary(example);

    // An unreachable Redis: one line naming the variable, and a failing exit.
    let closed_port = crate::redis_server::free_port();
    let output = command(&binary)
        .env("RXSCALE_WEBHOOK_SECRET", TEST_SECRET)
        .env("PORT", "0")
        .env(
            "RXSCALE_REDIS_URL",
            format!("redis://127.0.0.1:{closed_port}/0"),
        )
        .output()
        .await
        .unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8(output.stderr).unwrap();
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(stderr.contains("RXSCALE_REDIS_URL"), "{stderr}");

    // Two instances sharing one Redis: an event handled by one is a duplicate for the other.
    let redis = RedisServer::start();
    let (mut first, first_addr, mut first_out) = start_with(&binary, Some(&redis.url())).await;
    let (mut second, second_addr, mut second_out) = start_with(&binary, Some(&redis.url())).await;
    let now = OffsetDateTime::now_utc().unix_timestamp();
    for &event_type in EventType::ALL {
        let body = fixture_at(event_type, now);
        let signature = sign(&test_secret(), &body);
        assert_eq!(
            deliver_marked(first_addr, &body, &signature).await,
            (200, false)
        );
        assert_eq!(next_line(&mut first_out).await, expected_line(&body));
        assert_eq!(
            deliver_marked(second_addr, &body, &signature).await,
            (200, true)
        );
    }

    first.kill().await.unwrap();
    second.kill().await.unwrap();
    assert!(first_out.next_line().await.unwrap().is_none());
    assert!(
        second_out.next_line().await.unwrap().is_none(),
        "the second instance handled nothing"
    );
}
