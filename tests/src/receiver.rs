//! The receiver the replay tests run: an axum app behind `VerifyLayer` with a replay guard and
//! a handler that counts, can be slow, and can fail its first calls. The same app runs in the
//! tests' own process and, for the crash test, as the `axum_test_receiver` child process.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::post;
use axum::{Extension, Router};
use rxscale_webhooks::{ReplayGuard, Verified, Verifier};
use rxscale_webhooks_axum::VerifyLayer;

/// Where the receivers serve deliveries.
pub const PATH: &str = "/webhooks/rxscale";

/// How the handler behaves, and what it counts. Clones share the counters, so one `Handler`
/// given to several receivers counts across all of them.
#[derive(Debug, Clone, Default)]
pub struct Handler {
    entered: Arc<AtomicUsize>,
    succeeded: Arc<AtomicUsize>,
    sleep: Duration,
    failures: usize,
    announce: bool,
}

impl Handler {
    /// A handler that answers 200 at once.
    pub fn new() -> Self {
        Handler::default()
    }

    /// Sleeps this long before answering, so that concurrent deliveries overlap.
    #[must_use]
    pub fn sleep(mut self, sleep: Duration) -> Self {
        self.sleep = sleep;
        self
    }

    /// Answers 500 to its first `failures` calls (across every receiver sharing it).
    #[must_use]
    pub fn failing_first(mut self, failures: usize) -> Self {
        self.failures = failures;
        self
    }

    /// Prints `handling <dedup_key>` to stdout on entry, for a parent process to watch.
    #[must_use]
    pub fn announcing(mut self) -> Self {
        self.announce = true;
        self
    }

    /// How many times the handler was entered.
    pub fn entered(&self) -> usize {
        self.entered.load(Ordering::SeqCst)
    }

    /// How many times it answered 2xx.
    pub fn succeeded(&self) -> usize {
        self.succeeded.load(Ordering::SeqCst)
    }

    async fn handle(&self, verified: &Verified) -> StatusCode {
        let call = self.entered.fetch_add(1, Ordering::SeqCst);
        if self.announce {
            println!("handling {}", verified.dedup_key());
        }
        tokio::time::sleep(self.sleep).await;
        if call < self.failures {
            return StatusCode::INTERNAL_SERVER_ERROR;
        }
        self.succeeded.fetch_add(1, Ordering::SeqCst);
        StatusCode::OK
    }
}

/// The receiver: `POST /webhooks/rxscale` behind `VerifyLayer` with `guard`, then `handler`.
pub fn app(verifier: Verifier, guard: ReplayGuard, handler: Handler) -> Router {
    async fn handle(
        State(handler): State<Handler>,
        Extension(verified): Extension<Verified>,
    ) -> StatusCode {
        handler.handle(&verified).await
    }
    let layer = VerifyLayer::new(verifier).replay_guard(guard);
    Router::new()
        .route(PATH, post(handle).route_layer(layer))
        .with_state(handler)
}

/// Serves `app` on an ephemeral port of 127.0.0.1, in the background.
pub async fn serve(app: Router) -> SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind 127.0.0.1:0");
    let addr = listener.local_addr().expect("a bound address");
    tokio::spawn(async move { axum::serve(listener, app).await });
    addr
}

/// What a receiver answered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reply {
    /// The HTTP status.
    pub status: u16,
    /// Whether `X-Webhook-Duplicate: true` was set.
    pub duplicate: bool,
    /// The response body.
    pub body: String,
}

/// A client for the replay tests: every request is bounded in time.
pub fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .timeout(Duration::from_secs(15))
        .build()
        .expect("a reqwest client")
}

/// POSTs `body`, signed with [`TEST_SECRET`](crate::TEST_SECRET), to the receiver at `addr`.
pub async fn deliver(client: &reqwest::Client, addr: SocketAddr, body: &str) -> Reply {
    let response = client
        .post(format!("http://{addr}{PATH}"))
        .header("content-type", "application/json")
        .header(
            rxscale_webhooks::SIGNATURE_HEADER,
            rxscale_webhooks::sign(&crate::test_secret(), body),
        )
        .body(body.to_owned())
        .send()
        .await
        .expect("the receiver answers");
    let duplicate = response
        .headers()
        .get(rxscale_webhooks::replay::DUPLICATE_HEADER)
        .is_some_and(|value| value == "true");
    Reply {
        status: response.status().as_u16(),
        duplicate,
        body: response.text().await.expect("a response body"),
    }
}

/// Now, as a unix timestamp: fixtures at this time pass the test verifier's age window.
pub fn now() -> i64 {
    rxscale_webhooks::OffsetDateTime::now_utc().unix_timestamp()
}
