//! The shared bad-input matrix over real HTTP against Rocket 0.5, through the `VerifiedEvent`
//! data guard and the `VerifyWebhooks` fairing, and the agreement with axum case by case: every
//! case agrees but the Rocket deviations, which are asserted as such
//! (`rxscale_webhooks_tests::matrix::ROCKET_DEVIATIONS`).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use rocket::State;
use rocket::http::Status;
use rxscale_webhooks_rocket::{VerifiedEvent, VerifyWebhooks};
use rxscale_webhooks_tests::matrix::{
    ROCKET_DEVIATIONS, Target, assert_agree_but, observe_matrix, run_matrix_with_deviations,
};
use rxscale_webhooks_tests::{rocket_server, test_verifier};

const PATH: &str = "/webhooks/rxscale";

struct Calls(Arc<AtomicUsize>);

#[rocket::post("/webhooks/rxscale", data = "<event>")]
fn handle(calls: &State<Calls>, event: VerifiedEvent) -> Status {
    calls.0.fetch_add(1, Ordering::SeqCst);
    if event.event().event_type() == event.event_type() {
        Status::Ok
    } else {
        Status::InternalServerError
    }
}

/// `POST /webhooks/rxscale` with the data guard; other methods there get a 405 route, as the
/// matrix asks (Rocket itself answers 404 to an unrouted method).
async fn rocket_target() -> Target {
    use rocket::response::status::Custom;
    #[rocket::route(GET, uri = "/webhooks/rxscale")]
    fn get() -> Custom<()> {
        Custom(Status::MethodNotAllowed, ())
    }
    #[rocket::route(PUT, uri = "/webhooks/rxscale")]
    fn put() -> Custom<()> {
        Custom(Status::MethodNotAllowed, ())
    }
    let calls = Arc::new(AtomicUsize::new(0));
    let rocket = rocket::custom(rocket_server::config(0))
        .attach(VerifyWebhooks::new(test_verifier()))
        .manage(Calls(calls.clone()))
        .mount("/", rocket::routes![handle, get, put]);
    Target {
        addr: rocket_server::serve(rocket).await,
        path: PATH.to_owned(),
        handler_calls: calls,
    }
}

async fn axum_target() -> Target {
    use axum::extract::State;
    use axum::routing::post;
    let calls = Arc::new(AtomicUsize::new(0));
    let handler = |State(calls): State<Arc<AtomicUsize>>,
                   rxscale_webhooks_axum::VerifiedEvent(verified): rxscale_webhooks_axum::VerifiedEvent| async move {
        calls.fetch_add(1, Ordering::SeqCst);
        let _ = verified;
        axum::http::StatusCode::OK
    };
    #[derive(Clone)]
    struct AppState(Arc<AtomicUsize>, rxscale_webhooks::Verifier);
    impl axum::extract::FromRef<AppState> for rxscale_webhooks::Verifier {
        fn from_ref(state: &AppState) -> Self {
            state.1.clone()
        }
    }
    impl axum::extract::FromRef<AppState> for Arc<AtomicUsize> {
        fn from_ref(state: &AppState) -> Self {
            state.0.clone()
        }
    }
    let app = axum::Router::new()
        .route(PATH, post(handler))
        .with_state(AppState(calls.clone(), test_verifier()));
    Target {
        addr: rxscale_webhooks_tests::axum_server::serve(app).await,
        path: PATH.to_owned(),
        handler_calls: calls,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn matrix_against_the_data_guard() {
    run_matrix_with_deviations(&rocket_target().await, ROCKET_DEVIATIONS).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rocket_and_axum_agree_on_every_case_but_the_deviations() {
    let (rocket, axum) = (rocket_target().await, axum_target().await);
    let (by_rocket, by_axum) = tokio::join!(observe_matrix(&rocket), observe_matrix(&axum));
    assert_agree_but(
        ("rocket", &by_rocket),
        ("axum", &by_axum),
        ROCKET_DEVIATIONS,
    );
}
