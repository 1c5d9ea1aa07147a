//! Real actix-web servers for the tests: on an ephemeral loopback port, in the background.

use std::net::{SocketAddr, TcpListener};

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceFactory, ServiceRequest, ServiceResponse};
use actix_web::{App, HttpServer};

/// Starts the apps `factory` builds on an ephemeral port of 127.0.0.1 with one worker, for as
/// long as the test's runtime lives, and returns the address.
pub fn serve<F, T, B>(factory: F) -> SocketAddr
where
    F: Fn() -> App<T> + Send + Clone + 'static,
    T: ServiceFactory<
            ServiceRequest,
            Config = (),
            Response = ServiceResponse<B>,
            Error = actix_web::Error,
            InitError = (),
        > + 'static,
    B: MessageBody + 'static,
{
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
    let addr = listener.local_addr().expect("a bound address");
    let server = HttpServer::new(factory)
        .workers(1)
        .disable_signals()
        .listen(listener)
        .expect("actix-web takes the listener")
        .run();
    tokio::spawn(server);
    addr
}
