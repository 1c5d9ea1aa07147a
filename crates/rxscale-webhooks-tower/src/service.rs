use std::task::{Context, Poll};

use bytes::Bytes;
use http::{Request, Response};
use rxscale_webhooks::pipeline::Pipeline;
use rxscale_webhooks::{ReplayGuard, Verifier};
use tower_service::Service;

use crate::body::{ResponseBody, VerifiedBody};
use crate::future::ResponseFuture;
use crate::layer::VerifyLayer;

/// The middleware [`VerifyLayer`] produces: it reads and verifies the body, then calls the
/// wrapped service with a [`VerifiedBody`] holding the very same bytes.
#[derive(Debug, Clone)]
pub struct Verify<S> {
    inner: S,
    pipeline: Pipeline,
}

impl<S> Verify<S> {
    /// Wraps `inner`. Same as `VerifyLayer::new(verifier).layer(inner)`.
    pub fn new(inner: S, verifier: Verifier) -> Self {
        Verify::from_pipeline(inner, VerifyLayer::new(verifier).pipeline)
    }

    /// Wraps `inner` in a ready-made pipeline.
    pub fn from_pipeline(inner: S, pipeline: Pipeline) -> Self {
        Verify { inner, pipeline }
    }

    /// A [`VerifyLayer`] for this middleware.
    pub fn layer(verifier: Verifier) -> VerifyLayer {
        VerifyLayer::new(verifier)
    }

    /// See [`VerifyLayer::pass_invalid_event_data`]. Default: `false`.
    #[must_use]
    pub fn pass_invalid_event_data(mut self, pass: bool) -> Self {
        self.pipeline = self.pipeline.pass_invalid_event_data(pass);
        self
    }

    /// See [`VerifyLayer::replay_guard`]. Default: none.
    #[must_use]
    pub fn replay_guard(mut self, guard: ReplayGuard) -> Self {
        self.pipeline = self.pipeline.replay_guard(guard);
        self
    }

    /// The wrapped service.
    pub fn get_ref(&self) -> &S {
        &self.inner
    }

    /// The wrapped service, mutably.
    pub fn get_mut(&mut self) -> &mut S {
        &mut self.inner
    }

    /// Unwraps the wrapped service.
    pub fn into_inner(self) -> S {
        self.inner
    }
}

impl<S, ReqBody, ResBody> Service<Request<ReqBody>> for Verify<S>
where
    S: Service<Request<VerifiedBody>, Response = Response<ResBody>> + Clone,
    ReqBody: http_body::Body + Send + 'static,
    ReqBody::Error: std::fmt::Display,
    ResBody: http_body::Body<Data = Bytes>,
{
    type Response = Response<ResponseBody<ResBody>>;
    type Error = S::Error;
    type Future = ResponseFuture<S, ReqBody>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request<ReqBody>) -> Self::Future {
        // The body is read before the inner service is called, so the future takes the
        // instance that was driven to readiness and leaves a fresh clone behind.
        let clone = self.inner.clone();
        let ready = std::mem::replace(&mut self.inner, clone);
        ResponseFuture::new(request, ready, self.pipeline.clone())
    }
}
