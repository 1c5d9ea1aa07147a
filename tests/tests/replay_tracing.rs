//! The replay guard's answers as the delivery span's `outcome`, over real HTTP, on axum and on
//! actix-web alike: `accepted` for the handled copy, `in_flight`, `duplicate`,
//! `replay_store_unavailable` when the store is down, and `accepted_unguarded` when it is down
//! and the guard fails open.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::{Duration, Instant};

use rxscale_webhooks::replay::FailMode;
use rxscale_webhooks::testing::fixture_at;
use rxscale_webhooks::{EventType, ReplayGuard};
use rxscale_webhooks_redis::RedisStore;
use rxscale_webhooks_tests::logs::capture_globally;
use rxscale_webhooks_tests::receiver::{Framework, Handler, Receiver, client, deliver, now};
use rxscale_webhooks_tests::redis_server::RedisServer;
use rxscale_webhooks_tests::{test_secret, test_verifier};

const OUTCOMES: [&str; 5] = [
    "accepted",
    "in_flight",
    "duplicate",
    "replay_store_unavailable",
    "accepted_unguarded",
];

// actix-web runs handlers on its own worker threads, so the subscriber is global; this file
// holds a single test so that nothing else writes to it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_guards_answers_are_recorded_as_the_spans_outcome_on_every_framework() {
    let captured = capture_globally("rxscale_webhooks=trace");

    let mut redis = RedisServer::start();
    let client = client();
    for framework in Framework::ALL {
        let logged_before = captured.text().len();
        let body = fixture_at(EventType::PharmacyOrderCreated, now());

        // Two copies at once, then a redelivery.
        let handler = Handler::new().sleep(Duration::from_millis(500));
        let addr = Receiver::new(framework, ReplayGuard::in_memory(), handler)
            .start()
            .await;
        let (first, second) = tokio::join!(deliver(&client, addr, &body), async {
            tokio::time::sleep(Duration::from_millis(150)).await;
            deliver(&client, addr, &body).await
        });
        first.assert_processed();
        second.assert_in_flight();
        deliver(&client, addr, &body).await.assert_duplicate();

        // The store is down: closed, then open.
        redis.restart();
        let store = || async { RedisStore::connect(&redis.url()).await.unwrap() };
        let closed = ReplayGuard::new(store().await);
        let open = ReplayGuard::new(store().await).fail_mode(FailMode::Open);
        let closed = Receiver::new(framework, closed, Handler::new())
            .start()
            .await;
        let open = Receiver::new(framework, open, Handler::new()).start().await;
        redis.stop();
        assert_eq!(deliver(&client, closed, &body).await.status, 503);
        deliver(&client, open, &body).await.assert_processed();

        // A span closes when its future is dropped, which may be a moment after the answer.
        let started = Instant::now();
        let spans = loop {
            let spans = closed_spans(&captured.text()[logged_before..]);
            if spans.len() >= OUTCOMES.len() {
                break spans;
            }
            assert!(
                started.elapsed() < Duration::from_secs(5),
                "{}: spans still open: {spans:#?}",
                framework.name()
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        };

        let verified = test_verifier().verify(&body, sign(&body)).unwrap();
        let fields = format!(
            r#"event_type="pharmacy_order_created" dedup_key="{}" fingerprint={}"#,
            verified.dedup_key(),
            test_secret().fingerprint()
        );
        for outcome in OUTCOMES {
            let with_outcome: Vec<_> = spans
                .iter()
                .filter(|span| span.contains(&format!(r#" outcome="{outcome}" "#)))
                .collect();
            assert_eq!(
                with_outcome.len(),
                1,
                "{}: one span with outcome {outcome}: {spans:#?}",
                framework.name()
            );
            assert!(
                with_outcome[0].contains(&fields),
                "{}: {with_outcome:?}",
                framework.name()
            );
        }
        assert_eq!(spans.len(), OUTCOMES.len(), "{spans:#?}");
        for span in &spans {
            assert_eq!(span.matches(" outcome=").count(), 1, "one decision: {span}");
        }
    }
}

/// The lines that close a delivery span, with its fields.
fn closed_spans(logs: &str) -> Vec<String> {
    logs.lines()
        .filter(|line| line.contains("rxscale_webhook{") && line.contains(" close "))
        .map(str::to_owned)
        .collect()
}

fn sign(body: &str) -> String {
    rxscale_webhooks::sign(&test_secret(), body)
}
