//! What the layer and the extractor log over real HTTP: one span per delivery with its fields,
//! rejections at debug with their kind, a warning when `X-Webhook-Event` disagrees with the
//! signed body, and never a secret or a signature.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use axum::Router;
use axum::http::StatusCode;
use axum::routing::post;
use rxscale_webhooks_axum::testing::fixture_at;
use rxscale_webhooks_axum::{EventType, SigningSecret, VerifiedEvent, VerifyLayer, sign};
use rxscale_webhooks_tests::axum_server::serve;
use rxscale_webhooks_tests::client::post_to;
use rxscale_webhooks_tests::logs::Captured;
use rxscale_webhooks_tests::logs::{assert_no_secrets_or_signatures, assert_two_ways_in_logged};
use rxscale_webhooks_tests::{OTHER_SECRET, test_secret, test_verifier};
use tracing_subscriber::fmt::format::FmtSpan;

// Single-threaded, so that the server's tasks run where the capturing subscriber is installed.
#[tokio::test(flavor = "current_thread")]
async fn spans_rejections_and_header_warnings_are_logged_without_secrets() {
    let captured = Captured::default();
    let subscriber = tracing_subscriber::fmt()
        .with_env_filter(
            "rxscale_webhooks=trace,rxscale_webhooks_tower=trace,rxscale_webhooks_axum=trace",
        )
        .with_span_events(FmtSpan::CLOSE)
        .with_ansi(false)
        .with_writer(captured.clone())
        .finish();
    let _guard = tracing::subscriber::set_default(subscriber);

    let ok = || async { StatusCode::OK };
    let extracted = |_: VerifiedEvent| async { StatusCode::OK };
    let app = Router::new()
        .route(
            "/layer",
            post(ok).route_layer(VerifyLayer::new(test_verifier())),
        )
        .route("/extractor", post(extracted))
        .with_state(test_verifier());
    let addr = serve(app).await;

    let now = rxscale_webhooks_axum::OffsetDateTime::now_utc().unix_timestamp();
    let body = fixture_at(EventType::PharmacyOrderCreated, now);
    let good = sign(&test_secret(), &body);
    let wrong = sign(&SigningSecret::new(OTHER_SECRET), &body);
    let oversized = vec![b' '; 70 * 1024];
    let oversized_sig = sign(&test_secret(), &oversized);

    for path in ["/layer", "/extractor"] {
        let mismatched_header = [
            ("x-webhook-signature", good.as_str()),
            ("x-webhook-event", "pharmacy_sku_stock_updated"),
        ];
        let (status, _) = post_to(addr, path, body.as_bytes(), &mismatched_header).await;
        assert_eq!(
            status, 200,
            "{path}: a disagreeing X-Webhook-Event is only a warning"
        );

        let (status, _) = post_to(
            addr,
            path,
            body.as_bytes(),
            &[("x-webhook-signature", &wrong)],
        )
        .await;
        assert_eq!(status, 401);
        let (status, _) = post_to(
            addr,
            path,
            &oversized,
            &[("x-webhook-signature", &oversized_sig)],
        )
        .await;
        assert_eq!(status, 413);
    }

    let logs = captured.text();
    assert_two_ways_in_logged(&logs, now, 6);

    assert_no_secrets_or_signatures(&logs, &[&good, &wrong, &oversized_sig]);
}
