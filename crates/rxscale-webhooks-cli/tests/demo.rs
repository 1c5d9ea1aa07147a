//! `demo`: runs end to end, prints its table, and exits 0 only when every outcome is right.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::cli;

#[test]
fn demo_passes_and_prints_its_table() {
    let output = cli().arg("demo").output().unwrap();
    let stdout = String::from_utf8(output.stdout).unwrap();
    assert_eq!(output.status.code(), Some(0), "{stdout}");

    let header = stdout
        .lines()
        .find(|line| line.starts_with("scenario"))
        .unwrap_or_else(|| panic!("no table header: {stdout}"));
    for column in ["HTTP", "handler", "expected", "result"] {
        assert!(header.contains(column), "{header}");
    }
    let row = |scenario: &str| -> Vec<String> {
        let line = stdout
            .lines()
            .find(|line| line.starts_with(scenario))
            .unwrap_or_else(|| panic!("no row {scenario}: {stdout}"));
        line.split("  ")
            .map(str::trim)
            .filter(|cell| !cell.is_empty())
            .map(str::to_owned)
            .collect()
    };
    let cases = [
        ("pharmacy_order_created", "200", "ran"),
        ("pharmacy_order_updated", "200", "ran"),
        ("pharmacy_sku_stock_updated", "200", "ran"),
        ("patient_doctor_meeting_updated", "200", "ran"),
        ("appointment_reminder_due", "200", "ran"),
        ("unknown event type", "200", "ran"),
        ("tampered body", "401 signature_mismatch", "not run"),
        ("wrong secret", "401 signature_mismatch", "not run"),
        (
            "missing signature header",
            "401 missing_signature",
            "not run",
        ),
        ("stale event", "400 expired", "not run"),
        ("replay of the first delivery", "200 duplicate", "not run"),
        ("oversized body", "413 body_too_large", "not run"),
    ];
    for (scenario, status, handler) in cases {
        let cells = row(scenario);
        assert_eq!(cells.len(), 5, "{cells:?}");
        assert_eq!(cells[1], status, "{scenario}: {cells:?}");
        assert_eq!(cells[2], handler, "{scenario}: {cells:?}");
        assert_eq!(cells[4], "OK", "{scenario}: {cells:?}");
    }
    assert!(!stdout.contains("FAIL"), "{stdout}");
    assert!(stdout.contains("12/12 outcomes as expected"), "{stdout}");
    // A fresh secret each run, shown by fingerprint only.
    assert!(stdout.contains("freshly generated (fp_"), "{stdout}");
    assert!(!stdout.contains("whsec_"), "{stdout}");
}

#[test]
fn every_run_has_its_own_secret() {
    let fingerprint = || {
        let stdout = String::from_utf8(cli().arg("demo").output().unwrap().stdout).unwrap();
        let start = stdout.find("(fp_").unwrap() + 1;
        stdout[start..start + 15].to_owned()
    };
    assert_ne!(fingerprint(), fingerprint());
}
