//! Test your own axum handlers end to end without computing HMACs by hand: everything from the
//! core's [`rxscale_webhooks::testing`] (fixtures for every event type, [`TestDelivery`]), plus
//! [`request`], which turns a delivery into a signed `http::Request` for `Router::oneshot`.
//!
//! ```
//! use axum::{Router, http::StatusCode, routing::post};
//! use rxscale_webhooks_axum::testing::{TestDelivery, request};
//! use rxscale_webhooks_axum::{EventType, SigningSecret, VerifiedEvent, Verifier};
//! use tower::ServiceExt; // for `oneshot`
//!
//! // The handler under test, as in your application.
//! async fn handle(VerifiedEvent(verified): VerifiedEvent) -> StatusCode {
//!     match verified.event_type() {
//!         "pharmacy_order_created" => StatusCode::OK,
//!         _ => StatusCode::ACCEPTED,
//!     }
//! }
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() {
//! let secret = SigningSecret::new("whsec_test");
//! let verifier = Verifier::builder().secret(secret.clone()).build().unwrap();
//! let app = Router::new().route("/webhooks/rxscale", post(handle)).with_state(verifier);
//!
//! let genuine = TestDelivery::new(&secret).event(EventType::PharmacyOrderCreated).build();
//! let response = app.clone().oneshot(request("/webhooks/rxscale", &genuine)).await.unwrap();
//! assert_eq!(response.status(), StatusCode::OK);
//!
//! let forged = TestDelivery::new(&secret).wrong_secret().build();
//! let response = app.oneshot(request("/webhooks/rxscale", &forged)).await.unwrap();
//! assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
//! # }
//! ```

use axum::body::Body;
use axum::http::{Method, Request};

#[doc(no_inline)]
pub use rxscale_webhooks::testing::*;

/// A `POST` to `uri` carrying `delivery`'s body and headers exactly as RxScale sends them.
///
/// # Panics
///
/// If `uri` is not a valid request URI (a test-authoring mistake).
#[must_use]
pub fn request(uri: &str, delivery: &Delivery) -> Request<Body> {
    let mut builder = Request::builder().method(Method::POST).uri(uri);
    for (name, value) in delivery.headers() {
        builder = builder.header(*name, value.as_str());
    }
    #[allow(
        clippy::expect_used,
        reason = "a test helper; the message names the mistake"
    )]
    builder
        .body(Body::from(delivery.body().to_vec()))
        .expect("rxscale_webhooks_axum::testing::request: invalid URI")
}
