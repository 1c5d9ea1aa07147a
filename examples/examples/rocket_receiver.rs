//! Receives RxScale webhooks with Rocket, each event handled once.
//!
//! ```text
//! RXSCALE_WEBHOOK_SECRET=whsec_... cargo run -p examples --example rocket_receiver
//! ```
//!
//! The same contract as `axum_receiver`: serves `POST /webhooks/rxscale` on 127.0.0.1:3000
//! (`HOST`, an IP address, and `PORT` change that). Each handled event prints one JSON line to
//! stdout, then gets a 200. Deliveries that fail verification never reach `handle` (401, 413,
//! 400 or 422), nor do redeliveries of a handled event (200 with `X-Webhook-Duplicate: true`).
//! Claims live in Redis when `RXSCALE_REDIS_URL` is set (several comma-separated `redis://`
//! node URLs: a Redis Cluster), so that several instances share them, and in memory otherwise.
//! A body still arriving 2 s after the guard starts reading it is answered 408
//! (`RXSCALE_BODY_READ_TIMEOUT_MS` changes that). Each connection is closed after its answer
//! (no keep-alive). Rocket has no header-read timeout: put a proxy that has one in front of a
//! public Rocket receiver (docs/rocket.md).
//!
//! Logs go to stderr: `RUST_LOG` sets the filter, and by default (`info`) every rejected delivery
//! shows there with its reason, and Rocket's own errors.
//!
//! With `RXSCALE_METRICS=1` it also serves the SDK's metrics (docs/observability.md) in
//! Prometheus' text format on `GET /metrics`, on a port of its own: `METRICS_PORT`, by default
//! 9464, on the same `HOST`.

use rocket::config::LogLevel;
use rocket::fairing::AdHoc;
use rocket::http::Status;
use rxscale_webhooks_redis::RedisStore;
use rxscale_webhooks_rocket::{
    ReplayGuard, SigningSecret, VerifiedEvent, Verifier, VerifyWebhooks,
};
use tracing_subscriber::EnvFilter;

#[rocket::main]
async fn main() {
    // Logs go to stderr; stdout carries one line per handled event. Rocket's own log reaches
    // tracing too (through `log`): by default only its errors.
    let filter = EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| EnvFilter::new("info,rocket=error,_=error"));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .init();
    if let Err(error) = run().await {
        eprintln!("rocket_receiver: {error}");
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
    let address: std::net::IpAddr = host
        .parse()
        .map_err(|_| format!("HOST is not an IP address: {host}"))?;
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

    let config = rocket::Config {
        address,
        port,
        // Rocket 0.5 has no idle timeout for HTTP/1 (`keep_alive` only switches keep-alive on
        // or off) and no header-read timeout: each connection is closed after its answer, so
        // that no kept-alive connection idles for ever (docs/rocket.md, "Hostile clients").
        keep_alive: 0,
        log_level: LogLevel::Off,
        cli_colors: false,
        ..rocket::Config::release_default()
    };
    let _ = rocket::custom(config)
        .attach(VerifyWebhooks::new(verifier).replay_guard(guard))
        .attach(AdHoc::on_liftoff("banner", move |rocket| {
            let config = rocket.config();
            eprintln!(
                "listening on http://{}:{}/webhooks/rxscale",
                config.address, config.port
            );
            Box::pin(async move {
                if examples::metrics::enabled()
                    && let Err(error) = serve_metrics(&host).await
                {
                    eprintln!("rocket_receiver: {error}");
                    std::process::exit(1);
                }
            })
        }))
        .mount("/", rocket::routes![handle])
        .launch()
        .await?;
    Ok(())
}

#[rocket::post("/webhooks/rxscale", data = "<event>")]
fn handle(event: VerifiedEvent) -> Status {
    // Reached once per event: a 2xx marks it handled, anything else lets RxScale's retry in.
    let line = serde_json::json!({
        "handled": event.event_type(),
        "key": event.dedup_key().as_str(),
    });
    println!("{line}");
    Status::Ok
}

/// Installs the Prometheus recorder and serves it on `GET /metrics`, on `METRICS_PORT` (with
/// axum, as `axum_receiver` does: a second Rocket would be heavier for one route).
async fn serve_metrics(host: &str) -> Result<(), Box<dyn std::error::Error>> {
    use axum::http::header::CONTENT_TYPE;
    use examples::metrics;

    let handle = metrics::install_prometheus()?;
    let listener = tokio::net::TcpListener::bind((host, metrics::port()?)).await?;
    eprintln!("metrics on http://{}/metrics", listener.local_addr()?);
    let app = axum::Router::new().route(
        "/metrics",
        axum::routing::get(move || {
            std::future::ready(([(CONTENT_TYPE, metrics::CONTENT_TYPE)], handle.render()))
        }),
    );
    tokio::spawn(async move { axum::serve(listener, app).await });
    Ok(())
}
