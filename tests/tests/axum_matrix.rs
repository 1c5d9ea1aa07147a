//! The shared bad-input matrix over real HTTP, against the layer and against the extractor:
//! both must pass it, and both must see exactly the same thing.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use axum::body::Bytes;
use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::post;
use axum::{Extension, Router};
use rxscale_webhooks_axum::{Verified, VerifiedEvent, Verifier, VerifyLayer};
use rxscale_webhooks_tests::axum_server::serve;
use rxscale_webhooks_tests::matrix::{Target, assert_agree, observe_matrix, run_matrix};
use rxscale_webhooks_tests::test_verifier;

const PATH: &str = "/webhooks/rxscale";

#[derive(Clone)]
struct AppState {
    verifier: Verifier,
    calls: Arc<AtomicUsize>,
}

impl axum::extract::FromRef<AppState> for Verifier {
    fn from_ref(state: &AppState) -> Verifier {
        state.verifier.clone()
    }
}

/// Behind the layer, on the method router: the handler reads the verified event from the extensions and the body as
/// raw bytes, and checks that the bytes are the JSON the event came from.
async fn layer_target() -> Target {
    let calls = Arc::new(AtomicUsize::new(0));
    let counter = calls.clone();
    let handler = move |Extension(verified): Extension<Verified>, body: Bytes| async move {
        counter.fetch_add(1, Ordering::SeqCst);
        let json: serde_json::Value = serde_json::from_slice(&body).unwrap_or_default();
        if json["event_type"] == verified.event_type() {
            StatusCode::OK
        } else {
            StatusCode::INTERNAL_SERVER_ERROR
        }
    };
    // On the method router, so that a wrong method still gets axum's 405 (see docs/axum.md).
    let app = Router::new().route(
        PATH,
        post(handler).route_layer(VerifyLayer::new(test_verifier())),
    );
    Target {
        addr: serve(app).await,
        path: PATH.to_owned(),
        handler_calls: calls,
    }
}

/// Without the layer: the extractor verifies with the verifier from the state.
async fn extractor_target() -> Target {
    let calls = Arc::new(AtomicUsize::new(0));
    let state = AppState {
        verifier: test_verifier(),
        calls: calls.clone(),
    };
    async fn handler(State(state): State<AppState>, event: VerifiedEvent) -> StatusCode {
        state.calls.fetch_add(1, Ordering::SeqCst);
        if event.event().event_type() == event.event_type() {
            StatusCode::OK
        } else {
            StatusCode::INTERNAL_SERVER_ERROR
        }
    }
    let app = Router::new().route(PATH, post(handler)).with_state(state);
    Target {
        addr: serve(app).await,
        path: PATH.to_owned(),
        handler_calls: calls,
    }
}

#[tokio::test]
async fn matrix_against_the_layer() {
    run_matrix(&layer_target().await).await;
}

#[tokio::test]
async fn matrix_against_the_extractor() {
    run_matrix(&extractor_target().await).await;
}

#[tokio::test]
async fn layer_and_extractor_agree_on_every_case() {
    let (layer, extractor) = tokio::join!(layer_target(), extractor_target());
    let (by_layer, by_extractor) = tokio::join!(observe_matrix(&layer), observe_matrix(&extractor));
    assert_agree(("layer", &by_layer), ("extractor", &by_extractor));
}
