//! The span and events of a delivery. They live in the core (`rxscale_webhooks::__adapter`), so
//! that this crate logs field for field like the tower layer without depending on tower; only
//! reading actix's headers and naming its own configuration error are this crate's.

use actix_web::http::header::HeaderMap;
use rxscale_webhooks::__adapter;
use rxscale_webhooks::{EVENT_HEADER, ErrorKind};

pub(crate) use rxscale_webhooks::__adapter::{delivery_span, record_elapsed, record_verified};

/// Records a rejection's code as the outcome; `None` is a missing `Verifier` registration.
pub(crate) fn record_rejection(span: &tracing::Span, kind: Option<ErrorKind>) {
    __adapter::record_rejection(
        span,
        kind.map_or("verifier_not_configured", ErrorKind::code),
    );
}

/// Warns when an `X-Webhook-Event` header disagrees with the signed `event_type`.
pub(crate) fn warn_on_event_header_mismatch(headers: &HeaderMap, event_type: &str) {
    __adapter::warn_on_event_header_mismatch(
        headers.get_all(EVENT_HEADER).map(|value| value.as_bytes()),
        event_type,
    );
}
