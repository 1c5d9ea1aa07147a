//! The soak test's receiver (`tests/bench/soak/run.sh`): one process per instance, built only from
//! the SDK's public API as a user would write it, behind a replay guard in a shared Redis.
//!
//! ```text
//! RXSCALE_WEBHOOK_SECRET=whsec_... soak_receiver --framework axum|actix \
//!     --redis-url redis://127.0.0.1:6379/0 [--port 0] [--fail-percent 5] \
//!     [--handler-sleep-ms 0] [--lease-ms 60000] [--max-body-bytes 2097152]
//! ```
//!
//! | option | environment | meaning | default |
//! |---|---|---|---|
//! | | `RXSCALE_WEBHOOK_SECRET` | the signing secret (never on the command line) | required |
//! | `--framework` | | `axum` (tower `VerifyLayer`) or `actix` (`VerifyWebhook` middleware) | required |
//! | `--redis-url` | `RXSCALE_REDIS_URL` | the shared Redis | required |
//! | `--port` | `PORT` | port on 127.0.0.1, `0` for an ephemeral one | `0` |
//! | `--fail-percent` | | share of handler calls answered 500, as a failing handler would | `5` |
//! | `--handler-sleep-ms` | | how long the handler works before answering | `0` |
//! | `--lease-ms` | | the claims' lease | the guard's default, 60 000 |
//! | `--max-body-bytes` | | the verifier's body limit | the SDK's default, 2 MiB |
//!
//! Prints `listening <port>` once bound, then one JSON line per event the handler handled
//! (answered 2xx): `{"handled":"<event_type>","key":"<dedup_key>","at_us":<unix µs>}`. The
//! line is flushed before the handler returns, so `at_us` precedes any 2xx sent for that key.
//! A deliberate failure answers 500 with the text body [`DELIBERATE_FAILURE`] and prints
//! nothing, so the soak driver can tell it from the SDK's JSON answers. The SDK's own `warn`
//! and `error` events (a store failure, an expired claim) go to stderr.

use std::hash::{DefaultHasher, Hash, Hasher};
use std::io::Write as _;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use rxscale_webhooks::{ReplayGuard, SigningSecret, Verified, Verifier};
use rxscale_webhooks_redis::RedisStore;

type BoxError = Box<dyn std::error::Error>;

/// The body of a deliberate handler failure (plain text, unlike every SDK answer).
const DELIBERATE_FAILURE: &str = "soak: deliberate handler failure";
/// Where the receivers serve deliveries.
const PATH: &str = "/webhooks/rxscale";

fn main() {
    if let Err(error) = run() {
        eprintln!("soak_receiver: {error}");
        std::process::exit(1);
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Framework {
    Axum,
    Actix,
}

struct Options {
    framework: Framework,
    redis_url: String,
    port: u16,
    fail_percent: u64,
    handler_sleep: Duration,
    lease: Option<Duration>,
    max_body_bytes: Option<usize>,
}

fn parse_options() -> Result<Options, BoxError> {
    let mut framework = None;
    let mut redis_url = std::env::var("RXSCALE_REDIS_URL").ok();
    let mut port = std::env::var("PORT").ok();
    let mut fail_percent = 5;
    let mut handler_sleep = Duration::ZERO;
    let mut lease = None;
    let mut max_body_bytes = None;
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        let mut value = || args.next().ok_or_else(|| format!("{arg} needs a value"));
        match arg.as_str() {
            "--framework" => {
                framework = Some(match value()?.as_str() {
                    "axum" => Framework::Axum,
                    "actix" => Framework::Actix,
                    other => return Err(format!("unknown framework {other:?}").into()),
                });
            }
            "--redis-url" => redis_url = Some(value()?),
            "--port" => port = Some(value()?),
            "--fail-percent" => fail_percent = number(&arg, &value()?)?,
            "--handler-sleep-ms" => {
                handler_sleep = Duration::from_millis(number(&arg, &value()?)?);
            }
            "--lease-ms" => lease = Some(Duration::from_millis(number(&arg, &value()?)?)),
            "--max-body-bytes" => {
                max_body_bytes = Some(usize::try_from(number(&arg, &value()?)?)?);
            }
            other => return Err(format!("unknown argument {other:?}").into()),
        }
    }
    if fail_percent > 100 {
        return Err("--fail-percent is at most 100".into());
    }
    Ok(Options {
        framework: framework.ok_or("--framework axum|actix is required")?,
        redis_url: redis_url.ok_or("--redis-url or RXSCALE_REDIS_URL is required")?,
        port: port.as_deref().map_or(Ok(0), str::parse)?,
        fail_percent,
        handler_sleep,
        lease,
        max_body_bytes,
    })
}

fn number(name: &str, value: &str) -> Result<u64, BoxError> {
    value
        .parse()
        .map_err(|_| format!("{name} is not a number: {value:?}").into())
}

fn run() -> Result<(), BoxError> {
    let options = parse_options()?;
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_ansi(false)
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| {
                tracing_subscriber::EnvFilter::new("warn,rxscale_webhooks_redis=info")
            }),
        )
        .init();
    let mut verifier =
        Verifier::builder().secret(SigningSecret::from_env("RXSCALE_WEBHOOK_SECRET")?);
    if let Some(limit) = options.max_body_bytes {
        verifier = verifier.max_body_bytes(limit);
    }
    let verifier = verifier.build()?;
    let handler = Handler {
        fail_percent: options.fail_percent,
        sleep: options.handler_sleep,
        calls: Arc::new(AtomicU64::new(0)),
        seed: seed(),
    };
    match options.framework {
        Framework::Axum => {
            tokio::runtime::Runtime::new()?.block_on(axum_app::serve(&options, verifier, handler))
        }
        Framework::Actix => {
            actix_web::rt::System::new().block_on(actix_app::serve(&options, verifier, handler))
        }
    }
}

async fn guard(options: &Options) -> Result<ReplayGuard, BoxError> {
    let store = RedisStore::connect(&options.redis_url)
        .await
        .map_err(|error| format!("redis: {error}"))?;
    let guard = ReplayGuard::new(store);
    Ok(match options.lease {
        Some(lease) => guard.lease(lease),
        None => guard,
    })
}

fn announce_port(port: u16) -> Result<(), BoxError> {
    let mut stdout = std::io::stdout().lock();
    writeln!(stdout, "listening {port}")?;
    stdout.flush()?;
    Ok(())
}

fn seed() -> u64 {
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |elapsed| elapsed.as_nanos());
    // Truncation is fine: any bits make a seed.
    (nanos as u64) ^ u64::from(std::process::id()).rotate_left(32)
}

/// What the handler does, the same for both frameworks.
#[derive(Clone)]
struct Handler {
    fail_percent: u64,
    sleep: Duration,
    calls: Arc<AtomicU64>,
    seed: u64,
}

impl Handler {
    /// Runs the handler; `true` means it succeeded (and printed its line).
    async fn handle(&self, verified: &Verified) -> bool {
        if !self.sleep.is_zero() {
            tokio::time::sleep(self.sleep).await;
        }
        // Which calls fail is decided by the key and a per-process call counter, so a retry of
        // a failed event rolls again instead of failing forever.
        let mut hasher = DefaultHasher::new();
        verified.dedup_key().as_str().hash(&mut hasher);
        let call = self.calls.fetch_add(1, Ordering::Relaxed);
        let roll = splitmix64(hasher.finish() ^ self.seed ^ call.wrapping_mul(0x9e37_79b9));
        if roll % 100 < self.fail_percent {
            return false;
        }
        let at_us = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |elapsed| elapsed.as_micros());
        let line = serde_json::json!({
            "handled": verified.event_type(),
            "key": verified.dedup_key().as_str(),
            "at_us": at_us,
        });
        let mut stdout = std::io::stdout().lock();
        // The line is the proof of handling: it must be out before the 2xx is.
        writeln!(stdout, "{line}").is_ok() && stdout.flush().is_ok()
    }
}

fn splitmix64(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

mod axum_app {
    use axum::Router;
    use axum::extract::{FromRef, State};
    use axum::http::StatusCode;
    use axum::response::{IntoResponse, Response};
    use axum::routing::post;
    use rxscale_webhooks_axum::{VerifiedEvent, Verifier, VerifyLayer};

    use super::{BoxError, DELIBERATE_FAILURE, Handler, Options, PATH, announce_port, guard};

    #[derive(Clone)]
    struct AppState {
        verifier: Verifier,
        handler: Handler,
    }

    // The extractors find the verifier in the state, as in the SDK's examples.
    impl FromRef<AppState> for Verifier {
        fn from_ref(state: &AppState) -> Verifier {
            state.verifier.clone()
        }
    }

    pub(super) async fn serve(
        options: &Options,
        verifier: Verifier,
        handler: Handler,
    ) -> Result<(), BoxError> {
        let layer = VerifyLayer::new(verifier.clone()).replay_guard(guard(options).await?);
        let app = Router::new()
            .route(PATH, post(handle).route_layer(layer))
            .with_state(AppState { verifier, handler });
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", options.port)).await?;
        announce_port(listener.local_addr()?.port())?;
        axum::serve(listener, app).await?;
        Ok(())
    }

    async fn handle(
        State(state): State<AppState>,
        VerifiedEvent(verified): VerifiedEvent,
    ) -> Response {
        if state.handler.handle(&verified).await {
            StatusCode::OK.into_response()
        } else {
            (StatusCode::INTERNAL_SERVER_ERROR, DELIBERATE_FAILURE).into_response()
        }
    }
}

mod actix_app {
    use actix_web::{App, HttpResponse, HttpServer, web};
    use rxscale_webhooks_actix::{VerifiedEvent, Verifier, VerifyWebhook};

    use super::{BoxError, DELIBERATE_FAILURE, Handler, Options, PATH, announce_port, guard};

    pub(super) async fn serve(
        options: &Options,
        verifier: Verifier,
        handler: Handler,
    ) -> Result<(), BoxError> {
        let middleware = VerifyWebhook::new(verifier).replay_guard(guard(options).await?);
        let handler = web::Data::new(handler);
        let server = HttpServer::new(move || {
            App::new()
                .app_data(handler.clone())
                .service(web::resource(PATH).route(web::post().to(handle).wrap(middleware.clone())))
        })
        // Two workers: the machine the soak runs on is small, and two instances per framework
        // already share it.
        .workers(2)
        .bind(("127.0.0.1", options.port))?;
        let port = server
            .addrs()
            .first()
            .map(|addr| addr.port())
            .ok_or("no address bound")?;
        announce_port(port)?;
        server.run().await?;
        Ok(())
    }

    async fn handle(handler: web::Data<Handler>, event: VerifiedEvent) -> HttpResponse {
        if handler.handle(&event).await {
            HttpResponse::Ok().finish()
        } else {
            HttpResponse::InternalServerError()
                .content_type("text/plain")
                .body(DELIBERATE_FAILURE)
        }
    }
}
