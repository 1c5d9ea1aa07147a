//! Exactly-once handling with the in-memory store, over real HTTP, on one instance: concurrent
//! copies, a failing handler, the duplicate marker, a client that goes away, a panicking
//! handler, and the store's size bound.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use axum::http::StatusCode;
use axum::routing::post;
use axum::{Extension, Router};
use rxscale_webhooks::replay::MemoryStore;
use rxscale_webhooks::testing::fixture_at;
use rxscale_webhooks::{EventType, ReplayGuard, Verified};
use rxscale_webhooks_axum::VerifyLayer;
use rxscale_webhooks_tests::receiver::{Handler, PATH, Reply, app, client, deliver, now, serve};
use rxscale_webhooks_tests::test_verifier;

fn assert_processed(reply: &Reply) {
    assert_eq!(
        (reply.status, reply.duplicate),
        (200, false),
        "expected the handler's 200: {reply:?}"
    );
}

fn assert_duplicate(reply: &Reply) {
    assert_eq!((reply.status, reply.duplicate), (200, true), "{reply:?}");
    assert_eq!(reply.body, r#"{"status":"duplicate"}"#);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fifty_concurrent_deliveries_are_handled_once() {
    let handler = Handler::new().sleep(Duration::from_millis(300));
    let addr = serve(app(
        test_verifier(),
        ReplayGuard::in_memory(),
        handler.clone(),
    ))
    .await;
    let body = fixture_at(EventType::PharmacyOrderCreated, now());
    let client = client();

    let mut deliveries = tokio::task::JoinSet::new();
    for _ in 0..50 {
        let (client, body) = (client.clone(), body.clone());
        deliveries.spawn(async move { deliver(&client, addr, &body).await });
    }
    let replies = deliveries.join_all().await;

    assert_eq!(handler.entered(), 1);
    assert_eq!(handler.succeeded(), 1);
    assert!(
        replies.iter().all(|r| matches!(r.status, 200 | 409)),
        "{replies:?}"
    );
    let processed = replies.iter().filter(|r| r.status == 200 && !r.duplicate);
    assert_eq!(processed.count(), 1);
    assert!(
        replies.iter().any(|r| r.status == 409),
        "no claim overlapped"
    );
    assert_duplicate(&deliver(&client, addr, &body).await);
    assert_eq!(handler.entered(), 1);
}

#[tokio::test]
async fn a_failing_handler_is_retried_and_succeeds_exactly_once() {
    let handler = Handler::new().failing_first(2);
    let addr = serve(app(
        test_verifier(),
        ReplayGuard::in_memory(),
        handler.clone(),
    ))
    .await;
    let body = fixture_at(EventType::PharmacySkuStockUpdated, now());
    let client = client();

    for _ in 0..2 {
        let failed = deliver(&client, addr, &body).await;
        assert_eq!((failed.status, failed.duplicate), (500, false));
    }
    assert_processed(&deliver(&client, addr, &body).await);
    assert_duplicate(&deliver(&client, addr, &body).await);
    assert_eq!(handler.entered(), 3);
    assert_eq!(handler.succeeded(), 1);
}

#[tokio::test]
async fn each_event_is_handled_once_and_its_redeliveries_are_marked() {
    let handler = Handler::new();
    let addr = serve(app(
        test_verifier(),
        ReplayGuard::in_memory(),
        handler.clone(),
    ))
    .await;
    let client = client();
    let bodies: Vec<String> = EventType::ALL
        .into_iter()
        .map(|event_type| fixture_at(event_type, now()))
        .collect();

    for body in &bodies {
        assert_processed(&deliver(&client, addr, body).await);
    }
    for body in &bodies {
        assert_duplicate(&deliver(&client, addr, body).await);
    }
    assert_eq!(handler.succeeded(), bodies.len());
    assert_eq!(handler.entered(), bodies.len());
}

#[tokio::test]
async fn a_client_that_goes_away_mid_handler_releases_the_claim() {
    const HANDLER_TAKES: Duration = Duration::from_secs(3);
    let handler = Handler::new().sleep(HANDLER_TAKES);
    let addr = serve(app(
        test_verifier(),
        ReplayGuard::in_memory(),
        handler.clone(),
    ))
    .await;
    let body = fixture_at(EventType::PharmacyOrderUpdated, now());

    let impatient = reqwest::Client::builder()
        .timeout(Duration::from_millis(300))
        .build()
        .unwrap();
    let started = Instant::now();
    let gone = impatient
        .post(format!("http://{addr}{PATH}"))
        .header(
            "x-webhook-signature",
            rxscale_webhooks::sign(&rxscale_webhooks_tests::test_secret(), &body),
        )
        .body(body.clone())
        .send()
        .await;
    assert!(gone.unwrap_err().is_timeout());
    drop(impatient); // closes the connection: the server drops the handler's future

    // The dropped future released its claim: the retry is not told 409 for the rest of the
    // 60-second lease, nor does it wait for the abandoned handler to finish.
    let client = client();
    let retry = loop {
        let reply = deliver(&client, addr, &body).await;
        if reply.status != 409 {
            break reply;
        }
        assert!(
            started.elapsed() < HANDLER_TAKES,
            "the claim outlived its client"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert_processed(&retry);
    assert_eq!(handler.entered(), 2);
    assert_eq!(handler.succeeded(), 1, "the abandoned call never finished");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_panicking_handler_releases_the_claim() {
    let calls = Arc::new(AtomicUsize::new(0));
    let counted = calls.clone();
    let handle = move |Extension(verified): Extension<Verified>| async move {
        let call = counted.fetch_add(1, Ordering::SeqCst);
        assert!(call > 0, "first call of {} panics", verified.dedup_key());
        StatusCode::OK
    };
    let layer = VerifyLayer::new(test_verifier()).replay_guard(ReplayGuard::in_memory());
    let addr = serve(Router::new().route(PATH, post(handle).route_layer(layer))).await;
    let body = fixture_at(EventType::AppointmentReminderDue, now());
    let client = client();

    let panicked = client
        .post(format!("http://{addr}{PATH}"))
        .header(
            "x-webhook-signature",
            rxscale_webhooks::sign(&rxscale_webhooks_tests::test_secret(), &body),
        )
        .body(body.clone())
        .send()
        .await;
    assert!(
        panicked.is_err(),
        "axum has no answer for a panic: {panicked:?}"
    );
    // The runtime drops the panicked task's connection and its claim together, in an order of
    // its own choosing: the claim may still be held for an instant after the client sees the
    // connection close. It must be gone well before any lease would expire.
    let started = Instant::now();
    let retry = loop {
        let reply = deliver(&client, addr, &body).await;
        if reply.status != 409 {
            break reply;
        }
        assert!(
            started.elapsed() < Duration::from_secs(2),
            "the panicked handler's claim was not released"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    assert_processed(&retry);
    assert_duplicate(&deliver(&client, addr, &body).await);
    assert_eq!(calls.load(Ordering::SeqCst), 2);
}

#[tokio::test]
async fn the_store_stays_within_its_capacity() {
    const CAPACITY: u64 = 16;
    let store = MemoryStore::with_capacity(CAPACITY);
    let handler = Handler::new();
    let guard = ReplayGuard::new(store.clone());
    let addr = serve(app(test_verifier(), guard, handler.clone())).await;
    let client = client();
    let now = now();

    // Distinct events: each timestamp makes its own dedup key.
    let bodies: Vec<String> = (0..4 * CAPACITY as i64)
        .map(|age| fixture_at(EventType::PharmacyOrderCreated, now - age))
        .collect();
    for body in &bodies {
        assert_processed(&deliver(&client, addr, body).await);
        assert!(store.len() <= CAPACITY, "{} keys", store.len());
    }
    assert_eq!(handler.succeeded(), bodies.len());
    assert!(store.len() <= CAPACITY, "{} keys", store.len());
    // The keys forgotten first are the least recently used: the latest event is still known.
    let latest = bodies.last().unwrap();
    assert_duplicate(&deliver(&client, addr, latest).await);
}
