//! `send --to URL`: deliveries exactly as RxScale makes them (spec §1.2), genuine or broken on
//! purpose, to test a receiver.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use clap::{ArgGroup, Args};
use reqwest::{StatusCode, Url};
use rxscale_webhooks::EventType;
use rxscale_webhooks::testing::fixture_at;

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

    /// Deliver the same bytes this many times, as RxScale's retries would (at most 10000).
    #[arg(long, value_name = "N", default_value_t = 1,
          value_parser = clap::value_parser!(u32).range(1..=MAX_TIMES))]
    times: u32,

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
    let body = match args.event {
        Some(event_type) => {
            let age = i64::from(args.stale.unwrap_or(0));
            fixture_at(event_type, unix_now().saturating_sub(age)).into_bytes()
        }
        None => read_body(args.input.as_deref())?,
    };

    let (delivery, how) = if args.unsigned {
        (Delivery::new(body, None), "unsigned".to_owned())
    } else if args.wrong_secret {
        let wrong = random_secret()?;
        let how = format!("signed with a random secret {}", wrong.fingerprint());
        (Delivery::new(body, Some(&wrong)), how)
    } else {
        let secret = args.secret.load()?;
        let mut how = format!("signed with {}", secret.fingerprint());
        let mut delivery = Delivery::new(body, Some(&secret));
        if args.tamper {
            how.push_str(", then tampered with");
            delivery = delivery.tampered();
        }
        if let Some(age) = args.stale {
            how.push_str(&format!(", dated {age}s ago"));
        }
        (delivery, how)
    };
    if delivery.event_header().is_none() {
        eprintln!("note: the body has no event_type, so no X-Webhook-Event header is sent");
    }
    eprintln!(
        "POST {url}: {}, {} bytes, {how}; {} time(s), {} at once",
        delivery.event_header().unwrap_or("(no event_type)"),
        delivery.body.len(),
        args.times,
        args.concurrency.min(args.times),
    );
    let target = Target {
        client: net::client()?,
        url,
        delivery,
    };
    let outcomes = runtime()?.block_on(deliver_all(target, args.times, args.concurrency));
    summarize(&outcomes)
}

struct Target {
    client: reqwest::Client,
    url: Url,
    delivery: Delivery,
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
    let started = Instant::now();
    let sent = target
        .client
        .post(target.url.clone())
        .headers(target.delivery.headers.clone())
        .body(target.delivery.body.clone())
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
    Outcome::Status(status)
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
}
