//! Known-answer vectors from independent signers (python3's `hmac`, node's `crypto`), pinned in
//! `tests/data/independent_signers.rsp`, the way RustCrypto's crates test against published
//! vectors: our signature must equal theirs byte for byte, and theirs must verify. The live
//! cross-check that re-derives every vector with python3 and node is `tests/tests/cross_impl.rs`
//! in the workspace's integration package, where those tools are provisioned.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use rxscale_webhooks::{OffsetDateTime, SigningSecret, Verifier, sign};

const VECTORS: &str = include_str!("data/independent_signers.rsp");

/// One vector of the file: a name, the secret, the body, and each signer's hex HMAC.
struct Vector {
    name: String,
    secret: String,
    body: Vec<u8>,
    python3: String,
    node: String,
}

fn vectors() -> Vec<Vector> {
    let mut vectors = Vec::new();
    let content: String = VECTORS
        .lines()
        .filter(|line| !line.starts_with('#'))
        .map(|line| format!("{line}\n"))
        .collect();
    for block in content
        .split("\n\n")
        .filter(|block| !block.trim().is_empty())
    {
        let field = |key: &str| -> String {
            block
                .lines()
                .find_map(|line| line.strip_prefix(key)?.strip_prefix(" ="))
                .unwrap_or_else(|| panic!("a vector without {key}: {block}"))
                .trim()
                .to_owned()
        };
        let name = field("Name");
        let secret = base16ct::lower::decode_vec(field("Key")).expect("Key is hex");
        vectors.push(Vector {
            secret: String::from_utf8(secret).expect("secrets are UTF-8"),
            body: base16ct::lower::decode_vec(field("Msg")).expect("Msg is hex"),
            python3: field("Python3"),
            node: field("Node"),
            name,
        });
    }
    vectors
}

#[test]
fn the_file_holds_every_vector() {
    let vectors = vectors();
    assert_eq!(vectors.len(), 22);
    assert!(vectors.iter().any(|v| v.body.is_empty()));
    assert!(vectors.iter().any(|v| v.secret.len() > 64));
}

#[test]
fn ours_equals_python3_and_node_on_every_vector() {
    for vector in vectors() {
        assert_eq!(
            vector.python3, vector.node,
            "{}: the pinned signers disagree",
            vector.name
        );
        assert_eq!(
            sign(&SigningSecret::new(vector.secret.as_str()), &vector.body),
            vector.python3,
            "{}: ours differs from python3 and node",
            vector.name
        );
    }
}

#[test]
fn their_signatures_verify() {
    let now = OffsetDateTime::now_utc();
    for vector in vectors() {
        let verifier = Verifier::builder()
            .secret(SigningSecret::new(vector.secret.as_str()))
            .no_max_age()
            .no_max_future_skew()
            .build()
            .unwrap();
        // Authentication must pass with their signature; later checks depend on the body.
        assert!(
            verifier
                .authenticate(&vector.body, [&vector.python3])
                .is_ok(),
            "{}: python3's signature does not authenticate",
            vector.name
        );
        assert!(
            verifier.authenticate(&vector.body, [&vector.node]).is_ok(),
            "{}: node's signature does not authenticate",
            vector.name
        );
        let is_envelope = serde_json::from_slice::<serde_json::Value>(&vector.body)
            .is_ok_and(|value| value.get("data").is_some());
        if is_envelope {
            verifier
                .verify_at(&vector.body, &vector.python3, now)
                .unwrap_or_else(|err| panic!("{}: {err}", vector.name));
        }
    }
}
