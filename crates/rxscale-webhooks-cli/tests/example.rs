//! `example`: the fixtures, by event type.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::{SECRET, cli, cli_with_secret, now, python_hmac};
use predicates::prelude::*;
use serde_json::Value;

const TYPES: [&str; 5] = [
    "pharmacy_order_created",
    "pharmacy_order_updated",
    "pharmacy_sku_stock_updated",
    "patient_doctor_meeting_updated",
    "appointment_reminder_due",
];

#[test]
fn list_names_every_event_type() {
    cli()
        .args(["example", "--list"])
        .assert()
        .code(0)
        .stdout(format!("{}\n", TYPES.join("\n")));
}

#[test]
fn every_type_prints_its_envelope() {
    for event_type in TYPES {
        let output = cli().args(["example", event_type]).output().unwrap();
        assert_eq!(output.status.code(), Some(0));
        let value: Value = serde_json::from_slice(&output.stdout).unwrap();
        assert_eq!(value["event_type"], event_type);
        assert_eq!(value["payload_version"], "1");
        assert!(value["data"].is_object());
        assert!(value["timestamp"].is_i64());
    }
    // Without a type: the documented pharmacy_order_created example.
    let output = cli().arg("example").output().unwrap();
    let value: Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(value["event_type"], "pharmacy_order_created");
    assert_eq!(value["timestamp"], 1_711_900_000);
    assert_eq!(value["data"]["uid"], "po-abc123");
}

#[test]
fn fresh_and_fixed_timestamps() {
    let output = cli()
        .args(["example", "pharmacy_order_updated", "--fresh"])
        .output()
        .unwrap();
    let value: Value = serde_json::from_slice(&output.stdout).unwrap();
    let stamp = value["timestamp"].as_i64().unwrap();
    assert!((stamp - now()).abs() < 60, "{stamp}");
    let output = cli()
        .args([
            "example",
            "pharmacy_order_updated",
            "--timestamp",
            "1800000000",
        ])
        .output()
        .unwrap();
    let value: Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(value["timestamp"], 1_800_000_000);
}

#[test]
fn a_fresh_example_signs_and_verifies() {
    let body = cli()
        .args(["example", "pharmacy_sku_stock_updated", "--fresh"])
        .output()
        .unwrap()
        .stdout;
    let signature = python_hmac(SECRET, &body, "hex");
    cli_with_secret()
        .args(["verify", "--signature", &signature])
        .write_stdin(body)
        .assert()
        .code(0)
        .stdout(predicate::str::starts_with(
            r#"{"valid":true,"event_type":"pharmacy_sku_stock_updated""#,
        ));
}

#[test]
fn unknown_type_and_conflicts_exit_2() {
    cli()
        .args(["example", "prescription_signed"])
        .assert()
        .code(2)
        .stdout("")
        .stderr(
            predicate::str::contains("unknown event type")
                .and(predicate::str::contains("pharmacy_order_created")),
        );
    cli()
        .args(["example", "pharmacy_order_created", "--list"])
        .assert()
        .code(2);
    cli()
        .args(["example", "--fresh", "--timestamp", "1"])
        .assert()
        .code(2);
}

#[test]
fn help_and_version_exit_0() {
    cli()
        .arg("--help")
        .assert()
        .code(0)
        .stdout(predicate::str::contains("demo").and(predicate::str::contains("verify")));
    cli()
        .arg("--version")
        .assert()
        .code(0)
        .stdout(predicate::str::contains(env!("CARGO_PKG_VERSION")));
    cli().assert().code(2);
    cli().arg("no-such-command").assert().code(2);
}
