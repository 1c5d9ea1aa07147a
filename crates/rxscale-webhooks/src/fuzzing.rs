//! Internal entry points for the fuzz targets in `fuzz/`. Not part of the public API: no
//! stability promise, hidden from the docs, compiled only with the `fuzzing` feature.

use crate::envelope;
use crate::error::Error;

/// Signature header parsing, as `verify` runs it.
///
/// # Errors
///
/// The parse error.
pub fn parse_signature(header: &[u8]) -> Result<[u8; 32], Error> {
    crate::signature::parse_signature(header)
}

/// Envelope and typed-event decoding, as it runs after authentication, with no time window.
/// Panics if the one-pass decoder accepts what the precise decoder rejects, or if they disagree
/// on the result: that would be a bug the fuzzer should report.
///
/// # Errors
///
/// The decoding error.
pub fn decode_event(body: &[u8]) -> Result<(), Error> {
    let fast = envelope::decode_event_fast(body);
    let precise = envelope::decode_event_precise(body, |_| Ok(()));
    match (fast, &precise) {
        (Ok(fast), Ok(precise)) => {
            assert_eq!(
                fast.data, precise.data,
                "fast and precise decoders disagree"
            );
            assert_eq!(
                fast.uid, precise.uid,
                "fast and precise decoders disagree on uid"
            );
            assert_eq!(fast.timestamp, precise.timestamp);
        }
        (Ok(fast), Err(err)) => panic!("fast decoder accepted {fast:?}; precise said {err:?}"),
        (Err(_), _) => {}
    }
    precise.map(|_| ())
}
