//! The service over in-memory bodies: limits, framing, pass-through. Real HTTP lives in the
//! workspace's `tests/` package.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::convert::Infallible;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use http::{HeaderValue, Request, Response, StatusCode};
use http_body::{Body, Frame, SizeHint};
use http_body_util::{BodyExt, Full};
use rxscale_webhooks::testing::fixture_at;
use rxscale_webhooks::{ErrorKind, Event, EventType, SigningSecret, Verified, Verifier, sign};
use rxscale_webhooks_tower::{UndecodedEvent, VerifiedBody, Verify, VerifyLayer};
use tower::{Layer, ServiceExt};

const SECRET: &str = "whsec_unit_0123456789";
const LIMIT: usize = 4096;

fn verifier() -> Verifier {
    Verifier::builder()
        .secret(SECRET)
        .max_age(Duration::from_secs(600))
        .max_body_bytes(LIMIT)
        .build()
        .unwrap()
}

fn now() -> i64 {
    rxscale_webhooks::OffsetDateTime::now_utc().unix_timestamp()
}

fn signed(body: &str) -> String {
    sign(&SigningSecret::new(SECRET), body)
}

/// Counts its calls and echoes what it saw, so tests can tell whether a request got through.
#[derive(Clone, Default)]
struct Recorder {
    calls: Arc<AtomicUsize>,
}

impl Recorder {
    fn calls(&self) -> usize {
        self.calls.load(Ordering::SeqCst)
    }

    fn service(
        &self,
    ) -> impl tower::Service<
        Request<VerifiedBody>,
        Response = Response<Full<Bytes>>,
        Error = Infallible,
        Future = impl Send,
    > + Clone {
        let calls = self.calls.clone();
        tower::service_fn(move |request: Request<VerifiedBody>| {
            calls.fetch_add(1, Ordering::SeqCst);
            async move {
                let kind = if let Some(verified) = request.extensions().get::<Verified>() {
                    format!("verified:{}", verified.event_type())
                } else if let Some(undecoded) = request.extensions().get::<UndecodedEvent>() {
                    format!("undecoded:{}", undecoded.verified().event_type())
                } else {
                    "nothing".to_owned()
                };
                Ok::<_, Infallible>(Response::new(Full::new(Bytes::from(kind))))
            }
        })
    }
}

async fn send<B>(
    service: impl tower::Service<
        Request<B>,
        Response = Response<rxscale_webhooks_tower::ResponseBody<Full<Bytes>>>,
        Error = Infallible,
    >,
    request: Request<B>,
) -> (StatusCode, String, Option<HeaderValue>) {
    let response = service.oneshot(request).await.unwrap();
    let status = response.status();
    let content_type = response.headers().get(http::header::CONTENT_TYPE).cloned();
    let body = response.into_body().collect().await.unwrap().to_bytes();
    (
        status,
        String::from_utf8(body.to_vec()).unwrap(),
        content_type,
    )
}

/// A body of `frames` frames of `frame_len` bytes that counts how many frames were pulled.
struct Frames {
    left: usize,
    frame_len: usize,
    pulled: Arc<AtomicUsize>,
    fail_after: Option<usize>,
}

impl Body for Frames {
    type Data = Bytes;
    type Error = std::io::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        _cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
        let pulled = self.pulled.fetch_add(1, Ordering::SeqCst);
        if self.fail_after == Some(pulled) {
            return Poll::Ready(Some(Err(std::io::Error::other("client went away"))));
        }
        if self.left == 0 {
            return Poll::Ready(None);
        }
        self.left -= 1;
        Poll::Ready(Some(Ok(Frame::data(Bytes::from(vec![
            b' ';
            self.frame_len
        ])))))
    }

    fn size_hint(&self) -> SizeHint {
        SizeHint::default()
    }
}

#[tokio::test]
async fn genuine_single_frame_body_is_passed_on_without_a_copy() {
    let body = Bytes::from(fixture_at(EventType::PharmacySkuStockUpdated, now()));
    let sent_at = body.as_ptr();
    let service = tower::service_fn(move |request: Request<VerifiedBody>| async move {
        let verified = request.extensions().get::<Verified>().unwrap().clone();
        assert!(matches!(
            verified.event(),
            Event::PharmacySkuStockUpdated(_)
        ));
        assert_eq!(request.headers()["x-custom"], "kept");
        assert_eq!(
            request.extensions().get::<&'static str>(),
            Some(&"other extension")
        );
        let bytes = request.into_body().into_bytes();
        assert_eq!(
            bytes.as_ptr(),
            sent_at,
            "the same allocation reaches the service"
        );
        Ok::<_, Infallible>(Response::new(Full::new(bytes)))
    });
    let mut request = Request::post("/")
        .header(
            "x-webhook-signature",
            signed(std::str::from_utf8(&body).unwrap()),
        )
        .header("x-custom", "kept")
        .body(Full::new(body.clone()))
        .unwrap();
    request.extensions_mut().insert("other extension");
    let (status, echoed, _) = send(VerifyLayer::new(verifier()).layer(service), request).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(echoed.as_bytes(), &body[..]);
}

#[tokio::test]
async fn multi_frame_body_is_reassembled_exactly() {
    let json = fixture_at(EventType::PharmacyOrderCreated, now());
    // The envelope followed by three frames of whitespace, which JSON allows after the value.
    let body =
        http_body_util::BodyExt::boxed(Full::new(Bytes::from(json.clone())).chain_frames(Frames {
            left: 3,
            frame_len: 1000 / 3,
            pulled: Arc::default(),
            fail_after: None,
        }));
    let expected = format!("{json}{}", " ".repeat(3 * (1000 / 3)));
    let service = tower::service_fn(|request: Request<VerifiedBody>| async move {
        let bytes = request.into_body().collect().await.unwrap().to_bytes();
        Ok::<_, Infallible>(Response::new(Full::new(bytes)))
    });
    let request = Request::post("/")
        .header("x-webhook-signature", signed(&expected))
        .body(body)
        .unwrap();
    let (status, echoed, _) = send(Verify::new(service, verifier()), request).await;
    assert_eq!(status, StatusCode::OK, "{echoed}");
    assert_eq!(echoed, expected);
}

/// `Full::chain_frames`: a tiny adapter so one test can send a body in several frames.
trait ChainFrames: Sized {
    fn chain_frames(self, rest: Frames) -> Chain<Self>;
}

impl ChainFrames for Full<Bytes> {
    fn chain_frames(self, rest: Frames) -> Chain<Self> {
        Chain {
            first: Some(self),
            rest,
        }
    }
}

struct Chain<A> {
    first: Option<A>,
    rest: Frames,
}

impl Body for Chain<Full<Bytes>> {
    type Data = Bytes;
    type Error = std::io::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
        if let Some(first) = self.first.as_mut() {
            match Pin::new(first).poll_frame(cx) {
                Poll::Ready(Some(Ok(frame))) => return Poll::Ready(Some(Ok(frame))),
                Poll::Ready(Some(Err(never))) => match never {},
                Poll::Ready(None) => self.first = None,
                Poll::Pending => return Poll::Pending,
            }
        }
        Pin::new(&mut self.rest).poll_frame(cx)
    }
}

#[tokio::test]
async fn declared_length_over_the_limit_is_refused_before_reading() {
    let recorder = Recorder::default();
    let pulled = Arc::new(AtomicUsize::new(0));
    let request = Request::post("/")
        .header("content-length", (LIMIT + 1).to_string())
        .header("x-webhook-signature", "0".repeat(64))
        .body(Frames {
            left: 100,
            frame_len: 1024,
            pulled: pulled.clone(),
            fail_after: None,
        })
        .unwrap();
    let service = VerifyLayer::new(verifier()).layer(recorder.service());
    let response = service.oneshot(request).await.unwrap();
    assert_eq!(response.status(), StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(
        pulled.load(Ordering::SeqCst),
        0,
        "no frame may be read before the answer"
    );
    assert_eq!(response.headers()["content-type"], "application/json");
    assert_eq!(response.headers()["connection"], "close");
    // Then the rest is discarded while the answer is sent, within the bound (issue 14): here
    // the whole 100 KiB body, well under DISCARD_AFTER_REJECTION_BYTES.
    let body = response.into_body().collect().await.unwrap().to_bytes();
    assert_eq!(body, ErrorKind::BodyTooLarge.response_body());
    assert_eq!(pulled.load(Ordering::SeqCst), 101);
    assert_eq!(recorder.calls(), 0);
}

/// Under `Expect: 100-continue` a body refused for its declared length is never polled: hyper
/// would send `100 Continue` and invite the upload.
#[tokio::test]
async fn declared_length_over_the_limit_with_expect_continue_is_never_polled() {
    let recorder = Recorder::default();
    let pulled = Arc::new(AtomicUsize::new(0));
    let request = Request::post("/")
        .header("content-length", (LIMIT + 1).to_string())
        .header("expect", "100-continue")
        .header("x-webhook-signature", "0".repeat(64))
        .body(Frames {
            left: 100,
            frame_len: 1024,
            pulled: pulled.clone(),
            fail_after: None,
        })
        .unwrap();
    let service = VerifyLayer::new(verifier()).layer(recorder.service());
    let (status, body, _) = send(service, request).await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(body, ErrorKind::BodyTooLarge.response_body());
    assert_eq!(pulled.load(Ordering::SeqCst), 0);
    assert_eq!(recorder.calls(), 0);
}

#[tokio::test]
async fn streamed_body_is_cut_off_as_soon_as_it_passes_the_limit() {
    let recorder = Recorder::default();
    let pulled = Arc::new(AtomicUsize::new(0));
    let request = Request::post("/")
        .header("x-webhook-signature", "0".repeat(64))
        .body(Frames {
            left: 1_000_000,
            frame_len: 1000,
            pulled: pulled.clone(),
            fail_after: None,
        })
        .unwrap();
    let service = VerifyLayer::new(verifier()).layer(recorder.service());
    let response = service.oneshot(request).await.unwrap();
    assert_eq!(response.status(), StatusCode::PAYLOAD_TOO_LARGE);
    // 4 frames fit in 4096 bytes; the fifth passes the limit and is the last one pulled
    // before the answer.
    assert_eq!(pulled.load(Ordering::SeqCst), 5);
    // While the answer is sent, at most DISCARD_AFTER_REJECTION_BYTES more are read and thrown
    // away, then the body is dropped unread (issue 14: never an unbounded drain).
    let body = response.into_body().collect().await.unwrap().to_bytes();
    assert_eq!(body, ErrorKind::BodyTooLarge.response_body());
    let bound = rxscale_webhooks::pipeline::DISCARD_AFTER_REJECTION_BYTES as usize / 1000 + 1;
    let discarded = pulled.load(Ordering::SeqCst) - 5;
    assert!(
        (bound - 1..=bound).contains(&discarded),
        "{discarded} frames discarded"
    );
    assert_eq!(recorder.calls(), 0);
}

#[tokio::test]
async fn body_exactly_at_the_limit_is_read() {
    let json = fixture_at(EventType::PharmacySkuStockUpdated, now());
    let body = format!("{json}{}", " ".repeat(LIMIT - json.len()));
    assert_eq!(body.len(), LIMIT);
    let recorder = Recorder::default();
    let request = Request::post("/")
        .header("x-webhook-signature", signed(&body))
        .body(Full::new(Bytes::from(body)))
        .unwrap();
    let (status, text, _) = send(
        VerifyLayer::new(verifier()).layer(recorder.service()),
        request,
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{text}");
    assert_eq!(text, "verified:pharmacy_sku_stock_updated");
}

#[tokio::test]
async fn body_read_error_is_400_and_never_reaches_the_service() {
    let recorder = Recorder::default();
    let request = Request::post("/")
        .header("x-webhook-signature", "0".repeat(64))
        .body(Frames {
            left: 3,
            frame_len: 10,
            pulled: Arc::default(),
            fail_after: Some(2),
        })
        .unwrap();
    let service = VerifyLayer::new(verifier()).layer(recorder.service());
    let (status, body, content_type) = send(service, request).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(body, r#"{"error":"body_read_failed"}"#);
    assert_eq!(content_type.unwrap(), "application/json");
    assert_eq!(recorder.calls(), 0);
}

/// `BodyReadFailed` comes only from an adapter reading a real body: this is where it is produced
/// (not constructed), and where its kind is checked. The rejection response carries the error
/// in its extensions, so outer layers (the CLI's `listen`) read why without parsing the body.
#[tokio::test]
async fn a_failing_body_is_rejected_with_the_body_read_failed_kind_in_the_extensions() {
    let request = Request::post("/")
        .header("x-webhook-signature", "0".repeat(64))
        .body(Frames {
            left: 3,
            frame_len: 10,
            pulled: Arc::default(),
            fail_after: Some(1),
        })
        .unwrap();
    let recorder = Recorder::default();
    let service = VerifyLayer::new(verifier()).layer(recorder.service());
    let response = service.oneshot(request).await.unwrap();
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    let extensions = response.extensions();
    assert_eq!(
        extensions.get::<rxscale_webhooks::ErrorKind>(),
        Some(&rxscale_webhooks::ErrorKind::BodyReadFailed)
    );
    let error = extensions.get::<rxscale_webhooks::Error>().unwrap();
    assert_eq!(error.kind(), rxscale_webhooks::ErrorKind::BodyReadFailed);
    let rejection = extensions
        .get::<rxscale_webhooks::pipeline::Rejection>()
        .unwrap();
    assert_eq!(rejection.status(), 400);
    assert_eq!(
        rejection.kind(),
        Some(rxscale_webhooks::ErrorKind::BodyReadFailed)
    );
    assert_eq!(recorder.calls(), 0);
}

#[tokio::test]
async fn every_rejection_uses_the_core_status_map() {
    let genuine = fixture_at(EventType::PharmacySkuStockUpdated, now());
    let stale = fixture_at(EventType::PharmacySkuStockUpdated, now() - 3600);
    let bad_data = format!(
        r#"{{"event_type":"pharmacy_order_created","timestamp":{},"payload_version":"1","data":{{"uid":7}}}}"#,
        now()
    );
    let cases: Vec<(String, Option<String>, ErrorKind)> = vec![
        (genuine.clone(), None, ErrorKind::MissingSignature),
        (
            genuine.clone(),
            Some("xyz".into()),
            ErrorKind::MalformedSignature,
        ),
        (
            genuine.clone(),
            Some(signed("{}")),
            ErrorKind::SignatureMismatch,
        ),
        (
            "not json".into(),
            Some(signed("not json")),
            ErrorKind::MalformedPayload,
        ),
        (stale.clone(), Some(signed(&stale)), ErrorKind::Expired),
        (
            bad_data.clone(),
            Some(signed(&bad_data)),
            ErrorKind::InvalidEventData,
        ),
    ];
    for (body, signature, kind) in cases {
        let recorder = Recorder::default();
        let mut builder = Request::post("/");
        if let Some(signature) = signature {
            builder = builder.header("x-webhook-signature", signature);
        }
        let request = builder.body(Full::new(Bytes::from(body))).unwrap();
        let service = VerifyLayer::new(verifier()).layer(recorder.service());
        let (status, text, content_type) = send(service, request).await;
        assert_eq!(status.as_u16(), kind.status_code(), "{kind}");
        assert_eq!(text, kind.response_body());
        assert_eq!(content_type.unwrap(), "application/json");
        assert_eq!(recorder.calls(), 0, "{kind}");
    }
}

#[tokio::test]
async fn invalid_event_data_can_be_passed_through() {
    let body = format!(
        r#"{{"event_type":"pharmacy_order_created","timestamp":{},"payload_version":"1","data":{{"uid":7}}}}"#,
        now()
    );
    let service = tower::service_fn(|request: Request<VerifiedBody>| async move {
        assert!(request.extensions().get::<Verified>().is_none());
        let undecoded = request.extensions().get::<UndecodedEvent>().unwrap();
        assert_eq!(undecoded.error().kind(), ErrorKind::InvalidEventData);
        let text = format!(
            "{} {}",
            undecoded.verified().dedup_key(),
            undecoded.data().get()
        );
        Ok::<_, Infallible>(Response::new(Full::new(Bytes::from(text))))
    });
    let request = Request::post("/")
        .header("x-webhook-signature", signed(&body))
        .body(Full::new(Bytes::from(body.clone())))
        .unwrap();
    let layer = VerifyLayer::new(verifier()).pass_invalid_event_data(true);
    let (status, text, _) = send(layer.layer(service), request).await;
    assert_eq!(status, StatusCode::OK);
    assert!(text.ends_with(r#" {"uid":7}"#), "{text}");
    assert!(text.starts_with("pharmacy_order_created:"), "{text}");

    // Pass-through covers bad data only: an unauthentic body is still refused.
    let recorder = Recorder::default();
    let request = Request::post("/")
        .header("x-webhook-signature", signed("{}"))
        .body(Full::new(Bytes::from(body)))
        .unwrap();
    let layer = VerifyLayer::new(verifier()).pass_invalid_event_data(true);
    let (status, _, _) = send(layer.layer(recorder.service()), request).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(recorder.calls(), 0);
}

#[tokio::test]
async fn any_of_several_signature_headers_may_match() {
    let body = fixture_at(EventType::AppointmentReminderDue, now());
    let wrong = sign(&SigningSecret::new("whsec_wrong"), &body);
    for (values, expected) in [
        (vec![wrong.clone(), signed(&body)], StatusCode::OK),
        (vec![signed(&body), "garbage".into()], StatusCode::OK),
        (vec![wrong.clone(), wrong], StatusCode::UNAUTHORIZED),
    ] {
        let recorder = Recorder::default();
        let mut builder = Request::post("/");
        for value in values {
            builder = builder.header("x-webhook-signature", value);
        }
        let request = builder.body(Full::new(Bytes::from(body.clone()))).unwrap();
        let (status, _, _) = send(
            VerifyLayer::new(verifier()).layer(recorder.service()),
            request,
        )
        .await;
        assert_eq!(status, expected);
        assert_eq!(recorder.calls(), usize::from(expected == StatusCode::OK));
    }
}
