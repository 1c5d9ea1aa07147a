//! `examples/examples/pharmacy_receiver.rs` over real HTTP, against a real Postgres started here
//! and a SQLite file: exactly-once effects, per-entity order, crashes mid-transaction, two
//! instances, a database that goes away.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::Stdio;
use std::time::{Duration, Instant};

use rxscale_webhooks::{OffsetDateTime, sign};
use rxscale_webhooks_tests::postgres_server::PostgresServer;
use rxscale_webhooks_tests::{TEST_SECRET, example_binary, test_secret};
use sqlx::Connection as _;
use tokio::io::{AsyncBufReadExt, BufReader, Lines};
use tokio::process::{Child, ChildStdout, Command};

const LINE_TIMEOUT: Duration = Duration::from_secs(30);

/// The database under test: a Postgres server of its own, or a SQLite file.
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
            "rxscale-webhooks-pharmacy-{name}-{}.db",
            std::process::id()
        ));
        for suffix in ["", "-wal", "-shm"] {
            let _ = std::fs::remove_file(format!("{}{suffix}", path.display()));
        }
        Db::Sqlite(path)
    }

    fn url(&self) -> String {
        match self {
            Db::Postgres(server) => server.url(),
            Db::Sqlite(path) => format!("sqlite://{}?mode=rwc", path.display()),
        }
    }

    /// One value, as text, read past the receiver (psql for Postgres, a connection of its own
    /// for SQLite).
    async fn scalar(&self, sql: &str) -> String {
        match self {
            Db::Postgres(server) => server.psql("postgres", sql),
            Db::Sqlite(_) => {
                let mut conn = sqlx::SqliteConnection::connect(&self.url()).await.unwrap();
                let value: String = sqlx::query_scalar(&format!("SELECT CAST(({sql}) AS TEXT)"))
                    .fetch_one(&mut conn)
                    .await
                    .unwrap();
                value
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

    /// Whether a receiver's transaction is open right now (its effects written, not committed).
    async fn transaction_open(&self) -> bool {
        match self {
            Db::Postgres(server) => {
                server.psql(
                    "postgres",
                    "SELECT COUNT(*) FROM pg_stat_activity WHERE state = 'idle in transaction'",
                ) != "0"
            }
            Db::Sqlite(_) => {
                // The receiver holds the write lock: an immediate transaction is refused at once.
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
        if let Db::Sqlite(path) = self {
            for suffix in ["", "-wal", "-shm"] {
                let _ = std::fs::remove_file(format!("{}{suffix}", path.display()));
            }
        }
    }
}

struct Receiver {
    child: Child,
    addr: SocketAddr,
    stdout: Lines<BufReader<ChildStdout>>,
}

impl Receiver {
    async fn start(binary: &PathBuf, db: &Db, delay_ms: u64) -> Self {
        let mut child = Command::new(binary)
            .env("RXSCALE_WEBHOOK_SECRET", TEST_SECRET)
            .env("PORT", "0")
            .env("DATABASE_URL", db.url())
            .env("HANDLER_DELAY_MS", delay_ms.to_string())
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .unwrap();
        let mut stderr = BufReader::new(child.stderr.take().unwrap()).lines();
        let banner = tokio::time::timeout(LINE_TIMEOUT, stderr.next_line())
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
        // The receiver logs rejections to stderr: keep reading it, so that its writes never meet
        // a closed pipe.
        tokio::spawn(async move { while let Ok(Some(_)) = stderr.next_line().await {} });
        let stdout = BufReader::new(child.stdout.take().unwrap()).lines();
        Receiver {
            child,
            addr,
            stdout,
        }
    }

    async fn next_line(&mut self) -> String {
        tokio::time::timeout(LINE_TIMEOUT, self.stdout.next_line())
            .await
            .expect("a line in time")
            .unwrap()
            .expect("a line before the end of stdout")
    }

    /// Kills the receiver and returns every line it printed that was not read yet.
    async fn kill(mut self) -> Vec<String> {
        self.child.kill().await.unwrap();
        let mut rest = Vec::new();
        while let Some(line) = self.stdout.next_line().await.unwrap() {
            rest.push(line);
        }
        rest
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Answer {
    Applied,
    Duplicate,
    Stale,
    Status(u16),
}

async fn deliver(addr: SocketAddr, body: &str) -> Answer {
    let response = reqwest::Client::new()
        .post(format!("http://{addr}/webhooks/rxscale"))
        .header("content-type", "application/json")
        .header("x-webhook-signature", sign(&test_secret(), body))
        .body(body.to_owned())
        .timeout(Duration::from_secs(20))
        .send()
        .await
        .unwrap();
    let marked = |name: &str| {
        response
            .headers()
            .get(name)
            .is_some_and(|value| value == "true")
    };
    match (
        response.status().as_u16(),
        marked("x-webhook-duplicate"),
        marked("x-webhook-stale"),
    ) {
        (200, false, false) => Answer::Applied,
        (200, true, false) => Answer::Duplicate,
        (200, false, true) => Answer::Stale,
        (status, _, _) => Answer::Status(status),
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

fn stock_event(timestamp: i64, uid: &str, stock: i64) -> String {
    format!(
        r#"{{"event_type":"pharmacy_sku_stock_updated","timestamp":{timestamp},"payload_version":"1","data":{{"uid":"{uid}","stock":{stock}}}}}"#
    )
}

/// 30 distinct events (orders, stock levels and an unknown type), each delivered 3 times at
/// once: 30 effects, one per key.
async fn thirty_events_three_copies_each(db: &Db) {
    let binary = example_binary("pharmacy_receiver");
    let mut receiver = Receiver::start(&binary, db, 0).await;
    let ts = now() - 60;
    let bodies: Vec<String> = (0..30)
        .map(|i| match i % 3 {
            0 => order_event(ts, &format!("po-{i}"), "init", 100 + i),
            1 => stock_event(ts, &format!("psku-{i}"), i),
            _ => format!(
                r#"{{"event_type":"rxscale_setup_test","timestamp":{ts},"payload_version":"1","data":{{"uid":"setup-{i}"}}}}"#
            ),
        })
        .collect();
    let mut tasks = Vec::new();
    for body in &bodies {
        for _ in 0..3 {
            let (addr, body) = (receiver.addr, body.clone());
            tasks.push(tokio::spawn(async move { deliver(addr, &body).await }));
        }
    }
    let mut applied = 0;
    for task in tasks {
        match task.await.unwrap() {
            Answer::Applied => applied += 1,
            Answer::Duplicate => {}
            other => panic!("unexpected answer {other:?}"),
        }
    }
    assert_eq!(applied, 30);
    assert_eq!(db.effects().await, 30);
    assert_eq!(db.distinct_effects().await, 30);
    let mut lines = Vec::new();
    for _ in 0..30 {
        lines.push(receiver.next_line().await);
    }
    lines.sort();
    lines.dedup();
    assert_eq!(lines.len(), 30, "one line per applied event");
    assert!(receiver.kill().await.is_empty());
}

/// `shipped` (updated_at 200), then `init` (updated_at 100): the order stays shipped, the old
/// event is answered stale and logs no effect.
async fn out_of_order(db: &Db) {
    let binary = example_binary("pharmacy_receiver");
    let mut receiver = Receiver::start(&binary, db, 0).await;
    let ts = now();
    let shipped = order_event(ts - 5, "po-ooo", "shipped", 200);
    let init = order_event(ts - 10, "po-ooo", "init", 100);
    assert_eq!(deliver(receiver.addr, &shipped).await, Answer::Applied);
    receiver.next_line().await;
    assert_eq!(deliver(receiver.addr, &init).await, Answer::Stale);
    assert_eq!(deliver(receiver.addr, &init).await, Answer::Stale);
    assert_eq!(
        db.scalar("SELECT status FROM orders WHERE uid = 'po-ooo'")
            .await,
        "shipped"
    );
    assert_eq!(
        db.scalar("SELECT updated_at FROM orders WHERE uid = 'po-ooo'")
            .await,
        "200"
    );
    assert_eq!(db.effects().await, 1);
    // A newer update still applies; a stock level without updated_at is ordered by timestamp.
    let delivered = order_event(ts - 1, "po-ooo", "delivered", 300);
    assert_eq!(deliver(receiver.addr, &delivered).await, Answer::Applied);
    assert_eq!(
        deliver(receiver.addr, &stock_event(ts - 2, "psku-1", 7)).await,
        Answer::Applied
    );
    assert_eq!(
        deliver(receiver.addr, &stock_event(ts - 3, "psku-1", 9)).await,
        Answer::Stale
    );
    assert_eq!(
        db.scalar("SELECT stock FROM sku_stock WHERE pharmacy_sku_uid = 'psku-1'")
            .await,
        "7"
    );
    assert_eq!(db.effects().await, 3);
    assert_eq!(receiver.kill().await.len(), 2, "only applied events print");
}

/// SIGKILL while the effects are written but not committed, restart, redeliver: applied once.
async fn killed_mid_transaction(db: &Db) {
    let binary = example_binary("pharmacy_receiver");
    let receiver = Receiver::start(&binary, db, 60_000).await;
    let body = order_event(now() - 5, "po-crash", "init", 100);
    let addr = receiver.addr;
    let in_flight = tokio::spawn({
        let body = body.clone();
        async move {
            reqwest::Client::new()
                .post(format!("http://{addr}/webhooks/rxscale"))
                .header("x-webhook-signature", sign(&test_secret(), &body))
                .body(body)
                .send()
                .await
        }
    });
    let deadline = Instant::now() + Duration::from_secs(20);
    while !db.transaction_open().await {
        assert!(
            Instant::now() < deadline,
            "the handler never got into its transaction"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(receiver.kill().await.is_empty(), "nothing was committed");
    assert!(
        in_flight.await.unwrap().is_err(),
        "no answer from a killed receiver"
    );

    let mut receiver = Receiver::start(&binary, db, 0).await;
    assert_eq!(db.effects().await, 0, "the killed transaction rolled back");
    assert_eq!(deliver(receiver.addr, &body).await, Answer::Applied);
    receiver.next_line().await;
    assert_eq!(deliver(receiver.addr, &body).await, Answer::Duplicate);
    assert_eq!(db.effects().await, 1);
    assert!(receiver.kill().await.is_empty());
}

#[tokio::test]
async fn postgres_thirty_events_three_copies_each() {
    thirty_events_three_copies_each(&Db::postgres()).await;
}

#[tokio::test]
async fn sqlite_thirty_events_three_copies_each() {
    thirty_events_three_copies_each(&Db::sqlite("thirty")).await;
}

#[tokio::test]
async fn postgres_out_of_order_update_is_stale() {
    out_of_order(&Db::postgres()).await;
}

#[tokio::test]
async fn sqlite_out_of_order_update_is_stale() {
    out_of_order(&Db::sqlite("ooo")).await;
}

#[tokio::test]
async fn postgres_killed_mid_transaction_applies_once() {
    killed_mid_transaction(&Db::postgres()).await;
}

#[tokio::test]
async fn sqlite_killed_mid_transaction_applies_once() {
    killed_mid_transaction(&Db::sqlite("crash")).await;
}

/// SQLite: 100 deliveries at once all wait their turn; none is refused.
#[tokio::test]
async fn sqlite_hundred_concurrent_deliveries_get_no_503() {
    let db = Db::sqlite("hundred");
    let binary = example_binary("pharmacy_receiver");
    let receiver = Receiver::start(&binary, &db, 0).await;
    let ts = now() - 30;
    let tasks: Vec<_> = (0..100)
        .map(|i| {
            let body = order_event(ts, &format!("po-h{i}"), "init", 100);
            let addr = receiver.addr;
            tokio::spawn(async move { deliver(addr, &body).await })
        })
        .collect();
    for task in tasks {
        assert_eq!(task.await.unwrap(), Answer::Applied);
    }
    assert_eq!(db.effects().await, 100);
    assert_eq!(receiver.kill().await.len(), 100);
}

/// Two receivers on one Postgres, 50 copies of one event spread over both: one effect.
#[tokio::test]
async fn postgres_two_instances_fifty_copies_one_effect() {
    let db = Db::postgres();
    let binary = example_binary("pharmacy_receiver");
    let first = Receiver::start(&binary, &db, 0).await;
    let second = Receiver::start(&binary, &db, 0).await;
    let body = order_event(now() - 5, "po-twice", "init", 100);
    let tasks: Vec<_> = (0..50)
        .map(|i| {
            let addr = if i % 2 == 0 { first.addr } else { second.addr };
            let body = body.clone();
            tokio::spawn(async move { deliver(addr, &body).await })
        })
        .collect();
    let mut applied = 0;
    for task in tasks {
        match task.await.unwrap() {
            Answer::Applied => applied += 1,
            Answer::Duplicate => {}
            other => panic!("unexpected answer {other:?}"),
        }
    }
    assert_eq!(applied, 1);
    assert_eq!(db.effects().await, 1);
    let printed = first.kill().await.len() + second.kill().await.len();
    assert_eq!(printed, 1);
}

/// Postgres stopped: 503 within RxScale's 5 s and nothing acknowledged; back without a restart
/// of the receiver once Postgres is.
#[tokio::test]
async fn postgres_stopped_is_503_and_recovers() {
    let mut db = Db::postgres();
    let binary = example_binary("pharmacy_receiver");
    let mut receiver = Receiver::start(&binary, &db, 0).await;
    let ts = now() - 5;
    let before = order_event(ts, "po-up", "init", 100);
    assert_eq!(deliver(receiver.addr, &before).await, Answer::Applied);
    receiver.next_line().await;

    let Db::Postgres(server) = &mut db else {
        unreachable!()
    };
    server.stop();
    let during = order_event(ts, "po-down", "init", 100);
    for _ in 0..3 {
        let started = Instant::now();
        assert_eq!(deliver(receiver.addr, &during).await, Answer::Status(503));
        assert!(
            started.elapsed() < Duration::from_secs(5),
            "503 within RxScale's budget, took {:?}",
            started.elapsed()
        );
    }
    server.restart();
    assert_eq!(db.effects().await, 1, "nothing was recorded while down");
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        match deliver(receiver.addr, &during).await {
            Answer::Applied => break,
            Answer::Status(503) if Instant::now() < deadline => {
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
            other => panic!("unexpected answer {other:?}"),
        }
    }
    receiver.next_line().await;
    assert_eq!(deliver(receiver.addr, &during).await, Answer::Duplicate);
    assert_eq!(db.effects().await, 2);
    assert!(receiver.kill().await.is_empty());
}
