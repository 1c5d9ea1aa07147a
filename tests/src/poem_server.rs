//! Real poem servers for the tests: on an ephemeral loopback port, in the background.

use std::net::SocketAddr;

use poem::IntoEndpoint;
use poem::listener::TcpAcceptor;

/// Serves `app` on an ephemeral port of 127.0.0.1 for as long as the test's runtime lives, and
/// returns the address.
pub fn serve<E>(app: E) -> SocketAddr
where
    E: IntoEndpoint + Send + 'static,
    E::Endpoint: 'static,
{
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
    let addr = listener.local_addr().expect("a bound address");
    tokio::spawn(async move { serve_on(listener, app).await.expect("poem serves") });
    addr
}

/// Serves `app` on `listener` until the future is dropped.
pub async fn serve_on<E>(listener: std::net::TcpListener, app: E) -> std::io::Result<()>
where
    E: IntoEndpoint,
    E::Endpoint: 'static,
{
    listener.set_nonblocking(true)?;
    let acceptor = TcpAcceptor::from_std(listener)?;
    poem::Server::new_with_acceptor(acceptor).run(app).await
}
