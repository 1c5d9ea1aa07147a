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
