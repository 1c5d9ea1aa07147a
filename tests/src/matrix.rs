//! The bad-input matrix every adapter must pass, over real HTTP.
//!
//! The table knows nothing about frameworks: it talks to a [`Target`], a server on loopback
//! that the adapter's test starts. That server must
//!
//! - verify with [`crate::test_verifier`] (64 KiB body limit, 600 s maximum age, 300 s future
//!   skew);
//! - serve `POST` on [`Target::path`] only, answering other methods there with 405;
//! - have a handler that increments [`Target::handler_calls`] and answers 200 (it may also read
//!   the body, for instance as JSON, to prove it arrived intact).
//!
//! Each case asserts the status, the exact JSON error body with an `application/json` content
//! type, whether the handler ran, and that the server then still accepts a genuine delivery.
//! Every case uses its own connection with `Connection: close`, so one case cannot poison the
//! next. Most cases go through `reqwest`; framing cases write HTTP/1.1 by hand on a
//! `TcpStream`.
//!
//! Bodies are verified as received: a gzip `Content-Encoding` is not undone, so a gzip body
//! signed over its JSON fails the signature, and one signed over its gzip bytes is authentic but
//! not an envelope.

use std::fmt::Write as _;
use std::io::Write as _;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use rxscale_webhooks::testing::fixture_at;
use rxscale_webhooks::{ErrorKind, EventType, OffsetDateTime, SigningSecret, sign};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::{OTHER_SECRET, TEST_MAX_BODY_BYTES, TEST_SECRET, test_secret};

/// The server under test.
pub struct Target {
    /// Where it listens (on loopback).
    pub addr: SocketAddr,
    /// The path of the webhook route, e.g. `/webhooks/rxscale`.
    pub path: String,
    /// Incremented by the handler on every call.
    pub handler_calls: Arc<AtomicUsize>,
}

/// What one case saw. Two adapters agree when they produce equal observations.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Observation {
    /// The case's name.
    pub case: &'static str,
    /// The response status, or `None` when no response came before the client gave up.
    pub status: Option<u16>,
    /// The response body of an error status (4xx, 5xx), as text.
    pub error_body: Option<String>,
    /// The response's `content-type`, for error statuses.
    pub error_content_type: Option<String>,
    /// How many times the handler ran because of this case.
    pub handler_calls: usize,
    /// Whether a genuine delivery right after the case was answered 200 by the handler.
    pub still_serving: bool,
}

/// Panics with every case on which two ways into the SDK (say a layer and an extractor) gave
/// different observations, each under its name.
pub fn assert_agree(
    (left_name, left): (&str, &[Observation]),
    (right_name, right): (&str, &[Observation]),
) {
    assert_eq!(
        left.len(),
        right.len(),
        "{left_name} and {right_name} ran different cases"
    );
    let width = left_name.len().max(right_name.len()) + 1;
    let disagreements: Vec<_> = left
        .iter()
        .zip(right)
        .filter(|(a, b)| a != b)
        .map(|(a, b)| {
            format!(
                "  {:width$} {a:?}\n  {:width$} {b:?}",
                format!("{left_name}:"),
                format!("{right_name}:")
            )
        })
        .collect();
    assert!(
        disagreements.is_empty(),
        "the {left_name} and the {right_name} disagree:\n{}",
        disagreements.join("\n")
    );
}

/// Like [`assert_agree`], for two different frameworks: the body and content type of a 405 (the
/// router's own answer to a wrong method, which every framework words its own way) are not
/// compared; its status and everything else are.
pub fn assert_agree_across_frameworks(
    (left_name, left): (&str, &[Observation]),
    (right_name, right): (&str, &[Observation]),
) {
    fn without_405_body(observations: &[Observation]) -> Vec<Observation> {
        observations
            .iter()
            .cloned()
            .map(|mut observation| {
                if observation.status == Some(405) {
                    observation.error_body = None;
                    observation.error_content_type = None;
                }
                observation
            })
            .collect()
    }
    assert_agree(
        (left_name, &without_405_body(left)),
        (right_name, &without_405_body(right)),
    );
}

/// How long a client waits for a response before it gives up.
const RESPONSE_TIMEOUT: Duration = Duration::from_secs(10);
/// How long the truncated-body case waits to show that the server is (rightly) still waiting.
const TRUNCATED_WAIT: Duration = Duration::from_millis(1500);

/// Runs every case against `target` and panics with a readable list of every failing case.
pub async fn run_matrix(target: &Target) {
    run_matrix_with_deviations(target, &[]).await;
}

/// A case on which a framework cannot answer as the table says, for a reason of its own, and
/// what it answers instead. The handler must still not run, and the server must still serve.
#[derive(Debug, Clone, Copy)]
pub struct Deviation {
    /// The case's name (see [`case_names`]).
    pub case: &'static str,
    /// The status the framework answers instead; `None` for no answer before the client gives up.
    pub status: Option<u16>,
    /// The error body it answers with, when it answers an error.
    pub error_body: Option<&'static str>,
    /// Why, for the failure message and the docs.
    pub why: &'static str,
}

/// Where Rocket 0.5 differs from the table (documented in crates/rxscale-webhooks-rocket's
/// README, "Where Rocket differs").
pub const ROCKET_DEVIATIONS: &[Deviation] = &[
    Deviation {
        case: "signature with non-UTF-8 bytes",
        status: Some(401),
        error_body: Some(r#"{"error":"missing_signature"}"#),
        why: "Rocket drops a header value that is not UTF-8 before any guard runs",
    },
    Deviation {
        case: "Content-Length over the limit, no body sent",
        status: None,
        error_body: None,
        why: "Rocket reads the first bytes of every body before routing, with no deadline",
    },
];

/// [`run_matrix`], with `deviations` checked as deviations instead of against the table.
pub async fn run_matrix_with_deviations(target: &Target, deviations: &[Deviation]) {
    let results = run_cases(target).await;
    assert!(
        results.len() >= 30,
        "the matrix must hold at least 30 cases"
    );
    for deviation in deviations {
        assert!(
            results.iter().any(|(case, _)| case.name == deviation.case),
            "no matrix case is named {}",
            deviation.case
        );
    }
    let mut failures = String::new();
    for (case, observation) in &results {
        let problems = match deviations.iter().find(|d| d.case == case.name) {
            Some(deviation) => deviation.check(observation),
            None => case.expect.check(observation),
        };
        for problem in problems {
            let _ = writeln!(failures, "  - {}: {problem}", case.name);
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} matrix cases failed against {}{}:\n{failures}",
        failures.lines().count(),
        results.len(),
        target.addr,
        target.path,
    );
}

impl Deviation {
    fn check(&self, seen: &Observation) -> Vec<String> {
        let mut problems = Vec::new();
        if seen.status != self.status || seen.error_body.as_deref() != self.error_body {
            problems.push(format!(
                "the deviation ({}) expected {:?} {:?}, got {:?} {:?}",
                self.why, self.status, self.error_body, seen.status, seen.error_body
            ));
        }
        if seen.handler_calls != 0 {
            problems.push(format!("the handler ran {} times", seen.handler_calls));
        }
        if !seen.still_serving {
            problems.push("the server no longer serves a genuine delivery".to_owned());
        }
        problems
    }
}

/// [`assert_agree`] on every case but `deviations`; on those, `left` must answer as the
/// deviation says, so that a deviation that no longer holds is noticed.
pub fn assert_agree_but(
    (left_name, left): (&str, &[Observation]),
    (right_name, right): (&str, &[Observation]),
    deviations: &[Deviation],
) {
    let deviates = |o: &&Observation| deviations.iter().any(|d| d.case == o.case);
    for deviation in deviations {
        let seen = left.iter().find(|o| o.case == deviation.case);
        let problems = seen.map(|seen| deviation.check(seen));
        assert_eq!(
            problems,
            Some(Vec::new()),
            "{left_name} on {}: the deviation does not hold",
            deviation.case
        );
    }
    let left: Vec<Observation> = left.iter().filter(|o| !deviates(o)).cloned().collect();
    let right: Vec<Observation> = right.iter().filter(|o| !deviates(o)).cloned().collect();
    assert_agree((left_name, &left), (right_name, &right));
}

/// Runs every case against `target` and returns what each saw, without judging it.
pub async fn observe_matrix(target: &Target) -> Vec<Observation> {
    run_cases(target)
        .await
        .into_iter()
        .map(|(_, observation)| observation)
        .collect()
}

/// The names of the cases, in the order they run.
pub fn case_names() -> Vec<&'static str> {
    let target = Target {
        addr: SocketAddr::from(([127, 0, 0, 1], 0)),
        path: "/".to_owned(),
        handler_calls: Arc::default(),
    };
    cases(&target, now()).into_iter().map(|c| c.name).collect()
}

async fn run_cases(target: &Target) -> Vec<(Case, Observation)> {
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(0)
        .timeout(RESPONSE_TIMEOUT)
        .build()
        .expect("reqwest client builds");
    let now = now();
    let mut results = Vec::new();
    for (index, case) in cases(target, now).into_iter().enumerate() {
        let before = target.handler_calls.load(Ordering::SeqCst);
        let response = case.send.send(&client, target).await;
        let during = target.handler_calls.load(Ordering::SeqCst) - before;
        let still_serving = genuine_delivery_succeeds(&client, target, now, index).await;
        let after = target.handler_calls.load(Ordering::SeqCst) - before;
        // A genuine delivery that was answered 200 ran the handler once; any other call is
        // the case's. Without that answer, only the calls seen before it can be attributed.
        let handler_calls = if still_serving {
            after.saturating_sub(1)
        } else {
            during
        };
        let is_error = response.status.is_some_and(|status| status >= 400);
        let observation = Observation {
            case: case.name,
            status: response.status,
            error_body: is_error.then(|| String::from_utf8_lossy(&response.body).into_owned()),
            error_content_type: if is_error {
                response.content_type
            } else {
                None
            },
            handler_calls,
            still_serving,
        };
        results.push((case, observation));
    }
    results
}

fn now() -> i64 {
    OffsetDateTime::now_utc().unix_timestamp()
}

/// A genuine delivery with a body unique to `index`, so that a replay guard would accept it.
async fn genuine_delivery_succeeds(
    client: &reqwest::Client,
    target: &Target,
    now: i64,
    index: usize,
) -> bool {
    let offset = i64::try_from(index).unwrap_or(0);
    let body = fixture_at(EventType::PharmacySkuStockUpdated, now - offset);
    let signature = sign(&test_secret(), &body);
    let response = client
        .post(url(target))
        .header("connection", "close")
        .header("content-type", "application/json")
        .header("x-webhook-event", "pharmacy_sku_stock_updated")
        .header("x-webhook-signature", signature)
        .body(body)
        .send()
        .await;
    matches!(response, Ok(response) if response.status().as_u16() == 200)
}

fn url(target: &Target) -> String {
    format!("http://{}{}", target.addr, target.path)
}

struct Case {
    name: &'static str,
    send: Send,
    expect: Expect,
}

enum Expect {
    /// 200 and exactly one handler call.
    Accepted,
    /// The kind's status and body from the core, and no handler call.
    Rejected(ErrorKind),
    /// This status, any body, no handler call (for the router's own answers, such as 405).
    Status(u16),
    /// No response before the client gives up, and no handler call.
    NoResponse,
}

impl Expect {
    fn check(&self, seen: &Observation) -> Vec<String> {
        let mut problems = Vec::new();
        let (status, calls) = match self {
            Expect::Accepted => (Some(200), 1),
            Expect::Rejected(kind) => (Some(kind.status_code()), 0),
            Expect::Status(status) => (Some(*status), 0),
            Expect::NoResponse => (None, 0),
        };
        if seen.status != status {
            problems.push(format!(
                "status: expected {}, got {}",
                describe_status(status),
                describe_status(seen.status)
            ));
        }
        if let Expect::Rejected(kind) = self {
            if seen.error_body.as_deref() != Some(kind.response_body()) {
                problems.push(format!(
                    "body: expected {}, got {:?}",
                    kind.response_body(),
                    seen.error_body
                ));
            }
            let json = seen
                .error_content_type
                .as_deref()
                .is_some_and(|value| value.starts_with("application/json"));
            if !json {
                problems.push(format!(
                    "content-type: expected application/json, got {:?}",
                    seen.error_content_type
                ));
            }
        }
        if seen.handler_calls != calls {
            problems.push(format!(
                "handler calls: expected {calls}, got {}",
                seen.handler_calls
            ));
        }
        if !seen.still_serving {
            problems.push("a genuine delivery afterwards was not answered 200".to_owned());
        }
        problems
    }
}

fn describe_status(status: Option<u16>) -> String {
    status.map_or_else(|| "no response".to_owned(), |status| status.to_string())
}

/// How a case is sent.
enum Send {
    /// Through reqwest, with `Connection: close`.
    Client {
        method: reqwest::Method,
        headers: Vec<(&'static str, Vec<u8>)>,
        body: Vec<u8>,
    },
    /// These exact bytes, written on a fresh connection.
    Raw(Vec<u8>),
    /// A chunked body that keeps growing past the limit; the last chunk never comes.
    ChunkedPastLimit { head: Vec<u8> },
    /// A `Content-Length` larger than the bytes that follow; the rest never comes.
    Truncated { request: Vec<u8> },
}

struct Response {
    status: Option<u16>,
    content_type: Option<String>,
    body: Vec<u8>,
}

impl Response {
    fn none() -> Self {
        Response {
            status: None,
            content_type: None,
            body: Vec::new(),
        }
    }
}

impl Send {
    async fn send(&self, client: &reqwest::Client, target: &Target) -> Response {
        match self {
            Send::Client {
                method,
                headers,
                body,
            } => {
                let mut request = client
                    .request(method.clone(), url(target))
                    .header("connection", "close");
                for (name, value) in headers {
                    let value = reqwest::header::HeaderValue::from_bytes(value)
                        .expect("test header values are valid");
                    request = request.header(*name, value);
                }
                if !body.is_empty() {
                    request = request.body(body.clone());
                }
                match request.send().await {
                    Ok(response) => {
                        let status = Some(response.status().as_u16());
                        let content_type = response
                            .headers()
                            .get("content-type")
                            .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned());
                        let body = response
                            .bytes()
                            .await
                            .map(|b| b.to_vec())
                            .unwrap_or_default();
                        Response {
                            status,
                            content_type,
                            body,
                        }
                    }
                    Err(_) => Response::none(),
                }
            }
            Send::Raw(request) => {
                let Ok(mut stream) = TcpStream::connect(target.addr).await else {
                    return Response::none();
                };
                if stream.write_all(request).await.is_err() {
                    return Response::none();
                }
                read_response(&mut stream, RESPONSE_TIMEOUT).await
            }
            Send::ChunkedPastLimit { head } => {
                let Ok(stream) = TcpStream::connect(target.addr).await else {
                    return Response::none();
                };
                let (mut reader, mut writer) = stream.into_split();
                let head = head.clone();
                // Writes run beside the read: the server may answer, and close, mid-body.
                let writing = tokio::spawn(async move {
                    writer.write_all(&head).await?;
                    let chunk = vec![b' '; 4096];
                    let mut sent = 0;
                    while sent < TEST_MAX_BODY_BYTES + 8 * chunk.len() {
                        writer.write_all(b"1000\r\n").await?;
                        writer.write_all(&chunk).await?;
                        writer.write_all(b"\r\n").await?;
                        sent += chunk.len();
                        tokio::time::sleep(Duration::from_millis(2)).await;
                    }
                    // Keep the stream open without the last chunk: only the limit may end it.
                    tokio::time::sleep(RESPONSE_TIMEOUT).await;
                    Ok::<_, std::io::Error>(writer)
                });
                let response = read_response(&mut reader, RESPONSE_TIMEOUT).await;
                writing.abort();
                response
            }
            Send::Truncated { request } => {
                let Ok(mut stream) = TcpStream::connect(target.addr).await else {
                    return Response::none();
                };
                if stream.write_all(request).await.is_err() {
                    return Response::none();
                }
                let response = read_response(&mut stream, TRUNCATED_WAIT).await;
                drop(stream);
                // Give a server that would wrongly call the handler on the cut body the time
                // to do so before the calls are counted.
                tokio::time::sleep(Duration::from_millis(300)).await;
                response
            }
        }
    }
}

/// Reads one HTTP/1.1 response; `None` status when the time runs out or the peer closes first.
async fn read_response<R: AsyncReadExt + Unpin>(reader: &mut R, timeout: Duration) -> Response {
    tokio::time::timeout(timeout, read_response_inner(reader))
        .await
        .ok()
        .flatten()
        .unwrap_or_else(Response::none)
}

async fn read_response_inner<R: AsyncReadExt + Unpin>(reader: &mut R) -> Option<Response> {
    let mut buffer = Vec::new();
    let head_end = loop {
        if let Some(end) = find(&buffer, b"\r\n\r\n") {
            break end;
        }
        let mut chunk = [0u8; 4096];
        let read = reader.read(&mut chunk).await.ok()?;
        if read == 0 {
            return None;
        }
        buffer.extend_from_slice(&chunk[..read]);
    };
    let head = String::from_utf8_lossy(&buffer[..head_end]).into_owned();
    let mut rest = buffer[head_end + 4..].to_vec();
    let mut lines = head.split("\r\n");
    let status = lines.next()?.split(' ').nth(1)?.parse().ok()?;
    let mut content_type = None;
    let mut content_length = None;
    let mut chunked = false;
    for line in lines {
        let (name, value) = line.split_once(':')?;
        let value = value.trim();
        match name.trim().to_ascii_lowercase().as_str() {
            "content-type" => content_type = Some(value.to_owned()),
            "content-length" => content_length = value.parse::<usize>().ok(),
            "transfer-encoding" => chunked = value.eq_ignore_ascii_case("chunked"),
            _ => {}
        }
    }
    let body = if let Some(length) = content_length {
        while rest.len() < length {
            let mut chunk = [0u8; 4096];
            let read = reader.read(&mut chunk).await.ok()?;
            if read == 0 {
                break;
            }
            rest.extend_from_slice(&chunk[..read]);
        }
        rest.truncate(length);
        rest
    } else {
        // Chunked or close-delimited: read to the end, then undo the chunking.
        let _ = reader.read_to_end(&mut rest).await;
        if chunked { dechunk(&rest) } else { rest }
    };
    Some(Response {
        status: Some(status),
        content_type,
        body,
    })
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack
        .windows(needle.len())
        .position(|window| window == needle)
}

fn dechunk(mut data: &[u8]) -> Vec<u8> {
    let mut body = Vec::new();
    while let Some(line_end) = find(data, b"\r\n") {
        let size_text = String::from_utf8_lossy(&data[..line_end]);
        let size_text = size_text.split(';').next().unwrap_or("").trim();
        let Ok(size) = usize::from_str_radix(size_text, 16) else {
            break;
        };
        data = &data[line_end + 2..];
        if size == 0 || data.len() < size {
            break;
        }
        body.extend_from_slice(&data[..size]);
        data = data.get(size + 2..).unwrap_or_default();
    }
    body
}

fn signed_with(secret: &str, body: &[u8]) -> String {
    sign(&SigningSecret::new(secret), body)
}

fn signed(body: &[u8]) -> String {
    signed_with(TEST_SECRET, body)
}

fn gzip(data: &[u8]) -> Vec<u8> {
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    encoder.write_all(data).expect("gzip into memory");
    encoder.finish().expect("gzip into memory")
}

/// An HTTP/1.1 request written by hand: `Host`, `Connection: close`, JSON content type, the
/// extra header lines, and the body with a `Content-Length` (unless `framing` says otherwise).
fn raw_request(target: &Target, extra: &[(&str, &[u8])], body: &[u8], framing: Framing) -> Vec<u8> {
    let mut request = format!(
        "POST {} HTTP/1.1\r\nHost: {}\r\nConnection: close\r\nContent-Type: application/json\r\n",
        target.path, target.addr
    )
    .into_bytes();
    for (name, value) in extra {
        request.extend_from_slice(name.as_bytes());
        request.extend_from_slice(b": ");
        request.extend_from_slice(value);
        request.extend_from_slice(b"\r\n");
    }
    match framing {
        Framing::Length(length) => {
            request.extend_from_slice(format!("Content-Length: {length}\r\n\r\n").as_bytes());
            request.extend_from_slice(body);
        }
        Framing::Chunked(chunk_size) => {
            request.extend_from_slice(b"Transfer-Encoding: chunked\r\n\r\n");
            for chunk in body.chunks(chunk_size) {
                request.extend_from_slice(format!("{:x}\r\n", chunk.len()).as_bytes());
                request.extend_from_slice(chunk);
                request.extend_from_slice(b"\r\n");
            }
            request.extend_from_slice(b"0\r\n\r\n");
        }
        Framing::HeadOnlyChunked => {
            request.extend_from_slice(b"Transfer-Encoding: chunked\r\n\r\n");
        }
    }
    request
}

#[derive(Clone, Copy)]
enum Framing {
    Length(usize),
    Chunked(usize),
    HeadOnlyChunked,
}

fn post(headers: Vec<(&'static str, Vec<u8>)>, body: impl Into<Vec<u8>>) -> Send {
    let mut all = vec![("content-type", b"application/json".to_vec())];
    all.extend(headers);
    Send::Client {
        method: reqwest::Method::POST,
        headers: all,
        body: body.into(),
    }
}

fn sig(value: impl Into<Vec<u8>>) -> (&'static str, Vec<u8>) {
    ("x-webhook-signature", value.into())
}

fn envelope(event_type: &str, timestamp: i64, data: &str) -> Vec<u8> {
    format!(
        r#"{{"event_type":"{event_type}","timestamp":{timestamp},"payload_version":"1","data":{data}}}"#
    )
    .into_bytes()
}

fn case(name: &'static str, send: Send, expect: Expect) -> Case {
    Case { name, send, expect }
}

fn cases(target: &Target, now: i64) -> Vec<Case> {
    use ErrorKind::{
        Expired, FromFuture, InvalidEventData, MalformedPayload, MalformedSignature,
        MissingSignature, SignatureMismatch,
    };
    use Expect::{Accepted, NoResponse, Rejected, Status};

    let genuine = fixture_at(EventType::PharmacyOrderCreated, now).into_bytes();
    let good = signed(&genuine);
    let wrong = signed_with(OTHER_SECRET, &genuine);
    let other_event = fixture_at(EventType::PharmacyOrderUpdated, now).into_bytes();

    let mut one_byte_changed = genuine.clone();
    let position = find(&one_byte_changed, b"\"uid\"").unwrap_or(10) + 8;
    one_byte_changed[position] ^= 0x01;

    let mut trailing_newline = genuine.clone();
    trailing_newline.push(b'\n');

    let reserialized = serde_json::to_vec(
        &serde_json::from_slice::<serde_json::Value>(&genuine).expect("fixture is JSON"),
    )
    .expect("JSON serializes");
    assert_ne!(
        reserialized, genuine,
        "re-serializing must change the bytes"
    );

    let non_utf8 = b"{\"event_type\":\"pharmacy_order_created\",\"x\":\"\xff\xfe\"}".to_vec();
    let gzipped = gzip(&genuine);

    let stale = fixture_at(EventType::PharmacySkuStockUpdated, now - 3600).into_bytes();
    let future = fixture_at(EventType::PharmacySkuStockUpdated, now + 3600).into_bytes();
    let unknown = envelope(
        "rxscale_setup_test",
        now,
        r#"{"uid":"setup-1","note":"hello"}"#,
    );
    let invalid_data = envelope("pharmacy_order_created", now, r#"{"uid":7}"#);
    let duplicate_key = format!(
        r#"{{"event_type":"pharmacy_sku_stock_updated","event_type":"rxscale_setup_test","timestamp":{now},"data":{{}}}}"#
    )
    .into_bytes();
    let missing_timestamp = br#"{"event_type":"pharmacy_sku_stock_updated","data":{}}"#.to_vec();

    let json = fixture_at(EventType::PharmacySkuStockUpdated, now).into_bytes();
    let pad = |length: usize| {
        let mut body = json.clone();
        body.resize(length, b' '); // JSON allows whitespace after the value
        body
    };
    let at_limit = pad(TEST_MAX_BODY_BYTES);
    let over_limit = pad(TEST_MAX_BODY_BYTES + 1);

    let event_header = |value: &str| ("x-webhook-event", value.as_bytes().to_vec());
    let good_str = good.as_str();

    vec![
        // The signature header.
        case(
            "signature header missing",
            post(vec![], genuine.clone()),
            Rejected(MissingSignature),
        ),
        case(
            "signature header empty",
            post(vec![sig("")], genuine.clone()),
            Rejected(MissingSignature),
        ),
        case(
            "signature header blank",
            post(vec![sig("   ")], genuine.clone()),
            Rejected(MissingSignature),
        ),
        case(
            "signature not hex",
            post(vec![sig("g".repeat(64))], genuine.clone()),
            Rejected(MalformedSignature),
        ),
        case(
            "signature of 63 hex digits",
            post(vec![sig(&good[..63])], genuine.clone()),
            Rejected(MalformedSignature),
        ),
        case(
            "signature of 65 hex digits",
            post(vec![sig(format!("{good}0"))], genuine.clone()),
            Rejected(MalformedSignature),
        ),
        case(
            "signature in uppercase hex",
            post(vec![sig(good.to_ascii_uppercase())], genuine.clone()),
            Accepted,
        ),
        case(
            "signature with a sha256= prefix",
            post(vec![sig(format!("sha256={good}"))], genuine.clone()),
            Rejected(MalformedSignature),
        ),
        case(
            "signature of 4096 hex digits",
            post(vec![sig(good.repeat(64))], genuine.clone()),
            Rejected(MalformedSignature),
        ),
        case(
            "signature with non-UTF-8 bytes",
            post(vec![sig(b"\xff\xfe".repeat(32))], genuine.clone()),
            Rejected(MalformedSignature),
        ),
        case(
            "signature header name in uppercase",
            Send::Raw(raw_request(
                target,
                &[("X-WEBHOOK-SIGNATURE", good.as_bytes())],
                &genuine,
                Framing::Length(genuine.len()),
            )),
            Accepted,
        ),
        case(
            "signature padded with whitespace",
            Send::Raw(raw_request(
                target,
                &[("X-Webhook-Signature", format!(" \t{good} \t").as_bytes())],
                &genuine,
                Framing::Length(genuine.len()),
            )),
            Accepted,
        ),
        // Several signature headers: any match passes.
        case(
            "two signatures, the good one first",
            post(vec![sig(good_str), sig(wrong.as_str())], genuine.clone()),
            Accepted,
        ),
        case(
            "two signatures, the good one second",
            post(vec![sig(wrong.as_str()), sig(good_str)], genuine.clone()),
            Accepted,
        ),
        case(
            "two signatures, both wrong",
            post(
                vec![sig(wrong.as_str()), sig(signed(b"{}"))],
                genuine.clone(),
            ),
            Rejected(SignatureMismatch),
        ),
        case(
            "two signatures, malformed and wrong",
            post(vec![sig("zz"), sig(wrong.as_str())], genuine.clone()),
            Rejected(SignatureMismatch),
        ),
        case(
            "two signatures joined by a comma in one header",
            post(vec![sig(format!("{good}, {wrong}"))], genuine.clone()),
            Rejected(MalformedSignature),
        ),
        // The secret.
        case(
            "signed with another secret",
            post(vec![sig(wrong.as_str())], genuine.clone()),
            Rejected(SignatureMismatch),
        ),
        case(
            "signed with the secret without its whsec_ prefix",
            post(
                vec![sig(signed_with(
                    TEST_SECRET.trim_start_matches("whsec_"),
                    &genuine,
                ))],
                genuine.clone(),
            ),
            Rejected(SignatureMismatch),
        ),
        case(
            "signature of another genuine event",
            post(vec![sig(signed(&other_event))], genuine.clone()),
            Rejected(SignatureMismatch),
        ),
        // The body's bytes.
        case(
            "body changed by one byte",
            post(vec![sig(good_str)], one_byte_changed),
            Rejected(SignatureMismatch),
        ),
        case(
            "body with a trailing newline",
            post(vec![sig(good_str)], trailing_newline),
            Rejected(SignatureMismatch),
        ),
        case(
            "body re-serialized",
            post(vec![sig(good_str)], reserialized),
            Rejected(SignatureMismatch),
        ),
        case(
            "body empty, signature of the event",
            post(vec![sig(good_str)], Vec::new()),
            Rejected(SignatureMismatch),
        ),
        case(
            "body empty and authentic",
            post(vec![sig(signed(b""))], Vec::new()),
            Rejected(MalformedPayload),
        ),
        case(
            "body not UTF-8, unsigned",
            post(vec![sig(good_str)], non_utf8.clone()),
            Rejected(SignatureMismatch),
        ),
        case(
            "body not UTF-8, authentic",
            post(vec![sig(signed(&non_utf8))], non_utf8),
            Rejected(MalformedPayload),
        ),
        case(
            "body gzip, signed over the JSON",
            post(
                vec![sig(good_str), ("content-encoding", b"gzip".to_vec())],
                gzipped.clone(),
            ),
            Rejected(SignatureMismatch),
        ),
        case(
            "body gzip, signed over the gzip bytes",
            post(
                vec![
                    sig(signed(&gzipped)),
                    ("content-encoding", b"gzip".to_vec()),
                ],
                gzipped,
            ),
            Rejected(MalformedPayload),
        ),
        // Authentic bodies that are not acceptable events.
        case(
            "authentic body not JSON",
            post(vec![sig(signed(b"hello, world"))], b"hello, world".to_vec()),
            Rejected(MalformedPayload),
        ),
        case(
            "authentic JSON array",
            post(vec![sig(signed(b"[1,2,3]"))], b"[1,2,3]".to_vec()),
            Rejected(MalformedPayload),
        ),
        case(
            "authentic envelope without timestamp",
            post(vec![sig(signed(&missing_timestamp))], missing_timestamp),
            Rejected(MalformedPayload),
        ),
        case(
            "authentic envelope with a duplicate key",
            post(vec![sig(signed(&duplicate_key))], duplicate_key),
            Rejected(MalformedPayload),
        ),
        case(
            "authentic stale timestamp",
            post(vec![sig(signed(&stale))], stale),
            Rejected(Expired),
        ),
        case(
            "authentic future timestamp",
            post(vec![sig(signed(&future))], future),
            Rejected(FromFuture),
        ),
        case(
            "authentic known event with undecodable data",
            post(vec![sig(signed(&invalid_data))], invalid_data),
            Rejected(InvalidEventData),
        ),
        case(
            "authentic unknown event type",
            post(
                vec![sig(signed(&unknown)), event_header("rxscale_setup_test")],
                unknown,
            ),
            Accepted,
        ),
        case(
            "X-Webhook-Event disagrees with the body",
            post(
                vec![sig(good_str), event_header("pharmacy_sku_stock_updated")],
                genuine.clone(),
            ),
            Accepted,
        ),
        case(
            "no content type",
            Send::Client {
                method: reqwest::Method::POST,
                headers: vec![sig(good_str)],
                body: genuine.clone(),
            },
            Accepted,
        ),
        // Size and framing.
        case(
            "authentic body exactly at the limit",
            post(vec![sig(signed(&at_limit))], at_limit),
            Accepted,
        ),
        case(
            "authentic body one byte over the limit",
            post(vec![sig(signed(&over_limit))], over_limit),
            Rejected(ErrorKind::BodyTooLarge),
        ),
        case(
            "Content-Length over the limit, no body sent",
            Send::Raw(raw_request(
                target,
                &[("X-Webhook-Signature", good.as_bytes())],
                &[],
                Framing::Length(10 * TEST_MAX_BODY_BYTES),
            )),
            Rejected(ErrorKind::BodyTooLarge),
        ),
        case(
            "chunked body growing past the limit",
            Send::ChunkedPastLimit {
                head: raw_request(
                    target,
                    &[("X-Webhook-Signature", good.as_bytes())],
                    &[],
                    Framing::HeadOnlyChunked,
                ),
            },
            Rejected(ErrorKind::BodyTooLarge),
        ),
        case(
            "chunked authentic body",
            Send::Raw(raw_request(
                target,
                &[("X-Webhook-Signature", good.as_bytes())],
                &genuine,
                Framing::Chunked(700),
            )),
            Accepted,
        ),
        case(
            "Content-Length larger than the bytes sent",
            Send::Truncated {
                request: raw_request(
                    target,
                    &[("X-Webhook-Signature", good.as_bytes())],
                    &genuine[..genuine.len() / 2],
                    Framing::Length(genuine.len()),
                ),
            },
            NoResponse,
        ),
        // The route.
        case(
            "GET on the webhook route",
            Send::Client {
                method: reqwest::Method::GET,
                headers: vec![],
                body: Vec::new(),
            },
            Status(405),
        ),
        case(
            "PUT with an authentic body",
            Send::Client {
                method: reqwest::Method::PUT,
                headers: vec![
                    sig(good_str),
                    ("content-type", b"application/json".to_vec()),
                ],
                body: genuine.clone(),
            },
            Status(405),
        ),
    ]
}
