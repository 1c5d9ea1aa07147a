//! `cargo run -p examples --example actix_receiver` behaves as its documentation says, shares
//! its claims through Redis with `axum_receiver`, and answers every case of the shared table
//! like `axum_receiver`, handler calls included: the real binaries, real HTTP on loopback, their
//! stdout read line by line.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::net::SocketAddr;
use std::time::Duration;

use rxscale_webhooks::testing::fixture_at;
use rxscale_webhooks::{EventType, OffsetDateTime, sign};
use rxscale_webhooks_tests::example_process::{
    PATH, Running, command, expected_line, fails_naming, with_counts,
};
use rxscale_webhooks_tests::matrix::{case_names, observe_matrix};
use rxscale_webhooks_tests::receiver;
use rxscale_webhooks_tests::redis_server::RedisServer;
use rxscale_webhooks_tests::{TEST_SECRET, example_binary, test_secret};

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
    let by_actix = with_counts(by_actix, &actix, started);
    let by_axum = with_counts(by_axum, &axum, started);
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
