//! The replay guard inside the service: what is answered without calling the wrapped service,
//! and how the service's outcome settles the claim. Real HTTP and Redis live in the workspace's
//! `tests/` package.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::convert::Infallible;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;

use bytes::Bytes;
use http::{Request, Response, StatusCode};
use http_body_util::{BodyExt, Full};
use rxscale_webhooks::replay::{
    ClaimOutcome, ClaimToken, FailMode, MemoryStore, ReplayStore, StoreError, StoreFuture,
};
use rxscale_webhooks::testing::fixture_at;
use rxscale_webhooks::{EventType, ReplayGuard, SigningSecret, Verified, Verifier, sign};
use rxscale_webhooks_tower::{ResponseBody, VerifiedBody, VerifyLayer};
use tokio::sync::Notify;
use tower::{Layer, Service, ServiceExt};

const SECRET: &str = "whsec_unit_0123456789";

fn verifier() -> Verifier {
    Verifier::builder()
        .secret(SECRET)
        .max_age(Duration::from_secs(600))
        .build()
        .unwrap()
}

fn now() -> i64 {
    rxscale_webhooks::OffsetDateTime::now_utc().unix_timestamp()
}

fn delivery(body: &str) -> Request<Full<Bytes>> {
    Request::post("/")
        .header(
            "x-webhook-signature",
            sign(&SigningSecret::new(SECRET), body),
        )
        .body(Full::new(Bytes::from(body.to_owned())))
        .unwrap()
}

fn dedup_key(body: &str) -> String {
    verifier()
        .verify(body, sign(&SigningSecret::new(SECRET), body))
        .unwrap()
        .dedup_key()
        .to_string()
}

struct Answer {
    status: StatusCode,
    duplicate: Option<String>,
    content_type: Option<String>,
    body: String,
}

async fn answer<B>(response: Response<ResponseBody<B>>) -> Answer
where
    B: http_body::Body<Data = Bytes>,
    B::Error: std::fmt::Debug,
{
    let header = |name: &str| {
        response
            .headers()
            .get(name)
            .map(|value| value.to_str().unwrap().to_owned())
    };
    let duplicate = header("x-webhook-duplicate");
    let content_type = header("content-type");
    let status = response.status();
    let body = response.into_body().collect().await.unwrap().to_bytes();
    Answer {
        status,
        duplicate,
        content_type,
        body: String::from_utf8(body.to_vec()).unwrap(),
    }
}

/// Answers with the statuses in `script`, one per call (then 200), counting its calls.
#[derive(Clone)]
struct Scripted {
    calls: Arc<AtomicUsize>,
    script: Arc<Vec<StatusCode>>,
}

impl Scripted {
    fn new(script: &[StatusCode]) -> Self {
        Scripted {
            calls: Arc::default(),
            script: Arc::new(script.to_vec()),
        }
    }

    fn calls(&self) -> usize {
        self.calls.load(Ordering::SeqCst)
    }

    fn service(
        &self,
    ) -> impl Service<
        Request<VerifiedBody>,
        Response = Response<Full<Bytes>>,
        Error = Infallible,
        Future = impl Send,
    > + Clone
    + Send
    + 'static {
        let this = self.clone();
        tower::service_fn(move |request: Request<VerifiedBody>| {
            let call = this.calls.fetch_add(1, Ordering::SeqCst);
            let status = this.script.get(call).copied().unwrap_or(StatusCode::OK);
            async move {
                assert!(request.extensions().get::<Verified>().is_some());
                let mut response = Response::new(Full::new(Bytes::from_static(b"handled")));
                *response.status_mut() = status;
                Ok::<_, Infallible>(response)
            }
        })
    }
}

#[tokio::test]
async fn a_completed_event_is_answered_as_a_duplicate_without_the_service() {
    let handler = Scripted::new(&[]);
    let layer = VerifyLayer::new(verifier()).replay_guard(ReplayGuard::in_memory());
    let service = layer.layer(handler.service());
    let body = fixture_at(EventType::PharmacyOrderCreated, now());

    let first = answer(service.clone().oneshot(delivery(&body)).await.unwrap()).await;
    assert_eq!(first.status, StatusCode::OK);
    assert_eq!(first.body, "handled");
    assert_eq!(first.duplicate, None);

    for _ in 0..3 {
        let again = answer(service.clone().oneshot(delivery(&body)).await.unwrap()).await;
        assert_eq!(again.status, StatusCode::OK);
        assert_eq!(again.duplicate.as_deref(), Some("true"));
        assert_eq!(again.body, r#"{"status":"duplicate"}"#);
        assert_eq!(again.content_type.as_deref(), Some("application/json"));
    }
    assert_eq!(handler.calls(), 1);

    // Another event is its own key.
    let other = fixture_at(EventType::PharmacyOrderUpdated, now());
    let reply = answer(service.clone().oneshot(delivery(&other)).await.unwrap()).await;
    assert_eq!((reply.status, reply.duplicate), (StatusCode::OK, None));
    assert_eq!(handler.calls(), 2);
}

#[tokio::test]
async fn only_a_2xx_completes_the_key() {
    let handler = Scripted::new(&[
        StatusCode::INTERNAL_SERVER_ERROR,
        StatusCode::BAD_REQUEST,
        StatusCode::SEE_OTHER,
        StatusCode::ACCEPTED,
    ]);
    let layer = VerifyLayer::new(verifier()).replay_guard(ReplayGuard::in_memory());
    let service = layer.layer(handler.service());
    let body = fixture_at(EventType::PharmacySkuStockUpdated, now());

    for expected in [500, 400, 303, 202] {
        let reply = answer(service.clone().oneshot(delivery(&body)).await.unwrap()).await;
        assert_eq!(reply.status.as_u16(), expected);
        assert_eq!(reply.duplicate, None, "answered by the service");
    }
    let reply = answer(service.clone().oneshot(delivery(&body)).await.unwrap()).await;
    assert_eq!(reply.duplicate.as_deref(), Some("true"));
    assert_eq!(handler.calls(), 4);
}

#[tokio::test]
async fn a_service_error_releases_the_claim() {
    let calls = Arc::new(AtomicUsize::new(0));
    let counted = calls.clone();
    let failing_once = tower::service_fn(move |_: Request<VerifiedBody>| {
        let call = counted.fetch_add(1, Ordering::SeqCst);
        async move {
            if call == 0 {
                Err(std::io::Error::other("database down"))
            } else {
                Ok(Response::new(Full::new(Bytes::new())))
            }
        }
    });
    let layer = VerifyLayer::new(verifier()).replay_guard(ReplayGuard::in_memory());
    let service = layer.layer(failing_once);
    let body = fixture_at(EventType::AppointmentReminderDue, now());

    assert!(service.clone().oneshot(delivery(&body)).await.is_err());
    let reply = answer(service.clone().oneshot(delivery(&body)).await.unwrap()).await;
    assert_eq!((reply.status, reply.duplicate), (StatusCode::OK, None));
    let reply = answer(service.clone().oneshot(delivery(&body)).await.unwrap()).await;
    assert_eq!(reply.duplicate.as_deref(), Some("true"));
    assert_eq!(calls.load(Ordering::SeqCst), 2);
}

/// A service that waits for `release` before answering 200, and says when it was entered.
fn gated(
    entered: Arc<Notify>,
    release: Arc<Notify>,
    calls: Arc<AtomicUsize>,
) -> impl Service<
    Request<VerifiedBody>,
    Response = Response<Full<Bytes>>,
    Error = Infallible,
    Future = impl Send,
> + Clone
+ Send
+ 'static {
    tower::service_fn(move |_: Request<VerifiedBody>| {
        calls.fetch_add(1, Ordering::SeqCst);
        let (entered, release) = (entered.clone(), release.clone());
        async move {
            entered.notify_one();
            release.notified().await;
            Ok::<_, Infallible>(Response::new(Full::new(Bytes::new())))
        }
    })
}

#[tokio::test]
async fn a_live_claim_is_409_and_settles_into_a_duplicate() {
    let (entered, release, calls) = (
        Arc::new(Notify::new()),
        Arc::new(Notify::new()),
        Arc::default(),
    );
    let layer = VerifyLayer::new(verifier()).replay_guard(ReplayGuard::in_memory());
    let service = layer.layer(gated(entered.clone(), release.clone(), Arc::clone(&calls)));
    let body = fixture_at(EventType::PatientDoctorMeetingUpdated, now());

    let first = tokio::spawn(service.clone().oneshot(delivery(&body)));
    entered.notified().await;
    let second = answer(service.clone().oneshot(delivery(&body)).await.unwrap()).await;
    assert_eq!(second.status, StatusCode::CONFLICT);
    assert_eq!(second.body, r#"{"error":"in_flight"}"#);
    assert_eq!(second.content_type.as_deref(), Some("application/json"));
    assert_eq!(second.duplicate, None);

    release.notify_one();
    let first = answer(first.await.unwrap().unwrap()).await;
    assert_eq!(first.status, StatusCode::OK);
    let third = answer(service.clone().oneshot(delivery(&body)).await.unwrap()).await;
    assert_eq!(third.duplicate.as_deref(), Some("true"));
    assert_eq!(calls.load(Ordering::SeqCst), 1);
}

#[tokio::test]
async fn a_dropped_response_future_releases_the_claim() {
    let (entered, release, calls) = (
        Arc::new(Notify::new()),
        Arc::new(Notify::new()),
        Arc::default(),
    );
    let layer = VerifyLayer::new(verifier()).replay_guard(ReplayGuard::in_memory());
    let service = layer.layer(gated(entered.clone(), release.clone(), Arc::clone(&calls)));
    let body = fixture_at(EventType::PharmacyOrderCreated, now());

    let abandoned = tokio::spawn(service.clone().oneshot(delivery(&body)));
    entered.notified().await;
    abandoned.abort();
    assert!(abandoned.await.unwrap_err().is_cancelled());

    // Not 409: the claim went with the future.
    let retry = tokio::spawn(service.clone().oneshot(delivery(&body)));
    entered.notified().await;
    release.notify_one();
    let retry = answer(retry.await.unwrap().unwrap()).await;
    assert_eq!((retry.status, retry.duplicate), (StatusCode::OK, None));
    assert_eq!(calls.load(Ordering::SeqCst), 2);
}

#[tokio::test]
async fn a_panicking_service_releases_the_claim() {
    let calls = Arc::new(AtomicUsize::new(0));
    let counted = calls.clone();
    let panics_once = tower::service_fn(move |_: Request<VerifiedBody>| {
        let call = counted.fetch_add(1, Ordering::SeqCst);
        async move {
            assert!(call > 0, "the handler panics on its first call");
            Ok::<_, Infallible>(Response::new(Full::new(Bytes::new())))
        }
    });
    let layer = VerifyLayer::new(verifier()).replay_guard(ReplayGuard::in_memory());
    let service = layer.layer(panics_once);
    let body = fixture_at(EventType::PharmacyOrderUpdated, now());

    let panicked = tokio::spawn(service.clone().oneshot(delivery(&body))).await;
    assert!(panicked.unwrap_err().is_panic());
    let retry = answer(service.clone().oneshot(delivery(&body)).await.unwrap()).await;
    assert_eq!((retry.status, retry.duplicate), (StatusCode::OK, None));
    assert_eq!(calls.load(Ordering::SeqCst), 2);
}

/// The memory store, observed: `complete` takes a while, then records the TTL it was handed
/// and that it is done.
#[derive(Clone, Default)]
struct Observed {
    inner: MemoryStore,
    completed: Arc<AtomicBool>,
    completed_ttl: Arc<std::sync::Mutex<Option<Duration>>>,
}

impl ReplayStore for Observed {
    fn claim<'a>(
        &'a self,
        key: &'a str,
        token: &'a ClaimToken,
        lease: Duration,
    ) -> StoreFuture<'a, ClaimOutcome> {
        self.inner.claim(key, token, lease)
    }

    fn complete<'a>(
        &'a self,
        key: &'a str,
        token: &'a ClaimToken,
        ttl: Duration,
    ) -> StoreFuture<'a, bool> {
        Box::pin(async move {
            tokio::time::sleep(Duration::from_millis(50)).await;
            let done = self.inner.complete(key, token, ttl).await?;
            *self.completed_ttl.lock().unwrap() = Some(ttl);
            self.completed.store(true, Ordering::SeqCst);
            Ok(done)
        })
    }

    fn release<'a>(&'a self, key: &'a str, token: &'a ClaimToken) -> StoreFuture<'a, bool> {
        self.inner.release(key, token)
    }
}

#[tokio::test]
async fn the_key_is_completed_before_the_2xx_leaves() {
    let store = Observed::default();
    let handler = Scripted::new(&[]);
    let layer = VerifyLayer::new(verifier()).replay_guard(ReplayGuard::new(store.clone()));
    let body = fixture_at(EventType::PharmacyOrderCreated, now());

    let response = layer
        .layer(handler.service())
        .oneshot(delivery(&body))
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert!(store.completed.load(Ordering::SeqCst));
    let token = ClaimToken::random().unwrap();
    let outcome = store
        .inner
        .claim(&dedup_key(&body), &token, Duration::from_secs(1))
        .await
        .unwrap();
    assert_eq!(outcome, ClaimOutcome::Duplicate);
}

#[tokio::test]
async fn the_completed_key_lives_for_the_age_window() {
    // Observed through the store: a claim after the default TTL would be fresh again, so the
    // TTL handed to `complete` is what matters.
    let store = Observed::default();
    let verifier = Verifier::builder()
        .secret(SECRET)
        .max_age(Duration::from_secs(600))
        .max_future_skew(Duration::from_secs(30))
        .build()
        .unwrap();
    let layer = VerifyLayer::new(verifier).replay_guard(ReplayGuard::new(store.clone()));
    let body = fixture_at(EventType::PharmacyOrderCreated, now());
    let response = layer
        .layer(Scripted::new(&[]).service())
        .oneshot(delivery(&body))
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(
        *store.completed_ttl.lock().unwrap(),
        Some(Duration::from_secs(630))
    );
}

/// A store that cannot be reached.
struct Unreachable;

impl ReplayStore for Unreachable {
    fn claim<'a>(
        &'a self,
        _: &'a str,
        _: &'a ClaimToken,
        _: Duration,
    ) -> StoreFuture<'a, ClaimOutcome> {
        Box::pin(async { Err(StoreError::new("connection refused")) })
    }

    fn complete<'a>(&'a self, _: &'a str, _: &'a ClaimToken, _: Duration) -> StoreFuture<'a, bool> {
        Box::pin(async { Err(StoreError::new("connection refused")) })
    }

    fn release<'a>(&'a self, _: &'a str, _: &'a ClaimToken) -> StoreFuture<'a, bool> {
        Box::pin(async { Err(StoreError::new("connection refused")) })
    }
}

#[tokio::test]
async fn an_unreachable_store_fails_closed_by_default_and_open_when_asked() {
    let handler = Scripted::new(&[]);
    let body = fixture_at(EventType::PharmacyOrderCreated, now());

    let closed = VerifyLayer::new(verifier()).replay_guard(ReplayGuard::new(Unreachable));
    let service = closed.layer(handler.service());
    for _ in 0..2 {
        let reply = answer(service.clone().oneshot(delivery(&body)).await.unwrap()).await;
        assert_eq!(reply.status, StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(reply.body, r#"{"error":"replay_store_unavailable"}"#);
        assert_eq!(reply.content_type.as_deref(), Some("application/json"));
    }
    assert_eq!(handler.calls(), 0);

    let open = VerifyLayer::new(verifier())
        .replay_guard(ReplayGuard::new(Unreachable).fail_mode(FailMode::Open));
    let service = open.layer(handler.service());
    for _ in 0..2 {
        let reply = answer(service.clone().oneshot(delivery(&body)).await.unwrap()).await;
        assert_eq!((reply.status, reply.duplicate), (StatusCode::OK, None));
    }
    assert_eq!(
        handler.calls(),
        2,
        "fail-open processes without deduplication"
    );
}

#[tokio::test]
async fn rejected_deliveries_never_touch_the_store() {
    let store = MemoryStore::new();
    let handler = Scripted::new(&[]);
    let layer = VerifyLayer::new(verifier()).replay_guard(ReplayGuard::new(store.clone()));
    let body = fixture_at(EventType::PharmacyOrderCreated, now());
    let forged = Request::post("/")
        .header("x-webhook-signature", "0".repeat(64))
        .body(Full::new(Bytes::from(body.clone())))
        .unwrap();
    let reply = answer(
        layer
            .layer(handler.service())
            .oneshot(forged)
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(reply.status, StatusCode::UNAUTHORIZED);
    assert!(store.is_empty());
    assert_eq!(handler.calls(), 0);
}

#[tokio::test]
async fn passed_through_undecodable_events_are_guarded_too() {
    let body = format!(
        r#"{{"event_type":"pharmacy_order_created","timestamp":{},"payload_version":"1","data":{{"uid":7}}}}"#,
        now()
    );
    let calls = Arc::new(AtomicUsize::new(0));
    let counted = calls.clone();
    let service = tower::service_fn(move |_: Request<VerifiedBody>| {
        counted.fetch_add(1, Ordering::SeqCst);
        async { Ok::<_, Infallible>(Response::new(Full::new(Bytes::new()))) }
    });
    let layer = VerifyLayer::new(verifier())
        .pass_invalid_event_data(true)
        .replay_guard(ReplayGuard::in_memory());
    let service = layer.layer(service);
    let first = answer(service.clone().oneshot(delivery(&body)).await.unwrap()).await;
    assert_eq!((first.status, first.duplicate), (StatusCode::OK, None));
    let second = answer(service.clone().oneshot(delivery(&body)).await.unwrap()).await;
    assert_eq!(second.duplicate.as_deref(), Some("true"));
    assert_eq!(calls.load(Ordering::SeqCst), 1);
}
