//! The delivery pipeline every framework adapter runs: one implementation of reading, checking,
//! guarding and logging a delivery, so that the tower layer, the axum extractor, the actix-web
//! middleware and extractor, and any adapter you write for another framework, answer and log
//! each delivery the same way.
//!
//! An adapter only translates. Per request it
//!
//! 1. opens a [`Delivery`] (the span and the clock) and runs inside its span;
//! 2. takes a [`BodyReader`] from [`Pipeline::body_reader`], which refuses a too-large
//!    `Content-Length` before a byte is read, and pushes the body's data frames into it; a frame
//!    that fails to arrive is [`body_read_failed`];
//! 3. calls [`Pipeline::check`] with a header lookup and the body, and gets a
//!    [`CheckedDelivery`] to put in the request, or a [`Rejection`];
//! 4. with a replay guard, awaits [`Pipeline::claim`]'s [`Claim::admit`], runs the handler,
//!    records its answer with [`Delivery::record_answer`], and [`settle`]s the admission with
//!    whether it answered 2xx ([`Pipeline::check_and_admit`] does steps 3 and 4's admission in
//!    one call, for an adapter that can await between the body and the handler);
//! 5. turns a [`Rejection`] into its framework's response: [`Rejection::status`], every header
//!    of [`Rejection::headers`], and [`Rejection::body`]; records
//!    [`Rejection::outcome`] with [`Delivery::record`]; then calls [`Delivery::finish`].
//!
//! A header lookup is any `Fn(&'static str) -> impl IntoIterator<Item = &[u8]>` returning every
//! value of the header with that (lowercase) name, for instance
//! `|name| headers.get_all(name).iter().map(HeaderValue::as_bytes)` over an `http::HeaderMap`.
//!
//! ```
//! use rxscale_webhooks::pipeline::{Delivery, Pipeline};
//! use rxscale_webhooks::testing::TestDelivery;
//! use rxscale_webhooks::{EventType, SigningSecret, Verifier};
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let secret = SigningSecret::new("whsec_abc123");
//! let pipeline = Pipeline::new(Verifier::builder().secret(secret.clone()).build()?);
//! let request = TestDelivery::new(&secret).event(EventType::PharmacyOrderCreated).build();
//! let headers = |name: &'static str| {
//!     request.headers().iter().filter(move |(n, _)| *n == name).map(|(_, v)| v.as_bytes())
//! };
//!
//! let delivery = Delivery::start();
//! let mut reader = pipeline.body_reader(None)?;
//! reader.push(request.body())?;
//! let body = reader.finish();
//! let checked = pipeline.check(headers, &body, &delivery)?;
//! assert_eq!(checked.dedup_key().as_str().split(':').next(), Some("pharmacy_order_created"));
//! delivery.finish();
//! # Ok(())
//! # }
//! ```

mod body;
mod outcome;
mod rejection;

use std::time::Duration;

use serde::de::DeserializeOwned;
use serde_json::value::RawValue;

pub use body::{
    BodyReader, DISCARD_AFTER_REJECTION_BYTES, DISCARD_AFTER_REJECTION_TIME, body_read_failed,
};
use outcome::Stopwatch;
pub use outcome::{Delivery, Outcome};
pub use rejection::Rejection;

use crate::OffsetDateTime;
use crate::error::{Error, ErrorKind};
use crate::replay::{Admission, ReplayGuard};
use crate::signature::{EVENT_HEADER, SIGNATURE_HEADER};
use crate::undecoded::UndecodedEvent;
use crate::verified::{DedupKey, Verified};
use crate::verifier::Verifier;

/// What every delivery of a route is checked with: the [`Verifier`], the optional
/// [`ReplayGuard`], and whether undecodable data passes through.
///
/// Cheap to clone (a few `Arc`s): an adapter's layer or middleware holds one.
#[must_use]
#[derive(Debug, Clone)]
pub struct Pipeline {
    verifier: Verifier,
    replay_guard: Option<ReplayGuard>,
    completed_ttl: Duration,
    pass_invalid_event_data: bool,
}

impl Pipeline {
    /// A pipeline checking with `verifier`: no replay guard, undecodable data rejected.
    pub fn new(verifier: Verifier) -> Self {
        Pipeline {
            verifier,
            replay_guard: None,
            completed_ttl: Duration::ZERO,
            pass_invalid_event_data: false,
        }
    }

    /// Whether an authentic, fresh delivery of a known event type whose `data` does not decode
    /// ([`ErrorKind::InvalidEventData`]) is let through as an [`UndecodedEvent`] instead of being
    /// rejected with 422.
    ///
    /// Default: `false`.
    pub fn pass_invalid_event_data(mut self, pass: bool) -> Self {
        self.pass_invalid_event_data = pass;
        self
    }

    /// Runs every verified delivery through `guard`. The time completed keys are remembered
    /// ([`ReplayGuard::completed_ttl_for`] this pipeline's verifier) is computed here, once.
    ///
    /// Default: none.
    pub fn replay_guard(mut self, guard: ReplayGuard) -> Self {
        self.completed_ttl = guard.completed_ttl_for(&self.verifier);
        self.replay_guard = Some(guard);
        self
    }

    /// The verifier.
    #[must_use]
    pub fn verifier(&self) -> &Verifier {
        &self.verifier
    }

    /// The replay guard, if any.
    #[must_use]
    pub fn guard(&self) -> Option<&ReplayGuard> {
        self.replay_guard.as_ref()
    }

    /// Whether undecodable data passes through.
    #[must_use]
    pub fn passes_invalid_event_data(&self) -> bool {
        self.pass_invalid_event_data
    }

    /// How long the replay guard remembers a completed key; zero without a guard.
    #[must_use]
    pub fn completed_ttl(&self) -> Duration {
        self.completed_ttl
    }

    /// A reader for a body declared `declared_length` bytes long (the `Content-Length`, or the
    /// body's own size hint; the larger when both are known), within the verifier's
    /// `max_body_bytes`.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::BodyTooLarge`] when the declared length passes the limit: refuse the request
    /// without reading its body.
    pub fn body_reader(&self, declared_length: Option<u64>) -> Result<BodyReader, Rejection> {
        self.body_reader_within(declared_length, self.verifier.max_body_bytes())
    }

    /// [`Pipeline::body_reader`] with a limit of its own, for frameworks that have one too
    /// (axum's `DefaultBodyLimit`): the smaller limit wins.
    ///
    /// # Errors
    ///
    /// As [`Pipeline::body_reader`].
    pub fn body_reader_within(
        &self,
        declared_length: Option<u64>,
        limit: usize,
    ) -> Result<BodyReader, Rejection> {
        let limit = limit.min(self.verifier.max_body_bytes());
        if let Some(length) = declared_length.filter(|&length| length > limit as u64) {
            let error = Error::with_detail(
                ErrorKind::BodyTooLarge,
                format!("declared {length} bytes, limit {limit}; the body is not read"),
            );
            crate::verifier::log_rejection(&error, &self.verifier);
            return Err(error.into());
        }
        Ok(BodyReader::new(
            limit,
            declared_length,
            self.verifier.body_read_timeout(),
        ))
    }

    /// Checks a whole body: verifies it against every `X-Webhook-Signature` value, records the
    /// result in `delivery`'s span, warns about a disagreeing `X-Webhook-Event`, and, with
    /// [`pass_invalid_event_data`](Pipeline::pass_invalid_event_data), lets an
    /// [`ErrorKind::InvalidEventData`] through as [`CheckedDelivery::Undecoded`].
    ///
    /// Without a replay guard the outcome is recorded here; with one, [`Claim::admit`] records
    /// the guard's decision instead. A rejection is logged once, at info level; the adapter
    /// records it in the span with `delivery.record(rejection.outcome())` when it answers.
    ///
    /// # Errors
    ///
    /// The rejection to answer with.
    pub fn check<'h, I>(
        &self,
        headers: impl Fn(&'static str) -> I,
        body: &[u8],
        delivery: &Delivery,
    ) -> Result<CheckedDelivery, Rejection>
    where
        I: IntoIterator<Item = &'h [u8]>,
    {
        let now = OffsetDateTime::now_utc();
        let watch = Stopwatch::start();
        let verifier = &self.verifier;
        let checked = match verifier.verify_quietly(body, headers(SIGNATURE_HEADER), now) {
            Ok(verified) => CheckedDelivery::Decoded(verified),
            Err(error)
                if error.kind() == ErrorKind::InvalidEventData && self.pass_invalid_event_data =>
            {
                let raw = verifier
                    .verify_as_quietly::<Box<RawValue>>(body, headers(SIGNATURE_HEADER), now)
                    .map_err(|error| self.reject(error, delivery, watch))?;
                CheckedDelivery::Undecoded(UndecodedEvent::new(raw, error))
            }
            Err(error) => return Err(self.reject(error, delivery, watch)),
        };
        let (event_type, outcome) = match &checked {
            CheckedDelivery::Decoded(verified) => {
                delivery.record_verified(verified, watch, now);
                (verified.event_type(), Outcome::Accepted)
            }
            CheckedDelivery::Undecoded(undecoded) => {
                delivery.record_verified(undecoded.verified(), watch, now);
                (undecoded.verified().event_type(), Outcome::PassedThrough)
            }
        };
        if self.replay_guard.is_none() {
            delivery.record(outcome);
        }
        warn_on_event_header_mismatch(headers(EVENT_HEADER), event_type);
        Ok(checked)
    }

    /// [`Pipeline::check`] for extractors: the typed [`Verified`] event, never passed through,
    /// and no guard runs (an extractor never sees the handler's answer): the outcome is
    /// `accepted`.
    ///
    /// # Errors
    ///
    /// The rejection to answer with.
    pub fn check_event<'h, I>(
        &self,
        headers: impl Fn(&'static str) -> I,
        body: &[u8],
        delivery: &Delivery,
    ) -> Result<Verified, Rejection>
    where
        I: IntoIterator<Item = &'h [u8]>,
    {
        let now = OffsetDateTime::now_utc();
        let watch = Stopwatch::start();
        let verified = self
            .verifier
            .verify_quietly(body, headers(SIGNATURE_HEADER), now)
            .map_err(|error| self.reject(error, delivery, watch))?;
        self.accepted(headers, &verified, delivery, watch, now);
        Ok(verified)
    }

    /// [`Pipeline::check`] with `data` decoded as your own `T`, for extractors such as
    /// `VerifiedAs<T>`. Nothing passes through and no guard runs: the outcome is `accepted`.
    ///
    /// # Errors
    ///
    /// The rejection to answer with; a `data` that does not fit `T` is
    /// [`ErrorKind::InvalidEventData`].
    pub fn check_as<'h, T, I>(
        &self,
        headers: impl Fn(&'static str) -> I,
        body: &[u8],
        delivery: &Delivery,
    ) -> Result<Verified<T>, Rejection>
    where
        T: DeserializeOwned,
        I: IntoIterator<Item = &'h [u8]>,
    {
        let now = OffsetDateTime::now_utc();
        let watch = Stopwatch::start();
        let verified = self
            .verifier
            .verify_as_quietly::<T>(body, headers(SIGNATURE_HEADER), now)
            .map_err(|error| self.reject(error, delivery, watch))?;
        self.accepted(headers, &verified, delivery, watch, now);
        Ok(verified)
    }

    fn accepted<'h, T, I>(
        &self,
        headers: impl Fn(&'static str) -> I,
        verified: &Verified<T>,
        delivery: &Delivery,
        watch: Stopwatch,
        now: OffsetDateTime,
    ) where
        I: IntoIterator<Item = &'h [u8]>,
    {
        delivery.record_verified(verified, watch, now);
        delivery.record(Outcome::Accepted);
        warn_on_event_header_mismatch(headers(EVENT_HEADER), verified.event_type());
    }

    /// What the replay guard claims the delivery with; `None` without a guard.
    #[must_use]
    pub fn claim(&self, checked: &CheckedDelivery, delivery: &Delivery) -> Option<Claim> {
        let guard = self.replay_guard.as_ref()?;
        Some(Claim {
            guard: guard.clone(),
            key: checked.dedup_key().as_str().to_owned(),
            completed_ttl: self.completed_ttl,
            fresh: checked.outcome(),
            delivery: delivery.clone(),
        })
    }

    /// [`check`](Self::check), then, with a replay guard, [`claim`](Self::claim) and
    /// [`Claim::admit`]: the whole door, for an adapter that can wait for the store before it
    /// calls its handler. Hold the admission across the handler and [`settle`] it with the
    /// handler's answer; dropped unsettled, it releases the claim. No admission: no guard, or
    /// the store failed open.
    ///
    /// # Errors
    ///
    /// The rejection to answer with: the check's, or the guard's.
    pub async fn check_and_admit<'h, I>(
        &self,
        headers: impl Fn(&'static str) -> I,
        body: &[u8],
        delivery: &Delivery,
    ) -> Result<(CheckedDelivery, Option<Admission>), Rejection>
    where
        I: IntoIterator<Item = &'h [u8]>,
    {
        let checked = self.check(headers, body, delivery)?;
        let admission = match self.claim(&checked, delivery) {
            Some(claim) => claim.admit().await?,
            None => None,
        };
        Ok((checked, admission))
    }

    fn reject(&self, error: Error, delivery: &Delivery, watch: Stopwatch) -> Rejection {
        delivery.record_verification_failed(watch);
        crate::verifier::log_rejection(&error, &self.verifier);
        error.into()
    }
}

/// `X-Webhook-Event` is not signed: the body's `event_type` wins and a disagreeing header is
/// only worth a warning. Rejecting would turn a proxy's or RxScale's header slip into retries of
/// an authentic event.
fn warn_on_event_header_mismatch<'a>(
    header_values: impl IntoIterator<Item = &'a [u8]>,
    event_type: &str,
) {
    for value in header_values {
        if value != event_type.as_bytes() {
            tracing::warn!(
                target: "rxscale_webhooks",
                header = %String::from_utf8_lossy(value),
                event_type,
                "X-Webhook-Event disagrees with the signed event_type; the body wins"
            );
        }
    }
}

/// A delivery that passed [`Pipeline::check`]: a typed event, or, with pass-through on, an
/// authentic envelope whose `data` did not decode.
#[derive(Debug)]
// Moved once, straight into the request's extensions (which box it): boxing it here too would
// cost a second allocation per delivery.
#[allow(clippy::large_enum_variant)]
pub enum CheckedDelivery {
    /// The event decoded: what goes into the request extensions as [`Verified`].
    Decoded(Verified),
    /// Known event type, undecodable `data`, passed through as [`UndecodedEvent`].
    Undecoded(UndecodedEvent),
}

impl CheckedDelivery {
    /// The key the replay guard claims.
    #[must_use]
    pub fn dedup_key(&self) -> &DedupKey {
        match self {
            CheckedDelivery::Decoded(verified) => verified.dedup_key(),
            CheckedDelivery::Undecoded(undecoded) => undecoded.verified().dedup_key(),
        }
    }

    /// The outcome once the handler may run: [`Outcome::Accepted`] or
    /// [`Outcome::PassedThrough`].
    #[must_use]
    pub fn outcome(&self) -> Outcome {
        match self {
            CheckedDelivery::Decoded(_) => Outcome::Accepted,
            CheckedDelivery::Undecoded(_) => Outcome::PassedThrough,
        }
    }
}

/// A delivery to claim with the replay guard. Owns what it needs, so that
/// [`admit`](Claim::admit)'s future is `Send + 'static` and can be boxed by adapters whose
/// futures must be nameable.
#[derive(Debug)]
pub struct Claim {
    guard: ReplayGuard,
    key: String,
    completed_ttl: Duration,
    fresh: Outcome,
    delivery: Delivery,
}

impl Claim {
    /// Claims the key and records the decision in the delivery's span:
    ///
    /// - `Ok(Some(admission))`: call the handler, then
    ///   [`finish`](Admission::finish) the admission with whether it answered 2xx; if the call
    ///   is dropped or panics instead, the admission's `Drop` releases the claim;
    /// - `Ok(None)`: the store failed open; call the handler unguarded;
    /// - `Err(rejection)`: do not call the handler; answer the guard's rejection, and record its
    ///   [`outcome`](Rejection::outcome) like any other.
    ///
    /// # Errors
    ///
    /// The guard's answer: duplicate, in flight, or store unavailable.
    pub async fn admit(self) -> Result<Option<Admission>, Rejection> {
        #[cfg(feature = "metrics")]
        let started = std::time::Instant::now();
        let admitted = self.guard.admit(&self.key, self.completed_ttl).await;
        #[cfg(feature = "metrics")]
        crate::metrics::record_replay_claim(
            admitted
                .as_ref()
                .map(Admission::is_guarded)
                .map_err(|answer| *answer),
            started.elapsed(),
        );
        match admitted {
            Ok(admission) if admission.is_guarded() => {
                self.delivery.record(self.fresh);
                Ok(Some(admission))
            }
            Ok(_unguarded) => {
                self.delivery.record(Outcome::AcceptedUnguarded);
                Ok(None)
            }
            Err(answer) => {
                tracing::info!(
                    target: "rxscale_webhooks",
                    parent: self.delivery.span(),
                    outcome = answer.code(),
                    status = answer.status_code(),
                    "rxscale webhook answered by the replay guard"
                );
                Err(answer.into())
            }
        }
    }
}

/// Settles an admission once the handler has answered: a 2xx completes the key, anything else
/// releases it ([`Admission::finish`]). With the `metrics` feature the store call is timed in
/// `rxscale_webhook_store_duration_seconds`.
pub async fn settle(admission: Admission, handler_succeeded: bool) {
    #[cfg(feature = "metrics")]
    let started = admission.is_guarded().then(std::time::Instant::now);
    admission.finish(handler_succeeded).await;
    #[cfg(feature = "metrics")]
    if let Some(started) = started {
        let operation = if handler_succeeded {
            "complete"
        } else {
            "release"
        };
        crate::metrics::record_store_call("replay", operation, started.elapsed());
    }
}

/// Parses a `Content-Length` value; anything but a decimal number is `None` (the framework's
/// HTTP parser has refused it already where it matters).
#[must_use]
pub fn content_length(value: Option<&[u8]>) -> Option<u64> {
    std::str::from_utf8(value?).ok()?.trim().parse().ok()
}
