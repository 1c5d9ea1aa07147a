//! Steps the replay scenarios share between the in-memory store (`tests/replay_memory.rs`) and
//! Redis (`tests/replay_redis.rs`): the same exactly-once claims, on one instance or spread
//! over several, on either framework.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use rxscale_webhooks::EventType;
use rxscale_webhooks::testing::fixture_at;

use rxscale_webhooks::ReplayGuard;

use crate::receiver::{
    Framework, Handler, Receiver, client, deliver, now, redeliver_while, signed_post,
};

/// How long the handler of [`hang_up_then_retry`] must take.
pub const HANG_UP_HANDLER_TAKES: Duration = Duration::from_secs(3);

/// Fifty concurrent copies of one event spread over `instances`, whose handler takes long
/// enough for the claims to overlap: the handler runs once in total, every answer is the
/// handler's 200 or the guard's 409, and a redelivery to each instance afterwards is a marked
/// duplicate.
pub async fn fifty_concurrent_copies(instances: &[SocketAddr], handler: &Handler) {
    let body = fixture_at(EventType::PharmacyOrderCreated, now());
    let client = client();

    let mut deliveries = tokio::task::JoinSet::new();
    for i in 0..50 {
        let (client, body, addr) = (client.clone(), body.clone(), instances[i % instances.len()]);
        deliveries.spawn(async move { deliver(&client, addr, &body).await });
    }
    let replies = deliveries.join_all().await;

    assert_eq!(handler.entered(), 1, "the handler ran once in total");
    assert_eq!(handler.succeeded(), 1);
    let processed = replies.iter().filter(|r| r.status == 200 && !r.duplicate);
    assert_eq!(processed.count(), 1, "one answer came from the handler");
    for reply in replies.iter().filter(|r| r.status != 200) {
        reply.assert_in_flight();
    }
    assert!(
        replies.iter().any(|r| r.status == 409),
        "no claim overlapped: {replies:?}"
    );

    for addr in instances {
        deliver(&client, *addr, &body).await.assert_duplicate();
    }
    assert_eq!(handler.entered(), 1);
}

/// One event delivered round-robin over `instances` to a handler that fails (500) its first
/// `failures` calls: each failure released the claim, so the next retry runs the handler, and
/// after the one success every instance answers with a duplicate.
pub async fn fails_then_succeeds_once(
    instances: &[SocketAddr],
    handler: &Handler,
    failures: usize,
) {
    let body = fixture_at(EventType::PharmacySkuStockUpdated, now());
    let client = client();
    let mut next = instances.iter().cycle();
    let mut instance = || *next.next().expect("at least one instance");

    for _ in 0..failures {
        let failed = deliver(&client, instance(), &body).await;
        assert_eq!(
            (failed.status, failed.duplicate),
            (500, false),
            "{failed:?}"
        );
    }
    deliver(&client, instance(), &body).await.assert_processed();
    for addr in instances {
        deliver(&client, *addr, &body).await.assert_duplicate();
    }
    assert_eq!(handler.entered(), failures + 1);
    assert_eq!(handler.succeeded(), 1, "exactly one success in total");
}

/// A client gives up on `first` while the handler (taking [`HANG_UP_HANDLER_TAKES`]) runs, and
/// the retry goes to `retry_at`.
///
/// hyper, under axum, drops the handler's future, which releases the claim at once: the retry
/// is processed. actix-web lets the handler finish, and its 200 completes the key: the retry is
/// told 409 meanwhile, then that the event is handled. Either way the event is handled exactly
/// once, and nothing waits for the 60-second lease.
pub async fn hang_up_then_retry(
    framework: Framework,
    handler: &Handler,
    first: SocketAddr,
    retry_at: SocketAddr,
) {
    let body = fixture_at(EventType::AppointmentReminderDue, now());
    let impatient = reqwest::Client::builder()
        .timeout(Duration::from_millis(300))
        .build()
        .expect("a reqwest client");
    let started = Instant::now();
    let gone = signed_post(&impatient, first, &body).send().await;
    assert!(gone.expect_err("the client gave up").is_timeout());
    drop(impatient); // closes the connection

    let client = client();
    let drops = framework.drops_the_handler_on_hang_up();
    // Where the future is dropped, the 409s must stop well before the abandoned handler would
    // have finished; elsewhere they stop when it finishes.
    let within = HANG_UP_HANDLER_TAKES * if drops { 1 } else { 2 };
    let bound = (within, Duration::from_millis(50));
    let retry = redeliver_while(409, &client, retry_at, &body, bound, "claim still held").await;
    if drops {
        retry.assert_processed();
        assert_eq!(handler.entered(), 2);
        assert_eq!(handler.succeeded(), 1, "the abandoned call never finished");
    } else {
        assert!(
            started.elapsed() >= HANG_UP_HANDLER_TAKES,
            "the claim was settled before the handler finished"
        );
        retry.assert_duplicate();
        assert_eq!(
            handler.entered(),
            1,
            "the retry waited for the running handler"
        );
        assert_eq!(handler.succeeded(), 1);
    }
    deliver(&client, retry_at, &body).await.assert_duplicate();
}

/// A receiver whose requests an outer timeout drops after 300 ms, in front of a handler that
/// takes 3 s: each delivery is answered 504 by the timeout, and the dropped future releases its
/// claim (at once in memory, in the background with Redis), so the retry reaches the handler
/// again instead of being told 409 for the rest of the 60-second lease.
pub async fn dropped_by_a_timeout_then_retried(framework: Framework, guard: ReplayGuard) {
    let handler = Handler::new().sleep(Duration::from_secs(3));
    let addr = Receiver::new(framework, guard, handler.clone())
        .deadline(Duration::from_millis(300))
        .start()
        .await;
    let body = fixture_at(EventType::PharmacyOrderUpdated, now());
    let client = client();

    let first = deliver(&client, addr, &body).await;
    assert_eq!(first.status, 504, "{first:?}");
    assert_eq!(handler.entered(), 1);
    let bound = (Duration::from_secs(2), Duration::from_millis(20));
    let retry = redeliver_while(409, &client, addr, &body, bound, "claim not released").await;
    assert_eq!(
        retry.status, 504,
        "the retry reached the handler: {retry:?}"
    );
    assert_eq!(handler.entered(), 2);
    assert_eq!(handler.succeeded(), 0);
}
