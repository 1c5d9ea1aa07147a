//! Exactly-once handling with the Redis store, over real HTTP, against a real `redis-server`,
//! on axum and on actix-web alike: several receiver instances sharing one Redis, a failing
//! handler, a client that hangs up, an instance process killed mid-handler, Redis going away and
//! coming back, and fail-open. Each scenario runs once per framework (`axum::…` and
//! `actix::…`); one more runs a mixed fleet of both.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::net::SocketAddr;
use std::process::Stdio;
use std::time::{Duration, Instant};

use rxscale_webhooks::replay::FailMode;
use rxscale_webhooks::testing::fixture_at;
use rxscale_webhooks::{EventType, ReplayGuard};
use rxscale_webhooks_redis::RedisStore;
use rxscale_webhooks_tests::TEST_SECRET;
use rxscale_webhooks_tests::on_every_framework;
use rxscale_webhooks_tests::receiver::{
    Framework, Handler, Receiver, client, deliver, now, redeliver_while, signed_post,
};
use rxscale_webhooks_tests::redis_server::RedisServer;
use rxscale_webhooks_tests::replay::{
    HANG_UP_HANDLER_TAKES, dropped_by_a_timeout_then_retried, fails_then_succeeds_once,
    fifty_concurrent_copies, hang_up_then_retry,
};
use tokio::io::{AsyncBufReadExt, BufReader, Lines};
use tokio::process::{ChildStdout, Command};

on_every_framework!(
    fifty_concurrent_deliveries_across_two_instances_are_handled_once,
    a_failing_handler_is_retried_on_the_other_instance_and_succeeds_exactly_once,
    a_client_that_hangs_up_mid_handler_never_gets_the_event_handled_twice,
    a_handler_future_dropped_by_a_timeout_releases_the_claim_in_the_background,
    a_claim_left_by_a_killed_instance_expires_and_the_retry_is_processed,
    while_redis_is_down_deliveries_get_503_and_the_receiver_recovers_when_it_returns,
    a_completion_lost_to_a_redis_outage_is_recorded_when_redis_returns,
    fail_open_runs_the_handler_while_redis_is_down,
);

/// Each instance opens its own connection to the shared Redis, as separate processes would.
async fn redis_guard(redis: &RedisServer) -> ReplayGuard {
    ReplayGuard::new(RedisStore::connect(&redis.url()).await.unwrap())
}

/// A receiver instance on its own port with its own Redis connection.
async fn instance(framework: Framework, redis: &RedisServer, handler: &Handler) -> SocketAddr {
    Receiver::new(framework, redis_guard(redis).await, handler.clone())
        .start()
        .await
}

async fn two_instances(
    frameworks: [Framework; 2],
    redis: &RedisServer,
    handler: &Handler,
) -> [SocketAddr; 2] {
    [
        instance(frameworks[0], redis, handler).await,
        instance(frameworks[1], redis, handler).await,
    ]
}

async fn fifty_concurrent_deliveries_across_two_instances_are_handled_once(framework: Framework) {
    let redis = RedisServer::start();
    // Slow enough that the claims overlap: most copies arrive while the first is in flight.
    let handler = Handler::new().sleep(Duration::from_millis(300));
    let instances = two_instances([framework; 2], &redis, &handler).await;
    fifty_concurrent_copies(&instances, &handler).await;
}

/// The claims are the same keys with the same scripts whichever adapter takes them: an axum and
/// an actix-web instance behind one load balancer handle each event once between them.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_mixed_fleet_of_axum_and_actix_instances_handles_each_event_once() {
    let redis = RedisServer::start();
    let handler = Handler::new().sleep(Duration::from_millis(300));
    let instances = two_instances([Framework::Axum, Framework::Actix], &redis, &handler).await;
    fifty_concurrent_copies(&instances, &handler).await;
}

async fn a_failing_handler_is_retried_on_the_other_instance_and_succeeds_exactly_once(
    framework: Framework,
) {
    let redis = RedisServer::start();
    let handler = Handler::new().failing_first(1);
    let instances = two_instances([framework; 2], &redis, &handler).await;
    // The retry lands on the other instance: the released claim lets it in.
    fails_then_succeeds_once(&instances, &handler, 1).await;
}

async fn a_client_that_hangs_up_mid_handler_never_gets_the_event_handled_twice(
    framework: Framework,
) {
    let redis = RedisServer::start();
    let handler = Handler::new().sleep(HANG_UP_HANDLER_TAKES);
    let [first, second] = two_instances([framework; 2], &redis, &handler).await;
    // Released in the background from the dropped future (axum), or settled by the handler's
    // own answer (actix-web); the retry goes to the other instance.
    hang_up_then_retry(framework, &handler, first, second).await;
}

async fn a_handler_future_dropped_by_a_timeout_releases_the_claim_in_the_background(
    framework: Framework,
) {
    let redis = RedisServer::start();
    dropped_by_a_timeout_then_retried(framework, redis_guard(&redis).await).await;
}

async fn next_line(lines: &mut Lines<BufReader<ChildStdout>>) -> String {
    tokio::time::timeout(Duration::from_secs(20), lines.next_line())
        .await
        .expect("the receiver process prints in time")
        .unwrap()
        .expect("the receiver process is still running")
}

fn test_receiver_binary(framework: Framework) -> &'static str {
    match framework {
        Framework::Axum => env!("CARGO_BIN_EXE_axum_test_receiver"),
        Framework::Actix => env!("CARGO_BIN_EXE_actix_test_receiver"),
        Framework::Rocket => env!("CARGO_BIN_EXE_rocket_test_receiver"),
        Framework::Poem => env!("CARGO_BIN_EXE_poem_test_receiver"),
        Framework::Salvo => env!("CARGO_BIN_EXE_salvo_test_receiver"),
        Framework::WarpBehindTower => env!("CARGO_BIN_EXE_warp_test_receiver"),
    }
}

async fn a_claim_left_by_a_killed_instance_expires_and_the_retry_is_processed(
    framework: Framework,
) {
    const LEASE: Duration = Duration::from_millis(2000);
    let redis = RedisServer::start();
    let mut doomed = Command::new(test_receiver_binary(framework))
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
    let survivor = instance(framework, &redis, &survivor_handler).await;
    let body = fixture_at(EventType::PharmacyOrderUpdated, now());
    let client = client();

    let in_doomed = tokio::spawn(signed_post(&client, doomed_addr, &body).send());
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
    early.assert_in_flight();
    assert_eq!(survivor_handler.entered(), 0);

    // After it, the retry is processed; poll as RxScale's backoff would, bounded.
    let bound = (LEASE + Duration::from_secs(5), Duration::from_millis(100));
    let processed = redeliver_while(
        409,
        &client,
        survivor,
        &body,
        bound,
        "the claim never expired",
    )
    .await;
    // The claim was taken a moment before its line was read: allow for that moment.
    assert!(
        claimed_at.elapsed() + Duration::from_millis(500) >= LEASE,
        "processed before the lease ran out"
    );
    processed.assert_processed();
    assert_eq!(survivor_handler.succeeded(), 1);
    deliver(&client, survivor, &body).await.assert_duplicate();
}

async fn while_redis_is_down_deliveries_get_503_and_the_receiver_recovers_when_it_returns(
    framework: Framework,
) {
    let mut redis = RedisServer::start();
    let handler = Handler::new();
    let addr = instance(framework, &redis, &handler).await;
    let client = client();
    let handled_before = fixture_at(EventType::PharmacyOrderCreated, now());
    deliver(&client, addr, &handled_before)
        .await
        .assert_processed();

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
    let bound = (Duration::from_secs(15), Duration::from_millis(100));
    let recovered = redeliver_while(
        503,
        &client,
        addr,
        &during,
        bound,
        "the receiver did not recover",
    )
    .await;
    recovered.assert_processed();
    deliver(&client, addr, &during).await.assert_duplicate();
    assert_eq!(handler.entered(), 2);
}

/// Redis dies while the handler runs, so the guard cannot record the success when the handler
/// answers 2xx. The 2xx stands, the completion is retried in the background, and once Redis is
/// back (with the claim in its AOF) every redelivery is a duplicate: no redelivery runs the
/// handler again, neither before the lease ends (409) nor after it.
async fn a_completion_lost_to_a_redis_outage_is_recorded_when_redis_returns(framework: Framework) {
    const LEASE: Duration = Duration::from_secs(30);
    let mut redis = RedisServer::start_persistent();
    let handler = Handler::new().sleep(Duration::from_millis(800));
    let guard = redis_guard(&redis).await.lease(LEASE);
    let addr = Receiver::new(framework, guard, handler.clone())
        .start()
        .await;
    let client = client();
    let body = fixture_at(EventType::PharmacyOrderUpdated, now());

    let first = tokio::spawn({
        let (client, body) = (client.clone(), body.clone());
        async move { deliver(&client, addr, &body).await }
    });
    let deadline = Instant::now() + Duration::from_secs(10);
    while handler.entered() == 0 {
        assert!(Instant::now() < deadline, "the handler was never entered");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let claimed_at = Instant::now();
    redis.stop();
    first.await.unwrap().assert_processed();
    let reply = deliver(&client, addr, &body).await;
    assert_eq!(reply.status, 503, "Redis is down: {reply:?}");

    redis.restart();
    let recorded = loop {
        let reply = deliver(&client, addr, &body).await;
        if reply.status != 409 && reply.status != 503 {
            break reply;
        }
        assert!(
            claimed_at.elapsed() < LEASE - Duration::from_secs(5),
            "the completion was not recorded while the lease lasted: {reply:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    recorded.assert_duplicate();
    assert_eq!(handler.entered(), 1, "the handler ran once");
}

async fn fail_open_runs_the_handler_while_redis_is_down(framework: Framework) {
    let mut redis = RedisServer::start();
    let handler = Handler::new();
    let guard = redis_guard(&redis).await.fail_mode(FailMode::Open);
    let addr = Receiver::new(framework, guard, handler.clone())
        .start()
        .await;
    let client = client();

    redis.stop();
    let body = fixture_at(EventType::PatientDoctorMeetingUpdated, now());
    for _ in 0..2 {
        deliver(&client, addr, &body).await.assert_processed();
    }
    assert_eq!(
        handler.succeeded(),
        2,
        "without its store the guard cannot deduplicate: the documented risk of fail-open"
    );
}
