//! `send` against `listen`, over loopback, as separate processes; and `send`'s own refusals.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::{Listening, SECRET, Scratch, cli, cli_with_secret};
use predicates::prelude::*;

fn send(url: &str, args: &[&str]) -> (i32, String) {
    let output = cli_with_secret()
        .args(["send", "--to", url])
        .args(args)
        .output()
        .unwrap();
    (
        output.status.code().unwrap(),
        String::from_utf8(output.stdout).unwrap(),
    )
}

#[test]
fn send_to_listen_every_kind_of_delivery() {
    let mut listen = Listening::start(SECRET, &[]);
    let url = listen.url.clone();

    let (code, out) = send(
        &url,
        &[
            "--event",
            "pharmacy_order_created",
            "--times",
            "3",
            "--concurrency",
            "2",
        ],
    );
    assert_eq!(code, 0, "{out}");
    assert_eq!(
        out.lines()
            .filter(|line| line.contains(" 200 OK in "))
            .count(),
        3,
        "{out}"
    );
    assert!(out.ends_with("summary: 3 sent: 3 x 200 OK\n"), "{out}");
    for _ in 0..3 {
        let line = listen.wait_for("verified");
        assert!(line.contains("pharmacy_order_created"), "{line}");
        assert!(line.contains("key pharmacy_order_created:"), "{line}");
        let summary = listen.next_line();
        assert!(
            summary.contains("pharmacy order po-") && summary.contains(" #1001: status init"),
            "{summary}"
        );
        assert!(
            !summary.contains("po-abc123"),
            "each delivery is a new event: {summary}"
        );
    }

    let (code, out) = send(&url, &["--event", "pharmacy_order_updated", "--tamper"]);
    assert_eq!(code, 1, "{out}");
    assert!(
        out.contains("401 Unauthorized") && out.contains("signature_mismatch"),
        "{out}"
    );
    assert!(
        out.ends_with("summary: 1 sent: 1 x 401 Unauthorized\n"),
        "{out}"
    );
    assert!(listen.wait_for("rejected").contains("signature_mismatch"));
    assert!(listen.next_line().contains("hint: "));

    let (code, out) = send(
        &url,
        &["--event", "patient_doctor_meeting_updated", "--unsigned"],
    );
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("missing_signature"), "{out}");
    assert!(listen.wait_for("rejected").contains("missing_signature"));

    let (code, out) = send(
        &url,
        &["--event", "pharmacy_sku_stock_updated", "--wrong-secret"],
    );
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("signature_mismatch"), "{out}");
    assert!(listen.wait_for("rejected").contains("signature_mismatch"));

    let (code, out) = send(
        &url,
        &["--event", "appointment_reminder_due", "--stale", "400000"],
    );
    assert_eq!(code, 1, "{out}");
    assert!(
        out.contains("400 Bad Request") && out.contains("expired"),
        "{out}"
    );
    assert!(listen.wait_for("rejected").contains("expired"));
    assert!(listen.next_line().contains("400000s old"));

    // A body from a file, of a type this SDK does not know: acknowledged.
    let scratch = Scratch::new();
    let unknown = format!(
        r#"{{"event_type":"prescription_signed","timestamp":{},"payload_version":"1","data":{{"uid":"px-9"}}}}"#,
        common::now()
    );
    let path = scratch.file("unknown.json", &unknown);
    let output = cli_with_secret()
        .args(["send", "--to", &url])
        .arg(&path)
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(0));
    assert!(listen.wait_for("verified").contains("prescription_signed"));
    assert!(listen.next_line().contains("unknown to this SDK"));

    let (code, rest) = listen.interrupt();
    assert_eq!(code, Some(0), "{rest:#?}");
    assert_eq!(
        rest.last().map(String::as_str),
        Some("stopped: 4 verified, 4 rejected"),
        "{rest:#?}"
    );
}

#[test]
fn listen_never_prints_the_secret_or_a_signature() {
    let mut listen = Listening::start(SECRET, &[]);
    let url = listen.url.clone();
    let (code, _) = send(&url, &["--event", "pharmacy_order_created", "--tamper"]);
    assert_eq!(code, 1);
    listen.wait_for("hint:");
    let (_, lines) = listen.interrupt();
    let text = lines.join("\n");
    assert!(!text.contains(SECRET), "{text}");
    assert!(!text.contains("whsec_"), "{text}");
    // No 64-hex-digit run anywhere in the output.
    let longest_hex_run = text
        .split(|c: char| !c.is_ascii_hexdigit())
        .map(str::len)
        .max()
        .unwrap_or(0);
    assert!(longest_hex_run < 64, "{text}");
}

#[test]
fn listen_forwards_verified_deliveries_unchanged() {
    // The "app" is a second receiver with the same secret: it verifies again, which it can only
    // do if the headers and bytes arrive unchanged.
    let mut app = Listening::start(SECRET, &[]);
    let app_url = format!("{}hook", app.url);
    let mut listen = Listening::start(SECRET, &["--forward-to", &app_url]);
    let url = listen.url.clone();

    let (code, out) = send(&url, &["--event", "pharmacy_order_created"]);
    assert_eq!(code, 0, "{out}");
    assert!(
        listen
            .wait_for("verified")
            .contains("pharmacy_order_created")
    );
    let forwarded = listen.wait_for("forwarded to");
    assert!(
        forwarded.contains(&app_url) && forwarded.contains("200 OK"),
        "{forwarded}"
    );
    let seen = app.wait_for("verified");
    assert!(
        seen.contains("pharmacy_order_created") && seen.contains("POST /hook"),
        "{seen}"
    );

    // A rejection is answered by the receiver itself: the app never sees it.
    let (code, _) = send(&url, &["--event", "pharmacy_order_created", "--unsigned"]);
    assert_eq!(code, 1);
    listen.wait_for("missing_signature");

    let (code, lines) = app.interrupt();
    assert_eq!(code, Some(0));
    assert_eq!(
        lines.last().map(String::as_str),
        Some("stopped: 1 verified, 0 rejected"),
        "{lines:#?}"
    );

    // The app is gone: the receiver answers 502 and says so.
    let (code, out) = send(&url, &["--event", "pharmacy_order_updated"]);
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("502 Bad Gateway"), "{out}");
    assert!(listen.wait_for("forwarding").contains("failed"));
    let (code, _) = listen.interrupt();
    assert_eq!(code, Some(0));
}

#[test]
fn listen_relays_the_apps_status() {
    // An app configured with another secret rejects what the receiver accepted: the sender
    // must see the app's answer, as RxScale would.
    let app = Listening::start("whsec_a_different_subscription", &[]);
    let mut listen = Listening::start(SECRET, &["--forward-to", &app.url]);
    let (code, out) = send(&listen.url.clone(), &["--event", "pharmacy_order_created"]);
    assert_eq!(code, 1, "{out}");
    assert!(
        out.contains("401 Unauthorized") && out.contains("signature_mismatch"),
        "{out}"
    );
    assert!(listen.wait_for("forwarded to").contains("401"));
    drop(app);
    let (code, _) = listen.interrupt();
    assert_eq!(code, Some(0));
}

#[test]
fn listen_configuration_errors_exit_2() {
    let busy = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = busy.local_addr().unwrap().port().to_string();
    cli_with_secret()
        .args(["listen", "--port", &port])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("cannot listen"));
    cli()
        .args(["listen", "--port", "0"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("RXSCALE_WEBHOOK_SECRET"));
    cli_with_secret()
        .args([
            "listen",
            "--port",
            "0",
            "--forward-to",
            "http://example.com/hook",
        ])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("--allow-remote"));
}

#[test]
fn send_refusals_exit_2() {
    // Nothing is sent to a host that is not loopback.
    cli_with_secret()
        .args([
            "send",
            "--to",
            "http://example.com/hook",
            "--event",
            "pharmacy_order_created",
        ])
        .assert()
        .code(2)
        .stdout("")
        .stderr(
            predicate::str::contains("not a loopback host")
                .and(predicate::str::contains("--allow-remote")),
        );
    cli_with_secret()
        .args([
            "send",
            "--to",
            "https://127.0.0.1/hook",
            "--event",
            "pharmacy_order_created",
        ])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("http://"));
    // A body is required, and the modes exclude each other.
    cli_with_secret()
        .args(["send", "--to", "127.0.0.1:9"])
        .assert()
        .code(2);
    cli_with_secret()
        .args([
            "send",
            "--to",
            "127.0.0.1:9",
            "--event",
            "pharmacy_order_created",
            "--tamper",
            "--unsigned",
        ])
        .assert()
        .code(2);
    cli_with_secret()
        .args(["send", "--to", "127.0.0.1:9", "-", "--stale", "10"])
        .write_stdin("{}")
        .assert()
        .code(2);
    cli_with_secret()
        .args(["send", "--to", "127.0.0.1:9", "--event", "nope"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("unknown event type"));
    // Bounded counts.
    for (flag, value) in [
        ("--times", "0"),
        ("--times", "10001"),
        ("--concurrency", "0"),
        ("--concurrency", "65"),
    ] {
        cli_with_secret()
            .args([
                "send",
                "--to",
                "127.0.0.1:9",
                "--event",
                "pharmacy_order_created",
                flag,
                value,
            ])
            .assert()
            .code(2);
    }
    // Signing needs the secret; an unsigned delivery does not.
    cli()
        .args([
            "send",
            "--to",
            "127.0.0.1:9",
            "--event",
            "pharmacy_order_created",
        ])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("RXSCALE_WEBHOOK_SECRET"));
}

#[test]
fn send_to_a_closed_port_exits_1() {
    let closed = {
        let socket = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        socket.local_addr().unwrap()
    };
    cli()
        .args([
            "send",
            "--to",
            &format!("http://{closed}/"),
            "--event",
            "pharmacy_order_created",
            "--unsigned",
            "--times",
            "2",
        ])
        .assert()
        .code(1)
        .stdout(
            predicate::str::contains("#1 failed: cannot connect")
                .and(predicate::str::contains("summary: 2 sent: 2 x no response")),
        );
}

#[test]
fn send_signs_exactly_what_it_sends() {
    // A body from standard input goes out byte for byte, trailing newline included, and the
    // receiver verifies it: send signed exactly the bytes it sent.
    let mut listen = Listening::start(SECRET, &[]);
    let body = format!(
        "{{\"event_type\":\"pharmacy_order_updated\",\"timestamp\":{},\"payload_version\":\"1\",\"data\":{{\"uid\":\"po-x\",\"status\":\"shipped\",\"created_at\":1,\"updated_at\":2,\"pharmacy\":{{\"uid\":\"ph\"}},\"order\":{{\"uid\":\"o\"}},\"order_items\":[]}}}}\n",
        common::now()
    );
    cli_with_secret()
        .args(["send", "--to", &listen.url.clone(), "-"])
        .write_stdin(body.clone())
        .assert()
        .code(0);
    let line = listen.wait_for("verified");
    assert!(line.contains(&format!("{} bytes", body.len())), "{line}");
    assert!(
        listen
            .next_line()
            .contains("pharmacy order po-x: status shipped, 0 items")
    );
}

#[test]
fn listen_applies_its_body_limit_and_only_its_own() {
    // Above axum's 2 MB default, below the receiver's limit: accepted.
    let mut listen = Listening::start(SECRET, &["--max-body-bytes", "4194304"]);
    let scratch = Scratch::new();
    let big = format!(
        r#"{{"event_type":"pharmacy_sku_stock_updated","timestamp":{},"payload_version":"1","data":{{"uid":"psku-big","pad":"{}"}}}}"#,
        common::now(),
        "x".repeat(3 * 1024 * 1024)
    );
    let path = scratch.file("big.json", &big);
    let output = cli_with_secret()
        .args(["send", "--to", &listen.url.clone()])
        .arg(&path)
        .output()
        .unwrap();
    assert_eq!(
        output.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&output.stdout)
    );
    assert!(listen.wait_for("verified").contains("psku-big"));
    let (code, _) = listen.interrupt();
    assert_eq!(code, Some(0));

    // Over the receiver's limit: 413 from the layer, with a hint naming the limit.
    let mut listen = Listening::start(SECRET, &["--max-body-bytes", "1000"]);
    let (code, out) = send(&listen.url.clone(), &["--event", "pharmacy_order_created"]);
    assert_eq!(code, 1, "{out}");
    assert!(
        out.contains("413 Payload Too Large") && out.contains("body_too_large"),
        "{out}"
    );
    assert!(listen.wait_for("rejected").contains("body_too_large"));
    assert!(listen.next_line().contains("1000-byte limit"));
    let (code, _) = listen.interrupt();
    assert_eq!(code, Some(0));
}

#[test]
fn listen_stops_cleanly_on_sigterm_too() {
    let mut listen = Listening::start(SECRET, &[]);
    let (code, _) = send(&listen.url.clone(), &["--event", "pharmacy_order_created"]);
    assert_eq!(code, 0);
    listen.wait_for("verified");
    let (code, lines) = listen.stop("-TERM");
    assert_eq!(code, Some(0));
    assert_eq!(
        lines.last().map(String::as_str),
        Some("stopped: 1 verified, 0 rejected")
    );
}

#[test]
fn send_flags_answers_slower_than_rxscale_waits() {
    use std::io::{Read, Write};
    // A receiver that acknowledges, but only after RxScale's 5-second limit.
    let server = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let address = server.local_addr().unwrap();
    let slow = std::thread::spawn(move || {
        let (mut stream, _) = server.accept().unwrap();
        // Read the whole request, so that closing the connection later resets nothing.
        let mut request = Vec::new();
        let mut chunk = [0u8; 4096];
        loop {
            let text = String::from_utf8_lossy(&request).to_ascii_lowercase();
            if let Some(end) = text.find("\r\n\r\n") {
                let length: usize = text
                    .lines()
                    .find_map(|line| line.strip_prefix("content-length:"))
                    .map(|value| value.trim().parse().unwrap())
                    .unwrap_or(0);
                if request.len() >= end + 4 + length {
                    break;
                }
            }
            let read = stream.read(&mut chunk).unwrap();
            assert!(read > 0, "the request ended early");
            request.extend_from_slice(&chunk[..read]);
        }
        std::thread::sleep(std::time::Duration::from_millis(5200));
        stream
            .write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\nconnection: close\r\n\r\nok")
            .unwrap();
    });
    cli()
        .args([
            "send",
            "--to",
            &format!("http://{address}/"),
            "--event",
            "appointment_reminder_due",
            "--unsigned",
        ])
        .assert()
        .code(0)
        .stdout(
            predicate::str::contains("200 OK")
                .and(predicate::str::contains("slower than RxScale's 5 s limit")),
        );
    slow.join().unwrap();
}

/// A receiver as the guides build it: the axum layer with an in-memory replay guard, on a free
/// loopback port, recording the dedup key of every event its handler runs for.
struct GuardedReceiver {
    url: String,
    handled: std::sync::Arc<std::sync::Mutex<Vec<String>>>,
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl GuardedReceiver {
    fn start(secret: &str, max_body_bytes: usize) -> Self {
        use axum::{Router, extract::State, http::StatusCode, routing::post};
        use rxscale_webhooks_axum::{
            ReplayGuard, SigningSecret, VerifiedEvent, Verifier, VerifyLayer,
        };
        type Handled = std::sync::Arc<std::sync::Mutex<Vec<String>>>;

        #[derive(Clone)]
        struct AppState {
            verifier: Verifier,
            handled: Handled,
        }
        impl axum::extract::FromRef<AppState> for Verifier {
            fn from_ref(state: &AppState) -> Verifier {
                state.verifier.clone()
            }
        }
        async fn handle(State(state): State<AppState>, event: VerifiedEvent) -> StatusCode {
            state
                .handled
                .lock()
                .unwrap()
                .push(event.dedup_key().as_str().to_owned());
            StatusCode::OK
        }

        let verifier = Verifier::builder()
            .secret(SigningSecret::new(secret))
            .max_body_bytes(max_body_bytes)
            .build()
            .unwrap();
        let handled = Handled::default();
        let state = AppState {
            verifier: verifier.clone(),
            handled: handled.clone(),
        };
        let layer = VerifyLayer::new(verifier).replay_guard(ReplayGuard::in_memory());
        let app = Router::new()
            .route("/webhooks/rxscale", post(handle).route_layer(layer))
            .with_state(state);
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.set_nonblocking(true).unwrap();
        let url = format!("http://{}/webhooks/rxscale", listener.local_addr().unwrap());
        let (shutdown, stop) = tokio::sync::oneshot::channel::<()>();
        let thread = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            runtime.block_on(async move {
                let listener = tokio::net::TcpListener::from_std(listener).unwrap();
                axum::serve(listener, app)
                    .with_graceful_shutdown(async {
                        let _ = stop.await;
                    })
                    .await
                    .unwrap();
            });
        });
        GuardedReceiver {
            url,
            handled,
            shutdown: Some(shutdown),
            thread: Some(thread),
        }
    }

    fn handled(&self) -> Vec<String> {
        self.handled.lock().unwrap().clone()
    }
}

impl Drop for GuardedReceiver {
    fn drop(&mut self) {
        if let Some(shutdown) = self.shutdown.take() {
            let _ = shutdown.send(());
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// The timestamp part of a dedup key `event_type:timestamp:uid`.
fn key_second(key: &str) -> &str {
    key.split(':').nth(1).unwrap()
}

#[test]
fn two_sends_in_the_same_second_are_both_handled() {
    let receiver = GuardedReceiver::start(SECRET, 2 * 1024 * 1024);
    // Two runs at once, so that both events are dated the same second (tried again if the clock
    // ticked between them).
    for attempt in 1..=5 {
        let before = receiver.handled().len();
        let runs: Vec<_> = (0..2)
            .map(|_| {
                let url = receiver.url.clone();
                std::thread::spawn(move || send(&url, &["--event", "pharmacy_order_created"]))
            })
            .collect();
        for run in runs {
            let (code, out) = run.join().unwrap();
            assert_eq!(code, 0, "{out}");
            assert!(out.contains("#1 200 OK"), "{out}");
            assert!(!out.contains("duplicate"), "{out}");
        }
        let handled = receiver.handled();
        let new = &handled[before..];
        assert_eq!(new.len(), 2, "both events reach the handler: {new:?}");
        assert_ne!(new[0], new[1], "each run is an event of its own");
        for key in new {
            assert!(key.starts_with("pharmacy_order_created:"), "{key}");
            assert!(!key.ends_with(":po-abc123"), "a fresh uid: {key}");
        }
        if key_second(&new[0]) == key_second(&new[1]) {
            return;
        }
        assert!(attempt < 5, "never two runs within one second: {handled:?}");
    }
}

#[test]
fn send_times_makes_new_events_and_repeat_makes_retries() {
    let receiver = GuardedReceiver::start(SECRET, 2 * 1024 * 1024);
    let (code, out) = send(
        &receiver.url,
        &["--event", "pharmacy_sku_stock_updated", "--times", "3"],
    );
    assert_eq!(code, 0, "{out}");
    assert_eq!(out.matches(" 200 OK in ").count(), 3, "{out}");
    assert!(!out.contains("duplicate"), "{out}");
    let handled = receiver.handled();
    assert_eq!(handled.len(), 3, "{handled:?}");
    assert!(handled[0] != handled[1] && handled[1] != handled[2] && handled[0] != handled[2]);

    let (code, out) = send(
        &receiver.url,
        &[
            "--event",
            "pharmacy_sku_stock_updated",
            "--times",
            "3",
            "--repeat",
        ],
    );
    assert_eq!(code, 0, "{out}");
    assert_eq!(out.matches(r#"{"status":"duplicate"}"#).count(), 2, "{out}");
    assert_eq!(
        out.matches("hint: the receiver had already handled this event")
            .count(),
        1,
        "one hint per kind of answer: {out}"
    );
    assert_eq!(
        receiver.handled().len(),
        4,
        "a retried event is handled once"
    );
}

#[test]
fn send_explains_what_a_rejection_means() {
    let signed_with = rxscale_webhooks::SigningSecret::new(SECRET)
        .fingerprint()
        .to_string();
    let other = GuardedReceiver::start("whsec_another_receivers_secret", 2 * 1024 * 1024);
    let (code, out) = send(&other.url, &["--event", "pharmacy_order_updated"]);
    assert_eq!(code, 1, "{out}");
    assert!(out.contains(r#"401 Unauthorized in"#), "{out}");
    let hint = out
        .lines()
        .find(|line| line.trim_start().starts_with("hint: "));
    let hint = hint.unwrap_or_else(|| panic!("no hint: {out}"));
    assert!(
        hint.contains(&format!("signed with {signed_with}, which is not a secret"))
            && hint.contains("fingerprints the receiver logs"),
        "{hint}"
    );
    assert!(!out.contains(SECRET), "{out}");

    let receiver = GuardedReceiver::start(SECRET, 600);
    let (code, out) = send(
        &receiver.url,
        &["--event", "appointment_reminder_due", "--stale", "400000"],
    );
    assert_eq!(code, 1, "{out}");
    assert!(
        out.contains("hint: the event was dated 400000s ago, older than the receiver's window"),
        "{out}"
    );
    let (code, out) = send(&receiver.url, &["--event", "pharmacy_order_created"]);
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("413 Payload Too Large"), "{out}");
    assert!(out.contains("is larger than the receiver's limit"), "{out}");
    let (code, out) = send(
        &receiver.url,
        &["--event", "appointment_reminder_due", "--tamper"],
    );
    assert_eq!(code, 1, "{out}");
    assert!(
        out.contains("hint: expected: the body was changed after signing (--tamper)"),
        "{out}"
    );
    assert!(receiver.handled().is_empty());
}
