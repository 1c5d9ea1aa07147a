//! The reply-first inbox of `rxscale-webhooks-sqlx`: how long a delivery waits for its 200 at a
//! steady 500 deliveries per second while the workers process what arrives, and how many
//! events per second the workers get through with a no-op handler, on a real Postgres
//! (loopback TCP, started here) and a SQLite file.
//!
//! ```text
//! cargo bench -p rxscale-webhooks-bench --bench sqlx_inbox
//! ```
//!
//! Bounded: each latency run sends at 500/s for 20 s (10,000 deliveries); each throughput run
//! drains 10,000 stored events (5 minutes at most). The receiver (`InboxRoute::axum` and a
//! `Worker`, as in `examples/inbox_receiver.rs`) runs on its own 2-thread runtime in this
//! process; the client on another.
#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used)]

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use rxscale_webhooks::{Verified, Verifier, sign};
use rxscale_webhooks_sqlx::sqlx::{Pool, Transaction};
use rxscale_webhooks_sqlx::{Backend, Inbox, InboxRoute, InboxStatus, Ledger, postgres, sqlite};
use rxscale_webhooks_tests::postgres_server::PostgresServer;
use rxscale_webhooks_tests::{test_secret, test_verifier};
use tokio::runtime::Runtime;

const RATE: u64 = 500;
const SECONDS: u64 = 20;
const DRAIN: u64 = 10_000;

static NEXT: AtomicU64 = AtomicU64::new(0);

fn fresh_body(timestamp: i64) -> String {
    let n = NEXT.fetch_add(1, Ordering::Relaxed);
    format!(
        r##"{{"event_type":"pharmacy_order_updated","timestamp":{timestamp},"payload_version":"1","data":{{"uid":"po-{n}","status":"init","name":"#1","created_at":1,"updated_at":100,"pharmacy":{{"uid":"ph-1"}},"order":{{"uid":"ord-1"}},"order_items":[]}}}}"##
    )
}

fn now() -> i64 {
    rxscale_webhooks::OffsetDateTime::now_utc().unix_timestamp()
}

async fn no_op<DB: Backend>(
    tx: Transaction<'static, DB>,
    _: Verified,
) -> Result<Transaction<'static, DB>, String> {
    Ok(tx)
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let rank = ((sorted.len() as f64) * p).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

/// Arrival to 200 at a steady `RATE`/s for `SECONDS`, workers running.
fn latency<DB: Backend>(name: &str, pools: impl FnOnce() -> (Pool<DB>, Option<Pool<DB>>)) {
    let server_rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    // sqlx pools belong to the runtime they are made in.
    let (pool, inbox_pool) = {
        let _inside = server_rt.enter();
        pools()
    };
    let inbox = Inbox::new(Ledger::new());
    let store_pool = inbox_pool.clone().unwrap_or_else(|| pool.clone());
    let (addr, workers) = server_rt.block_on(async {
        inbox.ledger().migrate(&pool).await.unwrap();
        inbox.migrate(&store_pool).await.unwrap();
        let mut worker = inbox.worker(pool.clone(), test_verifier(), no_op::<DB>);
        // Default settings, as in `examples/inbox_receiver.rs`.
        if let Some(inbox_pool) = inbox_pool {
            worker = worker.inbox_pool(inbox_pool);
        }
        let workers = worker.spawn();
        let router = axum::Router::new().route(
            "/webhooks/rxscale",
            InboxRoute::new(inbox.clone(), store_pool.clone(), test_verifier()).axum(),
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr: SocketAddr = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
        (addr, workers)
    });
    let client_rt = Runtime::new().unwrap();
    let mut latencies = client_rt.block_on(async move {
        let client = reqwest::Client::new();
        let secret = test_secret();
        let total = RATE * SECONDS;
        let mut tasks = Vec::with_capacity(usize::try_from(total).unwrap());
        let mut tick = tokio::time::interval(Duration::from_micros(1_000_000 / RATE));
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Burst);
        let start = Instant::now();
        for i in 0..total {
            tick.tick().await;
            let scheduled = start + Duration::from_micros(i * 1_000_000 / RATE);
            let body = fresh_body(now());
            let signature = sign(&secret, &body);
            let client = client.clone();
            tasks.push(tokio::spawn(async move {
                let response = client
                    .post(format!("http://{addr}/webhooks/rxscale"))
                    .header("x-webhook-signature", signature)
                    .body(body)
                    .send()
                    .await
                    .unwrap();
                assert_eq!(response.status(), 200);
                // From when it was due to be sent: a stalled sender counts against the receiver.
                scheduled.elapsed()
            }));
        }
        let mut latencies = Vec::with_capacity(tasks.len());
        for task in tasks {
            latencies.push(task.await.unwrap());
        }
        latencies
    });
    latencies.sort();
    let processed = server_rt.block_on(async {
        let deadline = Instant::now() + Duration::from_secs(120);
        loop {
            let counts = inbox.counts(&store_pool).await.unwrap();
            let open: i64 = counts
                .iter()
                .filter(|(s, _)| matches!(s, InboxStatus::Pending | InboxStatus::Processing))
                .map(|(_, n)| n)
                .sum();
            if open == 0 || Instant::now() > deadline {
                break counts;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    });
    server_rt.block_on(workers.shutdown());
    println!(
        "| {name} | {RATE}/s for {SECONDS} s | {} | {:.1} ms | {:.1} ms | {:.1} ms | {processed:?} |",
        latencies.len(),
        percentile(&latencies, 0.50).as_secs_f64() * 1e3,
        percentile(&latencies, 0.99).as_secs_f64() * 1e3,
        latencies.last().unwrap().as_secs_f64() * 1e3,
    );
}

/// Events per second the workers process with a no-op handler, from a full inbox.
fn throughput<DB: Backend>(
    name: &str,
    pools: impl FnOnce() -> (Pool<DB>, Option<Pool<DB>>),
    concurrency: usize,
    batch: u32,
) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let (pool, inbox_pool) = {
        let _inside = rt.enter();
        pools()
    };
    let inbox = Inbox::new(Ledger::new());
    let store_pool = inbox_pool.clone().unwrap_or_else(|| pool.clone());
    rt.block_on(async {
        inbox.ledger().migrate(&pool).await.unwrap();
        inbox.migrate(&store_pool).await.unwrap();
        let verifier: Verifier = test_verifier();
        let secret = test_secret();
        for _ in 0..DRAIN {
            let body = fresh_body(now());
            let signature = sign(&secret, &body);
            let verified = verifier.verify(&body, &signature).unwrap();
            inbox
                .store(&store_pool, &verified, body.as_bytes(), [signature])
                .await
                .unwrap();
        }
        let started = Instant::now();
        let mut worker = inbox
            .worker(pool.clone(), test_verifier(), no_op::<DB>)
            .concurrency(concurrency)
            .batch_size(batch);
        if let Some(inbox_pool) = inbox_pool {
            worker = worker.inbox_pool(inbox_pool);
        }
        let workers = worker.spawn();
        let deadline = started + Duration::from_secs(300);
        let done = loop {
            let counts = inbox.counts(&store_pool).await.unwrap();
            let open: i64 = counts
                .iter()
                .filter(|(s, _)| matches!(s, InboxStatus::Pending | InboxStatus::Processing))
                .map(|(_, n)| n)
                .sum();
            if open == 0 || Instant::now() > deadline {
                break counts;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        };
        let elapsed = started.elapsed();
        workers.shutdown().await;
        let processed: i64 = done
            .iter()
            .filter(|(s, _)| *s == InboxStatus::Done)
            .map(|(_, n)| n)
            .sum::<i64>();
        println!(
            "| {name} | {concurrency} | {batch} | {processed} | {:.2} s | {:.0} events/s |",
            elapsed.as_secs_f64(),
            processed as f64 / elapsed.as_secs_f64()
        );
    });
}

fn main() {
    // `cargo bench` passes `--bench`; nothing here takes arguments.
    let server = PostgresServer::start();
    let dir = std::env::temp_dir().join(format!(
        "rxscale-webhooks-inbox-bench-{}",
        std::process::id()
    ));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let sqlite_url = |name: &str| format!("sqlite://{}?mode=rwc", dir.join(name).display());
    let postgres_url = |name: &str| server.create_database(name);
    let sqlite_pools = |url: String| {
        move || {
            (
                sqlite::pool(&url).unwrap(),
                Some(sqlite::inbox_pool(&url).unwrap()),
            )
        }
    };

    println!("| database | load | deliveries | p50 to 200 | p99 to 200 | max | inbox after |");
    println!("|---|---|---|---|---|---|---|");
    let url = postgres_url("latency");
    latency("postgres", || (postgres::pool(&url).unwrap(), None));
    latency("sqlite", sqlite_pools(sqlite_url("latency.db")));

    println!();
    println!("| database | concurrency | batch | events | time | throughput |");
    println!("|---|---|---|---|---|---|");
    for (i, (concurrency, batch)) in [(2, 4), (4, 16)].into_iter().enumerate() {
        let url = postgres_url(&format!("drain{i}"));
        throughput(
            "postgres",
            || (postgres::pool(&url).unwrap(), None),
            concurrency,
            batch,
        );
    }
    for (i, (concurrency, batch)) in [(1, 4), (2, 4), (2, 16)].into_iter().enumerate() {
        throughput(
            "sqlite",
            sqlite_pools(sqlite_url(&format!("drain{i}.db"))),
            concurrency,
            batch,
        );
    }
    let _ = std::fs::remove_dir_all(&dir);
}
