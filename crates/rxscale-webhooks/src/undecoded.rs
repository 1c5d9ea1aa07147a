use serde_json::value::RawValue;

use crate::error::Error;
use crate::verified::Verified;

/// An authentic, fresh delivery of a known event type whose `data` did not decode into that
/// type ([`ErrorKind::InvalidEventData`](crate::ErrorKind::InvalidEventData)).
///
/// The framework adapters put it in the request extensions, instead of a [`Verified`], when they
/// are configured to pass such deliveries through (`pass_invalid_event_data(true)` on the tower
/// layer and on the actix middleware). The envelope is checked as usual (signature, timestamp
/// window); only `data` is left raw.
#[derive(Debug, Clone)]
pub struct UndecodedEvent {
    verified: Verified<Box<RawValue>>,
    error: Error,
}

impl UndecodedEvent {
    /// Pairs the envelope, verified with its `data` left raw, with the error that decoding
    /// `data` as the event's type gave.
    #[must_use]
    pub fn new(verified: Verified<Box<RawValue>>, error: Error) -> Self {
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
