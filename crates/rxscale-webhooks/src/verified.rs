//! [`Verified`], what a successful check yields, and its [`DedupKey`].

use std::fmt;

use sha2::{Digest, Sha256};
use time::OffsetDateTime;

use crate::envelope::Envelope;
use crate::error::{Error, ErrorKind};
use crate::event::{Event, Text};
use crate::secret::Fingerprint;

/// An authenticated, fresh, decoded delivery.
///
/// It holds the decoded event, not the body, so it is cheap to keep and to put in request
/// extensions. `T` is [`Event`] unless you chose your own type with [`Verifier::verify_as`](crate::Verifier::verify_as).
///
/// Its `Debug` prints the event type, dedup key, timestamp and fingerprint, never the payload:
/// the payload carries patients' personal data. Print fields of [`event`](Verified::event)
/// yourself where you need them.
#[derive(Clone)]
pub struct Verified<T = Event> {
    event_type: Text,
    timestamp: OffsetDateTime,
    payload_version: Option<Text>,
    dedup_key: DedupKey,
    fingerprint: Fingerprint,
    event: T,
}

impl<T> Verified<T> {
    pub(crate) fn new(
        envelope: Envelope<T>,
        fingerprint: Fingerprint,
        body: &[u8],
    ) -> Result<Self, Error> {
        let timestamp = OffsetDateTime::from_unix_timestamp(envelope.timestamp).map_err(|_| {
            Error::with_detail(
                ErrorKind::MalformedPayload,
                "timestamp is outside the representable range",
            )
        })?;
        let dedup_key = DedupKey::new(
            &envelope.event_type,
            envelope.timestamp,
            envelope.uid.as_deref(),
            body,
        );
        Ok(Verified {
            event_type: envelope.event_type,
            timestamp,
            payload_version: envelope.payload_version,
            dedup_key,
            fingerprint,
            event: envelope.data,
        })
    }

    /// The decoded event (or your own data type, with [`Verifier::verify_as`](crate::Verifier::verify_as)).
    pub fn event(&self) -> &T {
        &self.event
    }

    /// Takes the decoded event out.
    pub fn into_event(self) -> T {
        self.event
    }

    /// The `event_type` from the signed body (not from the unsigned `X-Webhook-Event` header).
    pub fn event_type(&self) -> &str {
        &self.event_type
    }

    /// When RxScale generated the event.
    pub fn timestamp(&self) -> OffsetDateTime {
        self.timestamp
    }

    /// The envelope's `payload_version`, e.g. `"1"`, when it is a string.
    pub fn payload_version(&self) -> Option<&str> {
        self.payload_version.as_deref()
    }

    /// The deduplication key RxScale recommends: `{event_type}:{timestamp}:{data.uid}`.
    pub fn dedup_key(&self) -> &DedupKey {
        &self.dedup_key
    }

    /// Which configured secret matched.
    pub fn fingerprint(&self) -> Fingerprint {
        self.fingerprint
    }
}

impl<T> fmt::Debug for Verified<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Verified")
            .field("event_type", &self.event_type())
            .field("dedup_key", &self.dedup_key.as_str())
            .field("timestamp", &self.timestamp)
            .field("fingerprint", &self.fingerprint)
            .finish_non_exhaustive()
    }
}

/// The key that identifies an event across retries: `{event_type}:{timestamp}:{data.uid}`,
/// with the timestamp in Unix seconds (spec §1.5).
///
/// When `data` has no string `uid`, the last part is `sha256-` and the first 16 hex digits of
/// the body's SHA-256 instead, so that two different uid-less events never share a key while a
/// byte-identical retry still does.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct DedupKey(String);

impl DedupKey {
    fn new(event_type: &str, timestamp: i64, uid: Option<&str>, body: &[u8]) -> Self {
        match uid {
            Some(uid) => DedupKey(format!("{event_type}:{timestamp}:{uid}")),
            None => {
                let digest = Sha256::digest(body);
                DedupKey(format!(
                    "{event_type}:{timestamp}:sha256-{}",
                    base16ct::lower::encode_string(&digest[..8])
                ))
            }
        }
    }

    /// The key as a string slice.
    #[must_use]
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The key as an owned string.
    #[must_use]
    pub fn into_string(self) -> String {
        self.0
    }
}

impl fmt::Display for DedupKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl AsRef<str> for DedupKey {
    fn as_ref(&self) -> &str {
        &self.0
    }
}
