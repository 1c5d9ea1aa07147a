//! Receives RxScale webhooks with actix-web.
//!
//! ```text
//! RXSCALE_WEBHOOK_SECRET=whsec_... cargo run -p examples --example actix_receiver
//! ```
//!
//! Serves `POST /webhooks/rxscale` on 127.0.0.1:3000 (`HOST` and `PORT` change that). Each
//! handled event prints one JSON line to stdout, then gets a 200. Deliveries that fail
//! verification never reach `handle`: they get 401, 413, 400 or 422 with a JSON error.

use actix_web::{App, HttpResponse, HttpServer, web};
use rxscale_webhooks_actix::{SigningSecret, VerifiedEvent, Verifier};

#[actix_web::main]
async fn main() {
    if let Err(error) = run().await {
        eprintln!("actix_receiver: {error}");
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

    let verifier = web::Data::new(verifier);
    let server = HttpServer::new(move || {
        // A resource, not `App::route`, so that other methods get 405 rather than 404.
        App::new()
            .app_data(verifier.clone())
            .service(web::resource("/webhooks/rxscale").route(web::post().to(handle)))
    })
    .bind((host.as_str(), port))?;
    for addr in server.addrs() {
        eprintln!("listening on http://{addr}/webhooks/rxscale");
    }
    server.run().await?;
    Ok(())
}

async fn handle(event: VerifiedEvent) -> HttpResponse {
    // RxScale retries until it gets a 2xx, so the same event may arrive again: deduplicate
    // on the key before doing anything that must happen once.
    let line = serde_json::json!({
        "handled": event.event_type(),
        "key": event.dedup_key().as_str(),
    });
    println!("{line}");
    HttpResponse::Ok().finish()
}
