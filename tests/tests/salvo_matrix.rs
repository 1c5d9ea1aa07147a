//! The shared bad-input matrix over real HTTP against salvo 1: through the extractor, and
//! through the hoop followed by the payload. Both must pass it, both must see the same thing,
//! and both must agree with axum case by case.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use rxscale_webhooks_salvo::{Verified, VerifiedEvent, VerifyWebhook};
use rxscale_webhooks_tests::axum_server::reference_target;
use rxscale_webhooks_tests::matrix::{
    Target, assert_agree, assert_agree_across_frameworks, observe_matrix, run_matrix,
};
use rxscale_webhooks_tests::salvo_server::serve;
use rxscale_webhooks_tests::test_verifier;
use salvo::affix_state;
use salvo::http::StatusCode;
use salvo::prelude::*;

const PATH: &str = "/webhooks/rxscale";

type Calls = Arc<AtomicUsize>;

/// Without the hoop: the extractor verifies with the `Verifier` injected into the depot. The
/// router has a `post` goal only, so that other methods get salvo's 405.
fn extractor_target() -> Target {
    #[handler]
    async fn handle(event: VerifiedEvent, depot: &mut Depot, res: &mut Response) {
        depot
            .get_typed::<Calls>()
            .expect("the counter is injected")
            .fetch_add(1, Ordering::SeqCst);
        if event.event().event_type() != event.event_type() {
            res.status_code(StatusCode::INTERNAL_SERVER_ERROR);
        }
    }
    let calls = Calls::default();
    let router = Router::new().push(
        Router::with_path(PATH.trim_start_matches('/'))
            .hoop(affix_state::inject(test_verifier()).inject(calls.clone()))
            .post(handle),
    );
    Target {
        addr: serve(router),
        path: PATH.to_owned(),
        handler_calls: calls,
    }
}

/// Behind the hoop, on the POST goal only: the handler reads the verified event from the
/// extensions and the body as JSON, and checks that the JSON is the event's.
fn hoop_target() -> Target {
    #[handler]
    async fn handle(req: &mut Request, depot: &mut Depot, res: &mut Response) {
        depot
            .get_typed::<Calls>()
            .expect("the counter is injected")
            .fetch_add(1, Ordering::SeqCst);
        let event_type = req
            .extensions()
            .get::<Verified>()
            .map(|verified| verified.event_type().to_owned());
        // Not `parse_json`: it also insists on `Content-Type: application/json`, which the
        // matrix leaves out on purpose (the signature is what makes a delivery trustworthy).
        let body = req
            .payload()
            .await
            .map(|bytes| bytes.to_vec())
            .unwrap_or_default();
        let body: serde_json::Value = serde_json::from_slice(&body).unwrap_or_default();
        if event_type.is_none() || body["event_type"].as_str() != event_type.as_deref() {
            res.status_code(StatusCode::INTERNAL_SERVER_ERROR);
        }
    }
    let calls = Calls::default();
    let router = Router::new().push(
        Router::with_path(PATH.trim_start_matches('/'))
            .hoop(affix_state::inject(calls.clone()))
            .hoop(VerifyWebhook::new(test_verifier()))
            .post(handle),
    );
    Target {
        addr: serve(router),
        path: PATH.to_owned(),
        handler_calls: calls,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn matrix_against_the_extractor() {
    run_matrix(&extractor_target()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn matrix_against_the_hoop_and_payload() {
    run_matrix(&hoop_target()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn extractor_and_hoop_agree_on_every_case() {
    let (extractor, hoop) = (extractor_target(), hoop_target());
    let (by_extractor, by_hoop) = tokio::join!(observe_matrix(&extractor), observe_matrix(&hoop));
    assert_agree(("extractor", &by_extractor), ("hoop", &by_hoop));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn salvo_agrees_with_axum_on_every_case() {
    let (salvo, axum) = (hoop_target(), reference_target(PATH).await);
    let (by_salvo, by_axum) = tokio::join!(observe_matrix(&salvo), observe_matrix(&axum));
    assert_agree_across_frameworks(("salvo", &by_salvo), ("axum", &by_axum));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_a_verifier_the_extractor_answers_500_verifier_not_configured() {
    #[handler]
    async fn handle(_event: VerifiedEvent) {}
    let router = Router::new().push(Router::with_path(PATH.trim_start_matches('/')).post(handle));
    let addr = serve(router);
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
