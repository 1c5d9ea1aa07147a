//! The replay tests' receiver as a process of its own, so that a test can SIGKILL it in the
//! middle of a handler, as a crashed instance.
//!
//! Configured by the environment:
//!
//! | variable | meaning | default |
//! |---|---|---|
//! | `RXSCALE_WEBHOOK_SECRET` | the signing secret | required |
//! | `RXSCALE_REDIS_URL` | the shared Redis | required |
//! | `PORT` | port on 127.0.0.1, `0` for an ephemeral one | `0` |
//! | `HANDLER_SLEEP_MS` | how long the handler takes | `0` |
//! | `LEASE_MS` | the claims' lease | the guard's default, 60 000 |
//!
//! Prints `listening <port>` once bound, then `handling <dedup_key>` whenever the handler is
//! entered, on stdout. Errors go to stderr with a failing exit.

use std::time::Duration;

use rxscale_webhooks::{ReplayGuard, SigningSecret, Verifier};
use rxscale_webhooks_redis::RedisStore;
use rxscale_webhooks_tests::receiver::{Handler, app};

type BoxError = Box<dyn std::error::Error>;

#[tokio::main]
async fn main() {
    if let Err(error) = run().await {
        eprintln!("axum_test_receiver: {error}");
        std::process::exit(1);
    }
}

fn millis(name: &str) -> Result<Option<Duration>, BoxError> {
    match std::env::var(name) {
        Ok(value) => Ok(Some(Duration::from_millis(
            value
                .parse()
                .map_err(|_| format!("{name} is not a number"))?,
        ))),
        Err(_) => Ok(None),
    }
}

async fn run() -> Result<(), BoxError> {
    let verifier = Verifier::builder()
        .secret(SigningSecret::from_env("RXSCALE_WEBHOOK_SECRET")?)
        .max_age(Duration::from_secs(600))
        .build()?;
    let url = std::env::var("RXSCALE_REDIS_URL").map_err(|_| "RXSCALE_REDIS_URL is required")?;
    let mut guard = ReplayGuard::new(RedisStore::connect(&url).await?);
    if let Some(lease) = millis("LEASE_MS")? {
        guard = guard.lease(lease);
    }
    let handler = Handler::new()
        .sleep(millis("HANDLER_SLEEP_MS")?.unwrap_or_default())
        .announcing();
    let port: u16 = std::env::var("PORT")
        .unwrap_or_else(|_| "0".to_owned())
        .parse()?;

    let listener = tokio::net::TcpListener::bind(("127.0.0.1", port)).await?;
    println!("listening {}", listener.local_addr()?.port());
    axum::serve(listener, app(verifier, guard, handler)).await?;
    Ok(())
}
