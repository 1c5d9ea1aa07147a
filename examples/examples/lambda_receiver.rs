//! Receives RxScale webhooks on AWS Lambda, behind API Gateway or a function URL.
//!
//! ```text
//! cargo lambda watch -p examples --example lambda_receiver \
//!     --env-var RXSCALE_WEBHOOK_SECRET=whsec_...
//! ```
//!
//! The same axum `Router` as `axum_receiver`, with the same `VerifyLayer` and replay guard, run
//! by `lambda_http::run` instead of a TCP listener: `lambda_http` turns each API Gateway REST
//! (v1), HTTP API (v2) or function-URL event into an `http::Request`, decoding a base64 body
//! back to the bytes RxScale signed, and the router's response into the event's reply.
//!
//! It answers `POST /webhooks/rxscale`. Each handled event prints one JSON line to stdout, then
//! gets a 200. Deliveries that fail verification never reach `handle` (401, 413, 400 or 422),
//! nor do redeliveries of a handled event (200 with `X-Webhook-Duplicate: true`). Claims live in
//! Redis when `RXSCALE_REDIS_URL` is set (several comma-separated `redis://` node URLs: a Redis
//! Cluster); without it they live in the memory of one Lambda instance, which forgets them when
//! the instance goes and never shares them with the others (docs/lambda.md).
//!
//! A REST API prefixes the stage to the path (`/prod/webhooks/rxscale`); set
//! `AWS_LAMBDA_HTTP_IGNORE_STAGE_IN_PATH=true` on the function to route without it.
//!
//! Logs go to stderr: `RUST_LOG` sets the filter, and by default (`info`) every rejected delivery
//! shows there with its reason.

use axum::{Router, http::StatusCode, routing::post};
use examples::receiver;
use rxscale_webhooks_axum::{SigningSecret, VerifiedEvent, Verifier, VerifyLayer};
use tracing_subscriber::EnvFilter;

#[tokio::main]
async fn main() {
    // CloudWatch keeps both streams; stdout carries one line per handled event. No colours and
    // no time stamps: CloudWatch adds its own.
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(false)
        .without_time()
        .init();
    if let Err(error) = run().await {
        eprintln!("lambda_receiver: {error}");
        std::process::exit(1);
    }
}

async fn run() -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
    // Built once per instance (a cold start), then reused by every invocation it serves.
    let verifier = Verifier::builder()
        .secret(SigningSecret::from_env("RXSCALE_WEBHOOK_SECRET")?)
        .build()?;
    let guard = receiver::replay_guard().await?;

    let layer = VerifyLayer::new(verifier.clone()).replay_guard(guard);
    let app = Router::new()
        .route("/webhooks/rxscale", post(handle).route_layer(layer))
        .with_state(verifier);
    lambda_http::run(app).await
}

async fn handle(VerifiedEvent(verified): VerifiedEvent) -> StatusCode {
    // Reached once per event: a 2xx marks it handled, anything else lets RxScale's retry in.
    receiver::print_handled(verified.event_type(), verified.dedup_key().as_str());
    StatusCode::OK
}
