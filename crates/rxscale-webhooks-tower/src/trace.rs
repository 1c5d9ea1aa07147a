//! The span and events of a delivery. They live in the core (`rxscale_webhooks::__adapter`), so
//! that every framework adapter logs field for field the same way; only reading the headers is
//! this crate's.

use http::HeaderMap;
use rxscale_webhooks::__adapter;
use rxscale_webhooks::EVENT_HEADER;

pub use rxscale_webhooks::__adapter::{
    delivery_span, record_elapsed, record_rejection, record_verified,
};

/// Warns when an `X-Webhook-Event` header disagrees with the signed `event_type`.
pub fn warn_on_event_header_mismatch(headers: &HeaderMap, event_type: &str) {
    __adapter::warn_on_event_header_mismatch(
        headers
            .get_all(EVENT_HEADER)
            .iter()
            .map(|value| value.as_bytes()),
        event_type,
    );
}
