//! `send --to URL`: deliveries exactly as RxScale makes them (spec §1.2), genuine or broken on
//! purpose, to test a receiver.

use std::collections::{BTreeMap, HashSet};
use std::path::PathBuf;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use clap::{ArgGroup, Args};
use reqwest::{StatusCode, Url};
use rxscale_webhooks::testing::fixture_at;
use rxscale_webhooks::{EventType, Fingerprint, SigningSecret};

use super::{parse_event_type, runtime, unix_now};
use crate::delivery::Delivery;
use crate::failure::{Failure, say};
use crate::input::read_body;
use crate::net;
use crate::secret::{SecretArgs, random_secret};

/// Upper bound of `--times`: enough for a retry storm, small enough to never be a load test.
const MAX_TIMES: i64 = 10_000;
/// Upper bound of `--concurrency`.
const MAX_CONCURRENCY: i64 = 64;
/// RxScale's documented response time limit (spec §1.3).
const RXSCALE_TIMEOUT: Duration = Duration::from_secs(5);

#[derive(Debug, Args)]
#[command(group(ArgGroup::new("body").required(true).args(["event", "input"])))]
#[command(group(ArgGroup::new("mode").args(["tamper", "stale", "unsigned", "wrong_secret"])))]
pub(crate) struct SendArgs {
    /// The receiver's URL. Only loopback hosts, unless --allow-remote.
    #[arg(long, value_name = "URL")]
    to: String,

    /// Send the example payload of this event type, dated now.
    #[arg(long, value_name = "TYPE", value_parser = parse_event_type)]
    event: Option<EventType>,

    /// Send this body instead, byte for byte; `-` reads standard input.
    #[arg(value_name = "FILE|-")]
    input: Option<PathBuf>,

    /// Sign the body, then change one digit of it, as a forger editing an amount would.
    #[arg(long)]
    tamper: bool,

    /// Date the event this many seconds in the past (signed correctly).
    #[arg(long, value_name = "SECS", conflicts_with = "input")]
    stale: Option<u32>,

    /// Leave out the X-Webhook-Signature header.
    #[arg(long)]
    unsigned: bool,

    /// Sign with a freshly generated secret instead of the configured one.
    #[arg(long)]
    wrong_secret: bool,

    /// Make this many deliveries (at most 10000): with --event, each a new event with a fresh
    /// uid, unless --repeat.
    #[arg(long, value_name = "N", default_value_t = 1,
          value_parser = clap::value_parser!(u32).range(1..=MAX_TIMES))]
    times: u32,

    /// Send the same bytes every time, as RxScale's retries of one event would: the receiver's
    /// replay guard answers all but the first as duplicates. A FILE is always sent as is.
    #[arg(long)]
    repeat: bool,

    /// Keep up to this many deliveries in flight (at most 64).
    #[arg(long, value_name = "C", default_value_t = 1,
          value_parser = clap::value_parser!(u32).range(1..=MAX_CONCURRENCY))]
    concurrency: u32,

    /// Allow a URL whose host is not loopback.
    #[arg(long)]
    allow_remote: bool,

    #[command(flatten)]
    secret: SecretArgs,
}

/// What came back for one delivery.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Outcome {
    Status(StatusCode),
    Failed(String),
}

pub(crate) fn run(args: SendArgs) -> Result<(), Failure> {
    let url = net::target_url(&args.to, "--to", args.allow_remote)?;
    let (signer, how) = if args.unsigned {
        (None, "unsigned".to_owned())
    } else if args.wrong_secret {
        let wrong = random_secret()?;
        let how = format!("signed with a random secret {}", wrong.fingerprint());
        (Some(wrong), how)
    } else {
        let secret = args.secret.load()?;
        let mut how = format!("signed with {}", secret.fingerprint());
        if args.tamper {
            how.push_str(", then tampered with");
        }
        if let Some(age) = args.stale {
            how.push_str(&format!(", dated {age}s ago"));
        }
        (Some(secret), how)
    };
    let source = match args.event {
        Some(event_type) => Source::Example {
            event_type,
            age: i64::from(args.stale.unwrap_or(0)),
        },
        None => Source::File(read_body(args.input.as_deref())?.into()),
    };
    let plan = Plan {
        source,
        signer,
        tamper: args.tamper,
        wrong_secret: args.wrong_secret,
    };
    let first = plan.delivery()?;
    // One delivery for all, unless each --event delivery is a new event.
    let fixed = (args.repeat || !plan.source.is_example()).then(|| first.clone());
    if first.event_header().is_none() {
        eprintln!("note: the body has no event_type, so no X-Webhook-Event header is sent");
    }
    let each = match (&fixed, args.times) {
        (_, 1) => "",
        (Some(_), _) => ", the same bytes each time",
        (None, _) => ", a new event (fresh uid) each time",
    };
    eprintln!(
        "POST {url}: {}, {} bytes, {how}; {} time(s){each}, {} at once",
        first.event_header().unwrap_or("(no event_type)"),
        first.body.len(),
        args.times,
        args.concurrency.min(args.times),
    );
    let target = Target {
        client: net::client()?,
        url,
        plan,
        fixed,
        first: Mutex::new(Some(first)),
        hinted: Mutex::new(HashSet::new()),
    };
    let outcomes = runtime()?.block_on(deliver_all(target, args.times, args.concurrency));
    summarize(&outcomes)
}

/// Where the bodies come from.
enum Source {
    /// The example payload of an event type, dated `age` seconds ago, with a fresh uid.
    Example { event_type: EventType, age: i64 },
    /// These bytes, as given.
    File(Bytes),
}

impl Source {
    fn is_example(&self) -> bool {
        matches!(self, Source::Example { .. })
    }
}

/// How each delivery is made.
struct Plan {
    source: Source,
    /// `None`: unsigned.
    signer: Option<SigningSecret>,
    tamper: bool,
    /// `signer` is a random secret, on purpose.
    wrong_secret: bool,
}

impl Plan {
    fn delivery(&self) -> Result<Delivery, Failure> {
        let body: Bytes = match &self.source {
            Source::Example { event_type, age } => {
                let body = fixture_at(*event_type, unix_now().saturating_sub(*age));
                with_fresh_uid(&body, &random_hex()?).into()
            }
            Source::File(bytes) => bytes.clone(),
        };
        let delivery = Delivery::new(body, self.signer.as_ref());
        Ok(if self.tamper {
            delivery.tampered()
        } else {
            delivery
        })
    }

    /// The fingerprint of the secret the deliveries are signed with, if any.
    fn fingerprint(&self) -> Option<Fingerprint> {
        self.signer.as_ref().map(SigningSecret::fingerprint)
    }
}

/// Eight random bytes in hex: enough that two events never share a uid by chance.
fn random_hex() -> Result<String, Failure> {
    let mut bytes = [0u8; 8];
    getrandom::fill(&mut bytes).map_err(|err| {
        Failure::usage(format!("cannot draw a random uid from the system: {err}"))
    })?;
    Ok(bytes.iter().map(|byte| format!("{byte:02x}")).collect())
}

/// `body` with its `data.uid` replaced by a fresh one that keeps the example's prefix
/// (`po-abc123` becomes `po-<random>`), or given one when `data` has none, so that the
/// receiver's dedup key (`event_type:timestamp:data.uid`) is new. The rest stays byte for byte.
fn with_fresh_uid(body: &str, random: &str) -> String {
    let Some(data) = body.find("\"data\": {") else {
        return body.to_owned();
    };
    let open = data + "\"data\": {".len();
    let marker = "\"uid\": \"";
    // The example's first key in `data` is its uid; anything further in is a nested object's.
    let own_uid = body[open..]
        .find(marker)
        .filter(|at| !body[open..open + at].contains('{'))
        .map(|at| open + at + marker.len());
    match own_uid {
        Some(start) => {
            let end = body[start..].find('"').map_or(body.len(), |at| start + at);
            let prefix = body[start..end].split('-').next().unwrap_or("evt");
            format!("{}{prefix}-{random}{}", &body[..start], &body[end..])
        }
        None if body[open..].starts_with('}') => {
            format!(
                "{}\"uid\": \"evt-{random}\"{}",
                &body[..open],
                &body[open..]
            )
        }
        None => body.to_owned(),
    }
}

struct Target {
    client: reqwest::Client,
    url: Url,
    plan: Plan,
    /// The delivery every request carries, when they all carry the same.
    fixed: Option<Delivery>,
    /// The delivery made up front (for the announcement), sent first.
    first: Mutex<Option<Delivery>>,
    /// The answers already explained: each hint is printed once.
    hinted: Mutex<HashSet<(u16, String)>>,
}

impl Target {
    fn delivery(&self) -> Result<Delivery, Failure> {
        if let Some(fixed) = &self.fixed {
            return Ok(fixed.clone());
        }
        let first = self.first.lock().ok().and_then(|mut first| first.take());
        match first {
            Some(first) => Ok(first),
            None => self.plan.delivery(),
        }
    }

    /// True the first time this answer is seen.
    fn first_time(&self, status: StatusCode, code: &str) -> bool {
        self.hinted
            .lock()
            .map(|mut seen| seen.insert((status.as_u16(), code.to_owned())))
            .unwrap_or(false)
    }
}

async fn deliver_all(target: Target, times: u32, concurrency: u32) -> Vec<Outcome> {
    let target = Arc::new(target);
    let next = Arc::new(AtomicU32::new(0));
    let mut workers = tokio::task::JoinSet::new();
    for _ in 0..concurrency.min(times) {
        let target = Arc::clone(&target);
        let next = Arc::clone(&next);
        workers.spawn(async move {
            let mut outcomes = Vec::new();
            loop {
                let number = next.fetch_add(1, Ordering::Relaxed) + 1;
                if number > times {
                    break outcomes;
                }
                outcomes.push(deliver_once(&target, number).await);
            }
        });
    }
    let mut outcomes = Vec::with_capacity(times as usize);
    while let Some(joined) = workers.join_next().await {
        match joined {
            Ok(some) => outcomes.extend(some),
            Err(err) => outcomes.push(Outcome::Failed(format!("worker failed: {err}"))),
        }
    }
    outcomes
}

async fn deliver_once(target: &Target, number: u32) -> Outcome {
    let delivery = match target.delivery() {
        Ok(delivery) => delivery,
        Err(Failure::Usage(reason)) => {
            say(format!("#{number} failed: {reason}"));
            return Outcome::Failed(reason);
        }
        Err(Failure::Rejected) => return Outcome::Failed("not made".to_owned()),
    };
    let started = Instant::now();
    let sent = target
        .client
        .post(target.url.clone())
        .headers(delivery.headers.clone())
        .body(delivery.body.clone())
        .send()
        .await;
    let response = match sent {
        Ok(response) => response,
        Err(err) => {
            let reason = net::describe_error(&err);
            say(format!("#{number} failed: {reason}"));
            return Outcome::Failed(reason);
        }
    };
    let status = response.status();
    let text = response.text().await.unwrap_or_default();
    let elapsed = started.elapsed();
    let slow = if elapsed > RXSCALE_TIMEOUT {
        " (slower than RxScale's 5 s limit: it would retry)"
    } else {
        ""
    };
    say(format!(
        "#{number} {status} in {} ms{slow} {}",
        elapsed.as_millis(),
        one_line(&text, 200)
    ));
    let code = answer_code(&text);
    if let Some(hint) = hint(target, &delivery, status, &code)
        && target.first_time(status, &code)
    {
        say(format!("    hint: {hint}"));
    }
    Outcome::Status(status)
}

/// The `error` (or `status`) code of a JSON answer such as `{"error":"signature_mismatch"}`.
fn answer_code(text: &str) -> String {
    let Ok(serde_json::Value::Object(answer)) = serde_json::from_str(text) else {
        return String::new();
    };
    ["error", "status"]
        .iter()
        .find_map(|key| answer.get(*key).and_then(serde_json::Value::as_str))
        .unwrap_or_default()
        .to_owned()
}

/// What to check when the receiver answered `status` with `code`; `None` when all is well.
fn hint(target: &Target, delivery: &Delivery, status: StatusCode, code: &str) -> Option<String> {
    let plan = &target.plan;
    let broken_on_purpose = |what: &str| format!("expected: {what}; a genuine delivery passes");
    let hint = match (status.as_u16(), code) {
        (200..=299, "duplicate") => {
            "the receiver had already handled this event (same event_type, timestamp and uid), \
             so its handler did not run again"
                .to_owned()
        }
        (200..=299, _) => return None,
        (401, "signature_mismatch") if plan.tamper => {
            broken_on_purpose("the body was changed after signing (--tamper)")
        }
        (401, "signature_mismatch") if plan.wrong_secret => {
            broken_on_purpose("the delivery was signed with a random secret (--wrong-secret)")
        }
        (401, "signature_mismatch") => match plan.fingerprint() {
            Some(fingerprint) => format!(
                "this delivery was signed with {fingerprint}, which is not a secret the receiver \
                 has: compare it with the fingerprints the receiver logs for its configured \
                 secrets (fp_...); if one is equal, the receiver does not verify the raw body \
                 bytes as received"
            ),
            _ => "the receiver's secret did not match the signature".to_owned(),
        },
        (401, "missing_signature") if plan.signer.is_none() => {
            broken_on_purpose("no X-Webhook-Signature header was sent (--unsigned)")
        }
        (401, "missing_signature") => "the X-Webhook-Signature header was sent but did not \
             reach the receiver's check: a proxy in between may drop it"
            .to_owned(),
        (401, "malformed_signature") => "the receiver could not read X-Webhook-Signature as 64 \
             hex digits: something in between changed the header"
            .to_owned(),
        (400, "expired") => match plan.source {
            Source::Example { age, .. } if age > 0 => format!(
                "the event was dated {age}s ago, older than the receiver's window (its max \
                 age; the SDK's default is 72 h)"
            ),
            _ => "the event is older than the receiver's window (its max age; the SDK's \
                  default is 72 h): date it later, or check the receiver's clock"
                .to_owned(),
        },
        (400, "from_future") => "the receiver thinks the event lies in the future: its clock is \
             behind this machine's by more than its allowed skew (default 5 minutes)"
            .to_owned(),
        (400, "malformed_payload") => "the receiver could not read the body as an RxScale \
             envelope (event_type, timestamp, payload_version, data)"
            .to_owned(),
        (413, _) => format!(
            "the body ({} bytes) is larger than the receiver's limit (max_body_bytes; the \
             SDK's default is 2 MiB)",
            delivery.body.len()
        ),
        (422, _) => "the signature is valid, but the receiver's typed decoding of `data` failed: \
             see the receiver's log for the path"
            .to_owned(),
        (409, "in_flight") => "another copy of this event was being handled at that moment; \
             RxScale would retry later"
            .to_owned(),
        (503, "replay_store_unavailable") => {
            "the receiver's replay store (e.g. Redis) is unreachable".to_owned()
        }
        (404 | 405, _) => "nothing handles POST at this URL: check the path against the \
             receiver's route"
            .to_owned(),
        _ => return None,
    };
    Some(hint)
}

fn one_line(text: &str, max_chars: usize) -> String {
    let flat: String = text
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    let flat = flat.trim();
    if flat.chars().count() > max_chars {
        let cut: String = flat.chars().take(max_chars).collect();
        format!("{cut}…")
    } else {
        flat.to_owned()
    }
}

/// Prints the counts by status; every delivery must have been acknowledged with a 2xx.
fn summarize(outcomes: &[Outcome]) -> Result<(), Failure> {
    let mut counts: BTreeMap<Option<StatusCode>, usize> = BTreeMap::new();
    for outcome in outcomes {
        let key = match outcome {
            Outcome::Status(status) => Some(*status),
            Outcome::Failed(_) => None,
        };
        *counts.entry(key).or_default() += 1;
    }
    let parts: Vec<String> = counts
        .iter()
        .map(|(status, count)| match status {
            Some(status) => format!("{count} x {status}"),
            None => format!("{count} x no response"),
        })
        .collect();
    say(format!(
        "summary: {} sent: {}",
        outcomes.len(),
        parts.join(", ")
    ));
    let all_acknowledged = outcomes
        .iter()
        .all(|outcome| matches!(outcome, Outcome::Status(status) if status.is_success()));
    if all_acknowledged {
        Ok(())
    } else {
        Err(Failure::Rejected)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_line_flattens_and_cuts() {
        assert_eq!(one_line("a\nb\r\n", 10), "a b");
        assert_eq!(one_line("abcdef", 3), "abc…");
    }

    #[test]
    fn every_example_gets_a_fresh_uid_of_its_own() {
        for &event_type in EventType::ALL {
            let body = fixture_at(event_type, 1_700_000_000);
            let fresh = with_fresh_uid(&body, "0123456789abcdef");
            let value: serde_json::Value = serde_json::from_str(&fresh).unwrap();
            let uid = value["data"]["uid"].as_str().unwrap();
            assert!(uid.ends_with("-0123456789abcdef"), "{event_type:?}: {uid}");
            let before: serde_json::Value = serde_json::from_str(&body).unwrap();
            let mut after = value.clone();
            after["data"]["uid"] = before["data"]["uid"].clone();
            if before["data"].get("uid").is_none() {
                after["data"].as_object_mut().unwrap().remove("uid");
            }
            assert_eq!(after, before, "only data.uid changes");
        }
        let order = with_fresh_uid(&fixture_at(EventType::PharmacyOrderCreated, 1), "ab");
        assert!(order.contains("\"uid\": \"po-ab\""), "{order}");
        assert!(
            order.contains("\"uid\": \"ph-xyz\""),
            "nested uids stay: {order}"
        );
    }

    #[test]
    fn answer_codes() {
        assert_eq!(
            answer_code(r#"{"error":"signature_mismatch"}"#),
            "signature_mismatch"
        );
        assert_eq!(answer_code(r#"{"status":"duplicate"}"#), "duplicate");
        assert_eq!(answer_code("not json"), "");
    }
}
