//! The delivery span and its typed [`Outcome`].

use std::time::Instant;

use tracing::{Span, field};

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
#[derive(Debug, Clone)]
pub struct Delivery {
    span: Span,
    started: Instant,
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
    }

    /// Records how long the delivery took; call it when the answer is ready.
    pub fn finish(&self) {
        self.span
            .record("elapsed", field::debug(self.started.elapsed()));
    }

    pub(crate) fn record_verified<T>(&self, verified: &Verified<T>) {
        self.span.record("event_type", verified.event_type());
        self.span.record("dedup_key", verified.dedup_key().as_str());
        self.span
            .record("fingerprint", field::display(verified.fingerprint()));
    }
}
