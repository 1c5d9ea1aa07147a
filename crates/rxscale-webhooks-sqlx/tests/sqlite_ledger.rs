//! The ledger's rules on a real SQLite file: claims, ordering, rollback, purge, migrations.
#![cfg(feature = "sqlite")]
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use rxscale_webhooks::{OffsetDateTime, SigningSecret, Verified, Verifier, sign};
use rxscale_webhooks_sqlx::{Claim, Entity, ErrorKind, Ledger, sqlite};
use sqlx::SqlitePool;

struct TempDb {
    path: std::path::PathBuf,
}

impl TempDb {
    fn new(name: &str) -> Self {
        let path = std::env::temp_dir().join(format!(
            "rxscale-webhooks-sqlx-{name}-{}.db",
            std::process::id()
        ));
        let _ = std::fs::remove_file(&path);
        TempDb { path }
    }

    fn url(&self) -> String {
        format!("sqlite://{}?mode=rwc", self.path.display())
    }
}

impl Drop for TempDb {
    fn drop(&mut self) {
        for suffix in ["", "-wal", "-shm"] {
            let _ = std::fs::remove_file(format!("{}{suffix}", self.path.display()));
        }
    }
}

fn verifier() -> Verifier {
    Verifier::builder()
        .secret(SigningSecret::new("whsec_abc123"))
        .no_max_age()
        .no_max_future_skew()
        .build()
        .unwrap()
}

fn order_event(timestamp: i64, uid: &str, status: &str, updated_at: i64) -> Verified {
    let body = format!(
        r#"{{"event_type":"pharmacy_order_updated","timestamp":{timestamp},"payload_version":"1","data":{{"uid":"{uid}","status":"{status}","created_at":1,"updated_at":{updated_at},"pharmacy":{{"uid":"ph-1"}},"order":{{"uid":"ord-1"}},"order_items":[]}}}}"#
    );
    let secret = SigningSecret::new("whsec_abc123");
    verifier().verify(&body, sign(&secret, &body)).unwrap()
}

async fn claim(pool: &SqlitePool, ledger: &Ledger, verified: &Verified) -> Claim {
    let mut tx = ledger.begin(pool).await.unwrap();
    let claim = ledger.claim(&mut tx, verified).await.unwrap();
    tx.commit().await.unwrap();
    claim
}

async fn setup(name: &str) -> (TempDb, SqlitePool, Ledger) {
    let db = TempDb::new(name);
    let pool = sqlite::pool(&db.url()).unwrap();
    let ledger = Ledger::new();
    assert_eq!(ledger.migrate(&pool).await.unwrap(), vec![1]);
    (db, pool, ledger)
}

#[tokio::test]
async fn fresh_then_duplicate() {
    let (_db, pool, ledger) = setup("dup").await;
    let event = order_event(1000, "po-1", "init", 100);
    assert_eq!(claim(&pool, &ledger, &event).await, Claim::Fresh);
    assert_eq!(claim(&pool, &ledger, &event).await, Claim::Duplicate);
    // Migrations run again are a no-op.
    assert!(ledger.migrate(&pool).await.unwrap().is_empty());
}

#[tokio::test]
async fn older_versions_are_stale_and_equal_ones_apply() {
    let (_db, pool, ledger) = setup("order").await;
    let shipped = order_event(2000, "po-1", "shipped", 200);
    let init = order_event(1000, "po-1", "init", 100);
    let same_second = order_event(2001, "po-1", "cancelled", 200);
    let other_order = order_event(900, "po-2", "init", 50);
    assert_eq!(claim(&pool, &ledger, &shipped).await, Claim::Fresh);
    assert_eq!(claim(&pool, &ledger, &init).await, Claim::Stale);
    // A copy of a stale event stays stale.
    assert_eq!(claim(&pool, &ledger, &init).await, Claim::Stale);
    assert_eq!(claim(&pool, &ledger, &same_second).await, Claim::Fresh);
    assert_eq!(claim(&pool, &ledger, &other_order).await, Claim::Fresh);

    // Ordering off: the old event is simply new.
    let unordered = Ledger::builder().ordering(false).build().unwrap();
    let older = order_event(500, "po-1", "init", 10);
    assert_eq!(claim(&pool, &unordered, &older).await, Claim::Fresh);

    // Your own entity and version.
    let mut tx = unordered.begin(&pool).await.unwrap();
    let custom = order_event(501, "po-1", "init", 10);
    let entity = Some(Entity::new("my_kind", "x", 5));
    assert_eq!(
        unordered
            .claim_with(&mut tx, &custom, entity)
            .await
            .unwrap(),
        Claim::Fresh
    );
    tx.commit().await.unwrap();
    let mut tx = unordered.begin(&pool).await.unwrap();
    let custom = order_event(502, "po-1", "init", 10);
    let entity = Some(Entity::new("my_kind", "x", 4));
    assert_eq!(
        unordered
            .claim_with(&mut tx, &custom, entity)
            .await
            .unwrap(),
        Claim::Stale
    );
}

#[tokio::test]
async fn a_rolled_back_claim_leaves_nothing() {
    let (_db, pool, ledger) = setup("rollback").await;
    let event = order_event(1000, "po-1", "init", 100);
    let mut tx = ledger.begin(&pool).await.unwrap();
    assert_eq!(ledger.claim(&mut tx, &event).await.unwrap(), Claim::Fresh);
    tx.rollback().await.unwrap();
    assert_eq!(claim(&pool, &ledger, &event).await, Claim::Fresh);
}

#[tokio::test]
async fn concurrent_copies_wait_their_turn() {
    let (_db, pool, ledger) = setup("concurrent").await;
    let event = order_event(1000, "po-1", "init", 100);
    let mut tasks = Vec::new();
    for _ in 0..100 {
        let (pool, ledger, event) = (pool.clone(), ledger.clone(), event.clone());
        tasks.push(tokio::spawn(async move {
            let mut tx = ledger.begin(&pool).await?;
            let claim = ledger.claim(&mut tx, &event).await?;
            tx.commit().await?;
            Ok::<_, rxscale_webhooks_sqlx::Error>(claim)
        }));
    }
    let mut fresh = 0;
    for task in tasks {
        match task.await.unwrap() {
            Ok(Claim::Fresh) => fresh += 1,
            Ok(_) => {}
            Err(error) => panic!("a concurrent delivery failed: {error}"),
        }
    }
    assert_eq!(fresh, 1);
}

#[tokio::test]
async fn purge_deletes_only_keys_past_max_age_and_margin() {
    let (_db, pool, _) = setup("purge").await;
    let ledger = Ledger::builder()
        .purge_margin(Duration::from_secs(100))
        .build()
        .unwrap();
    let old = order_event(1000, "po-1", "init", 100);
    let recent = order_event(5000, "po-2", "init", 100);
    assert_eq!(claim(&pool, &ledger, &old).await, Claim::Fresh);
    assert_eq!(claim(&pool, &ledger, &recent).await, Claim::Fresh);
    let verifier = Verifier::builder()
        .secret(SigningSecret::new("whsec_abc123"))
        .max_age(Duration::from_secs(1000))
        .build()
        .unwrap();
    let now = OffsetDateTime::from_unix_timestamp(3000).unwrap();
    assert_eq!(ledger.purge_at(&pool, &verifier, now).await.unwrap(), 1);
    assert_eq!(claim(&pool, &ledger, &recent).await, Claim::Duplicate);
    // The entity version stays: an older event of po-1 is still stale.
    let older = order_event(999, "po-1", "init", 50);
    assert_eq!(claim(&pool, &ledger, &older).await, Claim::Stale);
    // Without a maximum age, nothing is ever purged.
    assert_eq!(
        ledger
            .purge_at(&pool, &self::verifier(), now)
            .await
            .unwrap(),
        0
    );
}

#[tokio::test]
async fn a_missing_schema_and_a_bad_prefix_are_named() {
    let db = TempDb::new("schema");
    let pool = sqlite::pool(&db.url()).unwrap();
    let ledger = Ledger::builder().table_prefix("other_").build().unwrap();
    let event = order_event(1000, "po-1", "init", 100);
    let mut tx = ledger.begin(&pool).await.unwrap();
    let error = ledger.claim(&mut tx, &event).await.unwrap_err();
    assert_eq!(error.kind(), ErrorKind::MissingSchema);
    assert_eq!(error.status_code(), 500);
    assert_eq!(
        Ledger::builder()
            .table_prefix("x; DROP")
            .build()
            .unwrap_err()
            .kind(),
        ErrorKind::Config
    );
}

/// With the `metrics` feature, each claim is counted by outcome and timed, on a real SQLite file,
/// with `metrics-util`'s debugging recorder (local to this thread: a current-thread runtime).
#[cfg(feature = "metrics")]
#[test]
fn claims_are_counted_by_outcome_and_timed() {
    use metrics_util::debugging::{DebugValue, DebuggingRecorder};
    use rxscale_webhooks::metrics::{LEDGER_CLAIMS_TOTAL, STORE_DURATION_SECONDS};

    let recorder = DebuggingRecorder::new();
    let snapshotter = recorder.snapshotter();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    metrics::with_local_recorder(&recorder, || {
        runtime.block_on(async {
            let (_db, pool, ledger) = setup("metrics").await;
            let newer = order_event(100, "po-1", "sent", 20);
            let older = order_event(90, "po-1", "init", 10);
            assert_eq!(claim(&pool, &ledger, &newer).await, Claim::Fresh);
            assert_eq!(claim(&pool, &ledger, &newer).await, Claim::Duplicate);
            assert_eq!(claim(&pool, &ledger, &older).await, Claim::Stale);
        });
    });
    let mut counts = Vec::new();
    let mut timed = 0;
    for (key, _, _, value) in snapshotter.snapshot().into_vec() {
        let labels: Vec<String> = key
            .key()
            .labels()
            .map(|label| format!("{}={}", label.key(), label.value()))
            .collect();
        match (key.key().name(), value) {
            (LEDGER_CLAIMS_TOTAL, DebugValue::Counter(count)) => counts.push((labels, count)),
            (STORE_DURATION_SECONDS, DebugValue::Histogram(samples)) => {
                assert_eq!(labels, ["store=ledger", "operation=claim"]);
                timed += samples.len();
            }
            (name, value) => panic!("unexpected {name} {labels:?} {value:?}"),
        }
    }
    counts.sort();
    assert_eq!(
        counts,
        [
            (vec!["outcome=duplicate".to_owned()], 1),
            (vec!["outcome=fresh".to_owned()], 1),
            (vec!["outcome=stale".to_owned()], 1),
        ]
    );
    assert_eq!(timed, 3);
}
