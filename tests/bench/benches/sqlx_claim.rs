//! What the transactional claim of `rxscale-webhooks-sqlx` costs inside a transaction, against
//! the same transaction without it, on a real Postgres (loopback TCP, started here) and a SQLite
//! file; then events per second end to end through `pharmacy_receiver` over real HTTP.
//!
//! ```text
//! cargo bench -p rxscale-webhooks-tests --bench sqlx_claim
//! ```
//!
//! Bounded: each criterion case warms up for 1 s and measures for 3 s; the end-to-end runs send
//! 2,000 deliveries each. Every transaction writes one `effects_log` row, as a handler would.
#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used)]

use std::path::PathBuf;
use std::process::Stdio;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use criterion::Criterion;
use rxscale_webhooks::{SigningSecret, Verified, Verifier, sign};
use rxscale_webhooks_sqlx::sqlx::{self, PgPool, SqlitePool};
use rxscale_webhooks_sqlx::{Claim, Ledger, postgres, sqlite};
use rxscale_webhooks_tests::postgres_server::PostgresServer;
use rxscale_webhooks_tests::{TEST_SECRET, test_secret};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::runtime::Runtime;

static NEXT: AtomicU64 = AtomicU64::new(0);

fn verifier() -> Verifier {
    Verifier::builder()
        .secret(test_secret())
        .no_max_age()
        .no_max_future_skew()
        .build()
        .unwrap()
}

/// A fresh `pharmacy_order_updated` of its own order: every claim is `Fresh`.
fn fresh_body(timestamp: i64) -> String {
    let n = NEXT.fetch_add(1, Ordering::Relaxed);
    format!(
        r##"{{"event_type":"pharmacy_order_updated","timestamp":{timestamp},"payload_version":"1","data":{{"uid":"po-{n}","status":"init","name":"#1","created_at":1,"updated_at":100,"pharmacy":{{"uid":"ph-1"}},"order":{{"uid":"ord-1"}},"order_items":[]}}}}"##
    )
}

fn fresh_events(count: u64) -> Vec<Verified> {
    let verifier = verifier();
    let secret = SigningSecret::new(TEST_SECRET);
    (0..count)
        .map(|_| {
            let body = fresh_body(1_700_000_000);
            verifier.verify(&body, sign(&secret, &body)).unwrap()
        })
        .collect()
}

const EFFECT: &str = "INSERT INTO effects_log (dedup_key) VALUES ($1)";

macro_rules! cases {
    ($criterion:expr, $rt:expr, $name:literal, $pool:expr) => {{
        let pool = $pool;
        let ledger = Ledger::new();
        let unordered = Ledger::builder().ordering(false).build().unwrap();
        $rt.block_on(async {
            ledger.migrate(&pool).await.unwrap();
            sqlx::query("CREATE TABLE IF NOT EXISTS effects_log (dedup_key TEXT NOT NULL)")
                .execute(&pool)
                .await
                .unwrap();
        });
        let mut group = $criterion.benchmark_group(concat!("sqlx_claim/", $name));
        group
            .warm_up_time(Duration::from_secs(1))
            .measurement_time(Duration::from_secs(3))
            .sample_size(20);
        group.bench_function("round trip (SELECT 1)", |b| {
            b.iter(|| {
                $rt.block_on(async {
                    sqlx::query("SELECT 1").execute(&pool).await.unwrap();
                })
            })
        });
        group.bench_function("tx: effect only", |b| {
            b.iter_custom(|iters| {
                let events = fresh_events(iters);
                $rt.block_on(async {
                    let started = Instant::now();
                    for event in &events {
                        let mut tx = ledger.begin(&pool).await.unwrap();
                        sqlx::query(EFFECT)
                            .bind(event.dedup_key().as_str())
                            .execute(&mut *tx)
                            .await
                            .unwrap();
                        tx.commit().await.unwrap();
                    }
                    started.elapsed()
                })
            })
        });
        for (case, ledger) in [
            ("tx: claim (ordered) + effect", &ledger),
            ("tx: claim (no ordering) + effect", &unordered),
        ] {
            group.bench_function(case, |b| {
                b.iter_custom(|iters| {
                    let events = fresh_events(iters);
                    $rt.block_on(async {
                        let started = Instant::now();
                        for event in &events {
                            let mut tx = ledger.begin(&pool).await.unwrap();
                            let claim = ledger.claim(&mut tx, event).await.unwrap();
                            assert_eq!(claim, Claim::Fresh);
                            sqlx::query(EFFECT)
                                .bind(event.dedup_key().as_str())
                                .execute(&mut *tx)
                                .await
                                .unwrap();
                            tx.commit().await.unwrap();
                        }
                        started.elapsed()
                    })
                })
            });
        }
        let duplicate = fresh_events(1).remove(0);
        $rt.block_on(async {
            let mut tx = ledger.begin(&pool).await.unwrap();
            ledger.claim(&mut tx, &duplicate).await.unwrap();
            tx.commit().await.unwrap();
        });
        group.bench_function("tx: claim of a duplicate", |b| {
            b.iter(|| {
                $rt.block_on(async {
                    let mut tx = ledger.begin(&pool).await.unwrap();
                    let claim = ledger.claim(&mut tx, &duplicate).await.unwrap();
                    assert_eq!(claim, Claim::Duplicate);
                    tx.commit().await.unwrap();
                })
            })
        });
        group.finish();
    }};
}

fn example_binary() -> PathBuf {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned());
    let workspace = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..");
    let output = std::process::Command::new(cargo)
        .current_dir(&workspace)
        .args(["build", "--quiet", "--profile", "bench", "-p", "examples"])
        .args(["--example", "pharmacy_receiver", "--message-format=json"])
        .stderr(Stdio::inherit())
        .output()
        .expect("cargo runs");
    assert!(output.status.success(), "building the example failed");
    String::from_utf8(output.stdout)
        .unwrap()
        .lines()
        .filter_map(|line| serde_json::from_str::<serde_json::Value>(line).ok())
        .filter(|message| message["target"]["name"] == "pharmacy_receiver")
        .find_map(|message| message["executable"].as_str().map(PathBuf::from))
        .expect("cargo reports the example's executable")
}

/// Deliveries through `pharmacy_receiver`, `CONCURRENCY` in flight, every one applied.
fn end_to_end(rt: &Runtime, name: &str, url: &str) {
    const DELIVERIES: usize = 2_000;
    const CONCURRENCY: usize = 32;
    let binary = example_binary();
    rt.block_on(async {
        let mut child = tokio::process::Command::new(&binary)
            .env("RXSCALE_WEBHOOK_SECRET", TEST_SECRET)
            .env("PORT", "0")
            .env("DATABASE_URL", url)
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .unwrap();
        let mut stderr = BufReader::new(child.stderr.take().unwrap()).lines();
        let banner = stderr.next_line().await.unwrap().unwrap();
        let addr = banner
            .strip_prefix("listening on http://")
            .and_then(|rest| rest.strip_suffix("/webhooks/rxscale"))
            .unwrap()
            .to_owned();
        let now = rxscale_webhooks::OffsetDateTime::now_utc().unix_timestamp();
        let bodies: Vec<String> = (0..DELIVERIES).map(|_| fresh_body(now)).collect();
        let queue = Arc::new(std::sync::Mutex::new(bodies));
        let client = reqwest::Client::new();
        let started = Instant::now();
        let workers: Vec<_> = (0..CONCURRENCY)
            .map(|_| {
                let (queue, client, addr) = (queue.clone(), client.clone(), addr.clone());
                tokio::spawn(async move {
                    loop {
                        let Some(body) = queue.lock().unwrap().pop() else {
                            return;
                        };
                        let response = client
                            .post(format!("http://{addr}/webhooks/rxscale"))
                            .header("x-webhook-signature", sign(&test_secret(), &body))
                            .body(body)
                            .send()
                            .await
                            .unwrap();
                        assert_eq!(response.status(), 200);
                        assert!(response.headers().get("x-webhook-duplicate").is_none());
                    }
                })
            })
            .collect();
        for worker in workers {
            worker.await.unwrap();
        }
        let elapsed = started.elapsed();
        println!(
            "sqlx_claim/end_to_end/{name}: {DELIVERIES} deliveries, {CONCURRENCY} in flight, {:.2?} -> {:.0} events/s",
            elapsed,
            DELIVERIES as f64 / elapsed.as_secs_f64()
        );
        child.kill().await.unwrap();
    });
}

fn main() {
    let rt = Runtime::new().unwrap();
    let mut criterion = Criterion::default().configure_from_args();
    let server = PostgresServer::start();
    let claims_url = server.create_database("claims");
    let e2e_url = server.create_database("e2e");
    let sqlite_dir =
        std::env::temp_dir().join(format!("rxscale-sqlx-bench-{}", std::process::id()));
    std::fs::create_dir_all(&sqlite_dir).unwrap();
    let sqlite_url = |name: &str| format!("sqlite://{}?mode=rwc", sqlite_dir.join(name).display());

    let pg: PgPool = {
        let _guard = rt.enter();
        postgres::pool(&claims_url).unwrap()
    };
    cases!(criterion, rt, "postgres", pg);
    let lite: SqlitePool = {
        let _guard = rt.enter();
        sqlite::pool(&sqlite_url("claims.db")).unwrap()
    };
    cases!(criterion, rt, "sqlite", lite);
    criterion.final_summary();

    end_to_end(&rt, "postgres", &e2e_url);
    end_to_end(&rt, "sqlite", &sqlite_url("e2e.db"));
    let _ = std::fs::remove_dir_all(&sqlite_dir);
}
