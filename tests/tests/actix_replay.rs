//! The replay guard on actix-web, over real HTTP: the middleware's `replay_guard` gives the same
//! exactly-once answers as the tower layer, with the in-memory store and with a shared Redis.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::net::{SocketAddr, TcpListener};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use actix_web::{App, HttpResponse, HttpServer, web};
use rxscale_webhooks::testing::fixture_at;
use rxscale_webhooks::{EventType, ReplayGuard};
use rxscale_webhooks_actix::{VerifiedEvent, VerifyWebhook};
use rxscale_webhooks_redis::RedisStore;
use rxscale_webhooks_tests::receiver::{PATH, Reply, client, deliver, now};
use rxscale_webhooks_tests::redis_server::RedisServer;
use rxscale_webhooks_tests::test_verifier;

/// What the handler does and counts; shared by every instance it is given to.
#[derive(Clone, Default)]
struct Handler {
    entered: Arc<AtomicUsize>,
    succeeded: Arc<AtomicUsize>,
    failures: usize,
    sleep: Duration,
}

async fn handle(handler: web::Data<Handler>, _event: VerifiedEvent) -> HttpResponse {
    let call = handler.entered.fetch_add(1, Ordering::SeqCst);
    tokio::time::sleep(handler.sleep).await;
    if call < handler.failures {
        return HttpResponse::InternalServerError().finish();
    }
    handler.succeeded.fetch_add(1, Ordering::SeqCst);
    HttpResponse::Ok().finish()
}

fn serve(guard: ReplayGuard, handler: Handler) -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let server = HttpServer::new(move || {
        let middleware = VerifyWebhook::new(test_verifier()).replay_guard(guard.clone());
        App::new()
            .app_data(web::Data::new(handler.clone()))
            .service(web::resource(PATH).route(web::post().to(handle).wrap(middleware)))
    })
    .workers(2)
    .disable_signals()
    .listen(listener)
    .unwrap()
    .run();
    tokio::spawn(server);
    addr
}

fn assert_processed(reply: &Reply) {
    assert_eq!((reply.status, reply.duplicate), (200, false), "{reply:?}");
}

fn assert_duplicate(reply: &Reply) {
    assert_eq!((reply.status, reply.duplicate), (200, true), "{reply:?}");
    assert_eq!(reply.body, r#"{"status":"duplicate"}"#);
}

/// Fifty concurrent copies spread over `addrs`: exactly one handler run, every answer 200 or
/// 409, and a later redelivery is a marked duplicate.
async fn fifty_copies(addrs: &[SocketAddr], handler: &Handler) {
    let body = fixture_at(EventType::PharmacyOrderCreated, now());
    let client = client();
    let mut tasks = Vec::new();
    for i in 0..50 {
        let (client, body, addr) = (client.clone(), body.clone(), addrs[i % addrs.len()]);
        tasks.push(tokio::spawn(
            async move { deliver(&client, addr, &body).await },
        ));
    }
    let mut statuses = Vec::new();
    for task in tasks {
        statuses.push(task.await.unwrap().status);
    }
    assert!(
        statuses.iter().all(|s| *s == 200 || *s == 409),
        "{statuses:?}"
    );
    assert_eq!(handler.entered.load(Ordering::SeqCst), 1, "{statuses:?}");
    for addr in addrs {
        assert_duplicate(&deliver(&client, *addr, &body).await);
    }
    assert_eq!(handler.entered.load(Ordering::SeqCst), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn in_memory_fifty_concurrent_copies_are_handled_once() {
    let handler = Handler {
        sleep: Duration::from_millis(300),
        ..Handler::default()
    };
    let addr = serve(ReplayGuard::in_memory(), handler.clone());
    fifty_copies(&[addr], &handler).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn in_memory_a_failing_handler_is_retried_once() {
    let handler = Handler {
        failures: 1,
        ..Handler::default()
    };
    let addr = serve(ReplayGuard::in_memory(), handler.clone());
    let body = fixture_at(EventType::PharmacyOrderUpdated, now());
    let client = client();
    assert_eq!(deliver(&client, addr, &body).await.status, 500);
    assert_processed(&deliver(&client, addr, &body).await);
    assert_duplicate(&deliver(&client, addr, &body).await);
    assert_eq!(handler.entered.load(Ordering::SeqCst), 2);
    assert_eq!(handler.succeeded.load(Ordering::SeqCst), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_two_instances_share_one_guard_and_recover_after_an_outage() {
    let mut redis = RedisServer::start();
    let handler = Handler {
        sleep: Duration::from_millis(300),
        ..Handler::default()
    };
    let guard = |store| ReplayGuard::new(store);
    let first = serve(
        guard(RedisStore::connect(&redis.url()).await.unwrap()),
        handler.clone(),
    );
    let second = serve(
        guard(RedisStore::connect(&redis.url()).await.unwrap()),
        handler.clone(),
    );
    fifty_copies(&[first, second], &handler).await;

    // Redis goes away: fail closed, and the handler is not called.
    redis.stop();
    let client = client();
    let body = fixture_at(EventType::PharmacySkuStockUpdated, now());
    let before = handler.entered.load(Ordering::SeqCst);
    let reply = deliver(&client, first, &body).await;
    assert_eq!(reply.status, 503, "{reply:?}");
    assert_eq!(reply.body, r#"{"error":"replay_store_unavailable"}"#);
    assert_eq!(handler.entered.load(Ordering::SeqCst), before);

    // It comes back: each receiver recovers without a restart.
    redis.restart();
    assert_processed(&deliver_once_recovered(&client, first, &body).await);
    assert_duplicate(&deliver_once_recovered(&client, second, &body).await);
    assert_eq!(handler.succeeded.load(Ordering::SeqCst), 2);
}

/// Delivers until the receiver's store connection is back (bounded), then returns that answer.
async fn deliver_once_recovered(client: &reqwest::Client, addr: SocketAddr, body: &str) -> Reply {
    let started = Instant::now();
    loop {
        let reply = deliver(client, addr, body).await;
        if reply.status != 503 {
            return reply;
        }
        assert!(started.elapsed() < Duration::from_secs(10), "no recovery");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}
