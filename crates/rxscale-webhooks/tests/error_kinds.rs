//! Every error kind, produced through the public API, with its documented status and code.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use rxscale_webhooks::{ErrorKind, OffsetDateTime, SigningSecret, Verifier, sign};

const SECRET: &str = "whsec_kinds";
const NOW: i64 = 1_711_900_000;

fn produce(kind: ErrorKind) -> Option<rxscale_webhooks::Error> {
    let secret = SigningSecret::new(SECRET);
    let verifier = Verifier::builder()
        .secret(secret.clone())
        .max_age(Duration::from_secs(600))
        .max_future_skew(Duration::from_secs(60))
        .max_body_bytes(1024)
        .build()
        .unwrap();
    let now = OffsetDateTime::from_unix_timestamp(NOW).unwrap();
    let envelope = |event_type: &str, timestamp: i64, data: &str| {
        format!(
            r#"{{"event_type":"{event_type}","timestamp":{timestamp},"payload_version":"1","data":{data}}}"#
        )
    };
    let signed = |body: &str| verifier.verify_at(body, sign(&secret, body), now);
    let fresh = envelope("x", NOW, "{}");
    let result = match kind {
        ErrorKind::MissingSignature => verifier.verify_at(&fresh, "  ", now),
        ErrorKind::MalformedSignature => verifier.verify_at(&fresh, "sha256=abc", now),
        ErrorKind::SignatureMismatch => verifier.verify_at(
            &fresh,
            sign(&SigningSecret::new("whsec_other"), &fresh),
            now,
        ),
        ErrorKind::BodyTooLarge => signed(&envelope(
            "x",
            NOW,
            &format!(r#"{{"pad":"{}"}}"#, "a".repeat(1024)),
        )),
        ErrorKind::MalformedPayload => {
            signed(r#"{"event_type":"x","timestamp":"yesterday","data":{}}"#)
        }
        ErrorKind::Expired => signed(&envelope("x", NOW - 601, "{}")),
        ErrorKind::FromFuture => signed(&envelope("x", NOW + 61, "{}")),
        // Only adapters produce it, from a body that fails to arrive: see
        // crates/rxscale-webhooks-tower/tests/service.rs,
        // a_failing_body_is_rejected_with_the_body_read_failed_kind_in_the_extensions.
        ErrorKind::BodyReadFailed => return None,
        // Only adapters produce it, from a body that does not arrive in time: see
        // tests/tests/hostile_deadlines.rs.
        ErrorKind::BodyReadTimeout => return None,
        ErrorKind::InvalidEventData => signed(&envelope(
            "pharmacy_order_created",
            NOW,
            r#"{"uid":"po-1"}"#,
        )),
        other => panic!("no recipe for new kind {other:?}: add one"),
    };
    Some(result.unwrap_err())
}

#[test]
fn every_kind_has_a_recipe_status_code_and_terse_body() {
    for &kind in ErrorKind::ALL {
        let Some(err) = produce(kind) else {
            let expected = match kind {
                ErrorKind::BodyReadFailed => 400,
                ErrorKind::BodyReadTimeout => 408,
                other => panic!("only adapters produce {other:?}"),
            };
            assert_eq!(kind.status_code(), expected);
            continue;
        };
        assert_eq!(err.kind(), kind);
        let expected_status = match kind {
            ErrorKind::MissingSignature
            | ErrorKind::MalformedSignature
            | ErrorKind::SignatureMismatch => 401,
            ErrorKind::BodyTooLarge => 413,
            ErrorKind::InvalidEventData => 422,
            ErrorKind::BodyReadFailed => 400,
            _ => 400,
        };
        assert_eq!(err.status_code(), expected_status, "{kind:?}");
        assert_eq!(
            kind.response_body(),
            format!(r#"{{"error":"{}"}}"#, kind.code())
        );
        let message = err.to_string();
        assert!(!message.contains(SECRET), "{message}");
    }
}

#[test]
fn a_forged_stale_body_is_a_mismatch_not_expired() {
    let secret = SigningSecret::new(SECRET);
    let verifier = Verifier::builder().secret(secret).build().unwrap();
    let stale = r#"{"event_type":"x","timestamp":1,"payload_version":"1","data":{}}"#;
    let forged = sign(&SigningSecret::new("whsec_attacker"), stale);
    assert_eq!(
        verifier.verify(stale, forged).unwrap_err().kind(),
        ErrorKind::SignatureMismatch
    );
    // Unauthenticated garbage is never parsed either.
    assert_eq!(
        verifier
            .verify("not json", "0".repeat(64))
            .unwrap_err()
            .kind(),
        ErrorKind::SignatureMismatch
    );
}

#[test]
fn invalid_event_data_message_names_the_field() {
    let err = produce(ErrorKind::InvalidEventData).unwrap();
    assert!(err.to_string().contains("data.status"), "{err}");
}
