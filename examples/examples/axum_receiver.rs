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
use rxscale_webhooks_axum::{ReplayGuard, SigningSecret, VerifiedEvent, Verifier, VerifyLayer};
use rxscale_webhooks_redis::RedisStore;
use tracing_subscriber::EnvFilter;

#[tokio::main]
async fn main() {
    // Logs go to stderr; stdout carries one line per handled event. RUST_LOG overrides the
    // default, which shows every rejected delivery and the start-up warnings.
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .init();
    if let Err(error) = run().await {
        eprintln!("axum_receiver: {error}");
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

    let layer = VerifyLayer::new(verifier.clone()).replay_guard(guard);
    let app = Router::new()
        .route("/webhooks/rxscale", post(handle).route_layer(layer))
        .with_state(verifier);
    let listener = tokio::net::TcpListener::bind((host.as_str(), port)).await?;
    let addr = listener.local_addr()?;
    eprintln!("listening on http://{addr}/webhooks/rxscale");
    if examples::metrics::enabled() {
        serve_metrics(&host).await?;
    }
    // Not `axum::serve`: this one has a header-read timeout and sheds idle connections
    // (docs/axum.md, "Serving a public endpoint").
    rxscale_webhooks_axum::serve(listener, app).await?;
    Ok(())
}

async fn handle(VerifiedEvent(verified): VerifiedEvent) -> StatusCode {
    // Reached once per event: a 2xx marks it handled, anything else lets RxScale's retry in.
    let line = serde_json::json!({
        "handled": verified.event_type(),
        "key": verified.dedup_key().as_str(),
    });
    println!("{line}");
    StatusCode::OK
}

/// Installs the Prometheus recorder and serves it on `GET /metrics`, on `METRICS_PORT`.
async fn serve_metrics(host: &str) -> Result<(), Box<dyn std::error::Error>> {
    use axum::http::header::CONTENT_TYPE;
    use examples::metrics;

    let handle = metrics::install_prometheus()?;
    let listener = tokio::net::TcpListener::bind((host, metrics::port()?)).await?;
    eprintln!("metrics on http://{}/metrics", listener.local_addr()?);
    let app = Router::new().route(
        "/metrics",
        axum::routing::get(move || {
            std::future::ready(([(CONTENT_TYPE, metrics::CONTENT_TYPE)], handle.render()))
        }),
    );
    tokio::spawn(async move { axum::serve(listener, app).await });
    Ok(())
}
