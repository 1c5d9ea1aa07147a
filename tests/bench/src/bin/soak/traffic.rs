//! The traffic: workers sending a mix of genuine, duplicate and bad deliveries, and RxScale's
//! retry discipline for genuine events that were not acknowledged.

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use rxscale_webhooks::testing::{Delivery, TestDelivery, fixture_at};
use rxscale_webhooks::{EventType, SigningSecret, sign};
use sha2::{Digest as _, Sha256};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::TcpStream;

use crate::{Rng, lock, now_us};

/// Where the receivers serve deliveries.
const PATH: &str = "/webhooks/rxscale";
/// A genuine event not acknowledged after this many deliveries is given up (and reported).
pub(crate) const MAX_DELIVERIES: u32 = 30;
/// The longest wait between two deliveries of one event.
const MAX_BACKOFF: Duration = Duration::from_secs(4);
/// How long a client waits for an answer.
const CLIENT_TIMEOUT: Duration = Duration::from_secs(30);
/// At most this many slow-body clients at once: each holds a worker for 1–2 s.
const MAX_SLOW_IN_FLIGHT: usize = 2;

/// The kind of request an attempt was, for the latency table.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub(crate) enum Class {
    /// First delivery of a fresh event of a known type.
    Genuine,
    /// First delivery of a fresh event of a type the SDK does not know.
    UnknownType,
    /// First delivery of a fresh event, its body trickled over 1–2 s on a raw connection.
    SlowBody,
    /// A later delivery of an event that was not acknowledged yet.
    Retry,
    /// A redelivery of an acknowledged event, alone.
    Duplicate,
    /// Several copies of one event at once (a fresh one, or an acknowledged one).
    ConcurrentDuplicate,
    /// Signed with another secret, tampered with, unsigned, or a made-up signature.
    Forged,
    /// Genuinely signed, but stamped outside the age window (past or future).
    Stale,
    /// Genuinely signed, larger than the body limit.
    Oversized,
}

impl Class {
    pub(crate) const ALL: [Class; 9] = [
        Class::Genuine,
        Class::UnknownType,
        Class::SlowBody,
        Class::Retry,
        Class::Duplicate,
        Class::ConcurrentDuplicate,
        Class::Forged,
        Class::Stale,
        Class::Oversized,
    ];

    pub(crate) fn name(self) -> &'static str {
        match self {
            Class::Genuine => "genuine",
            Class::UnknownType => "unknown_type",
            Class::SlowBody => "slow_body",
            Class::Retry => "retry",
            Class::Duplicate => "duplicate",
            Class::ConcurrentDuplicate => "concurrent_dup",
            Class::Forged => "forged",
            Class::Stale => "stale",
            Class::Oversized => "oversized",
        }
    }

    /// Whether no attempt of this class may ever be acknowledged.
    pub(crate) fn must_be_rejected(self) -> bool {
        matches!(self, Class::Forged | Class::Stale | Class::Oversized)
    }
}

/// What came back.
#[derive(Debug, Clone)]
pub(crate) enum Outcome {
    Status {
        code: u16,
        body: String,
        duplicate: bool,
    },
    Transport(String),
}

impl Outcome {
    pub(crate) fn is_success(&self) -> bool {
        matches!(self, Outcome::Status { code, .. } if (200..300).contains(code))
    }
}

/// One request and its answer.
#[derive(Debug, Clone)]
pub(crate) struct Attempt {
    pub(crate) class: Class,
    pub(crate) instance: usize,
    /// The genuine event it carried, if any.
    pub(crate) event: Option<usize>,
    pub(crate) start_us: u64,
    pub(crate) end_us: u64,
    pub(crate) latency: Duration,
    pub(crate) outcome: Outcome,
}

/// A unique genuine event and its delivery state.
#[derive(Debug)]
pub(crate) struct Event {
    pub(crate) key: String,
    pub(crate) origin: Class,
    delivery: Arc<Delivery>,
    pub(crate) deliveries: u32,
    pub(crate) acked_at: Option<u64>,
    pub(crate) acked_by: Option<usize>,
    pub(crate) abandoned: bool,
}

#[cfg(test)]
impl Event {
    /// An event as the report sees it, for the report's own tests.
    pub(crate) fn for_test(key: &str, acked_at: Option<u64>) -> Self {
        Event {
            key: key.to_owned(),
            origin: Class::Genuine,
            delivery: Arc::new(TestDelivery::new(&SigningSecret::new("whsec_t")).build()),
            deliveries: 1,
            acked_at,
            acked_by: acked_at.map(|_| 0),
            abandoned: false,
        }
    }
}

pub(crate) struct Settings {
    pub(crate) ports: Vec<u16>,
    pub(crate) secret: SigningSecret,
    pub(crate) run_id: String,
    pub(crate) max_body_bytes: usize,
    pub(crate) think: Duration,
    pub(crate) traffic_end: Instant,
    pub(crate) drain_deadline: Instant,
}

pub(crate) struct Traffic {
    settings: Settings,
    client: reqwest::Client,
    /// For oversized bodies: the server answers 413 without reading the body and closes the
    /// connection, which must not be handed back to the shared pool for the next request.
    unpooled: reqwest::Client,
    pub(crate) events: Mutex<Vec<Event>>,
    acked: Mutex<Vec<usize>>,
    retries: Mutex<BinaryHeap<Reverse<(Instant, usize)>>>,
    pub(crate) attempts: Mutex<Vec<Attempt>>,
    outstanding: AtomicUsize,
    seq: AtomicU64,
    slow_in_flight: AtomicUsize,
}

impl Traffic {
    pub(crate) fn new(settings: Settings) -> Result<Self, reqwest::Error> {
        let client = reqwest::Client::builder()
            .timeout(CLIENT_TIMEOUT)
            // Below actix-web's 5 s keep-alive, so that a pooled connection is not reused at
            // the moment the server closes it.
            .pool_idle_timeout(Duration::from_secs(2))
            .no_proxy()
            .build()?;
        let unpooled = reqwest::Client::builder()
            .timeout(CLIENT_TIMEOUT)
            .pool_max_idle_per_host(0)
            .no_proxy()
            .build()?;
        Ok(Traffic {
            settings,
            client,
            unpooled,
            events: Mutex::new(Vec::new()),
            acked: Mutex::new(Vec::new()),
            retries: Mutex::new(BinaryHeap::new()),
            attempts: Mutex::new(Vec::new()),
            outstanding: AtomicUsize::new(0),
            seq: AtomicU64::new(0),
            slow_in_flight: AtomicUsize::new(0),
        })
    }

    /// Genuine events neither acknowledged nor given up.
    pub(crate) fn outstanding(&self) -> usize {
        self.outstanding.load(Ordering::SeqCst)
    }

    /// One worker: due retries first, then new traffic until the traffic phase ends, then only
    /// retries until every event is acknowledged or the drain deadline passes.
    pub(crate) async fn worker(self: Arc<Self>, mut rng: Rng) {
        loop {
            if let Some(event) = self.due_retry() {
                self.retry(&mut rng, event).await;
                continue;
            }
            let now = Instant::now();
            if now < self.settings.traffic_end {
                self.one_operation(&mut rng).await;
                let think = self.settings.think.mul_f64(0.5 + rng.unit());
                tokio::time::sleep(think).await;
                continue;
            }
            if self.outstanding() == 0 || now > self.settings.drain_deadline {
                return;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    async fn one_operation(&self, rng: &mut Rng) {
        match rng.below(100) {
            0..38 => self.fresh(rng, Class::Genuine).await,
            38..44 => self.fresh(rng, Class::UnknownType).await,
            44..46 => {
                if self.slow_in_flight.fetch_add(1, Ordering::SeqCst) < MAX_SLOW_IN_FLIGHT {
                    self.slow_body(rng).await;
                } else {
                    self.fresh(rng, Class::Genuine).await;
                }
                self.slow_in_flight.fetch_sub(1, Ordering::SeqCst);
            }
            46..62 => self.duplicate(rng).await,
            62..72 => self.concurrent_duplicates(rng).await,
            72..84 => self.forged(rng).await,
            84..90 => self.stale(rng).await,
            _ => self.oversized(rng).await,
        }
    }

    fn instance(&self, rng: &mut Rng) -> usize {
        rng.below(self.settings.ports.len())
    }

    fn next_seq(&self) -> u64 {
        self.seq.fetch_add(1, Ordering::Relaxed)
    }

    /// A unique genuine event, registered as outstanding.
    fn new_event(&self, rng: &mut Rng, origin: Class) -> usize {
        let n = self.next_seq();
        let timestamp = unix_now();
        let run = &self.settings.run_id;
        let (body, key) = if origin == Class::UnknownType {
            let event_type = format!("soak_unknown_{}", n % 3);
            let uid = format!("{run}-u{n}");
            let body = serde_json::json!({
                "event_type": event_type,
                "timestamp": timestamp,
                "payload_version": "1",
                "data": {"uid": uid, "note": "a type this SDK does not know"},
            });
            (body.to_string(), format!("{event_type}:{timestamp}:{uid}"))
        } else {
            let event_type = EventType::ALL[rng.below(EventType::ALL.len())];
            let mut body: serde_json::Value =
                serde_json::from_str(&fixture_at(event_type, timestamp)).unwrap_or_default();
            if event_type == EventType::AppointmentReminderDue {
                // The spec's reminder has no uid: the SDK keys it by a hash of the body.
                body["data"]["reminder_ref"] = format!("{run}-g{n}").into();
                let body = body.to_string();
                let digest = Sha256::digest(body.as_bytes());
                let key = format!(
                    "{}:{timestamp}:sha256-{}",
                    event_type.as_str(),
                    hex::encode(&digest[..8])
                );
                (body, key)
            } else {
                let uid = format!("{run}-g{n}");
                body["data"]["uid"] = uid.clone().into();
                (
                    body.to_string(),
                    format!("{}:{timestamp}:{uid}", event_type.as_str()),
                )
            }
        };
        let delivery = TestDelivery::new(&self.settings.secret).body(body).build();
        let mut events = lock(&self.events);
        events.push(Event {
            key,
            origin,
            delivery: Arc::new(delivery),
            deliveries: 0,
            acked_at: None,
            acked_by: None,
            abandoned: false,
        });
        self.outstanding.fetch_add(1, Ordering::SeqCst);
        events.len() - 1
    }

    fn delivery(&self, event: usize) -> Arc<Delivery> {
        Arc::clone(&lock(&self.events)[event].delivery)
    }

    async fn fresh(&self, rng: &mut Rng, class: Class) {
        let event = self.new_event(rng, class);
        let instance = self.instance(rng);
        let attempt = self
            .send(class, instance, Some(event), &self.delivery(event))
            .await;
        self.settle(rng, event, std::slice::from_ref(&attempt));
        self.record(vec![attempt]);
    }

    async fn retry(&self, rng: &mut Rng, event: usize) {
        // RxScale's retries go to the endpoint, that is to whichever instance the balancer picks.
        let instance = self.instance(rng);
        let attempt = self
            .send(Class::Retry, instance, Some(event), &self.delivery(event))
            .await;
        self.settle(rng, event, std::slice::from_ref(&attempt));
        self.record(vec![attempt]);
    }

    fn acked_event(&self, rng: &mut Rng) -> Option<(usize, usize)> {
        let acked = lock(&self.acked);
        if acked.is_empty() {
            return None;
        }
        let event = acked[rng.below(acked.len())];
        drop(acked);
        let by = lock(&self.events)[event].acked_by.unwrap_or(0);
        Some((event, by))
    }

    async fn duplicate(&self, rng: &mut Rng) {
        let Some((event, acked_by)) = self.acked_event(rng) else {
            return self.fresh(rng, Class::Genuine).await;
        };
        let instance = if rng.below(2) == 0 {
            acked_by
        } else {
            self.instance(rng)
        };
        let attempt = self
            .send(
                Class::Duplicate,
                instance,
                Some(event),
                &self.delivery(event),
            )
            .await;
        self.record(vec![attempt]);
    }

    async fn concurrent_duplicates(&self, rng: &mut Rng) {
        let copies = 2 + rng.below(3);
        let same_instance = rng.below(2) == 0;
        let first = self.instance(rng);
        let targets: Vec<usize> = (0..copies)
            .map(|_| {
                if same_instance {
                    first
                } else {
                    self.instance(rng)
                }
            })
            .collect();
        let (event, fresh) = match self.acked_event(rng) {
            Some((event, _)) if rng.below(2) == 0 => (event, false),
            _ => (self.new_event(rng, Class::ConcurrentDuplicate), true),
        };
        let delivery = self.delivery(event);
        let sends = targets.iter().map(|&instance| {
            self.send(Class::ConcurrentDuplicate, instance, Some(event), &delivery)
        });
        let attempts = futures_join_all(sends).await;
        if fresh {
            self.settle(rng, event, &attempts);
        }
        self.record(attempts);
    }

    /// A genuine-looking fresh body whose uid marks it as one that must never be handled.
    fn bad_body(&self, mark: &str, timestamp: i64) -> String {
        let n = self.next_seq();
        let mut body: serde_json::Value =
            serde_json::from_str(&fixture_at(EventType::PharmacyOrderCreated, timestamp))
                .unwrap_or_default();
        body["data"]["uid"] = format!("{mark}-{}-{n}", self.settings.run_id).into();
        body.to_string()
    }

    async fn forged(&self, rng: &mut Rng) {
        let body = self.bad_body("forged", unix_now());
        let base = TestDelivery::new(&self.settings.secret).body(body);
        let delivery = match rng.below(5) {
            0 => base.wrong_secret().build(),
            1 => base.tamper().build(),
            2 => base.unsigned().build(),
            3 => {
                let made_up: String = (0..64)
                    .map(|_| char::from(b"0123456789abcdef"[rng.below(16)]))
                    .collect();
                base.signature(made_up).build()
            }
            _ => {
                // A real signature, of another body.
                let other = self.bad_body("forged-other", unix_now());
                base.signature(sign(&self.settings.secret, other.as_bytes()))
                    .build()
            }
        };
        let instance = self.instance(rng);
        let attempt = self.send(Class::Forged, instance, None, &delivery).await;
        self.record(vec![attempt]);
    }

    async fn stale(&self, rng: &mut Rng) {
        let now = unix_now();
        let offset = i64::try_from(rng.below(10_000)).unwrap_or(0);
        let timestamp = if rng.below(4) == 0 {
            // Beyond the 5-minute future skew.
            now + 600 + offset
        } else {
            // Beyond the 72-hour age window.
            now - 73 * 3600 - offset
        };
        let body = self.bad_body("stale", timestamp);
        let delivery = TestDelivery::new(&self.settings.secret).body(body).build();
        let instance = self.instance(rng);
        let attempt = self.send(Class::Stale, instance, None, &delivery).await;
        self.record(vec![attempt]);
    }

    async fn oversized(&self, rng: &mut Rng) {
        let limit = self.settings.max_body_bytes;
        let pad = limit + 1 + rng.below(3 * limit);
        let mut body: serde_json::Value =
            serde_json::from_str(&self.bad_body("oversized", unix_now())).unwrap_or_default();
        body["data"]["padding"] = "x".repeat(pad).into();
        let delivery = TestDelivery::new(&self.settings.secret)
            .body(body.to_string())
            .build();
        let instance = self.instance(rng);
        let attempt = self.send(Class::Oversized, instance, None, &delivery).await;
        self.record(vec![attempt]);
    }

    async fn slow_body(&self, rng: &mut Rng) {
        let event = self.new_event(rng, Class::SlowBody);
        let instance = self.instance(rng);
        let delivery = self.delivery(event);
        let total = Duration::from_millis(1000 + rng.below(1000) as u64);
        let chunks = 8 + rng.below(5);
        let start_us = now_us();
        let started = Instant::now();
        let port = self.settings.ports[instance];
        let outcome =
            match tokio::time::timeout(CLIENT_TIMEOUT, trickle(port, &delivery, total, chunks))
                .await
            {
                Ok(Ok(outcome)) => outcome,
                Ok(Err(error)) => Outcome::Transport(format!("slow client: {error}")),
                Err(_) => Outcome::Transport("slow client: timeout".to_owned()),
            };
        let attempt = Attempt {
            class: Class::SlowBody,
            instance,
            event: Some(event),
            start_us,
            end_us: now_us(),
            latency: started.elapsed(),
            outcome,
        };
        self.settle(rng, event, std::slice::from_ref(&attempt));
        self.record(vec![attempt]);
    }

    async fn send(
        &self,
        class: Class,
        instance: usize,
        event: Option<usize>,
        delivery: &Delivery,
    ) -> Attempt {
        let url = format!("http://127.0.0.1:{}{PATH}", self.settings.ports[instance]);
        let client = if class == Class::Oversized {
            &self.unpooled
        } else {
            &self.client
        };
        let mut request = client.post(url).body(delivery.body().to_vec());
        for (name, value) in delivery.headers() {
            request = request.header(*name, value);
        }
        let start_us = now_us();
        let started = Instant::now();
        let outcome = match request.send().await {
            Ok(response) => {
                let code = response.status().as_u16();
                let duplicate = response
                    .headers()
                    .get("x-webhook-duplicate")
                    .is_some_and(|value| value == "true");
                match response.text().await {
                    Ok(mut body) => {
                        body.truncate(200);
                        Outcome::Status {
                            code,
                            body,
                            duplicate,
                        }
                    }
                    Err(error) => {
                        Outcome::Transport(format!("{code} then body: {}", describe(&error)))
                    }
                }
            }
            Err(error) => Outcome::Transport(describe(&error)),
        };
        Attempt {
            class,
            instance,
            event,
            start_us,
            end_us: now_us(),
            latency: started.elapsed(),
            outcome,
        }
    }

    /// After a delivery round of a not-yet-acknowledged event: mark it acknowledged, or
    /// schedule RxScale's next try with exponential backoff.
    fn settle(&self, rng: &mut Rng, event: usize, attempts: &[Attempt]) {
        let mut events = lock(&self.events);
        let state = &mut events[event];
        state.deliveries += 1;
        if state.acked_at.is_some() || state.abandoned {
            return;
        }
        if let Some(ack) = attempts.iter().find(|a| a.outcome.is_success()) {
            state.acked_at = Some(ack.end_us);
            state.acked_by = Some(ack.instance);
            drop(events);
            lock(&self.acked).push(event);
            self.outstanding.fetch_sub(1, Ordering::SeqCst);
            return;
        }
        if state.deliveries >= MAX_DELIVERIES || Instant::now() > self.settings.drain_deadline {
            state.abandoned = true;
            drop(events);
            self.outstanding.fetch_sub(1, Ordering::SeqCst);
            return;
        }
        let exponent = state.deliveries.saturating_sub(1).min(8);
        drop(events);
        let backoff = Duration::from_millis(250 << exponent).min(MAX_BACKOFF);
        let due = Instant::now() + backoff.mul_f64(0.5 + rng.unit() * 0.5);
        lock(&self.retries).push(Reverse((due, event)));
    }

    fn due_retry(&self) -> Option<usize> {
        let mut retries = lock(&self.retries);
        match retries.peek() {
            Some(Reverse((due, _))) if *due <= Instant::now() => {
                retries.pop().map(|Reverse((_, event))| event)
            }
            _ => None,
        }
    }

    fn record(&self, attempts: Vec<Attempt>) {
        lock(&self.attempts).extend(attempts);
    }
}

/// Writes a genuine delivery by hand: the headers at once, then the body in `chunks` pieces
/// spread over `total`, then reads the whole answer (`Connection: close`).
async fn trickle(
    port: u16,
    delivery: &Delivery,
    total: Duration,
    chunks: usize,
) -> std::io::Result<Outcome> {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).await?;
    let body = delivery.body();
    let mut head = format!(
        "POST {PATH} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nContent-Length: {}\r\nConnection: close\r\n",
        body.len()
    );
    for (name, value) in delivery.headers() {
        head.push_str(&format!("{name}: {value}\r\n"));
    }
    head.push_str("\r\n");
    stream.write_all(head.as_bytes()).await?;
    let piece = body.len().div_ceil(chunks).max(1);
    let pause = total / u32::try_from(chunks).unwrap_or(1);
    for part in body.chunks(piece) {
        tokio::time::sleep(pause).await;
        stream.write_all(part).await?;
        stream.flush().await?;
    }
    let mut response = Vec::new();
    stream.read_to_end(&mut response).await?;
    let text = String::from_utf8_lossy(&response);
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    let code = head
        .split_whitespace()
        .nth(1)
        .and_then(|code| code.parse().ok())
        .ok_or_else(|| std::io::Error::other(format!("no status line in {head:?}")))?;
    let duplicate = head
        .lines()
        .any(|line| line.to_ascii_lowercase().replace(' ', "") == "x-webhook-duplicate:true");
    let mut body = body.to_owned();
    body.truncate(200);
    Ok(Outcome::Status {
        code,
        body,
        duplicate,
    })
}

async fn futures_join_all<F: std::future::Future<Output = Attempt>>(
    futures: impl Iterator<Item = F>,
) -> Vec<Attempt> {
    let mut pinned: Vec<_> = futures.map(Box::pin).collect();
    let mut results = Vec::with_capacity(pinned.len());
    // Polled together: each copy is in flight at the same time as the others.
    let mut outputs: Vec<Option<Attempt>> = (0..pinned.len()).map(|_| None).collect();
    std::future::poll_fn(|cx| {
        let mut pending = false;
        for (future, output) in pinned.iter_mut().zip(outputs.iter_mut()) {
            if output.is_none() {
                match future.as_mut().poll(cx) {
                    std::task::Poll::Ready(attempt) => *output = Some(attempt),
                    std::task::Poll::Pending => pending = true,
                }
            }
        }
        if pending {
            std::task::Poll::Pending
        } else {
            std::task::Poll::Ready(())
        }
    })
    .await;
    results.extend(outputs.into_iter().flatten());
    results
}

fn describe(error: &reqwest::Error) -> String {
    let kind = if error.is_connect() {
        "connect"
    } else if error.is_timeout() {
        "timeout"
    } else if error.is_body() || error.is_decode() {
        "body"
    } else {
        "request"
    };
    let mut source = std::error::Error::source(error);
    let mut root = String::new();
    while let Some(inner) = source {
        root = inner.to_string();
        source = inner.source();
    }
    format!("{kind}: {root}")
}

fn unix_now() -> i64 {
    i64::try_from(now_us() / 1_000_000).unwrap_or(i64::MAX)
}
