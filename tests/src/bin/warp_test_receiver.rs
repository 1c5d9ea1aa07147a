//! The replay tests' warp receiver as a process of its own, so that a test can SIGKILL it in
//! the middle of a handler, as a crashed instance. Configured and behaving exactly like
//! `axum_test_receiver` (see its table of environment variables).

use rxscale_webhooks_tests::receiver::{Framework, run_test_receiver_process};

#[tokio::main]
async fn main() {
    run_test_receiver_process(Framework::WarpBehindTower).await;
}
