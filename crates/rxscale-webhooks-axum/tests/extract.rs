//! The extractors in process, for what real HTTP cannot show deterministically: a body that
//! fails mid-way, and the rejection type's own API. Over-the-wire tests live in the workspace's
//! `tests/` package.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::error::Error as _;

use axum::body::{Body, Bytes};
use axum::extract::{FromRequest, Request};
use axum::http::StatusCode;
use axum::response::IntoResponse;
use rxscale_webhooks_axum::testing::fixture_at;
use rxscale_webhooks_axum::{
    ErrorKind, EventType, OffsetDateTime, SigningSecret, Verified, VerifiedEvent, Verifier,
    WebhookRejection, sign,
};

const SECRET: &str = "whsec_extract_unit";

fn verifier() -> Verifier {
    Verifier::builder()
        .secret(SECRET)
        .max_body_bytes(8 * 1024)
        .build()
        .unwrap()
}

fn genuine() -> (String, String) {
    let body = fixture_at(
        EventType::PharmacySkuStockUpdated,
        OffsetDateTime::now_utc().unix_timestamp(),
    );
    let signature = sign(&SigningSecret::new(SECRET), &body);
    (body, signature)
}

async fn extract(request: Request) -> Result<VerifiedEvent, WebhookRejection> {
    VerifiedEvent::from_request(request, &verifier()).await
}

async fn response_of(rejection: WebhookRejection) -> (StatusCode, String, String) {
    let response = rejection.into_response();
    let status = response.status();
    let content_type = response.headers()["content-type"]
        .to_str()
        .unwrap()
        .to_owned();
    let body = axum::body::to_bytes(response.into_body(), usize::MAX)
        .await
        .unwrap();
    (
        status,
        content_type,
        String::from_utf8(body.to_vec()).unwrap(),
    )
}

#[tokio::test]
async fn a_body_that_fails_midway_is_400_body_read_failed() {
    let (body, signature) = genuine();
    let (head, _) = body.split_at(body.len() / 2);
    let chunks: Vec<Result<Bytes, std::io::Error>> = vec![
        Ok(Bytes::from(head.to_owned())),
        Err(std::io::Error::other("connection reset")),
    ];
    let request = Request::post("/")
        .header("x-webhook-signature", signature)
        .body(Body::from_stream(futures_util::stream::iter(chunks)))
        .unwrap();
    let rejection = extract(request).await.unwrap_err();
    assert_eq!(rejection.kind(), Some(ErrorKind::BodyReadFailed));
    assert_eq!(rejection.status(), StatusCode::BAD_REQUEST);
    assert!(
        rejection.source().is_some(),
        "the cause is kept as the source"
    );
    let (status, content_type, text) = response_of(rejection).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(content_type, "application/json");
    assert_eq!(text, r#"{"error":"body_read_failed"}"#);
}

#[tokio::test]
async fn a_streamed_body_past_the_limit_is_413_and_read_no_further() {
    let (_, signature) = genuine();
    let pulled = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let counter = pulled.clone();
    let endless = futures_util::stream::repeat_with(move || {
        counter.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        Ok::<_, std::io::Error>(Bytes::from(vec![b' '; 1024]))
    });
    let request = Request::post("/")
        .header("x-webhook-signature", signature)
        .body(Body::from_stream(endless))
        .unwrap();
    let rejection = extract(request).await.unwrap_err();
    assert_eq!(rejection.kind(), Some(ErrorKind::BodyTooLarge));
    // Eight chunks fit in 8 KiB; the ninth passes the limit and is the last one read.
    assert_eq!(pulled.load(std::sync::atomic::Ordering::SeqCst), 9);
    let (status, _, text) = response_of(rejection).await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(text, ErrorKind::BodyTooLarge.response_body());
}

#[tokio::test]
async fn every_verification_failure_answers_with_the_core_status_map() {
    let (body, signature) = genuine();
    let cases = [
        (body.clone(), None, ErrorKind::MissingSignature),
        (
            body.clone(),
            Some("nope".to_owned()),
            ErrorKind::MalformedSignature,
        ),
        (
            body.clone(),
            Some("0".repeat(64)),
            ErrorKind::SignatureMismatch,
        ),
        (
            "[]".to_owned(),
            Some(sign(&SigningSecret::new(SECRET), "[]")),
            ErrorKind::MalformedPayload,
        ),
        (
            " ".repeat(8 * 1024 + 1),
            Some(signature),
            ErrorKind::BodyTooLarge,
        ),
    ];
    for (body, signature, kind) in cases {
        let mut request = Request::post("/");
        if let Some(signature) = signature {
            request = request.header("x-webhook-signature", signature);
        }
        let rejection = extract(request.body(Body::from(body)).unwrap())
            .await
            .unwrap_err();
        assert_eq!(rejection.kind(), Some(kind));
        assert_eq!(rejection.status().as_u16(), kind.status_code());
        assert_eq!(rejection.body_text(), kind.response_body());
        let (status, content_type, text) = response_of(rejection).await;
        assert_eq!(status.as_u16(), kind.status_code());
        assert_eq!(content_type, "application/json");
        assert_eq!(text, kind.response_body());
    }
}

#[tokio::test]
async fn a_verified_event_in_the_extensions_is_taken_as_is() {
    let (body, signature) = genuine();
    let verified: Verified = verifier().verify(&body, &signature).unwrap();
    // No signature and an empty body: only the extension can make this succeed.
    let mut request = Request::post("/").body(Body::empty()).unwrap();
    request.extensions_mut().insert(verified.clone());
    let event = extract(request).await.unwrap();
    assert_eq!(event.dedup_key(), verified.dedup_key());
    assert_eq!(
        event.into_inner().event_type(),
        "pharmacy_sku_stock_updated"
    );
}
