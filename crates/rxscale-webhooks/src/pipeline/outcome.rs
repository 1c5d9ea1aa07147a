//! The delivery span and its typed [`Outcome`].

use std::time::Instant;

use tracing::{Span, field};

use crate::OffsetDateTime;
use crate::error::ErrorKind;
use crate::replay::GuardAnswer;
use crate::verified::Verified;

/// What became of a delivery, as recorded in the `outcome` field of its span.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Outcome {
    /// Verified and decoded; the handler runs (`accepted`).
    Accepted,
    /// Verified, `data` undecodable, passed through as an
    /// [`UndecodedEvent`](crate::UndecodedEvent) (`passed_through`).
    PassedThrough,
    /// Verified; the replay store failed open, so the handler runs without deduplication
    /// (`accepted_unguarded`).
    AcceptedUnguarded,
    /// A check failed; the code is the kind's (`signature_mismatch`, ...).
    Rejected(ErrorKind),
    /// The replay guard answered (`duplicate`, `in_flight`, `replay_store_unavailable`).
    Answered(GuardAnswer),
    /// No verifier is registered for the route (`verifier_not_configured`).
    VerifierNotConfigured,
}

impl Outcome {
    /// The snake_case code recorded in the span.
    #[must_use]
    pub const fn code(self) -> &'static str {
        match self {
            Outcome::Accepted => "accepted",
            Outcome::PassedThrough => "passed_through",
            Outcome::AcceptedUnguarded => "accepted_unguarded",
            Outcome::Rejected(kind) => kind.code(),
            Outcome::Answered(answer) => answer.code(),
            Outcome::VerifierNotConfigured => "verifier_not_configured",
        }
    }
}

/// One delivery's span (`rxscale_webhook`) and clock. Every adapter opens one per request and
/// runs its work inside [`span`](Delivery::span), so that logs look the same on every framework.
///
/// The span's fields are filled in as they become known: `event_type`, `dedup_key` and
/// `fingerprint` after verification, `outcome` once it is decided, `elapsed` at the end. None of
/// them is secret or personal.
///
/// With the `metrics` feature, it also counts the delivery in
/// `rxscale_webhook_deliveries_total` (see `rxscale_webhooks::metrics`), once, when it
/// [`finish`](Delivery::finish)es (or, if it never does, when its last clone is dropped).
#[derive(Debug, Clone)]
pub struct Delivery {
    span: Span,
    started: Instant,
    #[cfg(feature = "metrics")]
    metrics: crate::metrics::DeliveryMetrics,
}

impl Default for Delivery {
    fn default() -> Self {
        Delivery::start()
    }
}

impl Delivery {
    /// Opens the span and starts the clock.
    #[must_use]
    pub fn start() -> Self {
        Delivery::open(
            #[cfg(feature = "metrics")]
            crate::metrics::DeliveryMetrics::counted(),
        )
    }

    /// A delivery that a middleware in front of this code has opened and counts already, such
    /// as an extractor checking again, as its own type, the bytes the middleware verified: its
    /// span and logs as usual, but no metrics, so that one delivery counts once.
    #[must_use]
    pub fn start_nested() -> Self {
        Delivery::open(
            #[cfg(feature = "metrics")]
            crate::metrics::DeliveryMetrics::nested(),
        )
    }

    fn open(#[cfg(feature = "metrics")] metrics: crate::metrics::DeliveryMetrics) -> Self {
        Delivery {
            span: tracing::info_span!(
                target: "rxscale_webhooks",
                "rxscale_webhook",
                event_type = field::Empty,
                dedup_key = field::Empty,
                fingerprint = field::Empty,
                outcome = field::Empty,
                elapsed = field::Empty,
            ),
            started: Instant::now(),
            #[cfg(feature = "metrics")]
            metrics,
        }
    }

    /// The delivery's span: enter it, or instrument the adapter's future with it.
    #[must_use]
    pub fn span(&self) -> &Span {
        &self.span
    }

    /// Records the outcome.
    pub fn record(&self, outcome: Outcome) {
        self.span.record("outcome", outcome.code());
        #[cfg(feature = "metrics")]
        self.metrics.record(outcome);
    }

    /// Records the answer of the handler (the wrapped service) of an admitted delivery: its
    /// status and a header lookup of its response, in the shape [`Pipeline::check`]
    /// takes. Call it when the handler has answered, before
    /// [`settle`](crate::pipeline::settle)ment. With the `metrics` feature it times the handler,
    /// and an answer marked `X-Webhook-Stale: true` or `X-Webhook-Duplicate: true` (as the sqlx
    /// ledger's are) counts as `stale` or `duplicate` instead of `handled`; without it, it does
    /// nothing.
    ///
    /// [`Pipeline::check`]: crate::pipeline::Pipeline::check
    pub fn record_answer<'h, I>(&self, status: u16, headers: impl Fn(&'static str) -> I)
    where
        I: IntoIterator<Item = &'h [u8]>,
    {
        #[cfg(feature = "metrics")]
        {
            let (stale, duplicate) = crate::metrics::marked(&headers);
            self.metrics.answered(status, stale, duplicate);
        }
        #[cfg(not(feature = "metrics"))]
        let _ = (status, headers);
    }

    /// Records how long the delivery took; call it when the answer is ready.
    pub fn finish(&self) {
        self.span
            .record("elapsed", field::debug(self.started.elapsed()));
        #[cfg(feature = "metrics")]
        self.metrics.finish();
    }

    pub(crate) fn record_verified<T>(
        &self,
        verified: &Verified<T>,
        watch: Stopwatch,
        now: OffsetDateTime,
    ) {
        self.span.record("event_type", verified.event_type());
        self.span.record("dedup_key", verified.dedup_key().as_str());
        self.span
            .record("fingerprint", field::display(verified.fingerprint()));
        #[cfg(feature = "metrics")]
        self.metrics.verified(watch.started, verified, now);
        #[cfg(not(feature = "metrics"))]
        let _ = (watch, now);
    }

    pub(crate) fn record_verification_failed(&self, watch: Stopwatch) {
        #[cfg(feature = "metrics")]
        self.metrics.verification_failed(watch.started);
        #[cfg(not(feature = "metrics"))]
        let _ = watch;
    }
}

/// When verification started; nothing at all without the `metrics` feature.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Stopwatch {
    #[cfg(feature = "metrics")]
    started: Instant,
}

impl Stopwatch {
    pub(crate) fn start() -> Self {
        Stopwatch {
            #[cfg(feature = "metrics")]
            started: Instant::now(),
        }
    }
}
