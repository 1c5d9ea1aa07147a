//! What the framework adapters share, so that a delivery logs the same way on every framework:
//! a dashboard built on axum reads actix-web. Not a public API: it may change in any release.

use std::time::Instant;

use tracing::{Span, field};

use crate::verifier::Verified;

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
    span.record("event_type", verified.event_type());
    span.record("dedup_key", verified.dedup_key().as_str());
    span.record("fingerprint", field::display(verified.fingerprint()));
    span.record("outcome", outcome);
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
