//! Genuine deliveries over real HTTP through the axum layer and extractor: every event type
//! arrives typed with its body intact, and the ways of mounting the layer, the body limits and
//! the pass-through behave as documented.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use axum::extract::{DefaultBodyLimit, State};
use axum::http::StatusCode;
use axum::routing::{get, post};
use axum::{Extension, Json, Router};
use rxscale_webhooks_axum::testing::fixture_at;
use rxscale_webhooks_axum::{
    ErrorKind, Event, EventType, SigningSecret, UndecodedEvent, Verified, VerifiedAs,
    VerifiedEvent, Verifier, VerifyLayer, WebhookRejection, sign,
};
use rxscale_webhooks_tests::axum_server::serve;
use rxscale_webhooks_tests::{OTHER_SECRET, TEST_MAX_BODY_BYTES, test_secret, test_verifier};

const PATH: &str = "/webhooks/rxscale";

fn now() -> i64 {
    rxscale_webhooks_axum::OffsetDateTime::now_utc().unix_timestamp()
}

struct Reply {
    status: u16,
    body: String,
}

async fn deliver(addr: SocketAddr, path: &str, body: &[u8], signature: Option<&str>) -> Reply {
    let client = reqwest::Client::new();
    let mut request = client
        .post(format!("http://{addr}{path}"))
        .header("content-type", "application/json")
        .body(body.to_vec());
    if let Some(signature) = signature {
        request = request.header("x-webhook-signature", signature);
    }
    let response = request.send().await.unwrap();
    Reply {
        status: response.status().as_u16(),
        body: response.text().await.unwrap(),
    }
}

async fn deliver_genuine(addr: SocketAddr, path: &str, body: &[u8]) -> Reply {
    deliver(addr, path, body, Some(&sign(&test_secret(), body))).await
}

/// Whether the typed event is the variant its wire type promises.
fn is_typed_as(event: &Event, event_type: EventType) -> bool {
    matches!(
        (event_type, event),
        (
            EventType::PharmacyOrderCreated,
            Event::PharmacyOrderCreated(_)
        ) | (
            EventType::PharmacyOrderUpdated,
            Event::PharmacyOrderUpdated(_)
        ) | (
            EventType::PharmacySkuStockUpdated,
            Event::PharmacySkuStockUpdated(_)
        ) | (
            EventType::PatientDoctorMeetingUpdated,
            Event::PatientDoctorMeetingUpdated(_)
        ) | (
            EventType::AppointmentReminderDue,
            Event::AppointmentReminderDue(_)
        )
    )
}

type Seen = Arc<Mutex<Vec<(Verified, serde_json::Value)>>>;

#[tokio::test]
async fn every_event_type_reaches_the_handler_typed_with_its_json_intact_behind_the_layer() {
    let seen: Seen = Arc::default();
    let record = seen.clone();
    let handler = move |Extension(verified): Extension<Verified>,
                        Json(body): Json<serde_json::Value>| async move {
        record.lock().unwrap().push((verified, body));
        StatusCode::OK
    };
    let app = Router::new()
        .route(PATH, post(handler))
        .route_layer(VerifyLayer::new(test_verifier()));
    let addr = serve(app).await;

    for &event_type in EventType::ALL {
        let body = fixture_at(event_type, now());
        let reply = deliver_genuine(addr, PATH, body.as_bytes()).await;
        assert_eq!(reply.status, 200, "{event_type}: {}", reply.body);
        let (verified, json) = seen.lock().unwrap().pop().expect("the handler ran");
        assert!(
            is_typed_as(verified.event(), event_type),
            "{event_type}: {verified:?}"
        );
        assert_eq!(verified.event_type(), event_type.as_str());
        assert_eq!(
            json,
            serde_json::from_str::<serde_json::Value>(&body).unwrap()
        );
    }
}

#[tokio::test]
async fn every_event_type_reaches_the_handler_typed_through_the_extractor() {
    let seen: Arc<Mutex<Vec<Verified>>> = Arc::default();
    let record = seen.clone();
    let handler = move |VerifiedEvent(verified): VerifiedEvent| async move {
        record.lock().unwrap().push(verified);
        StatusCode::OK
    };
    let data_seen: Arc<Mutex<Vec<Verified<serde_json::Value>>>> = Arc::default();
    let data_record = data_seen.clone();
    let data_handler = move |envelope: VerifiedAs<serde_json::Value>| async move {
        data_record.lock().unwrap().push(envelope.into_inner());
        StatusCode::OK
    };
    let app = Router::new()
        .route(PATH, post(handler))
        .route("/as-json", post(data_handler))
        .with_state(test_verifier());
    let addr = serve(app).await;

    for &event_type in EventType::ALL {
        let body = fixture_at(event_type, now());
        let reply = deliver_genuine(addr, PATH, body.as_bytes()).await;
        assert_eq!(reply.status, 200, "{event_type}: {}", reply.body);
        let verified = seen.lock().unwrap().pop().expect("the handler ran");
        assert!(
            is_typed_as(verified.event(), event_type),
            "{event_type}: {verified:?}"
        );

        let reply = deliver_genuine(addr, "/as-json", body.as_bytes()).await;
        assert_eq!(reply.status, 200, "{event_type}: {}", reply.body);
        let envelope = data_seen.lock().unwrap().pop().expect("the handler ran");
        let json: serde_json::Value = serde_json::from_str(&body).unwrap();
        assert_eq!(envelope.event(), &json["data"]);
        assert_eq!(envelope.dedup_key(), verified.dedup_key());
    }
}

#[tokio::test]
async fn behind_the_layer_the_extractor_takes_the_layers_event_without_verifying_again() {
    // The state's verifier knows another secret only: a second verification would fail.
    let other = Verifier::builder().secret(OTHER_SECRET).build().unwrap();
    let handler = |event: VerifiedEvent| async move { event.dedup_key().to_string() };
    let app = Router::new()
        .route(PATH, post(handler))
        .route_layer(VerifyLayer::new(test_verifier()))
        .with_state(other);
    let addr = serve(app).await;

    let body = fixture_at(EventType::PharmacyOrderUpdated, now());
    let reply = deliver_genuine(addr, PATH, body.as_bytes()).await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    assert!(
        reply.body.starts_with("pharmacy_order_updated:"),
        "{}",
        reply.body
    );
    let reply = deliver(addr, PATH, body.as_bytes(), None).await;
    assert_eq!(reply.status, 401);
}

#[derive(Debug, Clone, serde::Deserialize)]
struct OrderRef {
    uid: String,
}

#[tokio::test]
async fn verified_envelope_decodes_a_users_own_type() {
    let handler = |order: VerifiedAs<OrderRef>| async move { order.event().uid.clone() };
    let app = Router::new()
        .route(PATH, post(handler))
        .route(
            "/behind-layer",
            post(handler).route_layer(VerifyLayer::new(test_verifier())),
        )
        .with_state(test_verifier());
    let addr = serve(app).await;

    for path in [PATH, "/behind-layer"] {
        let body = fixture_at(EventType::PharmacyOrderCreated, now());
        let reply = deliver_genuine(addr, path, body.as_bytes()).await;
        assert_eq!(
            (reply.status, reply.body.as_str()),
            (200, "po-abc123"),
            "{path}"
        );

        // `data` without a uid does not fit the user's type: 422, like the typed events.
        let body = format!(
            r#"{{"event_type":"anything","timestamp":{},"data":{{"id":1}}}}"#,
            now()
        );
        let reply = deliver_genuine(addr, path, body.as_bytes()).await;
        assert_eq!(reply.status, 422, "{path}");
        assert_eq!(reply.body, ErrorKind::InvalidEventData.response_body());
    }
}

#[tokio::test]
async fn undecodable_data_is_422_or_passed_through_as_configured() {
    let handler = |Extension(undecoded): Extension<UndecodedEvent>| async move {
        format!(
            "{} {} {}",
            undecoded.verified().event_type(),
            undecoded.data().get(),
            undecoded.error().kind()
        )
    };
    let app = Router::new()
        .route(
            "/strict",
            post(|| async { StatusCode::OK }).route_layer(VerifyLayer::new(test_verifier())),
        )
        .route(
            "/lenient",
            post(handler)
                .route_layer(VerifyLayer::new(test_verifier()).pass_invalid_event_data(true)),
        );
    let addr = serve(app).await;

    let body = format!(
        r#"{{"event_type":"pharmacy_order_created","timestamp":{},"payload_version":"1","data":{{"uid":7}}}}"#,
        now()
    );
    let reply = deliver_genuine(addr, "/strict", body.as_bytes()).await;
    assert_eq!(reply.status, 422);
    assert_eq!(reply.body, ErrorKind::InvalidEventData.response_body());

    let reply = deliver_genuine(addr, "/lenient", body.as_bytes()).await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    assert_eq!(
        reply.body,
        r#"pharmacy_order_created {"uid":7} invalid_event_data"#
    );

    // Only the data check is relaxed: stale or unsigned deliveries are still refused.
    let stale = fixture_at(EventType::PharmacyOrderCreated, now() - 3600);
    let reply = deliver_genuine(addr, "/lenient", stale.as_bytes()).await;
    assert_eq!(reply.status, 400);
    let reply = deliver(addr, "/lenient", body.as_bytes(), Some(&"0".repeat(64))).await;
    assert_eq!(reply.status, 401);
}

#[tokio::test]
async fn router_layer_verifies_every_route_and_route_layer_only_matched_ones() {
    let ok = || async { StatusCode::OK };
    let everything = Router::new()
        .route(PATH, post(ok))
        .route("/health", get(ok))
        .layer(VerifyLayer::new(test_verifier()));
    let matched = Router::new()
        .route(PATH, post(ok))
        .route_layer(VerifyLayer::new(test_verifier()));
    let (everything, matched) = (serve(everything).await, serve(matched).await);
    let client = reqwest::Client::new();
    let body = fixture_at(EventType::AppointmentReminderDue, now());

    for addr in [everything, matched] {
        assert_eq!(
            deliver_genuine(addr, PATH, body.as_bytes()).await.status,
            200
        );
        assert_eq!(deliver(addr, PATH, body.as_bytes(), None).await.status, 401);
    }
    // `Router::layer` wraps everything, the fallback included.
    let status = |url: String| {
        let client = client.clone();
        async move { client.get(url).send().await.unwrap().status().as_u16() }
    };
    assert_eq!(status(format!("http://{everything}/health")).await, 401);
    assert_eq!(status(format!("http://{everything}/nowhere")).await, 401);
    // `Router::route_layer` leaves unknown paths to axum...
    assert_eq!(status(format!("http://{matched}/nowhere")).await, 404);
    // ...but wraps the whole method router of a matched path, so a wrong method without a
    // signature meets the layer first. docs/axum.md shows `post(h).route_layer(..)` for 405.
    assert_eq!(status(format!("http://{matched}{PATH}")).await, 401);
}

#[tokio::test]
async fn the_smaller_of_default_body_limit_and_max_body_bytes_wins() {
    let handler = |event: VerifiedEvent| async move { event.event_type().to_owned() };
    let genuine = fixture_at(EventType::PharmacyOrderCreated, now());
    assert!(genuine.len() > 1024 && genuine.len() < TEST_MAX_BODY_BYTES);
    let padded = |length: usize| {
        let mut body = fixture_at(EventType::PharmacySkuStockUpdated, now()).into_bytes();
        body.resize(length, b' ');
        body
    };

    // DefaultBodyLimit below the verifier's limit: axum's wins.
    let small = Router::new()
        .route(PATH, post(handler))
        .layer(DefaultBodyLimit::max(1024))
        .with_state(test_verifier());
    // DefaultBodyLimit above the verifier's limit, or disabled: the verifier's wins.
    let large = Router::new()
        .route(PATH, post(handler))
        .layer(DefaultBodyLimit::max(4 * TEST_MAX_BODY_BYTES))
        .with_state(test_verifier());
    let disabled = Router::new()
        .route(PATH, post(handler))
        .layer(DefaultBodyLimit::disable())
        .with_state(test_verifier());
    let (small, large, disabled) = (
        serve(small).await,
        serve(large).await,
        serve(disabled).await,
    );

    let reply = deliver_genuine(small, PATH, genuine.as_bytes()).await;
    assert_eq!(reply.status, 413);
    assert_eq!(reply.body, ErrorKind::BodyTooLarge.response_body());
    let reply = deliver_genuine(small, PATH, &padded(1024)).await;
    assert_eq!(reply.status, 200, "{}", reply.body);

    for addr in [large, disabled] {
        let reply = deliver_genuine(addr, PATH, genuine.as_bytes()).await;
        assert_eq!(reply.status, 200, "{}", reply.body);
        let reply = deliver_genuine(addr, PATH, &padded(TEST_MAX_BODY_BYTES)).await;
        assert_eq!(reply.status, 200, "{}", reply.body);
        let reply = deliver_genuine(addr, PATH, &padded(TEST_MAX_BODY_BYTES + 1)).await;
        assert_eq!(reply.status, 413);
        assert_eq!(reply.body, ErrorKind::BodyTooLarge.response_body());
    }
}

#[tokio::test]
async fn a_handler_can_take_the_rejection_and_answer_its_own_way() {
    async fn handler(
        State(_): State<Verifier>,
        result: Result<VerifiedEvent, WebhookRejection>,
    ) -> (StatusCode, String) {
        match result {
            Ok(event) => (StatusCode::OK, event.event_type().to_owned()),
            Err(rejection) => (
                rejection.status(),
                format!(
                    "{:?} {} {}",
                    rejection.kind(),
                    rejection.body_text(),
                    rejection
                ),
            ),
        }
    }
    let app = Router::new()
        .route(PATH, post(handler))
        .with_state(test_verifier());
    let addr = serve(app).await;
    let body = fixture_at(EventType::PharmacySkuStockUpdated, now());
    let wrong = sign(&SigningSecret::new(OTHER_SECRET), &body);
    let reply = deliver(addr, PATH, body.as_bytes(), Some(&wrong)).await;
    assert_eq!(reply.status, 401);
    assert_eq!(
        reply.body,
        r#"Some(SignatureMismatch) {"error":"signature_mismatch"} signature does not match the body"#
    );
}
