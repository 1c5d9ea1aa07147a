//! The ledger on a real Postgres (started here, loopback, temporary data directory), at the level
//! of `Ledger::claim`, without HTTP: what two transactions claiming the same key or the same
//! entity at once see, the ordering rule, the 503 of a claim that waits past the statement
//! timeout, and the purge. `pharmacy_receiver.rs` covers the same ledger end to end.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::{Duration, Instant};

use rxscale_webhooks::{OffsetDateTime, Verified, Verifier, sign};
use rxscale_webhooks_sqlx::sqlx::{self, PgPool, Postgres, Transaction};
use rxscale_webhooks_sqlx::{Claim, DEFAULT_STATEMENT_TIMEOUT, ErrorKind, Ledger, postgres};
use rxscale_webhooks_tests::postgres_server::PostgresServer;
use rxscale_webhooks_tests::test_secret;

/// How long a claim must stay blocked to count as waiting for the other transaction. The wait
/// is on a row lock, so it lasts until the other transaction ends, whatever the machine's load.
const STILL_WAITING: Duration = Duration::from_millis(300);

fn verifier() -> Verifier {
    Verifier::builder()
        .secret(test_secret())
        .max_age(Duration::from_secs(300))
        .build()
        .unwrap()
}

fn order(verifier: &Verifier, timestamp: i64, uid: &str, updated_at: i64) -> Verified {
    let body = format!(
        r##"{{"event_type":"pharmacy_order_updated","timestamp":{timestamp},"payload_version":"1","data":{{"uid":"{uid}","status":"init","name":"#1","created_at":1,"updated_at":{updated_at},"pharmacy":{{"uid":"ph-1"}},"order":{{"uid":"ord-1"}},"order_items":[]}}}}"##
    );
    verifier
        .verify_at(
            &body,
            sign(&test_secret(), &body),
            OffsetDateTime::from_unix_timestamp(timestamp).unwrap(),
        )
        .unwrap()
}

fn now() -> i64 {
    OffsetDateTime::now_utc().unix_timestamp()
}

/// The server, a migrated database of its own per test, and its pool (the crate's defaults).
async fn setup(server: &PostgresServer, database: &str) -> (PgPool, Ledger) {
    let url = server.create_database(database);
    let pool = postgres::pool(&url).unwrap();
    let ledger = Ledger::new();
    ledger.migrate(&pool).await.unwrap();
    (pool, ledger)
}

async fn claim_in(
    ledger: &Ledger,
    tx: &mut Transaction<'static, Postgres>,
    event: &Verified,
) -> Claim {
    ledger.claim(tx, event).await.unwrap()
}

/// Claims `event` in a transaction of its own, on another task, and commits.
fn claim_elsewhere(
    pool: &PgPool,
    ledger: &Ledger,
    event: &Verified,
) -> tokio::task::JoinHandle<Claim> {
    let (pool, ledger, event) = (pool.clone(), ledger.clone(), event.clone());
    tokio::spawn(async move {
        let mut tx = ledger.begin(&pool).await.unwrap();
        let claim = ledger.claim(&mut tx, &event).await.unwrap();
        tx.commit().await.unwrap();
        claim
    })
}

async fn still_waiting(handle: &tokio::task::JoinHandle<Claim>) -> bool {
    tokio::time::sleep(STILL_WAITING).await;
    !handle.is_finished()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_concurrent_copy_waits_then_sees_duplicate_or_fresh_after_a_rollback() {
    let server = PostgresServer::start();
    let (pool, ledger) = setup(&server, "copies").await;
    let verifier = verifier();
    let now = now();

    // The first transaction commits: the waiting copy sees a duplicate.
    let event = order(&verifier, now, "po-1", 100);
    let mut first = ledger.begin(&pool).await.unwrap();
    assert_eq!(claim_in(&ledger, &mut first, &event).await, Claim::Fresh);
    let copy = claim_elsewhere(&pool, &ledger, &event);
    assert!(
        still_waiting(&copy).await,
        "the copy did not wait for the first transaction"
    );
    first.commit().await.unwrap();
    assert_eq!(copy.await.unwrap(), Claim::Duplicate);

    // The first transaction rolls back: the waiting copy claims it afresh.
    let event = order(&verifier, now, "po-2", 100);
    let mut first = ledger.begin(&pool).await.unwrap();
    assert_eq!(claim_in(&ledger, &mut first, &event).await, Claim::Fresh);
    let copy = claim_elsewhere(&pool, &ledger, &event);
    assert!(
        still_waiting(&copy).await,
        "the copy did not wait for the first transaction"
    );
    first.rollback().await.unwrap();
    assert_eq!(copy.await.unwrap(), Claim::Fresh);

    // The first transaction's connection dies (its process crashed): the same.
    let event = order(&verifier, now, "po-3", 100);
    let mut first = ledger.begin(&pool).await.unwrap();
    assert_eq!(claim_in(&ledger, &mut first, &event).await, Claim::Fresh);
    let copy = claim_elsewhere(&pool, &ledger, &event);
    assert!(
        still_waiting(&copy).await,
        "the copy did not wait for the first transaction"
    );
    server.psql(
        "copies",
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity \
         WHERE datname = 'copies' AND state = 'idle in transaction'",
    );
    assert_eq!(copy.await.unwrap(), Claim::Fresh);
    drop(first);

    let keys: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM rxscale_webhooks_keys")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(keys, 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn versions_order_claims_of_one_entity_even_when_concurrent() {
    let server = PostgresServer::start();
    let (pool, ledger) = setup(&server, "ordering").await;
    let verifier = verifier();
    let now = now();
    let claim = |event: Verified| {
        let (pool, ledger) = (pool.clone(), ledger.clone());
        async move { claim_elsewhere(&pool, &ledger, &event).await.unwrap() }
    };

    // Sequential: newer, older (stale), equal (applied), the older one again (still stale).
    let older = order(&verifier, now - 3, "po-a", 100);
    assert_eq!(
        claim(order(&verifier, now - 2, "po-a", 200)).await,
        Claim::Fresh
    );
    assert_eq!(claim(older.clone()).await, Claim::Stale);
    assert_eq!(
        claim(order(&verifier, now - 1, "po-a", 200)).await,
        Claim::Fresh
    );
    assert_eq!(claim(older).await, Claim::Stale);
    // Another entity is not held back by this one's version.
    assert_eq!(
        claim(order(&verifier, now - 3, "po-b", 100)).await,
        Claim::Fresh
    );

    // Concurrent: while a newer version's transaction is open, an older event of the same
    // entity waits on the entity's row, then is stale; an even newer one waits, then applies.
    let mut first = ledger.begin(&pool).await.unwrap();
    let newer = order(&verifier, now, "po-c", 300);
    assert_eq!(claim_in(&ledger, &mut first, &newer).await, Claim::Fresh);
    // (The dedup key is the type, the uid and the envelope timestamp: each event has its own.)
    let stale = claim_elsewhere(&pool, &ledger, &order(&verifier, now - 1, "po-c", 250));
    let newest = claim_elsewhere(&pool, &ledger, &order(&verifier, now + 1, "po-c", 400));
    assert!(still_waiting(&stale).await, "the older event did not wait");
    assert!(!newest.is_finished(), "the newer event did not wait");
    first.commit().await.unwrap();
    assert_eq!(stale.await.unwrap(), Claim::Stale);
    assert_eq!(newest.await.unwrap(), Claim::Fresh);

    let version: i64 = sqlx::query_scalar(
        "SELECT version FROM rxscale_webhooks_entity_versions WHERE kind = 'pharmacy_order' AND id = 'po-c'",
    )
    .fetch_one(&pool)
    .await
    .unwrap();
    assert_eq!(version, 400);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_claim_that_waits_past_the_statement_timeout_is_a_503() {
    let server = PostgresServer::start();
    let (pool, ledger) = setup(&server, "timeout").await;
    let event = order(&verifier(), now(), "po-1", 100);
    let mut first = ledger.begin(&pool).await.unwrap();
    assert_eq!(claim_in(&ledger, &mut first, &event).await, Claim::Fresh);

    let started = Instant::now();
    let mut copy = ledger.begin(&pool).await.unwrap();
    let error = ledger.claim(&mut copy, &event).await.unwrap_err();
    let waited = started.elapsed();
    assert_eq!(error.kind(), ErrorKind::Timeout);
    assert_eq!(error.status_code(), 503);
    assert!(error.is_transient());
    assert!(
        waited >= DEFAULT_STATEMENT_TIMEOUT && waited < Duration::from_secs(5),
        "answered after {waited:?}: not within RxScale's 5 s budget, or before the timeout"
    );
    drop(copy);
    // The first transaction is unaffected and commits; a later copy is a duplicate.
    first.commit().await.unwrap();
    let mut later = ledger.begin(&pool).await.unwrap();
    assert_eq!(
        claim_in(&ledger, &mut later, &event).await,
        Claim::Duplicate
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn purge_deletes_old_keys_and_keeps_entity_versions() {
    let server = PostgresServer::start();
    let (pool, ledger) = setup(&server, "purge").await;
    let verifier = verifier();
    let now = now();
    // Two hours old: past the 5-minute max age plus the 1-hour margin; and a recent one.
    for (timestamp, uid) in [(now - 2 * 3600, "po-old"), (now, "po-new")] {
        let event = order(&verifier, timestamp, uid, timestamp);
        let mut tx = ledger.begin(&pool).await.unwrap();
        assert_eq!(claim_in(&ledger, &mut tx, &event).await, Claim::Fresh);
        tx.commit().await.unwrap();
    }
    assert_eq!(ledger.purge(&pool, &verifier).await.unwrap(), 1);
    assert_eq!(ledger.purge(&pool, &verifier).await.unwrap(), 0);
    let entities: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM rxscale_webhooks_entity_versions")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(entities, 2);
    // Migrating again applies nothing.
    assert!(ledger.migrate(&pool).await.unwrap().is_empty());
}
