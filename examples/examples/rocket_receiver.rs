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

use examples::receiver;
use rocket::config::LogLevel;
use rocket::fairing::AdHoc;
use rocket::http::Status;
use rxscale_webhooks_rocket::{VerifiedEvent, VerifyWebhooks};

#[rocket::main]
async fn main() {
    // Logs go to stderr; stdout carries one line per handled event. Rocket's own log reaches
    // tracing too (through `log`): by default only its errors.
    receiver::log_to_stderr("info,rocket=error,_=error");
    if let Err(error) = run().await {
        eprintln!("rocket_receiver: {error}");
        std::process::exit(1);
    }
}

async fn run() -> Result<(), Box<dyn std::error::Error>> {
    let verifier = receiver::verifier()?;
    let host = receiver::host();
    let address: std::net::IpAddr = host
        .parse()
        .map_err(|_| format!("HOST is not an IP address: {host}"))?;
    let port = receiver::port()?;
    let guard = receiver::replay_guard().await?;

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
                    && let Err(error) = examples::metrics::serve_with_axum(&host).await
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
    receiver::print_handled(event.event_type(), event.dedup_key().as_str());
    Status::Ok
}
