//! The shared bad-input matrix over real HTTP against actix-web 4: through the extractor, and
//! through the middleware followed by `web::Json<Value>`. Both must pass it, and both must see
//! exactly the same thing.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use actix_web::{App, HttpResponse, web};
use rxscale_webhooks_actix::{Verified, VerifiedEvent, VerifyWebhook};
use rxscale_webhooks_tests::actix_server::serve;
use rxscale_webhooks_tests::matrix::{Target, assert_agree, observe_matrix, run_matrix};
use rxscale_webhooks_tests::test_verifier;

const PATH: &str = "/webhooks/rxscale";

type Calls = web::Data<Arc<AtomicUsize>>;

/// Without the middleware: the extractor verifies with the `web::Data<Verifier>` from the app.
/// The route sits on a resource, so that other methods get actix-web's 405.
fn extractor_target() -> Target {
    async fn handler(calls: Calls, event: VerifiedEvent) -> HttpResponse {
        calls.fetch_add(1, Ordering::SeqCst);
        if event.event().event_type() == event.event_type() {
            HttpResponse::Ok().finish()
        } else {
            HttpResponse::InternalServerError().finish()
        }
    }
    let calls = Arc::new(AtomicUsize::new(0));
    let counter = calls.clone();
    let verifier = web::Data::new(test_verifier());
    let addr = serve(move || {
        App::new()
            .app_data(verifier.clone())
            .app_data(web::Data::new(counter.clone()))
            .service(web::resource(PATH).route(web::post().to(handler)))
    });
    Target {
        addr,
        path: PATH.to_owned(),
        handler_calls: calls,
    }
}

/// Behind the middleware, on the POST route only: the handler reads the verified event from
/// the extensions and the body as JSON, and checks that the JSON is the event's.
fn middleware_target() -> Target {
    async fn handler(
        calls: Calls,
        verified: web::ReqData<Verified>,
        body: web::Json<serde_json::Value>,
    ) -> HttpResponse {
        calls.fetch_add(1, Ordering::SeqCst);
        if body["event_type"] == verified.event_type() {
            HttpResponse::Ok().finish()
        } else {
            HttpResponse::InternalServerError().finish()
        }
    }
    let calls = Arc::new(AtomicUsize::new(0));
    let counter = calls.clone();
    let addr = serve(move || {
        App::new()
            .app_data(web::Data::new(counter.clone()))
            // RxScale sends `Content-Type: application/json`, but the signature, not the
            // content type, is what makes a delivery trustworthy (see docs/actix.md).
            .app_data(web::JsonConfig::default().content_type_required(false))
            .service(
                web::resource(PATH).route(
                    web::post()
                        .to(handler)
                        .wrap(VerifyWebhook::new(test_verifier())),
                ),
            )
    });
    Target {
        addr,
        path: PATH.to_owned(),
        handler_calls: calls,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn matrix_against_the_extractor() {
    run_matrix(&extractor_target()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn matrix_against_the_middleware_and_json() {
    run_matrix(&middleware_target()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn extractor_and_middleware_agree_on_every_case() {
    let (extractor, middleware) = (extractor_target(), middleware_target());
    let (by_extractor, by_middleware) =
        tokio::join!(observe_matrix(&extractor), observe_matrix(&middleware));
    assert_agree(("extractor", &by_extractor), ("middleware", &by_middleware));
}
