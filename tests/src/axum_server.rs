//! Real axum servers for the tests: on an ephemeral loopback port, in the background.

use std::net::SocketAddr;

use axum::Router;

/// Serves `app` on an ephemeral port of 127.0.0.1 for as long as the test's runtime lives, and
/// returns the address.
pub async fn serve(app: Router) -> SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind 127.0.0.1:0");
    let addr = listener.local_addr().expect("a bound address");
    tokio::spawn(async move { axum::serve(listener, app).await.expect("axum serves") });
    addr
}

/// The reference every other framework's matrix is compared with, case by case: `POST` on
/// `path` behind `rxscale_webhooks_axum::VerifyLayer` with [`crate::test_verifier`], on the
/// method router (so that other methods get axum's 405), and a handler that counts its calls.
pub async fn reference_target(path: &str) -> crate::matrix::Target {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};

    let calls = Arc::new(AtomicUsize::new(0));
    let counter = calls.clone();
    let handler = move || async move {
        counter.fetch_add(1, Ordering::SeqCst);
        axum::http::StatusCode::OK
    };
    let layer = rxscale_webhooks_axum::VerifyLayer::new(crate::test_verifier());
    let app = Router::new().route(path, axum::routing::post(handler).route_layer(layer));
    crate::matrix::Target {
        addr: serve(app).await,
        path: path.to_owned(),
        handler_calls: calls,
    }
}
