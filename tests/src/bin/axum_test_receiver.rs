//! The replay tests' axum receiver as a process of its own, so that a test can SIGKILL it in
//! the middle of a handler, as a crashed instance.
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
//! entered, on stdout. Errors go to stderr with a failing exit. `actix_test_receiver` is the
//! same receiver on actix-web.

use rxscale_webhooks_tests::receiver::{Framework, run_test_receiver_process};

#[tokio::main]
async fn main() {
    run_test_receiver_process(Framework::Axum).await;
}
