//! [`serve`]: `axum::serve` with the limits a public webhook endpoint needs.
//!
//! `axum::serve` runs hyper without a timer: no header-read timeout, so a connection that never
//! finishes its request head, or sits idle, stays open for as long as its client wants. A few
//! hundred such sockets use up the process's open files, and then every delivery waits.
//! [`serve`] is the same loop on hyper's own HTTP/1 server, with hyper-util's tokio timer, a
//! header-read timeout and a cap on open connections that sheds idle ones first.

use std::collections::BTreeMap;
use std::convert::Infallible;
use std::future::{Future, IntoFuture};
use std::io;
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{Context, Poll};
use std::time::Duration;

use axum::Router;
use axum::extract::Request;
use axum::response::Response;
use axum::routing::future::RouteFuture;
use hyper::body::Incoming;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::net::TcpListener;
use tokio::sync::{Semaphore, oneshot};

/// The default [`Serve::header_read_timeout`]: 2 seconds.
pub const DEFAULT_HEADER_READ_TIMEOUT: Duration = Duration::from_secs(2);

/// The default [`Serve::max_connections`]: 512, or three quarters of the process's open-files
/// limit when that is lower (read from `/proc/self/limits` on Linux).
pub const DEFAULT_MAX_CONNECTIONS: usize = 512;

/// Serves `router` on `listener` over HTTP/1.1, like `axum::serve`, with the limits a public
/// webhook endpoint needs. Await it (or call [`Serve::run`]) to run the server.
///
/// | limit | default | why |
/// |---|---|---|
/// | [`header_read_timeout`](Serve::header_read_timeout) | 2 s | a connection must send its whole request head within it, counted from when the server starts waiting: on a new connection, and again on a kept-alive one after each response, so it is also the **idle keep-alive timeout** |
/// | [`max_connections`](Serve::max_connections) | 512, or 3/4 of the open-files limit if lower | connections open at once; at the cap, or when the process runs out of open files, the connection that has waited longest without a request in progress is closed to make room, so idle sockets cannot lock out deliveries |
/// | the verifier's [`body_read_timeout`](rxscale_webhooks::VerifierBuilder::body_read_timeout) | 2 s | enforced by the extractors and the layer themselves, per delivery: a body still arriving after it is answered 408 |
///
/// The defaults fit RxScale's 5-second delivery budget: a sender that needs more than 2 s to
/// send a request head, or a body, will not get its answer in time anyway.
///
/// ```no_run
/// use axum::{Router, http::StatusCode, routing::post};
/// use rxscale_webhooks_axum::{VerifiedEvent, Verifier};
///
/// async fn handle(VerifiedEvent(verified): VerifiedEvent) -> StatusCode {
///     println!("{}", verified.dedup_key());
///     StatusCode::OK
/// }
///
/// # async fn run() -> Result<(), Box<dyn std::error::Error>> {
/// let verifier = Verifier::builder().secret("whsec_abc123").build()?;
/// let app = Router::new()
///     .route("/webhooks/rxscale", post(handle))
///     .with_state(verifier);
/// let listener = tokio::net::TcpListener::bind("127.0.0.1:3000").await?;
/// rxscale_webhooks_axum::serve(listener, app).await?;
/// # Ok(())
/// # }
/// ```
pub fn serve(listener: TcpListener, router: Router) -> Serve {
    Serve {
        listener,
        router,
        header_read_timeout: DEFAULT_HEADER_READ_TIMEOUT,
        max_connections: default_max_connections(),
    }
}

/// [`DEFAULT_MAX_CONNECTIONS`], or three quarters of the open-files limit when lower: the rest
/// stays for the application's own files and sockets (a database, its journal, Redis).
fn default_max_connections() -> usize {
    let soft_limit = std::fs::read_to_string("/proc/self/limits")
        .ok()
        .and_then(|limits| {
            limits
                .lines()
                .find_map(|line| line.strip_prefix("Max open files"))
                .and_then(|rest| rest.split_whitespace().next())
                .and_then(|soft| soft.parse::<usize>().ok())
        });
    match soft_limit {
        Some(limit) => DEFAULT_MAX_CONNECTIONS.min(limit / 4 * 3).max(1),
        None => DEFAULT_MAX_CONNECTIONS,
    }
}

/// The server [`serve`] returns: set its limits, then await it.
#[must_use = "a server does nothing until it is awaited"]
#[derive(Debug)]
pub struct Serve {
    listener: TcpListener,
    router: Router,
    header_read_timeout: Duration,
    max_connections: usize,
}

impl Serve {
    /// How long a connection may take to send a complete request head, counted from when the
    /// server starts waiting for it: when the connection opens, and, on a kept-alive
    /// connection, when the previous response has been sent (hyper's `header_read_timeout`).
    /// A connection that runs out of it is closed without an answer. It is thereby also the
    /// idle keep-alive timeout.
    ///
    /// Default: 2 seconds ([`DEFAULT_HEADER_READ_TIMEOUT`]).
    pub fn header_read_timeout(mut self, timeout: Duration) -> Self {
        self.header_read_timeout = timeout;
        self
    }

    /// How many connections may be open at once. When a new connection arrives at the cap, or
    /// when accepting fails because the process is out of open files, the open connection that
    /// has been waiting longest for a request (idle, or still sending its head) is closed to
    /// make room; a connection with a request in progress is never closed for this. When every
    /// connection has a request in progress, new connections wait in the listen queue.
    ///
    /// Keep it below the process's open-files limit (`ulimit -n`), leaving room for the files
    /// and sockets the rest of the application uses.
    ///
    /// Default: 512 ([`DEFAULT_MAX_CONNECTIONS`]), or three quarters of the open-files limit
    /// when that is lower (Linux). Values below 1 count as 1.
    pub fn max_connections(mut self, max: usize) -> Self {
        self.max_connections = max.max(1);
        self
    }

    /// Runs the server until accepting fails for a reason other than a broken connection or a
    /// lack of open files (which are handled as above).
    ///
    /// # Errors
    ///
    /// The listener's error.
    pub async fn run(self) -> io::Result<()> {
        let Serve {
            listener,
            router,
            header_read_timeout,
            max_connections,
        } = self;
        let slots = Arc::new(Semaphore::new(max_connections));
        let open = Arc::new(Connections::default());
        loop {
            let stream = loop {
                match listener.accept().await {
                    Ok((stream, _)) => break stream,
                    Err(error) if is_connection_error(&error) => {}
                    Err(error) if is_out_of_files(&error) => {
                        if open.close_longest_idle() {
                            // Let the closed connection's task release its socket.
                            tokio::task::yield_now().await;
                        } else {
                            tracing::error!(
                                target: "rxscale_webhooks",
                                %error,
                                "accepting a connection failed and no idle connection can be \
                                 closed; retrying in 50 ms"
                            );
                            tokio::time::sleep(Duration::from_millis(50)).await;
                        }
                    }
                    Err(error) => return Err(error),
                }
            };
            let permit = match Arc::clone(&slots).try_acquire_owned() {
                Ok(permit) => permit,
                Err(_) => {
                    open.close_longest_idle();
                    Arc::clone(&slots)
                        .acquire_owned()
                        .await
                        .map_err(|_| io::Error::other("the connection semaphore was closed"))?
                }
            };
            let _ = stream.set_nodelay(true);
            let (id, close, in_flight) = open.register();
            let service = Tracked {
                router: router.clone(),
                in_flight,
            };
            let open = Arc::clone(&open);
            tokio::spawn(async move {
                let mut builder = hyper::server::conn::http1::Builder::new();
                builder
                    .timer(TokioTimer::new())
                    .header_read_timeout(header_read_timeout);
                let connection = builder.serve_connection(TokioIo::new(stream), service);
                tokio::select! {
                    // Errors are the client's (a reset, a timeout, bad framing): nothing to do.
                    _ = connection => {}
                    _ = close => {}
                }
                open.remove(id);
                drop(permit);
            });
        }
    }
}

impl IntoFuture for Serve {
    type Output = io::Result<()>;
    type IntoFuture = Pin<Box<dyn Future<Output = io::Result<()>> + Send>>;

    fn into_future(self) -> Self::IntoFuture {
        Box::pin(self.run())
    }
}

/// The open connections, oldest first, with whether each has a request in progress.
#[derive(Default)]
struct Connections {
    next_id: AtomicUsize,
    open: Mutex<BTreeMap<usize, Entry>>,
}

struct Entry {
    close: oneshot::Sender<()>,
    in_flight: Arc<AtomicUsize>,
}

impl Connections {
    fn register(&self) -> (usize, oneshot::Receiver<()>, Arc<AtomicUsize>) {
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let (close, closed) = oneshot::channel();
        let in_flight = Arc::new(AtomicUsize::new(0));
        let entry = Entry {
            close,
            in_flight: Arc::clone(&in_flight),
        };
        self.lock().insert(id, entry);
        (id, closed, in_flight)
    }

    fn remove(&self, id: usize) {
        self.lock().remove(&id);
    }

    /// Closes the oldest connection without a request in progress; `false` when there is none.
    fn close_longest_idle(&self) -> bool {
        let mut open = self.lock();
        let idle = open
            .iter()
            .find(|(_, entry)| entry.in_flight.load(Ordering::Acquire) == 0)
            .map(|(&id, _)| id);
        match idle.and_then(|id| open.remove(&id)) {
            Some(entry) => {
                let _ = entry.close.send(());
                true
            }
            None => false,
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, BTreeMap<usize, Entry>> {
        self.open.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// The router, counting the requests in progress on its connection.
#[derive(Clone)]
struct Tracked {
    router: Router,
    in_flight: Arc<AtomicUsize>,
}

impl hyper::service::Service<Request<Incoming>> for Tracked {
    type Response = Response;
    type Error = Infallible;
    type Future = InFlight;

    fn call(&self, request: Request<Incoming>) -> Self::Future {
        self.in_flight.fetch_add(1, Ordering::AcqRel);
        // A `Router` is always ready: `poll_ready` need not be called.
        let response = tower_service::Service::call(&mut self.router.clone(), request);
        InFlight {
            response,
            in_flight: Arc::clone(&self.in_flight),
        }
    }
}

pin_project_lite::pin_project! {
    /// A request in progress: counted until its response is ready.
    struct InFlight {
        #[pin]
        response: RouteFuture<Infallible>,
        in_flight: Arc<AtomicUsize>,
    }

    impl PinnedDrop for InFlight {
        fn drop(this: Pin<&mut Self>) {
            this.in_flight.fetch_sub(1, Ordering::AcqRel);
        }
    }
}

impl Future for InFlight {
    type Output = Result<Response, Infallible>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        self.project().response.poll(cx)
    }
}

fn is_connection_error(error: &io::Error) -> bool {
    matches!(
        error.kind(),
        io::ErrorKind::ConnectionRefused
            | io::ErrorKind::ConnectionAborted
            | io::ErrorKind::ConnectionReset
    )
}

/// `EMFILE` or `ENFILE`: the process or the system is out of open files.
fn is_out_of_files(error: &io::Error) -> bool {
    matches!(error.raw_os_error(), Some(23 | 24))
}
