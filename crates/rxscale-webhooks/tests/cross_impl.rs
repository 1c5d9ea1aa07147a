//! Signatures made by independent implementations (python3's `hmac`, node's `crypto`) must
//! verify here, and ours must equal theirs byte for byte.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::Write;
use std::process::{Command, Stdio};

use rxscale_webhooks::testing::{PHARMACY_ORDER_CREATED_V2, fixture};
use rxscale_webhooks::{EventType, OffsetDateTime, SigningSecret, Verifier, sign};

const SECRET: &str = "whsec_Cr0ss-Impl_ß_secret";

/// Runs `program args..` with `body` on stdin and the secret in the environment; returns the
/// trimmed stdout. Fails loudly when the tool is missing: these checks never skip.
fn external_sign(program: &str, args: &[&str], body: &[u8]) -> String {
    let mut child = Command::new(program)
        .args(args)
        .env("RXSCALE_SECRET", SECRET)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|err| {
            panic!("cannot run `{program}` ({err}); install it (apt-get install -y python3 nodejs) — cross-implementation checks never skip")
        });
    child.stdin.take().unwrap().write_all(body).unwrap();
    let output = child.wait_with_output().unwrap();
    assert!(
        output.status.success(),
        "{program} failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout).unwrap().trim().to_owned()
}

fn python_sign(body: &[u8]) -> String {
    external_sign(
        "python3",
        &[
            "-c",
            "import hmac, hashlib, os, sys; \
             print(hmac.new(os.environ['RXSCALE_SECRET'].encode(), sys.stdin.buffer.read(), hashlib.sha256).hexdigest())",
        ],
        body,
    )
}

fn node_sign(body: &[u8]) -> String {
    external_sign(
        "node",
        &[
            "-e",
            "const c=require('crypto');const chunks=[];process.stdin.on('data',d=>chunks.push(d));\
             process.stdin.on('end',()=>{console.log(c.createHmac('sha256',process.env.RXSCALE_SECRET)\
             .update(Buffer.concat(chunks)).digest('hex'))});",
        ],
        body,
    )
}

fn bodies() -> Vec<Vec<u8>> {
    let mut bodies: Vec<Vec<u8>> = EventType::ALL
        .iter()
        .map(|&t| fixture(t).as_bytes().to_vec())
        .collect();
    bodies.push(PHARMACY_ORDER_CREATED_V2.as_bytes().to_vec());
    bodies.push(
        "{\"event_type\":\"prescription_updated\",\"timestamp\":1711903600,\"payload_version\":\"1\",\"data\":{\"uid\":\"px-ü\",\"name\":\"Straße 💊 東京 — naïve\"}}"
            .as_bytes()
            .to_vec(),
    );
    bodies.push(Vec::new());
    bodies.push((0..=255u8).cycle().take(5000).collect());
    bodies
}

#[test]
fn python_and_node_agree_with_us_and_verify() {
    let secret = SigningSecret::new(SECRET);
    let verifier = Verifier::builder()
        .secret(secret.clone())
        .no_max_age()
        .no_max_future_skew()
        .build()
        .unwrap();
    let now = OffsetDateTime::now_utc();
    for body in bodies() {
        let ours = sign(&secret, &body);
        let python = python_sign(&body);
        let node = node_sign(&body);
        assert_eq!(
            ours,
            python,
            "python3 disagrees on a {}-byte body",
            body.len()
        );
        assert_eq!(ours, node, "node disagrees on a {}-byte body", body.len());
        // Authentication must pass with their signature; later checks depend on the body.
        assert!(verifier.authenticate(&body, [&python]).is_ok());
        assert!(verifier.authenticate(&body, [&node]).is_ok());
        if serde_json::from_slice::<serde_json::Value>(&body).is_ok_and(|v| v.get("data").is_some())
        {
            verifier.verify_at(&body, &python, now).unwrap();
        }
    }
}
