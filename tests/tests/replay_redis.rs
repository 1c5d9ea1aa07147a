//! Exactly-once handling with the Redis store, over real HTTP, against a real `redis-server`:
//! several receiver instances sharing one Redis, a failing handler, an instance killed
//! mid-handler, and Redis going away and coming back.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::net::SocketAddr;
use std::process::Stdio;
use std::time::{Duration, Instant};

use rxscale_webhooks::replay::FailMode;
use rxscale_webhooks::testing::fixture_at;
use rxscale_webhooks::{EventType, ReplayGuard};
use rxscale_webhooks_redis::RedisStore;
use rxscale_webhooks_tests::receiver::{Handler, Reply, app, client, deliver, now, serve};
use rxscale_webhooks_tests::redis_server::RedisServer;
use rxscale_webhooks_tests::{TEST_SECRET, test_verifier};
use tokio::io::{AsyncBufReadExt, BufReader, Lines};
use tokio::process::{ChildStdout, Command};

/// Each instance opens its own connection to the shared Redis, as separate processes would.
async fn redis_guard(redis: &RedisServer) -> ReplayGuard {
    ReplayGuard::new(RedisStore::connect(&redis.url()).await.unwrap())
}

/// A receiver instance on its own port with its own Redis connection.
async fn instance(redis: &RedisServer, handler: &Handler) -> SocketAddr {
    serve(app(
        test_verifier(),
        redis_guard(redis).await,
        handler.clone(),
    ))
    .await
}

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
async fn fifty_concurrent_deliveries_across_two_instances_are_handled_once() {
    let redis = RedisServer::start();
    // Slow enough that the claims overlap: most copies arrive while the first is in flight.
    let handler = Handler::new().sleep(Duration::from_millis(300));
    let instances = [
        instance(&redis, &handler).await,
        instance(&redis, &handler).await,
    ];
    let body = fixture_at(EventType::PharmacyOrderCreated, now());
    let client = client();

    let mut deliveries = tokio::task::JoinSet::new();
    for i in 0..50 {
        let (client, body, addr) = (client.clone(), body.clone(), instances[i % 2]);
        deliveries.spawn(async move { deliver(&client, addr, &body).await });
    }
    let replies = deliveries.join_all().await;

    assert_eq!(
        handler.entered(),
        1,
        "the handler ran once across both instances"
    );
    assert_eq!(handler.succeeded(), 1);
    for reply in &replies {
        assert!(matches!(reply.status, 200 | 409), "{reply:?}");
        if reply.status == 409 {
            assert_eq!(reply.body, r#"{"error":"in_flight"}"#);
        }
    }
    let processed = replies.iter().filter(|r| r.status == 200 && !r.duplicate);
    assert_eq!(
        processed.count(),
        1,
        "exactly one answer came from the handler"
    );
    let in_flight = replies.iter().filter(|r| r.status == 409).count();
    assert!(in_flight > 0, "no claim overlapped: {replies:?}");

    for addr in instances {
        assert_duplicate(&deliver(&client, addr, &body).await);
    }
    assert_eq!(handler.entered(), 1);
}

#[tokio::test]
async fn a_failing_handler_is_retried_and_succeeds_exactly_once() {
    let redis = RedisServer::start();
    let handler = Handler::new().failing_first(1);
    let (a, b) = (
        instance(&redis, &handler).await,
        instance(&redis, &handler).await,
    );
    let body = fixture_at(EventType::PharmacySkuStockUpdated, now());
    let client = client();

    let first = deliver(&client, a, &body).await;
    assert_eq!((first.status, first.duplicate), (500, false));
    // The retry may land on the other instance: the released claim lets it in.
    assert_processed(&deliver(&client, b, &body).await);
    assert_duplicate(&deliver(&client, a, &body).await);
    assert_duplicate(&deliver(&client, b, &body).await);
    assert_eq!(handler.entered(), 2);
    assert_eq!(handler.succeeded(), 1, "exactly one success in total");
}

async fn next_line(lines: &mut Lines<BufReader<ChildStdout>>) -> String {
    tokio::time::timeout(Duration::from_secs(20), lines.next_line())
        .await
        .expect("the receiver process prints in time")
        .unwrap()
        .expect("the receiver process is still running")
}

#[tokio::test]
async fn a_client_that_hangs_up_mid_handler_releases_the_claim_at_once() {
    const HANDLER_TAKES: Duration = Duration::from_secs(3);
    let redis = RedisServer::start();
    let handler = Handler::new().sleep(HANDLER_TAKES);
    let (a, b) = (
        instance(&redis, &handler).await,
        instance(&redis, &handler).await,
    );
    let body = fixture_at(EventType::AppointmentReminderDue, now());

    let impatient = reqwest::Client::builder()
        .timeout(Duration::from_millis(300))
        .build()
        .unwrap();
    let started = Instant::now();
    let gone = impatient
        .post(format!("http://{a}/webhooks/rxscale"))
        .header(
            "x-webhook-signature",
            rxscale_webhooks::sign(&rxscale_webhooks_tests::test_secret(), &body),
        )
        .body(body.clone())
        .send()
        .await;
    assert!(gone.unwrap_err().is_timeout());
    drop(impatient);

    // The dropped handler's claim is released in the background: the retry, on the other
    // instance, is not kept waiting for the 60-second lease nor for the abandoned handler.
    let client = client();
    let retry = loop {
        let reply = deliver(&client, b, &body).await;
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
async fn a_claim_left_by_a_killed_instance_expires_and_the_retry_is_processed() {
    const LEASE: Duration = Duration::from_millis(2000);
    let redis = RedisServer::start();
    let mut doomed = Command::new(env!("CARGO_BIN_EXE_axum_test_receiver"))
        .env("RXSCALE_WEBHOOK_SECRET", TEST_SECRET)
        .env("RXSCALE_REDIS_URL", redis.url())
        .env("PORT", "0")
        .env("HANDLER_SLEEP_MS", "30000")
        .env("LEASE_MS", LEASE.as_millis().to_string())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let mut stdout = BufReader::new(doomed.stdout.take().unwrap()).lines();
    let port: u16 = next_line(&mut stdout)
        .await
        .strip_prefix("listening ")
        .expect("the first line names the port")
        .parse()
        .unwrap();
    let doomed_addr = SocketAddr::from(([127, 0, 0, 1], port));

    let survivor_handler = Handler::new();
    let survivor = instance(&redis, &survivor_handler).await;
    let body = fixture_at(EventType::PharmacyOrderUpdated, now());
    let client = client();

    let in_doomed = tokio::spawn({
        let (client, body) = (client.clone(), body.clone());
        async move {
            client
                .post(format!("http://{doomed_addr}/webhooks/rxscale"))
                .header(
                    "x-webhook-signature",
                    rxscale_webhooks::sign(&rxscale_webhooks_tests::test_secret(), &body),
                )
                .body(body)
                .send()
                .await
        }
    });
    let line = next_line(&mut stdout).await;
    let claimed_at = Instant::now();
    assert!(line.starts_with("handling "), "{line}");
    doomed.start_kill().unwrap();
    doomed.wait().await.unwrap();
    assert!(
        in_doomed.await.unwrap().is_err(),
        "the killed instance never answered"
    );

    // Before the lease runs out, the claim still stands: the retry is told to come back.
    let early = deliver(&client, survivor, &body).await;
    assert!(
        claimed_at.elapsed() < LEASE,
        "too slow to observe the live claim"
    );
    assert_eq!(early.status, 409, "{early:?}");
    assert_eq!(survivor_handler.entered(), 0);

    // After it, the retry is processed; poll as RxScale's backoff would, bounded.
    let deadline = claimed_at + LEASE + Duration::from_secs(5);
    let processed = loop {
        let reply = deliver(&client, survivor, &body).await;
        if reply.status != 409 {
            break reply;
        }
        assert!(
            Instant::now() < deadline,
            "the abandoned claim never expired"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    // The claim was taken a moment before its line was read: allow for that moment.
    assert!(
        claimed_at.elapsed() + Duration::from_millis(500) >= LEASE,
        "processed before the lease ran out"
    );
    assert_processed(&processed);
    assert_eq!(survivor_handler.succeeded(), 1);
    assert_duplicate(&deliver(&client, survivor, &body).await);
}

#[tokio::test]
async fn while_redis_is_down_deliveries_get_503_and_the_receiver_recovers_when_it_returns() {
    let mut redis = RedisServer::start();
    let handler = Handler::new();
    let addr = instance(&redis, &handler).await;
    let client = client();
    let handled_before = fixture_at(EventType::PharmacyOrderCreated, now());
    assert_processed(&deliver(&client, addr, &handled_before).await);

    redis.stop();
    let during = fixture_at(EventType::AppointmentReminderDue, now());
    for body in [&during, &during, &handled_before] {
        let reply = deliver(&client, addr, body).await;
        assert_eq!(reply.status, 503, "{reply:?}");
        assert_eq!(reply.body, r#"{"error":"replay_store_unavailable"}"#);
        assert!(!reply.duplicate, "nothing is acknowledged as handled");
    }
    assert_eq!(handler.entered(), 1, "no delivery reached the handler");

    // Same receiver, same connection manager: no restart.
    redis.restart();
    let deadline = Instant::now() + Duration::from_secs(15);
    let recovered = loop {
        let reply = deliver(&client, addr, &during).await;
        if reply.status != 503 {
            break reply;
        }
        assert!(Instant::now() < deadline, "the receiver did not recover");
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert_processed(&recovered);
    assert_duplicate(&deliver(&client, addr, &during).await);
    assert_eq!(handler.entered(), 2);
}

#[tokio::test]
async fn fail_open_runs_the_handler_while_redis_is_down() {
    let mut redis = RedisServer::start();
    let handler = Handler::new();
    let guard = redis_guard(&redis).await.fail_mode(FailMode::Open);
    let addr = serve(app(test_verifier(), guard, handler.clone())).await;
    let client = client();

    redis.stop();
    let body = fixture_at(EventType::PatientDoctorMeetingUpdated, now());
    for _ in 0..2 {
        assert_processed(&deliver(&client, addr, &body).await);
    }
    assert_eq!(
        handler.succeeded(),
        2,
        "without its store the guard cannot deduplicate: the documented risk of fail-open"
    );
}
