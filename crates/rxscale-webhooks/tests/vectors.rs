//! Known-answer vectors: the three of spec §2.4, and our own (computed with python3's `hmac`).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use rxscale_webhooks::{ErrorKind, OffsetDateTime, SigningSecret, Verifier, sign};

const VECTOR_1_BODY: &str = r#"{"event_type":"pharmacy_sku_stock_updated","timestamp":1711900000,"payload_version":"1","data":{"uid":"psku-abc123"}}"#;

fn at(unix: i64) -> OffsetDateTime {
    OffsetDateTime::from_unix_timestamp(unix).unwrap()
}

fn verifier(secret: &str) -> Verifier {
    Verifier::builder()
        .secret(secret)
        .no_max_age()
        .build()
        .unwrap()
}

#[test]
fn spec_vector_1_whole_secret_is_the_key() {
    assert_eq!(VECTOR_1_BODY.len(), 117);
    let expected = "44a55a64bef286d9796db06b8cb94e0a03d04fcefaee608d090ef50a1c7e5c0c";
    assert_eq!(
        sign(&SigningSecret::new("whsec_abc123"), VECTOR_1_BODY),
        expected
    );
    let verified = verifier("whsec_abc123")
        .verify_at(VECTOR_1_BODY, expected, at(1_711_900_000))
        .unwrap();
    assert_eq!(
        verified.dedup_key().as_str(),
        "pharmacy_sku_stock_updated:1711900000:psku-abc123"
    );
}

#[test]
fn spec_vector_2_stripped_prefix_is_the_wrong_key() {
    let stripped = "7453f68561d4dd8eb37ad130ff47a2da4840b56badb1e3858ee3e6822e6f4ec9";
    assert_eq!(sign(&SigningSecret::new("abc123"), VECTOR_1_BODY), stripped);
    // Vector 1's header must not verify under the stripped key, nor vector 2's under the real one.
    let vector_1 = "44a55a64bef286d9796db06b8cb94e0a03d04fcefaee608d090ef50a1c7e5c0c";
    let err = verifier("abc123")
        .verify_at(VECTOR_1_BODY, vector_1, at(1_711_900_000))
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::SignatureMismatch);
    let err = verifier("whsec_abc123")
        .verify_at(VECTOR_1_BODY, stripped, at(1_711_900_000))
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::SignatureMismatch);
}

#[test]
fn spec_vector_3_empty_object() {
    let expected = "b8e41d05e1ec86afe86ae177dccfb021afc2e6633a3c8dcee569538f5f2b8270";
    assert_eq!(sign(&SigningSecret::new("whsec_abc123"), "{}"), expected);
    // Authentic, but not an envelope.
    let err = verifier("whsec_abc123")
        .verify_at("{}", expected, at(0))
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::MalformedPayload);
}

#[test]
fn own_vectors() {
    let non_ascii = "{\"event_type\":\"pharmacy_order_updated\",\"timestamp\":1711903600,\"payload_version\":\"1\",\"data\":{\"uid\":\"po-ä1\",\"status\":\"on-hold\",\"name\":\"Grüße 💊\"}}";
    let long_key = format!("whsec_{}", "k".repeat(100));
    let cases: [(&str, &[u8], &str); 4] = [
        (
            "whsec_abc123",
            non_ascii.as_bytes(),
            "643555174036a0a6a54710d2ddc15c71a0dcc63eedb59035246a605f68dc555e",
        ),
        // A key longer than SHA-256's 64-byte block is hashed first (RFC 2104).
        (
            &long_key,
            VECTOR_1_BODY.as_bytes(),
            "31404a3ad478948cf6cfbdf8d929ef8e4a4676055b6a7160cdc179f2e6448ecc",
        ),
        (
            "whsec_abc123",
            b"",
            "179372d4089e7b87eeefa9da16ade1ff44372f0f33c4a0d181ee8a57a43ed58b",
        ),
        (
            "whsec_abc123",
            b"{\"event_type\":\"pharmacy_sku_stock_updated\",\"timestamp\":1711900000,\"payload_version\":\"1\",\"data\":{\"uid\":\"psku-abc123\"}}\n",
            "b86b6478862ecd0cb0b59490e41b45b4ec3bad364317fa7a2daf2efe9dfef7a9",
        ),
    ];
    for (key, body, expected) in cases {
        assert_eq!(sign(&SigningSecret::new(key), body), expected);
    }
    // The order is incomplete as a typed event, so read `data` as plain JSON.
    let verified = verifier("whsec_abc123")
        .verify_as_at::<serde_json::Value>(
            non_ascii,
            "643555174036A0A6A54710D2DDC15C71A0DCC63EEDB59035246A605F68DC555E",
            at(1_711_903_600),
        )
        .unwrap();
    assert_eq!(
        verified.dedup_key().as_str(),
        "pharmacy_order_updated:1711903600:po-ä1"
    );
}

#[test]
fn trailing_newline_changes_the_signature() {
    let signed_without = "44a55a64bef286d9796db06b8cb94e0a03d04fcefaee608d090ef50a1c7e5c0c";
    let with_newline = format!("{VECTOR_1_BODY}\n");
    let err = verifier("whsec_abc123")
        .verify_at(&with_newline, signed_without, at(1_711_900_000))
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::SignatureMismatch);
}
