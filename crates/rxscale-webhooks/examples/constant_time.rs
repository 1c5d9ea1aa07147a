//! Statistical timing test (dudect) of the signature comparison. Not part of CI: timing on a
//! shared machine is noisy. Run with
//!
//! ```text
//! cargo run --release -p rxscale-webhooks --example constant_time
//! ```
//!
//! for one pass over every bench, or add `-- --continuous signature_first_vs_last_byte` to keep
//! sampling one of them until interrupted. dudect's rule of thumb: |max t| below 5 is
//! no evidence of a leak; above 10 is a leak. `naive_hex_eq_first_vs_last` is a deliberately
//! leaky control (an early-exit string comparison) that shows the test can see a leak of this
//! size on this machine.
#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used)]

use dudect_bencher::{BenchRng, Class, CtRunner, ctbench_main};
use rand::RngExt;
use rxscale_webhooks::{SigningSecret, Verifier, sign};

const SAMPLES: usize = 100_000;
const BODY: &[u8] = br#"{"event_type":"x","timestamp":1711900000,"data":{"uid":"u"}}"#;

fn setup() -> (Verifier, String) {
    let secret = SigningSecret::new("whsec_constant_time");
    let verifier = Verifier::builder().secret(secret.clone()).build().unwrap();
    (verifier, sign(&secret, BODY))
}

/// `good` with the hex digit at `at` changed to another valid hex digit.
fn wrong_at(good: &str, at: usize) -> String {
    let mut bytes = good.as_bytes().to_vec();
    bytes[at] = if bytes[at] == b'0' { b'1' } else { b'0' };
    String::from_utf8(bytes).unwrap()
}

/// Mismatch in the first byte (Left) against mismatch in the last byte (Right).
fn signature_first_vs_last_byte(runner: &mut CtRunner, rng: &mut BenchRng) {
    let (verifier, good) = setup();
    let first = wrong_at(&good, 0);
    let last = wrong_at(&good, 63);
    for _ in 0..SAMPLES {
        let (class, signature) = if rng.random::<bool>() {
            (Class::Left, &first)
        } else {
            (Class::Right, &last)
        };
        runner.run_one(class, || verifier.authenticate(BODY, [signature]).is_err());
    }
}

/// Guesses that share a 31-byte prefix with each other but not with the right tag (Left), against
/// guesses that share the right tag's first 31 bytes (Right). Both pools have the same shape —
/// one fixed prefix, a random last byte — so hex decoding, which depends only on the attacker's
/// own input, costs the same on both sides. What is left is whether the time depends on how much
/// of the secret tag a guess gets right.
fn other_prefix_vs_tag_prefix(runner: &mut CtRunner, rng: &mut BenchRng) {
    let (verifier, good) = setup();
    let mut other_prefix: String = (0..31)
        .map(|_| format!("{:02x}", rng.random::<u8>()))
        .collect();
    if other_prefix[..2] == good[..2] {
        other_prefix.replace_range(..2, if &good[..2] == "00" { "01" } else { "00" });
    }
    let pool = |prefix: &str, rng: &mut BenchRng| -> Vec<String> {
        (0..64)
            .map(|_| {
                let mut last = rng.random::<u8>();
                if format!("{last:02x}") == good[62..] {
                    last ^= 1;
                }
                format!("{prefix}{last:02x}")
            })
            .collect()
    };
    let left = pool(&other_prefix, rng);
    let right = pool(&good[..62], rng);
    for i in 0..SAMPLES {
        let (class, signature) = if rng.random::<bool>() {
            (Class::Left, &left[i % left.len()])
        } else {
            (Class::Right, &right[i % right.len()])
        };
        runner.run_one(class, || verifier.authenticate(BODY, [signature]).is_err());
    }
}

/// Wrong length (63 digits, rejected as malformed before any hashing) against a full-length
/// mismatch. Expected to differ: the length of the header is public, not secret.
fn wrong_length_vs_mismatch(runner: &mut CtRunner, rng: &mut BenchRng) {
    let (verifier, good) = setup();
    let short = good[..63].to_owned();
    let last = wrong_at(&good, 63);
    for _ in 0..SAMPLES {
        let (class, signature) = if rng.random::<bool>() {
            (Class::Left, &short)
        } else {
            (Class::Right, &last)
        };
        runner.run_one(class, || verifier.authenticate(BODY, [signature]).is_err());
    }
}

/// Control: an early-exit comparison of the hex strings, the bug constant-time comparison
/// prevents. It should show a large |t|.
fn naive_hex_eq_first_vs_last(runner: &mut CtRunner, rng: &mut BenchRng) {
    let (_, good) = setup();
    let good = good.repeat(16);
    let first = wrong_at(&good, 0);
    let mut last = good.clone().into_bytes();
    let end = last.len() - 1;
    last[end] = if last[end] == b'0' { b'1' } else { b'0' };
    let last = String::from_utf8(last).unwrap();
    for _ in 0..SAMPLES {
        let (class, candidate) = if rng.random::<bool>() {
            (Class::Left, &first)
        } else {
            (Class::Right, &last)
        };
        runner.run_one(class, || {
            std::hint::black_box(candidate.as_bytes()) == good.as_bytes()
        });
    }
}

ctbench_main!(
    signature_first_vs_last_byte,
    other_prefix_vs_tag_prefix,
    wrong_length_vs_mismatch,
    naive_hex_eq_first_vs_last
);
