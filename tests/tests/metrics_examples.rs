//! `axum_receiver` and `actix_receiver` with `RXSCALE_METRICS=1`: the real binaries serve
//! `GET /metrics` on a port of their own, and what they serve parses as Prometheus text with the
//! deliveries they answered counted.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::net::SocketAddr;
use std::process::Stdio;
use std::time::Duration;

use rxscale_webhooks::EventType;
use rxscale_webhooks::metrics as names;
use rxscale_webhooks::testing::TestDelivery;
use rxscale_webhooks_tests::prometheus_text;
use rxscale_webhooks_tests::{TEST_SECRET, example_binary, test_secret};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

const LINE_TIMEOUT: Duration = Duration::from_secs(20);

/// Starts `example` with metrics on, both ports ephemeral; returns the webhook and metrics
/// addresses once it has printed both.
async fn start(example: &str) -> (Child, SocketAddr, SocketAddr) {
    let mut child = Command::new(example_binary(example))
        .env_remove("HOST")
        .env_remove("RXSCALE_REDIS_URL")
        .env("RXSCALE_WEBHOOK_SECRET", TEST_SECRET)
        .env("PORT", "0")
        .env("RXSCALE_METRICS", "1")
        .env("METRICS_PORT", "0")
        .env("RUST_LOG", "info")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let mut stderr = BufReader::new(child.stderr.take().unwrap()).lines();
    let (mut webhooks, mut metrics) = (None, None);
    while webhooks.is_none() || metrics.is_none() {
        let line = tokio::time::timeout(LINE_TIMEOUT, stderr.next_line())
            .await
            .expect("the example starts in time")
            .unwrap()
            .expect("the example prints both addresses");
        if let Some(rest) = line.strip_prefix("listening on http://") {
            webhooks = Some(
                rest.strip_suffix("/webhooks/rxscale")
                    .unwrap()
                    .parse()
                    .unwrap(),
            );
        } else if let Some(rest) = line.strip_prefix("metrics on http://") {
            metrics = Some(rest.strip_suffix("/metrics").unwrap().parse().unwrap());
        }
    }
    // The example logs every rejection to stderr: keep reading it, so that its writes never meet
    // a closed pipe.
    tokio::spawn(async move { while let Ok(Some(_)) = stderr.next_line().await {} });
    (child, webhooks.unwrap(), metrics.unwrap())
}

async fn deliver(addr: SocketAddr, delivery: &rxscale_webhooks::testing::Delivery) -> u16 {
    let mut request = reqwest::Client::new()
        .post(format!("http://{addr}/webhooks/rxscale"))
        .timeout(LINE_TIMEOUT)
        .body(delivery.body().to_vec());
    for (name, value) in delivery.headers() {
        request = request.header(*name, value);
    }
    request.send().await.unwrap().status().as_u16()
}

async fn scraped_metrics_parse_and_count(example: &str) {
    let (_child, webhooks, metrics) = start(example).await;
    assert!(metrics.ip().is_loopback() && metrics.port() != webhooks.port());
    let genuine = TestDelivery::new(&test_secret())
        .event(EventType::PharmacyOrderCreated)
        .build();
    let forged = TestDelivery::new(&test_secret())
        .event(EventType::PharmacyOrderCreated)
        .wrong_secret()
        .build();
    assert_eq!(deliver(webhooks, &genuine).await, 200);
    assert_eq!(deliver(webhooks, &genuine).await, 200, "a duplicate");
    assert_eq!(deliver(webhooks, &forged).await, 401);

    let response = reqwest::Client::new()
        .get(format!("http://{metrics}/metrics"))
        .timeout(LINE_TIMEOUT)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let content_type = response.headers()["content-type"]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(
        content_type.starts_with("text/plain; version=0.0.4"),
        "{content_type}"
    );
    let text = response.text().await.unwrap();
    let exposition = prometheus_text::parse(&text).unwrap_or_else(|why| panic!("{why}\n{text}"));

    assert_eq!(exposition.types[names::DELIVERIES_TOTAL], "counter");
    for name in [
        names::VERIFICATION_DURATION_SECONDS,
        names::HANDLER_DURATION_SECONDS,
        names::SENDER_CLOCK_SKEW_SECONDS,
        names::STORE_DURATION_SECONDS,
    ] {
        assert_eq!(
            exposition.types[name], "histogram",
            "{name}: buckets are configured"
        );
    }
    assert_eq!(
        exposition.types[names::SECRET_LAST_USED_TIMESTAMP_SECONDS],
        "gauge"
    );
    let total: f64 = exposition
        .samples_named(names::DELIVERIES_TOTAL)
        .map(|sample| sample.value)
        .sum();
    assert_eq!(total, 3.0, "{text}");
    for (outcome, count) in [
        ("handled", 1.0),
        ("duplicate", 1.0),
        ("signature_mismatch", 1.0),
    ] {
        assert_eq!(
            exposition.value(names::DELIVERIES_TOTAL, &[("outcome", outcome)]),
            Some(count),
            "{outcome}\n{text}"
        );
    }
    let handler_count = format!("{}_count", names::HANDLER_DURATION_SECONDS);
    assert_eq!(
        exposition.value(
            &handler_count,
            &[
                ("event_type", "pharmacy_order_created"),
                ("status_class", "2xx")
            ]
        ),
        Some(1.0),
        "{text}"
    );
    // The 5-second budget is a bucket boundary.
    let handler_bucket = format!("{}_bucket", names::HANDLER_DURATION_SECONDS);
    assert!(
        exposition
            .samples_named(&handler_bucket)
            .any(|sample| sample.labels.get("le").map(String::as_str) == Some("5")),
        "{text}"
    );
    assert_eq!(
        exposition.value(
            &format!("{}_count", names::VERIFICATION_DURATION_SECONDS),
            &[]
        ),
        Some(3.0)
    );
    // No dedup key or uid in the labels.
    let verified = rxscale_webhooks_tests::test_verifier()
        .verify(genuine.body(), genuine.signature().unwrap())
        .unwrap();
    assert!(!text.contains(verified.dedup_key().as_str()), "{text}");
    let uid = verified.event().uid().expect("the fixture has a uid");
    assert!(!text.contains(uid), "{text}");
}

#[tokio::test]
async fn axum_receiver_serves_prometheus_metrics() {
    scraped_metrics_parse_and_count("axum_receiver").await;
}

#[tokio::test]
async fn actix_receiver_serves_prometheus_metrics() {
    scraped_metrics_parse_and_count("actix_receiver").await;
}
