//! The shared bad-input matrix over real HTTP against warp 0.4: through the
//! `verified_event_and_body` filter with `recover`, and as `warp::service` behind the tower
//! `VerifyLayer`. Both must pass it, both must see the same thing, and both must agree with
//! axum case by case.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use bytes::Bytes;
use rxscale_webhooks_tests::axum_server::reference_target;
use rxscale_webhooks_tests::matrix::{
    Target, assert_agree, assert_agree_across_frameworks, observe_matrix, run_matrix,
};
use rxscale_webhooks_tests::test_verifier;
use rxscale_webhooks_tests::warp_server::{serve, serve_tower, verify_posts};
use rxscale_webhooks_tower::VerifyLayer;
use rxscale_webhooks_warp::{Verified, recover, verified_event_and_body};
use warp::Filter;
use warp::Reply as _;
use warp::http::StatusCode;

const PATH: &str = "/webhooks/rxscale";

/// The handler both targets share: counts its calls and checks that the bytes are the JSON
/// the event came from.
fn answer(calls: &AtomicUsize, verified: &Verified, body: &[u8]) -> StatusCode {
    calls.fetch_add(1, Ordering::SeqCst);
    let json: serde_json::Value = serde_json::from_slice(body).unwrap_or_default();
    if json["event_type"] == verified.event_type() {
        StatusCode::OK
    } else {
        StatusCode::INTERNAL_SERVER_ERROR
    }
}

/// The filters: `POST` on the path, then `verified_event_and_body`, then `recover`.
async fn filter_target() -> Target {
    let calls = Arc::new(AtomicUsize::new(0));
    let counter = calls.clone();
    let route = warp::path!("webhooks" / "rxscale")
        .and(warp::post())
        .and(verified_event_and_body(test_verifier()))
        .map(move |verified: Verified, body: Bytes| answer(&counter, &verified, &body))
        .recover(recover);
    Target {
        addr: serve(route).await,
        path: PATH.to_owned(),
        handler_calls: calls,
    }
}

/// `warp::service` with its POSTs behind the tower layer: the filter takes the `Verified` the layer put in
/// the extensions and the body the layer put back.
fn behind_tower_target() -> Target {
    let calls = Arc::new(AtomicUsize::new(0));
    let counter = calls.clone();
    let route = warp::path!("webhooks" / "rxscale")
        .and(warp::post())
        .and(warp::ext::get::<Verified>())
        .and(warp::body::bytes())
        .map(move |verified: Verified, body: Bytes| {
            answer(&counter, &verified, &body).into_response()
        })
        .boxed();
    let service = verify_posts(VerifyLayer::new(test_verifier()), route);
    Target {
        addr: serve_tower(service),
        path: PATH.to_owned(),
        handler_calls: calls,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn matrix_against_the_filters() {
    run_matrix(&filter_target().await).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn filters_and_tower_layer_agree_on_every_case() {
    let (filters, layer) = (filter_target().await, behind_tower_target());
    let (by_filters, by_layer) = tokio::join!(observe_matrix(&filters), observe_matrix(&layer));
    assert_agree(("filters", &by_filters), ("layer", &by_layer));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn warp_agrees_with_axum_on_every_case() {
    let (warp, axum) = (filter_target().await, reference_target(PATH).await);
    let (by_warp, by_axum) = tokio::join!(observe_matrix(&warp), observe_matrix(&axum));
    assert_agree_across_frameworks(("warp", &by_warp), ("axum", &by_axum));
}
