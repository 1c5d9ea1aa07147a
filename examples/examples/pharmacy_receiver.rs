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
use rxscale_webhooks_axum::{Event, SigningSecret, VerifiedEvent, Verifier};
use rxscale_webhooks_sqlx::sqlx::{self, Database, Encode, Executor, IntoArguments, Pool, Type};
use rxscale_webhooks_sqlx::{Backend, Claim, Error, Ledger, postgres, sqlite};

const TABLES: [&str; 3] = [
    "CREATE TABLE IF NOT EXISTS orders (uid TEXT PRIMARY KEY, status TEXT NOT NULL, updated_at BIGINT NOT NULL)",
    "CREATE TABLE IF NOT EXISTS sku_stock (pharmacy_sku_uid TEXT PRIMARY KEY, stock BIGINT NOT NULL, updated_at BIGINT NOT NULL)",
    "CREATE TABLE IF NOT EXISTS effects_log (dedup_key TEXT NOT NULL)",
];
// The ledger orders events per order and SKU, so a plain upsert never goes back in time.
const UPSERT_ORDER: &str = "INSERT INTO orders (uid, status, updated_at) VALUES ($1, $2, $3) \
    ON CONFLICT (uid) DO UPDATE SET status = excluded.status, updated_at = excluded.updated_at";
const UPSERT_STOCK: &str = "INSERT INTO sku_stock (pharmacy_sku_uid, stock, updated_at) \
    VALUES ($1, $2, $3) ON CONFLICT (pharmacy_sku_uid) \
    DO UPDATE SET stock = excluded.stock, updated_at = excluded.updated_at";

struct App<DB: Database> {
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
    let number = |name: &str, default: u64| {
        let value = env::var(name).map_or(Ok(default), |value| value.parse());
        value.map_err(|_| format!("{name} is not a number"))
    };
    let body_read_timeout = Duration::from_millis(number("RXSCALE_BODY_READ_TIMEOUT_MS", 2000)?);
    let verifier = Verifier::builder()
        .secret(SigningSecret::from_env("RXSCALE_WEBHOOK_SECRET")?)
        .body_read_timeout(body_read_timeout)
        .build()?;
    let port = u16::try_from(number("PORT", 3000)?).map_err(|_| "PORT is not a port number")?;
    let delay = Duration::from_millis(number("HANDLER_DELAY_MS", 0)?);
    let url = env::var("DATABASE_URL").map_err(|_| "DATABASE_URL is not set")?;
    if url.starts_with("postgres:") || url.starts_with("postgresql:") {
        serve(postgres::pool(&url)?, verifier, port, delay).await
    } else if url.starts_with("sqlite:") {
        serve(sqlite::pool(&url)?, verifier, port, delay).await
    } else {
        Err("DATABASE_URL must start with postgres:// or sqlite://".into())
    }
}

async fn serve<DB: Backend>(
    pool: Pool<DB>,
    verifier: Verifier,
    port: u16,
    delay: Duration,
) -> Result<(), Box<dyn std::error::Error>>
where
    for<'c> &'c mut DB::Connection: Executor<'c, Database = DB>,
    for<'q> DB::Arguments<'q>: IntoArguments<'q, DB>,
    for<'q> &'q str: Encode<'q, DB> + Type<DB>,
    for<'q> i64: Encode<'q, DB> + Type<DB>,
{
    let ledger = Ledger::new();
    ledger
        .migrate(&pool)
        .await
        .map_err(|error| format!("DATABASE_URL: {error}"))?;
    for table in TABLES {
        pool.execute(table).await?;
    }
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
async fn handle<DB: Backend>(
    Extension(app): Extension<Arc<App<DB>>>,
    VerifiedEvent(verified): VerifiedEvent,
) -> Result<Claim, Error>
where
    for<'c> &'c mut DB::Connection: Executor<'c, Database = DB>,
    for<'q> DB::Arguments<'q>: IntoArguments<'q, DB>,
    for<'q> &'q str: Encode<'q, DB> + Type<DB>,
    for<'q> i64: Encode<'q, DB> + Type<DB>,
{
    let mut tx = app.ledger.begin(&app.pool).await?;
    let claim = app.ledger.claim(&mut tx, &verified).await?;
    if !claim.is_fresh() {
        tx.commit().await?;
        return Ok(claim);
    }
    match verified.event() {
        Event::PharmacyOrderCreated(order) | Event::PharmacyOrderUpdated(order) => {
            sqlx::query(UPSERT_ORDER)
                .bind(order.uid.as_str())
                .bind(order.status.as_str())
                .bind(order.updated_at.unix_timestamp())
                .execute(&mut *tx)
                .await?;
        }
        Event::PharmacySkuStockUpdated(sku) => {
            if let (Some(uid), Some(stock)) = (sku.uid.as_deref(), sku.stock) {
                let updated_at = sku.updated_at.unwrap_or(verified.timestamp());
                sqlx::query(UPSERT_STOCK)
                    .bind(uid)
                    .bind(stock)
                    .bind(updated_at.unix_timestamp())
                    .execute(&mut *tx)
                    .await?;
            }
        }
        _ => {}
    }
    sqlx::query("INSERT INTO effects_log (dedup_key) VALUES ($1)")
        .bind(verified.dedup_key().as_str())
        .execute(&mut *tx)
        .await?;
    tokio::time::sleep(app.delay).await;
    tx.commit().await?;
    let key = verified.dedup_key().as_str();
    println!(
        "{}",
        serde_json::json!({"handled": verified.event_type(), "key": key})
    );
    Ok(claim)
}
