//! Reading the request body through the core's [`BodyReader`], within its deadline: this file
//! only polls frames and the timer.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll, ready};

use bytes::Bytes;
use http::HeaderMap;
use http::header::{CONTENT_LENGTH, EXPECT};
use http_body::Body;
use rxscale_webhooks::ErrorKind;
use rxscale_webhooks::pipeline::{
    BodyReader, Pipeline, Rejection, body_read_failed, content_length,
};
use tokio::time::{Instant, Sleep};

use crate::discard::RefusedBody;

/// Polls a body's data frames into a [`BodyReader`] until the end, the limit, the deadline, or
/// an error.
///
/// The body is boxed so that, on a 413, it can move into the response and be discarded there,
/// within bounds, after the answer has left (see [`crate::discard`]).
pub(crate) struct Collect<B> {
    body: Option<Pin<Box<B>>>,
    reader: Option<BodyReader>,
    deadline: Instant,
    /// Armed the first time the body is not ready: a body already in memory costs no timer.
    timer: Option<Pin<Box<Sleep>>>,
    /// `Expect: 100-continue`: a body refused before it is read must not be polled, or hyper
    /// would invite the client to send it.
    expects_continue: bool,
}

/// Why the body was not collected: the answer, and the body itself when what is left of it may
/// be discarded after the answer.
pub(crate) struct Refused {
    pub(crate) rejection: Rejection,
    pub(crate) rest: Option<RefusedBody>,
}

impl<B: Body + Send + 'static> Collect<B> {
    /// Refuses a declared length (the `Content-Length`, or the body's own lower size bound)
    /// over the limit before a byte is read.
    pub(crate) fn new(pipeline: &Pipeline, headers: &HeaderMap, body: B) -> Result<Self, Refused> {
        let header = content_length(headers.get(CONTENT_LENGTH).map(|v| v.as_bytes()));
        let declared = header.max(Some(body.size_hint().lower()));
        let expects_continue = headers
            .get(EXPECT)
            .is_some_and(|value| value.as_bytes().eq_ignore_ascii_case(b"100-continue"));
        match pipeline.body_reader(declared) {
            Ok(reader) => Ok(Collect {
                body: Some(Box::pin(body)),
                deadline: Instant::now() + reader.timeout(),
                reader: Some(reader),
                timer: None,
                expects_continue,
            }),
            Err(rejection) => Err(Refused {
                rest: (!expects_continue)
                    .then(|| RefusedBody::pinned(Box::pin(body)))
                    .flatten(),
                rejection,
            }),
        }
    }
}

impl<B> Future for Collect<B>
where
    B: Body + Send + 'static,
    B::Error: std::fmt::Display,
{
    type Output = Result<Bytes, Refused>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.get_mut();
        loop {
            let (Some(reader), Some(body)) = (this.reader.as_mut(), this.body.as_mut()) else {
                unreachable!("polled after completion")
            };
            let frame = match body.as_mut().poll_frame(cx) {
                Poll::Ready(frame) => frame,
                Poll::Pending => {
                    if this.timer.is_none() && tokio::runtime::Handle::try_current().is_err() {
                        // Outside a tokio runtime (another executor) there is no timer to
                        // enforce the deadline with: wait for the body alone.
                        return Poll::Pending;
                    }
                    let deadline = this.deadline;
                    let timer = this
                        .timer
                        .get_or_insert_with(|| Box::pin(tokio::time::sleep_until(deadline)));
                    ready!(timer.as_mut().poll(cx));
                    let rejection = reader.timed_out();
                    this.body = None;
                    return Poll::Ready(Err(Refused {
                        rejection,
                        rest: None,
                    }));
                }
            };
            match frame {
                Some(Ok(frame)) => {
                    // Trailers are not part of what RxScale signs.
                    if let Ok(data) = frame.into_data()
                        && let Err(rejection) = reader.push(data)
                    {
                        let body = this.body.take();
                        let rest = if rejection.kind() == Some(ErrorKind::BodyTooLarge)
                            && !this.expects_continue
                        {
                            body.and_then(RefusedBody::pinned)
                        } else {
                            None
                        };
                        return Poll::Ready(Err(Refused { rejection, rest }));
                    }
                }
                Some(Err(error)) => {
                    this.body = None;
                    return Poll::Ready(Err(Refused {
                        rejection: body_read_failed(error),
                        rest: None,
                    }));
                }
                None => {
                    let Some(reader) = this.reader.take() else {
                        unreachable!("polled after completion")
                    };
                    this.body = None;
                    return Poll::Ready(Ok(reader.finish()));
                }
            }
        }
    }
}
