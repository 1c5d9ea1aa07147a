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
use examples::pharmacy::{self, Store, env_millis, env_number};
use rxscale_webhooks_axum::{SigningSecret, Verified, Verifier};
use rxscale_webhooks_sqlx::sqlx::{Pool, Transaction};
use rxscale_webhooks_sqlx::{Claim, Inbox, InboxRoute, Ledger, postgres, sqlite};

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

async fn run() -> Result<(), Box<dyn std::error::Error>> {
    let verifier = Verifier::builder()
        .secret(SigningSecret::from_env("RXSCALE_WEBHOOK_SECRET")?)
        .build()?;
    let port = u16::try_from(env_number("PORT", 3000)?).map_err(|_| "PORT is not a port number")?;
    let fail_uids = std::env::var("HANDLER_FAIL_UIDS").unwrap_or_default();
    let config = Arc::new(Config {
        delay: env_millis("HANDLER_DELAY_MS", 0)?,
        fail_uids: fail_uids
            .split(',')
            .filter(|uid| !uid.is_empty())
            .map(str::to_owned)
            .collect(),
        max_attempts: u32::try_from(env_number("INBOX_MAX_ATTEMPTS", 4)?)?,
        lease: env_millis("INBOX_LEASE_MS", 30_000)?,
    });
    let url = std::env::var("DATABASE_URL").map_err(|_| "DATABASE_URL is not set")?;
    if url.starts_with("postgres:") || url.starts_with("postgresql:") {
        serve(postgres::pool(&url)?, None, verifier, port, config).await
    } else if url.starts_with("sqlite:") {
        let inbox_pool = Some(sqlite::inbox_pool(&url)?);
        serve(sqlite::pool(&url)?, inbox_pool, verifier, port, config).await
    } else {
        Err("DATABASE_URL must start with postgres:// or sqlite://".into())
    }
}

// On SQLite the inbox has a file of its own, so that arrivals never wait for a handler's commit.
async fn serve<DB: Store>(
    pool: Pool<DB>,
    inbox_pool: Option<Pool<DB>>,
    verifier: Verifier,
    port: u16,
    config: Arc<Config>,
) -> Result<(), Box<dyn std::error::Error>> {
    let inbox = Inbox::new(Ledger::new());
    let ledger_migrated = inbox.ledger().migrate(&pool).await;
    ledger_migrated.map_err(|error| format!("DATABASE_URL: {error}"))?;
    let store_pool = inbox_pool.clone().unwrap_or_else(|| pool.clone());
    inbox.migrate(&store_pool).await?;
    DB::create_tables(&pool).await?;
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
            DB::apply(&mut tx, &event).await?;
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
                pharmacy::print_handled(&done.event_type, &done.key);
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
