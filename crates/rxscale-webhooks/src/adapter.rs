//! What the framework adapters share, so that a delivery is checked, guarded and logged the
//! same way on every framework: a dashboard built on axum reads actix-web, and a policy such as
//! "pass undecodable data through" cannot drift between them. Not a public API: it may change in
//! any release.
//!
//! Everything here takes framework-neutral inputs (bytes, iterators of header values); reading
//! the request and building the response stay with each adapter.

use std::time::Instant;

use serde_json::value::RawValue;
use tracing::{Span, field};

use crate::OffsetDateTime;
use crate::error::{Error, ErrorKind};
use crate::replay::{Admission, GuardAnswer};
use crate::undecoded::UndecodedEvent;
use crate::verifier::{DedupKey, Verified, Verifier};

/// One span per delivery. Fields are filled in as they become known; none of them is secret.
pub fn delivery_span() -> Span {
    tracing::info_span!(
        "rxscale_webhook",
        event_type = field::Empty,
        dedup_key = field::Empty,
        fingerprint = field::Empty,
        outcome = field::Empty,
        elapsed = field::Empty,
    )
}

/// Records what a successful verification learned, and the outcome.
pub fn record_verified<T>(span: &Span, verified: &Verified<T>, outcome: &'static str) {
    record_delivery(span, verified);
    span.record("outcome", outcome);
}

/// Records what a successful verification learned, leaving the outcome to the replay guard.
fn record_delivery<T>(span: &Span, verified: &Verified<T>) {
    span.record("event_type", verified.event_type());
    span.record("dedup_key", verified.dedup_key().as_str());
    span.record("fingerprint", field::display(verified.fingerprint()));
}

/// Records a rejection's code as the outcome.
pub fn record_rejection(span: &Span, code: &'static str) {
    span.record("outcome", code);
}

/// Records how long the delivery took so far.
pub fn record_elapsed(span: &Span, started: Instant) {
    span.record("elapsed", field::debug(started.elapsed()));
}

/// `X-Webhook-Event` is not signed: the body's `event_type` wins and a disagreeing header is
/// only worth a warning. Rejecting would turn a proxy's or RxScale's header slip into retries of
/// an authentic event. `header_values` are the raw values of every `X-Webhook-Event` header.
pub fn warn_on_event_header_mismatch<'a>(
    header_values: impl IntoIterator<Item = &'a [u8]>,
    event_type: &str,
) {
    for value in header_values {
        if value != event_type.as_bytes() {
            tracing::warn!(
                header = %String::from_utf8_lossy(value),
                event_type,
                "X-Webhook-Event disagrees with the signed event_type; the body wins"
            );
        }
    }
}

/// A delivery the layer or middleware let through: a typed event, or, with pass-through on, an
/// authentic envelope whose `data` did not decode.
#[derive(Debug)]
// Moved once, straight into the request's extensions (which box it): boxing it here too would
// cost a second allocation per delivery.
#[allow(clippy::large_enum_variant)]
pub enum Checked {
    /// The event decoded: what goes into the request extensions as [`Verified`].
    Decoded(Verified),
    /// Known event type, undecodable `data`, passed through as [`UndecodedEvent`].
    Undecoded(UndecodedEvent),
}

impl Checked {
    /// The key the replay guard claims.
    #[must_use]
    pub fn dedup_key(&self) -> &DedupKey {
        match self {
            Checked::Decoded(verified) => verified.dedup_key(),
            Checked::Undecoded(undecoded) => undecoded.verified().dedup_key(),
        }
    }

    /// The span's outcome once the handler may run: `accepted` or `passed_through`.
    #[must_use]
    pub fn outcome(&self) -> &'static str {
        match self {
            Checked::Decoded(_) => "accepted",
            Checked::Undecoded(_) => "passed_through",
        }
    }
}

/// The layer's and the middleware's check of a whole body: verifies it against every
/// `X-Webhook-Signature` value (`signatures` is called again for the pass-through check),
/// records the result in `span`, warns about a disagreeing `X-Webhook-Event` (`event_headers`),
/// and with `pass_invalid_event_data` lets an [`ErrorKind::InvalidEventData`] through as
/// [`Checked::Undecoded`].
///
/// With `guarded`, the outcome is left for [`admitted`] to record, so that the span carries
/// one outcome, the guard's decision.
///
/// # Errors
///
/// The verification error; the caller answers it and records its code.
pub fn check_delivery<'h, S>(
    verifier: &Verifier,
    body: &[u8],
    signatures: impl Fn() -> S,
    event_headers: impl IntoIterator<Item = &'h [u8]>,
    pass_invalid_event_data: bool,
    guarded: bool,
    span: &Span,
) -> Result<Checked, Error>
where
    S: IntoIterator,
    S::Item: AsRef<[u8]>,
{
    let now = OffsetDateTime::now_utc();
    let checked = match verifier.verify_any_at(body, signatures(), now) {
        Ok(verified) => Checked::Decoded(verified),
        Err(error) if error.kind() == ErrorKind::InvalidEventData && pass_invalid_event_data => {
            let raw = verifier.verify_as_any_at::<Box<RawValue>>(body, signatures(), now)?;
            Checked::Undecoded(UndecodedEvent::new(raw, error))
        }
        Err(error) => return Err(error),
    };
    let event_type = match &checked {
        Checked::Decoded(verified) => {
            record_delivery(span, verified);
            verified.event_type()
        }
        Checked::Undecoded(undecoded) => {
            record_delivery(span, undecoded.verified());
            undecoded.verified().event_type()
        }
    };
    if !guarded {
        span.record("outcome", checked.outcome());
    }
    warn_on_event_header_mismatch(event_headers, event_type);
    Ok(checked)
}

/// What the adapters make of [`ReplayGuard::admit`](crate::ReplayGuard::admit), recorded in
/// `span` alike on every framework:
///
/// - `Ok(Some(admission))`: call the handler (the outcome is `fresh_outcome`, from
///   [`Checked::outcome`]), then [`finish`](Admission::finish) the admission with whether it
///   answered 2xx; if the call is dropped or panics instead, the admission's `Drop` releases
///   the claim;
/// - `Ok(None)`: the store failed open; call the handler unguarded (`accepted_unguarded`);
/// - `Err(answer)`: do not call the handler; send the guard's answer (its code is the outcome).
///
/// # Errors
///
/// The guard's answer, passed on.
pub fn admitted(
    span: &Span,
    fresh_outcome: &'static str,
    admitted: Result<Admission, GuardAnswer>,
) -> Result<Option<Admission>, GuardAnswer> {
    match admitted {
        Ok(admission) if admission.is_guarded() => {
            span.record("outcome", fresh_outcome);
            Ok(Some(admission))
        }
        Ok(_unguarded) => {
            span.record("outcome", "accepted_unguarded");
            Ok(None)
        }
        Err(answer) => {
            tracing::debug!(
                outcome = answer.code(),
                status = answer.status_code(),
                "rxscale webhook answered by the replay guard"
            );
            record_rejection(span, answer.code());
            Err(answer)
        }
    }
}
