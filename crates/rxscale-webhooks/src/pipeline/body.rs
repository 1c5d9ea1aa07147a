//! [`BodyReader`]: the one way adapters collect a request body within the limit.

use bytes::{Buf, Bytes, BytesMut};

use crate::error::{Error, ErrorKind};
use crate::pipeline::Rejection;

/// Collects a request body frame by frame, refusing it as soon as it passes the limit.
///
/// Obtained from [`Pipeline::body_reader`](crate::pipeline::Pipeline::body_reader), which
/// refuses a too-large `Content-Length` before a byte is read. A body that arrives in one frame
/// is passed on as that very `Bytes`; one that arrives in several is joined once, when its last
/// frame is in. Holding the frames until then, rather than a buffer of the declared length from
/// the second frame on, keeps what each request in flight holds to what it has received: with
/// 16 connections sending 1 MiB bodies, reserving the full length up front doubled the peak RSS
/// (docs/benchmarks.md).
#[derive(Debug)]
pub struct BodyReader {
    first: Bytes,
    more: Vec<Bytes>,
    len: usize,
    limit: usize,
}

impl BodyReader {
    pub(crate) fn new(limit: usize) -> Self {
        BodyReader {
            first: Bytes::new(),
            more: Vec::new(),
            len: 0,
            limit,
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
        self.len += size;
        let data = data.copy_to_bytes(size);
        if self.first.is_empty() {
            self.first = data;
        } else {
            self.more.push(data);
        }
        Ok(())
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

    /// The whole body, joined once.
    #[must_use]
    pub fn finish(self) -> Bytes {
        if self.more.is_empty() {
            return self.first;
        }
        let mut joined = BytesMut::with_capacity(self.len);
        joined.extend_from_slice(&self.first);
        for frame in &self.more {
            joined.extend_from_slice(frame);
        }
        joined.freeze()
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
