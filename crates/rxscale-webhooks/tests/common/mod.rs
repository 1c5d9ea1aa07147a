//! Helpers shared by the core's integration tests (each test file includes this with `mod common;`).
#![allow(dead_code, clippy::unwrap_used)]

use std::io::Write;
use std::sync::{Arc, Mutex};

use rxscale_webhooks::{SigningSecret, Verifier};

/// Everything a `tracing_subscriber` wrote, shared between clones.
#[derive(Clone, Default)]
pub(crate) struct Capture(Arc<Mutex<Vec<u8>>>);

impl Capture {
    /// A subscriber that writes every event and span at trace level, without colours, here.
    pub(crate) fn subscriber(&self) -> impl tracing::Subscriber + Send + Sync + use<> {
        let writer = self.clone();
        tracing_subscriber::fmt()
            .with_max_level(tracing::Level::TRACE)
            .with_writer(move || writer.clone())
            .with_ansi(false)
            .finish()
    }

    /// Everything written so far.
    pub(crate) fn text(&self) -> String {
        String::from_utf8(self.0.lock().unwrap().clone()).unwrap()
    }
}

impl Write for Capture {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// A verifier for `secret` with the age and skew checks off, so fixtures verify at any time.
pub(crate) fn timeless_verifier(secret: &SigningSecret) -> Verifier {
    Verifier::builder()
        .secret(secret.clone())
        .no_max_age()
        .no_max_future_skew()
        .build()
        .unwrap()
}
