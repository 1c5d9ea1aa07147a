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
