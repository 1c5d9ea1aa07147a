//! The inbox of `rxscale-webhooks-sqlx` through its public API, on SQLite files: the one-line
//! routes on axum and actix-web over real HTTP, version order, stale events, redacted dead
//! letters, `retry`, `purge` and graceful shutdown. Every test is bounded in time.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::future::Future;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use rxscale_webhooks::{OffsetDateTime, Verified, sign};
use rxscale_webhooks_sqlx::sqlx::{self, Sqlite, SqlitePool, Transaction};
use rxscale_webhooks_sqlx::{
    Claim, Inbox, InboxFilter, InboxRoute, InboxStatus, Ledger, Stored, sqlite,
};
use rxscale_webhooks_tests::{TEST_MAX_BODY_BYTES, test_secret, test_verifier};

async fn bounded(limit: Duration, body: impl Future<Output = ()>) {
    tokio::time::timeout(limit, body)
        .await
        .unwrap_or_else(|_| panic!("the test did not finish within {limit:?}"));
}

/// A SQLite database and its inbox file, removed on drop.
struct Files(PathBuf);

impl Files {
    fn new(name: &str) -> Self {
        let files = Files(std::env::temp_dir().join(format!(
            "rxscale-webhooks-inbox-api-{name}-{}.db",
            std::process::id()
        )));
        files.remove();
        files
    }

    fn url(&self) -> String {
        format!("sqlite://{}?mode=rwc", self.0.display())
    }

    fn remove(&self) {
        for suffix in ["", "-wal", "-shm", ".inbox", ".inbox-wal", ".inbox-shm"] {
            let _ = std::fs::remove_file(format!("{}{suffix}", self.0.display()));
        }
    }
}

impl Drop for Files {
    fn drop(&mut self) {
        self.remove();
    }
}

struct Setup {
    _files: Files,
    pool: SqlitePool,
    inbox_pool: SqlitePool,
    inbox: Inbox,
}

async fn setup(name: &str) -> Setup {
    let files = Files::new(name);
    let pool = sqlite::pool(&files.url()).unwrap();
    let inbox_pool = sqlite::inbox_pool(&files.url()).unwrap();
    let inbox = Inbox::new(Ledger::new());
    inbox.ledger().migrate(&pool).await.unwrap();
    inbox.migrate(&inbox_pool).await.unwrap();
    assert!(
        inbox.migrate(&inbox_pool).await.unwrap().is_empty(),
        "a second migrate does nothing"
    );
    sqlx::query("CREATE TABLE effects_log (dedup_key TEXT NOT NULL)")
        .execute(&pool)
        .await
        .unwrap();
    sqlx::query("CREATE TABLE orders (uid TEXT PRIMARY KEY, status TEXT NOT NULL)")
        .execute(&pool)
        .await
        .unwrap();
    Setup {
        _files: files,
        pool,
        inbox_pool,
        inbox,
    }
}

fn now() -> i64 {
    OffsetDateTime::now_utc().unix_timestamp()
}

fn order(timestamp: i64, uid: &str, status: &str, updated_at: i64) -> String {
    format!(
        r##"{{"event_type":"pharmacy_order_updated","timestamp":{timestamp},"payload_version":"1","data":{{"uid":"{uid}","status":"{status}","name":"#1","created_at":1,"updated_at":{updated_at},"pharmacy":{{"uid":"ph-1"}},"order":{{"uid":"ord-1"}},"order_items":[],"patient":{{"first_name":"Jane","last_name":"Roe","email":"jane.roe@example.com"}}}}}}"##
    )
}

async fn store(setup: &Setup, body: &str) -> Stored {
    let signature = sign(&test_secret(), body);
    let verified = test_verifier().verify(body, &signature).unwrap();
    setup
        .inbox
        .store(&setup.inbox_pool, &verified, body.as_bytes(), [signature])
        .await
        .unwrap()
}

async fn effects(setup: &Setup) -> i64 {
    sqlx::query_scalar("SELECT COUNT(*) FROM effects_log")
        .fetch_one(&setup.pool)
        .await
        .unwrap()
}

async fn status_of(setup: &Setup, key_part: &str) -> Vec<InboxStatus> {
    setup
        .inbox
        .list(&setup.inbox_pool, &InboxFilter::new())
        .await
        .unwrap()
        .into_iter()
        .filter(|entry| entry.key.contains(key_part))
        .map(|entry| entry.status)
        .collect()
}

type Applied =
    std::pin::Pin<Box<dyn Future<Output = Result<Transaction<'static, Sqlite>, String>> + Send>>;

/// Writes the order and an effects row, then sleeps `delay`, in the claim's transaction.
fn applying(
    delay: Duration,
) -> impl Fn(Transaction<'static, Sqlite>, Verified) -> Applied + Send + Sync + 'static {
    move |mut tx, event| {
        Box::pin(async move {
            if let rxscale_webhooks::Event::PharmacyOrderUpdated(order) = event.event() {
                sqlx::query(
                    "INSERT INTO orders (uid, status) VALUES ($1, $2) \
                     ON CONFLICT (uid) DO UPDATE SET status = excluded.status",
                )
                .bind(order.uid.as_str())
                .bind(order.status.as_str())
                .execute(&mut *tx)
                .await
                .map_err(|e| e.to_string())?;
            }
            sqlx::query("INSERT INTO effects_log (dedup_key) VALUES ($1)")
                .bind(event.dedup_key().as_str())
                .execute(&mut *tx)
                .await
                .map_err(|e| e.to_string())?;
            tokio::time::sleep(delay).await;
            Ok(tx)
        })
    }
}

async fn wait_for(what: &str, limit: Duration, mut check: impl AsyncFnMut() -> bool) {
    let deadline = Instant::now() + limit;
    while !check().await {
        assert!(Instant::now() < deadline, "{what} within {limit:?}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// What a route answered: status, `X-Webhook-Duplicate`, body.
async fn post(
    client: &reqwest::Client,
    addr: SocketAddr,
    body: &str,
    signature: &str,
) -> (u16, bool, String) {
    let response = client
        .post(format!("http://{addr}/webhooks/rxscale"))
        .header("x-webhook-signature", signature)
        .body(body.to_owned())
        .send()
        .await
        .unwrap();
    let duplicate = response
        .headers()
        .get("x-webhook-duplicate")
        .is_some_and(|v| v == "true");
    (
        response.status().as_u16(),
        duplicate,
        response.text().await.unwrap(),
    )
}

/// The answers every reply-first route must give, the same on both frameworks.
async fn route_answers(setup: &Setup, addr: SocketAddr) {
    let client = reqwest::Client::new();
    let body = order(now() - 5, "po-route", "init", 100);
    let signature = sign(&test_secret(), &body);
    assert_eq!(
        post(&client, addr, &body, &signature).await,
        (200, false, r#"{"status":"stored"}"#.to_owned())
    );
    assert_eq!(
        post(&client, addr, &body, &signature).await,
        (200, true, r#"{"status":"duplicate"}"#.to_owned())
    );
    let forged = sign(
        &rxscale_webhooks::SigningSecret::new("whsec_someone_else_0123456789"),
        &body,
    );
    assert_eq!(post(&client, addr, &body, &forged).await.0, 401);
    let huge = format!("{body}{}", " ".repeat(TEST_MAX_BODY_BYTES));
    assert_eq!(
        post(&client, addr, &huge, &sign(&test_secret(), &huge))
            .await
            .0,
        413
    );
    let old = order(now() - 3600, "po-old", "init", 100);
    assert_eq!(
        post(&client, addr, &old, &sign(&test_secret(), &old))
            .await
            .0,
        400
    );
    let entries = setup
        .inbox
        .list(&setup.inbox_pool, &InboxFilter::new())
        .await
        .unwrap();
    assert_eq!(
        entries.len(),
        1,
        "only the verified delivery is stored, once"
    );
    assert_eq!(entries[0].status, InboxStatus::Pending);
    let (_, stored) = setup
        .inbox
        .get(&setup.inbox_pool, &entries[0].key)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(stored, body, "the exact body");
}

#[tokio::test]
async fn axum_route_stores_answers_duplicates_and_rejects() {
    bounded(Duration::from_secs(60), async {
        let setup = setup("axum").await;
        let route = InboxRoute::new(
            setup.inbox.clone(),
            setup.inbox_pool.clone(),
            test_verifier(),
        );
        let app = axum::Router::new().route("/webhooks/rxscale", route.axum());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        route_answers(&setup, addr).await;
    })
    .await;
}

#[actix_web::test]
async fn actix_route_stores_answers_duplicates_and_rejects() {
    bounded(Duration::from_secs(60), async {
        let setup = setup("actix").await;
        let route = InboxRoute::new(
            setup.inbox.clone(),
            setup.inbox_pool.clone(),
            test_verifier(),
        );
        let server = actix_web::HttpServer::new(move || {
            actix_web::App::new().service(route.clone().actix("/webhooks/rxscale"))
        })
        .workers(1)
        .bind(("127.0.0.1", 0))
        .unwrap();
        let addr = server.addrs()[0];
        let server = server.run();
        let handle = server.handle();
        actix_web::rt::spawn(server);
        route_answers(&setup, addr).await;
        handle.stop(true).await;
    })
    .await;
}

/// Three versions of one order stored newest first run oldest first; one that arrives after
/// a newer version was applied is stale and applies nothing.
#[tokio::test]
async fn versions_run_in_order_and_late_ones_are_stale() {
    bounded(Duration::from_secs(60), async {
        let setup = setup("order").await;
        let ts = now() - 60;
        for (offset, status, version) in
            [(3, "delivered", 300), (1, "init", 100), (2, "shipped", 200)]
        {
            assert_eq!(
                store(&setup, &order(ts + offset, "po-o", status, version)).await,
                Stored::New
            );
        }
        let done = Arc::new(Mutex::new(Vec::new()));
        let sink = Arc::clone(&done);
        let workers = setup
            .inbox
            .worker(
                setup.pool.clone(),
                test_verifier(),
                applying(Duration::ZERO),
            )
            .inbox_pool(setup.inbox_pool.clone())
            .concurrency(2)
            .batch_size(10)
            .on_done(move |done| sink.lock().unwrap().push((done.key.clone(), done.claim)))
            .spawn();
        wait_for(
            "three events processed",
            Duration::from_secs(20),
            async || done.lock().unwrap().len() == 3,
        )
        .await;
        let order_of_processing: Vec<_> = done.lock().unwrap().clone();
        let expected: Vec<_> = [1, 2, 3]
            .iter()
            .map(|offset| {
                (
                    format!("pharmacy_order_updated:{}:po-o", ts + offset),
                    Claim::Fresh,
                )
            })
            .collect();
        assert_eq!(order_of_processing, expected, "version order, each applied");
        // A late copy of an older version, after the newest was applied: stale.
        assert_eq!(
            store(&setup, &order(ts, "po-o", "created", 50)).await,
            Stored::New
        );
        wait_for(
            "the late event skipped",
            Duration::from_secs(20),
            async || done.lock().unwrap().len() == 4,
        )
        .await;
        assert_eq!(done.lock().unwrap()[3].1, Claim::Stale);
        workers.shutdown().await;
        let status: String = sqlx::query_scalar("SELECT status FROM orders WHERE uid = 'po-o'")
            .fetch_one(&setup.pool)
            .await
            .unwrap();
        assert_eq!(status, "delivered");
        assert_eq!(effects(&setup).await, 3);
        let mut statuses = status_of(&setup, "po-o").await;
        statuses.sort_by_key(|s| s.as_str());
        assert_eq!(
            statuses,
            [
                InboxStatus::Done,
                InboxStatus::Done,
                InboxStatus::Done,
                InboxStatus::Stale
            ]
        );
    })
    .await;
}

/// A handler error that quotes the body is stored without its values; after the last attempt
/// the event is dead; `retry` queues it and a fixed handler processes it; `purge` deletes only
/// what is done.
#[tokio::test]
async fn dead_letters_are_redacted_retried_and_never_purged() {
    bounded(Duration::from_secs(60), async {
        let setup = setup("dead").await;
        let body = order(now() - 5, "po-dead", "init", 100);
        store(&setup, &body).await;
        let attempts = Arc::new(Mutex::new(Vec::new()));
        let seen = Arc::clone(&attempts);
        let failing = move |_tx: Transaction<'static, Sqlite>, event: Verified| {
            seen.lock().unwrap().push(Instant::now());
            let uid = event.event().uid().unwrap_or_default().to_owned();
            async move {
                Err::<Transaction<'static, Sqlite>, _>(format!(
                    "ERP refused order {uid} for Jane Roe <jane.roe@example.com>"
                ))
            }
        };
        let workers = setup
            .inbox
            .worker(setup.pool.clone(), test_verifier(), failing)
            .inbox_pool(setup.inbox_pool.clone())
            .max_attempts(3)
            .backoff(Duration::from_millis(100), Duration::from_secs(1))
            .poll_interval(Duration::from_millis(20))
            .spawn();
        let inbox = setup.inbox.clone();
        let pool = setup.inbox_pool.clone();
        wait_for("a dead letter", Duration::from_secs(20), async || {
            let dead = InboxFilter::new().status(InboxStatus::Dead);
            !inbox.list(&pool, &dead).await.unwrap().is_empty()
        })
        .await;
        workers.shutdown().await;
        let times = attempts.lock().unwrap().clone();
        assert_eq!(times.len(), 3, "max_attempts");
        assert!(
            times[1] - times[0] >= Duration::from_millis(50),
            "backoff (half of 100 ms at least)"
        );
        assert!(
            times[2] - times[1] >= Duration::from_millis(100),
            "backoff doubles (half of 200 ms at least)"
        );
        let entry = &inbox.list(&pool, &InboxFilter::new()).await.unwrap()[0];
        assert_eq!((entry.status, entry.attempts), (InboxStatus::Dead, 3));
        let error = entry.last_error.clone().unwrap();
        for value in ["po-dead", "Jane", "Roe", "jane.roe@example.com"] {
            assert!(!error.contains(value), "{value} in {error}");
        }
        assert!(
            error.starts_with("ERP refused order <redacted> for"),
            "{error}"
        );
        assert!(!format!("{entry:?}").contains("Jane"));

        assert_eq!(
            inbox.purge(&pool, Duration::ZERO).await.unwrap(),
            0,
            "a dead letter is never purged"
        );
        assert!(inbox.retry(&pool, &entry.key).await.unwrap());
        assert!(!inbox.retry(&pool, "no-such-key").await.unwrap());
        let workers = setup
            .inbox
            .worker(
                setup.pool.clone(),
                test_verifier(),
                applying(Duration::ZERO),
            )
            .inbox_pool(setup.inbox_pool.clone())
            .spawn();
        wait_for(
            "the retried event processed",
            Duration::from_secs(20),
            async || status_of(&setup, "po-dead").await == [InboxStatus::Done],
        )
        .await;
        workers.shutdown().await;
        assert!(
            !inbox.retry(&pool, &entry.key).await.unwrap(),
            "a done event is not queued again"
        );
        assert_eq!(effects(&setup).await, 1);
        assert_eq!(
            inbox.purge(&pool, Duration::from_secs(3600)).await.unwrap(),
            0,
            "too recent"
        );
        assert_eq!(inbox.purge(&pool, Duration::ZERO).await.unwrap(), 1);
    })
    .await;
}

/// Shutdown lets the event in progress commit and returns the leased ones not started;
/// `shutdown_within` rolls back what outlives the grace period and returns it too.
#[tokio::test]
async fn shutdown_finishes_in_flight_work_and_returns_the_rest() {
    bounded(Duration::from_secs(60), async {
        let setup = setup("shutdown").await;
        let ts = now() - 30;
        for i in 0..5 {
            store(&setup, &order(ts, &format!("po-s{i}"), "init", 100)).await;
        }
        let workers = setup
            .inbox
            .worker(
                setup.pool.clone(),
                test_verifier(),
                applying(Duration::from_millis(700)),
            )
            .inbox_pool(setup.inbox_pool.clone())
            .concurrency(1)
            .batch_size(5)
            .spawn();
        let inbox = setup.inbox.clone();
        let pool = setup.inbox_pool.clone();
        wait_for("a lease", Duration::from_secs(10), async || {
            let processing = InboxFilter::new().status(InboxStatus::Processing);
            !inbox.list(&pool, &processing).await.unwrap().is_empty()
        })
        .await;
        tokio::time::sleep(Duration::from_millis(200)).await;
        workers.shutdown().await;
        let entries = inbox.list(&pool, &InboxFilter::new()).await.unwrap();
        let done = entries
            .iter()
            .filter(|e| e.status == InboxStatus::Done)
            .count();
        let pending: Vec<_> = entries
            .iter()
            .filter(|e| e.status == InboxStatus::Pending)
            .collect();
        assert_eq!(done, 1, "the event in progress finished");
        assert_eq!(pending.len(), 4, "the others went back");
        assert!(
            pending.iter().all(|e| e.attempts == 0),
            "returned, not failed"
        );
        assert_eq!(effects(&setup).await, 1);

        let workers = setup
            .inbox
            .worker(
                setup.pool.clone(),
                test_verifier(),
                applying(Duration::from_secs(30)),
            )
            .inbox_pool(setup.inbox_pool.clone())
            .concurrency(1)
            .batch_size(1)
            .spawn();
        wait_for("a lease", Duration::from_secs(10), async || {
            let processing = InboxFilter::new().status(InboxStatus::Processing);
            !inbox.list(&pool, &processing).await.unwrap().is_empty()
        })
        .await;
        assert!(!workers.shutdown_within(Duration::from_millis(300)).await);
        let entries = inbox.list(&pool, &InboxFilter::new()).await.unwrap();
        assert_eq!(
            entries
                .iter()
                .filter(|e| e.status == InboxStatus::Pending)
                .count(),
            4
        );
        assert_eq!(
            effects(&setup).await,
            1,
            "the abandoned transaction rolled back"
        );
    })
    .await;
}

/// Concurrent arrivals on a SQLite inbox file queue in the process and commit together, in one
/// transaction per group: each is answered only after the commit that holds it (another
/// connection sees it at once, and it is still there after the file is reopened), and an event
/// is stored once however many of its copies arrive at the same moment.
#[tokio::test]
async fn concurrent_sqlite_arrivals_are_grouped_durable_and_stored_once() {
    // The test runtime has one thread, so this thread's subscriber sees the inbox's writer
    // task. A second live dispatcher keeps tracing from caching, for callsites that the other
    // tests of this binary reach first, the interest of the global default (none) alone.
    let logs = rxscale_webhooks_tests::logs::Captured::default();
    let subscriber = tracing_subscriber::fmt()
        .with_env_filter("rxscale_webhooks_sqlx=debug")
        .with_ansi(false)
        .with_writer(logs.clone())
        .finish();
    let _logs = tracing::subscriber::set_default(subscriber);
    let _second = tracing::Dispatch::new(tracing_subscriber::registry());
    bounded(Duration::from_secs(60), async {
        let setup = setup("grouped").await;
        let synchronous: i64 = sqlx::query_scalar("PRAGMA synchronous")
            .fetch_one(&setup.inbox_pool)
            .await
            .unwrap();
        assert_eq!(synchronous, 2, "the inbox file syncs every commit (FULL)");
        // Another connection, outside the inbox, holds the file's write lock for a moment, so
        // that the arrivals below queue up behind it as they would behind a slow disk.
        let other = sqlite::inbox_pool(&setup._files.url()).unwrap();
        let mut holder = other.acquire().await.unwrap();
        sqlx::query("BEGIN IMMEDIATE")
            .execute(&mut *holder)
            .await
            .unwrap();

        const EVENTS: usize = 60;
        const COPIES: usize = 3;
        let base = now();
        let mut arrivals = tokio::task::JoinSet::new();
        for copy in 0..COPIES {
            for n in 0..EVENTS {
                let body = order(base, &format!("po-grouped-{n}"), "init", 100);
                let (inbox, pool, other) =
                    (setup.inbox.clone(), setup.inbox_pool.clone(), other.clone());
                arrivals.spawn(async move {
                    let signature = sign(&test_secret(), &body);
                    let verified = test_verifier().verify(&body, &signature).unwrap();
                    let stored = inbox
                        .store(&pool, &verified, body.as_bytes(), [signature])
                        .await
                        .unwrap();
                    // Answered: committed, so any other connection sees the row now.
                    let seen: i64 = sqlx::query_scalar(
                        "SELECT COUNT(*) FROM rxscale_webhooks_inbox WHERE dedup_key = $1",
                    )
                    .bind(verified.dedup_key().as_str())
                    .fetch_one(&other)
                    .await
                    .unwrap();
                    assert_eq!(seen, 1, "copy {copy} of event {n}: visible once answered");
                    stored
                });
            }
        }
        tokio::time::sleep(Duration::from_millis(300)).await;
        sqlx::query("COMMIT").execute(&mut *holder).await.unwrap();
        drop(holder);

        let mut new = 0;
        let mut duplicates = 0;
        while let Some(stored) = arrivals.join_next().await {
            match stored.unwrap() {
                Stored::New => new += 1,
                Stored::Duplicate => duplicates += 1,
            }
        }
        assert_eq!(new, EVENTS, "each event stored once");
        assert_eq!(
            duplicates,
            EVENTS * (COPIES - 1),
            "every other copy a duplicate"
        );

        // Grouped: fewer transactions than arrivals, and all of them accounted for.
        let text = logs.text();
        let groups: Vec<usize> = text
            .lines()
            .filter(|line| line.contains("inbox: grouped writes committed"))
            .filter_map(|line| line.split("writes=").nth(1))
            .filter_map(|rest| rest.split_whitespace().next()?.parse().ok())
            .collect();
        assert_eq!(groups.iter().sum::<usize>(), EVENTS * COPIES, "{text}");
        assert!(
            groups.len() < EVENTS * COPIES / 4 && groups.iter().any(|&n| n > 1),
            "arrivals were not grouped: {groups:?}"
        );

        // Durable: closed and reopened, the file holds each event once, pending.
        setup.inbox_pool.close().await;
        other.close().await;
        let reopened = sqlite::inbox_pool(&setup._files.url()).unwrap();
        let rows: Vec<(String, String)> =
            sqlx::query_as("SELECT dedup_key, status FROM rxscale_webhooks_inbox")
                .fetch_all(&reopened)
                .await
                .unwrap();
        assert_eq!(rows.len(), EVENTS);
        assert!(rows.iter().all(|(_, status)| status == "pending"));
        let keys: std::collections::HashSet<&str> =
            rows.iter().map(|(key, _)| key.as_str()).collect();
        assert_eq!(keys.len(), EVENTS);
        reopened.close().await;
    })
    .await;
}
