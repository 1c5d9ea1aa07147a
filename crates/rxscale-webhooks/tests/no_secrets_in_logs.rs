//! Captures everything logged at trace level through full rejection and success paths, and
//! checks that no secret and no computed signature appears in it, while what is logged on
//! purpose is there: the configured secrets' fingerprints on a mismatch, and the start-up
//! warnings about suspicious secrets.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::Capture;
use rxscale_webhooks::testing::fixture;
use rxscale_webhooks::{EventType, OffsetDateTime, SigningSecret, Verifier, sign};

#[test]
fn trace_output_holds_no_secret_signature_or_unmatched_fingerprint() {
    let capture = Capture::default();
    let subscriber = capture.subscriber();

    let matching = SigningSecret::new("whsec_matching_SECRET_value_1");
    let unmatched = SigningSecret::new("whsec_unmatched_SECRET_value_2");
    // A suspicious secret logs a warning: the warning must not carry the secret either.
    let padded = SigningSecret::new("  whsec_padded_SECRET_value_3 ");
    let body = fixture(EventType::PharmacyOrderCreated);
    let good = sign(&matching, body);
    let forged_with = SigningSecret::new("whsec_attacker_SECRET_value_4");
    let forged = sign(&forged_with, body);

    tracing::subscriber::with_default(subscriber, || {
        let verifier = Verifier::builder()
            .secret(unmatched.clone())
            .secret(matching.clone())
            .secret(padded.clone())
            .no_max_age()
            .build()
            .unwrap();
        let no_prefix = SigningSecret::new("no_prefix_SECRET_value_5");
        let _ = Verifier::builder().secret(no_prefix).build().unwrap();
        let now = OffsetDateTime::from_unix_timestamp(1_711_900_000).unwrap();
        assert!(verifier.verify_at(body, &good, now).is_ok());
        for signature in [forged.as_str(), "", "zz", &good[..63]] {
            assert!(verifier.verify_at(body, signature, now).is_err());
        }
        let tampered = body.replace("po-abc123", "po-abc124");
        assert!(verifier.verify_at(&tampered, &good, now).is_err());
        let not_json = "not json";
        assert!(
            verifier
                .verify_at(not_json, sign(&matching, not_json), now)
                .is_err()
        );
        tracing::trace!(verifier = ?verifier, secret = ?matching, "debug formatting of the configuration");
    });

    let output = capture.text();
    assert!(
        output.contains("rejected"),
        "nothing was captured:\n{output}"
    );
    assert!(
        !output.contains("SECRET_value"),
        "a secret leaked:\n{output}"
    );
    for signature in [
        &good,
        &forged,
        &sign(&unmatched, body),
        &sign(&matching, tampered_body()),
    ] {
        assert!(
            !output.contains(signature.as_str()),
            "a signature leaked:\n{output}"
        );
        assert!(
            !output.contains(&signature[..16]),
            "part of a signature leaked:\n{output}"
        );
    }
    // The mismatch line names the configured secrets, in order, each by its fingerprint only.
    let configured = format!(
        "configured=[{}, {}, {}]",
        unmatched.fingerprint(),
        matching.fingerprint(),
        padded.fingerprint()
    );
    let mismatches: Vec<&str> = output
        .lines()
        .filter(|line| line.contains("kind=\"signature_mismatch\""))
        .collect();
    assert_eq!(mismatches.len(), 2, "forged and tampered:\n{output}");
    for line in mismatches {
        assert!(line.contains(" INFO "), "{line}");
        assert!(line.contains(&configured), "{line}");
    }
    // The start-up warnings the troubleshooting guide promises, by fingerprint.
    let warned = |needle: &str, fingerprint: String| {
        output.lines().any(|line| {
            line.contains(" WARN ") && line.contains(needle) && line.contains(&fingerprint)
        })
    };
    assert!(
        warned("surrounding whitespace", padded.fingerprint().to_string()),
        "{output}"
    );
    assert!(
        warned(
            "does not start with `whsec_`",
            SigningSecret::new("no_prefix_SECRET_value_5")
                .fingerprint()
                .to_string()
        ),
        "{output}"
    );
    // A key the verifier never held cannot be named (kept as a guard against logging the
    // candidate signature's origin some day).
    assert!(
        !output.contains(&forged_with.fingerprint().to_string()),
        "the attacker's key fingerprint appeared:\n{output}"
    );
}

fn tampered_body() -> String {
    fixture(EventType::PharmacyOrderCreated).replace("po-abc123", "po-abc124")
}
