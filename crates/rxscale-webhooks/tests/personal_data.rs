//! No value from a body in error text, logs or `Debug`: a value of each JSON type is fed into
//! each kind of typed field of a signed pharmacy order, and neither the error's `Display` or
//! `Debug`, nor what the verifier logs, nor `Debug` of what it yields, contains it.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::{Capture, timeless_verifier};
use rxscale_webhooks::testing::fixture;
use rxscale_webhooks::{EventType, OffsetDateTime, SigningSecret, sign};
use serde_json::{Value, json};

/// Each kind of typed field: a string, an integer, a timestamp, an enum, a bool, a float, a
/// struct, a list; `true` marks the personal ones, whose value `Debug` must not show.
const FIELDS: &[(&str, bool)] = &[
    ("/data/patient_data/email", true),
    // An identifier, shown in `Debug` like every uid; a wrong type must still not show.
    ("/data/patient_data/uid", false),
    ("/data/order/delivery_address/street", true),
    ("/data/prepaid", false),
    ("/data/created_at", false),
    ("/data/status", false),
    ("/data/order_items/0/sku/digital", false),
    ("/data/order_items/0/sku/standard_selling_unit", false),
    ("/data/patient_data", true),
    ("/data/order_items", false),
];

/// A value of each JSON type, and the text that must never show.
fn values() -> Vec<(Value, &'static str)> {
    vec![
        (json!(4_915_112_345_678_i64), "4915112345678"),
        (json!(1.234_567_89e-7), "1.23456789"),
        (json!("Jane.Doe.4711@example.com"), "Jane.Doe.4711"),
        (json!(true), "true"),
        (json!(["Jane-Array-4711"]), "Jane-Array-4711"),
        (json!({"k": "Jane-Object-4711"}), "Jane-Object-4711"),
    ]
}

#[test]
fn no_value_of_any_type_in_any_field_kind_shows_in_errors_logs_or_debug() {
    let secret = SigningSecret::new("whsec_personal_data");
    let verifier = timeless_verifier(&secret);
    let base: Value = serde_json::from_str(fixture(EventType::PharmacyOrderCreated)).unwrap();
    let capture = Capture::default();
    let subscriber = capture.subscriber();
    let mut rejected = 0;
    tracing::subscriber::with_default(subscriber, || {
        for &(pointer, personal) in FIELDS {
            for (value, marker) in values() {
                let mut body = base.clone();
                set(&mut body, pointer, value.clone());
                let body = body.to_string();
                let now = OffsetDateTime::UNIX_EPOCH;
                let case = format!("{value} into {pointer}");
                match verifier.verify_at(&body, sign(&secret, &body), now) {
                    Err(error) => {
                        rejected += 1;
                        let display = error.to_string();
                        let debug = format!("{error:?}");
                        assert!(!display.contains(marker), "{case}: {display}");
                        assert!(!debug.contains(marker), "{case}: {debug}");
                        assert!(
                            display.contains("data."),
                            "{case}: names the path: {display}"
                        );
                    }
                    Ok(verified) => {
                        let debug = format!("{verified:?}");
                        assert!(!debug.contains(marker), "{case}: {debug}");
                        if personal {
                            let event = format!("{:?}", verified.event());
                            assert!(!event.contains(marker), "{case}: {event}");
                        }
                    }
                }
            }
        }
    });
    assert!(rejected > 30, "most cases must be rejected: {rejected}");
    let logs = capture.text();
    assert!(logs.contains("invalid_event_data"), "{logs}");
    for (_, marker) in values() {
        assert!(!logs.contains(marker), "{marker} was logged:\n{logs}");
    }
}

/// Sets the field at `pointer`, adding it to its object when the fixture leaves it out.
fn set(body: &mut Value, pointer: &str, value: Value) {
    let (parent, key) = pointer.rsplit_once('/').unwrap();
    match body.pointer_mut(parent).unwrap() {
        Value::Object(object) => {
            object.insert(key.to_owned(), value);
        }
        Value::Array(array) => array[key.parse::<usize>().unwrap()] = value,
        other => panic!("{parent} is {other}"),
    }
}

#[test]
fn the_issues_example_names_path_and_type_only() {
    let secret = SigningSecret::new("whsec_personal_data");
    let verifier = timeless_verifier(&secret);
    let body: Value = serde_json::from_str(fixture(EventType::PharmacyOrderCreated)).unwrap();
    let cases = [
        (
            "uid",
            json!(4_915_112_345_678_i64),
            "data.patient_data.uid: invalid type: integer, expected a string",
        ),
        (
            "email",
            json!(["max@example.com"]),
            "data.patient_data.email: invalid type: sequence, expected a string",
        ),
    ];
    for (field, value, expected) in cases {
        let mut body = body.clone();
        body["data"]["patient_data"][field] = value;
        let body = body.to_string();
        let error = verifier
            .verify_at(&body, sign(&secret, &body), OffsetDateTime::UNIX_EPOCH)
            .unwrap_err();
        let detail = error.detail().unwrap();
        assert!(detail.starts_with(expected), "{detail}");
        assert!(!detail.contains("4915112345678"), "{detail}");
        assert!(!detail.contains("max@example.com"), "{detail}");
    }
}

#[test]
fn debug_of_typed_events_redacts_personal_fields() {
    let secret = SigningSecret::new("whsec_personal_data");
    let verifier = timeless_verifier(&secret);
    for &event_type in EventType::ALL {
        let body = fixture(event_type);
        let verified = verifier
            .verify_at(body, sign(&secret, body), OffsetDateTime::UNIX_EPOCH)
            .unwrap();
        let debug = format!("{:?} {verified:?}", verified.event());
        for personal in [
            "Max",
            "Mustermann",
            "max@example.com",
            "1990-01-15",
            "Schmidt",
        ] {
            assert!(
                !debug.contains(personal),
                "{event_type:?}: {personal} in {debug}"
            );
        }
        let verified_debug = format!("{verified:?}");
        assert!(
            verified_debug.contains(verified.dedup_key().as_str()),
            "{verified_debug}"
        );
        assert!(verified_debug.contains("fp_"), "{verified_debug}");
    }
}
