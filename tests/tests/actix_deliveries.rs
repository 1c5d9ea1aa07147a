//! Genuine and refused deliveries over real HTTP through the actix-web extractor and middleware:
//! every event type arrives typed with its body intact, the `Verifier` is found however it was
//! registered (and its absence is a 500, not a panic), and an oversized streaming body is
//! refused at the limit.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::net::SocketAddr;
use std::sync::Mutex;
use std::time::Duration;

use actix_web::{App, HttpResponse, web};
use rxscale_webhooks_actix::testing::fixture_at;
use rxscale_webhooks_actix::{
    ErrorKind, Event, EventType, OffsetDateTime, UndecodedEvent, Verified, VerifiedAs,
    VerifiedEvent, VerifyWebhook, WebhookRejection, sign,
};
use rxscale_webhooks_tests::actix_server::serve;
use rxscale_webhooks_tests::{TEST_MAX_BODY_BYTES, test_secret, test_verifier};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

fn now() -> i64 {
    OffsetDateTime::now_utc().unix_timestamp()
}

#[derive(Debug)]
struct Reply {
    status: u16,
    content_type: Option<String>,
    body: String,
}

async fn deliver(addr: SocketAddr, path: &str, body: &[u8], signatures: &[&str]) -> Reply {
    let mut request = reqwest::Client::new()
        .post(format!("http://{addr}{path}"))
        .header("content-type", "application/json")
        .body(body.to_vec());
    for signature in signatures {
        request = request.header("x-webhook-signature", *signature);
    }
    let response = request.send().await.unwrap();
    Reply {
        status: response.status().as_u16(),
        content_type: response
            .headers()
            .get("content-type")
            .map(|value| value.to_str().unwrap().to_owned()),
        body: response.text().await.unwrap(),
    }
}

async fn deliver_genuine(addr: SocketAddr, path: &str, body: &[u8]) -> Reply {
    deliver(addr, path, body, &[&sign(&test_secret(), body)]).await
}

/// Every known type, plus one this SDK does not know (it must arrive as `Event::Unknown`).
fn bodies() -> Vec<(Option<EventType>, String)> {
    let now = now();
    let mut bodies: Vec<_> = EventType::ALL
        .iter()
        .map(|&event_type| (Some(event_type), fixture_at(event_type, now)))
        .collect();
    bodies.push((
        None,
        format!(
            r#"{{"event_type":"rxscale_setup_test","timestamp":{now},"payload_version":"1","data":{{"uid":"setup-1"}}}}"#
        ),
    ));
    bodies
}

/// Whether the typed event is the variant its wire type promises.
fn is_typed_as(event: &Event, event_type: Option<EventType>) -> bool {
    matches!(
        (event_type, event),
        (
            Some(EventType::PharmacyOrderCreated),
            Event::PharmacyOrderCreated(_)
        ) | (
            Some(EventType::PharmacyOrderUpdated),
            Event::PharmacyOrderUpdated(_)
        ) | (
            Some(EventType::PharmacySkuStockUpdated),
            Event::PharmacySkuStockUpdated(_)
        ) | (
            Some(EventType::PatientDoctorMeetingUpdated),
            Event::PatientDoctorMeetingUpdated(_)
        ) | (
            Some(EventType::AppointmentReminderDue),
            Event::AppointmentReminderDue(_)
        ) | (None, Event::Unknown(_))
    )
}

type Seen<T> = web::Data<Mutex<Vec<T>>>;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_event_type_arrives_typed_through_the_extractor() {
    async fn handler(seen: Seen<Verified>, event: VerifiedEvent) -> HttpResponse {
        seen.lock().unwrap().push(event.into_inner());
        HttpResponse::Ok().finish()
    }
    let seen: Seen<Verified> = web::Data::new(Mutex::default());
    let state = seen.clone();
    let verifier = web::Data::new(test_verifier());
    let addr = serve(move || {
        App::new()
            .app_data(verifier.clone())
            .app_data(state.clone())
            .route("/hook", web::post().to(handler))
    });

    for (event_type, body) in bodies() {
        let reply = deliver_genuine(addr, "/hook", body.as_bytes()).await;
        assert_eq!(reply.status, 200, "{event_type:?}: {reply:?}");
        let verified = seen.lock().unwrap().pop().expect("the handler ran");
        assert!(
            is_typed_as(verified.event(), event_type),
            "{event_type:?}: {verified:?}"
        );
        let expected = test_verifier()
            .verify(&body, sign(&test_secret(), &body))
            .unwrap();
        assert_eq!(verified.event_type(), expected.event_type());
        assert_eq!(verified.dedup_key(), expected.dedup_key());
        assert_eq!(verified.fingerprint(), test_secret().fingerprint());
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_event_type_arrives_typed_behind_the_middleware_with_its_json_intact() {
    async fn json_handler(
        seen: Seen<(Verified, serde_json::Value)>,
        verified: web::ReqData<Verified>,
        body: web::Json<serde_json::Value>,
    ) -> HttpResponse {
        seen.lock()
            .unwrap()
            .push((verified.into_inner(), body.into_inner()));
        HttpResponse::Ok().finish()
    }
    // `VerifiedEvent` takes the middleware's event, so it combines with any body extractor.
    async fn bytes_handler(event: VerifiedEvent, body: web::Bytes) -> HttpResponse {
        HttpResponse::Ok()
            .insert_header(("x-event-type", event.event_type().to_owned()))
            .body(body)
    }
    async fn string_handler(event: VerifiedEvent, body: String) -> HttpResponse {
        HttpResponse::Ok()
            .insert_header(("x-event-type", event.event_type().to_owned()))
            .body(body)
    }
    let seen: Seen<(Verified, serde_json::Value)> = web::Data::new(Mutex::default());
    let state = seen.clone();
    let addr = serve(move || {
        let verify = VerifyWebhook::new(test_verifier());
        App::new()
            .app_data(state.clone())
            .route("/json", web::post().to(json_handler).wrap(verify.clone()))
            .route("/bytes", web::post().to(bytes_handler).wrap(verify.clone()))
            .route("/string", web::post().to(string_handler).wrap(verify))
    });

    for (event_type, body) in bodies() {
        let reply = deliver_genuine(addr, "/json", body.as_bytes()).await;
        assert_eq!(reply.status, 200, "{event_type:?}: {reply:?}");
        let (verified, json) = seen.lock().unwrap().pop().expect("the handler ran");
        assert!(
            is_typed_as(verified.event(), event_type),
            "{event_type:?}: {verified:?}"
        );
        assert_eq!(
            json,
            serde_json::from_str::<serde_json::Value>(&body).unwrap()
        );

        for path in ["/bytes", "/string"] {
            let signature = sign(&test_secret(), &body);
            let response = reqwest::Client::new()
                .post(format!("http://{addr}{path}"))
                .header("x-webhook-signature", signature)
                .body(body.clone())
                .send()
                .await
                .unwrap();
            assert_eq!(response.status(), 200, "{path}");
            let event_header = response.headers()["x-event-type"].to_str().unwrap();
            let json: serde_json::Value = serde_json::from_str(&body).unwrap();
            assert_eq!(event_header, json["event_type"]);
            // Byte for byte what was signed, not a re-serialisation.
            assert_eq!(response.bytes().await.unwrap(), body.as_bytes(), "{path}");
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_plain_verifier_in_app_data_and_a_users_own_data_type() {
    #[derive(serde::Deserialize)]
    struct WithUid {
        uid: String,
    }
    async fn event(event: VerifiedEvent) -> String {
        event.dedup_key().to_string()
    }
    async fn envelope(envelope: VerifiedAs<WithUid>) -> String {
        format!("{} {}", envelope.event_type(), envelope.event().uid)
    }
    async fn raw(envelope: VerifiedAs<Box<serde_json::value::RawValue>>) -> String {
        envelope.event().get().to_owned()
    }
    let addr = serve(move || {
        App::new()
            // Registered unwrapped, on a scope: found all the same.
            .service(
                web::scope("/plain")
                    .app_data(test_verifier())
                    .route("/event", web::post().to(event))
                    .route("/envelope", web::post().to(envelope))
                    .route("/raw", web::post().to(raw)),
            )
            // No app_data at all: the extractor uses the middleware's verifier.
            .route(
                "/behind/envelope",
                web::post()
                    .to(envelope)
                    .wrap(VerifyWebhook::new(test_verifier())),
            )
    });

    let now = now();
    let body = fixture_at(EventType::PharmacySkuStockUpdated, now);
    let reply = deliver_genuine(addr, "/plain/event", body.as_bytes()).await;
    assert_eq!(reply.status, 200, "{reply:?}");
    assert!(
        reply
            .body
            .starts_with(&format!("pharmacy_sku_stock_updated:{now}:"))
    );

    for path in ["/plain/envelope", "/behind/envelope"] {
        let reply = deliver_genuine(addr, path, body.as_bytes()).await;
        assert_eq!(reply.status, 200, "{path}: {reply:?}");
        let uid = serde_json::from_str::<serde_json::Value>(&body).unwrap()["data"]["uid"]
            .as_str()
            .unwrap()
            .to_owned();
        assert_eq!(reply.body, format!("pharmacy_sku_stock_updated {uid}"));

        // `data` without a uid does not fit the user's type: 422, like the typed events.
        let no_uid = format!(r#"{{"event_type":"anything","timestamp":{now},"data":{{"id":1}}}}"#);
        let reply = deliver_genuine(addr, path, no_uid.as_bytes()).await;
        assert_eq!(reply.status, 422, "{path}");
        assert_eq!(reply.body, ErrorKind::InvalidEventData.response_body());
    }

    let odd = format!(
        r#"{{"event_type":"pharmacy_order_created","timestamp":{now},"data":{{ "uid" : 7 }}}}"#
    );
    let reply = deliver_genuine(addr, "/plain/raw", odd.as_bytes()).await;
    assert_eq!(reply.status, 200, "{reply:?}");
    assert_eq!(reply.body, r#"{ "uid" : 7 }"#, "data verbatim");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_a_verifier_the_answer_is_500_and_the_server_keeps_serving() {
    async fn event(_: VerifiedEvent) -> HttpResponse {
        HttpResponse::Ok().finish()
    }
    async fn envelope(_: VerifiedAs<serde_json::Value>) -> HttpResponse {
        HttpResponse::Ok().finish()
    }
    async fn own_answer(result: Result<VerifiedEvent, WebhookRejection>) -> HttpResponse {
        match result {
            Ok(_) => HttpResponse::Ok().finish(),
            Err(rejection) => HttpResponse::ServiceUnavailable().body(format!(
                "{:?} {} {}",
                rejection.kind(),
                rejection.is_missing_verifier(),
                rejection.status()
            )),
        }
    }
    let verifier = web::Data::new(test_verifier());
    let addr = serve(move || {
        App::new()
            .route("/unconfigured/event", web::post().to(event))
            .route("/unconfigured/envelope", web::post().to(envelope))
            .route("/unconfigured/own", web::post().to(own_answer))
            .service(
                web::scope("/configured")
                    .app_data(verifier.clone())
                    .route("/event", web::post().to(event)),
            )
    });

    let body = fixture_at(EventType::PharmacyOrderCreated, now());
    for _ in 0..3 {
        for path in ["/unconfigured/event", "/unconfigured/envelope"] {
            let reply = deliver_genuine(addr, path, body.as_bytes()).await;
            assert_eq!(reply.status, 500, "{path}: {reply:?}");
            assert_eq!(reply.body, r#"{"error":"verifier_not_configured"}"#);
            assert_eq!(reply.content_type.as_deref(), Some("application/json"));
        }
        let reply = deliver_genuine(addr, "/unconfigured/own", body.as_bytes()).await;
        assert_eq!(reply.status, 503);
        assert_eq!(reply.body, "None true 500 Internal Server Error");
        // The worker did not die: a configured route on the same server still works.
        let reply = deliver_genuine(addr, "/configured/event", body.as_bytes()).await;
        assert_eq!(reply.status, 200, "{reply:?}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_handler_can_take_the_rejection_and_answer_its_own_way() {
    async fn handler(result: Result<VerifiedEvent, WebhookRejection>) -> HttpResponse {
        match result {
            Ok(event) => HttpResponse::Ok().body(event.event_type().to_owned()),
            Err(rejection) => HttpResponse::build(rejection.status()).body(format!(
                "{} {}",
                rejection.kind().unwrap(),
                rejection.body_text()
            )),
        }
    }
    let verifier = web::Data::new(test_verifier());
    let addr = serve(move || {
        App::new()
            .app_data(verifier.clone())
            .route("/hook", web::post().to(handler))
    });
    let body = fixture_at(EventType::PharmacyOrderCreated, now());
    let reply = deliver(addr, "/hook", body.as_bytes(), &[&"0".repeat(64)]).await;
    assert_eq!(reply.status, 401);
    assert_eq!(
        reply.body,
        r#"signature_mismatch {"error":"signature_mismatch"}"#
    );
    let reply = deliver_genuine(addr, "/hook", body.as_bytes()).await;
    assert_eq!(reply.status, 200);
    assert_eq!(reply.body, "pharmacy_order_created");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn undecodable_data_is_422_or_passed_through_as_configured() {
    async fn ok() -> HttpResponse {
        HttpResponse::Ok().finish()
    }
    async fn lenient(
        undecoded: Option<web::ReqData<UndecodedEvent>>,
        verified: Option<web::ReqData<Verified>>,
        body: web::Bytes,
    ) -> HttpResponse {
        match (undecoded, verified) {
            (Some(undecoded), None) => HttpResponse::Ok().body(format!(
                "{} {} {} {}",
                undecoded.verified().event_type(),
                undecoded.data().get(),
                undecoded.error().kind(),
                body.len()
            )),
            (None, Some(verified)) => HttpResponse::Ok().body(verified.event_type().to_owned()),
            _ => HttpResponse::InternalServerError().finish(),
        }
    }
    let addr = serve(move || {
        App::new()
            .route(
                "/strict",
                web::post().to(ok).wrap(VerifyWebhook::new(test_verifier())),
            )
            .route(
                "/lenient",
                web::post()
                    .to(lenient)
                    .wrap(VerifyWebhook::new(test_verifier()).pass_invalid_event_data(true)),
            )
    });

    let body = format!(
        r#"{{"event_type":"pharmacy_order_created","timestamp":{},"payload_version":"1","data":{{"uid":7}}}}"#,
        now()
    );
    let reply = deliver_genuine(addr, "/strict", body.as_bytes()).await;
    assert_eq!(reply.status, 422);
    assert_eq!(reply.body, ErrorKind::InvalidEventData.response_body());
    assert_eq!(reply.content_type.as_deref(), Some("application/json"));

    let reply = deliver_genuine(addr, "/lenient", body.as_bytes()).await;
    assert_eq!(reply.status, 200, "{reply:?}");
    assert_eq!(
        reply.body,
        format!(
            r#"pharmacy_order_created {{"uid":7}} invalid_event_data {}"#,
            body.len()
        )
    );

    // Decodable events still arrive as `Verified`.
    let genuine = fixture_at(EventType::PharmacyOrderCreated, now());
    let reply = deliver_genuine(addr, "/lenient", genuine.as_bytes()).await;
    assert_eq!(reply.body, "pharmacy_order_created");

    // Only the data check is relaxed: stale or unsigned deliveries are still refused.
    let stale = fixture_at(EventType::PharmacyOrderCreated, now() - 3600);
    let reply = deliver_genuine(addr, "/lenient", stale.as_bytes()).await;
    assert_eq!(reply.status, 400);
    assert_eq!(reply.body, ErrorKind::Expired.response_body());
    let reply = deliver(addr, "/lenient", body.as_bytes(), &[&"0".repeat(64)]).await;
    assert_eq!(reply.status, 401);
}

/// Writes a chunked body that grows well past the limit and never ends, and returns the status
/// line of the answer, if one comes while the body is still open.
async fn stream_past_the_limit(addr: SocketAddr, path: &str) -> Option<String> {
    let stream = TcpStream::connect(addr).await.unwrap();
    let (mut reader, mut writer) = stream.into_split();
    let signature = sign(&test_secret(), b"{}");
    let head = format!(
        "POST {path} HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/json\r\n\
         X-Webhook-Signature: {signature}\r\nTransfer-Encoding: chunked\r\n\r\n"
    );
    let writing = tokio::spawn(async move {
        writer.write_all(head.as_bytes()).await?;
        let chunk = vec![b' '; 1024];
        for _ in 0..(4 * TEST_MAX_BODY_BYTES / chunk.len()) {
            writer.write_all(b"400\r\n").await?;
            writer.write_all(&chunk).await?;
            writer.write_all(b"\r\n").await?;
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
        // Never the last chunk: only the limit can end this request.
        tokio::time::sleep(Duration::from_secs(30)).await;
        Ok::<_, std::io::Error>(writer)
    });
    let mut response = Vec::new();
    let read = tokio::time::timeout(Duration::from_secs(10), async {
        let mut buffer = [0u8; 1024];
        while !response.windows(2).any(|w| w == b"\r\n") {
            let n = reader.read(&mut buffer).await.ok()?;
            if n == 0 {
                return None;
            }
            response.extend_from_slice(&buffer[..n]);
        }
        Some(())
    })
    .await;
    writing.abort();
    read.ok().flatten()?;
    let text = String::from_utf8_lossy(&response);
    text.lines().next().map(str::to_owned)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_oversized_streaming_body_is_413_at_the_limit_before_it_ends() {
    async fn handler(calls: web::Data<Mutex<usize>>, _: VerifiedEvent) -> HttpResponse {
        *calls.lock().unwrap() += 1;
        HttpResponse::Ok().finish()
    }
    async fn json_handler(
        calls: web::Data<Mutex<usize>>,
        _: web::Json<serde_json::Value>,
    ) -> HttpResponse {
        *calls.lock().unwrap() += 1;
        HttpResponse::Ok().finish()
    }
    let calls = web::Data::new(Mutex::new(0usize));
    let state = calls.clone();
    let verifier = web::Data::new(test_verifier());
    let addr = serve(move || {
        App::new()
            .app_data(verifier.clone())
            .app_data(state.clone())
            .route("/extractor", web::post().to(handler))
            .route(
                "/middleware",
                web::post()
                    .to(json_handler)
                    .wrap(VerifyWebhook::new(test_verifier())),
            )
    });

    for path in ["/extractor", "/middleware"] {
        let status = stream_past_the_limit(addr, path).await;
        assert_eq!(
            status.as_deref(),
            Some("HTTP/1.1 413 Payload Too Large"),
            "{path}"
        );

        // A declared length over the limit is refused before a byte of the body is sent.
        let mut stream = TcpStream::connect(addr).await.unwrap();
        let head = format!(
            "POST {path} HTTP/1.1\r\nHost: {addr}\r\nX-Webhook-Signature: {}\r\n\
             Content-Length: {}\r\n\r\n",
            "0".repeat(64),
            TEST_MAX_BODY_BYTES + 1
        );
        stream.write_all(head.as_bytes()).await.unwrap();
        let mut response = vec![0u8; 1024];
        let n = tokio::time::timeout(Duration::from_secs(10), stream.read(&mut response))
            .await
            .expect("answered without waiting for the body")
            .unwrap();
        let text = String::from_utf8_lossy(&response[..n]).into_owned();
        assert!(text.starts_with("HTTP/1.1 413"), "{path}: {text}");
        assert!(
            text.ends_with(ErrorKind::BodyTooLarge.response_body()),
            "{path}: {text}"
        );
        // The announced body is not waited for: the connection is closed.
        let closed = tokio::time::timeout(Duration::from_secs(10), stream.read(&mut response))
            .await
            .expect("the connection is closed without waiting for the body");
        assert!(matches!(closed, Ok(0) | Err(_)), "{path}: {closed:?}");

        // A body exactly at the limit is read whole and verified.
        let json = fixture_at(EventType::PharmacySkuStockUpdated, now());
        let mut at_limit = json.into_bytes();
        at_limit.resize(TEST_MAX_BODY_BYTES, b' ');
        let reply = deliver_genuine(addr, path, &at_limit).await;
        assert_eq!(reply.status, 200, "{path}: {reply:?}");
    }
    assert_eq!(
        *calls.lock().unwrap(),
        2,
        "only the bodies within the limit"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_middleware_on_the_route_leaves_other_methods_and_routes_alone() {
    async fn ok() -> HttpResponse {
        HttpResponse::Ok().finish()
    }
    let addr = serve(move || {
        App::new()
            .service(
                web::resource("/hook")
                    .route(web::post().to(ok).wrap(VerifyWebhook::new(test_verifier())))
                    .route(web::get().to(ok)),
            )
            .route("/health", web::post().to(ok))
            .service(
                web::resource("/resource-wrapped")
                    .route(web::post().to(ok))
                    .wrap(VerifyWebhook::new(test_verifier())),
            )
            .route("/app-route", web::post().to(ok))
    });
    let client = reqwest::Client::new();
    let status = |response: reqwest::Response| response.status().as_u16();
    let get = client.get(format!("http://{addr}/hook")).send().await;
    assert_eq!(status(get.unwrap()), 200, "GET is another route");
    let put = client.put(format!("http://{addr}/hook")).send().await;
    assert_eq!(status(put.unwrap()), 405);
    let unsigned = client.post(format!("http://{addr}/hook")).send().await;
    assert_eq!(status(unsigned.unwrap()), 401);
    let health = client.post(format!("http://{addr}/health")).send().await;
    assert_eq!(status(health.unwrap()), 200);

    // As docs/actix.md says: on the resource, the middleware runs before method matching...
    let get = client
        .get(format!("http://{addr}/resource-wrapped"))
        .send()
        .await;
    assert_eq!(status(get.unwrap()), 401);
    // ...and `App::route` turns the method into a guard, so other methods get 404.
    let get = client.get(format!("http://{addr}/app-route")).send().await;
    assert_eq!(status(get.unwrap()), 404);
}
