//! Receives RxScale webhooks with axum.
//!
//! ```text
//! RXSCALE_WEBHOOK_SECRET=whsec_... cargo run -p examples --example axum_receiver
//! ```
//!
//! Serves `POST /webhooks/rxscale` on 127.0.0.1:3000 (`HOST` and `PORT` change that). Each
//! handled event prints one JSON line to stdout, then gets a 200. Deliveries that fail
//! verification never reach `handle`: they get 401, 413, 400 or 422 with a JSON error.

use axum::{Router, http::StatusCode, routing::post};
use rxscale_webhooks_axum::{SigningSecret, VerifiedEvent, Verifier};

#[tokio::main]
async fn main() {
    if let Err(error) = run().await {
        eprintln!("axum_receiver: {error}");
        std::process::exit(1);
    }
}

async fn run() -> Result<(), Box<dyn std::error::Error>> {
    let verifier = Verifier::builder()
        .secret(SigningSecret::from_env("RXSCALE_WEBHOOK_SECRET")?)
        .build()?;
    let host = std::env::var("HOST").unwrap_or_else(|_| "127.0.0.1".to_owned());
    let port: u16 = match std::env::var("PORT") {
        Ok(port) => port
            .parse()
            .map_err(|_| format!("PORT is not a port number: {port}"))?,
        Err(_) => 3000,
    };

    let app = Router::new()
        .route("/webhooks/rxscale", post(handle))
        .with_state(verifier);
    let listener = tokio::net::TcpListener::bind((host.as_str(), port)).await?;
    eprintln!(
        "listening on http://{}/webhooks/rxscale",
        listener.local_addr()?
    );
    axum::serve(listener, app).await?;
    Ok(())
}

async fn handle(VerifiedEvent(verified): VerifiedEvent) -> StatusCode {
    // RxScale retries until it gets a 2xx, so the same event may arrive again: deduplicate
    // on the key before doing anything that must happen once.
    let line = serde_json::json!({
        "handled": verified.event_type(),
        "key": verified.dedup_key().as_str(),
    });
    println!("{line}");
    StatusCode::OK
}
