//! The receiver the HTTP benchmarks (`tests/bench/benches/http/run.sh`) load with wrk.
//!
//! One process serves one route, `POST /webhook`, on 127.0.0.1, in one of four modes:
//!
//! | mode | the route |
//! |---|---|
//! | `bare` | reads the body as `Bytes` and answers 200: the cost of a request, for context |
//! | `inline` | reads `Bytes`, checks the HMAC and decodes the typed event by hand: the yardstick |
//! | `layer` | axum: `VerifyLayer` on the route; actix-web: `VerifyWebhook` on the route; Rocket: none (refused) |
//! | `extractor` | the `VerifiedEvent` extractor alone; Rocket: the `VerifiedEvent` data guard with the `VerifyWebhooks` fairing |
//!
//! Every mode answers 200 with an empty body to an authentic delivery; the verifying modes
//! answer 401 to a forged one, which the script checks before it measures anything.
//!
//! ```text
//! bench_server --framework axum|actix|rocket --mode bare|inline|layer|extractor
//!              [--port 0] [--workers 1] [--max-body-bytes 2097152]
//! ```
//!
//! Each flag may instead come from the environment: `BENCH_FRAMEWORK`, `BENCH_MODE`,
//! `BENCH_PORT`, `BENCH_WORKERS`, `BENCH_MAX_BODY_BYTES`. `--workers` is the number of tokio
//! worker threads for axum and Rocket and of actix-web workers (each a single-threaded
//! runtime), so every framework gets the same number of threads serving requests. Prints
//! `listening <port>` once bound (Rocket binds the port again itself, and prints it once it
//! listens).

use std::hint::black_box;
use std::net::TcpListener;
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use hmac::{Hmac, KeyInit, Mac};
use rxscale_webhooks::event::PharmacyOrder;
use rxscale_webhooks::{DEFAULT_MAX_AGE, DEFAULT_MAX_FUTURE_SKEW, SIGNATURE_HEADER, Verifier};
use serde::Deserialize;
use sha2::Sha256;
use subtle::ConstantTimeEq;

/// The secret every mode checks with; `run.sh` signs with the same one.
const SECRET: &str = "whsec_benchmark_secret_0123456789abcdef";
const PATH: &str = "/webhook";

type BoxError = Box<dyn std::error::Error>;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Framework {
    Axum,
    Actix,
    Rocket,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    Bare,
    Inline,
    Layer,
    Extractor,
}

#[derive(Debug)]
struct Args {
    framework: Framework,
    mode: Mode,
    port: u16,
    workers: usize,
    max_body_bytes: usize,
}

fn main() {
    if let Err(error) = run() {
        eprintln!("bench_server: {error}");
        std::process::exit(2);
    }
}

fn run() -> Result<(), BoxError> {
    let args = parse_args(std::env::args().skip(1))?;
    let listener = TcpListener::bind(("127.0.0.1", args.port))?;
    listener.set_nonblocking(true)?;
    let verifier = Verifier::builder()
        .secret(SECRET)
        .max_body_bytes(args.max_body_bytes)
        .build()?;
    let yardstick = Arc::new(Yardstick::new(args.max_body_bytes)?);
    if args.framework == Framework::Rocket {
        let port = listener.local_addr()?.port();
        drop(listener);
        return rocket_app::serve(port, &args, verifier, yardstick);
    }
    println!("listening {}", listener.local_addr()?.port());
    match args.framework {
        Framework::Axum => axum_app::serve(listener, &args, verifier, yardstick),
        Framework::Actix => actix_app::serve(listener, &args, verifier, yardstick),
        Framework::Rocket => unreachable!("served above"),
    }
}

fn parse_args(mut argv: impl Iterator<Item = String>) -> Result<Args, BoxError> {
    let get = |name: &str, env: &str| std::env::var(env).ok().map(|v| (name.to_owned(), v));
    let mut pairs: Vec<(String, String)> = [
        get("--framework", "BENCH_FRAMEWORK"),
        get("--mode", "BENCH_MODE"),
        get("--port", "BENCH_PORT"),
        get("--workers", "BENCH_WORKERS"),
        get("--max-body-bytes", "BENCH_MAX_BODY_BYTES"),
    ]
    .into_iter()
    .flatten()
    .collect();
    // Flags come after the environment, so they win.
    while let Some(flag) = argv.next() {
        let value = argv.next().ok_or_else(|| format!("{flag} needs a value"))?;
        pairs.push((flag, value));
    }
    let mut framework = None;
    let mut mode = None;
    let mut port = 0;
    let mut workers = 1;
    let mut max_body_bytes = rxscale_webhooks::DEFAULT_MAX_BODY_BYTES;
    for (flag, value) in pairs {
        match flag.as_str() {
            "--framework" => {
                framework = Some(match value.as_str() {
                    "axum" => Framework::Axum,
                    "actix" => Framework::Actix,
                    "rocket" => Framework::Rocket,
                    other => return Err(format!("unknown framework {other:?}").into()),
                })
            }
            "--mode" => {
                mode = Some(match value.as_str() {
                    "bare" => Mode::Bare,
                    "inline" => Mode::Inline,
                    "layer" => Mode::Layer,
                    "extractor" => Mode::Extractor,
                    other => return Err(format!("unknown mode {other:?}").into()),
                })
            }
            "--port" => port = value.parse()?,
            "--workers" => workers = value.parse()?,
            "--max-body-bytes" => max_body_bytes = value.parse()?,
            other => return Err(format!("unknown flag {other:?}").into()),
        }
    }
    if workers == 0 {
        return Err("--workers must be at least 1".into());
    }
    Ok(Args {
        framework: framework.ok_or("--framework axum|actix|rocket is required")?,
        mode: mode.ok_or("--mode bare|inline|layer|extractor is required")?,
        port,
        workers,
        max_body_bytes,
    })
}

/// What a careful hand-written receiver does, with the same crates as the SDK: hex-decode the
/// header, HMAC-SHA256 the body from a pre-keyed state, compare in constant time, decode the
/// envelope with typed `data` in one serde derive, check the timestamp window.
struct Yardstick {
    keyed: Hmac<Sha256>,
    max_body_bytes: usize,
}

/// The envelope a hand-written receiver decodes.
#[derive(Deserialize)]
struct HandEnvelope {
    #[allow(dead_code)]
    event_type: String,
    timestamp: i64,
    #[allow(dead_code)]
    payload_version: Option<String>,
    data: PharmacyOrder,
}

impl Yardstick {
    fn new(max_body_bytes: usize) -> Result<Self, BoxError> {
        Ok(Yardstick {
            keyed: Hmac::<Sha256>::new_from_slice(SECRET.as_bytes())?,
            max_body_bytes,
        })
    }

    /// The status the delivery earns.
    fn check<'a>(&self, signatures: impl Iterator<Item = &'a [u8]>, body: &[u8]) -> u16 {
        if body.len() > self.max_body_bytes {
            return 413;
        }
        let mut mac = self.keyed.clone();
        mac.update(body);
        let expected: [u8; 32] = mac.finalize().into_bytes().into();
        let mut authentic = false;
        for signature in signatures {
            let mut tag = [0u8; 32];
            if hex::decode_to_slice(signature.trim_ascii(), &mut tag).is_ok() {
                authentic |= bool::from(expected.ct_eq(&tag));
            }
        }
        if !authentic {
            return 401;
        }
        let Ok(envelope) = serde_json::from_slice::<HandEnvelope>(body) else {
            return 400;
        };
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX));
        let age = now.saturating_sub(envelope.timestamp);
        let max_age = i64::try_from(DEFAULT_MAX_AGE.as_secs()).unwrap_or(i64::MAX);
        let skew = i64::try_from(DEFAULT_MAX_FUTURE_SKEW.as_secs()).unwrap_or(i64::MAX);
        if age > max_age || -age > skew {
            return 400;
        }
        black_box(&envelope.data);
        200
    }
}

mod axum_app {
    use std::sync::Arc;

    use axum::Router;
    use axum::body::Bytes;
    use axum::extract::{DefaultBodyLimit, State};
    use axum::http::{HeaderMap, HeaderValue, StatusCode};
    use axum::routing::post;
    use rxscale_webhooks::{Event, Verifier};
    use rxscale_webhooks_axum::{VerifiedEvent, VerifyLayer};

    use super::{Args, BoxError, Mode, PATH, SIGNATURE_HEADER, Yardstick, black_box};

    pub(super) fn serve(
        listener: std::net::TcpListener,
        args: &Args,
        verifier: Verifier,
        yardstick: Arc<Yardstick>,
    ) -> Result<(), BoxError> {
        let router = match args.mode {
            Mode::Bare => Router::new().route(PATH, post(bare)),
            Mode::Inline => Router::new()
                .route(PATH, post(inline))
                .with_state(yardstick),
            Mode::Layer => Router::new()
                .route(
                    PATH,
                    post(verified).route_layer(VerifyLayer::new(verifier.clone())),
                )
                .with_state(verifier),
            Mode::Extractor => Router::new()
                .route(PATH, post(verified))
                .with_state(verifier),
        }
        // `Bytes` in `bare` and `inline` obeys axum's limit; the verifying modes obey the
        // verifier's. Both are the same number.
        .layer(DefaultBodyLimit::max(args.max_body_bytes));
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(args.workers)
            .enable_all()
            .build()?
            .block_on(async move {
                let listener = tokio::net::TcpListener::from_std(listener)?;
                axum::serve(listener, router).await
            })?;
        Ok(())
    }

    async fn bare(body: Bytes) -> StatusCode {
        black_box(body.len());
        StatusCode::OK
    }

    async fn inline(
        State(yardstick): State<Arc<Yardstick>>,
        headers: HeaderMap,
        body: Bytes,
    ) -> StatusCode {
        let signatures = headers
            .get_all(SIGNATURE_HEADER)
            .into_iter()
            .map(HeaderValue::as_bytes);
        StatusCode::from_u16(yardstick.check(signatures, &body))
            .unwrap_or(StatusCode::INTERNAL_SERVER_ERROR)
    }

    async fn verified(VerifiedEvent(verified): VerifiedEvent) -> StatusCode {
        if let Event::PharmacyOrderCreated(order) = verified.event() {
            black_box(order);
        }
        StatusCode::OK
    }
}

mod actix_app {
    use std::sync::Arc;

    use actix_web::http::StatusCode;
    use actix_web::http::header::HeaderValue;
    use actix_web::web::{self, Bytes};
    use actix_web::{App, HttpRequest, HttpResponse, HttpServer};
    use rxscale_webhooks::{Event, Verifier};
    use rxscale_webhooks_actix::{VerifiedEvent, VerifyWebhook};

    use super::{Args, BoxError, Mode, PATH, SIGNATURE_HEADER, Yardstick, black_box};

    pub(super) fn serve(
        listener: std::net::TcpListener,
        args: &Args,
        verifier: Verifier,
        yardstick: Arc<Yardstick>,
    ) -> Result<(), BoxError> {
        let mode = args.mode;
        let limit = args.max_body_bytes;
        let server = HttpServer::new(move || {
            // `web::Bytes` obeys `PayloadConfig` (256 KiB by default); the verifying modes obey
            // the verifier's limit. Both are the same number.
            let app = App::new()
                .app_data(web::PayloadConfig::new(limit))
                .app_data(web::Data::from(Arc::clone(&yardstick)))
                .app_data(web::Data::new(verifier.clone()));
            match mode {
                Mode::Bare => app.route(PATH, web::post().to(bare)),
                Mode::Inline => app.route(PATH, web::post().to(inline)),
                Mode::Layer => app.route(
                    PATH,
                    web::post()
                        .to(verified)
                        .wrap(VerifyWebhook::new(verifier.clone())),
                ),
                Mode::Extractor => app.route(PATH, web::post().to(verified)),
            }
        })
        .workers(args.workers)
        .listen(listener)?;
        actix_web::rt::System::new().block_on(server.run())?;
        Ok(())
    }

    async fn bare(body: Bytes) -> HttpResponse {
        black_box(body.len());
        HttpResponse::Ok().finish()
    }

    async fn inline(
        yardstick: web::Data<Yardstick>,
        request: HttpRequest,
        body: Bytes,
    ) -> HttpResponse {
        let signatures = request
            .headers()
            .get_all(SIGNATURE_HEADER)
            .map(HeaderValue::as_bytes);
        let status = yardstick.check(signatures, &body);
        HttpResponse::new(StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR))
    }

    async fn verified(event: VerifiedEvent) -> HttpResponse {
        if let Event::PharmacyOrderCreated(order) = event.event() {
            black_box(order);
        }
        HttpResponse::Ok().finish()
    }
}

mod rocket_app {
    use std::sync::Arc;

    use rocket::config::LogLevel;
    use rocket::data::{Data, ToByteUnit as _};
    use rocket::fairing::AdHoc;
    use rocket::http::{HeaderMap, Status};
    use rocket::request::{FromRequest, Outcome, Request};
    use rocket::{State, post, routes};
    use rxscale_webhooks::{Event, Verifier};
    use rxscale_webhooks_rocket::{VerifiedEvent, VerifyWebhooks};

    use super::{Args, BoxError, Mode, SIGNATURE_HEADER, Yardstick, black_box};

    pub(super) fn serve(
        port: u16,
        args: &Args,
        verifier: Verifier,
        yardstick: Arc<Yardstick>,
    ) -> Result<(), BoxError> {
        let config = rocket::Config {
            address: std::net::Ipv4Addr::LOCALHOST.into(),
            port,
            workers: args.workers,
            log_level: LogLevel::Off,
            cli_colors: false,
            ..rocket::Config::release_default()
        };
        let rocket = rocket::custom(config)
            .manage(yardstick)
            .manage(Limit(args.max_body_bytes))
            .attach(AdHoc::on_liftoff("listening", |rocket| {
                println!("listening {}", rocket.config().port);
                Box::pin(async {})
            }));
        // `bare` and `inline` read within `--max-body-bytes`, as the guard does (its Rocket
        // limit `json/rxscale-webhook` is unset, so the verifier's applies).
        let rocket = match args.mode {
            Mode::Bare => rocket.mount("/", routes![bare]),
            Mode::Inline => rocket.mount("/", routes![inline]),
            Mode::Extractor => rocket
                .attach(VerifyWebhooks::new(verifier))
                .mount("/", routes![verified]),
            Mode::Layer => return Err("Rocket has no layer: use --mode extractor".into()),
        };
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(args.workers)
            .enable_all()
            .build()?
            .block_on(rocket.launch())?;
        Ok(())
    }

    struct Limit(usize);

    /// Every header, for the inline handler.
    struct Headers<'r>(&'r HeaderMap<'r>);

    #[rocket::async_trait]
    impl<'r> FromRequest<'r> for Headers<'r> {
        type Error = std::convert::Infallible;

        async fn from_request(request: &'r Request<'_>) -> Outcome<Self, Self::Error> {
            Outcome::Success(Headers(request.headers()))
        }
    }

    async fn read(data: Data<'_>, limit: usize) -> Option<Vec<u8>> {
        let bytes = data.open(limit.bytes()).into_bytes().await.ok()?;
        bytes.is_complete().then(|| bytes.into_inner())
    }

    #[post("/webhook", data = "<body>")]
    async fn bare(limit: &State<Limit>, body: Data<'_>) -> Status {
        match read(body, limit.0).await {
            Some(body) => {
                black_box(body.len());
                Status::Ok
            }
            None => Status::PayloadTooLarge,
        }
    }

    #[post("/webhook", data = "<body>")]
    async fn inline(
        yardstick: &State<Arc<Yardstick>>,
        limit: &State<Limit>,
        headers: Headers<'_>,
        body: Data<'_>,
    ) -> Status {
        let Some(body) = read(body, limit.0).await else {
            return Status::PayloadTooLarge;
        };
        let signatures = headers.0.get(SIGNATURE_HEADER).map(str::as_bytes);
        Status::new(yardstick.check(signatures, &body))
    }

    #[post("/webhook", data = "<event>")]
    fn verified(event: VerifiedEvent) -> Status {
        if let Event::PharmacyOrderCreated(order) = event.event() {
            black_box(order);
        }
        Status::Ok
    }
}
