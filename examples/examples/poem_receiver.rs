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

use poem::http::StatusCode;
use poem::listener::TcpAcceptor;
use poem::{EndpointExt as _, Route, Server, handler, post};
use rxscale_webhooks_poem::{ReplayGuard, SigningSecret, VerifiedEvent, Verifier, VerifyWebhook};
use rxscale_webhooks_redis::RedisStore;
use tracing_subscriber::EnvFilter;

#[tokio::main]
async fn main() {
    // Logs go to stderr; stdout carries one line per handled event.
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .init();
    if let Err(error) = run().await {
        eprintln!("poem_receiver: {error}");
        std::process::exit(1);
    }
}

async fn run() -> Result<(), Box<dyn std::error::Error>> {
    let mut verifier =
        Verifier::builder().secret(SigningSecret::from_env("RXSCALE_WEBHOOK_SECRET")?);
    if let Ok(ms) = std::env::var("RXSCALE_BODY_READ_TIMEOUT_MS") {
        let ms = ms
            .parse()
            .map_err(|_| "RXSCALE_BODY_READ_TIMEOUT_MS is not a number of milliseconds")?;
        verifier = verifier.body_read_timeout(std::time::Duration::from_millis(ms));
    }
    let verifier = verifier.build()?;
    let host = std::env::var("HOST").unwrap_or_else(|_| "127.0.0.1".to_owned());
    let port: u16 = match std::env::var("PORT") {
        Ok(port) => port
            .parse()
            .map_err(|_| format!("PORT is not a port number: {port}"))?,
        Err(_) => 3000,
    };
    let guard = match std::env::var("RXSCALE_REDIS_URL") {
        Ok(url) => ReplayGuard::new(
            RedisStore::connect(&url)
                .await
                .map_err(|error| format!("RXSCALE_REDIS_URL: {error}"))?,
        ),
        Err(_) => ReplayGuard::in_memory(),
    };

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
    let line = serde_json::json!({
        "handled": event.event_type(),
        "key": event.dedup_key().as_str(),
    });
    println!("{line}");
    StatusCode::OK
}
