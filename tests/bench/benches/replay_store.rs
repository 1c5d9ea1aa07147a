//! The replay stores' own cost: one `claim` + `complete` round trip (what a fresh delivery
//! adds) and one `claim` of a completed key (what a redelivery costs), for the in-memory store,
//! for a single Redis and for a Redis Cluster on loopback (a real `redis-server`, and a real
//! cluster of 3 primaries with 1 replica each, that this bench starts and stops); then the
//! single node and the cluster side by side, interleaved, and events per second end to end
//! through two receiver instances (`axum_receiver` and `actix_receiver`) sharing each.
//!
//! ```text
//! cargo bench -p rxscale-webhooks-bench --bench replay_store
//! ```
//!
//! Bounded: each criterion case warms up for 1 s and measures for 3 s; the interleaved
//! comparison runs 15 rounds of 200 sequential, and of 640 concurrent, claim + complete pairs
//! per store; the end-to-end comparison 4 rounds of 1,000 deliveries per store, 32 in flight.
#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used)]

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use criterion::{Criterion, Throughput};
use rxscale_webhooks::replay::{ClaimOutcome, ClaimToken, MemoryStore, ReplayStore};
use rxscale_webhooks_redis::RedisStore;
use rxscale_webhooks_tests::TEST_SECRET;
use rxscale_webhooks_tests::redis_cluster::RedisCluster;
use rxscale_webhooks_tests::redis_server::RedisServer;
use tokio::runtime::Runtime;

mod common;

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

/// `batch` claim + complete pairs one after the other; the time they took.
fn sequential_batch<S: ReplayStore>(runtime: &Runtime, store: &S, batch: u64) -> Duration {
    runtime.block_on(async {
        let started = Instant::now();
        for _ in 0..batch {
            claim_and_complete(store).await;
        }
        started.elapsed()
    })
}

/// `batch` claim + complete pairs, `CONCURRENCY` in flight; the time they took.
fn concurrent_batch<S: ReplayStore + Clone>(runtime: &Runtime, store: &S, batch: u64) -> Duration {
    runtime.block_on(async {
        let started = Instant::now();
        let mut left = batch;
        while left > 0 {
            let mut wave = tokio::task::JoinSet::new();
            for _ in 0..left.min(CONCURRENCY) {
                let store = store.clone();
                wave.spawn(async move { claim_and_complete(&store).await });
            }
            left -= left.min(CONCURRENCY);
            while let Some(done) = wave.join_next().await {
                done.unwrap();
            }
        }
        started.elapsed()
    })
}

/// A fresh `pharmacy_order_created` of its own order.
fn fresh_body(timestamp: i64) -> String {
    let n = NEXT_KEY.fetch_add(1, Ordering::Relaxed);
    format!(
        r##"{{"event_type":"pharmacy_order_created","timestamp":{timestamp},"payload_version":"1","data":{{"uid":"po-e2e-{n}","status":"init","name":"#1","created_at":1,"updated_at":1,"pharmacy":{{"uid":"ph-1"}},"order":{{"uid":"ord-1"}},"order_items":[]}}}}"##
    )
}

/// Two receiver instances (axum and actix-web) on each store, rounds of deliveries to each
/// pair in turn: events per second, median over the rounds.
fn two_instances(runtime: &Runtime, single_url: &str, cluster_urls: &str) {
    const ROUNDS: usize = 4;
    const DELIVERIES: usize = 1_000;
    const IN_FLIGHT: usize = 32;
    let axum = common::example_binary("axum_receiver");
    let actix = common::example_binary("actix_receiver");
    runtime.block_on(async {
        let mut setups = Vec::new();
        for (name, url) in [("single Redis", single_url), ("Redis Cluster", cluster_urls)] {
            let env = [
                ("RXSCALE_WEBHOOK_SECRET", TEST_SECRET),
                ("RXSCALE_REDIS_URL", url),
            ];
            let pair = [
                common::Receiver::spawn(&axum, &env).await,
                common::Receiver::spawn(&actix, &env).await,
            ];
            setups.push((name, pair, Vec::new()));
        }
        let now = rxscale_webhooks::OffsetDateTime::now_utc().unix_timestamp();
        // One warm-up round each (connections, slot maps, scripts loaded), not counted.
        for round in 0..=ROUNDS {
            for (_, pair, rates) in &mut setups {
                let bodies = (0..DELIVERIES).map(|_| fresh_body(now)).collect();
                let elapsed = common::deliver(&[&pair[0], &pair[1]], bodies, IN_FLIGHT).await;
                if round > 0 {
                    rates.push(DELIVERIES as f64 / elapsed.as_secs_f64());
                }
            }
        }
        println!(
            "replay_store/two_instances: {ROUNDS} interleaved rounds of {DELIVERIES} deliveries per store, {IN_FLIGHT} in flight, spread over axum_receiver and actix_receiver"
        );
        for (name, _, rates) in &mut setups {
            rates.sort_by(f64::total_cmp);
            println!(
                "  {name:<14} median {:.0} events/s (rounds: {})",
                (rates[ROUNDS / 2 - 1] + rates[ROUNDS / 2]) / 2.0,
                rates
                    .iter()
                    .map(|rate| format!("{rate:.0}"))
                    .collect::<Vec<_>>()
                    .join(", ")
            );
        }
    });
}

fn main() {
    let mut c = Criterion::default()
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3))
        .sample_size(30)
        .configure_from_args();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();

    let memory = MemoryStore::new();
    sequential(&mut c, &runtime, "memory", &memory);
    concurrent(&mut c, &runtime, "memory", &memory);

    let server = RedisServer::start();
    let redis = runtime
        .block_on(RedisStore::connect(&server.url()))
        .unwrap();
    sequential(&mut c, &runtime, "redis", &redis);
    concurrent(&mut c, &runtime, "redis", &redis);

    let cluster = RedisCluster::start();
    let on_cluster = runtime
        .block_on(RedisStore::connect(&cluster.urls()))
        .unwrap();
    assert!(on_cluster.is_cluster());
    sequential(&mut c, &runtime, "redis-cluster", &on_cluster);
    concurrent(&mut c, &runtime, "redis-cluster", &on_cluster);
    c.final_summary();

    common::interleave(
        "replay_store/single-vs-cluster/claim+complete",
        15,
        200,
        &mut [
            common::case("single Redis", |batch| {
                sequential_batch(&runtime, &redis, batch)
            }),
            common::case("Redis Cluster", |batch| {
                sequential_batch(&runtime, &on_cluster, batch)
            }),
        ],
    );
    common::interleave(
        &format!("replay_store/single-vs-cluster/claim+complete x{CONCURRENCY} concurrent"),
        15,
        10 * CONCURRENCY,
        &mut [
            common::case("single Redis", |batch| {
                concurrent_batch(&runtime, &redis, batch)
            }),
            common::case("Redis Cluster", |batch| {
                concurrent_batch(&runtime, &on_cluster, batch)
            }),
        ],
    );

    two_instances(&runtime, &server.url(), &cluster.urls());
    drop(cluster);
    drop(server);
}
