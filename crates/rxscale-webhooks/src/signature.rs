use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;
use subtle::ConstantTimeEq;

use crate::error::{Error, ErrorKind};
use crate::secret::{Fingerprint, SigningSecret};

/// The header RxScale puts the signature in.
pub const SIGNATURE_HEADER: &str = "x-webhook-signature";
/// The header RxScale puts the event type in. It is not signed: a routing hint only.
pub const EVENT_HEADER: &str = "x-webhook-event";

pub(crate) type HmacSha256 = Hmac<Sha256>;
pub(crate) type Tag = [u8; 32];

/// Parses an `X-Webhook-Signature` value: surrounding whitespace is trimmed, then exactly
/// 64 hex digits of either case are required.
pub(crate) fn parse_signature(header: &[u8]) -> Result<Tag, Error> {
    let trimmed = header.trim_ascii();
    if trimmed.is_empty() {
        return Err(Error::new(ErrorKind::MissingSignature));
    }
    let mut tag = [0u8; 32];
    // base16ct decodes without branching on the digits, so decoding time says nothing about
    // which digits a guess holds (the constant_time example measures the whole check).
    let decoded_len = base16ct::mixed::decode(trimmed, &mut tag).map(<[u8]>::len);
    match decoded_len {
        Ok(32) => Ok(tag),
        _ => Err(Error::with_detail(
            ErrorKind::MalformedSignature,
            format!("expected 64 hex digits, got {} bytes", trimmed.len()),
        )),
    }
}

/// A secret turned into a ready HMAC state, so each verification skips the key schedule.
#[derive(Clone)]
pub(crate) struct KeyedSecret {
    mac: HmacSha256,
    fingerprint: Fingerprint,
}

impl KeyedSecret {
    pub(crate) fn new(secret: &SigningSecret) -> Self {
        KeyedSecret {
            mac: keyed_mac(secret),
            fingerprint: secret.fingerprint(),
        }
    }

    pub(crate) fn fingerprint(&self) -> Fingerprint {
        self.fingerprint
    }

    pub(crate) fn tag(&self, body: &[u8]) -> Tag {
        let mut mac = self.mac.clone();
        mac.update(body);
        mac.finalize().into_bytes().into()
    }
}

fn keyed_mac(secret: &SigningSecret) -> HmacSha256 {
    match HmacSha256::new_from_slice(secret.key_bytes()) {
        Ok(mac) => mac,
        // HMAC takes keys of any length (RFC 2104 hashes long ones), so this cannot happen. If
        // a future `hmac` ever refused a key, carrying on with any other key would accept
        // signatures made with that key: stop instead.
        Err(_) => unreachable!("HMAC-SHA256 refused a key; HMAC accepts keys of any length"),
    }
}

/// Constant-time equality of two tags, from RustCrypto's `subtle`.
pub(crate) fn tags_equal(a: &Tag, b: &Tag) -> bool {
    a.ct_eq(b).into()
}

/// Signs `body` the way RxScale does: lowercase hex HMAC-SHA256, keyed with the whole secret.
///
/// For tests and tools; receivers call [`Verifier::verify`](crate::Verifier::verify).
///
/// ```
/// use rxscale_webhooks::{sign, SigningSecret};
///
/// let secret = SigningSecret::new("whsec_abc123");
/// assert_eq!(
///     sign(&secret, b"{}"),
///     "b8e41d05e1ec86afe86ae177dccfb021afc2e6633a3c8dcee569538f5f2b8270"
/// );
/// ```
#[must_use]
pub fn sign(secret: &SigningSecret, body: impl AsRef<[u8]>) -> String {
    base16ct::lower::encode_string(&KeyedSecret::new(secret).tag(body.as_ref()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_either_case_and_trims() {
        let lower = "44a55a64bef286d9796db06b8cb94e0a03d04fcefaee608d090ef50a1c7e5c0c";
        let upper = lower.to_ascii_uppercase();
        assert_eq!(
            parse_signature(lower.as_bytes()).unwrap(),
            parse_signature(upper.as_bytes()).unwrap()
        );
        let padded = format!(" \t{lower}\r\n");
        assert!(parse_signature(padded.as_bytes()).is_ok());
    }

    #[test]
    fn blank_is_missing_and_wrong_shapes_are_malformed() {
        for blank in ["", " ", "\t\r\n"] {
            assert_eq!(
                parse_signature(blank.as_bytes()).unwrap_err().kind(),
                ErrorKind::MissingSignature
            );
        }
        let good = "44a55a64bef286d9796db06b8cb94e0a03d04fcefaee608d090ef50a1c7e5c0c";
        let cases = [
            good[..63].to_owned(),
            good[..62].to_owned(),
            format!("{good}00"),
            format!("{good}0"),
            format!("sha256={good}"),
            format!("{}g", &good[..63]),
            format!("{} {}", &good[..32], &good[32..]),
        ];
        for case in cases {
            assert_eq!(
                parse_signature(case.as_bytes()).unwrap_err().kind(),
                ErrorKind::MalformedSignature,
                "{case}"
            );
        }
        assert_eq!(
            parse_signature(&[0xff; 64]).unwrap_err().kind(),
            ErrorKind::MalformedSignature
        );
    }

    #[test]
    fn tags_equal_is_exact() {
        let a = [7u8; 32];
        let mut b = a;
        assert!(tags_equal(&a, &b));
        b[31] ^= 1;
        assert!(!tags_equal(&a, &b));
    }
}
