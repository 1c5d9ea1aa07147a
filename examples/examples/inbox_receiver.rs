//! Reply first, process durably: the reply-first twin of `pharmacy_receiver`.
//!
//! ```text
//! RXSCALE_WEBHOOK_SECRET=whsec_... DATABASE_URL=sqlite://pharmacy.db?mode=rwc \
//!     cargo run -p examples --example inbox_receiver
//! ```
//!
//! `POST /webhooks/rxscale` on 127.0.0.1:`PORT` (default 3000) verifies a delivery, stores it in
//! the inbox and answers 200 (200 with `X-Webhook-Duplicate: true` for a copy) before any
//! handler runs. Workers in this process then apply it to `orders`, `sku_stock` and
//! `effects_log` inside the ledger claim's transaction, in version order per order and SKU, and
//! print `{"handled":..,"key":..}` after each commit. `HANDLER_DELAY_MS` sleeps before the
//! commit; `data.uid`s in `HANDLER_FAIL_UIDS` (comma-separated) always fail, so they retry with
//! backoff and end as dead letters (`INBOX_MAX_ATTEMPTS`, default 4); see them with
//! `rxscale-webhooks inbox list`. `INBOX_LEASE_MS` (default 30000) is how long a crashed
//! worker's event waits before another takes it. On SQLite the inbox is the file `PATH.inbox`.

use std::{collections::HashSet, sync::Arc, time::Duration};

use axum::Router;
use rxscale_webhooks_axum::{Event, SigningSecret, Verified, Verifier};
use rxscale_webhooks_sqlx::sqlx::{self, Encode, Executor, IntoArguments, Pool, Transaction, Type};
use rxscale_webhooks_sqlx::{Backend, Claim, Inbox, InboxRoute, Ledger, postgres, sqlite};

const TABLES: [&str; 3] = [
    "CREATE TABLE IF NOT EXISTS orders (uid TEXT PRIMARY KEY, status TEXT NOT NULL, updated_at BIGINT NOT NULL)",
    "CREATE TABLE IF NOT EXISTS sku_stock (pharmacy_sku_uid TEXT PRIMARY KEY, stock BIGINT NOT NULL, updated_at BIGINT NOT NULL)",
    "CREATE TABLE IF NOT EXISTS effects_log (dedup_key TEXT NOT NULL)",
];
const UPSERT_ORDER: &str = "INSERT INTO orders (uid, status, updated_at) VALUES ($1, $2, $3) \
    ON CONFLICT (uid) DO UPDATE SET status = excluded.status, updated_at = excluded.updated_at";
const UPSERT_STOCK: &str = "INSERT INTO sku_stock (pharmacy_sku_uid, stock, updated_at) VALUES ($1, $2, $3) \
    ON CONFLICT (pharmacy_sku_uid) DO UPDATE SET stock = excluded.stock, updated_at = excluded.updated_at";

struct Config {
    delay: Duration,
    fail_uids: HashSet<String>,
    max_attempts: u32,
    lease: Duration,
}

#[tokio::main]
async fn main() {
    if let Err(error) = run().await {
        eprintln!("inbox_receiver: {error}");
        std::process::exit(1);
    }
}

fn env_number(name: &str, default: u64) -> Result<u64, String> {
    std::env::var(name).map_or(Ok(default), |v| {
        v.parse().map_err(|_| format!("{name} is not a number"))
    })
}

async fn run() -> Result<(), Box<dyn std::error::Error>> {
    let verifier = Verifier::builder()
        .secret(SigningSecret::from_env("RXSCALE_WEBHOOK_SECRET")?)
        .build()?;
    let port = u16::try_from(env_number("PORT", 3000)?).map_err(|_| "PORT is not a port number")?;
    let config = Arc::new(Config {
        delay: Duration::from_millis(env_number("HANDLER_DELAY_MS", 0)?),
        fail_uids: std::env::var("HANDLER_FAIL_UIDS")
            .unwrap_or_default()
            .split(',')
            .filter(|uid| !uid.is_empty())
            .map(str::to_owned)
            .collect(),
        max_attempts: u32::try_from(env_number("INBOX_MAX_ATTEMPTS", 4)?)?,
        lease: Duration::from_millis(env_number("INBOX_LEASE_MS", 30_000)?),
    });
    let url = std::env::var("DATABASE_URL").map_err(|_| "DATABASE_URL is not set")?;
    if url.starts_with("postgres:") || url.starts_with("postgresql:") {
        serve(postgres::pool(&url)?, None, verifier, port, config).await
    } else if url.starts_with("sqlite:") {
        serve(
            sqlite::pool(&url)?,
            Some(sqlite::inbox_pool(&url)?),
            verifier,
            port,
            config,
        )
        .await
    } else {
        Err("DATABASE_URL must start with postgres:// or sqlite://".into())
    }
}

// On SQLite the inbox has a file of its own, so that arrivals never wait for a handler's commit.
async fn serve<DB: Backend>(
    pool: Pool<DB>,
    inbox_pool: Option<Pool<DB>>,
    verifier: Verifier,
    port: u16,
    config: Arc<Config>,
) -> Result<(), Box<dyn std::error::Error>>
where
    for<'c> &'c mut DB::Connection: Executor<'c, Database = DB>,
    for<'q> DB::Arguments<'q>: IntoArguments<'q, DB>,
    for<'q> &'q str: Encode<'q, DB> + Type<DB>,
    for<'q> i64: Encode<'q, DB> + Type<DB>,
{
    let inbox = Inbox::new(Ledger::new());
    inbox
        .ledger()
        .migrate(&pool)
        .await
        .map_err(|error| format!("DATABASE_URL: {error}"))?;
    let store_pool = inbox_pool.clone().unwrap_or_else(|| pool.clone());
    inbox.migrate(&store_pool).await?;
    for table in TABLES {
        pool.execute(table).await?;
    }
    let (max_attempts, lease) = (config.max_attempts, config.lease);
    // The handler: effects in the claim's transaction; the worker marks the event done there.
    let handler = move |mut tx: Transaction<'static, DB>, event: Verified| {
        let config = Arc::clone(&config);
        async move {
            if event
                .event()
                .uid()
                .is_some_and(|uid| config.fail_uids.contains(uid))
            {
                return Err(
                    "the handler is configured to fail for this uid (HANDLER_FAIL_UIDS)".into(),
                );
            }
            match event.event() {
                Event::PharmacyOrderCreated(order) | Event::PharmacyOrderUpdated(order) => {
                    let (uid, status) = (order.uid.as_str(), order.status.as_str());
                    let updated_at = order.updated_at.unix_timestamp();
                    sqlx::query(UPSERT_ORDER)
                        .bind(uid)
                        .bind(status)
                        .bind(updated_at)
                        .execute(&mut *tx)
                        .await?;
                }
                Event::PharmacySkuStockUpdated(sku) => {
                    if let (Some(uid), Some(stock)) = (sku.uid.as_deref(), sku.stock) {
                        let updated_at =
                            sku.updated_at.unwrap_or(event.timestamp()).unix_timestamp();
                        sqlx::query(UPSERT_STOCK)
                            .bind(uid)
                            .bind(stock)
                            .bind(updated_at)
                            .execute(&mut *tx)
                            .await?;
                    }
                }
                _ => {}
            }
            let key = event.dedup_key().as_str();
            sqlx::query("INSERT INTO effects_log (dedup_key) VALUES ($1)")
                .bind(key)
                .execute(&mut *tx)
                .await?;
            tokio::time::sleep(config.delay).await;
            Ok::<_, Box<dyn std::error::Error + Send + Sync>>(tx)
        }
    };
    let mut worker = inbox
        .worker(pool.clone(), verifier.clone(), handler)
        .max_attempts(max_attempts)
        .lease(lease)
        .backoff(Duration::from_millis(200), Duration::from_secs(5))
        .on_done(|done| {
            if done.claim == Claim::Fresh {
                println!(
                    "{}",
                    serde_json::json!({"handled": done.event_type, "key": done.key})
                );
            }
        });
    if let Some(inbox_pool) = inbox_pool {
        worker = worker.inbox_pool(inbox_pool).concurrency(1); // SQLite: one writer anyway
    }
    let workers = worker.spawn();
    let router = Router::new().route(
        "/webhooks/rxscale",
        InboxRoute::new(inbox, store_pool, verifier).axum(),
    );
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", port)).await?;
    eprintln!(
        "listening on http://{}/webhooks/rxscale",
        listener.local_addr()?
    );
    axum::serve(listener, router)
        .with_graceful_shutdown(async {
            let _ = tokio::signal::ctrl_c().await;
        })
        .await?;
    workers.shutdown_within(Duration::from_secs(10)).await;
    Ok(())
}
