//! Test your own actix-web handlers end to end without computing HMACs by hand: everything from
//! the core's [`rxscale_webhooks::testing`] (fixtures for every event type, [`TestDelivery`]),
//! plus [`request`], which turns a delivery into a signed `actix_web::test::TestRequest`.
//!
//! ```
//! use actix_web::{App, HttpResponse, http::StatusCode, test, web};
//! use rxscale_webhooks_actix::testing::{TestDelivery, request};
//! use rxscale_webhooks_actix::{EventType, SigningSecret, VerifiedEvent, Verifier, VerifyWebhook};
//!
//! // The handler under test, as in your application.
//! async fn handle(event: VerifiedEvent) -> HttpResponse {
//!     match event.event_type() {
//!         "pharmacy_order_created" => HttpResponse::Ok().finish(),
//!         _ => HttpResponse::Accepted().finish(),
//!     }
//! }
//!
//! # #[actix_web::main]
//! # async fn main() {
//! let secret = SigningSecret::new("whsec_test");
//! let verifier = Verifier::builder().secret(secret.clone()).build().unwrap();
//! let app = test::init_service(App::new().service(
//!     web::resource("/webhooks/rxscale")
//!         .route(web::post().to(handle).wrap(VerifyWebhook::new(verifier))),
//! ))
//! .await;
//!
//! let genuine = TestDelivery::new(&secret).event(EventType::PharmacyOrderCreated).build();
//! let response = test::call_service(&app, request("/webhooks/rxscale", &genuine).to_request()).await;
//! assert_eq!(response.status(), StatusCode::OK);
//!
//! let forged = TestDelivery::new(&secret).wrong_secret().build();
//! let response = test::call_service(&app, request("/webhooks/rxscale", &forged).to_request()).await;
//! assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
//! # }
//! ```

use actix_web::test::TestRequest;

#[doc(no_inline)]
pub use rxscale_webhooks::testing::*;

/// A `POST` to `uri` carrying `delivery`'s body and headers exactly as RxScale sends them.
#[must_use]
pub fn request(uri: &str, delivery: &Delivery) -> TestRequest {
    let mut request = TestRequest::post().uri(uri);
    for (name, value) in delivery.headers() {
        request = request.insert_header((*name, value.as_str()));
    }
    request.set_payload(delivery.body().to_vec())
}
