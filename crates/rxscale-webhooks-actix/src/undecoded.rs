use rxscale_webhooks::{Error, Verified};
use serde_json::value::RawValue;

/// An authentic, fresh delivery of a known event type whose `data` did not decode into that
/// type ([`ErrorKind::InvalidEventData`](rxscale_webhooks::ErrorKind::InvalidEventData)).
///
/// Only present in the request extensions, instead of a [`Verified`], when the middleware was
/// built with [`VerifyWebhook::pass_invalid_event_data(true)`](crate::VerifyWebhook::pass_invalid_event_data).
/// Take it with `web::ReqData<UndecodedEvent>` (or `Option<web::ReqData<UndecodedEvent>>`). The
/// envelope is checked as usual (signature, timestamp window); only `data` is left raw.
#[derive(Debug, Clone)]
pub struct UndecodedEvent {
    verified: Verified<Box<RawValue>>,
    error: Error,
}

impl UndecodedEvent {
    pub(crate) fn new(verified: Verified<Box<RawValue>>, error: Error) -> Self {
        UndecodedEvent { verified, error }
    }

    /// The envelope, with `data` verbatim: its `event_type()`, `timestamp()`, `dedup_key()`.
    #[must_use]
    pub fn verified(&self) -> &Verified<Box<RawValue>> {
        &self.verified
    }

    /// The `data` object exactly as RxScale sent it.
    #[must_use]
    pub fn data(&self) -> &RawValue {
        self.verified.event()
    }

    /// Why `data` did not decode; its message names the field.
    #[must_use]
    pub fn error(&self) -> &Error {
        &self.error
    }

    /// The envelope and the decoding error.
    #[must_use]
    pub fn into_parts(self) -> (Verified<Box<RawValue>>, Error) {
        (self.verified, self.error)
    }
}
