//! The replay stores' own cost: one `claim` + `complete` round trip (what a fresh delivery
//! adds) and one `claim` of a completed key (what a redelivery costs), for the in-memory store
//! and for Redis on loopback (a real `redis-server` this bench starts and stops).
//!
//! ```text
//! cargo bench -p rxscale-webhooks-bench --bench replay_store
//! ```
//!
//! Bounded: each benchmark warms up for 1 s and measures for 3 s.
#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used)]

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use rxscale_webhooks::replay::{ClaimOutcome, ClaimToken, MemoryStore, ReplayStore};
use rxscale_webhooks_redis::RedisStore;
use rxscale_webhooks_tests::redis_server::RedisServer;
use tokio::runtime::Runtime;

const LEASE: Duration = Duration::from_secs(60);
const COMPLETED_TTL: Duration = Duration::from_secs(600);
/// Deliveries in flight at once in the concurrent benchmark.
const CONCURRENCY: u64 = 64;

static NEXT_KEY: AtomicU64 = AtomicU64::new(0);

/// A fresh dedup-key-shaped key, so that every claim is `Fresh`.
fn fresh_key() -> String {
    let n = NEXT_KEY.fetch_add(1, Ordering::Relaxed);
    format!("pharmacy_order_created:1700000000:bench-{n:012}")
}

async fn claim_and_complete(store: &impl ReplayStore) {
    let key = fresh_key();
    let token = ClaimToken::random().unwrap();
    let outcome = store.claim(&key, &token, LEASE).await.unwrap();
    assert_eq!(outcome, ClaimOutcome::Fresh);
    assert!(store.complete(&key, &token, COMPLETED_TTL).await.unwrap());
}

async fn claim_duplicate(store: &impl ReplayStore, key: &str) {
    let token = ClaimToken::random().unwrap();
    let outcome = store.claim(key, &token, LEASE).await.unwrap();
    assert_eq!(outcome, ClaimOutcome::Duplicate);
}

fn sequential<S: ReplayStore>(c: &mut Criterion, runtime: &Runtime, name: &str, store: &S) {
    let mut group = c.benchmark_group(format!("replay_store/{name}"));
    group.throughput(Throughput::Elements(1));
    group.bench_function("claim+complete", |b| {
        b.iter_custom(|iters| {
            runtime.block_on(async {
                let started = Instant::now();
                for _ in 0..iters {
                    claim_and_complete(store).await;
                }
                started.elapsed()
            })
        });
    });
    let completed = fresh_key();
    runtime.block_on(async {
        let token = ClaimToken::random().unwrap();
        store.claim(&completed, &token, LEASE).await.unwrap();
        store
            .complete(&completed, &token, COMPLETED_TTL)
            .await
            .unwrap();
    });
    group.bench_function("claim (duplicate)", |b| {
        b.iter_custom(|iters| {
            runtime.block_on(async {
                let started = Instant::now();
                for _ in 0..iters {
                    claim_duplicate(store, &completed).await;
                }
                started.elapsed()
            })
        });
    });
    group.finish();
}

/// `CONCURRENCY` deliveries at a time on a multi-threaded runtime, as a busy receiver would
/// issue them: the figure is per delivery.
fn concurrent<S: ReplayStore + Clone>(c: &mut Criterion, runtime: &Runtime, name: &str, store: &S) {
    let mut group = c.benchmark_group(format!("replay_store/{name}"));
    group.throughput(Throughput::Elements(CONCURRENCY));
    group.bench_function(format!("claim+complete x{CONCURRENCY} concurrent"), |b| {
        b.iter_custom(|iters| {
            runtime.block_on(async {
                let started = Instant::now();
                for _ in 0..iters {
                    let mut batch = tokio::task::JoinSet::new();
                    for _ in 0..CONCURRENCY {
                        let store = store.clone();
                        batch.spawn(async move { claim_and_complete(&store).await });
                    }
                    while let Some(done) = batch.join_next().await {
                        done.unwrap();
                    }
                }
                started.elapsed()
            })
        });
    });
    group.finish();
}

fn stores(c: &mut Criterion) {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();

    let memory = MemoryStore::new();
    sequential(c, &runtime, "memory", &memory);
    concurrent(c, &runtime, "memory", &memory);

    let server = RedisServer::start();
    let redis = runtime
        .block_on(RedisStore::connect(&server.url()))
        .unwrap();
    sequential(c, &runtime, "redis", &redis);
    concurrent(c, &runtime, "redis", &redis);
    drop(server);
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3))
        .sample_size(30);
    targets = stores
}
criterion_main!(benches);
