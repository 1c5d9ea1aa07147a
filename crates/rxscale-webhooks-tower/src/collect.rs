//! Reading the request body through the core's [`BodyReader`]: this file only polls frames.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll, ready};

use bytes::Bytes;
use http::HeaderMap;
use http::header::CONTENT_LENGTH;
use http_body::Body;
use pin_project_lite::pin_project;
use rxscale_webhooks::pipeline::{
    BodyReader, Pipeline, Rejection, body_read_failed, content_length,
};

pin_project! {
    /// Polls a body's data frames into a [`BodyReader`] until the end, the limit, or an error.
    pub(crate) struct Collect<B> {
        #[pin]
        body: B,
        reader: Option<BodyReader>,
    }
}

impl<B: Body> Collect<B> {
    /// Refuses a declared length (the `Content-Length`, or the body's own lower size bound)
    /// over the limit before a byte is read.
    pub(crate) fn new(
        pipeline: &Pipeline,
        headers: &HeaderMap,
        body: B,
    ) -> Result<Self, Rejection> {
        let header = content_length(headers.get(CONTENT_LENGTH).map(|v| v.as_bytes()));
        let declared = header.max(Some(body.size_hint().lower()));
        let reader = pipeline.body_reader(declared)?;
        Ok(Collect {
            body,
            reader: Some(reader),
        })
    }
}

impl<B> Future for Collect<B>
where
    B: Body,
    B::Error: std::fmt::Display,
{
    type Output = Result<Bytes, Rejection>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let mut this = self.project();
        loop {
            let Some(reader) = this.reader.as_mut() else {
                unreachable!("polled after completion")
            };
            match ready!(this.body.as_mut().poll_frame(cx)) {
                Some(Ok(frame)) => {
                    // Trailers are not part of what RxScale signs.
                    if let Ok(data) = frame.into_data() {
                        reader.push(data)?;
                    }
                }
                Some(Err(error)) => return Poll::Ready(Err(body_read_failed(error))),
                None => {
                    let Some(reader) = this.reader.take() else {
                        unreachable!("polled after completion")
                    };
                    return Poll::Ready(Ok(reader.finish()));
                }
            }
        }
    }
}
