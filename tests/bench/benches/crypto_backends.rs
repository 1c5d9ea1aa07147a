//! HMAC-SHA256 backends side by side, for the choice documented in docs/benchmarks.md.
//!
//! `cargo bench -p rxscale-webhooks-bench --bench crypto_backends`
//!
//! Every backend starts from a state keyed once (as the core's `Verifier` does), so each
//! iteration is the per-delivery cost: clone the keyed state, hash the body, finalize.
//!
//! - `rustcrypto_sha2_0.11`: hmac 0.13 + sha2 0.11, what the core uses. On x86-64 it picks
//!   the SHA-NI path at run time when the CPU has it, and its portable Rust code otherwise.
//! - `rustcrypto_soft`: the portable Rust code alone. sha2 0.11 only offers it through
//!   `RUSTFLAGS='--cfg sha2_backend="soft"'`, which rebuilds everything, so this is sha2 0.10
//!   with its `force-soft` feature (the same compression code) under hmac 0.12.
//! - `ring` and `aws_lc_rs`: their `hmac` modules (assembly, C).
//! - `hmac_sha256`: the small pure-Rust crate svix uses.
#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used)]

use std::hint::black_box;

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};

const SECRET: &[u8] = b"whsec_benchmark_secret_0123456789abcdef";
const SIZES: [(usize, &str); 4] = [
    (512, "512B"),
    (2048, "2KiB"),
    (16 * 1024, "16KiB"),
    (256 * 1024, "256KiB"),
];

/// Bytes of the given size that look like a JSON body; the hash does not care, but it keeps
/// the inputs the same as elsewhere in spirit.
fn body(size: usize) -> Vec<u8> {
    let item = br#"{"sku":{"uid":"sku-456","pzn":"12345678"},"pharmacy_sku":{"price":1299}},"#;
    item.iter().copied().cycle().take(size).collect()
}

fn benches(c: &mut Criterion) {
    use hmac::{KeyInit as _, Mac as _};
    use hmac_012::Mac as _;

    let rustcrypto = hmac::Hmac::<sha2::Sha256>::new_from_slice(SECRET).unwrap();
    let soft = <hmac_012::Hmac<sha2_010::Sha256> as hmac_012::Mac>::new_from_slice(SECRET).unwrap();
    let ring_key = ring::hmac::Key::new(ring::hmac::HMAC_SHA256, SECRET);
    let aws_key = aws_lc_rs::hmac::Key::new(aws_lc_rs::hmac::HMAC_SHA256, SECRET);
    let small = hmac_sha256::HMAC::new(SECRET);

    for (size, label) in SIZES {
        let body = body(size);
        // All five must agree, or the comparison is void.
        let expected: [u8; 32] = {
            let mut mac = rustcrypto.clone();
            mac.update(&body);
            mac.finalize().into_bytes().into()
        };
        let mut mac = soft.clone();
        mac.update(&body);
        assert_eq!(mac.finalize().into_bytes().as_slice(), expected);
        assert_eq!(ring::hmac::sign(&ring_key, &body).as_ref(), expected);
        assert_eq!(aws_lc_rs::hmac::sign(&aws_key, &body).as_ref(), expected);
        let mut mac = small.clone();
        mac.update(&body);
        assert_eq!(mac.finalize(), expected);

        let mut group = c.benchmark_group(format!("hmac_sha256/{label}"));
        group.throughput(Throughput::Bytes(size as u64));
        group.bench_function(BenchmarkId::from_parameter("rustcrypto_sha2_0.11"), |b| {
            b.iter(|| {
                let mut mac = rustcrypto.clone();
                mac.update(black_box(&body));
                mac.finalize().into_bytes()
            })
        });
        group.bench_function(BenchmarkId::from_parameter("rustcrypto_soft"), |b| {
            b.iter(|| {
                let mut mac = soft.clone();
                mac.update(black_box(&body));
                mac.finalize().into_bytes()
            })
        });
        group.bench_function(BenchmarkId::from_parameter("ring"), |b| {
            b.iter(|| ring::hmac::sign(&ring_key, black_box(&body)))
        });
        group.bench_function(BenchmarkId::from_parameter("aws_lc_rs"), |b| {
            b.iter(|| aws_lc_rs::hmac::sign(&aws_key, black_box(&body)))
        });
        group.bench_function(BenchmarkId::from_parameter("hmac_sha256"), |b| {
            b.iter(|| {
                let mut mac = small.clone();
                mac.update(black_box(&body));
                mac.finalize()
            })
        });
        group.finish();
    }
}

criterion_group!(crypto_backends, benches);
criterion_main!(crypto_backends);
