//! The Redis replay store against a real `redis-server`.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;
use std::time::Duration;

use rxscale_webhooks::replay::{ClaimOutcome, ClaimToken, ReplayStore};
use rxscale_webhooks_redis::RedisStore;
use rxscale_webhooks_tests::redis_server::RedisServer;

fn token() -> ClaimToken {
    ClaimToken::random().unwrap()
}

#[tokio::test]
async fn claim_complete_release_are_token_checked() {
    let redis = RedisServer::start();
    let store = RedisStore::builder(redis.url())
        .key_prefix("t1:")
        .connect()
        .await
        .unwrap();
    let lease = Duration::from_secs(60);
    let (mine, theirs) = (token(), token());

    assert_eq!(
        store.claim("k", &mine, lease).await.unwrap(),
        ClaimOutcome::Fresh
    );
    assert_eq!(
        store.claim("k", &theirs, lease).await.unwrap(),
        ClaimOutcome::InFlight
    );
    assert!(
        !store.release("k", &theirs).await.unwrap(),
        "released someone else's claim"
    );
    assert!(!store.complete("k", &theirs, lease).await.unwrap());
    // The raw key carries the prefix and our token, with a TTL no longer than the lease.
    assert!(redis.raw_command(&["GET", "t1:k"]).contains(&mine.to_hex()));
    let pttl = redis.raw_command(&["PTTL", "t1:k"]);
    let pttl: i64 = pttl.trim().trim_start_matches(':').parse().unwrap();
    assert!(pttl > 0 && pttl <= 60_000, "{pttl}");

    assert!(
        store
            .complete("k", &mine, Duration::from_secs(3600))
            .await
            .unwrap()
    );
    assert_eq!(
        store.claim("k", &theirs, lease).await.unwrap(),
        ClaimOutcome::Duplicate
    );
    let pttl: i64 = redis
        .raw_command(&["PTTL", "t1:k"])
        .trim()
        .trim_start_matches(':')
        .parse()
        .unwrap();
    assert!(pttl > 3_500_000, "completed TTL {pttl}");

    assert_eq!(
        store.claim("other", &mine, lease).await.unwrap(),
        ClaimOutcome::Fresh
    );
    assert!(store.release("other", &mine).await.unwrap());
    assert_eq!(
        store.claim("other", &theirs, lease).await.unwrap(),
        ClaimOutcome::Fresh
    );
}

#[tokio::test]
async fn leases_expire() {
    let redis = RedisServer::start();
    let store = RedisStore::connect(&redis.url()).await.unwrap();
    let first = token();
    assert_eq!(
        store
            .claim("lease", &first, Duration::from_millis(100))
            .await
            .unwrap(),
        ClaimOutcome::Fresh
    );
    tokio::time::sleep(Duration::from_millis(250)).await;
    assert_eq!(
        store
            .claim("lease", &token(), Duration::from_secs(60))
            .await
            .unwrap(),
        ClaimOutcome::Fresh
    );
    assert!(
        !store
            .complete("lease", &first, Duration::from_secs(60))
            .await
            .unwrap()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fifty_concurrent_claims_have_one_winner_across_two_connections() {
    let redis = RedisServer::start();
    let a = Arc::new(RedisStore::connect(&redis.url()).await.unwrap());
    let b = Arc::new(RedisStore::connect(&redis.url()).await.unwrap());
    let mut tasks = Vec::new();
    for i in 0..50 {
        let store = if i % 2 == 0 {
            Arc::clone(&a)
        } else {
            Arc::clone(&b)
        };
        tasks.push(tokio::spawn(async move {
            store
                .claim("same", &token(), Duration::from_secs(60))
                .await
                .unwrap()
        }));
    }
    let mut fresh = 0;
    for task in tasks {
        if task.await.unwrap() == ClaimOutcome::Fresh {
            fresh += 1;
        }
    }
    assert_eq!(fresh, 1);
}

#[tokio::test]
async fn an_outage_is_an_error_and_the_same_store_recovers() {
    let mut redis = RedisServer::start();
    let store = RedisStore::connect(&redis.url()).await.unwrap();
    assert_eq!(
        store
            .claim("before", &token(), Duration::from_secs(60))
            .await
            .unwrap(),
        ClaimOutcome::Fresh
    );
    redis.stop();
    let started = std::time::Instant::now();
    let err = store
        .claim("during", &token(), Duration::from_secs(60))
        .await
        .unwrap_err();
    assert!(
        err.to_string().contains("replay store unavailable"),
        "{err}"
    );
    // The redis client's error is kept as the source, behind the core's opaque StoreError.
    assert!(
        std::error::Error::source(&err).is_some(),
        "the store error keeps its cause: {err:?}"
    );
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "outage took {:?} to report",
        started.elapsed()
    );
    redis.restart();
    // The connection manager reconnects by itself; allow it a few attempts.
    let mut recovered = None;
    for _ in 0..50 {
        match store
            .claim("after", &token(), Duration::from_secs(60))
            .await
        {
            Ok(outcome) => {
                recovered = Some(outcome);
                break;
            }
            Err(_) => tokio::time::sleep(Duration::from_millis(100)).await,
        }
    }
    assert_eq!(recovered, Some(ClaimOutcome::Fresh));
}

#[tokio::test]
async fn unreachable_at_start_is_a_connect_error_without_the_password() {
    let port = rxscale_webhooks_tests::redis_server::free_port();
    let err = RedisStore::builder(format!("redis://:hunter2@127.0.0.1:{port}/0"))
        .connect_timeout(Duration::from_millis(300))
        .connect()
        .await
        .unwrap_err();
    assert!(!err.to_string().contains("hunter2"), "{err}");
    // The cause is kept as the source chain, and no link of it holds the password either.
    let mut chain = vec![err.to_string()];
    let mut cause = std::error::Error::source(&err);
    while let Some(error) = cause {
        chain.push(error.to_string());
        cause = error.source();
    }
    assert!(
        chain.len() > 1,
        "the connect error keeps its cause: {chain:?}"
    );
    assert!(!chain.concat().contains("hunter2"), "{chain:?}");
    assert!(!format!("{err:?}").contains("hunter2"), "{err:?}");
}
