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
//! worker's event waits before another takes it. On SQLite the inbox is the file `PATH.inbox`,
//! so that arrivals never wait for a handler's commit.

use std::{collections::HashSet, error::Error, time::Duration};

use axum::Router;
use examples::pharmacy::{Store, env_millis, env_number};
use examples::receiver;
use rxscale_webhooks_axum::{SigningSecret, Verified, Verifier};
use rxscale_webhooks_sqlx::sqlx::Transaction;
use rxscale_webhooks_sqlx::{Claim, Inbox, InboxPools, InboxRoute, Ledger};

#[tokio::main]
async fn main() {
    if let Err(error) = run().await {
        eprintln!("inbox_receiver: {error}");
        std::process::exit(1);
    }
}

async fn run() -> Result<(), Box<dyn Error>> {
    let url = std::env::var("DATABASE_URL").map_err(|_| "DATABASE_URL is not set")?;
    if url.starts_with("postgres:") || url.starts_with("postgresql:") {
        serve(InboxPools::postgres(&url)?).await
    } else if url.starts_with("sqlite:") {
        serve(InboxPools::sqlite(&url)?).await // the inbox in PATH.inbox
    } else {
        Err("DATABASE_URL must start with postgres:// or sqlite://".into())
    }
}

async fn serve<DB: Store>(pools: InboxPools<DB>) -> Result<(), Box<dyn Error>> {
    let verifier = Verifier::builder()
        .secret(SigningSecret::from_env("RXSCALE_WEBHOOK_SECRET")?)
        .build()?;
    let port = receiver::port()?;
    let delay = env_millis("HANDLER_DELAY_MS", 0)?;
    let fail_uids = std::env::var("HANDLER_FAIL_UIDS").unwrap_or_default();
    let fail_uids: HashSet<String> = fail_uids.split(',').map(str::to_owned).collect();
    let inbox = Inbox::new(Ledger::new());
    let migrated = inbox.migrate_all(&pools).await;
    migrated.map_err(|error| format!("DATABASE_URL: {error}"))?;
    DB::create_tables(pools.effects()).await?;
    // The handler: effects in the claim's transaction; the worker marks the event done.
    let handler = move |mut tx: Transaction<'static, DB>, event: Verified| {
        let uid = event.event().uid().unwrap_or_default();
        let fails = !uid.is_empty() && fail_uids.contains(uid);
        async move {
            if fails {
                return Err(
                    "the handler is configured to fail for this uid (HANDLER_FAIL_UIDS)".into(),
                );
            }
            DB::apply(&mut tx, &event)
                .await
                .map_err(|e| e.to_string())?;
            tokio::time::sleep(delay).await;
            Ok::<_, String>(tx)
        }
    };
    let workers = inbox
        .worker(pools.clone(), verifier.clone(), handler)
        .max_attempts(u32::try_from(env_number("INBOX_MAX_ATTEMPTS", 4)?)?)
        .lease(env_millis("INBOX_LEASE_MS", 30_000)?)
        .backoff(Duration::from_millis(200), Duration::from_secs(5))
        .on_done(|done| {
            if done.claim == Claim::Fresh {
                receiver::print_handled(&done.event_type, &done.key);
            }
        })
        .spawn();
    let route = InboxRoute::new(inbox, pools, verifier).axum();
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", port)).await?;
    eprintln!(
        "listening on http://{}/webhooks/rxscale",
        listener.local_addr()?
    );
    axum::serve(listener, Router::new().route("/webhooks/rxscale", route))
        .with_graceful_shutdown(async {
            let _ = tokio::signal::ctrl_c().await;
        })
        .await?;
    workers.shutdown_within(Duration::from_secs(10)).await;
    Ok(())
}
