//! The verified receiver under AWS Lambda, driven through `lambda_http`'s own request types: the
//! JSON events API Gateway REST APIs (payload v1), HTTP APIs (v2) and function URLs send, with
//! the body as text or base64-encoded, each turned into an `http::Request` by `lambda_http` as
//! `lambda_http::run` does, through the router of `examples/examples/lambda_receiver.rs` (the
//! `VerifyLayer` and its replay guard on an axum route), and its response turned back by
//! `lambda_http`.
//!
//! What matters: the bytes verified are the bytes RxScale signed, whatever encoding the event
//! carried them in.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::{Arc, Mutex};

use axum::{Extension, Router, body::Bytes, http::StatusCode, routing::post};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use lambda_http::request::RequestContext;
use lambda_http::{Body, IntoResponse as _, RequestExt as _};
use rxscale_webhooks::testing::fixture_at;
use rxscale_webhooks::{ErrorKind, EventType, OffsetDateTime, ReplayGuard, Verified, sign};
use rxscale_webhooks_axum::VerifyLayer;
use rxscale_webhooks_tests::{test_secret, test_verifier};
use serde_json::{Value, json};
use tower::ServiceExt as _;

const PATH: &str = "/webhooks/rxscale";

/// What the handler saw: the event's dedup key and the body bytes it was handed.
type Seen = Arc<Mutex<Vec<(String, Vec<u8>)>>>;

/// `lambda_receiver`'s router (the test verifier instead of the environment's), and what its
/// handler saw. A REST API's stage prefixes the path, so the route also answers under `/prod`.
fn app() -> (Router, Seen) {
    let seen = Seen::default();
    let record = seen.clone();
    let handle = move |Extension(verified): Extension<Verified>, body: Bytes| async move {
        let key = verified.dedup_key().as_str().to_owned();
        record.lock().unwrap().push((key, body.to_vec()));
        StatusCode::OK
    };
    let layer = VerifyLayer::new(test_verifier()).replay_guard(ReplayGuard::in_memory());
    let route = post(handle).route_layer(layer);
    let app = Router::new()
        .route(PATH, route.clone())
        .route(&format!("/prod{PATH}"), route);
    (app, seen)
}

/// The three ways an HTTP request reaches a function.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Source {
    /// An API Gateway REST API, payload format 1.0, stage `prod`.
    RestApi,
    /// An API Gateway HTTP API, payload format 2.0, the `$default` stage.
    HttpApi,
    /// A Lambda function URL (payload format 2.0, its own domain).
    FunctionUrl,
}

const SOURCES: [Source; 3] = [Source::RestApi, Source::HttpApi, Source::FunctionUrl];

/// The event JSON `source` hands the function for a POST of `body` with `headers`: the body as
/// text, or base64-encoded with `isBase64Encoded` (as API Gateway does for binary media types).
fn event(source: Source, headers: &[(&str, &str)], body: &[u8], base64: bool) -> String {
    let body = if base64 {
        BASE64.encode(body)
    } else {
        String::from_utf8(body.to_vec()).expect("a text body is UTF-8")
    };
    let now_ms = OffsetDateTime::now_utc().unix_timestamp() * 1000;
    let event = match source {
        Source::RestApi => {
            // REST APIs keep the header names as sent, once in `headers` and once in
            // `multiValueHeaders`.
            let single: serde_json::Map<String, Value> = headers
                .iter()
                .map(|(name, value)| ((*name).to_owned(), json!(value)))
                .collect();
            let multi: serde_json::Map<String, Value> = headers
                .iter()
                .map(|(name, value)| ((*name).to_owned(), json!([value])))
                .collect();
            json!({
                "resource": PATH,
                "path": PATH,
                "httpMethod": "POST",
                "headers": single,
                "multiValueHeaders": multi,
                "queryStringParameters": null,
                "multiValueQueryStringParameters": null,
                "pathParameters": null,
                "stageVariables": null,
                "requestContext": {
                    "accountId": "123456789012",
                    "resourceId": "abc123",
                    "stage": "prod",
                    "requestId": "c6af9ac6-7b61-11e6-9a41-93e8deadbeef",
                    "requestTimeEpoch": now_ms,
                    "identity": { "sourceIp": "203.0.113.7", "userAgent": "RxScale-Webhooks/1.0" },
                    "resourcePath": PATH,
                    "httpMethod": "POST",
                    "apiId": "a1b2c3d4e5",
                    "path": format!("/prod{PATH}"),
                    "protocol": "HTTP/1.1"
                },
                "body": body,
                "isBase64Encoded": base64
            })
        }
        Source::HttpApi | Source::FunctionUrl => {
            // Payload format 2.0 lowercases header names.
            let headers: serde_json::Map<String, Value> = headers
                .iter()
                .map(|(name, value)| (name.to_ascii_lowercase(), json!(value)))
                .collect();
            let domain = if source == Source::FunctionUrl {
                "abcdefghij0123456789klmnop.lambda-url.eu-west-1.on.aws"
            } else {
                "a1b2c3d4e5.execute-api.eu-west-1.amazonaws.com"
            };
            json!({
                "version": "2.0",
                "routeKey": if source == Source::FunctionUrl { "$default".to_owned() } else { format!("POST {PATH}") },
                "rawPath": PATH,
                "rawQueryString": "",
                "headers": headers,
                "requestContext": {
                    "accountId": "123456789012",
                    "apiId": domain.split('.').next(),
                    "domainName": domain,
                    "domainPrefix": domain.split('.').next(),
                    "http": {
                        "method": "POST",
                        "path": PATH,
                        "protocol": "HTTP/1.1",
                        "sourceIp": "203.0.113.7",
                        "userAgent": "RxScale-Webhooks/1.0"
                    },
                    "requestId": "JKJaXmPLvHcESHA=",
                    "routeKey": "$default",
                    "stage": "$default",
                    "time": "05/Dec/2026:19:00:00 +0000",
                    "timeEpoch": now_ms
                },
                "body": body,
                "isBase64Encoded": base64
            })
        }
    };
    event.to_string()
}

/// What the function answered, after `lambda_http` turned the router's response into its own.
#[derive(Debug)]
struct Answer {
    status: u16,
    duplicate: bool,
    content_type: Option<String>,
    body: Body,
}

/// `event` as `lambda_http::run` handles it: deserialized into `lambda_http`'s request, called on
/// the router, the response converted by `lambda_http::IntoResponse`.
async fn invoke(app: &Router, source: Source, event: &str) -> Answer {
    let request = lambda_http::request::from_str(event).expect("lambda_http reads the event");
    // lambda_http recognised the source from the event's shape.
    match (source, request.request_context()) {
        (Source::RestApi, RequestContext::ApiGatewayV1(context)) => {
            assert_eq!(context.stage.as_deref(), Some("prod"));
            assert_eq!(request.uri().path(), format!("/prod{PATH}"), "stage first");
        }
        (Source::HttpApi | Source::FunctionUrl, RequestContext::ApiGatewayV2(_)) => {
            assert_eq!(request.uri().path(), PATH);
        }
        (source, context) => panic!("{source:?} read as {context:?}"),
    }
    let response = app.clone().oneshot(request).await.expect("infallible");
    let response = response.into_response().await;
    Answer {
        status: response.status().as_u16(),
        duplicate: response
            .headers()
            .get("x-webhook-duplicate")
            .is_some_and(|value| value == "true"),
        content_type: response
            .headers()
            .get("content-type")
            .map(|value| value.to_str().unwrap().to_owned()),
        body: response.into_body(),
    }
}

fn signed_headers(body: &[u8]) -> Vec<(&'static str, String)> {
    vec![
        ("Content-Type", "application/json".to_owned()),
        ("X-Webhook-Event", "pharmacy_order_created".to_owned()),
        ("X-Webhook-Signature", sign(&test_secret(), body)),
    ]
}

fn as_refs<'a>(headers: &'a [(&'static str, String)]) -> Vec<(&'static str, &'a str)> {
    headers
        .iter()
        .map(|(name, value)| (*name, value.as_str()))
        .collect()
}

fn key_of(body: &[u8]) -> String {
    test_verifier()
        .verify(body, sign(&test_secret(), body))
        .unwrap()
        .dedup_key()
        .as_str()
        .to_owned()
}

/// A body whose bytes a text channel could easily change: non-ASCII UTF-8 (NFC `é`, and an `e`
/// followed by a combining accent), a `\/` escape, a tab, CRLF and a trailing newline.
fn awkward_body(at: i64) -> Vec<u8> {
    let fixture: Value = serde_json::from_str(&fixture_at(EventType::PharmacyOrderCreated, at))
        .expect("fixtures are JSON");
    let uid = fixture["data"]["uid"].as_str().unwrap().to_owned();
    let compact = serde_json::to_string(&fixture).unwrap();
    let with_note = compact.replacen(
        &format!("\"uid\":\"{uid}\""),
        &format!("\"uid\":\"{uid}\",\t\"note\":\"Caf\u{e9} / cafe\u{301} \\/ r\u{e9}sum\u{e9}\""),
        1,
    );
    assert_ne!(with_note, compact, "the note went in");
    format!("{with_note}\r\n").into_bytes()
}

#[tokio::test]
async fn a_genuine_delivery_verifies_from_every_source_as_text_or_base64() {
    let (app, seen) = app();
    let now = OffsetDateTime::now_utc().unix_timestamp();
    let mut expected = Vec::new();
    let mut at = now;
    for source in SOURCES {
        for base64 in [false, true] {
            at -= 1;
            let body = awkward_body(at);
            let headers = signed_headers(&body);
            let answer = invoke(
                &app,
                source,
                &event(source, &as_refs(&headers), &body, base64),
            )
            .await;
            assert_eq!(
                (answer.status, answer.duplicate),
                (200, false),
                "{source:?}, base64 {base64}: {answer:?}"
            );
            expected.push((key_of(&body), body));
        }
    }
    // The handler ran once per delivery and was handed exactly the bytes that were signed.
    assert_eq!(*seen.lock().unwrap(), expected);
}

#[tokio::test]
async fn a_body_api_gateway_base64_encoded_is_verified_over_the_decoded_bytes() {
    let (app, seen) = app();
    let now = OffsetDateTime::now_utc().unix_timestamp();
    for (i, source) in SOURCES.into_iter().enumerate() {
        let body = awkward_body(now - 10 - i64::try_from(i).unwrap());
        let headers = signed_headers(&body);
        let headers = as_refs(&headers);
        let encoded = event(source, &headers, &body, true);
        // The event carries base64 text, not the JSON that was signed.
        let sent: Value = serde_json::from_str(&encoded).unwrap();
        let carried = sent["body"].as_str().unwrap();
        assert_ne!(carried.as_bytes(), body.as_slice());
        assert_eq!(BASE64.decode(carried).unwrap(), body);

        // Verified as the decoded bytes: accepted, once; a redelivery is the guard's duplicate.
        let first = invoke(&app, source, &encoded).await;
        assert_eq!((first.status, first.duplicate), (200, false), "{first:?}");
        let again = invoke(&app, source, &encoded).await;
        assert_eq!((again.status, again.duplicate), (200, true), "{again:?}");
        assert_eq!(
            again.body,
            Body::Text(r#"{"status":"duplicate"}"#.to_owned())
        );

        // Had the function verified the base64 text instead, the signature would not hold: the
        // same text delivered as a plain body is rejected.
        let undecoded = event(source, &headers, carried.as_bytes(), false);
        let wrong = invoke(&app, source, &undecoded).await;
        assert_rejected(&wrong, ErrorKind::SignatureMismatch);
    }
    assert_eq!(seen.lock().unwrap().len(), SOURCES.len());
}

#[tokio::test]
async fn a_tampered_body_is_rejected_from_every_source_as_text_or_base64() {
    let (app, seen) = app();
    let now = OffsetDateTime::now_utc().unix_timestamp();
    for source in SOURCES {
        for base64 in [false, true] {
            let body = awkward_body(now - 20);
            let headers = signed_headers(&body);
            // One byte changed after signing: a digit of the timestamp.
            let mut tampered = body.clone();
            let digit = tampered
                .iter()
                .position(u8::is_ascii_digit)
                .expect("the body has digits");
            tampered[digit] = if tampered[digit] == b'9' {
                b'8'
            } else {
                tampered[digit] + 1
            };
            let answer = invoke(
                &app,
                source,
                &event(source, &as_refs(&headers), &tampered, base64),
            )
            .await;
            assert_rejected(&answer, ErrorKind::SignatureMismatch);

            // Unsigned, or signed with a malformed signature: the same answers as over HTTP.
            let unsigned = [("Content-Type", "application/json")];
            let answer = invoke(&app, source, &event(source, &unsigned, &body, base64)).await;
            assert_rejected(&answer, ErrorKind::MissingSignature);
            let malformed = [
                ("Content-Type", "application/json"),
                ("X-Webhook-Signature", "zz"),
            ];
            let answer = invoke(&app, source, &event(source, &malformed, &body, base64)).await;
            assert_rejected(&answer, ErrorKind::MalformedSignature);
        }
    }
    assert!(seen.lock().unwrap().is_empty(), "the handler never ran");
}

#[tokio::test]
async fn a_body_over_the_limit_is_refused_from_an_event_too() {
    let (app, seen) = app();
    let body = vec![b' '; rxscale_webhooks_tests::TEST_MAX_BODY_BYTES + 1];
    for source in SOURCES {
        for base64 in [false, true] {
            let headers = signed_headers(&body);
            let answer = invoke(
                &app,
                source,
                &event(source, &as_refs(&headers), &body, base64),
            )
            .await;
            assert_rejected(&answer, ErrorKind::BodyTooLarge);
        }
    }
    assert!(seen.lock().unwrap().is_empty());
}

/// The kind's status, with its JSON body as text (`lambda_http` sends `application/json` bodies
/// as text, not base64), and no duplicate mark.
fn assert_rejected(answer: &Answer, kind: ErrorKind) {
    assert_eq!(answer.status, kind.status_code(), "{kind:?}: {answer:?}");
    assert!(!answer.duplicate);
    assert!(
        answer
            .content_type
            .as_deref()
            .is_some_and(|value| value.starts_with("application/json")),
        "{answer:?}"
    );
    assert_eq!(answer.body, Body::Text(kind.response_body().to_owned()));
}
