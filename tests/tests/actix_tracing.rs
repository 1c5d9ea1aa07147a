//! What the actix-web extractor and middleware log over real HTTP: one span per delivery with
//! the same fields as the tower layer, each rejection once at info with its kind, a warning when
//! `X-Webhook-Event` disagrees with the signed body, an error saying how to register a missing
//! `Verifier`, and never a secret or a signature.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::net::SocketAddr;

use actix_web::{App, HttpResponse, web};
use rxscale_webhooks_actix::testing::fixture_at;
use rxscale_webhooks_actix::{
    EventType, OffsetDateTime, SigningSecret, VerifiedEvent, VerifyWebhook, sign,
};
use rxscale_webhooks_tests::actix_server::serve;
use rxscale_webhooks_tests::client::post_to;
use rxscale_webhooks_tests::logs::capture_globally;
use rxscale_webhooks_tests::{OTHER_SECRET, TEST_SECRET, test_secret, test_verifier};

// actix-web runs handlers on its own worker threads, so the subscriber is global; this file
// holds a single test so that nothing else writes to it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn spans_rejections_and_header_warnings_are_logged_without_secrets() {
    let captured = capture_globally("rxscale_webhooks=trace,rxscale_webhooks_actix=trace");

    async fn ok() -> HttpResponse {
        HttpResponse::Ok().finish()
    }
    async fn extracted(_: VerifiedEvent) -> HttpResponse {
        HttpResponse::Ok().finish()
    }
    let verifier = web::Data::new(test_verifier());
    let addr = serve(move || {
        App::new()
            .route(
                "/middleware",
                web::post().to(ok).wrap(VerifyWebhook::new(test_verifier())),
            )
            .route("/unconfigured", web::post().to(extracted))
            .service(
                web::scope("")
                    .app_data(verifier.clone())
                    .route("/extractor", web::post().to(extracted)),
            )
    });

    let now = OffsetDateTime::now_utc().unix_timestamp();
    let body = fixture_at(EventType::PharmacyOrderCreated, now);
    let good = sign(&test_secret(), &body);
    let wrong = sign(&SigningSecret::new(OTHER_SECRET), &body);
    let oversized = vec![b' '; 70 * 1024];
    let oversized_sig = sign(&test_secret(), &oversized);

    for path in ["/middleware", "/extractor"] {
        let mismatched_header = [
            ("x-webhook-signature", good.as_str()),
            ("x-webhook-event", "pharmacy_sku_stock_updated"),
        ];
        let (status, _) = post_to(addr, path, body.as_bytes(), &mismatched_header).await;
        assert_eq!(
            status, 200,
            "{path}: a disagreeing X-Webhook-Event is only a warning"
        );
        let signed_wrong = [("x-webhook-signature", wrong.as_str())];
        let (status, _) = post_to(addr, path, body.as_bytes(), &signed_wrong).await;
        assert_eq!(status, 401);
        let too_large = [("x-webhook-signature", oversized_sig.as_str())];
        let (status, _) = post_to(addr, path, &oversized, &too_large).await;
        assert_eq!(status, 413);
    }
    let signed = [("x-webhook-signature", good.as_str())];
    let (status, _) = post_to(addr, "/unconfigured", body.as_bytes(), &signed).await;
    assert_eq!(status, 500);

    let logs = captured.text();
    let lines = |needle: &str| logs.lines().filter(|line| line.contains(needle)).count();

    // One span per delivery, closed with its fields; the fingerprint, never the secret.
    let fingerprint = test_secret().fingerprint().to_string();
    let accepted = lines(&format!(
        "event_type=\"pharmacy_order_created\" dedup_key=\"pharmacy_order_created:{now}:po-abc123\" fingerprint={fingerprint} outcome=\"accepted\""
    ));
    // Per way in: the warning inside the accepted span, and the span's close, carry them.
    assert_eq!(accepted, 4, "accepted spans with all their fields:\n{logs}");
    assert_eq!(lines(" close "), 7, "one span per delivery:\n{logs}");
    assert_eq!(lines("outcome=\"verifier_not_configured\""), 1, "{logs}");
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

    // The missing verifier: an error that says how to register one.
    assert!(
        logs.lines().any(|l| l.contains("ERROR")
            && l.contains("app_data(web::Data::new(verifier))")
            && l.contains("/unconfigured")),
        "{logs}"
    );

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
