//! Receives RxScale webhooks with axum, each event handled once.
//!
//! ```text
//! RXSCALE_WEBHOOK_SECRET=whsec_... cargo run -p examples --example axum_receiver
//! ```
//!
//! Serves `POST /webhooks/rxscale` on 127.0.0.1:3000 (`HOST` and `PORT` change that). Each
//! handled event prints one JSON line to stdout, then gets a 200. Deliveries that fail
//! verification never reach `handle` (401, 413, 400 or 422), nor do redeliveries of a handled
//! event (200 with `X-Webhook-Duplicate: true`). Claims live in Redis when `RXSCALE_REDIS_URL`
//! is set (several comma-separated `redis://` node URLs: a Redis Cluster), so that several
//! instances share them, and in memory otherwise. A body still arriving 2 s after its request
//! head is answered 408 (`RXSCALE_BODY_READ_TIMEOUT_MS` changes that).
//!
//! Logs go to stderr: `RUST_LOG` sets the filter, and by default (`info`) every rejected delivery
//! shows there with its reason.
//!
//! With `RXSCALE_METRICS=1` it also serves the SDK's metrics (docs/observability.md) in
//! Prometheus' text format on `GET /metrics`, on a port of its own: `METRICS_PORT`, by default
//! 9464, on the same `HOST`.

use axum::{Router, http::StatusCode, routing::post};
use examples::receiver;
use rxscale_webhooks_axum::{VerifiedEvent, VerifyLayer};

#[tokio::main]
async fn main() {
    // Logs go to stderr; stdout carries one line per handled event. RUST_LOG overrides the
    // default, which shows every rejected delivery and the start-up warnings.
    receiver::log_to_stderr("info");
    if let Err(error) = run().await {
        eprintln!("axum_receiver: {error}");
        std::process::exit(1);
    }
}

async fn run() -> Result<(), Box<dyn std::error::Error>> {
    let verifier = receiver::verifier()?;
    let host = receiver::host();
    let port = receiver::port()?;
    let guard = receiver::replay_guard().await?;

    let layer = VerifyLayer::new(verifier.clone()).replay_guard(guard);
    let app = Router::new()
        .route("/webhooks/rxscale", post(handle).route_layer(layer))
        .with_state(verifier);
    let listener = tokio::net::TcpListener::bind((host.as_str(), port)).await?;
    let addr = listener.local_addr()?;
    eprintln!("listening on http://{addr}/webhooks/rxscale");
    if examples::metrics::enabled() {
        examples::metrics::serve_with_axum(&host).await?;
    }
    // Not `axum::serve`: this one has a header-read timeout and sheds idle connections
    // (docs/axum.md, "Serving a public endpoint").
    rxscale_webhooks_axum::serve(listener, app).await?;
    Ok(())
}

async fn handle(VerifiedEvent(verified): VerifiedEvent) -> StatusCode {
    // Reached once per event: a 2xx marks it handled, anything else lets RxScale's retry in.
    receiver::print_handled(verified.event_type(), verified.dedup_key().as_str());
    StatusCode::OK
}
