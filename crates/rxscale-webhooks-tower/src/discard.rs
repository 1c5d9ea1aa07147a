//! What is left of a body refused with 413, read and thrown away after the answer, within
//! [`DISCARD_AFTER_REJECTION_BYTES`] and [`DISCARD_AFTER_REJECTION_TIME`].
//!
//! Closing the connection while the client is still sending makes the kernel reset it, and the
//! client may then lose the 413 it has not read yet. Discarding for a bounded while lets an
//! honest client read the answer; a client that keeps sending past the bounds is cut off.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use http_body::Body;
use rxscale_webhooks::pipeline::{DISCARD_AFTER_REJECTION_BYTES, DISCARD_AFTER_REJECTION_TIME};
use tokio::time::Sleep;

/// Any request body, its type erased so that [`ResponseBody`](crate::ResponseBody) needs no
/// type parameter for it.
trait Source: Send {
    /// Ready with the size of the next data frame, or `None` at the end or on an error.
    fn poll_next_size(&mut self, cx: &mut Context<'_>) -> Poll<Option<u64>>;
}

impl<B: Body + Send> Source for Pin<Box<B>> {
    fn poll_next_size(&mut self, cx: &mut Context<'_>) -> Poll<Option<u64>> {
        match self.as_mut().poll_frame(cx) {
            Poll::Ready(Some(Ok(frame))) => Poll::Ready(Some(
                frame
                    .data_ref()
                    .map_or(0, |data| bytes::Buf::remaining(data) as u64),
            )),
            Poll::Ready(Some(Err(_)) | None) => Poll::Ready(None),
            Poll::Pending => Poll::Pending,
        }
    }
}

/// What is left of a request body refused with 413, to be read and thrown away after the
/// answer, within [`DISCARD_AFTER_REJECTION_BYTES`] and [`DISCARD_AFTER_REJECTION_TIME`].
///
/// The layer builds it by itself; an extractor that refuses a body (`rxscale-webhooks-axum`'s)
/// hands it to [`ResponseBody::rejection`](crate::ResponseBody::rejection). The answer that
/// carries it says `Connection: close`.
pub struct RefusedBody {
    // A mutex only to be `Sync` (rejections travel in `Box<dyn Error + Send + Sync>`); it is
    // only ever reached through `&mut`, never locked.
    source: std::sync::Mutex<Box<dyn Source>>,
    left: u64,
    /// Armed the first time the body has nothing ready.
    timer: Option<Pin<Box<Sleep>>>,
}

impl RefusedBody {
    /// The rest of `body`; `None` when nothing is left of it.
    pub fn new<B: Body + Send + 'static>(body: B) -> Option<Self> {
        Self::pinned(Box::pin(body))
    }

    pub(crate) fn pinned<B: Body + Send + 'static>(body: Pin<Box<B>>) -> Option<Self> {
        if body.is_end_stream() {
            return None;
        }
        Some(RefusedBody {
            source: std::sync::Mutex::new(Box::new(body)),
            left: DISCARD_AFTER_REJECTION_BYTES,
            timer: None,
        })
    }

    /// Ready once the body ended, or a bound was reached: then the connection may close.
    ///
    /// The time bound starts the first time the body has nothing ready; outside a tokio
    /// runtime there is no timer, and the discarding stops there.
    pub(crate) fn poll_done(&mut self, cx: &mut Context<'_>) -> Poll<()> {
        if let Some(timer) = self.timer.as_mut()
            && timer.as_mut().poll(cx).is_ready()
        {
            return Poll::Ready(());
        }
        let source = match self.source.get_mut() {
            Ok(source) => source,
            Err(poisoned) => poisoned.into_inner(),
        };
        loop {
            match source.poll_next_size(cx) {
                Poll::Ready(Some(size)) => match self.left.checked_sub(size) {
                    Some(left) => self.left = left,
                    None => return Poll::Ready(()),
                },
                Poll::Ready(None) => return Poll::Ready(()),
                Poll::Pending => {
                    if self.timer.is_none() {
                        if tokio::runtime::Handle::try_current().is_err() {
                            return Poll::Ready(());
                        }
                        let mut timer = Box::pin(tokio::time::sleep(DISCARD_AFTER_REJECTION_TIME));
                        if timer.as_mut().poll(cx).is_ready() {
                            return Poll::Ready(());
                        }
                        self.timer = Some(timer);
                    }
                    return Poll::Pending;
                }
            }
        }
    }
}

impl std::fmt::Debug for RefusedBody {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RefusedBody")
            .field("left", &self.left)
            .finish_non_exhaustive()
    }
}
