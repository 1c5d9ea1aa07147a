//! The contract every `*_receiver` example follows, as `axum_receiver` defines it: the real
//! binary, real HTTP on loopback, its stdout read line by line.
//!
//! - Without `RXSCALE_WEBHOOK_SECRET`, or with a `PORT` that is not a port, or an unreachable
//!   `RXSCALE_REDIS_URL`: one stderr line naming the variable, and a failing exit.
//! - `POST /webhooks/rxscale`; the banner `listening on http://ADDR/webhooks/rxscale` on stderr.
//! - One `{"handled":..,"key":..}` line on stdout per handled event, nothing else.
//! - 401 for a bad signature; 200 for a handled event; 200 with `X-Webhook-Duplicate: true` for
//!   its retry, also across two instances and `axum_receiver` sharing one Redis.
//!
//! A test per example calls [`behaves_as_documented`] and [`shares_its_claims_through_redis`]
//! with the example's name.

use std::net::SocketAddr;

use crate::example_process::{Running, command, expected_line, fails_naming};
use crate::redis_server::RedisServer;
use crate::{TEST_SECRET, example_binary, test_secret};
use rxscale_webhooks::testing::fixture_at;
use rxscale_webhooks::{EventType, OffsetDateTime, sign};

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

/// The example `example` starts, prints and answers as `axum_receiver` does, with the memory
/// replay store.
pub async fn behaves_as_documented(example: &str) {
    let binary = example_binary(example);

    // Without the secret, or with a PORT that is not a port: one line naming the variable, and a
    // failing exit.
    fails_naming("RXSCALE_WEBHOOK_SECRET", &mut command(&binary));
    fails_naming(
        "PORT",
        command(&binary)
            .env("RXSCALE_WEBHOOK_SECRET", TEST_SECRET)
            .env("PORT", "http"),
    );

    let mut running = Running::start(&binary);
    let addr = running.addr;
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
        assert_eq!(running.next_line(), expected_line(body));
        // RxScale's retry of a handled event: acknowledged, marked, and not handled again.
        assert_eq!(deliver_marked(addr, body, &signature).await, (200, true));
    }

    // Nothing else was printed: every line on stdout was one handled event.
    assert_eq!(running.stop(), Vec::<String>::new());
}

/// Two instances of the example `example` and one of `axum_receiver` on one Redis
/// (`RXSCALE_REDIS_URL`): an event handled by any one is a duplicate for the others, whichever
/// framework handled it first (a mixed fleet); an unreachable Redis fails the start with one
/// line.
pub async fn shares_its_claims_through_redis(example: &str) {
    let binary = example_binary(example);

    // An unreachable Redis: one line naming the variable, and a failing exit.
    let closed_port = crate::redis_server::free_port();
    fails_naming(
        "RXSCALE_REDIS_URL",
        command(&binary)
            .env("RXSCALE_WEBHOOK_SECRET", TEST_SECRET)
            .env("PORT", "0")
            .env(
                "RXSCALE_REDIS_URL",
                format!("redis://127.0.0.1:{closed_port}/0"),
            ),
    );

    // Two instances of the example and one of axum_receiver sharing one Redis. Each event is
    // handled by one of them in turn, and is a duplicate for the two others.
    let redis = RedisServer::start();
    let mut fleet = [
        Running::start_with(&binary, Some(&redis.url())),
        Running::start_with(&binary, Some(&redis.url())),
        Running::start_with(&example_binary("axum_receiver"), Some(&redis.url())),
    ];
    let mut handled = [0; 3];
    let now = OffsetDateTime::now_utc().unix_timestamp();
    for (index, &event_type) in EventType::ALL.iter().enumerate() {
        let body = fixture_at(event_type, now);
        let signature = sign(&test_secret(), &body);
        let first = index % fleet.len();
        assert_eq!(
            deliver_marked(fleet[first].addr, &body, &signature).await,
            (200, false)
        );
        assert_eq!(fleet[first].next_line(), expected_line(&body));
        handled[first] += 1;
        for (other, running) in fleet
            .iter()
            .enumerate()
            .filter(|&(other, _)| other != first)
        {
            assert_eq!(
                deliver_marked(running.addr, &body, &signature).await,
                (200, true),
                "instance {other} handled an event instance {first} had handled"
            );
        }
    }

    assert!(
        handled.iter().all(|&count| count > 0),
        "every instance handled an event first: {handled:?}"
    );
    for running in &mut fleet {
        assert_eq!(
            running.stop(),
            Vec::<String>::new(),
            "an instance handled a duplicate"
        );
    }
}
