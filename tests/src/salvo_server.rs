//! Real salvo servers for the tests: on an ephemeral loopback port, in the background.

use std::net::SocketAddr;

use salvo::conn::tcp::TcpAcceptor;
use salvo::{Router, Server, Service};

/// Serves `router` on an ephemeral port of 127.0.0.1 for as long as the test's runtime lives,
/// and returns the address.
pub fn serve(router: Router) -> SocketAddr {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
    let addr = listener.local_addr().expect("a bound address");
    tokio::spawn(async move { serve_on(listener, router).await.expect("salvo serves") });
    addr
}

/// Serves `router` on `listener` until the future is dropped.
pub async fn serve_on(listener: std::net::TcpListener, router: Router) -> std::io::Result<()> {
    listener.set_nonblocking(true)?;
    let acceptor = TcpAcceptor::try_from(tokio::net::TcpListener::from_std(listener)?)?;
    Server::new(acceptor).serve(Service::new(router)).await;
    Ok(())
}
