//! Signature header parsing: any bytes, never a panic; an accepted header is exactly 64 hex
//! digits after trimming, and decodes to what it says.
#![no_main]

use libfuzzer_sys::fuzz_target;
use rxscale_webhooks::fuzzing::parse_signature;

fuzz_target!(|header: &[u8]| {
    if let Ok(tag) = parse_signature(header) {
        let trimmed = header.trim_ascii();
        assert_eq!(trimmed.len(), 64);
        assert!(trimmed.iter().all(u8::is_ascii_hexdigit));
        let lower = String::from_utf8(trimmed.to_ascii_lowercase()).unwrap();
        let encoded: String = tag.iter().map(|b| format!("{b:02x}")).collect();
        assert_eq!(lower, encoded);
    }
});
