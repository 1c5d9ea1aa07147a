use std::convert::Infallible;
use std::pin::Pin;
use std::task::{Context, Poll, ready};

use bytes::Bytes;
use http_body::{Body, Frame, SizeHint};
use pin_project_lite::pin_project;

use crate::discard::RefusedBody;

/// The request body the wrapped service receives: exactly the bytes that were verified, in one
/// frame, already in memory.
///
/// Framework extractors (`Bytes`, `String`, `Json<T>` in axum) read it like any other body.
/// Outside a framework, [`VerifiedBody::as_bytes`] gives the bytes without polling.
#[derive(Debug, Clone, Default)]
pub struct VerifiedBody {
    bytes: Option<Bytes>,
}

impl VerifiedBody {
    pub(crate) fn new(bytes: Bytes) -> Self {
        VerifiedBody { bytes: Some(bytes) }
    }

    /// The bytes not yet handed out as a frame: all of them until the body is polled.
    #[must_use]
    pub fn as_bytes(&self) -> &[u8] {
        self.bytes.as_deref().unwrap_or_default()
    }

    /// Takes the bytes not yet handed out as a frame, without copying them.
    #[must_use]
    pub fn into_bytes(self) -> Bytes {
        self.bytes.unwrap_or_default()
    }
}

impl Body for VerifiedBody {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(
        self: Pin<&mut Self>,
        _cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        let bytes = self.get_mut().bytes.take().filter(|b| !b.is_empty());
        Poll::Ready(bytes.map(|b| Ok(Frame::data(b))))
    }

    fn is_end_stream(&self) -> bool {
        self.as_bytes().is_empty()
    }

    fn size_hint(&self) -> SizeHint {
        SizeHint::with_exact(self.as_bytes().len() as u64)
    }
}

pin_project! {
    /// The response body of [`Verify`](crate::Verify): the wrapped service's body, or the short
    /// JSON body of a rejection.
    pub struct ResponseBody<B> {
        #[pin]
        kind: Kind<B>,
    }
}

pin_project! {
    #[project = KindProj]
    enum Kind<B> {
        Inner { #[pin] body: B },
        Rejection { body: Option<Bytes>, discard: Option<RefusedBody> },
    }
}

impl<B> ResponseBody<B> {
    pub(crate) fn inner(body: B) -> Self {
        ResponseBody {
            kind: Kind::Inner { body },
        }
    }

    /// The body of a rejection: its JSON text, then, with `discard`, what is left of the
    /// refused request body is read and thrown away, within bounds, before the response ends
    /// and the connection closes. Send it with `Connection: close` when `discard` is `Some`.
    pub fn rejection(text: &'static str, discard: Option<RefusedBody>) -> Self {
        ResponseBody {
            kind: Kind::Rejection {
                body: Some(Bytes::from_static(text.as_bytes())),
                discard,
            },
        }
    }
}

impl<B> std::fmt::Debug for ResponseBody<B> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.kind {
            Kind::Inner { .. } => f.write_str("ResponseBody::Inner"),
            Kind::Rejection { .. } => f.write_str("ResponseBody::Rejection"),
        }
    }
}

impl<B> Body for ResponseBody<B>
where
    B: Body<Data = Bytes>,
{
    type Data = Bytes;
    type Error = B::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, B::Error>>> {
        match self.project().kind.project() {
            KindProj::Inner { body } => body.poll_frame(cx),
            KindProj::Rejection { body, discard } => {
                if let Some(text) = body.take() {
                    return Poll::Ready(Some(Ok(Frame::data(text))));
                }
                if let Some(rest) = discard {
                    ready!(rest.poll_done(cx));
                    *discard = None;
                }
                Poll::Ready(None)
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        match &self.kind {
            Kind::Inner { body } => body.is_end_stream(),
            Kind::Rejection { body, discard } => body.is_none() && discard.is_none(),
        }
    }

    fn size_hint(&self) -> SizeHint {
        match &self.kind {
            Kind::Inner { body } => body.size_hint(),
            Kind::Rejection { body, discard } => {
                let len = body.as_ref().map_or(0, |b| b.len() as u64);
                if discard.is_some() {
                    // Not exact: with a known length hyper would end the response, and drop
                    // this body, as soon as the text is written, before anything is discarded.
                    let mut hint = SizeHint::new();
                    hint.set_lower(len);
                    hint
                } else {
                    SizeHint::with_exact(len)
                }
            }
        }
    }
}
