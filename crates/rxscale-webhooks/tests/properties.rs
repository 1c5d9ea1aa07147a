//! Property tests: single-bit changes are rejected, sign-then-verify round-trips, and no input
//! panics.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use proptest::prelude::*;
use rxscale_webhooks::testing::fixture;
use rxscale_webhooks::{ErrorKind, EventType, OffsetDateTime, SigningSecret, Verifier, sign};

const SECRET: &str = "whsec_property";

fn verifier() -> Verifier {
    Verifier::builder()
        .secret(SECRET)
        .no_max_age()
        .no_max_future_skew()
        .build()
        .unwrap()
}

fn event_body() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        (0..EventType::ALL.len()).prop_map(|i| fixture(EventType::ALL[i]).as_bytes().to_vec()),
        proptest::collection::vec(any::<u8>(), 0..512),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn any_single_bit_flip_in_the_body_is_rejected(body in event_body(), bit in any::<prop::sample::Index>()) {
        prop_assume!(!body.is_empty());
        let secret = SigningSecret::new(SECRET);
        let signature = sign(&secret, &body);
        let mut tampered = body.clone();
        let at = bit.index(tampered.len() * 8);
        tampered[at / 8] ^= 1 << (at % 8);
        let err = verifier().verify_at(&tampered, &signature, OffsetDateTime::UNIX_EPOCH).unwrap_err();
        prop_assert_eq!(err.kind(), ErrorKind::SignatureMismatch);
    }

    #[test]
    fn any_single_bit_flip_in_the_signature_is_rejected(body in event_body(), bit in 0usize..256) {
        let secret = SigningSecret::new(SECRET);
        let mut tag = base16ct::mixed::decode_vec(sign(&secret, &body)).unwrap();
        tag[bit / 8] ^= 1 << (bit % 8);
        let err = verifier().verify_at(&body, base16ct::lower::encode_string(&tag), OffsetDateTime::UNIX_EPOCH).unwrap_err();
        prop_assert_eq!(err.kind(), ErrorKind::SignatureMismatch);
    }

    #[test]
    fn sign_then_verify_round_trips(
        event_type in "[a-z_]{1,40}",
        timestamp in 0i64..4_000_000_000,
        uid in "[ -~]{0,30}",
        text in "\\PC{0,40}",
    ) {
        let body = serde_json::json!({
            "event_type": event_type,
            "timestamp": timestamp,
            "payload_version": "1",
            "data": {"uid": uid, "text": text},
        })
        .to_string();
        prop_assume!(EventType::from_wire(&event_type).is_none());
        let secret = SigningSecret::new(SECRET);
        let verified = verifier().verify_at(&body, sign(&secret, &body), OffsetDateTime::UNIX_EPOCH).unwrap();
        prop_assert_eq!(verified.event_type(), event_type.as_str());
        prop_assert_eq!(verified.timestamp().unix_timestamp(), timestamp);
        let key = format!("{event_type}:{timestamp}:{uid}");
        prop_assert_eq!(verified.dedup_key().as_str(), key.as_str());
    }

    #[test]
    fn no_input_panics(body in proptest::collection::vec(any::<u8>(), 0..2048), header in proptest::collection::vec(any::<u8>(), 0..80), now in any::<i64>()) {
        let now = OffsetDateTime::from_unix_timestamp(now % 253_402_300_799).unwrap_or(OffsetDateTime::UNIX_EPOCH);
        let _ = verifier().verify_at(&body, &header, now);
        // Authentic arbitrary bytes reach the decoder: it must not panic either.
        let _ = verifier().verify_at(&body, sign(&SigningSecret::new(SECRET), &body), now);
    }

    #[test]
    fn authentic_json_mutations_never_panic_and_agree_with_a_json_parser(
        index in 0..EventType::ALL.len(),
        cut in any::<prop::sample::Index>(),
        insert in "[\\[\\]{}\",:0-9a-z \\\\]{0,4}",
    ) {
        let base = fixture(EventType::ALL[index]);
        let at = cut.index(base.len() + 1);
        let at = (0..=at).rev().find(|&i| base.is_char_boundary(i)).unwrap_or(0);
        let body = format!("{}{}{}", &base[..at], insert, &base[at..]);
        let secret = SigningSecret::new(SECRET);
        let result = verifier().verify_at(&body, sign(&secret, &body), OffsetDateTime::UNIX_EPOCH);
        // The typed result must agree, both ways, with a plain JSON parser followed by the
        // envelope's rules: malformed exactly when that finds no envelope.
        let plain = serde_json::from_str::<serde_json::Value>(&body);
        let is_envelope = plain.as_ref().ok().and_then(serde_json::Value::as_object).is_some_and(|object| {
            object.get("event_type").is_some_and(serde_json::Value::is_string)
                && object
                    .get("timestamp")
                    .and_then(serde_json::Value::as_i64)
                    .is_some_and(|ts| OffsetDateTime::from_unix_timestamp(ts).is_ok())
                && object.get("data").is_some_and(serde_json::Value::is_object)
        });
        let malformed = matches!(&result, Err(err) if err.kind() == ErrorKind::MalformedPayload);
        prop_assert_eq!(malformed, !is_envelope, "{:?} for {}", result.as_ref().err(), body);
    }
}
