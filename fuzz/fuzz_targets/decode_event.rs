//! Envelope and typed-event decoding of arbitrary bytes, through the entry point that runs after
//! authentication. The entry point itself asserts that the one-pass and the precise decoders
//! agree.
#![no_main]

use libfuzzer_sys::fuzz_target;
use rxscale_webhooks::ErrorKind;

fuzz_target!(|body: &[u8]| {
    if let Err(err) = rxscale_webhooks::fuzzing::decode_event(body) {
        assert!(
            matches!(err.kind(), ErrorKind::MalformedPayload | ErrorKind::InvalidEventData),
            "decoding produced {:?}",
            err.kind()
        );
    }
});
