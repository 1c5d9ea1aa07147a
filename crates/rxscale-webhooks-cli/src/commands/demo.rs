//! `demo`: a receiver built on the axum layer, in this process, on an ephemeral loopback port,
//! and a round of deliveries that it must accept or reject. Needs no set-up.
//!
//! The scenarios are data ([`scenarios`]), and so is what each one expects, so that changing an
//! expectation is a one-line change.

use std::fmt::Write as _;
use std::net::{Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use axum::Router;
use axum::http::StatusCode;
use clap::Args;
use reqwest::Url;
use rxscale_webhooks::ReplayGuard;
use rxscale_webhooks::replay::GuardAnswer;
use rxscale_webhooks::testing::fixture_at;
use rxscale_webhooks::{DEFAULT_MAX_AGE, ErrorKind, EventType, SigningSecret, Verifier};
use rxscale_webhooks_axum::{VerifiedEvent, VerifyLayer};

use super::{runtime, unix_now};
use crate::delivery::Delivery;
use crate::failure::{Failure, say};
use crate::net;
use crate::secret::random_secret;

/// The demo receiver's body limit: small, so that the oversized delivery is cheap to send.
const DEMO_MAX_BODY_BYTES: usize = 64 * 1024;

/// An event type this SDK does not know, as RxScale's unpublished notifications would arrive.
const UNKNOWN_EVENT_TYPE: &str = "prescription_signed";

/// How old the stale delivery is: an hour past the default maximum age the demo runs with.
const STALE_AGE: Duration = Duration::from_secs(DEFAULT_MAX_AGE.as_secs() + 3600);

/// What a replay of an already handled event should get: the replay guard answers 200 with
/// `X-Webhook-Duplicate: true`, and the handler does not run again.
const REPLAY: (Expect, Option<&str>) = (Expect::Duplicate, None);

#[derive(Debug, Args)]
pub(crate) struct DemoArgs {}

/// What the receiver should do with a delivery.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Expect {
    /// 200, and the handler runs.
    Handled,
    /// 200, but the handler does not run again: how the replay guard answers a duplicate.
    Duplicate,
    /// The layer answers with this kind's status and body; the handler does not run.
    Rejected(ErrorKind),
}

impl Expect {
    fn describe(self) -> String {
        match self {
            Expect::Handled => "200, runs".to_owned(),
            Expect::Duplicate => "200 duplicate, not run".to_owned(),
            Expect::Rejected(kind) => format!("{} {kind}, not run", kind.status_code()),
        }
    }

    fn is_met_by(self, got: &Got) -> bool {
        match self {
            Expect::Handled => got.status == StatusCode::OK && got.handler_ran,
            Expect::Duplicate => {
                got.status == StatusCode::OK
                    && got.body == GuardAnswer::Duplicate.response_body()
                    && !got.handler_ran
            }
            Expect::Rejected(kind) => {
                got.status.as_u16() == kind.status_code()
                    && got.body == kind.response_body()
                    && !got.handler_ran
            }
        }
    }
}

/// How a scenario's delivery is made.
#[derive(Debug, Clone, Copy)]
enum Make {
    /// The example of this event type, dated now, correctly signed.
    Genuine(EventType),
    /// An event type this SDK does not know, correctly signed: it must be acknowledged.
    UnknownType,
    /// Signed, then changed.
    Tampered,
    /// Signed with another secret.
    WrongSecret,
    /// No `X-Webhook-Signature` header.
    MissingSignature,
    /// Correctly signed, but dated [`STALE_AGE`] ago.
    Stale,
    /// The very bytes and signature of the first delivery, again.
    ReplayOfFirst,
    /// Correctly signed, one byte over the body limit.
    Oversized,
}

struct Scenario {
    name: String,
    make: Make,
    expect: Expect,
    note: Option<&'static str>,
}

impl Scenario {
    fn new(name: impl Into<String>, make: Make, expect: Expect) -> Self {
        Scenario {
            name: name.into(),
            make,
            expect,
            note: None,
        }
    }

    fn with_note(mut self, note: Option<&'static str>) -> Self {
        self.note = note;
        self
    }
}

/// Every delivery the demo makes, in order, with the outcome it must have.
fn scenarios() -> Vec<Scenario> {
    let mut list: Vec<Scenario> = EventType::ALL
        .iter()
        .copied()
        .map(|event_type| {
            Scenario::new(
                event_type.as_str(),
                Make::Genuine(event_type),
                Expect::Handled,
            )
        })
        .collect();
    let (replay_expect, replay_note) = REPLAY;
    list.extend([
        Scenario::new(
            format!("unknown event type ({UNKNOWN_EVENT_TYPE})"),
            Make::UnknownType,
            Expect::Handled,
        ),
        Scenario::new(
            "tampered body",
            Make::Tampered,
            Expect::Rejected(ErrorKind::SignatureMismatch),
        ),
        Scenario::new(
            "wrong secret",
            Make::WrongSecret,
            Expect::Rejected(ErrorKind::SignatureMismatch),
        ),
        Scenario::new(
            "missing signature header",
            Make::MissingSignature,
            Expect::Rejected(ErrorKind::MissingSignature),
        ),
        Scenario::new(
            format!("stale event ({} h old)", STALE_AGE.as_secs() / 3600),
            Make::Stale,
            Expect::Rejected(ErrorKind::Expired),
        ),
        Scenario::new(
            "replay of the first delivery",
            Make::ReplayOfFirst,
            replay_expect,
        )
        .with_note(replay_note),
        Scenario::new(
            format!(
                "oversized body ({} KiB + 1 byte)",
                DEMO_MAX_BODY_BYTES / 1024
            ),
            Make::Oversized,
            Expect::Rejected(ErrorKind::BodyTooLarge),
        ),
    ]);
    list
}

/// What the receiver did with one delivery.
struct Got {
    status: StatusCode,
    body: String,
    handler_ran: bool,
}

struct Row {
    scenario: String,
    got: String,
    handler: &'static str,
    expected: String,
    ok: bool,
}

pub(crate) fn run(_args: &DemoArgs) -> Result<(), Failure> {
    let secret = random_secret()?;
    let verifier = Verifier::builder()
        .secret(secret.clone())
        .max_body_bytes(DEMO_MAX_BODY_BYTES)
        .build()
        .map_err(Failure::usage)?;
    let rows = runtime()?.block_on(run_scenarios(secret, verifier))?;
    print_table(&rows);
    if rows.iter().all(|row| row.ok) {
        Ok(())
    } else {
        Err(Failure::Rejected)
    }
}

async fn run_scenarios(secret: SigningSecret, verifier: Verifier) -> Result<Vec<Row>, Failure> {
    let handler_runs = Arc::new(AtomicU64::new(0));
    let counter = Arc::clone(&handler_runs);
    // The handler a user would write: it runs only for verified deliveries, and counts them.
    let app = Router::new()
        .fallback(move |VerifiedEvent(_verified): VerifiedEvent| {
            let counter = Arc::clone(&counter);
            async move {
                counter.fetch_add(1, Ordering::SeqCst);
                r#"{"ok":true}"#
            }
        })
        .layer(VerifyLayer::new(verifier.clone()).replay_guard(ReplayGuard::in_memory()))
        .with_state(verifier.clone());

    let socket = tokio::net::TcpListener::bind(SocketAddr::from((Ipv4Addr::LOCALHOST, 0)))
        .await
        .map_err(|err| Failure::usage(format!("cannot listen on 127.0.0.1: {err}")))?;
    let address = socket
        .local_addr()
        .map_err(|err| Failure::usage(format!("cannot read the bound address: {err}")))?;
    let server = tokio::spawn(async move { axum::serve(socket, app).await });
    let url = Url::parse(&format!("http://{address}/webhooks/rxscale"))
        .map_err(|err| Failure::usage(format!("bad receiver address: {err}")))?;

    say(format!(
        "rxscale-webhooks demo: an axum receiver with VerifyLayer and an in-memory replay guard at {url}\n\
         secret: freshly generated ({}); max age {} h; body limit {} KiB\n",
        secret.fingerprint(),
        verifier.max_age().map_or(0, |age| age.as_secs() / 3600),
        verifier.max_body_bytes() / 1024,
    ));

    // A connection per delivery, so that a rejection that closes its connection cannot affect
    // the next scenario.
    let client = reqwest::Client::builder()
        .no_proxy()
        .pool_max_idle_per_host(0)
        .timeout(Duration::from_secs(10))
        .build()
        .map_err(|err| Failure::usage(format!("cannot set up the HTTP client: {err}")))?;
    let wrong_secret = random_secret()?;
    let mut first: Option<Delivery> = None;
    let mut rows = Vec::new();
    for scenario in scenarios() {
        let delivery = make(
            scenario.make,
            &secret,
            &wrong_secret,
            &verifier,
            first.as_ref(),
        );
        if first.is_none() && matches!(scenario.make, Make::Genuine(_)) {
            first = Some(delivery.clone());
        }
        let before = handler_runs.load(Ordering::SeqCst);
        let got = match send(&client, &url, &delivery).await {
            Ok((status, body)) => Got {
                status,
                body,
                handler_ran: handler_runs.load(Ordering::SeqCst) > before,
            },
            Err(reason) => {
                rows.push(Row {
                    scenario: scenario.name,
                    got: format!("no response: {reason}"),
                    handler: "?",
                    expected: scenario.expect.describe(),
                    ok: false,
                });
                continue;
            }
        };
        let mut expected = scenario.expect.describe();
        if scenario.note.is_some() {
            expected.push_str(" *");
        }
        rows.push(Row {
            scenario: scenario.name,
            got: describe_got(&got),
            handler: if got.handler_ran { "ran" } else { "not run" },
            expected,
            ok: scenario.expect.is_met_by(&got),
        });
    }
    server.abort();
    Ok(rows)
}

fn make(
    how: Make,
    secret: &SigningSecret,
    wrong_secret: &SigningSecret,
    verifier: &Verifier,
    first: Option<&Delivery>,
) -> Delivery {
    let now = unix_now();
    let genuine = || fixture_at(EventType::PharmacyOrderUpdated, now);
    match how {
        Make::Genuine(event_type) => Delivery::new(fixture_at(event_type, now), Some(secret)),
        Make::UnknownType => Delivery::new(
            format!(
                r#"{{"event_type":"{UNKNOWN_EVENT_TYPE}","timestamp":{now},"payload_version":"1","data":{{"uid":"px-demo-1"}}}}"#
            ),
            Some(secret),
        ),
        Make::Tampered => Delivery::new(genuine(), Some(secret)).tampered(),
        Make::WrongSecret => Delivery::new(genuine(), Some(wrong_secret)),
        Make::MissingSignature => Delivery::new(genuine(), None),
        Make::Stale => {
            let age = i64::try_from(STALE_AGE.as_secs()).unwrap_or(i64::MAX);
            Delivery::new(
                fixture_at(EventType::PharmacyOrderUpdated, now.saturating_sub(age)),
                Some(secret),
            )
        }
        Make::ReplayOfFirst => match first {
            Some(first) => first.clone(),
            None => Delivery::new(genuine(), Some(secret)),
        },
        Make::Oversized => {
            let envelope = format!(
                r#"{{"event_type":"pharmacy_order_updated","timestamp":{now},"payload_version":"1","data":{{"uid":"po-big","padding":""}}}}"#
            );
            let padding = (verifier.max_body_bytes() + 1).saturating_sub(envelope.len());
            let body = envelope.replace(
                r#""padding":"""#,
                &format!(r#""padding":"{}""#, "x".repeat(padding)),
            );
            Delivery::new(body, Some(secret))
        }
    }
}

async fn send(
    client: &reqwest::Client,
    url: &Url,
    delivery: &Delivery,
) -> Result<(StatusCode, String), String> {
    let response = client
        .post(url.clone())
        .headers(delivery.headers.clone())
        .body(delivery.body.clone())
        .send()
        .await
        .map_err(|err| net::describe_error(&err))?;
    let status = response.status();
    let body = response
        .text()
        .await
        .map_err(|err| net::describe_error(&err))?;
    Ok((status, body))
}

fn describe_got(got: &Got) -> String {
    let code = ErrorKind::ALL
        .iter()
        .find(|kind| got.body == kind.response_body())
        .map(|kind| format!(" {kind}"))
        .or_else(|| {
            (got.body == GuardAnswer::Duplicate.response_body())
                .then(|| format!(" {}", GuardAnswer::Duplicate.code()))
        })
        .unwrap_or_default();
    format!("{}{code}", got.status.as_u16())
}

fn print_table(rows: &[Row]) {
    let headings = ["scenario", "HTTP", "handler", "expected", "result"];
    let cells: Vec<[&str; 5]> = rows
        .iter()
        .map(|row| {
            [
                row.scenario.as_str(),
                row.got.as_str(),
                row.handler,
                row.expected.as_str(),
                if row.ok { "OK" } else { "FAIL" },
            ]
        })
        .collect();
    let mut widths = headings.map(str::len);
    for row in &cells {
        for (width, cell) in widths.iter_mut().zip(row) {
            *width = (*width).max(cell.chars().count());
        }
    }
    let line = |cells: [&str; 5]| {
        let mut text = String::new();
        for (i, (cell, width)) in cells.iter().zip(widths).enumerate() {
            if i + 1 == cells.len() {
                text.push_str(cell);
            } else {
                let _ = write!(text, "{cell:<width$}  ");
            }
        }
        text
    };
    say(line(headings));
    say(rule(&widths));
    for row in cells {
        say(line(row));
    }
    say("");
    for note in scenarios().iter().filter_map(|scenario| scenario.note) {
        say(format!("* {note}"));
    }
    let passed = rows.iter().filter(|row| row.ok).count();
    say(format!(
        "{passed}/{} outcomes as expected{}",
        rows.len(),
        if passed == rows.len() { "" } else { ": FAIL" }
    ));
}

fn rule(widths: &[usize; 5]) -> String {
    widths
        .iter()
        .map(|width| "-".repeat(*width))
        .collect::<Vec<_>>()
        .join("  ")
}
