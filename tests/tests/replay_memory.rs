//! Exactly-once handling with the in-memory store, over real HTTP, on one instance, on axum and
//! on actix-web alike: concurrent copies, a failing handler, the duplicate marker, a client that
//! hangs up, a handler future dropped by a timeout, a panicking handler, and the store's size
//! bound. Each scenario runs once per framework (`axum::…` and `actix::…`).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::{Duration, Instant};

use rxscale_webhooks::replay::MemoryStore;
use rxscale_webhooks::testing::fixture_at;
use rxscale_webhooks::{EventType, ReplayGuard};
use rxscale_webhooks_tests::on_every_framework;
use rxscale_webhooks_tests::receiver::{
    Framework, Handler, Receiver, client, deliver, now, redeliver_while, signed_post,
};
use rxscale_webhooks_tests::replay::{
    HANG_UP_HANDLER_TAKES, dropped_by_a_timeout_then_retried, fails_then_succeeds_once,
    fifty_concurrent_copies, hang_up_then_retry,
};

on_every_framework!(
    fifty_concurrent_deliveries_are_handled_once,
    a_failing_handler_is_retried_and_succeeds_exactly_once,
    each_event_is_handled_once_and_its_redeliveries_are_marked,
    a_client_that_hangs_up_mid_handler_never_gets_the_event_handled_twice,
    a_handler_future_dropped_by_a_timeout_releases_the_claim,
    a_panicking_handler_releases_the_claim,
    the_store_stays_within_its_capacity,
);

async fn in_memory(framework: Framework, handler: &Handler) -> std::net::SocketAddr {
    Receiver::new(framework, ReplayGuard::in_memory(), handler.clone())
        .start()
        .await
}

async fn fifty_concurrent_deliveries_are_handled_once(framework: Framework) {
    let handler = Handler::new().sleep(Duration::from_millis(300));
    let addr = in_memory(framework, &handler).await;
    fifty_concurrent_copies(&[addr], &handler).await;
}

async fn a_failing_handler_is_retried_and_succeeds_exactly_once(framework: Framework) {
    let handler = Handler::new().failing_first(2);
    let addr = in_memory(framework, &handler).await;
    fails_then_succeeds_once(&[addr], &handler, 2).await;
}

async fn each_event_is_handled_once_and_its_redeliveries_are_marked(framework: Framework) {
    let handler = Handler::new();
    let addr = in_memory(framework, &handler).await;
    let client = client();
    let bodies: Vec<String> = EventType::ALL
        .iter()
        .map(|&event_type| fixture_at(event_type, now()))
        .collect();

    for body in &bodies {
        deliver(&client, addr, body).await.assert_processed();
    }
    for body in &bodies {
        deliver(&client, addr, body).await.assert_duplicate();
    }
    assert_eq!(handler.succeeded(), bodies.len());
    assert_eq!(handler.entered(), bodies.len());
}

async fn a_client_that_hangs_up_mid_handler_never_gets_the_event_handled_twice(
    framework: Framework,
) {
    let handler = Handler::new().sleep(HANG_UP_HANDLER_TAKES);
    let addr = in_memory(framework, &handler).await;
    hang_up_then_retry(framework, &handler, addr, addr).await;
}

async fn a_handler_future_dropped_by_a_timeout_releases_the_claim(framework: Framework) {
    dropped_by_a_timeout_then_retried(framework, ReplayGuard::in_memory()).await;
}

async fn a_panicking_handler_releases_the_claim(framework: Framework) {
    let handler = Handler::new().panicking_first(1);
    let addr = in_memory(framework, &handler).await;
    let body = fixture_at(EventType::AppointmentReminderDue, now());
    let client = client();

    let panicked = signed_post(&client, addr, &body).send().await;
    assert!(
        panicked
            .as_ref()
            .map_or(true, |reply| !reply.status().is_success()),
        "a panic is no acknowledgement: {panicked:?}"
    );
    // The runtime drops the panicked task's connection and its claim together, in an order of
    // its own choosing: the claim may still be held for an instant after the client sees the
    // connection close. It must be gone well before any lease would expire.
    let bound = (Duration::from_secs(2), Duration::from_millis(20));
    let retry = redeliver_while(409, &client, addr, &body, bound, "claim not released").await;
    retry.assert_processed();
    deliver(&client, addr, &body).await.assert_duplicate();
    assert_eq!(handler.entered(), 2);
    assert_eq!(handler.succeeded(), 1);
}

async fn the_store_stays_within_its_capacity(framework: Framework) {
    const CAPACITY: u64 = 16;
    let store = MemoryStore::with_capacity(CAPACITY);
    let handler = Handler::new();
    let guard = ReplayGuard::new(store.clone());
    let addr = Receiver::new(framework, guard, handler.clone())
        .start()
        .await;
    let client = client();
    let now = now();

    // Distinct events: each timestamp makes its own dedup key.
    let bodies: Vec<String> = (0..4 * CAPACITY as i64)
        .map(|age| fixture_at(EventType::PharmacyOrderCreated, now - age))
        .collect();
    let started = Instant::now();
    for body in &bodies {
        deliver(&client, addr, body).await.assert_processed();
        assert!(store.len() <= CAPACITY, "{} keys", store.len());
    }
    assert!(started.elapsed() < Duration::from_secs(60));
    assert_eq!(handler.succeeded(), bodies.len());
    assert!(store.len() <= CAPACITY, "{} keys", store.len());
    // The keys forgotten first are the least recently used: the latest event is still known.
    let latest = bodies.last().unwrap();
    deliver(&client, addr, latest).await.assert_duplicate();
}
