//! The receivers the replay scenarios run, on every framework, so that one scenario checks them
//! all: an axum app behind `VerifyLayer`, an actix-web app behind `VerifyWebhook`, and Rocket,
//! poem, salvo and warp (behind the tower layer) apps, each with a replay guard and a handler
//! that counts, can be slow, and can fail or panic on its first calls. The same receivers run in
//! the tests' own process and, for the crash scenarios, as the `*_test_receiver` child
//! processes.
//!
//! A scenario is an `async fn(Framework)`; [`on_every_framework!`](crate::on_every_framework)
//! turns it into one test per framework.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use rxscale_webhooks::{ReplayGuard, SigningSecret, Verified, Verifier};

/// Where the receivers serve deliveries.
pub const PATH: &str = "/webhooks/rxscale";

/// The framework a receiver runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Framework {
    /// axum 0.8 with `rxscale_webhooks_axum::VerifyLayer` (the tower layer).
    Axum,
    /// actix-web 4 with `rxscale_webhooks_actix::VerifyWebhook`.
    Actix,
    /// Rocket 0.5 with `rxscale_webhooks_rocket::VerifyWebhooks` and the `VerifiedEvent` data
    /// guard.
    Rocket,
    /// poem 3 with `rxscale_webhooks_poem::VerifyWebhook`.
    Poem,
    /// salvo 1 with `rxscale_webhooks_salvo::VerifyWebhook` (a hoop).
    Salvo,
    /// warp 0.4 as `warp::service`, its POSTs behind the tower `VerifyLayer`, on hyper.
    WarpBehindTower,
}

impl Framework {
    /// Every one, in a fixed order.
    pub const ALL: [Framework; 6] = [
        Framework::Axum,
        Framework::Actix,
        Framework::Rocket,
        Framework::Poem,
        Framework::Salvo,
        Framework::WarpBehindTower,
    ];

    /// `axum`, `actix`, `rocket`, `poem`, `salvo` or `warp_behind_tower`.
    pub fn name(self) -> &'static str {
        match self {
            Framework::Axum => "axum",
            Framework::Actix => "actix",
            Framework::Rocket => "rocket",
            Framework::Poem => "poem",
            Framework::Salvo => "salvo",
            Framework::WarpBehindTower => "warp_behind_tower",
        }
    }

    /// Whether the server drops a handler's future when its client hangs up. hyper (under axum,
    /// salvo, and warp served on hyper's http1 builder) does; actix-web runs the handler to its
    /// end (actix/actix-web#3462), and so does poem 3.1 (its server serves connections through
    /// hyper_util's auto builder with upgrades, which did not notice the hang-up in
    /// `replay_memory`'s scenario), so there the handler's own answer settles the claim. Rocket
    /// runs each request in a task of its own, to its end.
    pub fn drops_the_handler_on_hang_up(self) -> bool {
        match self {
            Framework::Axum | Framework::Salvo | Framework::WarpBehindTower => true,
            Framework::Actix | Framework::Rocket | Framework::Poem => false,
        }
    }
}

/// Turns each scenario, an `async fn name(framework: Framework)` in scope, into one test per
/// framework: `axum::name`, `actix::name`, `rocket::name`, `poem::name`, `salvo::name` and
/// `warp_behind_tower::name`, each on a two-thread runtime.
#[macro_export]
macro_rules! on_every_framework {
    ($($scenario:ident),+ $(,)?) => {
        mod axum {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $scenario() {
                    super::$scenario($crate::receiver::Framework::Axum).await;
                }
            )+
        }
        mod actix {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $scenario() {
                    super::$scenario($crate::receiver::Framework::Actix).await;
                }
            )+
        }
        mod rocket {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $scenario() {
                    super::$scenario($crate::receiver::Framework::Rocket).await;
                }
            )+
        }
        mod poem {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $scenario() {
                    super::$scenario($crate::receiver::Framework::Poem).await;
                }
            )+
        }
        mod salvo {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $scenario() {
                    super::$scenario($crate::receiver::Framework::Salvo).await;
                }
            )+
        }
        mod warp_behind_tower {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $scenario() {
                    super::$scenario($crate::receiver::Framework::WarpBehindTower).await;
                }
            )+
        }
    };
}

/// How the handler behaves, and what it counts. Clones share the counters, so one `Handler`
/// given to several receivers counts across all of them.
#[derive(Debug, Clone, Default)]
pub struct Handler {
    entered: Arc<AtomicUsize>,
    succeeded: Arc<AtomicUsize>,
    sleep: Duration,
    panics: usize,
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

    /// Panics on its first `panics` calls (across every receiver sharing it).
    #[must_use]
    pub fn panicking_first(mut self, panics: usize) -> Self {
        self.panics = panics;
        self
    }

    /// Answers 500 to its next `failures` calls, after any panicking ones.
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

    /// Runs once per call; `true` means answer 200, `false` 500.
    async fn handle(&self, verified: &Verified) -> bool {
        let call = self.entered.fetch_add(1, Ordering::SeqCst);
        if self.announce {
            println!("handling {}", verified.dedup_key());
        }
        tokio::time::sleep(self.sleep).await;
        if call < self.panics {
            panic!("handler call {call} panics, as the scenario asked");
        }
        if call < self.panics + self.failures {
            return false;
        }
        self.succeeded.fetch_add(1, Ordering::SeqCst);
        true
    }
}

/// A receiver to start: `POST` [`PATH`] behind the framework's verifying layer or middleware
/// with a replay guard, then the handler.
#[derive(Debug, Clone)]
pub struct Receiver {
    framework: Framework,
    verifier: Verifier,
    guard: ReplayGuard,
    handler: Handler,
    deadline: Option<Duration>,
}

impl Receiver {
    /// A receiver on `framework` with [`test_verifier`](crate::test_verifier), `guard` and
    /// `handler`.
    pub fn new(framework: Framework, guard: ReplayGuard, handler: Handler) -> Self {
        Receiver {
            framework,
            verifier: crate::test_verifier(),
            guard,
            handler,
            deadline: None,
        }
    }

    /// Verifies with `verifier` instead of the test verifier.
    #[must_use]
    pub fn verifier(mut self, verifier: Verifier) -> Self {
        self.verifier = verifier;
        self
    }

    /// Wraps everything in an outer middleware that gives each request `deadline`, then drops
    /// its future and answers 504, as a timeout layer would. Default: no deadline.
    #[must_use]
    pub fn deadline(mut self, deadline: Duration) -> Self {
        self.deadline = Some(deadline);
        self
    }

    /// Serves on an ephemeral port of 127.0.0.1, in the background, for as long as the test's
    /// runtime lives.
    pub async fn start(self) -> SocketAddr {
        if self.framework == Framework::Rocket {
            // Rocket binds its own listener: wait until it does.
            return crate::rocket_server::serve(self.rocket(0)).await;
        }
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
        let addr = listener.local_addr().expect("a bound address");
        let framework = self.framework;
        let server = self.serve(listener);
        tokio::spawn(async move {
            if let Err(error) = server.await {
                panic!("the {} receiver stopped: {error}", framework.name());
            }
        });
        addr
    }

    /// Serves on `listener` until the process ends or the future is dropped.
    pub async fn serve(self, listener: std::net::TcpListener) -> std::io::Result<()> {
        match self.framework {
            Framework::Axum => {
                listener.set_nonblocking(true)?;
                let listener = tokio::net::TcpListener::from_std(listener)?;
                axum::serve(listener, self.axum_app()).await
            }
            Framework::Actix => self.actix_server(listener)?.await,
            Framework::Rocket => {
                // Rocket cannot take a listener: it binds the same port again.
                let port = listener.local_addr()?.port();
                drop(listener);
                self.rocket(port)
                    .launch()
                    .await
                    .map(drop)
                    .map_err(std::io::Error::other)
            }
            Framework::Poem => crate::poem_server::serve_on(listener, self.poem_app()).await,
            Framework::Salvo => crate::salvo_server::serve_on(listener, self.salvo_router()).await,
            Framework::WarpBehindTower => {
                let service = self.warp_behind_tower();
                crate::warp_server::serve_tower_on(listener, service).await
            }
        }
    }

    fn rocket(self, port: u16) -> rocket::Rocket<rocket::Build> {
        use rocket::State;
        use rocket::http::Status;
        use rxscale_webhooks_rocket::{VerifiedEvent, VerifyWebhooks};

        struct Deadline(Option<Duration>);

        // The deadline is the handler's own: Rocket has no middleware that could drop it. The
        // guard's claim is settled by the fairing with the 504, as behind a timeout layer.
        #[rocket::post("/webhooks/rxscale", data = "<event>")]
        async fn handle(
            handler: &State<Handler>,
            deadline: &State<Deadline>,
            event: VerifiedEvent,
        ) -> Status {
            let handled = handler.handle(&event);
            let succeeded = match deadline.0 {
                None => handled.await,
                Some(deadline) => match tokio::time::timeout(deadline, handled).await {
                    Ok(succeeded) => succeeded,
                    Err(_) => return Status::GatewayTimeout,
                },
            };
            if succeeded {
                Status::Ok
            } else {
                Status::InternalServerError
            }
        }
        let announce = self.handler.announce;
        rocket::custom(crate::rocket_server::config(port))
            .attach(rocket::fairing::AdHoc::on_liftoff(
                "announce",
                move |rocket| {
                    if announce {
                        println!("listening {}", rocket.config().port);
                    }
                    Box::pin(async {})
                },
            ))
            .attach(VerifyWebhooks::new(self.verifier).replay_guard(self.guard))
            .manage(self.handler)
            .manage(Deadline(self.deadline))
            .mount("/", rocket::routes![handle])
    }

    fn poem_app(self) -> impl poem::IntoEndpoint<Endpoint: 'static> + Send + 'static {
        use poem::http::StatusCode;
        use poem::web::Data;
        use poem::{Endpoint, EndpointExt as _, IntoResponse as _, Route, handler, post};
        use rxscale_webhooks_poem::{VerifiedEvent, VerifyWebhook};

        #[handler]
        async fn handle(handler: Data<&Handler>, event: VerifiedEvent) -> StatusCode {
            if handler.handle(&event).await {
                StatusCode::OK
            } else {
                StatusCode::INTERNAL_SERVER_ERROR
            }
        }
        let verify = VerifyWebhook::new(self.verifier).replay_guard(self.guard);
        let deadline = self.deadline;
        let endpoint = handle
            .with(verify)
            .around(move |endpoint, request| async move {
                match deadline {
                    None => Ok(endpoint.call(request).await?.into_response()),
                    Some(deadline) => {
                        match tokio::time::timeout(deadline, endpoint.call(request)).await {
                            Ok(response) => Ok(response?.into_response()),
                            Err(_) => Ok(StatusCode::GATEWAY_TIMEOUT.into_response()),
                        }
                    }
                }
            });
        Route::new().at(PATH, post(endpoint)).data(self.handler)
    }

    fn salvo_router(self) -> salvo::Router {
        use rxscale_webhooks_salvo::{VerifiedEvent, VerifyWebhook};
        use salvo::http::StatusCode;
        use salvo::{Depot, FlowCtrl, Request, Response, Router, async_trait};

        struct Handle(Handler);
        #[async_trait]
        impl salvo::Handler for Handle {
            async fn handle(
                &self,
                req: &mut Request,
                depot: &mut Depot,
                res: &mut Response,
                _ctrl: &mut FlowCtrl,
            ) {
                use salvo::Writer as _;
                use salvo::extract::Extractible as _;
                match VerifiedEvent::extract(req, depot).await {
                    Ok(event) if self.0.handle(&event).await => {
                        res.status_code(StatusCode::OK);
                    }
                    Ok(_) => {
                        res.status_code(StatusCode::INTERNAL_SERVER_ERROR);
                    }
                    Err(rejection) => rejection.write(req, depot, res).await,
                }
            }
        }
        /// Gives the rest of the chain `deadline`, then drops it and answers 504.
        struct Deadline(Duration);
        #[async_trait]
        impl salvo::Handler for Deadline {
            async fn handle(
                &self,
                req: &mut Request,
                depot: &mut Depot,
                res: &mut Response,
                ctrl: &mut FlowCtrl,
            ) {
                let within = tokio::time::timeout(self.0, ctrl.call_next(req, depot, res)).await;
                if within.is_err() {
                    ctrl.skip_rest();
                    res.status_code(StatusCode::GATEWAY_TIMEOUT);
                }
            }
        }
        let verify = VerifyWebhook::new(self.verifier).replay_guard(self.guard);
        let mut route = Router::with_path(PATH.trim_start_matches('/'));
        if let Some(deadline) = self.deadline {
            route = route.hoop(Deadline(deadline));
        }
        Router::new().push(route.hoop(verify).post(Handle(self.handler)))
    }

    fn warp_behind_tower(
        self,
    ) -> impl tower::Service<
        http::Request<hyper::body::Incoming>,
        Response = http::Response<crate::warp_server::BoxBody>,
        Error = std::convert::Infallible,
        Future = impl Send + 'static,
    > + Clone
    + Send
    + 'static {
        use warp::Filter as _;
        use warp::Reply as _;
        use warp::http::StatusCode;

        let handler = self.handler;
        let route = warp::path!("webhooks" / "rxscale")
            .and(warp::post())
            .and(warp::ext::get::<Verified>())
            .then(move |verified: Verified| {
                let handler = handler.clone();
                async move {
                    let status = if handler.handle(&verified).await {
                        StatusCode::OK
                    } else {
                        StatusCode::INTERNAL_SERVER_ERROR
                    };
                    status.into_response()
                }
            })
            .boxed();
        let layer =
            rxscale_webhooks_tower::VerifyLayer::new(self.verifier).replay_guard(self.guard);
        let service = crate::warp_server::verify_posts(layer, route);
        let deadline = self.deadline;
        tower::service_fn(move |request| {
            let call = tower::ServiceExt::oneshot(service.clone(), request);
            async move {
                match deadline {
                    None => call.await,
                    Some(deadline) => match tokio::time::timeout(deadline, call).await {
                        Ok(response) => response,
                        Err(_) => {
                            let mut response =
                                http::Response::new(crate::warp_server::empty_body());
                            *response.status_mut() = http::StatusCode::GATEWAY_TIMEOUT;
                            Ok(response)
                        }
                    },
                }
            }
        })
    }

    fn axum_app(self) -> axum::Router {
        use axum::extract::{Request, State};
        use axum::http::StatusCode;
        use axum::middleware::{self, Next};
        use axum::response::IntoResponse;
        use axum::{Extension, Router, routing::post};

        async fn handle(
            State(handler): State<Handler>,
            Extension(verified): Extension<Verified>,
        ) -> StatusCode {
            if handler.handle(&verified).await {
                StatusCode::OK
            } else {
                StatusCode::INTERNAL_SERVER_ERROR
            }
        }
        let deadline = self.deadline;
        let within_deadline = move |request: Request, next: Next| async move {
            match deadline {
                None => next.run(request).await,
                Some(deadline) => tokio::time::timeout(deadline, next.run(request))
                    .await
                    .unwrap_or_else(|_| StatusCode::GATEWAY_TIMEOUT.into_response()),
            }
        };
        let layer = rxscale_webhooks_axum::VerifyLayer::new(self.verifier).replay_guard(self.guard);
        Router::new()
            .route(
                PATH,
                post(handle)
                    .route_layer(layer)
                    .route_layer(middleware::from_fn(within_deadline)),
            )
            .with_state(self.handler)
    }

    fn actix_server(
        self,
        listener: std::net::TcpListener,
    ) -> std::io::Result<actix_web::dev::Server> {
        use actix_web::dev::Service as _;
        use actix_web::{App, HttpResponse, HttpServer, error, web};
        use rxscale_webhooks_actix::{VerifiedEvent, VerifyWebhook};

        async fn handle(handler: web::Data<Handler>, event: VerifiedEvent) -> HttpResponse {
            if handler.handle(&event).await {
                HttpResponse::Ok().finish()
            } else {
                HttpResponse::InternalServerError().finish()
            }
        }
        let Receiver {
            verifier,
            guard,
            handler,
            deadline,
            ..
        } = self;
        let app = move || {
            // One guard for every worker: cloning shares its store.
            let verify = VerifyWebhook::new(verifier.clone()).replay_guard(guard.clone());
            let resource = web::resource(PATH)
                .wrap_fn(move |request, service| {
                    let response = service.call(request);
                    async move {
                        match deadline {
                            None => response.await,
                            Some(deadline) => actix_web::rt::time::timeout(deadline, response)
                                .await
                                .map_err(|_| error::ErrorGatewayTimeout("deadline"))?,
                        }
                    }
                })
                .route(web::post().to(handle).wrap(verify));
            App::new()
                .app_data(web::Data::new(handler.clone()))
                .service(resource)
        };
        Ok(HttpServer::new(app)
            .workers(2)
            .disable_signals()
            .listen(listener)?
            .run())
    }
}

/// The `*_test_receiver` processes: a [`Receiver`] over a shared Redis, configured by the
/// environment (see `tests/src/bin/axum_test_receiver.rs`). Prints `listening <port>` once
/// bound; any error goes to stderr with a failing exit.
pub async fn run_test_receiver_process(framework: Framework) {
    if let Err(error) = test_receiver_process(framework).await {
        eprintln!("{}_test_receiver: {error}", framework.name());
        std::process::exit(1);
    }
}

type BoxError = Box<dyn std::error::Error>;

async fn test_receiver_process(framework: Framework) -> Result<(), BoxError> {
    fn millis(name: &str) -> Result<Option<Duration>, BoxError> {
        match std::env::var(name) {
            Ok(value) => {
                let millis = value
                    .parse()
                    .map_err(|_| format!("{name} is not a number"))?;
                Ok(Some(Duration::from_millis(millis)))
            }
            Err(_) => Ok(None),
        }
    }
    let verifier = Verifier::builder()
        .secret(SigningSecret::from_env("RXSCALE_WEBHOOK_SECRET")?)
        .max_age(Duration::from_secs(600))
        .build()?;
    let url = std::env::var("RXSCALE_REDIS_URL").map_err(|_| "RXSCALE_REDIS_URL is required")?;
    let mut guard = ReplayGuard::new(rxscale_webhooks_redis::RedisStore::connect(&url).await?);
    if let Some(lease) = millis("LEASE_MS")? {
        guard = guard.lease(lease);
    }
    let handler = Handler::new()
        .sleep(millis("HANDLER_SLEEP_MS")?.unwrap_or_default())
        .announcing();
    let port: u16 = std::env::var("PORT")
        .unwrap_or_else(|_| "0".to_owned())
        .parse()?;

    let listener = std::net::TcpListener::bind(("127.0.0.1", port))?;
    if framework != Framework::Rocket {
        // Rocket says so once it listens on the port again (see `Receiver::rocket`).
        println!("listening {}", listener.local_addr()?.port());
    }
    Receiver::new(framework, guard, handler)
        .verifier(verifier)
        .serve(listener)
        .await?;
    Ok(())
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

impl Reply {
    /// Asserts that this is the handler's own 200, not the guard's.
    pub fn assert_processed(&self) {
        assert_eq!(
            (self.status, self.duplicate),
            (200, false),
            "expected the handler's 200: {self:?}"
        );
    }

    /// Asserts that this is the guard's answer to a redelivery of a handled event.
    pub fn assert_duplicate(&self) {
        assert_eq!(
            (self.status, self.duplicate),
            (200, true),
            "expected a duplicate: {self:?}"
        );
        assert_eq!(self.body, r#"{"status":"duplicate"}"#);
    }

    /// Asserts that this is the guard's answer while another copy is being handled.
    pub fn assert_in_flight(&self) {
        assert_eq!((self.status, self.duplicate), (409, false), "{self:?}");
        assert_eq!(self.body, r#"{"error":"in_flight"}"#);
    }
}

/// A client for the replay tests: every request is bounded in time.
pub fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .timeout(Duration::from_secs(15))
        .build()
        .expect("a reqwest client")
}

/// `body` as a POST to the receiver at `addr`, signed with [`TEST_SECRET`](crate::TEST_SECRET).
pub fn signed_post(
    client: &reqwest::Client,
    addr: SocketAddr,
    body: &str,
) -> reqwest::RequestBuilder {
    client
        .post(format!("http://{addr}{PATH}"))
        .header("content-type", "application/json")
        .header(
            rxscale_webhooks::SIGNATURE_HEADER,
            rxscale_webhooks::sign(&crate::test_secret(), body),
        )
        .body(body.to_owned())
}

/// POSTs `body`, signed, to the receiver at `addr`.
pub async fn deliver(client: &reqwest::Client, addr: SocketAddr, body: &str) -> Reply {
    let response = signed_post(client, addr, body)
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

/// Redelivers `body` every `every` while the answer is `status`, as RxScale's backoff would,
/// and returns the first other answer. Panics, saying `why`, if `within` passes first.
pub async fn redeliver_while(
    status: u16,
    client: &reqwest::Client,
    addr: SocketAddr,
    body: &str,
    (within, every): (Duration, Duration),
    why: &str,
) -> Reply {
    let started = Instant::now();
    loop {
        let reply = deliver(client, addr, body).await;
        if reply.status != status {
            return reply;
        }
        assert!(
            started.elapsed() < within,
            "still {status} after {within:?}: {why}"
        );
        tokio::time::sleep(every).await;
    }
}

/// Now, as a unix timestamp: fixtures at this time pass the test verifier's age window.
pub fn now() -> i64 {
    rxscale_webhooks::OffsetDateTime::now_utc().unix_timestamp()
}
