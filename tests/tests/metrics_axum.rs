//! Metrics over real HTTP on axum (the tower layer): a known mix of deliveries, every series
//! asserted exactly with `metrics-util`'s debugging recorder installed. The actix-web twin is
//! tests/metrics_actix.rs; each has a binary of its own, since the recorder is global.

use rxscale_webhooks_tests::metrics_mix;
use rxscale_webhooks_tests::receiver::Framework;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_delivery_counts_once_with_exact_labels_on_axum() {
    let snapshotter = metrics_mix::install_recorder();
    metrics_mix::run(Framework::Axum, &snapshotter).await;
}
