//! Receives RxScale webhooks with actix-web, each event handled once.
//!
//! ```text
//! RXSCALE_WEBHOOK_SECRET=whsec_... cargo run -p examples --example actix_receiver
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

use std::time::Duration;

use actix_service::map_config;
use actix_web::dev::AppConfig;
use actix_web::{App, HttpResponse, web};
use examples::receiver;
use rxscale_webhooks_actix::{ExpectWithinLimit, VerifiedEvent, VerifyWebhook};

#[actix_web::main]
async fn main() {
    // Logs go to stderr; stdout carries one line per handled event. RUST_LOG overrides the
    // default, which shows every rejected delivery and the start-up warnings.
    receiver::log_to_stderr("info");
    if let Err(error) = run().await {
        eprintln!("actix_receiver: {error}");
        std::process::exit(1);
    }
}

async fn run() -> Result<(), Box<dyn std::error::Error>> {
    let verifier = receiver::verifier()?;
    let host = receiver::host();
    let port = receiver::port()?;
    let guard = receiver::replay_guard().await?;

    // Not `HttpServer`: it sends `100 Continue` before any middleware runs, so an oversized
    // upload would be invited before the 413. actix-http's builder takes `ExpectWithinLimit`,
    // which answers 413 instead (docs/actix.md, "Serving a public endpoint").
    let listener = std::net::TcpListener::bind((host.as_str(), port))?;
    eprintln!(
        "listening on http://{}/webhooks/rxscale",
        listener.local_addr()?
    );
    if examples::metrics::enabled() {
        serve_metrics(&host)?;
    }
    actix_server::Server::build()
        .listen("rxscale-webhooks", listener, move || {
            let middleware = VerifyWebhook::new(verifier.clone()).replay_guard(guard.clone());
            // A resource, not `App::route`, so that other methods get 405 rather than 404.
            let app = App::new().service(
                web::resource("/webhooks/rxscale").route(web::post().to(handle).wrap(middleware)),
            );
            actix_http::HttpService::build()
                .expect(ExpectWithinLimit::new(&verifier))
                // A request head must arrive within 2 s, an idle kept-alive connection closes
                // after 2 s, and after a refused body the connection closes within 1 s.
                .client_request_timeout(Duration::from_secs(2))
                .keep_alive(Duration::from_secs(2))
                .client_disconnect_timeout(Duration::from_secs(1))
                .finish(map_config(app, |_| AppConfig::default()))
                .tcp()
        })?
        .run()
        .await?;
    Ok(())
}

async fn handle(event: VerifiedEvent) -> HttpResponse {
    // Reached once per event: a 2xx marks it handled, anything else lets RxScale's retry in.
    receiver::print_handled(event.event_type(), event.dedup_key().as_str());
    HttpResponse::Ok().finish()
}

/// Installs the Prometheus recorder and serves it on `GET /metrics`, on `METRICS_PORT`, with a
/// server (one worker) of its own.
fn serve_metrics(host: &str) -> Result<(), Box<dyn std::error::Error>> {
    use examples::metrics;

    let handle = metrics::install_prometheus()?;
    let server = actix_web::HttpServer::new(move || {
        let handle = handle.clone();
        App::new().route(
            "/metrics",
            web::get().to(move || {
                let body = handle.render();
                async move {
                    HttpResponse::Ok()
                        .content_type(metrics::CONTENT_TYPE)
                        .body(body)
                }
            }),
        )
    })
    .workers(1)
    .bind((host, metrics::port()?))?;
    for addr in server.addrs() {
        eprintln!("metrics on http://{addr}/metrics");
    }
    actix_web::rt::spawn(server.run());
    Ok(())
}
