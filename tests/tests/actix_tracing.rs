//! What the actix-web extractor and middleware log over real HTTP: one span per delivery with
//! the same fields as the tower layer, each rejection once at info with its kind, a warning when
//! `X-Webhook-Event` disagrees with the signed body, an error saying how to register a missing
//! `Verifier`, and never a secret or a signature.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use actix_web::{App, HttpResponse, web};
use rxscale_webhooks_actix::testing::fixture_at;
use rxscale_webhooks_actix::{
    EventType, OffsetDateTime, SigningSecret, VerifiedEvent, VerifyWebhook, sign,
};
use rxscale_webhooks_tests::actix_server::serve;
use rxscale_webhooks_tests::client::post_to;
use rxscale_webhooks_tests::logs::capture_globally;
use rxscale_webhooks_tests::logs::{assert_no_secrets_or_signatures, assert_two_ways_in_logged};
use rxscale_webhooks_tests::{OTHER_SECRET, test_secret, test_verifier};

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
    assert_two_ways_in_logged(&logs, now, 7);
    assert_eq!(
        logs.lines()
            .filter(|line| line.contains("outcome=\"verifier_not_configured\""))
            .count(),
        1,
        "{logs}"
    );

    // The missing verifier: an error that says how to register one.
    assert!(
        logs.lines().any(|l| l.contains("ERROR")
            && l.contains("app_data(web::Data::new(verifier))")
            && l.contains("/unconfigured")),
        "{logs}"
    );

    assert_no_secrets_or_signatures(&logs, &[&good, &wrong, &oversized_sig]);
}
