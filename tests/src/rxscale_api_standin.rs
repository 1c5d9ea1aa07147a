//! A **stand-in for RxScale's subscription APIs** on 127.0.0.1, for tests and the CLI
//! transcripts in `docs/cli.md`. RxScale's real API cannot be reached from here, so this server
//! answers the request and response shapes of spec §1.6, and nothing more:
//!
//! - External Pharmacy API, both path spellings (`/v1/external_pharmacy_api/webhooks/` and
//!   `/v1/external-pharmacy-api-v1/webhooks/`, one store behind both): `GET` list, `POST`
//!   register (`201` with `uid`, `target`, `notification_type`, `signing_secret`),
//!   `DELETE …/webhooks/{uid}` (`204`).
//! - Management API, `/v1/management/notification-subscriptions` (with or without a trailing
//!   `/`): `GET` list, `POST` register (`201` with `uid`, `notification_type`, `target`,
//!   `options: "WEBHOOK"`, `payload_version`, and `signing_secret` unless
//!   [`RxscaleApiStandin::omit_management_secret`] reproduces the published example, which omits
//!   it), `DELETE` with the uid as `?uid=` or a JSON body `{"uid": …}` (`204`), and
//!   `POST …/test` (`200`).
//!
//! Every request needs `X-API-Key`: a wrong or missing key is `401`, a read-only key writing is
//! `403 Permission Denied`. Pharmacy keys work on the External Pharmacy API only, organisation
//! keys on the Management API only. Unknown uids are `404`; a non-HTTPS target or an event type
//! the APIs do not offer is `422`. [`RxscaleApiStandin::fail_next`] makes the next requests
//! answer a chosen status, for the 5xx and retry cases.
//!
//! Where the spec marks something as not documented (the list container, the Management API's
//! `DELETE` uid, the test-delivery bodies, error bodies), the stand-in's choice is written next to
//! it; the client accepts the alternatives too.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;

use axum::body::Bytes;
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

/// A pharmacy-scoped key with `webhooks_read` and `webhooks_write`.
pub const PHARMACY_KEY: &str = "standin-pharmacy-key-rw-0123456789";
/// A pharmacy-scoped key with `webhooks_read` only.
pub const PHARMACY_READ_ONLY_KEY: &str = "standin-pharmacy-key-ro-0123456789";
/// An organisation-scoped key with `notification_subscription:read` and `:write`.
pub const MANAGEMENT_KEY: &str = "standin-org-key-rw-0123456789";
/// An organisation-scoped key with `notification_subscription:read` only.
pub const MANAGEMENT_READ_ONLY_KEY: &str = "standin-org-key-ro-0123456789";

/// The External Pharmacy API path, newest docs (V3).
pub const PHARMACY_PATH_V3: &str = "/v1/external_pharmacy_api/webhooks/";
/// The External Pharmacy API path, older docs (V1/V2).
pub const PHARMACY_PATH_V1: &str = "/v1/external-pharmacy-api-v1/webhooks/";
/// The Management API path.
pub const MANAGEMENT_PATH: &str = "/v1/management/notification-subscriptions";

/// The event types both APIs offer for subscriptions (spec §1.6.1, §1.6.2).
pub const OFFERED_EVENT_TYPES: &[&str] = &[
    "pharmacy_order_created",
    "pharmacy_order_updated",
    "pharmacy_sku_stock_updated",
];

/// Which API a stored subscription belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StandinApi {
    /// The External Pharmacy API.
    Pharmacy,
    /// The Management API.
    Management,
}

/// A subscription the stand-in holds, with the secret it issued (tests sign with it).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredSubscription {
    /// Which API created it.
    pub api: StandinApi,
    /// Its uid: `sub-…` or `ns-…`.
    pub uid: String,
    /// The delivery URL.
    pub target: String,
    /// The event type.
    pub notification_type: String,
    /// The `whsec_…` secret returned at registration.
    pub signing_secret: String,
    /// Management API: the payload version (`"1"` by default).
    pub payload_version: Option<String>,
}

/// One request as the stand-in saw it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordedRequest {
    /// `GET`, `POST`, `DELETE`.
    pub method: String,
    /// The path.
    pub path: String,
    /// The query string, if any.
    pub query: Option<String>,
    /// The request body as text.
    pub body: String,
    /// The status answered.
    pub status: u16,
}

#[derive(Default)]
struct State {
    subscriptions: Vec<StoredSubscription>,
    requests: Vec<RecordedRequest>,
    failures: VecDeque<u16>,
    omit_management_secret: bool,
    issued: u64,
}

/// The running stand-in. Stops when dropped.
pub struct RxscaleApiStandin {
    base_url: String,
    state: Arc<Mutex<State>>,
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<JoinHandle<()>>,
}

impl RxscaleApiStandin {
    /// Starts the stand-in on an ephemeral port of 127.0.0.1, on a thread of its own (so that
    /// synchronous tests driving the CLI binary can use it too).
    pub fn start() -> Self {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
        listener.set_nonblocking(true).unwrap();
        let base_url = format!("http://{}", listener.local_addr().unwrap());
        let state = Arc::new(Mutex::new(State::default()));
        let (shutdown, stopped) = tokio::sync::oneshot::channel::<()>();
        let app_state = Arc::clone(&state);
        let thread = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            runtime.block_on(async move {
                let listener = tokio::net::TcpListener::from_std(listener).unwrap();
                let app = axum::Router::new().fallback(
                    move |method: Method, uri: Uri, headers: HeaderMap, body: Bytes| {
                        let state = Arc::clone(&app_state);
                        async move { handle(&state, &method, &uri, &headers, &body) }
                    },
                );
                axum::serve(listener, app)
                    .with_graceful_shutdown(async {
                        let _ = stopped.await;
                    })
                    .await
                    .unwrap();
            });
        });
        RxscaleApiStandin {
            base_url,
            state,
            shutdown: Some(shutdown),
            thread: Some(thread),
        }
    }

    /// `http://127.0.0.1:<port>`, to pass as the client's base URL.
    pub fn base_url(&self) -> &str {
        &self.base_url
    }

    /// Reproduce the published Management API example: registration responses without
    /// `signing_secret` (spec §1.6.2).
    pub fn omit_management_secret(&self, omit: bool) {
        self.state.lock().unwrap().omit_management_secret = omit;
    }

    /// The next `count` requests with a valid key answer `status` with a JSON `detail`.
    pub fn fail_next(&self, status: u16, count: usize) {
        let mut state = self.state.lock().unwrap();
        state.failures.extend(std::iter::repeat_n(status, count));
    }

    /// The subscriptions held now, oldest first.
    pub fn subscriptions(&self) -> Vec<StoredSubscription> {
        self.state.lock().unwrap().subscriptions.clone()
    }

    /// One subscription by uid.
    pub fn subscription(&self, uid: &str) -> Option<StoredSubscription> {
        self.subscriptions().into_iter().find(|sub| sub.uid == uid)
    }

    /// Every request so far, in order.
    pub fn requests(&self) -> Vec<RecordedRequest> {
        self.state.lock().unwrap().requests.clone()
    }
}

impl Drop for RxscaleApiStandin {
    fn drop(&mut self) {
        if let Some(shutdown) = self.shutdown.take() {
            let _ = shutdown.send(());
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// What a request is for, by its path and method.
enum Route {
    List(StandinApi),
    Register(StandinApi),
    RemovePharmacy(String),
    RemoveManagement,
    Test,
}

fn route(method: &Method, path: &str) -> Option<Route> {
    for prefix in [PHARMACY_PATH_V3, PHARMACY_PATH_V1] {
        if path == prefix {
            return match *method {
                Method::GET => Some(Route::List(StandinApi::Pharmacy)),
                Method::POST => Some(Route::Register(StandinApi::Pharmacy)),
                _ => None,
            };
        }
        if let Some(uid) = path.strip_prefix(prefix) {
            return (*method == Method::DELETE && !uid.is_empty() && !uid.contains('/'))
                .then(|| Route::RemovePharmacy(uid.to_owned()));
        }
    }
    if path == MANAGEMENT_PATH || path == format!("{MANAGEMENT_PATH}/") {
        return match *method {
            Method::GET => Some(Route::List(StandinApi::Management)),
            Method::POST => Some(Route::Register(StandinApi::Management)),
            Method::DELETE => Some(Route::RemoveManagement),
            _ => None,
        };
    }
    (path == format!("{MANAGEMENT_PATH}/test") && *method == Method::POST).then_some(Route::Test)
}

fn api_of(route: &Route) -> StandinApi {
    match route {
        Route::List(api) | Route::Register(api) => *api,
        Route::RemovePharmacy(_) => StandinApi::Pharmacy,
        Route::RemoveManagement | Route::Test => StandinApi::Management,
    }
}

fn detail(status: StatusCode, message: impl Into<Value>) -> (StatusCode, Value) {
    (status, json!({ "detail": message.into() }))
}

fn handle(
    state: &Mutex<State>,
    method: &Method,
    uri: &Uri,
    headers: &HeaderMap,
    body: &[u8],
) -> Response {
    let mut state = state.lock().unwrap();
    let (status, json) = answer(&mut state, method, uri, headers, body);
    state.requests.push(RecordedRequest {
        method: method.to_string(),
        path: uri.path().to_owned(),
        query: uri.query().map(str::to_owned),
        body: String::from_utf8_lossy(body).into_owned(),
        status: status.as_u16(),
    });
    match json {
        Some(json) => (status, axum::Json(json)).into_response(),
        None => status.into_response(),
    }
}

fn answer(
    state: &mut State,
    method: &Method,
    uri: &Uri,
    headers: &HeaderMap,
    body: &[u8],
) -> (StatusCode, Option<Value>) {
    let Some(route) = route(method, uri.path()) else {
        let (status, json) = detail(StatusCode::NOT_FOUND, "Not found.");
        return (status, Some(json));
    };
    let api = api_of(&route);
    let key = headers
        .get("x-api-key")
        .and_then(|value| value.to_str().ok());
    let (read_write, read_only) = match api {
        StandinApi::Pharmacy => (PHARMACY_KEY, PHARMACY_READ_ONLY_KEY),
        StandinApi::Management => (MANAGEMENT_KEY, MANAGEMENT_READ_ONLY_KEY),
    };
    let can_write = match key {
        Some(key) if key == read_write => true,
        Some(key) if key == read_only => false,
        _ => {
            let (status, json) = detail(
                StatusCode::UNAUTHORIZED,
                "Invalid or missing API key in X-API-Key.",
            );
            return (status, Some(json));
        }
    };
    let writes = !matches!(route, Route::List(_));
    if writes && !can_write {
        let (status, json) = detail(StatusCode::FORBIDDEN, "Permission Denied");
        return (status, Some(json));
    }
    if let Some(failure) = state.failures.pop_front() {
        let status = StatusCode::from_u16(failure).unwrap();
        let (status, json) = detail(status, "Stand-in failure injected by the test");
        return (status, Some(json));
    }
    let result = match route {
        Route::List(api) => Ok(list(state, api)),
        Route::Register(api) => register(state, api, body),
        Route::RemovePharmacy(uid) => remove(state, StandinApi::Pharmacy, &uid),
        Route::RemoveManagement => match management_uid(uri, body) {
            Ok(uid) => remove(state, StandinApi::Management, &uid),
            Err(err) => Err(err),
        },
        Route::Test => test_delivery(state, body),
    };
    match result {
        Ok(answer) => answer,
        Err((status, json)) => (status, Some(json)),
    }
}

type Answer = Result<(StatusCode, Option<Value>), (StatusCode, Value)>;

/// The list container is not documented; the stand-in answers a bare array.
fn list(state: &State, api: StandinApi) -> (StatusCode, Option<Value>) {
    let items: Vec<Value> = state
        .subscriptions
        .iter()
        .filter(|sub| sub.api == api)
        .map(public_view)
        .collect();
    (StatusCode::OK, Some(Value::Array(items)))
}

fn public_view(sub: &StoredSubscription) -> Value {
    match sub.api {
        StandinApi::Pharmacy => json!({
            "uid": sub.uid,
            "target": sub.target,
            "notification_type": sub.notification_type,
        }),
        StandinApi::Management => json!({
            "uid": sub.uid,
            "notification_type": sub.notification_type,
            "target": sub.target,
            "options": "WEBHOOK",
            "payload_version": sub.payload_version.clone().unwrap_or_else(|| "1".to_owned()),
        }),
    }
}

fn register(state: &mut State, api: StandinApi, body: &[u8]) -> Answer {
    let unprocessable = |field: &str, msg: &str| {
        detail(
            StatusCode::UNPROCESSABLE_ENTITY,
            json!([{ "loc": ["body", field], "msg": msg, "type": "value_error" }]),
        )
    };
    let Ok(Value::Object(request)) = serde_json::from_slice::<Value>(body) else {
        return Err(unprocessable("body", "expected a JSON object"));
    };
    let Some(target) = request.get("target").and_then(Value::as_str) else {
        return Err(unprocessable("target", "field required"));
    };
    if !target.starts_with("https://") {
        return Err(unprocessable("target", "must be an HTTPS URL"));
    }
    let Some(notification_type) = request.get("notification_type").and_then(Value::as_str) else {
        return Err(unprocessable("notification_type", "field required"));
    };
    if !OFFERED_EVENT_TYPES.contains(&notification_type) {
        return Err(unprocessable(
            "notification_type",
            "not an event type offered for subscriptions",
        ));
    }
    let payload_version = match api {
        StandinApi::Pharmacy => None,
        StandinApi::Management => Some(
            request
                .get("payload_version")
                .and_then(Value::as_str)
                .unwrap_or("1")
                .to_owned(),
        ),
    };
    state.issued += 1;
    let seed = Sha256::digest(format!(
        "{}-{}-{:?}",
        state.issued,
        std::process::id(),
        std::time::SystemTime::now()
    ));
    let hex = hex::encode(&seed[..16]);
    let uid = match api {
        StandinApi::Pharmacy => format!("sub-{}", &hex[..12]),
        StandinApi::Management => format!("ns-{}", &hex[..12]),
    };
    let secret_seed = Sha256::digest(format!("secret-{hex}"));
    let stored = StoredSubscription {
        api,
        uid,
        target: target.to_owned(),
        notification_type: notification_type.to_owned(),
        signing_secret: format!("whsec_{}", hex::encode(&secret_seed[..16])),
        payload_version,
    };
    let mut response = public_view(&stored);
    let omit = api == StandinApi::Management && state.omit_management_secret;
    if !omit {
        response["signing_secret"] = Value::String(stored.signing_secret.clone());
    }
    state.subscriptions.push(stored);
    Ok((StatusCode::CREATED, Some(response)))
}

/// How the Management API's `DELETE` receives the uid is not documented: the stand-in takes it
/// from `?uid=` or a JSON body `{"uid": …}`, and refuses a request where both disagree.
fn management_uid(uri: &Uri, body: &[u8]) -> Result<String, (StatusCode, Value)> {
    let from_query = uri.query().and_then(|query| {
        query
            .split('&')
            .find_map(|pair| pair.strip_prefix("uid="))
            .map(str::to_owned)
    });
    let from_body = serde_json::from_slice::<Value>(body)
        .ok()
        .and_then(|body| body.get("uid").and_then(Value::as_str).map(str::to_owned));
    match (from_query, from_body) {
        (Some(query), Some(body)) if query != body => Err(detail(
            StatusCode::UNPROCESSABLE_ENTITY,
            "uid in query and body differ",
        )),
        (Some(uid), _) | (None, Some(uid)) => Ok(uid),
        (None, None) => Err(detail(StatusCode::UNPROCESSABLE_ENTITY, "uid required")),
    }
}

fn remove(state: &mut State, api: StandinApi, uid: &str) -> Answer {
    let before = state.subscriptions.len();
    state
        .subscriptions
        .retain(|sub| !(sub.api == api && sub.uid == uid));
    if state.subscriptions.len() == before {
        return Err(detail(StatusCode::NOT_FOUND, "Not found."));
    }
    Ok((StatusCode::NO_CONTENT, None))
}

/// The test-delivery bodies are not documented: the stand-in accepts an optional `uid` (which
/// must exist) and answers `200 {"message": "Test webhook sent"}`. It sends nothing anywhere.
fn test_delivery(state: &State, body: &[u8]) -> Answer {
    let request = if body.is_empty() {
        Value::Object(serde_json::Map::new())
    } else {
        serde_json::from_slice::<Value>(body)
            .map_err(|_| detail(StatusCode::UNPROCESSABLE_ENTITY, "expected a JSON object"))?
    };
    if let Some(uid) = request.get("uid").and_then(Value::as_str)
        && !state
            .subscriptions
            .iter()
            .any(|sub| sub.api == StandinApi::Management && sub.uid == uid)
    {
        return Err(detail(StatusCode::NOT_FOUND, "Not found."));
    }
    Ok((
        StatusCode::OK,
        Some(json!({ "message": "Test webhook sent" })),
    ))
}
