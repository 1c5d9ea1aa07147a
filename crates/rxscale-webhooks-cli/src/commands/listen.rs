//! `listen`: a local receiver built on the axum layer, printing each delivery as it arrives and
//! optionally forwarding the verified ones to the user's own app.

use std::net::{Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use axum::Extension;
use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::{DefaultBodyLimit, Request, State};
use axum::http::header::{CONTENT_LENGTH, CONTENT_TYPE, HOST};
use axum::http::{HeaderMap, HeaderName, HeaderValue, Method, StatusCode, Uri};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use clap::Args;
use http_body_util::BodyExt;
use reqwest::Url;
use rxscale_webhooks::pipeline::{Pipeline, Rejection, body_read_failed, content_length};
use rxscale_webhooks::{ErrorKind, SIGNATURE_HEADER, SigningSecret, Verified};
use rxscale_webhooks_axum::VerifyLayer;

use crate::commands::runtime;
use crate::failure::{Failure, say};
use crate::limits::LimitArgs;
use crate::secret::SecretArgs;
use crate::{hints, net, summary};

/// The port `listen` binds when none is given.
const DEFAULT_PORT: u16 = 8787;

#[derive(Debug, Args)]
pub(crate) struct ListenArgs {
    /// The port to listen on, on 127.0.0.1; 0 picks a free one.
    #[arg(long, value_name = "P", default_value_t = DEFAULT_PORT)]
    port: u16,

    /// Forward each verified delivery, headers and bytes unchanged, to your app at this URL,
    /// and answer RxScale with your app's status.
    #[arg(long, value_name = "URL")]
    forward_to: Option<String>,

    /// Allow --forward-to a host that is not loopback.
    #[arg(long)]
    allow_remote: bool,

    #[command(flatten)]
    limits: LimitArgs,

    #[command(flatten)]
    secret: SecretArgs,
}

/// What every request of the receiver shares.
struct Listener {
    secret: SigningSecret,
    pipeline: Pipeline,
    forward: Option<Forward>,
    deliveries: AtomicU64,
    verified: AtomicU64,
    rejected: AtomicU64,
}

struct Forward {
    client: reqwest::Client,
    url: Url,
}

/// Which delivery a request is, for the printed lines; set before the layer runs.
#[derive(Debug, Clone, Copy)]
struct Number(u64);

pub(crate) fn run(args: ListenArgs) -> Result<(), Failure> {
    let secret = args.secret.load()?;
    let verifier = args.limits.verifier(&secret)?;
    let forward = match &args.forward_to {
        Some(raw) => Some(Forward {
            client: net::client()?,
            url: net::target_url(raw, "--forward-to", args.allow_remote)?,
        }),
        None => None,
    };
    let listener = Arc::new(Listener {
        secret,
        pipeline: Pipeline::new(verifier),
        forward,
        deliveries: AtomicU64::new(0),
        verified: AtomicU64::new(0),
        rejected: AtomicU64::new(0),
    });
    runtime()?.block_on(serve(args.port, listener))
}

async fn serve(port: u16, listener: Arc<Listener>) -> Result<(), Failure> {
    let address = SocketAddr::from((Ipv4Addr::LOCALHOST, port));
    let socket = tokio::net::TcpListener::bind(address)
        .await
        .map_err(|err| Failure::usage(format!("cannot listen on {address}: {err}")))?;
    let local = socket
        .local_addr()
        .map_err(|err| Failure::usage(format!("cannot read the bound address: {err}")))?;
    let verifier = listener.pipeline.verifier();
    say(format!(
        "listening on http://{local}/ (secret {}, max age {}s, body limit {} bytes){}; Ctrl-C stops",
        listener.secret.fingerprint(),
        verifier.max_age().map_or(0, |age| age.as_secs()),
        verifier.max_body_bytes(),
        listener
            .forward
            .as_ref()
            .map(|forward| format!(", forwarding to {}", forward.url))
            .unwrap_or_default(),
    ));

    let app = router(Arc::clone(&listener));
    axum::serve(socket, app)
        .with_graceful_shutdown(shutdown_signal())
        .await
        .map_err(|err| Failure::usage(format!("the receiver stopped: {err}")))?;
    say(format!(
        "stopped: {} verified, {} rejected",
        listener.verified.load(Ordering::Relaxed),
        listener.rejected.load(Ordering::Relaxed)
    ));
    Ok(())
}

fn router(listener: Arc<Listener>) -> Router {
    Router::new()
        .fallback(receive)
        // The layer already holds the body to --max-body-bytes; axum's own 2 MB default for
        // the handler's `Bytes` would otherwise refuse verified bodies above it.
        .layer(DefaultBodyLimit::disable())
        .layer(VerifyLayer::new(listener.pipeline.verifier().clone()))
        .layer(middleware::from_fn_with_state(
            Arc::clone(&listener),
            observe,
        ))
        .with_state(listener)
}

/// Ctrl-C, or a polite `kill`, ends the receiver after the requests in flight.
async fn shutdown_signal() {
    let interrupt = async {
        if tokio::signal::ctrl_c().await.is_err() {
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = interrupt => {}
        () = terminate => {}
    }
}

/// Runs outside the layer: numbers the delivery and keeps a copy of its bytes, so that a
/// rejection, which the layer answers by itself, can be printed with its hint. The body is read
/// with the core's pipeline reader, within the same limit as the layer's; the layer's rejection
/// carries its [`Rejection`] in the response extensions, which says why.
async fn observe(State(listener): State<Arc<Listener>>, request: Request, next: Next) -> Response {
    let number = listener.deliveries.fetch_add(1, Ordering::Relaxed) + 1;
    let (mut parts, body) = request.into_parts();
    parts.extensions.insert(Number(number));
    let bytes = match read_body(&listener.pipeline, &parts.headers, body).await {
        Ok(bytes) => bytes,
        Err(rejection) => {
            listener.rejected.fetch_add(1, Ordering::Relaxed);
            let hint = explain(&listener, &rejection, &[], &[]);
            say(format!(
                "#{number} rejected  {} ({})",
                rejection.code(),
                rejection.status()
            ));
            say(format!("    hint: {hint}"));
            return answer(&rejection);
        }
    };
    let signatures: Vec<Vec<u8>> = parts
        .headers
        .get_all(SIGNATURE_HEADER)
        .iter()
        .map(|value| value.as_bytes().to_vec())
        .collect();
    let response = next
        .run(Request::from_parts(parts, Body::from(bytes.clone())))
        .await;
    let Some(rejection) = response.extensions().get::<Rejection>() else {
        return response;
    };
    listener.rejected.fetch_add(1, Ordering::Relaxed);
    let hint = explain(&listener, rejection, &bytes, &signatures);
    say(format!(
        "#{number} rejected  {} ({})",
        rejection.code(),
        rejection.status()
    ));
    say(format!("    hint: {hint}"));
    response
}

/// The body, read as the layer reads it.
async fn read_body(
    pipeline: &Pipeline,
    headers: &HeaderMap,
    mut body: Body,
) -> Result<Bytes, Rejection> {
    let length = content_length(headers.get(CONTENT_LENGTH).map(HeaderValue::as_bytes));
    let mut reader = pipeline.body_reader(length)?;
    while let Some(frame) = body.frame().await {
        if let Ok(data) = frame.map_err(body_read_failed)?.into_data() {
            reader.push(data)?;
        }
    }
    Ok(reader.finish())
}

/// The rejection as a response, as the layer would send it.
fn answer(rejection: &Rejection) -> Response {
    let status = StatusCode::from_u16(rejection.status()).unwrap_or_else(|_| {
        unreachable!("every status the SDK answers with is a valid HTTP status")
    });
    let mut response = (status, rejection.body()).into_response();
    for &(name, value) in rejection.headers() {
        response.headers_mut().insert(
            HeaderName::from_static(name),
            HeaderValue::from_static(value),
        );
    }
    response
}

/// The hint for a rejection, from the error the layer found.
fn explain(
    listener: &Listener,
    rejection: &Rejection,
    body: &[u8],
    signatures: &[Vec<u8>],
) -> String {
    let Some(error) = rejection.error() else {
        return rejection.body().to_owned();
    };
    if error.kind() == ErrorKind::BodyTooLarge {
        return format!(
            "the body is larger than the {}-byte limit, so it was refused before it was hashed; \
             raise --max-body-bytes if such bodies are genuine",
            listener.pipeline.verifier().max_body_bytes()
        );
    }
    if error.kind() == ErrorKind::BodyReadFailed {
        return "the body could not be read to its end: the client went away or broke the framing"
            .to_owned();
    }
    if signatures.is_empty() {
        return "the request has no X-Webhook-Signature header: it was not signed, or something \
                between RxScale and this receiver dropped the header"
            .to_owned();
    }
    let signature = signatures.first().map(Vec::as_slice).unwrap_or_default();
    hints::explain(error, &listener.secret, body, signature)
}

/// Reached only by verified deliveries: the layer answered everything else.
async fn receive(
    State(listener): State<Arc<Listener>>,
    Extension(verified): Extension<Verified>,
    Extension(Number(number)): Extension<Number>,
    uri: Uri,
    method: Method,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    listener.verified.fetch_add(1, Ordering::Relaxed);
    say(format!(
        "#{number} verified  {}  key {}  ({} {uri}, {} bytes, {})",
        verified.event_type(),
        verified.dedup_key(),
        method,
        body.len(),
        verified.fingerprint(),
    ));
    say(format!("    {}", summary::describe(verified.event())));

    match &listener.forward {
        None => (
            StatusCode::OK,
            [(CONTENT_TYPE, "application/json")],
            r#"{"ok":true}"#,
        )
            .into_response(),
        Some(forward) => forward_to_app(forward, method, &headers, body).await,
    }
}

/// Headers that describe one connection rather than the delivery; everything else is passed on.
fn is_hop_by_hop(name: &HeaderName) -> bool {
    matches!(
        name.as_str(),
        "connection"
            | "keep-alive"
            | "proxy-connection"
            | "proxy-authenticate"
            | "proxy-authorization"
            | "te"
            | "trailer"
            | "transfer-encoding"
            | "upgrade"
    ) || name == HOST
        || name == CONTENT_LENGTH
}

async fn forward_to_app(
    forward: &Forward,
    method: Method,
    headers: &HeaderMap,
    body: Bytes,
) -> Response {
    let mut passed = reqwest::header::HeaderMap::new();
    for (name, value) in headers {
        if !is_hop_by_hop(name) {
            passed.append(name.clone(), value.clone());
        }
    }
    let started = Instant::now();
    let sent = forward
        .client
        .request(method, forward.url.clone())
        .headers(passed)
        .body(body)
        .send()
        .await;
    match sent {
        Ok(app) => {
            let status = app.status();
            let content_type = app.headers().get(CONTENT_TYPE).cloned();
            let answer = app.bytes().await.unwrap_or_default();
            say(format!(
                "    forwarded to {}: {status} in {} ms",
                forward.url,
                started.elapsed().as_millis()
            ));
            let mut response = (status, answer).into_response();
            if let Some(content_type) = content_type {
                response.headers_mut().insert(CONTENT_TYPE, content_type);
            }
            response
        }
        Err(err) => {
            say(format!(
                "    forwarding to {} failed ({}); answered 502",
                forward.url,
                net::describe_error(&err)
            ));
            (
                StatusCode::BAD_GATEWAY,
                [(CONTENT_TYPE, HeaderValue::from_static("application/json"))],
                r#"{"error":"forward_failed"}"#,
            )
                .into_response()
        }
    }
}
