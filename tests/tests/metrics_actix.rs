//! Metrics over real HTTP on actix-web (the middleware): the mix of tests/metrics_axum.rs, every
//! series asserted exactly with `metrics-util`'s debugging recorder installed.

use rxscale_webhooks_tests::metrics_mix;
use rxscale_webhooks_tests::receiver::Framework;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_delivery_counts_once_with_exact_labels_on_actix() {
    let snapshotter = metrics_mix::install_recorder();
    metrics_mix::run(Framework::Actix, &snapshotter).await;
}
