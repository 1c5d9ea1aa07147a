//! Pharmacy state kept exactly once and in order, in your own database (docs/exactly-once.md).
//!
//! ```text
//! RXSCALE_WEBHOOK_SECRET=whsec_... DATABASE_URL=sqlite://pharmacy.db?mode=rwc \
//!     cargo run -p examples --example pharmacy_receiver
//! ```
//!
//! Serves `POST /webhooks/rxscale` on 127.0.0.1:`PORT` (default 3000); `DATABASE_URL` is
//! `postgres://...` or `sqlite://PATH?mode=rwc`. On start: the ledger's migrations, then the
//! tables `orders`, `sku_stock` and `effects_log`. After each commit, one JSON line on stdout.
//! `HANDLER_DELAY_MS` sleeps after the effects and before the commit. A body still arriving 2 s
//! after its request head is answered 408 (`RXSCALE_BODY_READ_TIMEOUT_MS` changes that).

use std::{env, sync::Arc, time::Duration};

use axum::{Extension, Router, routing::post};
use examples::pharmacy::{Store, env_millis};
use examples::receiver;
use rxscale_webhooks_axum::{SigningSecret, VerifiedEvent, Verifier};
use rxscale_webhooks_sqlx::sqlx::Pool;
use rxscale_webhooks_sqlx::{Claim, Error, Ledger, postgres, sqlite};

struct App<DB: Store> {
    pool: Pool<DB>,
    ledger: Ledger,
    delay: Duration,
}

#[tokio::main]
async fn main() {
    if let Err(error) = run().await {
        eprintln!("pharmacy_receiver: {error}");
        std::process::exit(1);
    }
}

async fn run() -> Result<(), Box<dyn std::error::Error>> {
    let verifier = Verifier::builder()
        .secret(SigningSecret::from_env("RXSCALE_WEBHOOK_SECRET")?)
        .body_read_timeout(env_millis("RXSCALE_BODY_READ_TIMEOUT_MS", 2000)?)
        .build()?;
    let port = receiver::port()?;
    let delay = env_millis("HANDLER_DELAY_MS", 0)?;
    let url = env::var("DATABASE_URL").map_err(|_| "DATABASE_URL is not set")?;
    if url.starts_with("postgres:") || url.starts_with("postgresql:") {
        serve(postgres::pool(&url)?, verifier, port, delay).await
    } else if url.starts_with("sqlite:") {
        serve(sqlite::pool(&url)?, verifier, port, delay).await
    } else {
        Err("DATABASE_URL must start with postgres:// or sqlite://".into())
    }
}

async fn serve<DB: Store>(
    pool: Pool<DB>,
    verifier: Verifier,
    port: u16,
    delay: Duration,
) -> Result<(), Box<dyn std::error::Error>> {
    let ledger = Ledger::new();
    ledger
        .migrate(&pool)
        .await
        .map_err(|error| format!("DATABASE_URL: {error}"))?;
    DB::create_tables(&pool).await?;
    let app = Arc::new(App {
        pool,
        ledger,
        delay,
    });
    let router = Router::new()
        .route("/webhooks/rxscale", post(handle::<DB>))
        .layer(Extension(app))
        .with_state(verifier);
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", port)).await?;
    eprintln!(
        "listening on http://{}/webhooks/rxscale",
        listener.local_addr()?
    );
    // Not `axum::serve`: this one has a header-read timeout and sheds idle connections
    // (docs/axum.md, "Serving a public endpoint").
    rxscale_webhooks_axum::serve(listener, router).await?;
    Ok(())
}

/// Begin, claim, apply, commit. Answers 200, marked `X-Webhook-Duplicate` or `X-Webhook-Stale`
/// when nothing was applied; 503 when the database cannot be reached; verification failures
/// are answered by `VerifiedEvent` (401, 413, 400 or 422).
async fn handle<DB: Store>(
    Extension(app): Extension<Arc<App<DB>>>,
    VerifiedEvent(verified): VerifiedEvent,
) -> Result<Claim, Error> {
    let mut tx = app.ledger.begin(&app.pool).await?;
    let claim = app.ledger.claim(&mut tx, &verified).await?;
    if claim.is_fresh() {
        DB::apply(&mut tx, &verified).await?;
        tokio::time::sleep(app.delay).await;
    }
    tx.commit().await?;
    if claim.is_fresh() {
        receiver::print_handled(verified.event_type(), verified.dedup_key().as_str());
    }
    Ok(claim)
}
