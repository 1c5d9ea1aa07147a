//! Full `verify_at` with arbitrary body, header and time. A body signed by the fuzzer with a
//! secret we do not hold must never verify.
#![no_main]

use arbitrary::Arbitrary;
use libfuzzer_sys::fuzz_target;
use rxscale_webhooks::{ErrorKind, OffsetDateTime, SigningSecret, Verifier, sign};

#[derive(Arbitrary, Debug)]
struct Input<'a> {
    body: &'a [u8],
    header: &'a [u8],
    now: i64,
    sign_it: bool,
    tamper_at: Option<u16>,
}

fuzz_target!(|input: Input<'_>| {
    let secret = SigningSecret::new("whsec_fuzz");
    let verifier = Verifier::builder()
        .secret(secret.clone())
        .max_body_bytes(64 * 1024)
        .build()
        .unwrap();
    let now = OffsetDateTime::from_unix_timestamp(input.now % 253_402_300_799)
        .unwrap_or(OffsetDateTime::UNIX_EPOCH);
    let unsigned = verifier.verify_at(input.body, input.header, now);
    if let Ok(verified) = &unsigned {
        // Only a header that really is our HMAC of these bytes may pass.
        assert_eq!(
            input.header.trim_ascii().to_ascii_lowercase(),
            sign(&secret, input.body).into_bytes()
        );
        let _ = verified.dedup_key();
    }
    if input.sign_it {
        let signature = sign(&secret, input.body);
        let mut body = input.body.to_vec();
        if let (Some(at), false) = (input.tamper_at, body.is_empty()) {
            let at = usize::from(at) % body.len();
            body[at] ^= 0x20;
            let err = verifier.verify_at(&body, &signature, now).unwrap_err();
            assert_eq!(err.kind(), ErrorKind::SignatureMismatch);
        } else {
            // Authentic arbitrary bytes: any outcome but an authentication failure.
            if let Err(err) = verifier.verify_at(&body, &signature, now) {
                assert!(!err.kind().is_unauthenticated() || err.kind() == ErrorKind::BodyTooLarge);
            }
        }
    }
});
