use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll, ready};

use http::{Request, Response};
use http_body::Body;
use pin_project_lite::pin_project;
use rxscale_webhooks::pipeline::{CheckedDelivery, Delivery, Pipeline, Rejection, settle};
use rxscale_webhooks::replay::Admission;
use tower_service::Service;

use crate::body::{ResponseBody, VerifiedBody};
use crate::collect::{Collect, Refused};
use crate::discard::RefusedBody;
use crate::response::rejection_response;

pin_project! {
    /// The response future of [`Verify`](crate::Verify): reads and checks the body through the
    /// core's [`pipeline`](rxscale_webhooks::pipeline), claims the delivery with the replay
    /// guard if there is one, then runs the wrapped service, or answers by itself.
    pub struct ResponseFuture<S, B>
    where
        S: Service<Request<VerifiedBody>>,
    {
        #[pin]
        state: State<S, S::Future, B, Result<S::Response, S::Error>>,
        delivery: Delivery,
    }
}

/// The guard's futures are `async fn`s of the core; boxing them keeps this future nameable.
/// Only deliveries behind a guard pay for the allocation.
type AdmitFuture = Pin<Box<dyn Future<Output = Result<Option<Admission>, Rejection>> + Send>>;
type FinishFuture = Pin<Box<dyn Future<Output = ()> + Send>>;

pin_project! {
    #[project = StateProj]
    enum State<S, F, B, O> {
        Reading {
            #[pin]
            collect: Collect<B>,
            pending: Option<(http::request::Parts, S, Pipeline)>,
        },
        Admitting {
            admit: AdmitFuture,
            call: Option<(S, Request<VerifiedBody>)>,
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
            rejection: Option<Rejection>,
            rest: Option<RefusedBody>,
        },
    }
}

impl<S, B> ResponseFuture<S, B>
where
    S: Service<Request<VerifiedBody>>,
    B: Body + Send + 'static,
{
    pub(crate) fn new(request: Request<B>, inner: S, pipeline: Pipeline) -> Self {
        let delivery = Delivery::start();
        let (parts, body) = request.into_parts();
        let state = {
            let _entered = delivery.span().enter();
            match Collect::new(&pipeline, &parts.headers, body) {
                Ok(collect) => State::Reading {
                    collect,
                    pending: Some((parts, inner, pipeline)),
                },
                Err(Refused { rejection, rest }) => State::Rejected {
                    rejection: Some(rejection),
                    rest,
                },
            }
        };
        ResponseFuture { state, delivery }
    }
}

impl<S, B, ResBody> Future for ResponseFuture<S, B>
where
    S: Service<Request<VerifiedBody>, Response = Response<ResBody>>,
    B: Body + Send + 'static,
    B::Error: std::fmt::Display,
{
    type Output = Result<Response<ResponseBody<ResBody>>, S::Error>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let mut this = self.project();
        let delivery = &*this.delivery;
        let _entered = delivery.span().enter();
        loop {
            let next = match this.state.as_mut().project() {
                StateProj::Reading { collect, pending } => {
                    let read = ready!(collect.poll(cx));
                    let Some((mut parts, mut inner, pipeline)) = pending.take() else {
                        unreachable!("the request is taken only when leaving this state")
                    };
                    let headers = &parts.headers;
                    let checked = read.and_then(|bytes| {
                        let lookup = |name| headers.get_all(name).iter().map(|v| v.as_bytes());
                        match pipeline.check(lookup, &bytes, delivery) {
                            Ok(checked) => Ok((bytes, checked)),
                            Err(rejection) => Err(Refused {
                                rejection,
                                rest: None,
                            }),
                        }
                    });
                    match checked {
                        Ok((bytes, checked)) => {
                            let claim = pipeline.claim(&checked, delivery);
                            match checked {
                                CheckedDelivery::Decoded(verified) => {
                                    parts.extensions.insert(verified);
                                }
                                CheckedDelivery::Undecoded(undecoded) => {
                                    parts.extensions.insert(undecoded);
                                }
                            }
                            let request = Request::from_parts(parts, VerifiedBody::new(bytes));
                            match claim {
                                Some(claim) => State::Admitting {
                                    admit: Box::pin(claim.admit()),
                                    call: Some((inner, request)),
                                },
                                None => State::Calling {
                                    future: inner.call(request),
                                    admission: None,
                                },
                            }
                        }
                        Err(Refused { rejection, rest }) => State::Rejected {
                            rejection: Some(rejection),
                            rest,
                        },
                    }
                }
                StateProj::Admitting { admit, call } => {
                    let admitted = ready!(admit.as_mut().poll(cx));
                    let Some((mut inner, request)) = call.take() else {
                        unreachable!("the request is taken only when leaving this state")
                    };
                    match admitted {
                        Ok(admission) => State::Calling {
                            future: inner.call(request),
                            admission,
                        },
                        Err(rejection) => State::Rejected {
                            rejection: Some(rejection),
                            rest: None,
                        },
                    }
                }
                StateProj::Calling { future, admission } => {
                    let output = ready!(future.poll(cx));
                    if let Ok(response) = &output {
                        let headers = response.headers();
                        delivery.record_answer(response.status().as_u16(), |name| {
                            headers.get_all(name).iter().map(|value| value.as_bytes())
                        });
                    }
                    match admission.take() {
                        Some(admission) => {
                            let succeeded = matches!(
                                &output,
                                Ok(response) if response.status().is_success()
                            );
                            State::Finishing {
                                finish: Box::pin(settle(admission, succeeded)),
                                output: Some(output),
                            }
                        }
                        None => {
                            delivery.finish();
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
                    delivery.finish();
                    return Poll::Ready(output.map(|response| response.map(ResponseBody::inner)));
                }
                StateProj::Rejected { rejection, rest } => {
                    let Some(rejection) = rejection.take() else {
                        unreachable!("the rejection is taken only when the future completes")
                    };
                    delivery.record(rejection.outcome());
                    delivery.finish();
                    return Poll::Ready(Ok(rejection_response(rejection, rest.take())));
                }
            };
            this.state.set(next);
        }
    }
}
