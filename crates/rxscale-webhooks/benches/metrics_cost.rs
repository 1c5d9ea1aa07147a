//! What the `metrics` feature costs per delivery, in instructions (callgrind), against
//! `verify` of a 2 KiB order. Not a criterion bench: one loop, run under valgrind by
//! `tests/bench/benches/metrics_cost.sh`, once built without and once with `--features metrics`;
//! see docs/benchmarks.md.
//!
//! `METRICS_COST_MODE`: `verify` (the denominator: `Verifier::verify_at`) or `delivery` (what an
//! adapter runs per delivery without a replay guard: the span, the body reader, the pipeline's
//! check, the handler's answer and the finish). `METRICS_COST_RECORDER=prometheus` installs
//! `metrics-exporter-prometheus`'s recorder first (with the feature on). `METRICS_COST_ITERATIONS`
//! sets the loop's length.
#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used)]

use std::hint::black_box;

use rxscale_webhooks::pipeline::{Delivery, Pipeline};
use rxscale_webhooks::{OffsetDateTime, SigningSecret, Verifier, sign};

const SECRET: &str = "whsec_benchmark_secret_0123456789abcdef";

/// A `pharmacy_order_created` body of about `size` bytes: the spec's order with as many order
/// items as fit, so bigger bodies carry more structure, not one long string.
fn order_body(size: usize, timestamp: i64) -> Vec<u8> {
    let item = r#"{"sku":{"uid":"sku-456","display_name":"Medication X 100mg","pzn":"12345678","product_uid":"prod-789","product_display_name":"Medication X","product_handle":"medication-x"},"pharmacy_sku":{"uid":"psku-abc123","external_id":"EXT-001","price":1299,"stock":50}}"#;
    let head = format!(
        r##"{{"event_type":"pharmacy_order_created","timestamp":{timestamp},"payload_version":"1","data":{{"uid":"po-abc123","status":"init","name":"#1001","data":{{}},"external_status":"OPEN","created_at":1711899000,"updated_at":1711899000,"deleted_at":null,"pharmacy":{{"uid":"ph-xyz","display_name":"City Pharmacy"}},"order":{{"uid":"ord-123","delivery_address":{{"first_name":"Max","last_name":"Mustermann","street":"Hauptstr.","house_number":"1","zip_code":"10115","city":"Berlin","country":"Germany","additional_address":null}},"invoice_address":{{"first_name":"Max","last_name":"Mustermann","street":"Hauptstr.","house_number":"1","zip_code":"10115","city":"Berlin","country":"Germany","additional_address":null}}}},"delivery_type":{{"uid":"dt-001","display_name":"Standard Shipping","identifier":"standard"}},"patient_data":{{"uid":"pat-123","display_name":"Max Mustermann","email":"max@example.com","date_of_birth":"1990-01-15"}},"order_items":["##
    );
    let tail = "]}}";
    let mut body = head;
    let mut first = true;
    while body.len() + item.len() + 1 + tail.len() <= size || first {
        if !first {
            body.push(',');
        }
        body.push_str(item);
        first = false;
    }
    body.push_str(tail);
    if body.len() > size {
        // The smallest size: trim to an order with fewer fields but the same shape.
        let small = format!(
            r##"{{"event_type":"pharmacy_order_created","timestamp":{timestamp},"payload_version":"1","data":{{"uid":"po-abc123","status":"init","name":"#1001","external_status":"OPEN","created_at":1711899000,"updated_at":1711899000,"deleted_at":null,"pharmacy":{{"uid":"ph-xyz","display_name":"City Pharmacy"}},"order":{{"uid":"ord-123"}},"order_items":[{item}]}}}}"##
        );
        body = small;
    }
    body.into_bytes()
}

fn main() {
    // `cargo bench` runs every bench target with `--bench`; this one only runs when asked.
    let Ok(mode) = std::env::var("METRICS_COST_MODE") else {
        eprintln!("metrics_cost: set METRICS_COST_MODE (see tests/bench/benches/metrics_cost.sh)");
        return;
    };
    let iterations: usize = std::env::var("METRICS_COST_ITERATIONS")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(1000);
    if std::env::var("METRICS_COST_RECORDER").is_ok_and(|r| r == "prometheus") {
        #[cfg(feature = "metrics")]
        {
            metrics_exporter_prometheus::PrometheusBuilder::new()
                .set_buckets(rxscale_webhooks::metrics::DURATION_BUCKETS)
                .unwrap()
                .install_recorder()
                .unwrap();
            rxscale_webhooks::metrics::describe();
        }
        #[cfg(not(feature = "metrics"))]
        panic!("METRICS_COST_RECORDER=prometheus needs --features metrics");
    }
    let now = OffsetDateTime::now_utc();
    let body = order_body(2048, now.unix_timestamp());
    assert_eq!(body.len(), 2048.min(body.len()));
    let secret = SigningSecret::new(SECRET);
    let signature = sign(&secret, &body);
    let verifier = Verifier::builder().secret(secret).build().unwrap();
    let pipeline = Pipeline::new(verifier.clone());
    let headers = |name: &'static str| {
        (name == rxscale_webhooks::SIGNATURE_HEADER)
            .then_some(signature.as_bytes())
            .into_iter()
    };
    match mode.as_str() {
        "verify" => {
            for _ in 0..iterations {
                black_box(verifier.verify_at(black_box(&body), black_box(&signature), now))
                    .unwrap();
            }
        }
        "delivery" => {
            for _ in 0..iterations {
                let delivery = Delivery::start();
                let _entered = delivery.span().enter();
                let mut reader = pipeline.body_reader(Some(body.len() as u64)).unwrap();
                reader.push(black_box(&body[..])).unwrap();
                let bytes = reader.finish();
                let checked = pipeline.check(headers, &bytes, &delivery).unwrap();
                black_box(&checked);
                delivery.record_answer(200, |_| std::iter::empty());
                delivery.finish();
            }
        }
        other => panic!("unknown METRICS_COST_MODE {other}"),
    }
}
