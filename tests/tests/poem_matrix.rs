//! The shared bad-input matrix over real HTTP against poem 3: through the extractor, and
//! through the middleware followed by the body as bytes. Both must pass it, both must see the same
//! thing, and both must agree with axum case by case.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use poem::http::StatusCode;
use poem::web::Data;
use poem::{EndpointExt, Route, handler, post};
use rxscale_webhooks_poem::{Verified, VerifiedEvent, VerifyWebhook};
use rxscale_webhooks_tests::axum_server::reference_target;
use rxscale_webhooks_tests::matrix::{
    Target, assert_agree, assert_agree_across_frameworks, observe_matrix, run_matrix,
};
use rxscale_webhooks_tests::poem_server::serve;
use rxscale_webhooks_tests::test_verifier;

const PATH: &str = "/webhooks/rxscale";

type Calls = Arc<AtomicUsize>;

/// Without the middleware: the extractor verifies with the `Verifier` added as data. The route
/// has `post` only, so that other methods get poem's 405.
fn extractor_target() -> Target {
    #[handler]
    fn handle(calls: Data<&Calls>, event: VerifiedEvent) -> StatusCode {
        calls.fetch_add(1, Ordering::SeqCst);
        if event.event().event_type() == event.event_type() {
            StatusCode::OK
        } else {
            StatusCode::INTERNAL_SERVER_ERROR
        }
    }
    let calls = Calls::default();
    let app = Route::new()
        .at(PATH, post(handle))
        .data(test_verifier())
        .data(calls.clone());
    Target {
        addr: serve(app),
        path: PATH.to_owned(),
        handler_calls: calls,
    }
}

/// Behind the middleware, on the POST method only: the handler reads the verified event from
/// the extensions and the body as bytes, and checks that the JSON is the event's.
fn middleware_target() -> Target {
    #[handler]
    fn handle(calls: Data<&Calls>, verified: Data<&Verified>, body: bytes::Bytes) -> StatusCode {
        calls.fetch_add(1, Ordering::SeqCst);
        // Not `Json<Value>`: poem's `Json` also insists on `Content-Type: application/json`,
        // which the matrix leaves out on purpose (the signature is what makes a delivery
        // trustworthy, see docs/poem.md).
        let body: serde_json::Value = serde_json::from_slice(&body).unwrap_or_default();
        if body["event_type"] == verified.event_type() {
            StatusCode::OK
        } else {
            StatusCode::INTERNAL_SERVER_ERROR
        }
    }
    let calls = Calls::default();
    let app = Route::new()
        .at(PATH, post(handle.with(VerifyWebhook::new(test_verifier()))))
        .data(calls.clone());
    Target {
        addr: serve(app),
        path: PATH.to_owned(),
        handler_calls: calls,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn matrix_against_the_extractor() {
    run_matrix(&extractor_target()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn matrix_against_the_middleware_and_bytes() {
    run_matrix(&middleware_target()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn extractor_and_middleware_agree_on_every_case() {
    let (extractor, middleware) = (extractor_target(), middleware_target());
    let (by_extractor, by_middleware) =
        tokio::join!(observe_matrix(&extractor), observe_matrix(&middleware));
    assert_agree(("extractor", &by_extractor), ("middleware", &by_middleware));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn poem_agrees_with_axum_on_every_case() {
    let (poem, axum) = (middleware_target(), reference_target(PATH).await);
    let (by_poem, by_axum) = tokio::join!(observe_matrix(&poem), observe_matrix(&axum));
    assert_agree_across_frameworks(("poem", &by_poem), ("axum", &by_axum));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_a_verifier_the_extractor_answers_500_verifier_not_configured() {
    #[handler]
    fn handle(_event: VerifiedEvent) -> StatusCode {
        StatusCode::OK
    }
    let addr = serve(Route::new().at(PATH, post(handle)));
    let response = reqwest::Client::new()
        .post(format!("http://{addr}{PATH}"))
        .body("{}")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 500);
    assert_eq!(response.headers()["content-type"], "application/json");
    assert_eq!(
        response.text().await.unwrap(),
        r#"{"error":"verifier_not_configured"}"#
    );
}
