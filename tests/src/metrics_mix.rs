//! The metrics scenario both frameworks run (tests/metrics_axum.rs, tests/metrics_actix.rs):
//! a known mix of deliveries over real HTTP to a [`Receiver`] with a replay guard, with
//! `metrics-util`'s `DebuggingRecorder` installed as the process's recorder, then every metric,
//! label and value asserted exactly. One framework per test binary: the recorder is global.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::time::Duration;

use metrics_util::MetricKind;
use metrics_util::debugging::{DebugValue, DebuggingRecorder, Snapshotter};
use rxscale_webhooks::metrics as names;
use rxscale_webhooks::testing::TestDelivery;
use rxscale_webhooks::{EventType, OffsetDateTime, ReplayGuard};

use crate::receiver::{Framework, Handler, PATH, Receiver};
use crate::{TEST_MAX_BODY_BYTES, test_secret};

/// One metric series: kind, name and its labels, sorted.
pub type Series = (&'static str, String, Vec<(String, String)>);

/// What a series holds: a counter's count, a gauge's value, or a histogram's samples.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    /// A counter.
    Counter(u64),
    /// A gauge.
    Gauge(f64),
    /// A histogram's samples, in the order recorded.
    Histogram(Vec<f64>),
}

/// Installs the debugging recorder as the global recorder. Once per process.
pub fn install_recorder() -> Snapshotter {
    let recorder = DebuggingRecorder::new();
    let snapshotter = recorder.snapshotter();
    recorder
        .install()
        .expect("no other recorder is installed in this test binary");
    snapshotter
}

/// Every series the recorder holds (histograms are drained by taking it).
pub fn snapshot(snapshotter: &Snapshotter) -> BTreeMap<Series, Value> {
    snapshotter
        .snapshot()
        .into_vec()
        .into_iter()
        .map(|(key, _unit, _description, value)| {
            let kind = match key.kind() {
                MetricKind::Counter => "counter",
                MetricKind::Gauge => "gauge",
                MetricKind::Histogram => "histogram",
            };
            let mut labels: Vec<(String, String)> = key
                .key()
                .labels()
                .map(|label| (label.key().to_owned(), label.value().to_owned()))
                .collect();
            labels.sort();
            let value = match value {
                DebugValue::Counter(count) => Value::Counter(count),
                DebugValue::Gauge(value) => Value::Gauge(value.into_inner()),
                DebugValue::Histogram(samples) => {
                    Value::Histogram(samples.into_iter().map(|s| s.into_inner()).collect())
                }
            };
            ((kind, key.key().name().to_owned(), labels), value)
        })
        .collect()
}

/// A series key.
pub fn series(kind: &'static str, name: &str, labels: &[(&str, &str)]) -> Series {
    let mut labels: Vec<(String, String)> = labels
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect();
    labels.sort();
    (kind, name.to_owned(), labels)
}

/// Posts `body` with its headers; returns the status and `X-Webhook-Duplicate`.
async fn post(addr: SocketAddr, delivery: &rxscale_webhooks::testing::Delivery) -> (u16, bool) {
    let mut request = reqwest::Client::new()
        .post(format!("http://{addr}{PATH}"))
        .timeout(Duration::from_secs(20))
        .body(delivery.body().to_vec());
    for (name, value) in delivery.headers() {
        request = request.header(*name, value);
    }
    let response = request.send().await.expect("the receiver answers");
    let duplicate = response
        .headers()
        .get("x-webhook-duplicate")
        .is_some_and(|value| value == "true");
    (response.status().as_u16(), duplicate)
}

/// Runs the mix on `framework` and asserts every series exactly.
pub async fn run(framework: Framework, snapshotter: &Snapshotter) {
    // The handler answers 500 to its first call, so that one claim is released.
    let addr = Receiver::new(
        framework,
        ReplayGuard::in_memory(),
        Handler::new().failing_first(1),
    )
    .start()
    .await;
    let secret = test_secret();
    let now = OffsetDateTime::now_utc().unix_timestamp();
    let order = TestDelivery::new(&secret)
        .event(EventType::PharmacyOrderCreated)
        .build();
    let stock = TestDelivery::new(&secret)
        .event(EventType::PharmacySkuStockUpdated)
        .build();
    let unknown_body = format!(
        r#"{{"event_type":"vendor_thing_happened","timestamp":{now},"payload_version":"7","data":{{"uid":"vt-1"}}}}"#
    );
    let unknown = TestDelivery::new(&secret).body(unknown_body).build();
    let forged = TestDelivery::new(&secret)
        .event(EventType::PharmacyOrderCreated)
        .wrong_secret()
        .build();
    let stale = TestDelivery::new(&secret)
        .event(EventType::PharmacyOrderUpdated)
        .stale(Duration::from_secs(3600))
        .build();
    let not_json = TestDelivery::new(&secret).body("not json at all").build();
    let invalid_data = TestDelivery::new(&secret)
        .body(format!(
            r#"{{"event_type":"pharmacy_order_created","timestamp":{now},"payload_version":"1","data":{{"uid":7}}}}"#
        ))
        .build();
    let oversized = TestDelivery::new(&secret)
        .body(vec![b' '; TEST_MAX_BODY_BYTES + 1])
        .build();

    let mix = [
        (&order, 500, false),   // handled, the handler fails: released
        (&order, 200, false),   // handled, completed
        (&order, 200, true),    // duplicate, answered by the guard
        (&stock, 200, false),   // handled
        (&unknown, 200, false), // handled; folded labels
        (&forged, 401, false),
        (&stale, 400, false),
        (&not_json, 400, false),
        (&invalid_data, 422, false),
        (&oversized, 413, false),
    ];
    for (index, (delivery, status, duplicate)) in mix.iter().enumerate() {
        assert_eq!(
            post(addr, delivery).await,
            (*status, *duplicate),
            "delivery {index} on {}",
            framework.name()
        );
    }

    let mut metrics = snapshot(snapshotter);
    let checked_at = OffsetDateTime::now_utc().unix_timestamp();

    // Histograms: the number of samples exactly, their values within what is possible.
    let mut take_histogram = |name: &str, labels: &[(&str, &str)]| -> Vec<f64> {
        match metrics.remove(&series("histogram", name, labels)) {
            Some(Value::Histogram(samples)) => samples,
            other => panic!("{name} {labels:?}: {other:?}"),
        }
    };
    let verification = take_histogram(names::VERIFICATION_DURATION_SECONDS, &[]);
    assert_eq!(
        verification.len(),
        9,
        "all but the oversized body are verified"
    );
    assert!(
        verification.iter().all(|s| (0.0..5.0).contains(s)),
        "{verification:?}"
    );
    let skew = take_histogram(names::SENDER_CLOCK_SKEW_SECONDS, &[]);
    assert_eq!(skew.len(), 5, "one per verified delivery");
    assert!(skew.iter().all(|s| (-1.0..30.0).contains(s)), "{skew:?}");
    for (labels, count) in [
        (&[("store", "replay"), ("operation", "claim")], 5),
        (&[("store", "replay"), ("operation", "complete")], 3),
        (&[("store", "replay"), ("operation", "release")], 1),
    ] {
        let samples = take_histogram(names::STORE_DURATION_SECONDS, labels);
        assert_eq!(samples.len(), count, "{labels:?}");
        assert!(
            samples.iter().all(|s| (0.0..5.0).contains(s)),
            "{samples:?}"
        );
    }
    for (event_type, status_class) in [
        ("pharmacy_order_created", "5xx"),
        ("pharmacy_order_created", "2xx"),
        ("pharmacy_sku_stock_updated", "2xx"),
        ("unknown", "2xx"),
    ] {
        let samples = take_histogram(
            names::HANDLER_DURATION_SECONDS,
            &[("event_type", event_type), ("status_class", status_class)],
        );
        assert_eq!(samples.len(), 1, "{event_type} {status_class}");
        assert!((0.0..5.0).contains(&samples[0]), "{samples:?}");
    }

    // The gauge: when the test secret was last used, in Unix seconds.
    let fingerprint = secret.fingerprint().to_string();
    match metrics.remove(&series(
        "gauge",
        names::SECRET_LAST_USED_TIMESTAMP_SECONDS,
        &[("fingerprint", &fingerprint)],
    )) {
        Some(Value::Gauge(at)) => assert!(
            (now as f64 - 1.0..=checked_at as f64).contains(&at),
            "{at} not within [{now}, {checked_at}]"
        ),
        other => panic!("secret last used: {other:?}"),
    }

    // Counters, exactly; and nothing else was recorded.
    let counters: BTreeMap<Series, Value> = [
        (names::DELIVERIES_TOTAL, vec![("outcome", "handled")], 4),
        (names::DELIVERIES_TOTAL, vec![("outcome", "duplicate")], 1),
        (
            names::DELIVERIES_TOTAL,
            vec![("outcome", "signature_mismatch")],
            1,
        ),
        (names::DELIVERIES_TOTAL, vec![("outcome", "expired")], 1),
        (
            names::DELIVERIES_TOTAL,
            vec![("outcome", "malformed_payload")],
            1,
        ),
        (
            names::DELIVERIES_TOTAL,
            vec![("outcome", "invalid_event_data")],
            1,
        ),
        (
            names::DELIVERIES_TOTAL,
            vec![("outcome", "body_too_large")],
            1,
        ),
        (
            names::EVENTS_TOTAL,
            vec![
                ("event_type", "pharmacy_order_created"),
                ("payload_version", "1"),
            ],
            3,
        ),
        (
            names::EVENTS_TOTAL,
            vec![
                ("event_type", "pharmacy_sku_stock_updated"),
                ("payload_version", "1"),
            ],
            1,
        ),
        (
            names::EVENTS_TOTAL,
            vec![("event_type", "unknown"), ("payload_version", "other")],
            1,
        ),
        (names::REPLAY_CLAIMS_TOTAL, vec![("result", "fresh")], 4),
        (names::REPLAY_CLAIMS_TOTAL, vec![("result", "duplicate")], 1),
    ]
    .into_iter()
    .map(|(name, labels, count)| (series("counter", name, &labels), Value::Counter(count)))
    .collect();
    assert_eq!(metrics, counters, "on {}", framework.name());
}
