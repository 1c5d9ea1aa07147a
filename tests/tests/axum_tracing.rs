//! What the layer and the extractor log over real HTTP: one span per delivery with its fields,
//! rejections at debug with their kind, a warning when `X-Webhook-Event` disagrees with the
//! signed body, and never a secret or a signature.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::net::SocketAddr;

use axum::Router;
use axum::http::StatusCode;
use axum::routing::post;
use rxscale_webhooks_axum::testing::fixture_at;
use rxscale_webhooks_axum::{EventType, SigningSecret, VerifiedEvent, VerifyLayer, sign};
use rxscale_webhooks_tests::axum_server::serve;
use rxscale_webhooks_tests::client::post_to;
use rxscale_webhooks_tests::logs::Captured;
use rxscale_webhooks_tests::{OTHER_SECRET, TEST_SECRET, test_secret, test_verifier};
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
    let lines = |needle: &str| logs.lines().filter(|line| line.contains(needle)).count();

    // One span per delivery, closed with its fields; the fingerprint, never the secret.
    let fingerprint = test_secret().fingerprint().to_string();
    let accepted = lines(&format!(
        "event_type=\"pharmacy_order_created\" dedup_key=\"pharmacy_order_created:{now}:po-abc123\" fingerprint={fingerprint} outcome=\"accepted\""
    ));
    // Per way in: the warning inside the accepted span, and the span's close, carry them.
    assert_eq!(accepted, 4, "accepted spans with all their fields:\n{logs}");
    assert_eq!(lines(" close "), 6, "one span per delivery:\n{logs}");
    assert_eq!(lines("outcome=\"signature_mismatch\""), 2, "{logs}");
    assert_eq!(lines("outcome=\"body_too_large\""), 2, "{logs}");
    assert!(lines("elapsed=") >= 6, "{logs}");

    // Each rejection logged once, at info, with its kind; a mismatch names the configured
    // secrets' fingerprints.
    for kind in ["signature_mismatch", "body_too_large"] {
        let rejected = logs
            .lines()
            .filter(|l| l.contains(" INFO ") && l.contains(&format!("kind=\"{kind}\"")))
            .count();
        assert_eq!(rejected, 2, "{kind}:\n{logs}");
    }
    assert!(
        logs.lines()
            .any(|l| l.contains("kind=\"signature_mismatch\"")
                && l.contains(&format!("configured=[{fingerprint}]"))),
        "{logs}"
    );

    // The disagreeing header, warned once per way in.
    let warnings = logs
        .lines()
        .filter(|l| l.contains("WARN") && l.contains("X-Webhook-Event disagrees"))
        .count();
    assert_eq!(warnings, 2, "{logs}");

    // Nothing secret.
    for secret in [TEST_SECRET, OTHER_SECRET, &TEST_SECRET[6..]] {
        assert!(!logs.contains(secret), "a secret was logged:\n{logs}");
    }
    for signature in [&good, &wrong, &oversized_sig] {
        assert!(
            !logs.contains(signature.as_str()),
            "a signature was logged:\n{logs}"
        );
        assert!(
            !logs.contains(&signature.to_ascii_uppercase()),
            "a signature was logged"
        );
    }
}
