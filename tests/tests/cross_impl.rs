//! Signatures made by independent implementations (python3's `hmac`, node's `crypto`) must
//! verify here, and ours must equal theirs byte for byte. The core pins their answers as
//! known-answer vectors (crates/rxscale-webhooks/tests/data/independent_signers.rsp); this file
//! also re-derives every one of those with the live tools, so a wrong vector cannot stay.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::Write;
use std::process::{Command, Stdio};

use rxscale_webhooks::testing::{PHARMACY_ORDER_CREATED_V2, fixture};
use rxscale_webhooks::{EventType, OffsetDateTime, SigningSecret, Verifier, sign};

const SECRET: &str = "whsec_Cr0ss-Impl_ß_secret";

/// Runs `program args..` with `body` on stdin and the secret in the environment; returns the
/// trimmed stdout. Fails loudly when the tool is missing: these checks never skip.
fn external_sign(program: &str, args: &[&str], secret: &str, body: &[u8]) -> String {
    let mut child = Command::new(program)
        .args(args)
        .env("RXSCALE_SECRET", secret)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|err| {
            panic!("cannot run `{program}` ({err}); install it (tests/run.sh does: apt-get install -y python3 nodejs) — cross-implementation checks never skip")
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

fn python_sign(secret: &str, body: &[u8]) -> String {
    external_sign(
        "python3",
        &[
            "-c",
            "import hmac, hashlib, os, sys; \
             print(hmac.new(os.environ['RXSCALE_SECRET'].encode(), sys.stdin.buffer.read(), hashlib.sha256).hexdigest())",
        ],
        secret,
        body,
    )
}

fn node_sign(secret: &str, body: &[u8]) -> String {
    external_sign(
        "node",
        &[
            "-e",
            "const c=require('crypto');const chunks=[];process.stdin.on('data',d=>chunks.push(d));\
             process.stdin.on('end',()=>{console.log(c.createHmac('sha256',process.env.RXSCALE_SECRET)\
             .update(Buffer.concat(chunks)).digest('hex'))});",
        ],
        secret,
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
        let python = python_sign(SECRET, &body);
        let node = node_sign(SECRET, &body);
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

/// The core's pinned vectors: `(name, secret, body, python3, node)` of every block.
fn pinned_vectors() -> Vec<(String, String, Vec<u8>, String, String)> {
    let file = include_str!("../../crates/rxscale-webhooks/tests/data/independent_signers.rsp");
    let content: String = file
        .lines()
        .filter(|line| !line.starts_with('#'))
        .map(|line| format!("{line}\n"))
        .collect();
    content
        .split("\n\n")
        .filter(|block| !block.trim().is_empty())
        .map(|block| {
            let field = |key: &str| -> String {
                block
                    .lines()
                    .find_map(|line| line.strip_prefix(key)?.strip_prefix(" ="))
                    .unwrap_or_else(|| panic!("a vector without {key}: {block}"))
                    .trim()
                    .to_owned()
            };
            let secret = String::from_utf8(hex::decode(field("Key")).unwrap()).unwrap();
            let body = hex::decode(field("Msg")).unwrap();
            (field("Name"), secret, body, field("Python3"), field("Node"))
        })
        .collect()
}

/// Signs every `(secret, body)` in one run of python3 and one of node (a process per vector
/// costs seconds on a loaded machine); returns each tool's lines of hex.
fn batch_sign(vectors: &[(String, String, Vec<u8>, String, String)]) -> (Vec<String>, Vec<String>) {
    let input: String = vectors
        .iter()
        .map(|(_, secret, body, _, _)| format!("{} {}\n", hex::encode(secret), hex::encode(body)))
        .collect();
    let python = external_sign(
        "python3",
        &[
            "-c",
            "import hmac, hashlib, sys\n\
             for line in sys.stdin:\n\
             \x20   key, _, msg = line.strip('\\n').partition(' ')\n\
             \x20   print(hmac.new(bytes.fromhex(key), bytes.fromhex(msg), hashlib.sha256).hexdigest())",
        ],
        "",
        input.as_bytes(),
    );
    let node = external_sign(
        "node",
        &[
            "-e",
            "const c=require('crypto');const chunks=[];process.stdin.on('data',d=>chunks.push(d));\
             process.stdin.on('end',()=>{for(const line of Buffer.concat(chunks).toString().split('\\n')){\
             if(!line)continue;const [k,m='']=line.split(' ');\
             console.log(c.createHmac('sha256',Buffer.from(k,'hex')).update(Buffer.from(m,'hex')).digest('hex'))}});",
        ],
        "",
        input.as_bytes(),
    );
    let lines = |out: String| out.lines().map(str::to_owned).collect::<Vec<_>>();
    (lines(python), lines(node))
}

#[test]
fn the_core_s_pinned_vectors_are_what_python_and_node_compute() {
    let vectors = pinned_vectors();
    assert!(!vectors.is_empty());
    let (python, node) = batch_sign(&vectors);
    assert_eq!(
        python.len(),
        vectors.len(),
        "python3 signed {} of the vectors",
        python.len()
    );
    assert_eq!(
        node.len(),
        vectors.len(),
        "node signed {} of the vectors",
        node.len()
    );
    for (((name, _, _, pinned_python, pinned_node), python), node) in
        vectors.iter().zip(&python).zip(&node)
    {
        assert_eq!(
            python, pinned_python,
            "{name}: python3 no longer computes the pinned vector"
        );
        assert_eq!(
            node, pinned_node,
            "{name}: node no longer computes the pinned vector"
        );
    }
}
