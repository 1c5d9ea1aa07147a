//! The layer in front of a plain hyper server, no framework: real HTTP on loopback.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use bytes::Bytes;
use http::{Request, Response};
use http_body_util::{BodyExt, Full};
use hyper_util::rt::TokioIo;
use hyper_util::service::TowerToHyperService;
use rxscale_webhooks::testing::fixture_at;
use rxscale_webhooks::{ErrorKind, EventType, SigningSecret, Verified, Verifier, sign};
use rxscale_webhooks_tower::{VerifiedBody, VerifyLayer};
use tower::ServiceBuilder;

const SECRET: &str = "whsec_hyper_smoke_test";

async fn serve(calls: Arc<AtomicUsize>) -> SocketAddr {
    let verifier = Verifier::builder()
        .secret(SECRET)
        .max_age(Duration::from_secs(600))
        .max_body_bytes(16 * 1024)
        .build()
        .unwrap();
    // Echoes the dedup key and the body it was handed, to show both arrive intact.
    let handler = tower::service_fn(move |request: Request<VerifiedBody>| {
        calls.fetch_add(1, Ordering::SeqCst);
        async move {
            let key = request
                .extensions()
                .get::<Verified>()
                .map(|verified| verified.dedup_key().to_string())
                .unwrap_or_default();
            let body = request.into_body().into_bytes();
            let echo = [key.as_bytes(), b"\n", &body].concat();
            Ok::<_, Infallible>(Response::new(Full::new(Bytes::from(echo))))
        }
    });
    let service = ServiceBuilder::new()
        .layer(VerifyLayer::new(verifier))
        .service(handler);

    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        loop {
            let (stream, _) = listener.accept().await.unwrap();
            let service = TowerToHyperService::new(service.clone());
            tokio::spawn(
                hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), service),
            );
        }
    });
    addr
}

async fn post(addr: SocketAddr, body: &str, signature: &str) -> (u16, Option<String>, String) {
    let stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    let (mut sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .unwrap();
    tokio::spawn(connection);
    let request = Request::post("/")
        .header("host", addr.to_string())
        .header("x-webhook-signature", signature)
        .body(Full::new(Bytes::from(body.to_owned())))
        .unwrap();
    let response = sender.send_request(request).await.unwrap();
    let status = response.status().as_u16();
    let content_type = response
        .headers()
        .get("content-type")
        .map(|value| value.to_str().unwrap().to_owned());
    let body = response.into_body().collect().await.unwrap().to_bytes();
    (
        status,
        content_type,
        String::from_utf8(body.to_vec()).unwrap(),
    )
}

#[tokio::test]
async fn verifies_in_front_of_a_plain_hyper_server() {
    let calls = Arc::new(AtomicUsize::new(0));
    let addr = serve(calls.clone()).await;
    let now = rxscale_webhooks::OffsetDateTime::now_utc().unix_timestamp();
    let body = fixture_at(EventType::PharmacySkuStockUpdated, now);
    let secret = SigningSecret::new(SECRET);

    let (status, _, echo) = post(addr, &body, &sign(&secret, &body)).await;
    assert_eq!(status, 200);
    assert_eq!(
        echo,
        format!("pharmacy_sku_stock_updated:{now}:psku-abc123\n{body}")
    );
    assert_eq!(calls.load(Ordering::SeqCst), 1);

    let (status, content_type, text) = post(addr, &body, &sign(&secret, "{}")).await;
    assert_eq!(status, 401);
    assert_eq!(content_type.as_deref(), Some("application/json"));
    assert_eq!(text, ErrorKind::SignatureMismatch.response_body());

    let big = " ".repeat(16 * 1024 + 1);
    let (status, _, text) = post(addr, &big, &sign(&secret, &big)).await;
    assert_eq!(status, 413);
    assert_eq!(text, ErrorKind::BodyTooLarge.response_body());
    assert_eq!(
        calls.load(Ordering::SeqCst),
        1,
        "rejections never reach the handler"
    );
}
