//! [`BodyReader`]: the one way adapters collect a request body within the limit and the
//! body-read deadline.

use std::time::Duration;

use bytes::{Buf, BufMut, Bytes, BytesMut};

use crate::error::{Error, ErrorKind};
use crate::pipeline::Rejection;

/// After answering 413 to a body that is still arriving, an adapter reads and discards at most
/// this many more bytes of it before closing the connection, so that the client, still
/// sending, gets to read the 413 instead of a reset; never more, whatever the client sends.
/// See also [`DISCARD_AFTER_REJECTION_TIME`].
pub const DISCARD_AFTER_REJECTION_BYTES: u64 = 4 * 1024 * 1024;

/// After answering 413 to a body that is still arriving, an adapter discards it for at most this
/// long before closing the connection. See [`DISCARD_AFTER_REJECTION_BYTES`].
pub const DISCARD_AFTER_REJECTION_TIME: Duration = Duration::from_secs(1);

/// Collects a request body frame by frame, refusing it as soon as it passes the limit.
///
/// Obtained from [`Pipeline::body_reader`](crate::pipeline::Pipeline::body_reader), which
/// refuses a too-large `Content-Length` before a byte is read.
///
/// **Memory.** A body that arrives in one frame is passed on as that very `Bytes`. From the
/// second frame on, every frame is copied, as it arrives, into one growing buffer, and the
/// frame is released at once: a frame is usually a slice of the HTTP server's read buffer, and
/// holding thousands of one-byte frames would pin those buffers and cost about 36 bytes per
/// byte received (issue 14: +76 MiB for one 2 MiB body sent in one-byte chunks). So a request
/// costs its bytes received, at most the limit, plus the buffer's growth slack, whatever the
/// chunking. The buffer is reserved once at the declared `Content-Length` when there is one;
/// without one it doubles from 16 KiB and, once a quarter of the limit is reached, jumps to the
/// limit, so that the buffers outgrown along the way (freed, but possibly still counted in the
/// process's peak RSS) stay under a third of the limit. Capacity not yet written to costs no
/// memory.
///
/// **Time.** [`BodyReader::timeout`] is the verifier's
/// [`body_read_timeout`](crate::Verifier::body_read_timeout): an adapter that has not received
/// the whole body within it answers [`BodyReader::timed_out`] (408).
#[derive(Debug)]
pub struct BodyReader {
    /// The only frame so far, kept without a copy.
    first: Bytes,
    /// Every byte so far, once a second frame arrived.
    joined: BytesMut,
    len: usize,
    limit: usize,
    /// The declared length, when known and within the limit.
    declared: Option<usize>,
    timeout: Duration,
}

/// Where the joined buffer starts without a declared length.
const FIRST_CAPACITY: usize = 16 * 1024;

impl BodyReader {
    pub(crate) fn new(limit: usize, declared: Option<u64>, timeout: Duration) -> Self {
        BodyReader {
            first: Bytes::new(),
            joined: BytesMut::new(),
            len: 0,
            limit,
            declared: declared
                .and_then(|length| usize::try_from(length).ok())
                .filter(|&length| length <= limit),
            timeout,
        }
    }

    /// The capacity to grow to for `needed` bytes: the declared length, or the next step.
    fn grown_capacity(&self, needed: usize) -> usize {
        if let Some(declared) = self.declared.filter(|&declared| declared >= needed) {
            return declared;
        }
        let doubled = (self.joined.capacity() * 2).max(FIRST_CAPACITY).max(needed);
        if doubled >= self.limit / 4 {
            self.limit.max(needed)
        } else {
            doubled
        }
    }

    /// Adds the next data frame.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::BodyTooLarge`] once the body passes the limit; read no further.
    pub fn push(&mut self, mut data: impl Buf) -> Result<(), Rejection> {
        let size = data.remaining();
        if self.len.saturating_add(size) > self.limit {
            tracing::info!(
                target: "rxscale_webhooks",
                kind = ErrorKind::BodyTooLarge.code(),
                read = self.len.saturating_add(size),
                limit = self.limit,
                "rxscale webhook rejected: the body grew past the limit; the rest is not read"
            );
            return Err(Error::body_too_large(self.limit).into());
        }
        if size == 0 {
            return Ok(());
        }
        if self.len == 0 {
            self.first = data.copy_to_bytes(size);
        } else {
            let needed = self.len + size;
            if needed > self.joined.capacity() {
                // `BytesMut::reserve` may round up to twice the size; this is exact.
                let mut grown = BytesMut::with_capacity(self.grown_capacity(needed));
                grown.extend_from_slice(&self.first);
                grown.extend_from_slice(&self.joined);
                self.first = Bytes::new();
                self.joined = grown;
            }
            self.joined.put(data);
        }
        self.len += size;
        Ok(())
    }

    /// How long the whole body may take to arrive, counted from when the adapter started
    /// reading it: the verifier's
    /// [`body_read_timeout`](crate::Verifier::body_read_timeout).
    #[must_use]
    pub fn timeout(&self) -> Duration {
        self.timeout
    }

    /// The answer when the body has not fully arrived within [`BodyReader::timeout`]:
    /// [`ErrorKind::BodyReadTimeout`], 408. Logged once, at info level, with the bytes received
    /// so far.
    #[must_use]
    pub fn timed_out(&self) -> Rejection {
        let error = Error::with_detail(
            ErrorKind::BodyReadTimeout,
            format!(
                "{} bytes received within {} ms; the rest is not waited for",
                self.len,
                self.timeout.as_millis()
            ),
        );
        tracing::info!(
            target: "rxscale_webhooks",
            kind = ErrorKind::BodyReadTimeout.code(),
            detail = error.detail().unwrap_or(""),
            "rxscale webhook rejected: the body did not arrive in time"
        );
        error.into()
    }

    /// The answer when the framework's own body limit (axum's `DefaultBodyLimit`, for one)
    /// stopped the body before this reader's did.
    #[must_use]
    pub fn framework_limit_reached(&self) -> Rejection {
        let error = Error::with_detail(
            ErrorKind::BodyTooLarge,
            format!(
                "the framework's body limit was reached after {} bytes; the rest is not read",
                self.len
            ),
        );
        tracing::info!(
            target: "rxscale_webhooks",
            kind = ErrorKind::BodyTooLarge.code(),
            detail = error.detail().unwrap_or(""),
            "rxscale webhook rejected"
        );
        error.into()
    }

    /// How many bytes were read so far.
    #[must_use]
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether nothing was read so far.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The whole body.
    #[must_use]
    pub fn finish(self) -> Bytes {
        if self.joined.is_empty() {
            self.first
        } else {
            self.joined.freeze()
        }
    }
}

/// The body could not be read to its end. `reason` goes to the logs (at debug level), never to
/// the client: it is the framework's I/O error. Logged once, at info level.
#[must_use]
pub fn body_read_failed(reason: impl std::fmt::Display) -> Rejection {
    tracing::info!(
        target: "rxscale_webhooks",
        kind = ErrorKind::BodyReadFailed.code(),
        error = %reason,
        "rxscale webhook rejected: the body could not be read"
    );
    Error::body_read_failed(reason).into()
}
