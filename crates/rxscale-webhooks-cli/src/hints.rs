//! Why a delivery failed, in words a developer can act on.
//!
//! A failed signature is diagnosed by trying the usual mistakes one at a time (and then in
//! pairs): a `sha256=` prefix or base64 instead of hex on the signature, whitespace or a
//! missing or extra `whsec_` on the secret, a line break or a re-serialization on the body. Each
//! probe is a real HMAC comparison through the core's [`Verifier::authenticate`], so a hint
//! that says "it verifies when ..." is a fact, and no computed signature is ever shown.

use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, STANDARD_NO_PAD, URL_SAFE, URL_SAFE_NO_PAD};
use rxscale_webhooks::{Error, ErrorKind, SECRET_PREFIX, SigningSecret, Verifier};

use crate::reencode::{self, Style};

/// A hint for `error`, which verifying `body` with `signature` under `secret` produced.
pub(crate) fn explain(
    error: &Error,
    secret: &SigningSecret,
    body: &[u8],
    signature: &[u8],
) -> String {
    let detail = error.detail().unwrap_or_default();
    match error.kind() {
        ErrorKind::MissingSignature => {
            "the X-Webhook-Signature value is empty; pass the header's value exactly as received"
                .to_owned()
        }
        ErrorKind::MalformedSignature | ErrorKind::SignatureMismatch => {
            diagnose_signature(secret, body, signature)
        }
        ErrorKind::BodyTooLarge => format!(
            "{detail}: the body is rejected before it is hashed; raise the limit \
             (--max-body-bytes) if such bodies are genuine"
        ),
        ErrorKind::MalformedPayload => format!(
            "the signature is valid, but the body is not an RxScale envelope \
             (event_type, timestamp, data): {detail}"
        ),
        ErrorKind::Expired => format!(
            "the signature is valid, but {detail}; widen --max-age if deliveries this late are \
             genuine"
        ),
        ErrorKind::FromFuture => format!(
            "the signature is valid, but {detail}; check this machine's clock, or widen \
             --max-future-skew"
        ),
        ErrorKind::InvalidEventData => {
            format!("the signature is valid, but the event's data does not decode: {detail}")
        }
        _ => format!("{error}"),
    }
}

/// One way of changing an input, and the sentence that explains it when it makes the body verify.
struct Candidate<T> {
    value: T,
    changes: Vec<String>,
}

fn diagnose_signature(secret: &SigningSecret, body: &[u8], signature: &[u8]) -> String {
    let (signature, mut notes) = match normalize_signature(signature) {
        Ok(normalized) => normalized,
        Err(problem) => return problem,
    };
    let fingerprint = secret.fingerprint();

    let secrets = secret_candidates(secret);
    let bodies = body_candidates(body);
    // Fewest changes first, so that the simplest explanation wins.
    for changes in 0..=2 {
        for secret in &secrets {
            let Some(verifier) = probe_verifier(&secret.value) else {
                continue;
            };
            for body in &bodies {
                let count =
                    usize::from(!secret.changes.is_empty()) + usize::from(!body.changes.is_empty());
                if count != changes {
                    continue;
                }
                if verifier.authenticate(&body.value, [&signature]).is_ok() {
                    notes.extend(secret.changes.iter().cloned());
                    notes.extend(body.changes.iter().cloned());
                    if changes == 0 {
                        notes.push("with that fixed, it verifies".to_owned());
                    }
                    return notes.join("; ");
                }
            }
        }
    }

    if !notes.is_empty() {
        notes.push("even so, it does not match".to_owned());
    }
    let value = secret.expose_secret();
    if value.trim() != value {
        notes.push(
            "the secret has surrounding whitespace, which is rarely intended (removing it did \
             not help either)"
                .to_owned(),
        );
    }
    if !value.trim().starts_with(SECRET_PREFIX) {
        notes.push(format!(
            "the secret does not start with {SECRET_PREFIX}, as RxScale's secrets do"
        ));
    }
    notes.push(format!(
        "no common mistake explains the mismatch: check that the secret ({fingerprint}) is the \
         one of the subscription that sent this delivery, and that the body is the raw request \
         bytes, exactly as received"
    ));
    notes.join("; ")
}

/// Takes off the wrappings people put around a signature. `Ok` carries 64 hex digits and the
/// notes on what was taken off; `Err` a hint when no signature can be found in the value.
fn normalize_signature(signature: &[u8]) -> Result<(String, Vec<String>), String> {
    let mut notes = Vec::new();
    let text = String::from_utf8_lossy(signature);
    let mut value = text.trim();
    if value.len() >= 2 && value.starts_with('"') && value.ends_with('"') {
        notes.push("the signature is wrapped in quotes".to_owned());
        value = value[1..value.len() - 1].trim();
    }
    for prefix in ["sha256=", "sha256:", "v1="] {
        if value.len() > prefix.len() && value[..prefix.len()].eq_ignore_ascii_case(prefix) {
            notes.push(format!(
                "the signature carries a `{}` prefix; RxScale sends the bare hex digest",
                &value[..prefix.len()]
            ));
            value = &value[prefix.len()..];
            break;
        }
    }
    if is_hex_tag(value) {
        return Ok((value.to_owned(), notes));
    }
    for engine in [&STANDARD, &STANDARD_NO_PAD, &URL_SAFE, &URL_SAFE_NO_PAD] {
        if let Ok(bytes) = engine.decode(value)
            && bytes.len() == 32
        {
            notes.push("the signature is base64; RxScale sends 64 lowercase hex digits".to_owned());
            return Ok((to_hex(&bytes), notes));
        }
    }
    notes.push(format!(
        "X-Webhook-Signature must be 64 hex digits (an HMAC-SHA256), but this value has {} \
         characters",
        value.chars().count()
    ));
    Err(notes.join("; "))
}

fn is_hex_tag(value: &str) -> bool {
    value.len() == 64 && value.bytes().all(|b| b.is_ascii_hexdigit())
}

fn to_hex(bytes: &[u8]) -> String {
    bytes.iter().map(|byte| format!("{byte:02x}")).collect()
}

fn secret_candidates(secret: &SigningSecret) -> Vec<Candidate<SigningSecret>> {
    let value = secret.expose_secret();
    let trimmed = value.trim();
    let mut base_changes = Vec::new();
    let mut candidates = vec![Candidate {
        value: secret.clone(),
        changes: Vec::new(),
    }];
    if trimmed != value && !trimmed.is_empty() {
        base_changes.push(
            "the secret has surrounding whitespace: it verifies with the whitespace removed"
                .to_owned(),
        );
        candidates.push(Candidate {
            value: SigningSecret::new(trimmed),
            changes: base_changes.clone(),
        });
    }
    let mut changes = base_changes;
    if let Some(stripped) = trimmed.strip_prefix(SECRET_PREFIX) {
        if !stripped.is_empty() {
            changes.push(format!(
                "it verifies only with the {SECRET_PREFIX} prefix stripped from the secret: the \
                 sender keyed the HMAC without the prefix, but RxScale keys it with the whole \
                 secret, prefix included"
            ));
            candidates.push(Candidate {
                value: SigningSecret::new(stripped),
                changes,
            });
        }
    } else if !trimmed.is_empty() {
        changes.push(format!(
            "the secret lacks the {SECRET_PREFIX} prefix: it verifies with {SECRET_PREFIX} \
             added, since RxScale keys the HMAC with the whole secret as it was returned"
        ));
        candidates.push(Candidate {
            value: SigningSecret::new(format!("{SECRET_PREFIX}{trimmed}")),
            changes,
        });
    }
    candidates
}

fn body_candidates(body: &[u8]) -> Vec<Candidate<Vec<u8>>> {
    let mut candidates = vec![Candidate {
        value: body.to_vec(),
        changes: Vec::new(),
    }];
    let trimmed = body.trim_ascii_end();
    if body.ends_with(b"\n") {
        candidates.push(Candidate {
            value: trimmed.to_vec(),
            changes: vec![
                "the body ends with a line break that was not signed (an editor, `echo` or a \
                 heredoc adds one): it verifies without it"
                    .to_owned(),
            ],
        });
    } else {
        let mut with_newline = body.to_vec();
        with_newline.push(b'\n');
        candidates.push(Candidate {
            value: with_newline,
            changes: vec![
                "the signed body ended with a line break that this copy lacks: it verifies with \
                 one added"
                    .to_owned(),
            ],
        });
    }
    for style in Style::ALL {
        let Some(encoded) = reencode::reencode(body, style) else {
            // Not JSON at all: no re-serialization to try.
            break;
        };
        for newline in [false, true] {
            let mut value = encoded.clone();
            if newline {
                value.push(b'\n');
            }
            if value != body {
                candidates.push(Candidate {
                    value,
                    changes: vec![format!(
                        "the body looks re-serialized: the signature matches the same JSON laid \
                         out differently ({}{}), so these are not the raw request bytes; verify \
                         the body exactly as received, before any JSON parsing",
                        style.describe(),
                        if newline { ", plus a line break" } else { "" }
                    )],
                });
            }
        }
    }
    candidates
}

/// A verifier that checks nothing but the HMAC, for probing.
fn probe_verifier(secret: &SigningSecret) -> Option<Verifier> {
    Verifier::builder()
        .secret(secret.clone())
        .max_body_bytes(usize::MAX)
        .build()
        .ok()
}

#[cfg(test)]
mod tests {
    use rxscale_webhooks::sign;

    use super::*;
    use crate::reencode::Layout;

    const SECRET: &str = "whsec_abc123";
    const BODY: &[u8] = r#"{"event_type":"pharmacy_sku_stock_updated","timestamp":1711900000,"payload_version":"1","data":{"uid":"psku-abc123","name":"Grüße"}}"#.as_bytes();

    fn hint(secret: &str, body: &[u8], signature: &str) -> String {
        let secret = SigningSecret::new(secret);
        let verifier = Verifier::builder().secret(secret.clone()).build().unwrap();
        let error = verifier.authenticate(body, [signature]).unwrap_err();
        explain(&error, &secret, body, signature.as_bytes())
    }

    fn signed(secret: &str, body: &[u8]) -> String {
        sign(&SigningSecret::new(secret), body)
    }

    #[test]
    fn trailing_newline() {
        let mut with_newline = BODY.to_vec();
        with_newline.push(b'\n');
        let text = hint(SECRET, &with_newline, &signed(SECRET, BODY));
        assert!(text.contains("line break that was not signed"), "{text}");
        let text = hint(SECRET, BODY, &signed(SECRET, &with_newline));
        assert!(text.contains("line break that this copy lacks"), "{text}");
    }

    #[test]
    fn re_serialized_in_every_style() {
        for style in Style::ALL {
            let signed_body = reencode::reencode(BODY, style).unwrap();
            let pretty = reencode::reencode(BODY, Style::of(Layout::Indent2, false)).unwrap();
            let given = if signed_body == pretty {
                BODY
            } else {
                &pretty[..]
            };
            let text = hint(SECRET, given, &signed(SECRET, &signed_body));
            assert!(text.contains("re-serialized"), "{style:?}: {text}");
            assert!(text.contains(style.describe()), "{style:?}: {text}");
        }
    }

    #[test]
    fn secret_mistakes() {
        let text = hint(" whsec_abc123\n", BODY, &signed(SECRET, BODY));
        assert!(text.contains("surrounding whitespace"), "{text}");
        let text = hint("abc123", BODY, &signed(SECRET, BODY));
        assert!(text.contains("lacks the whsec_ prefix"), "{text}");
        let text = hint(SECRET, BODY, &signed("abc123", BODY));
        assert!(text.contains("prefix stripped"), "{text}");
        let text = hint(" abc123 ", BODY, &signed(SECRET, BODY));
        assert!(text.contains("surrounding whitespace"), "{text}");
        assert!(text.contains("lacks the whsec_ prefix"), "{text}");
    }

    #[test]
    fn signature_wrappings() {
        let good = signed(SECRET, BODY);
        let text = hint(SECRET, BODY, &format!("sha256={good}"));
        assert!(text.contains("`sha256=` prefix"), "{text}");
        assert!(text.contains("it verifies"), "{text}");
        let bytes: Vec<u8> = (0..32)
            .map(|i| u8::from_str_radix(&good[2 * i..2 * i + 2], 16).unwrap())
            .collect();
        let text = hint(SECRET, BODY, &STANDARD.encode(&bytes));
        assert!(text.contains("base64"), "{text}");
        assert!(text.contains("it verifies"), "{text}");
        let text = hint(SECRET, BODY, "abc");
        assert!(text.contains("64 hex digits"), "{text}");
    }

    #[test]
    fn unexplained_mismatch_names_the_fingerprint_never_the_signature() {
        let other = signed("whsec_other", BODY);
        let text = hint(SECRET, BODY, &other);
        assert!(text.contains("no common mistake"), "{text}");
        assert!(text.contains("fp_"), "{text}");
        let expected = signed(SECRET, BODY);
        assert!(!text.contains(&expected), "{text}");
        assert!(!text.contains(SECRET), "{text}");
    }
}
