//! Real warp servers for the tests: on an ephemeral loopback port, in the background. A warp
//! filter is served either by warp itself or, as `warp::service`, behind a tower layer on hyper.

use std::convert::Infallible;
use std::net::SocketAddr;

use warp::Filter;
use warp::reply::Reply;

/// Serves `filter` with warp on an ephemeral port of 127.0.0.1 for as long as the test's
/// runtime lives, and returns the address.
pub async fn serve<F>(filter: F) -> SocketAddr
where
    F: Filter + Clone + Send + Sync + 'static,
    F::Extract: Reply,
{
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind 127.0.0.1:0");
    let addr = listener.local_addr().expect("a bound address");
    tokio::spawn(warp::serve(filter).incoming(listener).run());
    addr
}

/// The response body of a tower service wrapping `warp::service`.
pub type BoxBody = http_body_util::combinators::UnsyncBoxBody<bytes::Bytes, BoxError>;
/// A boxed error, for the boxed bodies.
pub type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// Serves a tower `service` (typically a layer around `warp::service(filter)`) with hyper on
/// `listener`, one connection per task, until the future is dropped.
pub async fn serve_tower_on<S, B>(
    listener: std::net::TcpListener,
    service: S,
) -> std::io::Result<()>
where
    S: tower::Service<
            http::Request<hyper::body::Incoming>,
            Response = http::Response<B>,
            Error = Infallible,
        > + Clone
        + Send
        + 'static,
    S::Future: Send + 'static,
    B: http_body::Body<Data = bytes::Bytes> + Send + 'static,
    B::Error: Into<BoxError>,
{
    use http_body_util::BodyExt as _;
    listener.set_nonblocking(true)?;
    let listener = tokio::net::TcpListener::from_std(listener)?;
    loop {
        let (stream, _) = listener.accept().await?;
        let service = service.clone();
        tokio::spawn(async move {
            let service = hyper::service::service_fn(move |request| {
                let call = tower::ServiceExt::oneshot(service.clone(), request);
                async move {
                    call.await.map(|response: http::Response<B>| {
                        response.map(|body| -> BoxBody { body.map_err(Into::into).boxed_unsync() })
                    })
                }
            });
            let _ = hyper::server::conn::http1::Builder::new()
                .serve_connection(hyper_util::rt::TokioIo::new(stream), service)
                .await;
        });
    }
}

/// [`serve_tower_on`] on an ephemeral port of 127.0.0.1, in the background.
pub fn serve_tower<S, B>(service: S) -> SocketAddr
where
    S: tower::Service<
            http::Request<hyper::body::Incoming>,
            Response = http::Response<B>,
            Error = Infallible,
        > + Clone
        + Send
        + 'static,
    S::Future: Send + 'static,
    B: http_body::Body<Data = bytes::Bytes> + Send + 'static,
    B::Error: Into<BoxError>,
{
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
    let addr = listener.local_addr().expect("a bound address");
    tokio::spawn(async move {
        serve_tower_on(listener, service)
            .await
            .expect("hyper serves")
    });
    addr
}

/// A warp route, boxed, answering with a response.
pub type Route = warp::filters::BoxedFilter<(warp::reply::Response,)>;

/// `route` as a tower service for hyper, with the `POST`s behind `layer` and every other method
/// straight to warp: a layer around all of `warp::service` would verify a `GET` too and answer
/// 401 where warp answers 405 (the reason axum's layer goes on the method router; see
/// docs/warp.md).
pub fn verify_posts(
    layer: rxscale_webhooks_tower::VerifyLayer,
    route: Route,
) -> impl tower::Service<
    http::Request<hyper::body::Incoming>,
    Response = http::Response<BoxBody>,
    Error = Infallible,
    Future = impl Send + 'static,
> + Clone
+ Send
+ 'static {
    use http_body_util::BodyExt as _;
    use tower::{Layer as _, ServiceExt as _};
    let verified = layer.layer(warp::service(route.clone()));
    let plain = warp::service(route);
    tower::service_fn(move |request: http::Request<hyper::body::Incoming>| {
        let (verified, plain) = (verified.clone(), plain.clone());
        async move {
            if request.method() == http::Method::POST {
                let response = verified.oneshot(request).await?;
                Ok(response.map(|body| body.map_err(Into::into).boxed_unsync()))
            } else {
                let response = plain.oneshot(request).await?;
                Ok(response.map(|body| body.map_err(Into::into).boxed_unsync()))
            }
        }
    })
}

/// An empty [`BoxBody`].
pub fn empty_body() -> BoxBody {
    use http_body_util::BodyExt as _;
    http_body_util::Empty::new()
        .map_err(|never| match never {})
        .boxed_unsync()
}
