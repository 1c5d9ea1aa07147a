//! The Rocket crate's own promises over real HTTP: the `json/rxscale-webhook` limit (and no
//! fallback to `json`), the 500 without the fairing, and a handler that takes the rejection
//! still answering with it.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::net::SocketAddr;

use rocket::data::{Limits, ToByteUnit as _};
use rocket::http::Status;
use rxscale_webhooks::testing::fixture_at;
use rxscale_webhooks::{EventType, sign};
use rxscale_webhooks_rocket::{LIMIT_NAME, VerifiedEvent, VerifyWebhooks, WebhookRejection};
use rxscale_webhooks_tests::receiver::now;
use rxscale_webhooks_tests::{rocket_server, test_secret, test_verifier};

#[rocket::post("/webhooks/rxscale", data = "<event>")]
fn handle(event: VerifiedEvent) -> Status {
    let _ = event.dedup_key();
    Status::Ok
}

/// A genuine delivery of about 2 KiB: status and body.
async fn deliver(addr: SocketAddr) -> (u16, String) {
    let body = fixture_at(EventType::PharmacyOrderCreated, now());
    assert!(body.len() > 1024, "the fixture is larger than 1 KiB");
    let response = reqwest::Client::new()
        .post(format!("http://{addr}/webhooks/rxscale"))
        .header("content-type", "application/json")
        .header("x-webhook-signature", sign(&test_secret(), &body))
        .body(body)
        .send()
        .await
        .unwrap();
    (response.status().as_u16(), response.text().await.unwrap())
}

async fn serve(limits: Limits, fairing: bool) -> SocketAddr {
    let config = rocket::Config {
        limits,
        ..rocket_server::config(0)
    };
    let mut rocket = rocket::custom(config).mount("/", rocket::routes![handle]);
    if fairing {
        rocket = rocket.attach(VerifyWebhooks::new(test_verifier()));
    }
    rocket_server::serve(rocket).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_rocket_limit_json_rxscale_webhook_applies_and_json_does_not() {
    let named = Limits::default().limit(LIMIT_NAME, 1.kibibytes());
    let (status, body) = deliver(serve(named, true).await).await;
    assert_eq!(status, 413);
    assert_eq!(body, r#"{"error":"body_too_large"}"#);

    // Only `json` at 1 KiB: the guard does not fall back to it, the verifier's limit applies.
    let json = Limits::default().limit("json", 1.kibibytes());
    assert_eq!(deliver(serve(json, true).await).await.0, 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_the_fairing_every_delivery_is_500() {
    let (status, _) = deliver(serve(Limits::default(), false).await).await;
    assert_eq!(status, 500);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_handler_that_takes_the_rejection_still_answers_with_it() {
    #[rocket::post("/webhooks/rxscale", data = "<event>")]
    fn lenient(event: Result<VerifiedEvent, WebhookRejection>) -> Status {
        match event {
            Ok(_) => Status::Ok,
            Err(rejection) => {
                assert_eq!(rejection.status(), Status::Unauthorized);
                Status::Accepted
            }
        }
    }
    let rocket = rocket::custom(rocket_server::config(0))
        .attach(VerifyWebhooks::new(test_verifier()))
        .mount("/", rocket::routes![lenient]);
    let addr = rocket_server::serve(rocket).await;
    let body = fixture_at(EventType::PharmacyOrderCreated, now());
    let response = reqwest::Client::new()
        .post(format!("http://{addr}/webhooks/rxscale"))
        .header("x-webhook-signature", "0".repeat(64))
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 401);
    assert_eq!(
        response.text().await.unwrap(),
        r#"{"error":"signature_mismatch"}"#
    );
}
