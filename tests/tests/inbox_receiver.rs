//! `examples/examples/inbox_receiver.rs` (reply first, process durably) over real HTTP, against
//! a real Postgres started here and a SQLite file, with the `rxscale-webhooks inbox` command:
//! a slow handler, a worker killed mid-event, two instances under 2,000 deliveries with copies,
//! out-of-order updates and always-failing handlers, and a Postgres that goes away.
//! Every test is bounded in time.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::{BTreeMap, BTreeSet};
use std::future::Future;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use rxscale_webhooks::{OffsetDateTime, sign};
use rxscale_webhooks_tests::postgres_server::PostgresServer;
use rxscale_webhooks_tests::{TEST_SECRET, example_binary, test_secret};
use sqlx::Connection as _;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

/// Runs a test body within `limit`, so that a hang fails instead of blocking the suite.
async fn bounded(limit: Duration, body: impl Future<Output = ()>) {
    tokio::time::timeout(limit, body)
        .await
        .unwrap_or_else(|_| panic!("the test did not finish within {limit:?}"));
}

enum Db {
    Postgres(PostgresServer),
    Sqlite(PathBuf),
}

impl Db {
    fn postgres() -> Self {
        Db::Postgres(PostgresServer::start())
    }

    fn sqlite(name: &str) -> Self {
        let path = std::env::temp_dir().join(format!(
            "rxscale-webhooks-inbox-{name}-{}.db",
            std::process::id()
        ));
        let db = Db::Sqlite(path);
        db.remove_files();
        db
    }

    fn remove_files(&self) {
        if let Db::Sqlite(path) = self {
            for file in ["", "-wal", "-shm", ".inbox", ".inbox-wal", ".inbox-shm"] {
                let _ = std::fs::remove_file(format!("{}{file}", path.display()));
            }
        }
    }

    fn url(&self) -> String {
        match self {
            Db::Postgres(server) => server.url(),
            Db::Sqlite(path) => format!("sqlite://{}?mode=rwc", path.display()),
        }
    }

    /// One value, as text, read past the receiver.
    async fn scalar(&self, sql: &str) -> String {
        match self {
            Db::Postgres(server) => server.psql("postgres", sql),
            Db::Sqlite(_) => {
                let mut conn = sqlx::SqliteConnection::connect(&self.url()).await.unwrap();
                sqlx::query_scalar(&format!("SELECT CAST(({sql}) AS TEXT)"))
                    .fetch_one(&mut conn)
                    .await
                    .unwrap()
            }
        }
    }

    /// Rows of two text columns, read past the receiver.
    async fn pairs(&self, sql: &str) -> BTreeMap<String, String> {
        match self {
            Db::Postgres(server) => server
                .psql("postgres", sql)
                .lines()
                .filter_map(|line| line.split_once('|'))
                .map(|(a, b)| (a.to_owned(), b.to_owned()))
                .collect(),
            Db::Sqlite(_) => {
                let mut conn = sqlx::SqliteConnection::connect(&self.url()).await.unwrap();
                let rows: Vec<(String, String)> =
                    sqlx::query_as(sql).fetch_all(&mut conn).await.unwrap();
                rows.into_iter().collect()
            }
        }
    }

    async fn effects(&self) -> i64 {
        self.scalar("SELECT COUNT(*) FROM effects_log")
            .await
            .parse()
            .unwrap()
    }

    async fn distinct_effects(&self) -> i64 {
        self.scalar("SELECT COUNT(DISTINCT dedup_key) FROM effects_log")
            .await
            .parse()
            .unwrap()
    }

    /// Whether a worker's transaction on the effects database is open right now.
    async fn transaction_open(&self) -> bool {
        match self {
            Db::Postgres(server) => {
                server.psql(
                    "postgres",
                    "SELECT COUNT(*) FROM pg_stat_activity WHERE state = 'idle in transaction'",
                ) != "0"
            }
            Db::Sqlite(_) => {
                let mut conn = sqlx::SqliteConnection::connect(&self.url()).await.unwrap();
                sqlx::query("PRAGMA busy_timeout = 0")
                    .execute(&mut conn)
                    .await
                    .unwrap();
                let busy = sqlx::query("BEGIN IMMEDIATE")
                    .execute(&mut conn)
                    .await
                    .is_err();
                if !busy {
                    sqlx::query("ROLLBACK").execute(&mut conn).await.unwrap();
                }
                busy
            }
        }
    }
}

impl Drop for Db {
    fn drop(&mut self) {
        self.remove_files();
    }
}

/// The `rxscale-webhooks` binary, built by the cargo running these tests.
fn cli_binary() -> PathBuf {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned());
    let workspace = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let output = std::process::Command::new(cargo)
        .current_dir(&workspace)
        .args([
            "build",
            "--quiet",
            "-p",
            "rxscale-webhooks-cli",
            "--bin",
            "rxscale-webhooks",
        ])
        .arg("--message-format=json-render-diagnostics")
        .stderr(Stdio::inherit())
        .output()
        .expect("cargo runs");
    assert!(output.status.success(), "building rxscale-webhooks failed");
    String::from_utf8(output.stdout)
        .unwrap()
        .lines()
        .filter_map(|line| serde_json::from_str::<serde_json::Value>(line).ok())
        .filter(|message| message["target"]["name"] == "rxscale-webhooks")
        .find_map(|message| message["executable"].as_str().map(PathBuf::from))
        .expect("cargo reports the CLI's executable")
}

/// `rxscale-webhooks inbox ARGS --json` with DATABASE_URL, as JSON objects.
async fn cli(db: &Db, args: &[&str]) -> Vec<serde_json::Value> {
    let output = Command::new(cli_binary())
        .arg("inbox")
        .args(args)
        .arg("--json")
        .env("DATABASE_URL", db.url())
        .output()
        .await
        .unwrap();
    assert!(
        output.status.success(),
        "inbox {args:?} failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout)
        .unwrap()
        .lines()
        .map(|line| serde_json::from_str(line).expect("one JSON object per line"))
        .collect()
}

/// Every event's status, by key, as `inbox list --json` prints it.
async fn statuses(db: &Db) -> BTreeMap<String, String> {
    cli(db, &["list", "--limit", "100000"])
        .await
        .into_iter()
        .map(|entry| {
            (
                entry["key"].as_str().unwrap().to_owned(),
                entry["status"].as_str().unwrap().to_owned(),
            )
        })
        .collect()
}

struct Receiver {
    child: Child,
    addr: SocketAddr,
    lines: Arc<Mutex<Vec<String>>>,
}

impl Receiver {
    async fn start(db: &Db, env: &[(&str, &str)]) -> Self {
        let mut command = Command::new(example_binary("inbox_receiver"));
        command
            .env("RXSCALE_WEBHOOK_SECRET", TEST_SECRET)
            .env("PORT", "0")
            .env("DATABASE_URL", db.url());
        for (name, value) in env {
            command.env(name, value);
        }
        let mut child = command
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .unwrap();
        let mut stderr = BufReader::new(child.stderr.take().unwrap()).lines();
        let banner = tokio::time::timeout(Duration::from_secs(30), stderr.next_line())
            .await
            .expect("the receiver starts in time")
            .unwrap()
            .expect("the receiver says where it listens");
        let addr: SocketAddr = banner
            .strip_prefix("listening on http://")
            .and_then(|rest| rest.strip_suffix("/webhooks/rxscale"))
            .unwrap_or_else(|| panic!("unexpected banner: {banner}"))
            .parse()
            .unwrap();
        tokio::spawn(async move { while let Ok(Some(_)) = stderr.next_line().await {} });
        let lines = Arc::new(Mutex::new(Vec::new()));
        let mut stdout = BufReader::new(child.stdout.take().unwrap()).lines();
        let sink = Arc::clone(&lines);
        tokio::spawn(async move {
            while let Ok(Some(line)) = stdout.next_line().await {
                sink.lock().unwrap().push(line);
            }
        });
        Receiver { child, addr, lines }
    }

    fn lines(&self) -> Vec<String> {
        self.lines.lock().unwrap().clone()
    }

    /// Waits until the receiver printed `count` lines, then returns them.
    async fn wait_lines(&self, count: usize, limit: Duration) -> Vec<String> {
        let deadline = Instant::now() + limit;
        loop {
            let lines = self.lines();
            if lines.len() >= count {
                return lines;
            }
            assert!(
                Instant::now() < deadline,
                "{} of {count} lines within {limit:?}",
                lines.len()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    async fn kill(mut self) -> Vec<String> {
        self.child.kill().await.unwrap();
        // Let the reader take the last lines out of the pipe.
        tokio::time::sleep(Duration::from_millis(100)).await;
        self.lines()
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Answer {
    Stored,
    Duplicate,
    Status(u16),
}

async fn deliver(client: &reqwest::Client, addr: SocketAddr, body: &str) -> Answer {
    let response = client
        .post(format!("http://{addr}/webhooks/rxscale"))
        .header("content-type", "application/json")
        .header("x-webhook-signature", sign(&test_secret(), body))
        .body(body.to_owned())
        .timeout(Duration::from_secs(20))
        .send()
        .await
        .unwrap();
    let duplicate = response
        .headers()
        .get("x-webhook-duplicate")
        .is_some_and(|value| value == "true");
    match (response.status().as_u16(), duplicate) {
        (200, false) => Answer::Stored,
        (200, true) => Answer::Duplicate,
        (status, _) => Answer::Status(status),
    }
}

fn now() -> i64 {
    OffsetDateTime::now_utc().unix_timestamp()
}

fn order_event(timestamp: i64, uid: &str, status: &str, updated_at: i64) -> String {
    format!(
        r##"{{"event_type":"pharmacy_order_updated","timestamp":{timestamp},"payload_version":"1","data":{{"uid":"{uid}","status":"{status}","name":"#1","created_at":1,"updated_at":{updated_at},"pharmacy":{{"uid":"ph-1"}},"order":{{"uid":"ord-1"}},"order_items":[]}}}}"##
    )
}

fn stock_event(timestamp: i64, uid: &str, stock: i64, updated_at: i64) -> String {
    format!(
        r#"{{"event_type":"pharmacy_sku_stock_updated","timestamp":{timestamp},"payload_version":"1","data":{{"uid":"{uid}","stock":{stock},"updated_at":{updated_at}}}}}"#
    )
}

/// A handler that sleeps 8 s before its commit: every delivery is still answered within
/// 100 ms, and each event is processed once.
async fn slow_handler(db: Db) {
    let receiver = Receiver::start(&db, &[("HANDLER_DELAY_MS", "8000")]).await;
    let client = reqwest::Client::new();
    let ts = now() - 30;
    let bodies: Vec<String> = (0..3)
        .map(|i| order_event(ts, &format!("po-slow-{i}"), "init", 100))
        .collect();
    let mut slowest = Duration::ZERO;
    let mut answers = Vec::new();
    for round in 0..3 {
        for body in &bodies {
            let started = Instant::now();
            answers.push((round, deliver(&client, receiver.addr, body).await));
            slowest = slowest.max(started.elapsed());
        }
    }
    assert!(
        slowest < Duration::from_millis(100),
        "every 200 within 100 ms; the slowest took {slowest:?}"
    );
    for (round, answer) in answers {
        let expected = if round == 0 {
            Answer::Stored
        } else {
            Answer::Duplicate
        };
        assert_eq!(answer, expected);
    }
    let lines = receiver.wait_lines(3, Duration::from_secs(60)).await;
    assert_eq!(lines.iter().collect::<BTreeSet<_>>().len(), 3);
    assert_eq!(db.effects().await, 3);
    assert_eq!(db.distinct_effects().await, 3);
    assert_eq!(receiver.kill().await.len(), 3, "each event processed once");
}

/// SIGKILL while the worker's transaction is open, restart: processed exactly once.
async fn killed_mid_event(db: Db) {
    let lease = ("INBOX_LEASE_MS", "3000");
    let receiver = Receiver::start(&db, &[("HANDLER_DELAY_MS", "60000"), lease]).await;
    let client = reqwest::Client::new();
    let body = order_event(now() - 5, "po-crash", "init", 100);
    assert_eq!(deliver(&client, receiver.addr, &body).await, Answer::Stored);
    let deadline = Instant::now() + Duration::from_secs(20);
    while !db.transaction_open().await {
        assert!(
            Instant::now() < deadline,
            "the worker never got into its transaction"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(receiver.kill().await.is_empty(), "nothing was committed");
    assert_eq!(db.effects().await, 0, "the killed transaction rolled back");

    let receiver = Receiver::start(&db, &[lease]).await;
    let lines = receiver.wait_lines(1, Duration::from_secs(30)).await;
    assert!(lines[0].contains("po-crash"), "{lines:?}");
    assert_eq!(
        deliver(&client, receiver.addr, &body).await,
        Answer::Duplicate
    );
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(db.effects().await, 1);
    assert_eq!(receiver.kill().await.len(), 1);
    let statuses = statuses(&db).await;
    assert_eq!(statuses.values().collect::<Vec<_>>(), ["done"]);
}

/// A deterministic shuffle (no randomness in what a test asserts).
fn shuffle<T>(items: &mut [T], mut seed: u64) {
    for i in (1..items.len()).rev() {
        seed = seed
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        let j = usize::try_from((seed >> 33) % (i as u64 + 1)).unwrap();
        items.swap(i, j);
    }
}

const ORDERS: i64 = 150;
const ORDER_VERSIONS: i64 = 6;
const SKUS: i64 = 100;
const SKU_VERSIONS: i64 = 4;
const FAILING: i64 = 5;
const DELIVERIES: usize = 2000;

/// 2,000 deliveries (1,305 events and 695 copies), shuffled so that updates of one order or
/// SKU arrive out of order, spread over `instances` receivers; five orders' handlers always
/// fail. Then the handler is fixed and `inbox retry --all` processes the dead letters.
async fn two_thousand_deliveries(db: Db, instances: usize) {
    let fail_uids: Vec<String> = (0..FAILING).map(|i| format!("po-fail-{i}")).collect();
    let fail_env = fail_uids.join(",");
    let env = [
        ("HANDLER_FAIL_UIDS", fail_env.as_str()),
        ("INBOX_MAX_ATTEMPTS", "3"),
    ];
    let mut receivers = Vec::new();
    for _ in 0..instances {
        receivers.push(Receiver::start(&db, &env).await);
    }
    let base = now() - 300;
    let mut events = Vec::new();
    for order in 0..ORDERS {
        for version in 0..ORDER_VERSIONS {
            let status = format!("status-{version}");
            events.push(order_event(
                base + version,
                &format!("po-{order}"),
                &status,
                1000 + version,
            ));
        }
    }
    for sku in 0..SKUS {
        for version in 0..SKU_VERSIONS {
            events.push(stock_event(
                base + version,
                &format!("psku-{sku}"),
                10 * version + sku,
                1000 + version,
            ));
        }
    }
    for uid in &fail_uids {
        events.push(order_event(base, uid, "init", 1000));
    }
    let distinct = events.len();
    let mut deliveries = events.clone();
    let mut copies = events.clone();
    shuffle(&mut copies, 7);
    deliveries.extend(copies.into_iter().take(DELIVERIES - distinct));
    shuffle(&mut deliveries, 42);
    assert_eq!(deliveries.len(), DELIVERIES);

    let addrs: Vec<SocketAddr> = receivers.iter().map(|r| r.addr).collect();
    let queue = Arc::new(Mutex::new(
        deliveries.into_iter().enumerate().collect::<Vec<_>>(),
    ));
    let mut senders = Vec::new();
    for _ in 0..16 {
        let (queue, addrs) = (Arc::clone(&queue), addrs.clone());
        senders.push(tokio::spawn(async move {
            let client = reqwest::Client::new();
            let mut answers = Vec::new();
            loop {
                let next = queue.lock().unwrap().pop();
                let Some((i, body)) = next else { break };
                answers.push(deliver(&client, addrs[i % addrs.len()], &body).await);
            }
            answers
        }));
    }
    let (mut stored, mut duplicates) = (0, 0);
    for sender in senders {
        for answer in sender.await.unwrap() {
            match answer {
                Answer::Stored => stored += 1,
                Answer::Duplicate => duplicates += 1,
                other => panic!("unexpected answer {other:?}"),
            }
        }
    }
    assert_eq!((stored, duplicates), (distinct, DELIVERIES - distinct));

    // Everything settles: processed, skipped as stale, or dead.
    let deadline = Instant::now() + Duration::from_secs(150);
    let settled = loop {
        let statuses = statuses(&db).await;
        if statuses.len() == distinct
            && statuses
                .values()
                .all(|s| s == "done" || s == "stale" || s == "dead")
        {
            break statuses;
        }
        assert!(
            Instant::now() < deadline,
            "the inbox did not settle: {:?}",
            count(&statuses)
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    };
    let dead: BTreeSet<&str> = settled
        .iter()
        .filter(|(_, s)| *s == "dead")
        .map(|(k, _)| k.as_str())
        .collect();
    let expected_dead: BTreeSet<String> = fail_uids
        .iter()
        .map(|uid| format!("pharmacy_order_updated:{base}:{uid}"))
        .collect();
    assert_eq!(dead, expected_dead.iter().map(String::as_str).collect());

    // Each effect once; the printed lines are exactly the effects.
    let effects = db.effects().await;
    assert_eq!(
        effects,
        db.distinct_effects().await,
        "an effect applied twice"
    );
    let done = settled.values().filter(|s| *s == "done").count();
    assert_eq!(usize::try_from(effects).unwrap(), done);
    let mut printed = Vec::new();
    for receiver in receivers {
        printed.extend(receiver.kill().await);
    }
    assert_eq!(printed.len(), done);
    assert_eq!(
        printed.iter().collect::<BTreeSet<_>>().len(),
        done,
        "a line printed twice"
    );

    // The final state is the newest version of every entity.
    let orders = db
        .pairs("SELECT uid, CAST(updated_at AS TEXT) || ':' || status FROM orders")
        .await;
    assert_eq!(orders.len(), usize::try_from(ORDERS).unwrap());
    let newest = 1000 + ORDER_VERSIONS - 1;
    for (uid, state) in &orders {
        assert_eq!(
            state,
            &format!("{newest}:status-{}", ORDER_VERSIONS - 1),
            "order {uid}"
        );
    }
    let stock = db
        .pairs("SELECT pharmacy_sku_uid, CAST(stock AS TEXT) FROM sku_stock")
        .await;
    assert_eq!(stock.len(), usize::try_from(SKUS).unwrap());
    for (uid, level) in &stock {
        let sku: i64 = uid.trim_start_matches("psku-").parse().unwrap();
        assert_eq!(
            level,
            &(10 * (SKU_VERSIONS - 1) + sku).to_string(),
            "sku {uid}"
        );
    }

    // The handler is fixed; `inbox retry --all` queues the dead letters for it.
    let mut receivers = Vec::new();
    for _ in 0..instances {
        receivers.push(Receiver::start(&db, &[]).await);
    }
    let queued = cli(&db, &["retry", "--all"]).await;
    assert_eq!(queued, [serde_json::json!({ "queued": FAILING })]);
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let printed: usize = receivers.iter().map(|r| r.lines().len()).sum();
        if printed >= expected_dead.len() {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "{printed} of {FAILING} dead letters processed"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let statuses = statuses(&db).await;
    for key in &expected_dead {
        assert_eq!(statuses[key], "done", "{key}");
    }
    assert_eq!(db.effects().await, effects + FAILING);
    assert_eq!(db.effects().await, db.distinct_effects().await);
    let mut printed = Vec::new();
    for receiver in receivers {
        printed.extend(receiver.kill().await);
    }
    assert_eq!(printed.len(), expected_dead.len());
}

fn count(statuses: &BTreeMap<String, String>) -> BTreeMap<&str, usize> {
    let mut counts = BTreeMap::new();
    for status in statuses.values() {
        *counts.entry(status.as_str()).or_default() += 1;
    }
    counts
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_slow_handler_is_answered_within_100ms_and_processed_once() {
    bounded(Duration::from_secs(120), slow_handler(Db::postgres())).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_slow_handler_is_answered_within_100ms_and_processed_once() {
    bounded(Duration::from_secs(120), slow_handler(Db::sqlite("slow"))).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_worker_killed_mid_event_processes_it_once() {
    bounded(Duration::from_secs(120), killed_mid_event(Db::postgres())).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_worker_killed_mid_event_processes_it_once() {
    bounded(
        Duration::from_secs(120),
        killed_mid_event(Db::sqlite("crash")),
    )
    .await;
}

/// Two instances with two workers each share one Postgres.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_two_instances_four_workers_two_thousand_deliveries() {
    bounded(
        Duration::from_secs(300),
        two_thousand_deliveries(Db::postgres(), 2),
    )
    .await;
}

/// SQLite is for a single instance.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_one_instance_two_thousand_deliveries() {
    bounded(
        Duration::from_secs(300),
        two_thousand_deliveries(Db::sqlite("load"), 1),
    )
    .await;
}

/// Postgres stops while stored events wait (one mid-transaction): deliveries meanwhile are
/// answered 503, never 200; nothing stored is lost, and the workers resume once it is back.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_stopped_while_events_wait_loses_nothing() {
    bounded(Duration::from_secs(180), async {
        let mut db = Db::postgres();
        let env = [("HANDLER_DELAY_MS", "1000"), ("INBOX_LEASE_MS", "3000")];
        let receiver = Receiver::start(&db, &env).await;
        let client = reqwest::Client::new();
        let ts = now() - 10;
        for i in 0..6 {
            let body = order_event(ts, &format!("po-wait-{i}"), "init", 100);
            assert_eq!(deliver(&client, receiver.addr, &body).await, Answer::Stored);
        }
        let Db::Postgres(server) = &mut db else {
            unreachable!()
        };
        server.stop();
        let during = order_event(ts, "po-during", "init", 100);
        for _ in 0..3 {
            assert_eq!(
                deliver(&client, receiver.addr, &during).await,
                Answer::Status(503)
            );
        }
        tokio::time::sleep(Duration::from_secs(2)).await;
        server.restart();
        let lines = receiver.wait_lines(6, Duration::from_secs(60)).await;
        let keys: BTreeSet<&String> = lines.iter().collect();
        assert_eq!(keys.len(), 6, "{lines:?}");
        assert_eq!(db.effects().await, 6);
        assert_eq!(db.distinct_effects().await, 6);
        tokio::time::sleep(Duration::from_millis(500)).await;
        assert_eq!(receiver.kill().await.len(), 6);
        let statuses = statuses(&db).await;
        assert!(statuses.values().all(|s| s == "done"), "{statuses:?}");
    })
    .await;
}
