//! Receives RxScale webhooks with salvo, each event handled once.
//!
//! ```text
//! RXSCALE_WEBHOOK_SECRET=whsec_... cargo run -p examples --example salvo_receiver
//! ```
//!
//! The same contract as `axum_receiver`: serves `POST /webhooks/rxscale` on 127.0.0.1:3000
//! (`HOST` and `PORT` change that). Each handled event prints one JSON line to stdout, then gets
//! a 200. Deliveries that fail verification never reach `handle` (401, 413, 400 or 422), nor do
//! redeliveries of a handled event (200 with `X-Webhook-Duplicate: true`). Claims live in Redis
//! when `RXSCALE_REDIS_URL` is set (several comma-separated `redis://` node URLs: a Redis
//! Cluster), and in memory otherwise. A body still arriving 2 s after its request head is
//! answered 408 (`RXSCALE_BODY_READ_TIMEOUT_MS` changes that). A connection whose request head
//! has not fully arrived 2 s after it opened, or after its last answer, is closed.
//!
//! Logs go to stderr: `RUST_LOG` sets the filter, and by default (`info`) every rejected delivery
//! shows there with its reason. salvo 1 needs Rust 1.95.

use examples::receiver;
use rxscale_webhooks_salvo::{VerifiedEvent, VerifyWebhook};
use std::time::Duration;

use salvo::conn::tcp::TcpAcceptor;
use salvo::fuse::FuseConfig;
use salvo::http::StatusCode;
use salvo::prelude::*;

#[tokio::main]
async fn main() {
    // Logs go to stderr; stdout carries one line per handled event.
    receiver::log_to_stderr("info");
    if let Err(error) = run().await {
        eprintln!("salvo_receiver: {error}");
        std::process::exit(1);
    }
}

async fn run() -> Result<(), Box<dyn std::error::Error>> {
    let verifier = receiver::verifier()?;
    let host = receiver::host();
    let port = receiver::port()?;
    let guard = receiver::replay_guard().await?;

    // The hoop on the router that holds the POST goal, so that other methods get salvo's 405.
    let router = Router::new().push(
        Router::with_path("webhooks/rxscale")
            .hoop(VerifyWebhook::new(verifier).replay_guard(guard))
            .post(handle),
    );
    let listener = tokio::net::TcpListener::bind((host.as_str(), port)).await?;
    eprintln!(
        "listening on http://{}/webhooks/rxscale",
        listener.local_addr()?
    );
    // salvo's fuse closes a connection whose request head has not fully arrived 2 s after it
    // opened or after its last answer (salvo's default is 30 s): slowloris heads, silent and
    // idle kept-alive sockets (docs/salvo.md).
    let fuse = FuseConfig::default().with_http1_header_timeout(Duration::from_secs(2));
    Server::new(TcpAcceptor::try_from(listener)?)
        .fuse_config(fuse)
        .serve(router)
        .await;
    Ok(())
}

#[handler]
async fn handle(event: VerifiedEvent, res: &mut Response) {
    // Reached once per event: a 2xx marks it handled, anything else lets RxScale's retry in.
    receiver::print_handled(event.event_type(), event.dedup_key().as_str());
    res.status_code(StatusCode::OK);
}
