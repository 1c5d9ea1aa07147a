use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll, ready};
use std::time::Instant;

use bytes::{Buf, Bytes, BytesMut};
use http::header::{CONTENT_LENGTH, CONTENT_TYPE};
use http::request::Parts;
use http::{HeaderMap, HeaderName, HeaderValue, Request, Response, StatusCode};
use http_body::Body;
use pin_project_lite::pin_project;
use rxscale_webhooks::__adapter::{self, Checked};
use rxscale_webhooks::replay::{Admission, DUPLICATE_HEADER, GuardAnswer};
use rxscale_webhooks::{EVENT_HEADER, ErrorKind, ReplayGuard, SIGNATURE_HEADER, Verifier};
use tower_service::Service;
use tracing::Span;

use crate::body::{ResponseBody, VerifiedBody};
use crate::layer::Config;
use crate::trace;

pin_project! {
    /// The response future of [`Verify`](crate::Verify): reads and verifies the body, claims
    /// the delivery with the replay guard if there is one, then runs the wrapped service, or
    /// answers by itself.
    pub struct ResponseFuture<S, B>
    where
        S: Service<Request<VerifiedBody>>,
    {
        #[pin]
        state: State<S, S::Future, B, Result<S::Response, S::Error>>,
        span: Span,
        started: Instant,
    }
}

/// The guard's futures are `async fn`s of the core; boxing them keeps this future nameable.
/// Only deliveries behind a guard pay for the allocation.
type AdmitFuture = Pin<Box<dyn Future<Output = Result<Admission, GuardAnswer>> + Send>>;
type FinishFuture = Pin<Box<dyn Future<Output = ()> + Send>>;

pin_project! {
    #[project = StateProj]
    enum State<S, F, B, O> {
        Reading {
            #[pin]
            body: B,
            collected: Collected,
            pending: Option<Pending<S>>,
        },
        Admitting {
            admit: AdmitFuture,
            call: Option<(S, Request<VerifiedBody>)>,
            fresh_outcome: &'static str,
        },
        // Dropping this state (the caller gave up, or the service panicked) drops the
        // admission, which releases the claim.
        Calling {
            #[pin]
            future: F,
            admission: Option<Admission>,
        },
        // The claim is settled before the response leaves, so that a 2xx RxScale sees always
        // has its key recorded as completed.
        Finishing {
            finish: FinishFuture,
            output: Option<O>,
        },
        Rejected {
            failure: Failure,
        },
    }
}

struct Pending<S> {
    parts: Parts,
    inner: S,
    config: Config,
}

impl<S, B> ResponseFuture<S, B>
where
    S: Service<Request<VerifiedBody>>,
    B: Body,
{
    pub(crate) fn new(request: Request<B>, inner: S, config: Config) -> Self {
        let started = Instant::now();
        let span = trace::delivery_span();
        let limit = config.verifier.max_body_bytes();
        let (parts, body) = request.into_parts();
        let declared = declared_length(&parts.headers).max(Some(body.size_hint().lower()));
        let state = match declared {
            // Refused before a single byte of the body is read.
            Some(length) if length > limit as u64 => {
                span.in_scope(|| {
                    tracing::debug!(
                        kind = ErrorKind::BodyTooLarge.code(),
                        declared_length = length,
                        limit,
                        "rxscale webhook rejected"
                    );
                });
                State::Rejected {
                    failure: Failure::Rejected(ErrorKind::BodyTooLarge),
                }
            }
            _ => State::Reading {
                body,
                collected: Collected::default(),
                pending: Some(Pending {
                    parts,
                    inner,
                    config,
                }),
            },
        };
        ResponseFuture {
            state,
            span,
            started,
        }
    }
}

impl<S, B, ResBody> Future for ResponseFuture<S, B>
where
    S: Service<Request<VerifiedBody>, Response = Response<ResBody>>,
    B: Body,
    B::Error: std::fmt::Display,
{
    type Output = Result<Response<ResponseBody<ResBody>>, S::Error>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let mut this = self.project();
        let _entered = this.span.enter();
        loop {
            let next = match this.state.as_mut().project() {
                StateProj::Reading {
                    body,
                    collected,
                    pending,
                } => match ready!(body.poll_frame(cx)) {
                    Some(Ok(frame)) => {
                        let Ok(mut data) = frame.into_data() else {
                            continue; // trailers are not part of what RxScale signs
                        };
                        let limit = pending
                            .as_ref()
                            .map_or(0, |p| p.config.verifier.max_body_bytes());
                        if collected.len.saturating_add(data.remaining()) > limit {
                            tracing::debug!(
                                kind = ErrorKind::BodyTooLarge.code(),
                                read = collected.len + data.remaining(),
                                limit,
                                "rxscale webhook rejected; the rest of the body is not read"
                            );
                            State::Rejected {
                                failure: Failure::Rejected(ErrorKind::BodyTooLarge),
                            }
                        } else {
                            collected.push(data.copy_to_bytes(data.remaining()));
                            continue;
                        }
                    }
                    Some(Err(error)) => {
                        tracing::debug!(
                            kind = ErrorKind::BodyReadFailed.code(),
                            %error,
                            "rxscale webhook rejected: the body could not be read"
                        );
                        State::Rejected {
                            failure: Failure::Rejected(ErrorKind::BodyReadFailed),
                        }
                    }
                    None => {
                        let Some(Pending {
                            parts,
                            mut inner,
                            config,
                        }) = pending.take()
                        else {
                            unreachable!("the request is taken only when leaving this state")
                        };
                        let bytes = collected.take();
                        let guard = config.replay_guard.as_ref();
                        match verify(&config, parts, bytes, guard.is_some(), this.span) {
                            Ok((request, claim)) => match guard.zip(claim) {
                                Some((guard, (key, fresh_outcome))) => State::Admitting {
                                    admit: admit(guard, &config.verifier, key),
                                    call: Some((inner, request)),
                                    fresh_outcome,
                                },
                                None => State::Calling {
                                    future: inner.call(request),
                                    admission: None,
                                },
                            },
                            Err(failure) => State::Rejected { failure },
                        }
                    }
                },
                StateProj::Admitting {
                    admit,
                    call,
                    fresh_outcome,
                } => {
                    let admitted = ready!(admit.as_mut().poll(cx));
                    let Some((mut inner, request)) = call.take() else {
                        unreachable!("the request is taken only when leaving this state")
                    };
                    match __adapter::admitted(this.span, fresh_outcome, admitted) {
                        Ok(admission) => State::Calling {
                            future: inner.call(request),
                            admission,
                        },
                        Err(answer) => State::Rejected {
                            failure: Failure::Guard(answer),
                        },
                    }
                }
                StateProj::Calling { future, admission } => {
                    let output = ready!(future.poll(cx));
                    match admission.take() {
                        Some(admission) => {
                            let succeeded = matches!(
                                &output,
                                Ok(response) if response.status().is_success()
                            );
                            State::Finishing {
                                finish: Box::pin(admission.finish(succeeded)),
                                output: Some(output),
                            }
                        }
                        None => {
                            trace::record_elapsed(this.span, *this.started);
                            return Poll::Ready(
                                output.map(|response| response.map(ResponseBody::inner)),
                            );
                        }
                    }
                }
                StateProj::Finishing { finish, output } => {
                    ready!(finish.as_mut().poll(cx));
                    let Some(output) = output.take() else {
                        unreachable!("the output is taken only when leaving this state")
                    };
                    trace::record_elapsed(this.span, *this.started);
                    return Poll::Ready(output.map(|response| response.map(ResponseBody::inner)));
                }
                StateProj::Rejected { failure } => {
                    // The guard's answers were recorded when the guard gave them.
                    if let Failure::Rejected(kind) = failure {
                        trace::record_rejection(this.span, kind.code());
                    }
                    trace::record_elapsed(this.span, *this.started);
                    return Poll::Ready(Ok(failure.response()));
                }
            };
            this.state.set(next);
        }
    }
}

/// Claims `key`; the guard and key are owned so that the future can be boxed as `'static`.
fn admit(guard: &ReplayGuard, verifier: &Verifier, key: String) -> AdmitFuture {
    let guard = guard.clone();
    let completed_ttl = guard.completed_ttl_for(verifier);
    Box::pin(async move { guard.admit(&key, completed_ttl).await })
}

/// What the replay guard claims a delivery with: its dedup key, and the span's outcome if the
/// claim is fresh.
type Claim = (String, &'static str);

/// Checks the delivery and, on success, rebuilds the request around the very same bytes. What
/// a replay guard needs to claim it (the dedup key, and the outcome if it is fresh) is copied
/// out only when there is one.
fn verify(
    config: &Config,
    mut parts: Parts,
    bytes: Bytes,
    guarded: bool,
    span: &Span,
) -> Result<(Request<VerifiedBody>, Option<Claim>), Failure> {
    let headers = &parts.headers;
    let checked = __adapter::check_delivery(
        &config.verifier,
        &bytes,
        || {
            headers
                .get_all(SIGNATURE_HEADER)
                .iter()
                .map(HeaderValue::as_bytes)
        },
        headers
            .get_all(EVENT_HEADER)
            .iter()
            .map(HeaderValue::as_bytes),
        config.pass_invalid_event_data,
        guarded,
        span,
    )
    .map_err(|error| Failure::Rejected(error.kind()))?;
    let claim = guarded.then(|| (checked.dedup_key().as_str().to_owned(), checked.outcome()));
    match checked {
        Checked::Decoded(verified) => {
            parts.extensions.insert(verified);
        }
        Checked::Undecoded(undecoded) => {
            parts.extensions.insert(undecoded);
        }
    }
    Ok((Request::from_parts(parts, VerifiedBody::new(bytes)), claim))
}

fn declared_length(headers: &HeaderMap) -> Option<u64> {
    headers
        .get(CONTENT_LENGTH)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.trim().parse().ok())
}

/// Why the layer answered by itself.
#[derive(Debug, Clone, Copy)]
enum Failure {
    /// The delivery failed verification.
    Rejected(ErrorKind),
    /// The replay guard answered: a duplicate, a claim in flight, or the store unavailable.
    Guard(GuardAnswer),
}

impl Failure {
    fn response<B>(self) -> Response<ResponseBody<B>> {
        let (status, body) = match self {
            Failure::Rejected(kind) => (kind.status_code(), kind.response_body()),
            Failure::Guard(answer) => (answer.status_code(), answer.response_body()),
        };
        let mut response = Response::new(ResponseBody::rejection(body));
        *response.status_mut() = StatusCode::from_u16(status).unwrap_or(StatusCode::BAD_REQUEST);
        let headers = response.headers_mut();
        headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
        if matches!(self, Failure::Guard(answer) if answer.is_duplicate()) {
            headers.insert(
                HeaderName::from_static(DUPLICATE_HEADER),
                HeaderValue::from_static("true"),
            );
        }
        response
    }
}

/// The body read so far. A body that arrives in one frame is passed on as that very `Bytes`;
/// one that arrives in several is joined once, when its last frame is in. Holding the frames
/// until then, rather than a buffer of the declared length from the second frame on, keeps what
/// each request in flight holds to what it has received: with 16 connections sending 1 MiB
/// bodies, reserving the full length up front doubled the peak RSS (docs/benchmarks.md).
#[derive(Default)]
struct Collected {
    first: Bytes,
    more: Vec<Bytes>,
    len: usize,
}

impl Collected {
    fn push(&mut self, data: Bytes) {
        if data.is_empty() {
            return;
        }
        self.len += data.len();
        if self.first.is_empty() {
            self.first = data;
        } else {
            self.more.push(data);
        }
    }

    fn take(&mut self) -> Bytes {
        let first = std::mem::take(&mut self.first);
        if self.more.is_empty() {
            return first;
        }
        let mut joined = BytesMut::with_capacity(self.len);
        joined.extend_from_slice(&first);
        for frame in self.more.drain(..) {
            joined.extend_from_slice(&frame);
        }
        joined.freeze()
    }
}
