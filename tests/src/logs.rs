//! What the code under test logs, captured as text for assertions.

use std::io::Write;
use std::sync::{Arc, Mutex, PoisonError};

use tracing_subscriber::fmt::MakeWriter;
use tracing_subscriber::fmt::format::FmtSpan;

/// Installs, for the whole process, a subscriber that writes every event `filter` lets through
/// and every span's close (with its fields) as plain text, and returns what it captures.
///
/// actix-web runs handlers on worker threads of its own, so only a global subscriber sees
/// them. Call it once per test binary, from a file that holds a single test.
pub fn capture_globally(filter: &str) -> Captured {
    let captured = Captured::default();
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_span_events(FmtSpan::CLOSE)
        .with_ansi(false)
        .with_writer(captured.clone())
        .try_init()
        .expect("the only subscriber of this test binary");
    captured
}

/// A `tracing_subscriber` writer that keeps everything written to it; clones share the text.
#[derive(Debug, Clone, Default)]
pub struct Captured(Arc<Mutex<Vec<u8>>>);

impl Captured {
    /// Everything written so far.
    pub fn text(&self) -> String {
        let bytes = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        String::from_utf8_lossy(&bytes).into_owned()
    }
}

impl Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl<'a> MakeWriter<'a> for Captured {
    type Writer = Captured;

    fn make_writer(&'a self) -> Captured {
        self.clone()
    }
}

/// What the tracing tests (`axum_tracing.rs`, `actix_tracing.rs`) find in the logs of one run
/// through each of two ways in (say a layer and an extractor): per way in, one accepted
/// `pharmacy_order_created` delivery at `now` plus one whose `X-Webhook-Event` disagrees, one
/// signature mismatch and one body over the limit. `spans` is how many delivery spans closed
/// in all.
pub fn assert_two_ways_in_logged(logs: &str, now: i64, spans: usize) {
    let lines = |needle: &str| logs.lines().filter(|line| line.contains(needle)).count();

    // One span per delivery, closed with its fields; the fingerprint, never the secret.
    let fingerprint = crate::test_secret().fingerprint().to_string();
    let accepted = lines(&format!(
        "event_type=\"pharmacy_order_created\" dedup_key=\"pharmacy_order_created:{now}:po-abc123\" fingerprint={fingerprint} outcome=\"accepted\""
    ));
    // Per way in: the warning inside the accepted span, and the span's close, carry them.
    assert_eq!(accepted, 4, "accepted spans with all their fields:\n{logs}");
    assert_eq!(lines(" close "), spans, "one span per delivery:\n{logs}");
    assert_eq!(lines("outcome=\"signature_mismatch\""), 2, "{logs}");
    assert_eq!(lines("outcome=\"body_too_large\""), 2, "{logs}");
    assert!(lines("elapsed=") >= 6, "{logs}");

    // Each rejection logged once, at info, with its kind; a mismatch names the configured
    // secrets' fingerprints.
    for kind in ["signature_mismatch", "body_too_large"] {
        let rejected = logs
            .lines()
            .filter(|l| l.contains(" INFO ") && l.contains(&format!("kind=\"{kind}\"")))
            .count();
        assert_eq!(rejected, 2, "{kind}:\n{logs}");
    }
    assert!(
        logs.lines()
            .any(|l| l.contains("kind=\"signature_mismatch\"")
                && l.contains(&format!("configured=[{fingerprint}]"))),
        "{logs}"
    );

    // The disagreeing header, warned once per way in.
    let warnings = logs
        .lines()
        .filter(|l| l.contains("WARN") && l.contains("X-Webhook-Event disagrees"))
        .count();
    assert_eq!(warnings, 2, "{logs}");
}

/// Neither test secret, nor its base64 part, nor any of `signatures` (in either case) is in
/// `logs`.
pub fn assert_no_secrets_or_signatures(logs: &str, signatures: &[&str]) {
    for secret in [
        crate::TEST_SECRET,
        crate::OTHER_SECRET,
        &crate::TEST_SECRET[6..],
    ] {
        assert!(!logs.contains(secret), "a secret was logged:\n{logs}");
    }
    for signature in signatures {
        assert!(!logs.contains(signature), "a signature was logged:\n{logs}");
        assert!(
            !logs.contains(&signature.to_ascii_uppercase()),
            "a signature was logged"
        );
    }
}
