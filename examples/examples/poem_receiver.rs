//! Receives RxScale webhooks with poem, each event handled once.
//!
//! ```text
//! RXSCALE_WEBHOOK_SECRET=whsec_... cargo run -p examples --example poem_receiver
//! ```
//!
//! The same contract as `axum_receiver`: serves `POST /webhooks/rxscale` on 127.0.0.1:3000
//! (`HOST` and `PORT` change that). Each handled event prints one JSON line to stdout, then gets
//! a 200. Deliveries that fail verification never reach `handle` (401, 413, 400 or 422), nor do
//! redeliveries of a handled event (200 with `X-Webhook-Duplicate: true`). Claims live in Redis
//! when `RXSCALE_REDIS_URL` is set (several comma-separated `redis://` node URLs: a Redis
//! Cluster), and in memory otherwise. A body still arriving 2 s after its request head is
//! answered 408 (`RXSCALE_BODY_READ_TIMEOUT_MS` changes that). A connection on which nothing
//! was read or written for 2 s is closed.
//!
//! Logs go to stderr: `RUST_LOG` sets the filter, and by default (`info`) every rejected delivery
//! shows there with its reason.

use std::time::Duration;

use examples::receiver;
use poem::http::StatusCode;
use poem::listener::TcpAcceptor;
use poem::{EndpointExt as _, Route, Server, handler, post};
use rxscale_webhooks_poem::{VerifiedEvent, VerifyWebhook};

#[tokio::main]
async fn main() {
    // Logs go to stderr; stdout carries one line per handled event.
    receiver::log_to_stderr("info");
    if let Err(error) = run().await {
        eprintln!("poem_receiver: {error}");
        std::process::exit(1);
    }
}

async fn run() -> Result<(), Box<dyn std::error::Error>> {
    let verifier = receiver::verifier()?;
    let host = receiver::host();
    let port = receiver::port()?;
    let guard = receiver::replay_guard().await?;

    // The middleware on the POST method only, so that other methods get poem's 405.
    let verify = VerifyWebhook::new(verifier).replay_guard(guard);
    let app = Route::new().at("/webhooks/rxscale", post(handle.with(verify)));
    let listener = std::net::TcpListener::bind((host.as_str(), port))?;
    listener.set_nonblocking(true)?;
    eprintln!(
        "listening on http://{}/webhooks/rxscale",
        listener.local_addr()?
    );
    // poem closes a connection on which nothing was read or written for 2 s: silent sockets,
    // heads sent in part then stalled, idle kept-alive connections (docs/poem.md). poem has no
    // header-read timeout: a head trickled byte by byte stays open.
    Server::new_with_acceptor(TcpAcceptor::from_std(listener)?)
        .idle_timeout(Duration::from_secs(2))
        .run(app)
        .await?;
    Ok(())
}

#[handler]
fn handle(event: VerifiedEvent) -> StatusCode {
    // Reached once per event: a 2xx marks it handled, anything else lets RxScale's retry in.
    receiver::print_handled(event.event_type(), event.dedup_key().as_str());
    StatusCode::OK
}
