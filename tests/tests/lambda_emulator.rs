//! `examples/examples/lambda_receiver.rs` over real HTTP, through a local Lambda runtime
//! emulator: `cargo lambda watch --only-lambda-apis` (cargo-lambda, from PyPI; tests/run.sh
//! installs it) serves function-URL requests on 127.0.0.1 and hands them as events to the
//! example's process, which polls the emulator's runtime API as it would Lambda's. It must answer
//! the shared table like `axum_receiver`, but for the deviations listed in [`DEVIATIONS`], which
//! are the emulator's (and API Gateway's) HTTP front, not the receiver; and it must share its
//! replay claims with `axum_receiver` through Redis.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::net::{SocketAddr, TcpStream};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use rxscale_webhooks::testing::fixture_at;
use rxscale_webhooks::{EventType, OffsetDateTime};
use rxscale_webhooks_tests::example_process::{
    PATH, Running, command, expected_line, fails_naming, with_counts,
};
use rxscale_webhooks_tests::matrix::{case_names, observe_matrix};
use rxscale_webhooks_tests::receiver;
use rxscale_webhooks_tests::redis_server::{RedisServer, free_port};
use rxscale_webhooks_tests::{TEST_SECRET, example_binary, require_tool, workspace_root};

/// The install line for the emulator.
const INSTALL: &str = "python3 -m pip install cargo-lambda (tests/run.sh --provision does this)";

/// A `cargo lambda watch` serving only the Lambda APIs (it starts no function and builds
/// nothing) on a loopback port of its own; killed on drop.
struct Emulator {
    child: Child,
    port: u16,
}

impl Emulator {
    fn start() -> Emulator {
        require_tool("cargo-lambda", INSTALL);
        let port = free_port();
        let child = Command::new("cargo-lambda")
            .args(["lambda", "watch", "--only-lambda-apis", "--disable-cors"])
            .arg("--manifest-path")
            .arg(workspace_root().join("Cargo.toml"))
            .args(["--invoke-address", "127.0.0.1", "--invoke-port"])
            .arg(port.to_string())
            // It reads the workspace with `cargo metadata`: from the lock file, never the network.
            .env("CARGO_NET_OFFLINE", "true")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|error| panic!("cargo-lambda does not start ({error}); {INSTALL}"));
        let mut emulator = Emulator { child, port };
        let started = Instant::now();
        while TcpStream::connect(emulator.addr()).is_err() {
            if let Some(status) = emulator.child.try_wait().unwrap() {
                panic!("cargo lambda watch exited with {status}");
            }
            assert!(
                started.elapsed() < Duration::from_secs(60),
                "cargo lambda watch did not listen within 60 s"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
        emulator
    }

    fn addr(&self) -> SocketAddr {
        SocketAddr::from(([127, 0, 0, 1], self.port))
    }

    /// `lambda_receiver` as the function behind the emulator's function URL.
    fn function(&self, redis_url: Option<&str>) -> Running {
        let mut command = command(&example_binary("lambda_receiver"));
        command
            .env("RXSCALE_WEBHOOK_SECRET", TEST_SECRET)
            // What the emulator tells a function started by hand to set.
            .env("AWS_LAMBDA_FUNCTION_NAME", "_")
            .env("AWS_LAMBDA_FUNCTION_VERSION", "1")
            .env("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "128")
            .env(
                "AWS_LAMBDA_RUNTIME_API",
                format!("http://{}/.rt", self.addr()),
            );
        if let Some(url) = redis_url {
            command.env("RXSCALE_REDIS_URL", url);
        }
        let mut child = command.spawn().unwrap();
        // The example logs every rejection to stderr: keep reading it.
        let stderr = child.stderr.take().unwrap();
        std::thread::spawn(move || std::io::copy(&mut { stderr }, &mut std::io::sink()));
        Running::reading(child, self.addr())
    }
}

impl Drop for Emulator {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The cases on which `lambda_receiver` behind the emulator answers otherwise than
/// `axum_receiver`, and why. Each is asserted as listed: if one goes away, or another appears,
/// the test fails and this list (and docs/lambda.md) must change with it.
const DEVIATIONS: &[(&str, Deviation, &str)] = &[
    (
        "signature with non-UTF-8 bytes",
        EMULATOR_500,
        "a Lambda event is JSON: a header value that is not UTF-8 cannot be put in one",
    ),
    (
        "two signatures, the good one second",
        Deviation::rejected(),
        "the emulator keeps only the first value of a repeated header: the wrong one",
    ),
    (
        "two signatures, malformed and wrong",
        Deviation::rejected(),
        "the emulator keeps only the first value of a repeated header: the malformed one \
         (401 malformed_signature where axum's is 401 signature_mismatch)",
    ),
    (
        "body not UTF-8, unsigned",
        EMULATOR_500,
        "the emulator puts an application/json body into the event as text, which it must be",
    ),
    (
        "body not UTF-8, authentic",
        EMULATOR_500,
        "the emulator puts an application/json body into the event as text, which it must be",
    ),
    (
        "body gzip, signed over the JSON",
        EMULATOR_500,
        "a gzip body with an application/json type: not UTF-8 text either",
    ),
    (
        "body gzip, signed over the gzip bytes",
        EMULATOR_500,
        "a gzip body with an application/json type: not UTF-8 text either",
    ),
    (
        "Content-Length over the limit, no body sent",
        NO_RESPONSE,
        "the emulator reads the whole body before it invokes the function, with no read \
         timeout; the function never sees the request (API Gateway gives up after its own \
         integration timeout)",
    ),
    (
        "chunked body growing past the limit",
        NO_RESPONSE,
        "the emulator buffers the body, without a limit, before it invokes the function; \
         API Gateway and function URLs refuse a payload over their own limit (6 MB for Lambda)",
    ),
];

/// The emulator's own `500 Internal Server Error`, a problem+json body sent as `text/plain`:
/// it could not make an event of the request, and the function was not invoked.
const EMULATOR_500: Deviation = Deviation {
    status: Some(500),
    handler_calls: 0,
};

/// No answer before the matrix's client gives up.
const NO_RESPONSE: Deviation = Deviation {
    status: None,
    handler_calls: 0,
};

/// What the emulator answered on a deviating case, where `axum_receiver` answered otherwise.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Deviation {
    status: Option<u16>,
    handler_calls: usize,
}

impl Deviation {
    /// A 401 from the receiver, the handler not called.
    const fn rejected() -> Deviation {
        Deviation {
            status: Some(401),
            handler_calls: 0,
        }
    }
}

#[test]
fn lambda_receiver_without_its_secret_fails_naming_it() {
    let binary = example_binary("lambda_receiver");
    fails_naming("RXSCALE_WEBHOOK_SECRET", &mut command(&binary));
    let closed = format!("redis://127.0.0.1:{}/0", free_port());
    fails_naming(
        "RXSCALE_REDIS_URL",
        command(&binary)
            .env("RXSCALE_WEBHOOK_SECRET", TEST_SECRET)
            .env("RXSCALE_REDIS_URL", closed),
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lambda_receiver_behind_the_emulator_handles_every_event_once() {
    let emulator = Emulator::start();
    let function = emulator.function(None);
    let client = receiver::client();
    let now = OffsetDateTime::now_utc().unix_timestamp();
    for &event_type in EventType::ALL {
        let body = fixture_at(event_type, now);
        let forged = client
            .post(format!("http://{}{PATH}", emulator.addr()))
            .header("content-type", "application/json")
            .header("x-webhook-signature", "0".repeat(64))
            .body(body.clone())
            .send()
            .await
            .unwrap();
        assert_eq!(forged.status(), 401);
        receiver::deliver(&client, emulator.addr(), &body)
            .await
            .assert_processed();
        assert_eq!(function.next_line(), expected_line(&body));
        receiver::deliver(&client, emulator.addr(), &body)
            .await
            .assert_duplicate();
    }
    let get = client
        .get(format!("http://{}{PATH}", emulator.addr()))
        .send()
        .await
        .unwrap();
    assert_eq!(get.status(), 405);
    std::thread::sleep(Duration::from_millis(200));
    assert_eq!(
        function.printed.lock().unwrap().len(),
        EventType::ALL.len(),
        "one line per handled event, nothing else"
    );
}

/// Claims live in Redis with `RXSCALE_REDIS_URL`, in the same keys as `axum_receiver`'s: an
/// event one handled is a marked duplicate for the other, as two Lambda instances (or a Lambda
/// and a server) sharing one Redis would see it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lambda_receiver_shares_its_claims_through_redis_with_axum_receiver() {
    let redis = RedisServer::start();
    let emulator = Emulator::start();
    let lambda = emulator.function(Some(&redis.url()));
    let axum = Running::start_with(&example_binary("axum_receiver"), Some(&redis.url()));
    let client = receiver::client();
    let now = OffsetDateTime::now_utc().unix_timestamp();
    for (i, &event_type) in EventType::ALL.iter().enumerate() {
        let body = fixture_at(event_type, now);
        let (first, second) = if i % 2 == 0 {
            ((&lambda, emulator.addr()), (&axum, axum.addr))
        } else {
            ((&axum, axum.addr), (&lambda, emulator.addr()))
        };
        receiver::deliver(&client, first.1, &body)
            .await
            .assert_processed();
        assert_eq!(first.0.next_line(), expected_line(&body));
        receiver::deliver(&client, second.1, &body)
            .await
            .assert_duplicate();
    }
    std::thread::sleep(Duration::from_millis(200));
    let printed = |running: &Running| running.printed.lock().unwrap().len();
    assert_eq!(
        printed(&lambda) + printed(&axum),
        EventType::ALL.len(),
        "each event was handled once, by one of them"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lambda_receiver_answers_the_shared_table_like_axum_receiver_but_for_the_listed_cases() {
    let emulator = Emulator::start();
    let lambda = emulator.function(None);
    let axum = Running::start(&example_binary("axum_receiver"));
    let started = OffsetDateTime::now_utc().unix_timestamp();
    let (lambda_target, axum_target) = (lambda.target(), axum.target());
    let (by_lambda, by_axum) =
        tokio::join!(observe_matrix(&lambda_target), observe_matrix(&axum_target));
    assert_eq!(by_lambda.len(), case_names().len());
    let by_lambda = with_counts(by_lambda, &lambda, started);
    let by_axum = with_counts(by_axum, &axum, started);

    let mut problems = Vec::new();
    for (lambda, axum) in by_lambda.iter().zip(&by_axum) {
        let listed = DEVIATIONS.iter().find(|(case, ..)| *case == lambda.case);
        match listed {
            None if lambda != axum => problems.push(format!(
                "  not listed:\n    lambda: {lambda:?}\n    axum:   {axum:?}"
            )),
            None => {}
            Some((case, expected, why)) => {
                let seen = Deviation {
                    status: lambda.status,
                    handler_calls: lambda.handler_calls,
                };
                if seen != *expected || lambda == axum {
                    problems.push(format!(
                        "  {case} ({why}): expected {expected:?} beside axum's, saw\n    lambda: {lambda:?}\n    axum:   {axum:?}"
                    ));
                }
            }
        }
    }
    assert!(
        problems.is_empty(),
        "lambda_receiver behind the emulator and axum_receiver:\n{}",
        problems.join("\n")
    );
    let agreeing = by_lambda
        .iter()
        .zip(&by_axum)
        .filter(|(lambda, axum)| lambda == axum)
        .count();
    assert_eq!(agreeing + DEVIATIONS.len(), by_lambda.len());
}
