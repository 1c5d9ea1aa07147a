//! Metrics over real HTTP on Rocket (the data guard and the fairing): the same known mix of
//! deliveries as tests/metrics_axum.rs, every series asserted exactly with `metrics-util`'s
//! debugging recorder installed; a binary of its own, since the recorder is global.

use rxscale_webhooks_tests::metrics_mix;
use rxscale_webhooks_tests::receiver::Framework;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_delivery_counts_once_with_exact_labels_on_rocket() {
    let snapshotter = metrics_mix::install_recorder();
    metrics_mix::run(Framework::Rocket, &snapshotter).await;
}
