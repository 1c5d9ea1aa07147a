//! What the transactional claim of `rxscale-webhooks-sqlx` costs inside a transaction, against
//! the same transaction without it, on a real Postgres (loopback TCP, started here) and a SQLite
//! file; then events per second end to end through `pharmacy_receiver` over real HTTP.
//!
//! ```text
//! cargo bench -p rxscale-webhooks-bench --bench sqlx_claim
//! ```
//!
//! Three measurements per database:
//! - the statements the claim sends, counted from sqlx's own per-statement events as the
//!   difference from the same transaction without it (on Postgres each is one round trip once
//!   prepared: sqlx caches prepared statements per connection);
//! - criterion cases, one after the other;
//! - the same cases **interleaved** (every round runs a batch of each, in rotating order), which
//!   is the comparison to read on a shared machine: the claim's cost is the median over rounds
//!   of (claim + effect) - (effect only) in the same round, and the `SELECT 1` case gives the
//!   price of one round trip measured alongside.
//!
//! The baselines the claim is compared with, in the same transaction: one extra `SELECT 1`
//! (a round trip that writes nothing) and one extra `INSERT` into a table with a unique text key
//! (a round trip that writes). Then the same transactions driven by `pgbench` against the same
//! server, which takes sqlx and tokio out of the figures.
//!
//! Bounded: each criterion case warms up for 1 s and measures for 3 s; the interleaved runs do
//! 15 rounds of 200 transactions per case; `pgbench` runs 5 rounds of 4 s per script; the
//! end-to-end runs send 2,000 deliveries each. Every
//! transaction writes one `effects_log` row, as a handler would.
#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used)]

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use criterion::Criterion;
use rxscale_webhooks::{SigningSecret, Verified, Verifier, sign};
use rxscale_webhooks_sqlx::sqlx::{self, PgPool, SqlitePool};
use rxscale_webhooks_sqlx::{Claim, Ledger, postgres, sqlite};
use rxscale_webhooks_tests::postgres_server::PostgresServer;
use rxscale_webhooks_tests::{TEST_SECRET, test_secret};
use tokio::runtime::Runtime;
use tracing_subscriber::layer::{Context, SubscriberExt as _};

mod common;

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

/// A new `pharmacy_order_updated` (its own key) of one of 100 orders already claimed, with a
/// newer `updated_at`: every claim is `Fresh` and updates the entity's version in place.
fn known_entity_body() -> String {
    let n = NEXT.fetch_add(1, Ordering::Relaxed);
    let (timestamp, uid) = (1_600_000_000 + n, n % 100);
    format!(
        r##"{{"event_type":"pharmacy_order_updated","timestamp":{timestamp},"payload_version":"1","data":{{"uid":"known-{uid}","status":"init","name":"#1","created_at":1,"updated_at":{n},"pharmacy":{{"uid":"ph-1"}},"order":{{"uid":"ord-1"}},"order_items":[]}}}}"##
    )
}

fn events(count: u64, body: impl Fn() -> String) -> Vec<Verified> {
    let verifier = verifier();
    let secret = SigningSecret::new(TEST_SECRET);
    (0..count)
        .map(|_| {
            let body = body();
            verifier.verify(&body, sign(&secret, &body)).unwrap()
        })
        .collect()
}

fn fresh_events(count: u64) -> Vec<Verified> {
    events(count, || fresh_body(1_700_000_000))
}

fn known_entity_events(count: u64) -> Vec<Verified> {
    events(count, known_entity_body)
}

/// What a transaction sends besides its effect.
#[derive(Clone, Copy)]
enum Extra<'a> {
    /// Nothing: `BEGIN`, the effect, `COMMIT`.
    Nothing,
    /// One extra round trip that reads nothing and writes nothing: `SELECT 1`.
    SelectOne,
    /// One extra round trip that writes: a plain INSERT into a table with a unique text key.
    UniqueInsert,
    /// The ledger's claim.
    Claim(&'a Ledger),
}

const UNIQUE_INSERT: &str = "INSERT INTO bench_unique (k) VALUES ($1)";

/// Counts sqlx's per-statement events (target `sqlx::query`) while `COUNTING` is set; when it
/// is not, sqlx skips building the event, so the timed runs pay one atomic load per statement.
struct CountStatements;

static COUNTING: AtomicBool = AtomicBool::new(false);
static STATEMENTS: AtomicU64 = AtomicU64::new(0);
const SQLX_QUERY: &str = "sqlx::query";

impl<S: tracing::Subscriber> tracing_subscriber::Layer<S> for CountStatements {
    fn register_callsite(
        &self,
        metadata: &'static tracing::Metadata<'static>,
    ) -> tracing::subscriber::Interest {
        if metadata.target() == SQLX_QUERY {
            tracing::subscriber::Interest::sometimes()
        } else {
            tracing::subscriber::Interest::never()
        }
    }

    fn enabled(&self, metadata: &tracing::Metadata<'_>, _: Context<'_, S>) -> bool {
        metadata.target() == SQLX_QUERY && COUNTING.load(Ordering::SeqCst)
    }

    fn on_event(&self, event: &tracing::Event<'_>, _: Context<'_, S>) {
        if event.metadata().target() == SQLX_QUERY {
            STATEMENTS.fetch_add(1, Ordering::SeqCst);
        }
    }
}

/// The statements `run` sends to the database.
fn statements(rt: &Runtime, run: impl std::future::Future<Output = ()>) -> u64 {
    STATEMENTS.store(0, Ordering::SeqCst);
    COUNTING.store(true, Ordering::SeqCst);
    rt.block_on(run);
    COUNTING.store(false, Ordering::SeqCst);
    STATEMENTS.load(Ordering::SeqCst)
}

const EFFECT: &str = "INSERT INTO effects_log (dedup_key) VALUES ($1)";

/// `batch` transactions on `events` (built before the clock starts), each writing the effect
/// after `extra`; returns the time they took.
macro_rules! transactions {
    ($rt:expr, $pool:expr, $ledger:expr, $extra:expr, $events:expr) => {{
        let events: Vec<Verified> = $events;
        let extra: Extra<'_> = $extra;
        $rt.block_on(async {
            let started = Instant::now();
            for event in &events {
                let key = event.dedup_key().as_str();
                let mut tx = $ledger.begin(&$pool).await.unwrap();
                match extra {
                    Extra::Nothing => {}
                    Extra::SelectOne => {
                        sqlx::query("SELECT 1").execute(&mut *tx).await.unwrap();
                    }
                    Extra::UniqueInsert => {
                        sqlx::query(UNIQUE_INSERT)
                            .bind(key)
                            .execute(&mut *tx)
                            .await
                            .unwrap();
                    }
                    Extra::Claim(claimer) => {
                        assert_eq!(claimer.claim(&mut tx, event).await.unwrap(), Claim::Fresh);
                    }
                }
                sqlx::query(EFFECT)
                    .bind(key)
                    .execute(&mut *tx)
                    .await
                    .unwrap();
                tx.commit().await.unwrap();
            }
            started.elapsed()
        })
    }};
}

/// `batch` round trips (`SELECT 1`) on one connection already taken from the pool.
macro_rules! round_trips {
    ($rt:expr, $pool:expr, $batch:expr) => {{
        $rt.block_on(async {
            let mut conn = $pool.acquire().await.unwrap();
            let started = Instant::now();
            for _ in 0..$batch {
                sqlx::query("SELECT 1").execute(&mut *conn).await.unwrap();
            }
            started.elapsed()
        })
    }};
}

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
            sqlx::query("CREATE TABLE IF NOT EXISTS bench_unique (k TEXT PRIMARY KEY)")
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
            b.iter_custom(|iters| round_trips!($rt, pool, iters))
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

        // Statements per transaction, with the statement caches warm from the runs above.
        let count = |claimer: Option<&Ledger>| {
            statements(&$rt, async {
                let event = fresh_events(1).remove(0);
                let mut tx = ledger.begin(&pool).await.unwrap();
                if let Some(claimer) = claimer {
                    assert_eq!(claimer.claim(&mut tx, &event).await.unwrap(), Claim::Fresh);
                }
                sqlx::query(EFFECT)
                    .bind(event.dedup_key().as_str())
                    .execute(&mut *tx)
                    .await
                    .unwrap();
                tx.commit().await.unwrap();
            })
        };
        let (effect_only, ordered, no_ordering) = (count(None), count(Some(&ledger)), count(Some(&unordered)));
        let duplicate_claim = statements(&$rt, async {
            let mut tx = ledger.begin(&pool).await.unwrap();
            assert_eq!(ledger.claim(&mut tx, &duplicate).await.unwrap(), Claim::Duplicate);
            tx.commit().await.unwrap();
        });
        // sqlx logs BEGIN on Postgres but not on SQLite, and COMMIT on neither: the claim's own
        // statements are the difference from the same transaction without it.
        println!(
            "sqlx_claim/{}: statements the claim sends: {} ordered, {} without ordering, {} for a duplicate (sqlx's log per transaction: effect only {effect_only}, claim (ordered) + effect {ordered}, claim (no ordering) + effect {no_ordering}, claim of a duplicate alone {duplicate_claim})",
            $name,
            ordered - effect_only,
            no_ordering - effect_only,
            duplicate_claim + 1 - effect_only,
        );

        let mut cases = vec![
            common::case("tx: effect only", |batch| transactions!($rt, pool, ledger, Extra::Nothing, fresh_events(batch))),
            common::case("tx: SELECT 1 + effect", |batch| transactions!($rt, pool, ledger, Extra::SelectOne, fresh_events(batch))),
            common::case("tx: unique INSERT + effect", |batch| transactions!($rt, pool, ledger, Extra::UniqueInsert, fresh_events(batch))),
            common::case("tx: claim (no ordering) + effect", |batch| transactions!($rt, pool, ledger, Extra::Claim(&unordered), fresh_events(batch))),
            common::case("tx: claim (ordered, new entity) + effect", |batch| transactions!($rt, pool, ledger, Extra::Claim(&ledger), fresh_events(batch))),
            common::case("tx: claim (ordered, known entity) + effect", |batch| transactions!($rt, pool, ledger, Extra::Claim(&ledger), known_entity_events(batch))),
        ];
        let summary = common::interleave(concat!("sqlx_claim/", $name, "/interleaved"), 15, 200, &mut cases);
        let (select_one, unique_insert) = (summary[1].delta_us, summary[2].delta_us);
        println!(
            "sqlx_claim/{}: in the same transaction, SELECT 1 adds {select_one:+.1} µs and a unique INSERT {unique_insert:+.1} µs; the claim adds:",
            $name
        );
        for case in &summary[3..] {
            println!(
                "  {:<44} {:+7.1} µs = x{:.2} of the unique INSERT's, x{:.2} of SELECT 1's",
                case.name,
                case.delta_us,
                case.delta_us / unique_insert,
                case.delta_us / select_one,
            );
        }
    }};
}

/// Deliveries through `pharmacy_receiver`, `CONCURRENCY` in flight, every one applied.
fn end_to_end(rt: &Runtime, name: &str, url: &str) {
    const DELIVERIES: usize = 2_000;
    const CONCURRENCY: usize = 32;
    let binary = common::example_binary("pharmacy_receiver");
    rt.block_on(async {
        let receiver = common::Receiver::spawn(
            &binary,
            &[("RXSCALE_WEBHOOK_SECRET", TEST_SECRET), ("DATABASE_URL", url)],
        )
        .await;
        let now = rxscale_webhooks::OffsetDateTime::now_utc().unix_timestamp();
        let bodies: Vec<String> = (0..DELIVERIES).map(|_| fresh_body(now)).collect();
        let elapsed = common::deliver(&[&receiver], bodies, CONCURRENCY).await;
        println!(
            "sqlx_claim/end_to_end/{name}: {DELIVERIES} deliveries, {CONCURRENCY} in flight, {:.2?} -> {:.0} events/s",
            elapsed,
            DELIVERIES as f64 / elapsed.as_secs_f64()
        );
    });
}

/// The same transactions driven by `pgbench` (one client, prepared statements, loopback TCP)
/// against the bench's own server and its migrated `claims` database: the server's cost of each
/// statement without sqlx or tokio in between. Five rounds of `-T 4` per script, interleaved.
fn pgbench(server: &PostgresServer, database: &str) {
    const ROUNDS: usize = 5;
    const SECONDS: &str = "4";
    // The claim's statements, as `schema.rs` writes them for the default prefix.
    let key = r"'pgb-' || :k";
    let claim = format!(
        "INSERT INTO rxscale_webhooks_keys (dedup_key, event_time) VALUES ({key}, 1700000000) \
         ON CONFLICT (dedup_key) DO NOTHING;"
    );
    // A version that only grows (one client), so that a known entity's version is updated.
    let version = "(extract(epoch FROM clock_timestamp()) * 1000000)::bigint";
    let ordered = |entity: &str| {
        format!(
            "WITH claimed AS ( \
               INSERT INTO rxscale_webhooks_keys (dedup_key, event_time) VALUES ({key}, 1700000000) \
               ON CONFLICT (dedup_key) DO NOTHING RETURNING 1 \
             ), advanced AS ( \
               INSERT INTO rxscale_webhooks_entity_versions (kind, id, version) \
               SELECT 'pharmacy_order'::text, {entity}::text, {version} FROM claimed \
               ON CONFLICT (kind, id) DO UPDATE SET version = excluded.version \
               WHERE rxscale_webhooks_entity_versions.version <= excluded.version RETURNING 1 \
             ) \
             SELECT EXISTS (SELECT 1 FROM claimed), EXISTS (SELECT 1 FROM advanced);"
        )
    };
    let scripts = [
        ("tx: effect only", String::new()),
        ("tx: SELECT 1 + effect", "SELECT 1;".to_owned()),
        (
            "tx: unique INSERT + effect",
            format!("INSERT INTO bench_unique (k) VALUES ({key});"),
        ),
        ("tx: claim (no ordering) + effect", claim),
        ("tx: claim (ordered, new entity) + effect", ordered(key)),
        (
            "tx: claim (ordered, known entity) + effect",
            ordered("'pgb-known-' || :e"),
        ),
    ];
    let dir = std::env::temp_dir().join(format!("rxscale-sqlx-pgbench-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    // Known entities: 100 of them, versions below any clock reading.
    server.psql(
        database,
        "INSERT INTO rxscale_webhooks_entity_versions (kind, id, version) \
         SELECT 'pharmacy_order', 'pgb-known-' || e, 0 FROM generate_series(1, 100) AS e \
         ON CONFLICT DO NOTHING",
    );
    let files: Vec<_> = scripts
        .iter()
        .enumerate()
        .map(|(index, (_, extra))| {
            let file = dir.join(format!("{index}.sql"));
            std::fs::write(
                &file,
                format!(
                    "\\set k random(1, 1000000000000000)\n\\set e random(1, 100)\nBEGIN;\n{extra}\n\
                     INSERT INTO effects_log (dedup_key) VALUES ({key});\nCOMMIT;\n"
                ),
            )
            .unwrap();
            file
        })
        .collect();
    let port = server.addr().port().to_string();
    let mut latencies: Vec<Vec<f64>> = vec![Vec::new(); scripts.len()];
    for round in 0..ROUNDS {
        for offset in 0..scripts.len() {
            let index = (round + offset) % scripts.len();
            let output = std::process::Command::new(server.program("pgbench"))
                .args(["-h", "127.0.0.1", "-p", &port, "-U", "postgres", "-n"])
                .args(["-M", "prepared", "-c", "1", "-T", SECONDS, "-f"])
                .arg(&files[index])
                .arg(database)
                .output()
                .expect("pgbench runs");
            let stdout = String::from_utf8_lossy(&output.stdout);
            assert!(
                output.status.success(),
                "pgbench failed: {}",
                String::from_utf8_lossy(&output.stderr)
            );
            let ms: f64 = stdout
                .lines()
                .find_map(|line| line.strip_prefix("latency average = "))
                .and_then(|rest| rest.trim_end_matches(" ms").parse().ok())
                .expect("pgbench reports its average latency");
            latencies[index].push(ms * 1000.0);
        }
    }
    let median = |values: &[f64]| {
        let mut sorted = values.to_vec();
        sorted.sort_by(f64::total_cmp);
        sorted[sorted.len() / 2]
    };
    let medians: Vec<f64> = latencies.iter().map(|values| median(values)).collect();
    println!(
        "sqlx_claim/pgbench: {ROUNDS} interleaved rounds of {SECONDS} s per script, 1 client, -M prepared; median latency per transaction:"
    );
    let (select_one, unique_insert) = (medians[1] - medians[0], medians[2] - medians[0]);
    for ((name, _), us) in scripts.iter().zip(&medians) {
        let delta = us - medians[0];
        println!(
            "  {name:<44} {us:6.1} µs  ({delta:+6.1} µs = x{:.2} of the unique INSERT's, x{:.2} of SELECT 1's)",
            delta / unique_insert,
            delta / select_one,
        );
    }
    let _ = std::fs::remove_dir_all(&dir);
}

fn main() {
    tracing::subscriber::set_global_default(tracing_subscriber::registry().with(CountStatements))
        .unwrap();
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
    pgbench(&server, "claims");
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
