//! Metrics through the [`metrics`] facade: the rates and distributions operators watch.
//!
//! With the `metrics` feature on, the [`pipeline`](crate::pipeline) (and so every framework
//! adapter) emits the metrics below through the `metrics` crate's macros. This crate never
//! installs a recorder: your application picks the exporter (Prometheus, OpenTelemetry,
//! StatsD, ...) and installs it. Without a recorder every emission is a no-op; with the feature
//! off nothing of this module is compiled in.
//!
//! | name | type | unit | labels | meaning |
//! |---|---|---|---|---|
//! | `rxscale_webhook_deliveries_total` | counter | deliveries | `outcome` | Every delivery, counted once, by what became of it (see [`OUTCOMES`]). |
//! | `rxscale_webhook_verification_duration_seconds` | histogram | seconds | | Time to verify a body: size, signature, HMAC, envelope, time window, typed data. |
//! | `rxscale_webhook_handler_duration_seconds` | histogram | seconds | `event_type`, `status_class` | From the moment the handler may run to its answer (middleware and layers only). |
//! | `rxscale_webhook_sender_clock_skew_seconds` | histogram | seconds | | Our clock minus the event's `timestamp`, per verified delivery; negative when the sender's clock is ahead. |
//! | `rxscale_webhook_events_total` | counter | events | `event_type`, `payload_version` | Verified deliveries by event type and payload version. |
//! | `rxscale_webhook_replay_claims_total` | counter | claims | `result` | The replay guard's claims: `fresh`, `duplicate`, `in_flight`, `store_error`. |
//! | `rxscale_webhook_ledger_claims_total` | counter | claims | `outcome` | The sqlx ledger's claims: `fresh`, `duplicate`, `stale` or the error's code. |
//! | `rxscale_webhook_store_duration_seconds` | histogram | seconds | `store`, `operation` | One call to a store: `replay` (`claim`, `complete`, `release`) or `ledger` (`claim`). |
//! | `rxscale_webhook_secret_last_used_timestamp_seconds` | gauge | seconds since the Unix epoch | `fingerprint` | When a delivery last verified with this secret. |
//!
//! Label values come from fixed sets: an event type this SDK does not know is `unknown`, a
//! payload version other than `"1"` is `other`, and no dedup key, uid or other value of a
//! body ever becomes a label. A secret's [`Fingerprint`](crate::Fingerprint) is not secret; the
//! set is as large as the set of secrets you configure.
//!
//! Histograms need buckets that fit them: [`HANDLER_DURATION_BUCKETS`] resolve RxScale's
//! 5-second answer budget, [`DURATION_BUCKETS`] the sub-millisecond work of verification and
//! stores, [`CLOCK_SKEW_BUCKETS`] both directions of a clock's drift. Hand them to your
//! exporter, e.g. `metrics_exporter_prometheus::PrometheusBuilder::set_buckets_for_metric`.
//! Call [`describe`] once after installing the recorder to give every metric its help text and
//! unit.
//!
//! See `docs/observability.md` for a scrape configuration and alert rules.

use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use metrics::{
    Key, Label, Level, Metadata, Unit, counter, describe_counter, describe_gauge,
    describe_histogram, gauge, histogram,
};

use crate::OffsetDateTime;
use crate::error::ErrorKind;
use crate::event::EventType;
use crate::pipeline::Outcome;
use crate::replay::GuardAnswer;
use crate::verified::Verified;

/// Counter: every delivery, once, labelled `outcome`.
pub const DELIVERIES_TOTAL: &str = "rxscale_webhook_deliveries_total";
/// Histogram (seconds): time spent verifying a body.
pub const VERIFICATION_DURATION_SECONDS: &str = "rxscale_webhook_verification_duration_seconds";
/// Histogram (seconds): the handler's time, labelled `event_type` and `status_class`.
pub const HANDLER_DURATION_SECONDS: &str = "rxscale_webhook_handler_duration_seconds";
/// Histogram (seconds): our clock minus the verified event's `timestamp`.
pub const SENDER_CLOCK_SKEW_SECONDS: &str = "rxscale_webhook_sender_clock_skew_seconds";
/// Counter: verified deliveries, labelled `event_type` and `payload_version`.
pub const EVENTS_TOTAL: &str = "rxscale_webhook_events_total";
/// Counter: the replay guard's claims, labelled `result`.
pub const REPLAY_CLAIMS_TOTAL: &str = "rxscale_webhook_replay_claims_total";
/// Counter: the sqlx ledger's claims, labelled `outcome`.
pub const LEDGER_CLAIMS_TOTAL: &str = "rxscale_webhook_ledger_claims_total";
/// Histogram (seconds): one store call, labelled `store` and `operation`.
pub const STORE_DURATION_SECONDS: &str = "rxscale_webhook_store_duration_seconds";
/// Gauge (seconds since the Unix epoch): a secret's last successful use, labelled
/// `fingerprint`.
pub const SECRET_LAST_USED_TIMESTAMP_SECONDS: &str =
    "rxscale_webhook_secret_last_used_timestamp_seconds";

/// Every metric name, in the order of the table above.
pub const NAMES: &[&str] = &[
    DELIVERIES_TOTAL,
    VERIFICATION_DURATION_SECONDS,
    HANDLER_DURATION_SECONDS,
    SENDER_CLOCK_SKEW_SECONDS,
    EVENTS_TOTAL,
    REPLAY_CLAIMS_TOTAL,
    LEDGER_CLAIMS_TOTAL,
    STORE_DURATION_SECONDS,
    SECRET_LAST_USED_TIMESTAMP_SECONDS,
];

/// Every value of the `outcome` label of [`DELIVERIES_TOTAL`]:
///
/// - `handled`: the handler was called (whatever it answered; see
///   [`HANDLER_DURATION_SECONDS`]'s `status_class`);
/// - `duplicate`: answered without the handler by the replay guard, or by a handler whose
///   answer carries `X-Webhook-Duplicate: true` (the sqlx ledger's);
/// - `stale`: a handler's answer carrying `X-Webhook-Stale: true` (the sqlx ledger's);
/// - `in_flight`: the replay guard found a live claim (409);
/// - `store_unavailable`: the replay store failed and the guard fails closed (503);
/// - an [`ErrorKind::code`]: the delivery failed that check;
/// - `verifier_not_configured`: an extractor found no verifier for its route (500);
/// - `abandoned`: the request was dropped before anything was decided (the client went away
///   while its body was being read, a timeout, a shutdown).
pub const OUTCOMES: &[&str] = &[
    "handled",
    "duplicate",
    "stale",
    "in_flight",
    "store_unavailable",
    ErrorKind::BodyReadFailed.code(),
    ErrorKind::BodyTooLarge.code(),
    ErrorKind::BodyReadTimeout.code(),
    ErrorKind::MissingSignature.code(),
    ErrorKind::MalformedSignature.code(),
    ErrorKind::SignatureMismatch.code(),
    ErrorKind::MalformedPayload.code(),
    ErrorKind::Expired.code(),
    ErrorKind::FromFuture.code(),
    ErrorKind::InvalidEventData.code(),
    "verifier_not_configured",
    "abandoned",
];

/// Buckets (seconds) for [`HANDLER_DURATION_SECONDS`]: fine below a second, then every second
/// up to RxScale's 5-second budget, with 4.5 s to warn before it runs out.
pub const HANDLER_DURATION_BUCKETS: &[f64] = &[
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.0, 3.0, 4.0, 4.5, 5.0, 7.5, 10.0,
];

/// Buckets (seconds) for [`VERIFICATION_DURATION_SECONDS`] and [`STORE_DURATION_SECONDS`]: from
/// 10 µs (verifying a small body) to 5 s (a store timing out).
pub const DURATION_BUCKETS: &[f64] = &[
    0.000_01, 0.000_025, 0.000_05, 0.000_1, 0.000_25, 0.000_5, 0.001, 0.002_5, 0.005, 0.01, 0.025,
    0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0,
];

/// Buckets (seconds) for [`SENDER_CLOCK_SKEW_SECONDS`]: negative when the sender's clock is
/// ahead of ours, up to the default 5-minute future skew; positive for network delay, clock
/// lag and retries' backoff.
pub const CLOCK_SKEW_BUCKETS: &[f64] = &[
    -300.0, -60.0, -10.0, -2.0, -1.0, -0.5, 0.0, 0.5, 1.0, 2.0, 5.0, 10.0, 60.0, 300.0, 3600.0,
];

/// Gives every metric its help text and unit in the installed recorder. Call it once, after
/// installing the recorder; calling it without one does nothing.
pub fn describe() {
    describe_counter!(
        DELIVERIES_TOTAL,
        Unit::Count,
        "RxScale webhook deliveries, each counted once, by outcome"
    );
    describe_histogram!(
        VERIFICATION_DURATION_SECONDS,
        Unit::Seconds,
        "Time to verify an RxScale webhook body"
    );
    describe_histogram!(
        HANDLER_DURATION_SECONDS,
        Unit::Seconds,
        "Time from admission to the handler's answer; RxScale waits 5 s"
    );
    describe_histogram!(
        SENDER_CLOCK_SKEW_SECONDS,
        Unit::Seconds,
        "Receiver clock minus the verified event's timestamp"
    );
    describe_counter!(
        EVENTS_TOTAL,
        Unit::Count,
        "Verified RxScale webhook events by type and payload version"
    );
    describe_counter!(
        REPLAY_CLAIMS_TOTAL,
        Unit::Count,
        "Replay guard claims by result"
    );
    describe_counter!(
        LEDGER_CLAIMS_TOTAL,
        Unit::Count,
        "sqlx ledger claims by outcome"
    );
    describe_histogram!(
        STORE_DURATION_SECONDS,
        Unit::Seconds,
        "Duration of one replay store or ledger call"
    );
    describe_gauge!(
        SECRET_LAST_USED_TIMESTAMP_SECONDS,
        Unit::Seconds,
        "Unix time a delivery last verified with this signing secret"
    );
}

/// Records one call to a store: `store` names it (`replay`, `ledger`, or your own, from a fixed
/// set), `operation` the call (`claim`, `complete`, `release`, ...). For store crates and
/// adapters; the pipeline times the replay guard itself.
pub fn record_store_call(store: &'static str, operation: &'static str, elapsed: Duration) {
    histogram!(STORE_DURATION_SECONDS, "store" => store, "operation" => operation)
        .record(elapsed.as_secs_f64());
}

/// Records one claim of the sqlx ledger (or a ledger of your own): `outcome` is `fresh`,
/// `duplicate`, `stale`, or an error's code, from a fixed set.
pub fn record_ledger_claim(outcome: &'static str) {
    counter!(LEDGER_CLAIMS_TOTAL, "outcome" => outcome).increment(1);
}

/// The replay guard's claim: timed, and counted by result.
pub(crate) fn record_replay_claim(result: Result<bool, GuardAnswer>, elapsed: Duration) {
    let result = match result {
        Ok(true) => "fresh",
        Ok(false) | Err(GuardAnswer::StoreUnavailable) => "store_error",
        Err(GuardAnswer::Duplicate) => "duplicate",
        Err(GuardAnswer::InFlight) => "in_flight",
    };
    counter!(REPLAY_CLAIMS_TOTAL, "result" => result).increment(1);
    record_store_call("replay", "claim", elapsed);
}

/// The secret and the second the last-use gauge was last set for (see
/// [`DeliveryMetrics::verified`]).
static LAST_SECRET_SET: AtomicU64 = AtomicU64::new(u64::MAX);
static LAST_SECOND_SET: AtomicI64 = AtomicI64::new(i64::MIN);

// Keys of the fixed label sets, built at compile time: a `Key` carries its hash, so a static one
// costs the recorder no hashing and no label vector per emission (docs/benchmarks.md).
static METADATA: Metadata<'static> =
    Metadata::new(module_path!(), Level::INFO, Some(module_path!()));

macro_rules! one_label_keys {
    ($name:expr, $label:literal, [$($value:expr),* $(,)?]) => {
        [$(Key::from_static_parts($name, {
            static LABELS: [Label; 1] = [Label::from_static_parts($label, $value)];
            &LABELS
        })),*]
    };
}

macro_rules! two_label_keys {
    ($name:expr, $first:literal, [$($one:literal),*], $second:literal, $others:tt) => {
        [$(two_label_keys!(@row $name, $first, $one, $second, $others)),*]
    };
    (@row $name:expr, $first:literal, $one:literal, $second:literal, [$($other:literal),*]) => {
        [$(Key::from_static_parts($name, {
            static LABELS: [Label; 2] =
                [Label::from_static_parts($first, $one), Label::from_static_parts($second, $other)];
            &LABELS
        })),*]
    };
}

static DELIVERY_KEYS: [Key; 17] = one_label_keys!(
    DELIVERIES_TOTAL,
    "outcome",
    [
        "handled",
        "duplicate",
        "stale",
        "in_flight",
        "store_unavailable",
        "body_read_failed",
        "body_too_large",
        "body_read_timeout",
        "missing_signature",
        "malformed_signature",
        "signature_mismatch",
        "malformed_payload",
        "expired",
        "from_future",
        "invalid_event_data",
        "verifier_not_configured",
        "abandoned",
    ]
);

/// The `event_type` label's values: every [`EventType`], then `unknown`.
const EVENT_TYPE_LABELS: [&str; 6] = [
    "pharmacy_order_created",
    "pharmacy_order_updated",
    "pharmacy_sku_stock_updated",
    "patient_doctor_meeting_updated",
    "appointment_reminder_due",
    "unknown",
];

static EVENT_KEYS: [[Key; 2]; 6] = two_label_keys!(
    EVENTS_TOTAL,
    "event_type",
    [
        "pharmacy_order_created",
        "pharmacy_order_updated",
        "pharmacy_sku_stock_updated",
        "patient_doctor_meeting_updated",
        "appointment_reminder_due",
        "unknown"
    ],
    "payload_version",
    ["1", "other"]
);

/// The `status_class` label's values.
const STATUS_CLASSES: [&str; 5] = ["1xx", "2xx", "3xx", "4xx", "5xx"];

static HANDLER_KEYS: [[Key; 5]; 6] = two_label_keys!(
    HANDLER_DURATION_SECONDS,
    "event_type",
    [
        "pharmacy_order_created",
        "pharmacy_order_updated",
        "pharmacy_sku_stock_updated",
        "patient_doctor_meeting_updated",
        "appointment_reminder_due",
        "unknown"
    ],
    "status_class",
    ["1xx", "2xx", "3xx", "4xx", "5xx"]
);

static VERIFICATION_KEY: Key = Key::from_static_name(VERIFICATION_DURATION_SECONDS);
static SKEW_KEY: Key = Key::from_static_name(SENDER_CLOCK_SKEW_SECONDS);

fn position(values: &[&str], value: &str) -> usize {
    values
        .iter()
        .position(|v| *v == value)
        .unwrap_or(values.len() - 1)
}

fn increment(key: &'static Key) {
    metrics::with_recorder(|recorder| recorder.register_counter(key, &METADATA).increment(1));
}

fn record(key: &'static Key, value: f64) {
    metrics::with_recorder(|recorder| recorder.register_histogram(key, &METADATA).record(value));
}

/// `X-Webhook-Stale`, the sqlx ledger's mark on a stale event's answer.
const STALE_HEADER: &str = "x-webhook-stale";

/// What a handler's answer says about the delivery.
#[derive(Debug, Clone, Copy)]
struct Answer {
    seconds: f64,
    status_class: &'static str,
    marked: Option<&'static str>,
}

/// One delivery's metrics, shared by the clones of its [`Delivery`](crate::pipeline::Delivery).
/// `None` for a delivery a middleware in front has counted already.
#[derive(Debug, Clone)]
pub(crate) struct DeliveryMetrics(Option<Arc<Mutex<DeliveryState>>>);

#[derive(Debug)]
struct DeliveryState {
    outcome: Option<Outcome>,
    event_type: &'static str,
    handler_started: Option<Instant>,
    answer: Option<Answer>,
    counted: bool,
}

impl DeliveryMetrics {
    pub(crate) fn counted() -> Self {
        DeliveryMetrics(Some(Arc::new(Mutex::new(DeliveryState {
            outcome: None,
            event_type: "unknown",
            handler_started: None,
            answer: None,
            counted: false,
        }))))
    }

    pub(crate) fn nested() -> Self {
        DeliveryMetrics(None)
    }

    fn with(&self, f: impl FnOnce(&mut DeliveryState)) {
        if let Some(state) = &self.0 {
            f(&mut state.lock().unwrap_or_else(PoisonError::into_inner));
        }
    }

    pub(crate) fn record(&self, outcome: Outcome) {
        self.with(|state| {
            state.outcome = Some(outcome);
            if runs_handler(outcome) {
                state.handler_started = Some(Instant::now());
            }
        });
    }

    pub(crate) fn verification_failed(&self, started: Instant) {
        if self.0.is_some() {
            record(&VERIFICATION_KEY, started.elapsed().as_secs_f64());
        }
    }

    pub(crate) fn verified<T>(
        &self,
        started: Instant,
        verified: &Verified<T>,
        now: OffsetDateTime,
    ) {
        let Some(state) = &self.0 else {
            return;
        };
        record(&VERIFICATION_KEY, started.elapsed().as_secs_f64());
        let event_type =
            EventType::from_wire(verified.event_type()).map_or("unknown", EventType::as_str);
        state
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .event_type = event_type;
        let payload_version = match verified.payload_version() {
            // The spec's default when the field is absent.
            None | Some("1") => 0,
            Some(_) => 1,
        };
        increment(&EVENT_KEYS[position(&EVENT_TYPE_LABELS, event_type)][payload_version]);
        record(&SKEW_KEY, (now - verified.timestamp()).as_seconds_f64());
        // The gauge holds whole seconds: set it once per second and secret, not per delivery.
        let second = now.unix_timestamp();
        let fingerprint = verified.fingerprint();
        let key = fingerprint.to_bits();
        if LAST_SECRET_SET.swap(key, Ordering::Relaxed) != key
            || LAST_SECOND_SET.swap(second, Ordering::Relaxed) != second
        {
            gauge!(
                SECRET_LAST_USED_TIMESTAMP_SECONDS,
                "fingerprint" => fingerprint.to_label()
            )
            .set(second as f64);
        }
    }

    pub(crate) fn answered(&self, status: u16, stale: bool, duplicate: bool) {
        self.with(|state| {
            let seconds = state
                .handler_started
                .map_or(0.0, |started| started.elapsed().as_secs_f64());
            let marked = if stale {
                Some("stale")
            } else if duplicate {
                Some("duplicate")
            } else {
                None
            };
            state.answer = Some(Answer {
                seconds,
                status_class: status_class(status),
                marked,
            });
        });
    }

    pub(crate) fn finish(&self) {
        self.with(DeliveryState::count);
    }
}

/// The header lookup's verdict on `name: true`.
pub(crate) fn marked<'h, I>(headers: &impl Fn(&'static str) -> I) -> (bool, bool)
where
    I: IntoIterator<Item = &'h [u8]>,
{
    let is_true = |name| {
        headers(name)
            .into_iter()
            .any(|value: &[u8]| value.trim_ascii().eq_ignore_ascii_case(b"true"))
    };
    (
        is_true(STALE_HEADER),
        is_true(crate::replay::DUPLICATE_HEADER),
    )
}

impl DeliveryState {
    fn count(&mut self) {
        if std::mem::replace(&mut self.counted, true) {
            return;
        }
        let outcome = match self.outcome {
            None => "abandoned",
            Some(outcome) if runs_handler(outcome) => self
                .answer
                .and_then(|answer| answer.marked)
                .unwrap_or("handled"),
            Some(Outcome::Answered(GuardAnswer::StoreUnavailable)) => "store_unavailable",
            Some(outcome) => outcome.code(),
        };
        increment(&DELIVERY_KEYS[position(OUTCOMES, outcome)]);
        if let Some(answer) = self.answer {
            let event_type = position(&EVENT_TYPE_LABELS, self.event_type);
            let status_class = position(&STATUS_CLASSES, answer.status_class);
            record(&HANDLER_KEYS[event_type][status_class], answer.seconds);
        }
    }
}

impl Drop for DeliveryState {
    /// A delivery whose future was dropped before it finished still counts, once.
    fn drop(&mut self) {
        self.count();
    }
}

fn runs_handler(outcome: Outcome) -> bool {
    matches!(
        outcome,
        Outcome::Accepted | Outcome::PassedThrough | Outcome::AcceptedUnguarded
    )
}

fn status_class(status: u16) -> &'static str {
    match status {
        100..=199 => "1xx",
        200..=299 => "2xx",
        300..=399 => "3xx",
        400..=499 => "4xx",
        _ => "5xx",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_outcome_code_is_listed() {
        for kind in ErrorKind::ALL {
            assert!(OUTCOMES.contains(&kind.code()), "{kind}");
        }
        for answer in [GuardAnswer::Duplicate, GuardAnswer::InFlight] {
            assert!(OUTCOMES.contains(&answer.code()));
        }
        assert!(OUTCOMES.contains(&Outcome::VerifierNotConfigured.code()));
    }

    type Snapshot = Vec<(
        metrics_util::CompositeKey,
        Option<metrics::Unit>,
        Option<metrics::SharedString>,
        metrics_util::debugging::DebugValue,
    )>;

    /// The value of every counter series of `name`, as `(labels, count)`. Taking a snapshot
    /// resets the debugging recorder's values: take one per test.
    fn counters(snapshot: &Snapshot, name: &str) -> Vec<(Vec<(String, String)>, u64)> {
        use metrics_util::debugging::DebugValue;
        let mut found: Vec<_> = snapshot
            .iter()
            .filter(|(key, ..)| key.key().name() == name)
            .map(|(key, _, _, value)| {
                let labels = key
                    .key()
                    .labels()
                    .map(|l| (l.key().to_owned(), l.value().to_owned()))
                    .collect();
                let DebugValue::Counter(count) = *value else {
                    panic!("{name} is a counter");
                };
                (labels, count)
            })
            .collect();
        found.sort();
        found
    }

    fn outcome(value: &str, count: u64) -> (Vec<(String, String)>, u64) {
        (vec![("outcome".to_owned(), value.to_owned())], count)
    }

    #[test]
    fn answers_marked_stale_or_duplicate_dropped_and_nested_deliveries() {
        use crate::pipeline::Delivery;
        let recorder = metrics_util::debugging::DebuggingRecorder::new();
        let snapshotter = recorder.snapshotter();
        metrics::with_local_recorder(&recorder, || {
            let stale = Delivery::start();
            stale.record(Outcome::Accepted);
            stale.record_answer(200, |name| {
                (name == "x-webhook-stale")
                    .then_some(&b"true"[..])
                    .into_iter()
            });
            stale.finish();
            stale.finish(); // once only

            let duplicate = Delivery::start();
            let claim_side = duplicate.clone();
            claim_side.record(Outcome::AcceptedUnguarded);
            duplicate.record_answer(200, |name| {
                (name == "x-webhook-duplicate")
                    .then_some(&b" TRUE "[..])
                    .into_iter()
            });
            drop(claim_side);
            duplicate.finish();

            // Dropped while the handler ran (a timeout layer), and before anything was decided.
            let running = Delivery::start();
            running.record(Outcome::PassedThrough);
            drop(running);
            drop(Delivery::start());

            // An extractor behind the middleware: nothing.
            let nested = Delivery::start_nested();
            nested.record(Outcome::Rejected(ErrorKind::InvalidEventData));
            nested.finish();

            let handled = Delivery::start();
            handled.record(Outcome::Accepted);
            handled.record_answer(500, |_| std::iter::empty());
            handled.finish();

            let closed = Delivery::start();
            closed.record(Outcome::Answered(GuardAnswer::StoreUnavailable));
            closed.finish();
        });
        assert_eq!(
            counters(&snapshotter.snapshot().into_vec(), DELIVERIES_TOTAL),
            vec![
                outcome("abandoned", 1),
                outcome("duplicate", 1),
                outcome("handled", 2),
                outcome("stale", 1),
                outcome("store_unavailable", 1),
            ]
        );
    }

    #[test]
    fn store_and_ledger_records() {
        let recorder = metrics_util::debugging::DebuggingRecorder::new();
        let snapshotter = recorder.snapshotter();
        metrics::with_local_recorder(&recorder, || {
            record_ledger_claim("stale");
            record_ledger_claim("fresh");
            record_ledger_claim("fresh");
            record_replay_claim(Ok(false), Duration::from_millis(1));
        });
        let snapshot = snapshotter.snapshot().into_vec();
        assert_eq!(
            counters(&snapshot, LEDGER_CLAIMS_TOTAL),
            vec![outcome("fresh", 2), outcome("stale", 1)]
        );
        assert_eq!(
            counters(&snapshot, REPLAY_CLAIMS_TOTAL),
            vec![(vec![("result".to_owned(), "store_error".to_owned())], 1)]
        );
    }

    #[test]
    fn fingerprint_label_is_its_display() {
        let fingerprint = crate::SigningSecret::new("whsec_abc123").fingerprint();
        assert_eq!(fingerprint.to_label(), fingerprint.to_string());
    }

    #[test]
    fn static_keys_cover_every_label_value() {
        assert_eq!(DELIVERY_KEYS.len(), OUTCOMES.len());
        for (key, outcome) in DELIVERY_KEYS.iter().zip(OUTCOMES) {
            assert_eq!(key.labels().next().map(Label::value), Some(*outcome));
        }
        for (row, event_type) in HANDLER_KEYS.iter().zip(EVENT_TYPE_LABELS) {
            for (key, class) in row.iter().zip(STATUS_CLASSES) {
                let labels: Vec<_> = key.labels().map(Label::value).collect();
                assert_eq!(labels, [event_type, class]);
            }
        }
        for known in EventType::ALL {
            assert!(EVENT_TYPE_LABELS.contains(&known.as_str()));
        }
        assert_eq!(EVENT_TYPE_LABELS.len(), EventType::ALL.len() + 1);
        let labels: Vec<_> = EVENT_KEYS[5][1].labels().map(Label::value).collect();
        assert_eq!(labels, ["unknown", "other"]);
    }

    #[test]
    fn buckets_are_sorted() {
        for buckets in [
            HANDLER_DURATION_BUCKETS,
            DURATION_BUCKETS,
            CLOCK_SKEW_BUCKETS,
        ] {
            assert!(buckets.windows(2).all(|pair| pair[0] < pair[1]));
        }
        assert!(HANDLER_DURATION_BUCKETS.contains(&5.0));
    }
}
