//! `sign` and `verify`: signatures cross-checked with python3's hmac, and every hint.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::{
    SECRET, SECRET_ENV, Scratch, cli, cli_with_secret, example, now, python_hmac, python_json,
};
use predicates::prelude::*;
use serde_json::Value;

fn sign(secret: &str, body: &[u8]) -> String {
    let output = cli()
        .arg("sign")
        .env(SECRET_ENV, secret)
        .write_stdin(body.to_vec())
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(0));
    String::from_utf8(output.stdout).unwrap()
}

#[test]
fn sign_agrees_with_python_hmac() {
    let bodies: Vec<Vec<u8>> = vec![
        Vec::new(),
        b"{}".to_vec(),
        b"{}\n".to_vec(),
        example("pharmacy_order_created", &[]),
        "{\"name\":\"Grüße, 東京 😀\"}".as_bytes().to_vec(),
        (0..=255u8).collect(),
    ];
    for secret in [SECRET, "whsec_abc123", " whsec_padded ", "no-prefix"] {
        for body in &bodies {
            let printed = sign(secret, body);
            let expected = python_hmac(secret, body, "hex");
            assert_eq!(printed, format!("{expected}\n"), "secret {secret:?}");
        }
    }
}

#[test]
fn sign_matches_the_spec_test_vectors() {
    let body = br#"{"event_type":"pharmacy_sku_stock_updated","timestamp":1711900000,"payload_version":"1","data":{"uid":"psku-abc123"}}"#;
    assert_eq!(
        sign("whsec_abc123", body),
        "44a55a64bef286d9796db06b8cb94e0a03d04fcefaee608d090ef50a1c7e5c0c\n"
    );
    assert_eq!(
        sign("abc123", body),
        "7453f68561d4dd8eb37ad130ff47a2da4840b56badb1e3858ee3e6822e6f4ec9\n"
    );
    assert_eq!(
        sign("whsec_abc123", b"{}"),
        "b8e41d05e1ec86afe86ae177dccfb021afc2e6633a3c8dcee569538f5f2b8270\n"
    );
}

#[test]
fn sign_reads_a_file_a_dash_and_a_secret_file() {
    let scratch = Scratch::new();
    let body = example("pharmacy_sku_stock_updated", &[]);
    let path = scratch.file("body.json", &body);
    let secret_file = scratch.file("secret", format!("{SECRET}\n"));
    let expected = format!("{}\n", python_hmac(SECRET, &body, "hex"));
    cli_with_secret()
        .arg("sign")
        .arg(&path)
        .assert()
        .code(0)
        .stdout(expected.clone());
    cli_with_secret()
        .args(["sign", "-"])
        .write_stdin(body.clone())
        .assert()
        .code(0)
        .stdout(expected.clone());
    cli()
        .arg("sign")
        .arg("--secret-file")
        .arg(&secret_file)
        .arg(&path)
        .assert()
        .code(0)
        .stdout(expected.clone());
    cli()
        .args(["sign", "--secret-env", "MY_HOOK_SECRET"])
        .env("MY_HOOK_SECRET", SECRET)
        .arg(&path)
        .assert()
        .code(0)
        .stdout(expected);
}

#[test]
fn missing_secrets_and_inputs_exit_2_naming_what_is_missing() {
    let scratch = Scratch::new();
    let body = scratch.file("body.json", "{}");
    cli()
        .arg("sign")
        .arg(&body)
        .assert()
        .code(2)
        .stdout("")
        .stderr(
            predicate::str::contains("RXSCALE_WEBHOOK_SECRET")
                .and(predicate::str::contains("--secret-file")),
        );
    cli()
        .args(["sign", "--secret-env", "SOME_OTHER_VARIABLE"])
        .arg(&body)
        .assert()
        .code(2)
        .stderr(predicate::str::contains("SOME_OTHER_VARIABLE"));
    let absent = scratch.path().join("no-such-secret");
    cli()
        .arg("sign")
        .arg("--secret-file")
        .arg(&absent)
        .arg(&body)
        .assert()
        .code(2)
        .stderr(predicate::str::contains("no-such-secret"));
    cli()
        .arg("sign")
        .env(SECRET_ENV, "")
        .arg(&body)
        .assert()
        .code(2)
        .stderr(predicate::str::contains("empty"));
    cli_with_secret()
        .arg("sign")
        .arg(scratch.path().join("no-such-body.json"))
        .assert()
        .code(2)
        .stderr(predicate::str::contains("no-such-body.json"));
    // Both sources at once is a usage error, as is a secret given as a value.
    cli_with_secret()
        .args(["sign", "--secret-env", "X", "--secret-file", "y"])
        .arg(&body)
        .assert()
        .code(2);
    cli_with_secret()
        .args(["sign", "--secret", SECRET])
        .arg(&body)
        .assert()
        .code(2);
}

fn verify(secret: &str, body: &[u8], signature: &str, extra: &[&str]) -> (i32, Value) {
    let output = cli()
        .env(SECRET_ENV, secret)
        .args(["verify", "--signature", signature])
        .args(extra)
        .write_stdin(body.to_vec())
        .output()
        .unwrap();
    let stdout = String::from_utf8(output.stdout).unwrap();
    assert_eq!(stdout.lines().count(), 1, "one JSON line: {stdout}");
    // Neither the secret nor the signature that would be right may ever be printed.
    let right = python_hmac(secret.trim(), body, "hex");
    assert!(!stdout.contains(&right), "{stdout}");
    assert!(!stdout.contains(secret.trim()), "{stdout}");
    (
        output.status.code().unwrap(),
        serde_json::from_str(&stdout).unwrap(),
    )
}

fn fresh(event_type: &str) -> Vec<u8> {
    example(event_type, &["--fresh"])
}

#[test]
fn verify_valid_prints_the_event_and_exits_0() {
    let body = example("pharmacy_order_created", &[]);
    let signature = python_hmac(SECRET, &body, "hex");
    let output = cli_with_secret()
        .args(["verify", "--signature", &signature, "--now", "1711900100"])
        .write_stdin(body)
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(0));
    assert_eq!(
        String::from_utf8(output.stdout).unwrap(),
        "{\"valid\":true,\"event_type\":\"pharmacy_order_created\",\"timestamp\":1711900000,\"dedup_key\":\"pharmacy_order_created:1711900000:po-abc123\"}\n"
    );

    // Uppercase hex and the current clock, with a freshly dated body from a file.
    let scratch = Scratch::new();
    let body = fresh("patient_doctor_meeting_updated");
    let path = scratch.file("meeting.json", &body);
    let signature = python_hmac(SECRET, &body, "hex").to_uppercase();
    cli_with_secret()
        .args(["verify", "--signature", &signature])
        .arg(&path)
        .assert()
        .code(0)
        .stdout(
            predicate::str::contains("\"valid\":true")
                .and(predicate::str::contains(":mtg-abc123\"")),
        );
}

#[test]
fn hint_trailing_newline() {
    let body = fresh("pharmacy_sku_stock_updated");
    let trimmed = body.trim_ascii_end();
    // Signed without the newline that the saved copy has.
    let (code, report) = verify(SECRET, &body, &python_hmac(SECRET, trimmed, "hex"), &[]);
    assert_eq!(code, 1);
    assert_eq!(report["valid"], false);
    assert_eq!(report["error"], "signature_mismatch");
    assert!(
        report["hint"]
            .as_str()
            .unwrap()
            .contains("line break that was not signed"),
        "{report}"
    );
    // Signed with a newline that the copy lost.
    let (code, report) = verify(SECRET, trimmed, &python_hmac(SECRET, &body, "hex"), &[]);
    assert_eq!(code, 1);
    assert!(
        report["hint"]
            .as_str()
            .unwrap()
            .contains("line break that this copy lacks"),
        "{report}"
    );
}

#[test]
fn hint_re_serialized_body() {
    let body = fresh("pharmacy_order_created");
    // RxScale signed compact bytes; the developer looks at a pretty-printed copy.
    let compact = python_json(&body, ", separators=(',', ':')");
    let (code, report) = verify(SECRET, &body, &python_hmac(SECRET, &compact, "hex"), &[]);
    assert_eq!(code, 1);
    let hint = report["hint"].as_str().unwrap();
    assert!(
        hint.contains("re-serialized") && hint.contains("compact, as JSON.stringify"),
        "{hint}"
    );
    // A copy that went through Python's json.dumps with its default separators.
    let python_default = python_json(&compact, "");
    let (_, report) = verify(
        SECRET,
        &python_default,
        &python_hmac(SECRET, &compact, "hex"),
        &[],
    );
    assert!(
        report["hint"].as_str().unwrap().contains("re-serialized"),
        "{report}"
    );
    // And the other way round: signed pretty, seen compact.
    let (_, report) = verify(SECRET, &compact, &python_hmac(SECRET, &body, "hex"), &[]);
    let hint = report["hint"].as_str().unwrap();
    assert!(
        hint.contains("re-serialized") && hint.contains("2-space indent"),
        "{hint}"
    );
}

#[test]
fn hint_secret_whitespace_and_prefix() {
    let body = fresh("pharmacy_order_updated");
    let right = python_hmac(SECRET, &body, "hex");
    let (code, report) = verify(&format!(" {SECRET}\t"), &body, &right, &[]);
    assert_eq!(code, 1);
    assert!(
        report["hint"]
            .as_str()
            .unwrap()
            .contains("surrounding whitespace"),
        "{report}"
    );

    let bare = SECRET.strip_prefix("whsec_").unwrap();
    let (_, report) = verify(bare, &body, &right, &[]);
    assert!(
        report["hint"]
            .as_str()
            .unwrap()
            .contains("lacks the whsec_ prefix"),
        "{report}"
    );

    // The sender keyed its HMAC without the prefix.
    let (_, report) = verify(SECRET, &body, &python_hmac(bare, &body, "hex"), &[]);
    assert!(
        report["hint"].as_str().unwrap().contains("prefix stripped"),
        "{report}"
    );

    // A secret file keeps inner whitespace: the hint says so.
    let scratch = Scratch::new();
    let secret_file = scratch.file("secret", format!("{SECRET}  \n"));
    let output = cli()
        .args(["verify", "--signature", &right, "--secret-file"])
        .arg(&secret_file)
        .write_stdin(body)
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&output.stdout).contains("surrounding whitespace"));
}

#[test]
fn hint_signature_prefix_and_base64() {
    let body = fresh("appointment_reminder_due");
    let right = python_hmac(SECRET, &body, "hex");
    let (code, report) = verify(SECRET, &body, &format!("sha256={right}"), &[]);
    assert_eq!(code, 1);
    assert_eq!(report["error"], "malformed_signature");
    let hint = report["hint"].as_str().unwrap();
    assert!(
        hint.contains("`sha256=` prefix") && hint.contains("it verifies"),
        "{hint}"
    );

    let base64 = python_hmac(SECRET, &body, "base64");
    let (code, report) = verify(SECRET, &body, &base64, &[]);
    assert_eq!(code, 1);
    let hint = report["hint"].as_str().unwrap();
    assert!(
        hint.contains("base64") && hint.contains("it verifies"),
        "{hint}"
    );

    let (_, report) = verify(SECRET, &body, "not-a-signature", &[]);
    assert!(
        report["hint"].as_str().unwrap().contains("64 hex digits"),
        "{report}"
    );
    let (_, report) = verify(SECRET, &body, "", &[]);
    assert_eq!(report["error"], "missing_signature");
}

#[test]
fn unexplained_mismatch_says_so() {
    let body = fresh("pharmacy_order_created");
    let (code, report) = verify(
        SECRET,
        &body,
        &python_hmac("whsec_someone_else", &body, "hex"),
        &[],
    );
    assert_eq!(code, 1);
    assert_eq!(report["error"], "signature_mismatch");
    let hint = report["hint"].as_str().unwrap();
    assert!(
        hint.contains("no common mistake") && hint.contains("fp_"),
        "{hint}"
    );
}

#[test]
fn verify_time_size_and_payload_failures() {
    let old = example("pharmacy_order_created", &[]);
    let signature = python_hmac(SECRET, &old, "hex");
    let (code, report) = verify(SECRET, &old, &signature, &[]);
    assert_eq!((code, report["error"].as_str()), (1, Some("expired")));
    assert!(
        report["hint"].as_str().unwrap().contains("--now"),
        "{report}"
    );
    let (code, _) = verify(
        SECRET,
        &old,
        &signature,
        &["--max-age", &(now() as u64).to_string()],
    );
    assert_eq!(code, 0);

    let (code, report) = verify(SECRET, &old, &signature, &["--now", "1711000000"]);
    assert_eq!((code, report["error"].as_str()), (1, Some("from_future")));
    let (code, _) = verify(
        SECRET,
        &old,
        &signature,
        &["--now", "1711000000", "--max-future-skew", "1000000"],
    );
    assert_eq!(code, 0);

    let (code, report) = verify(
        SECRET,
        &old,
        &signature,
        &["--now", "1711900000", "--max-body-bytes", "100"],
    );
    assert_eq!(
        (code, report["error"].as_str()),
        (1, Some("body_too_large"))
    );

    let not_json = b"hello";
    let (code, report) = verify(SECRET, not_json, &python_hmac(SECRET, not_json, "hex"), &[]);
    assert_eq!(
        (code, report["error"].as_str()),
        (1, Some("malformed_payload"))
    );

    let bad_data = format!(
        r#"{{"event_type":"pharmacy_order_created","timestamp":{},"payload_version":"1","data":{{"uid":"po-1"}}}}"#,
        now()
    );
    let (code, report) = verify(
        SECRET,
        bad_data.as_bytes(),
        &python_hmac(SECRET, bad_data.as_bytes(), "hex"),
        &[],
    );
    assert_eq!(
        (code, report["error"].as_str()),
        (1, Some("invalid_event_data"))
    );
    assert!(
        report["hint"].as_str().unwrap().contains("data"),
        "{report}"
    );
}

#[test]
fn verify_usage_errors_exit_2() {
    cli_with_secret()
        .args(["verify"])
        .write_stdin("{}")
        .assert()
        .code(2);
    cli_with_secret()
        .args(["verify", "--signature", "00", "--now", "99999999999999999"])
        .write_stdin("{}")
        .assert()
        .code(2)
        .stderr(predicate::str::contains("--now"));
    cli_with_secret()
        .args(["verify", "--signature", "00", "--max-body-bytes", "0"])
        .write_stdin("{}")
        .assert()
        .code(2)
        .stderr(predicate::str::contains("max_body_bytes"));
    cli()
        .args(["verify", "--signature", "00"])
        .write_stdin("{}")
        .assert()
        .code(2)
        .stderr(predicate::str::contains(SECRET_ENV));
}

/// The issue's reproduction: a correctly signed order whose `data.patient_data.uid` is a phone
/// number, and one whose `email` is an array. The hint names the path and the type, never the
/// value, and nothing else the CLI prints does either.
#[test]
fn verify_hints_quote_no_value_of_the_body() {
    let base: Value = serde_json::from_slice(&fresh("pharmacy_order_created")).unwrap();
    let cases = [
        (
            "uid",
            serde_json::json!(4_915_112_345_678_i64),
            "4915112345678",
            "data.patient_data.uid: invalid type: integer, expected a string",
        ),
        (
            "email",
            serde_json::json!(["jane.doe.4711@example.com"]),
            "jane.doe.4711",
            "data.patient_data.email: invalid type: sequence, expected a string",
        ),
    ];
    for (field, value, marker, expected) in cases {
        let mut body = base.clone();
        body["data"]["patient_data"][field] = value;
        let body = serde_json::to_vec(&body).unwrap();
        let signature = python_hmac(SECRET, &body, "hex");
        let output = cli()
            .env(SECRET_ENV, SECRET)
            .args(["verify", "--signature", &signature])
            .write_stdin(body.clone())
            .output()
            .unwrap();
        let printed = format!(
            "{}{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
        assert_eq!(output.status.code(), Some(1), "{printed}");
        assert!(printed.contains(expected), "{printed}");
        assert!(!printed.contains(marker), "{printed}");
    }
}
