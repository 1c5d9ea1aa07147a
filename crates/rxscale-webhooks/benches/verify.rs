//! Core verification benchmarks: ours against the floor (raw HMAC) and peers, side by side.
//!
//! `cargo bench -p rxscale-webhooks --bench verify`; see docs/benchmarks.md.
#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used)]

use std::hint::black_box;

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use hmac::{Hmac, KeyInit, Mac};
use rxscale_webhooks::event::PharmacyOrder;
use rxscale_webhooks::{OffsetDateTime, SigningSecret, Verifier, sign};
use serde::Deserialize;
use sha2::Sha256;

const SECRET: &str = "whsec_benchmark_secret_0123456789abcdef";
/// Svix secrets are base64 after the prefix; this one decodes to 32 bytes.
const SVIX_SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
const SIZES: [(usize, &str); 4] = [
    (512, "512B"),
    (2048, "2KiB"),
    (16 * 1024, "16KiB"),
    (256 * 1024, "256KiB"),
];

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

/// What a hand-written receiver decodes: the envelope with typed data, in one serde derive.
#[derive(Deserialize)]
#[allow(dead_code)]
struct HandEnvelope {
    event_type: String,
    timestamp: i64,
    payload_version: Option<String>,
    data: PharmacyOrder,
}

fn raw_hmac(body: &[u8]) -> [u8; 32] {
    let mut mac = Hmac::<Sha256>::new_from_slice(SECRET.as_bytes()).unwrap();
    mac.update(body);
    mac.finalize().into_bytes().into()
}

fn benches(c: &mut Criterion) {
    let now = OffsetDateTime::now_utc();
    let ts = now.unix_timestamp();
    let secret = SigningSecret::new(SECRET);
    let verifier = Verifier::builder().secret(secret.clone()).build().unwrap();
    let svix = svix::webhooks::Webhook::new(SVIX_SECRET).unwrap();

    for (size, label) in SIZES {
        let body = order_body(size, ts);
        let signature = sign(&secret, &body);
        let forged = "0".repeat(64);
        let mut svix_headers = http::HeaderMap::new();
        svix_headers.insert(
            "svix-id",
            "msg_2Lr2mPbkVxqVwxkGXvDqJEZlfDP".parse().unwrap(),
        );
        svix_headers.insert("svix-timestamp", ts.to_string().parse().unwrap());
        svix_headers.insert(
            "svix-signature",
            svix.sign("msg_2Lr2mPbkVxqVwxkGXvDqJEZlfDP", ts, &body)
                .unwrap()
                .parse()
                .unwrap(),
        );
        assert!(verifier.verify_at(&body, &signature, now).is_ok());
        assert!(svix.verify(&body, &svix_headers).is_ok());

        let mut group = c.benchmark_group(format!("verify/{label}"));
        group.throughput(Throughput::Bytes(body.len() as u64));
        group.bench_function(BenchmarkId::new("floor", "raw_hmac"), |b| {
            b.iter(|| raw_hmac(black_box(&body)))
        });
        group.bench_function(BenchmarkId::new("baseline", "typed_parse"), |b| {
            b.iter(|| serde_json::from_slice::<HandEnvelope>(black_box(&body)).unwrap())
        });
        group.bench_function(BenchmarkId::new("baseline", "raw_hmac+typed_parse"), |b| {
            b.iter(|| {
                let tag = raw_hmac(black_box(&body));
                let parsed = serde_json::from_slice::<HandEnvelope>(black_box(&body)).unwrap();
                (tag, parsed)
            })
        });
        group.bench_function(BenchmarkId::new("baseline", "value_parse"), |b| {
            b.iter(|| serde_json::from_slice::<serde_json::Value>(black_box(&body)).unwrap())
        });
        group.bench_function(BenchmarkId::new("peer", "svix_verify"), |b| {
            b.iter(|| {
                svix.verify(black_box(&body), black_box(&svix_headers))
                    .unwrap()
            })
        });
        group.bench_function(BenchmarkId::new("peer", "svix_verify+typed_parse"), |b| {
            b.iter(|| {
                svix.verify(black_box(&body), black_box(&svix_headers))
                    .unwrap();
                serde_json::from_slice::<HandEnvelope>(black_box(&body)).unwrap()
            })
        });
        group.bench_function(BenchmarkId::new("ours", "signature_check"), |b| {
            b.iter(|| {
                verifier
                    .authenticate(black_box(&body), [black_box(&signature)])
                    .unwrap()
            })
        });
        group.bench_function(BenchmarkId::new("ours", "verify"), |b| {
            b.iter(|| {
                verifier
                    .verify_at(black_box(&body), black_box(&signature), now)
                    .unwrap()
            })
        });
        group.bench_function(BenchmarkId::new("ours", "reject_forged"), |b| {
            b.iter(|| {
                verifier
                    .verify_at(black_box(&body), black_box(&forged), now)
                    .unwrap_err()
            })
        });
        group.finish();
    }
}

criterion_group!(verify, benches);
criterion_main!(verify);
