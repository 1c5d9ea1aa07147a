//! The span and events of a delivery. Field for field the same as `rxscale-webhooks-tower`'s, so
//! that a dashboard built on one framework reads the other; this crate must not depend on tower,
//! hence the copy.

use std::time::Instant;

use actix_web::http::header::HeaderMap;
use rxscale_webhooks::{EVENT_HEADER, ErrorKind, Verified};
use tracing::{Span, field};

/// One span per delivery. Fields are filled in as they become known; none of them is secret.
pub(crate) fn delivery_span() -> Span {
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
pub(crate) fn record_verified<T>(span: &Span, verified: &Verified<T>, outcome: &'static str) {
    span.record("event_type", verified.event_type());
    span.record("dedup_key", verified.dedup_key().as_str());
    span.record("fingerprint", field::display(verified.fingerprint()));
    span.record("outcome", outcome);
}

/// Records a rejection's code as the outcome.
pub(crate) fn record_rejection(span: &Span, kind: Option<ErrorKind>) {
    span.record(
        "outcome",
        kind.map_or("verifier_not_configured", ErrorKind::code),
    );
}

/// Records how long the delivery took so far.
pub(crate) fn record_elapsed(span: &Span, started: Instant) {
    span.record("elapsed", field::debug(started.elapsed()));
}

/// `X-Webhook-Event` is not signed: the body's `event_type` wins and a disagreeing header is
/// only worth a warning. Rejecting would turn a proxy's or RxScale's header slip into retries of
/// an authentic event.
pub(crate) fn warn_on_event_header_mismatch(headers: &HeaderMap, event_type: &str) {
    for value in headers.get_all(EVENT_HEADER) {
        if value.as_bytes() != event_type.as_bytes() {
            tracing::warn!(
                header = ?value,
                event_type,
                "X-Webhook-Event disagrees with the signed event_type; the body wins"
            );
        }
    }
}
