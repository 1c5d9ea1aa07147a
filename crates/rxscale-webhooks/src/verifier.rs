use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use serde::de::DeserializeOwned;
use time::OffsetDateTime;

use crate::envelope::{self, Envelope};
use crate::error::{ConfigError, Error, ErrorKind};
use crate::secret::{Fingerprint, SECRET_PREFIX, SigningSecret};
use crate::signature::{KeyedSecret, Tag, parse_signature, tags_equal};
use crate::verified::Verified;

/// Default maximum age of an event: 72 hours.
///
/// RxScale retries with exponential backoff of unstated length, and `timestamp` is when the
/// event was generated, so a 5-minute window would turn late retries into lost events. Replays
/// inside the window are the dedup key's job. See `docs/security.md`.
pub const DEFAULT_MAX_AGE: Duration = Duration::from_secs(72 * 60 * 60);
/// Default tolerance for timestamps ahead of the receiver's clock: 5 minutes.
pub const DEFAULT_MAX_FUTURE_SKEW: Duration = Duration::from_secs(5 * 60);
/// Default body size limit: 2 MiB. Pharmacy orders may carry a base64 prescription.
pub const DEFAULT_MAX_BODY_BYTES: usize = 2 * 1024 * 1024;

/// The default body-read deadline: 2 seconds, from the moment an adapter starts reading the
/// body. RxScale gives up on a delivery after 5 seconds; an honest sender's body of at most
/// [`DEFAULT_MAX_BODY_BYTES`] arrives in milliseconds, and a body that is still trickling in
/// after 2 s leaves no time to answer in anyway.
pub const DEFAULT_BODY_READ_TIMEOUT: Duration = Duration::from_secs(2);

/// Checks that a delivery came from RxScale, untampered and fresh, and decodes it.
///
/// Cheap to clone (an `Arc`), `Send` and `Sync`: build one at start-up and share it.
///
/// Checks run in this order, and nothing is parsed, nor any time checked, before the body is
/// authenticated:
///
/// 1. body size ([`ErrorKind::BodyTooLarge`]);
/// 2. signature syntax ([`ErrorKind::MissingSignature`], [`ErrorKind::MalformedSignature`]);
/// 3. HMAC-SHA256 over the exact bytes with each secret, compared in constant time
///    ([`ErrorKind::SignatureMismatch`]);
/// 4. JSON envelope ([`ErrorKind::MalformedPayload`]);
/// 5. timestamp window ([`ErrorKind::Expired`], [`ErrorKind::FromFuture`]);
/// 6. typed data ([`ErrorKind::InvalidEventData`]).
#[derive(Clone)]
pub struct Verifier {
    inner: Arc<Inner>,
}

struct Inner {
    keys: Box<[KeyedSecret]>,
    max_age: Option<Duration>,
    max_future_skew: Option<Duration>,
    max_body_bytes: usize,
    body_read_timeout: Duration,
}

impl Verifier {
    /// Starts configuring a verifier.
    pub fn builder() -> VerifierBuilder {
        VerifierBuilder::new()
    }

    /// Verifies a delivery against the system clock. See [`Verifier::verify_at`].
    ///
    /// # Errors
    ///
    /// An [`Error`] whose [`kind`](Error::kind) says which check failed.
    pub fn verify(
        &self,
        body: impl AsRef<[u8]>,
        signature: impl AsRef<[u8]>,
    ) -> Result<Verified, Error> {
        self.verify_at(body, signature, OffsetDateTime::now_utc())
    }

    /// Verifies a delivery as of `now`.
    ///
    /// `body` is the raw request body exactly as received; `signature` is the value of the
    /// `X-Webhook-Signature` header.
    ///
    /// # Errors
    ///
    /// An [`Error`] whose [`kind`](Error::kind) says which check failed.
    pub fn verify_at(
        &self,
        body: impl AsRef<[u8]>,
        signature: impl AsRef<[u8]>,
        now: OffsetDateTime,
    ) -> Result<Verified, Error> {
        self.verify_any_at(body, [signature], now)
    }

    /// [`Verifier::verify_any_at`] against the system clock.
    ///
    /// # Errors
    ///
    /// An [`Error`] whose [`kind`](Error::kind) says which check failed.
    pub fn verify_any(
        &self,
        body: impl AsRef<[u8]>,
        signatures: impl IntoIterator<Item = impl AsRef<[u8]>>,
    ) -> Result<Verified, Error> {
        self.verify_any_at(body, signatures, OffsetDateTime::now_utc())
    }

    /// Verifies a delivery that carries several `X-Webhook-Signature` values: it is authentic if
    /// any value matches any secret. With no value at all, it is
    /// [`ErrorKind::MissingSignature`].
    ///
    /// # Errors
    ///
    /// An [`Error`] whose [`kind`](Error::kind) says which check failed.
    pub fn verify_any_at(
        &self,
        body: impl AsRef<[u8]>,
        signatures: impl IntoIterator<Item = impl AsRef<[u8]>>,
        now: OffsetDateTime,
    ) -> Result<Verified, Error> {
        let result = self.verify_quietly(body.as_ref(), signatures, now);
        if let Err(error) = &result {
            log_rejection(error, self);
        }
        result
    }

    /// [`Verifier::verify_any_at`] without the log line: the pipeline logs its own.
    pub(crate) fn verify_quietly(
        &self,
        body: &[u8],
        signatures: impl IntoIterator<Item = impl AsRef<[u8]>>,
        now: OffsetDateTime,
    ) -> Result<Verified, Error> {
        self.verify_with(body, signatures, now, |body, check_time| {
            envelope::decode_event(body, check_time)
        })
    }

    /// Verifies a delivery and decodes `data` into a type of your own instead of [`Event`](crate::Event).
    ///
    /// # Errors
    ///
    /// An [`Error`] whose [`kind`](Error::kind) says which check failed; a `data` that does not
    /// fit `T` is [`ErrorKind::InvalidEventData`].
    pub fn verify_as<T: DeserializeOwned>(
        &self,
        body: impl AsRef<[u8]>,
        signature: impl AsRef<[u8]>,
    ) -> Result<Verified<T>, Error> {
        self.verify_as_any_at(body, [signature], OffsetDateTime::now_utc())
    }

    /// [`Verifier::verify_as`] as of `now`.
    ///
    /// # Errors
    ///
    /// As [`Verifier::verify_as`].
    pub fn verify_as_at<T: DeserializeOwned>(
        &self,
        body: impl AsRef<[u8]>,
        signature: impl AsRef<[u8]>,
        now: OffsetDateTime,
    ) -> Result<Verified<T>, Error> {
        self.verify_as_any_at(body, [signature], now)
    }

    /// [`Verifier::verify_as_any_at`] against the system clock.
    ///
    /// # Errors
    ///
    /// As [`Verifier::verify_as`].
    pub fn verify_as_any<T: DeserializeOwned>(
        &self,
        body: impl AsRef<[u8]>,
        signatures: impl IntoIterator<Item = impl AsRef<[u8]>>,
    ) -> Result<Verified<T>, Error> {
        self.verify_as_any_at(body, signatures, OffsetDateTime::now_utc())
    }

    /// [`Verifier::verify_as_at`] with several `X-Webhook-Signature` values.
    ///
    /// # Errors
    ///
    /// As [`Verifier::verify_as`].
    pub fn verify_as_any_at<T: DeserializeOwned>(
        &self,
        body: impl AsRef<[u8]>,
        signatures: impl IntoIterator<Item = impl AsRef<[u8]>>,
        now: OffsetDateTime,
    ) -> Result<Verified<T>, Error> {
        let result = self.verify_as_quietly(body.as_ref(), signatures, now);
        if let Err(error) = &result {
            log_rejection(error, self);
        }
        result
    }

    /// [`Verifier::verify_as_any_at`] without the log line: the pipeline logs its own.
    pub(crate) fn verify_as_quietly<T: DeserializeOwned>(
        &self,
        body: &[u8],
        signatures: impl IntoIterator<Item = impl AsRef<[u8]>>,
        now: OffsetDateTime,
    ) -> Result<Verified<T>, Error> {
        self.verify_with(body, signatures, now, |body, check_time| {
            envelope::decode_custom::<T>(body, check_time)
        })
    }

    /// Authenticates, then decodes with `decode`, which runs the time check between the
    /// envelope and the typed data.
    fn verify_with<T>(
        &self,
        body: &[u8],
        signatures: impl IntoIterator<Item = impl AsRef<[u8]>>,
        now: OffsetDateTime,
        decode: impl FnOnce(&[u8], &dyn Fn(i64) -> Result<(), Error>) -> Result<Envelope<T>, Error>,
    ) -> Result<Verified<T>, Error> {
        self.authenticate(body, signatures).and_then(|fingerprint| {
            let envelope = decode(body, &|ts| self.check_time(ts, now))?;
            Verified::new(envelope, fingerprint, body)
        })
    }

    /// Steps 1 to 3 only: size, signature syntax and HMAC. Returns the fingerprint of the secret
    /// that matched. Nothing of the body is parsed.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::BodyTooLarge`], [`ErrorKind::MissingSignature`],
    /// [`ErrorKind::MalformedSignature`] or [`ErrorKind::SignatureMismatch`].
    pub fn authenticate(
        &self,
        body: impl AsRef<[u8]>,
        signatures: impl IntoIterator<Item = impl AsRef<[u8]>>,
    ) -> Result<Fingerprint, Error> {
        let body = body.as_ref();
        if body.len() > self.inner.max_body_bytes {
            return Err(Error::with_detail(
                ErrorKind::BodyTooLarge,
                format!("{} bytes, limit {}", body.len(), self.inner.max_body_bytes),
            ));
        }
        let mut signatures = signatures.into_iter();
        let Some(first) = signatures.next() else {
            return Err(Error::new(ErrorKind::MissingSignature));
        };
        let mut first_error = None;
        let mut candidates: Vec<Tag> = Vec::new();
        let mut single = None;
        for header in std::iter::once(first).chain(signatures) {
            match parse_signature(header.as_ref()) {
                Ok(tag) if single.is_none() && candidates.is_empty() => single = Some(tag),
                Ok(tag) => candidates.push(tag),
                Err(err) => {
                    // A malformed value says more than a blank one.
                    if first_error
                        .as_ref()
                        .is_none_or(|e: &Error| e.kind() == ErrorKind::MissingSignature)
                    {
                        first_error = Some(err);
                    }
                }
            }
        }
        let Some(single) = single else {
            return Err(first_error.unwrap_or(Error::new(ErrorKind::MissingSignature)));
        };
        for key in self.inner.keys.iter() {
            let expected = key.tag(body);
            let matched = tags_equal(&expected, &single)
                | candidates
                    .iter()
                    .fold(false, |any, tag| any | tags_equal(&expected, tag));
            if matched {
                return Ok(key.fingerprint());
            }
        }
        Err(Error::new(ErrorKind::SignatureMismatch))
    }

    fn check_time(&self, timestamp: i64, now: OffsetDateTime) -> Result<(), Error> {
        const NANOS: i128 = 1_000_000_000;
        let age = now.unix_timestamp_nanos() - i128::from(timestamp) * NANOS;
        if let Some(max_age) = self.inner.max_age
            && age > duration_nanos(max_age)
        {
            return Err(Error::with_detail(
                ErrorKind::Expired,
                format!(
                    "event is {}s old, maximum {}s",
                    age / NANOS,
                    max_age.as_secs()
                ),
            ));
        }
        if let Some(skew) = self.inner.max_future_skew
            && -age > duration_nanos(skew)
        {
            return Err(Error::with_detail(
                ErrorKind::FromFuture,
                format!(
                    "event is {}s ahead of this clock, maximum {}s",
                    -age / NANOS,
                    skew.as_secs()
                ),
            ));
        }
        Ok(())
    }

    /// The body size limit in bytes.
    #[must_use]
    pub fn max_body_bytes(&self) -> usize {
        self.inner.max_body_bytes
    }

    /// How long an adapter waits for the whole body before answering
    /// [`ErrorKind::BodyReadTimeout`] (408).
    #[must_use]
    pub fn body_read_timeout(&self) -> Duration {
        self.inner.body_read_timeout
    }

    /// The maximum event age, or `None` when the check is off.
    #[must_use]
    pub fn max_age(&self) -> Option<Duration> {
        self.inner.max_age
    }

    /// The allowed clock skew into the future, or `None` when the check is off.
    #[must_use]
    pub fn max_future_skew(&self) -> Option<Duration> {
        self.inner.max_future_skew
    }

    /// Fingerprints of the configured secrets, in the order they were added.
    pub fn fingerprints(&self) -> impl Iterator<Item = Fingerprint> + '_ {
        self.inner.keys.iter().map(KeyedSecret::fingerprint)
    }
}

fn duration_nanos(duration: Duration) -> i128 {
    i128::try_from(duration.as_nanos()).unwrap_or(i128::MAX)
}

/// The one log line of a rejected delivery, at info level under the target `rxscale_webhooks`.
/// For a signature mismatch it names the fingerprints of the configured secrets (never a secret,
/// never the computed signature), so that a wrong secret shows in the log. The detail names
/// positions and paths, never a value from the body.
pub(crate) fn log_rejection(error: &Error, verifier: &Verifier) {
    let kind = error.kind();
    if kind == ErrorKind::SignatureMismatch {
        tracing::info!(
            target: "rxscale_webhooks",
            kind = kind.code(),
            configured = %ConfiguredFingerprints(verifier),
            "rxscale webhook rejected: no configured secret produced this signature"
        );
    } else {
        tracing::info!(
            target: "rxscale_webhooks",
            kind = kind.code(),
            detail = error.detail().unwrap_or(""),
            "rxscale webhook rejected"
        );
    }
}

/// `[fp_…, fp_…]`.
struct ConfiguredFingerprints<'a>(&'a Verifier);

impl fmt::Display for ConfiguredFingerprints<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[")?;
        for (i, fingerprint) in self.0.fingerprints().enumerate() {
            if i > 0 {
                f.write_str(", ")?;
            }
            write!(f, "{fingerprint}")?;
        }
        f.write_str("]")
    }
}

impl fmt::Debug for Verifier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Verifier")
            .field("secrets", &self.fingerprints().collect::<Vec<_>>())
            .field("max_age", &self.inner.max_age)
            .field("max_future_skew", &self.inner.max_future_skew)
            .field("max_body_bytes", &self.inner.max_body_bytes)
            .field("body_read_timeout", &self.inner.body_read_timeout)
            .finish()
    }
}

/// Configures a [`Verifier`]. Obtained from [`Verifier::builder`].
#[must_use]
#[derive(Debug, Clone)]
pub struct VerifierBuilder {
    secrets: Vec<SigningSecret>,
    max_age: Option<Duration>,
    max_future_skew: Option<Duration>,
    max_body_bytes: usize,
    body_read_timeout: Duration,
}

impl Default for VerifierBuilder {
    fn default() -> Self {
        Self::new()
    }
}

impl VerifierBuilder {
    /// A builder with no secret and the default limits.
    pub fn new() -> Self {
        VerifierBuilder {
            secrets: Vec::new(),
            max_age: Some(DEFAULT_MAX_AGE),
            max_future_skew: Some(DEFAULT_MAX_FUTURE_SKEW),
            max_body_bytes: DEFAULT_MAX_BODY_BYTES,
            body_read_timeout: DEFAULT_BODY_READ_TIMEOUT,
        }
    }

    /// Adds a signing secret. Repeatable: a body verifies if **any** configured secret matches,
    /// which serves one URL with several subscriptions, and rotation by re-subscribing.
    ///
    /// Default: none; at least one is required.
    pub fn secret(mut self, secret: impl Into<SigningSecret>) -> Self {
        self.secrets.push(secret.into());
        self
    }

    /// Adds several signing secrets at once. See [`VerifierBuilder::secret`].
    pub fn secrets<I>(mut self, secrets: I) -> Self
    where
        I: IntoIterator,
        I::Item: Into<SigningSecret>,
    {
        self.secrets.extend(secrets.into_iter().map(Into::into));
        self
    }

    /// Rejects events whose `timestamp` is older than this with [`ErrorKind::Expired`].
    ///
    /// Default: 72 hours ([`DEFAULT_MAX_AGE`]). Switch the check off with
    /// [`VerifierBuilder::no_max_age`].
    pub fn max_age(mut self, max_age: Duration) -> Self {
        self.max_age = Some(max_age);
        self
    }

    /// Switches the age check off: any authentic past timestamp is accepted. Use it only with
    /// a replay guard that remembers keys for as long as RxScale may retry.
    ///
    /// Default: the check is on, at 72 hours.
    pub fn no_max_age(mut self) -> Self {
        self.max_age = None;
        self
    }

    /// Rejects events whose `timestamp` is further ahead of this clock than this with
    /// [`ErrorKind::FromFuture`].
    ///
    /// Default: 5 minutes ([`DEFAULT_MAX_FUTURE_SKEW`]). Switch it off with
    /// [`VerifierBuilder::no_max_future_skew`].
    pub fn max_future_skew(mut self, skew: Duration) -> Self {
        self.max_future_skew = Some(skew);
        self
    }

    /// Switches the future-timestamp check off.
    ///
    /// Default: the check is on, at 5 minutes.
    pub fn no_max_future_skew(mut self) -> Self {
        self.max_future_skew = None;
        self
    }

    /// Rejects bodies larger than this many bytes with [`ErrorKind::BodyTooLarge`], before any
    /// hashing. Adapters stop reading a request as soon as it passes this limit.
    ///
    /// Default: 2 MiB ([`DEFAULT_MAX_BODY_BYTES`]).
    pub fn max_body_bytes(mut self, limit: usize) -> Self {
        self.max_body_bytes = limit;
        self
    }

    /// Answers [`ErrorKind::BodyReadTimeout`] (408) to a delivery whose body has not arrived
    /// in full this long after the adapter started reading it: a client trickling its body, or
    /// declaring a `Content-Length` it never sends, holds its request for this long at most,
    /// and never reaches a handler. Every adapter of this workspace (tower, axum, actix-web)
    /// enforces it.
    ///
    /// Default: 2 seconds ([`DEFAULT_BODY_READ_TIMEOUT`]), suited to RxScale's 5-second
    /// delivery budget.
    pub fn body_read_timeout(mut self, deadline: Duration) -> Self {
        self.body_read_timeout = deadline;
        self
    }

    /// Builds the verifier.
    ///
    /// # Errors
    ///
    /// [`ConfigError::NoSecret`] without any secret, [`ConfigError::EmptySecret`] for an empty
    /// one, [`ConfigError::ZeroBodyLimit`] for a zero body limit.
    pub fn build(self) -> Result<Verifier, ConfigError> {
        if self.secrets.is_empty() {
            return Err(ConfigError::NoSecret);
        }
        if self.secrets.iter().any(|s| s.expose_secret().is_empty()) {
            return Err(ConfigError::EmptySecret);
        }
        if self.max_body_bytes == 0 {
            return Err(ConfigError::ZeroBodyLimit);
        }
        for secret in &self.secrets {
            warn_on_suspicious_secret(secret);
        }
        Ok(Verifier {
            inner: Arc::new(Inner {
                keys: self.secrets.iter().map(KeyedSecret::new).collect(),
                max_age: self.max_age,
                max_future_skew: self.max_future_skew,
                max_body_bytes: self.max_body_bytes,
                body_read_timeout: self.body_read_timeout,
            }),
        })
    }
}

/// The start-up warning docs/troubleshooting.md promises: a secret is used whole, as UTF-8
/// bytes, so surrounding whitespace (from a `.env` file) or a missing `whsec_` prefix (a secret
/// base64-decoded or stripped Svix-style) makes every signature mismatch. The warning names the
/// secret by its fingerprint only.
fn warn_on_suspicious_secret(secret: &SigningSecret) {
    let exposed = secret.expose_secret();
    if exposed.trim() != exposed {
        tracing::warn!(
            target: "rxscale_webhooks",
            fingerprint = %secret.fingerprint(),
            "signing secret has surrounding whitespace; it is used as given, so signatures made \
             with the trimmed secret will not match (trim the value you load)"
        );
    }
    if !exposed.trim().starts_with(SECRET_PREFIX) {
        tracing::warn!(
            target: "rxscale_webhooks",
            fingerprint = %secret.fingerprint(),
            "signing secret does not start with `whsec_`; RxScale signs with the whole secret, \
             prefix included, so signatures will not match unless this is really your secret"
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sign;

    const BODY: &str = r#"{"event_type":"pharmacy_sku_stock_updated","timestamp":1711900000,"payload_version":"1","data":{"uid":"psku-abc123"}}"#;

    fn at(unix: i64) -> OffsetDateTime {
        OffsetDateTime::from_unix_timestamp(unix).unwrap()
    }

    fn verifier() -> Verifier {
        Verifier::builder().secret("whsec_abc123").build().unwrap()
    }

    #[test]
    fn builder_requires_a_usable_secret_and_limit() {
        assert!(matches!(
            Verifier::builder().build().unwrap_err(),
            ConfigError::NoSecret
        ));
        assert!(matches!(
            Verifier::builder().secret("").build().unwrap_err(),
            ConfigError::EmptySecret
        ));
        assert!(matches!(
            Verifier::builder()
                .secret("whsec_x")
                .max_body_bytes(0)
                .build()
                .unwrap_err(),
            ConfigError::ZeroBodyLimit
        ));
    }

    #[test]
    fn defaults_are_documented_values() {
        let v = verifier();
        assert_eq!(v.max_age(), Some(Duration::from_secs(259_200)));
        assert_eq!(v.max_future_skew(), Some(Duration::from_secs(300)));
        assert_eq!(v.max_body_bytes(), 2 * 1024 * 1024);
    }

    #[test]
    fn window_edges_are_inclusive() {
        let v = Verifier::builder()
            .secret("whsec_abc123")
            .max_age(Duration::from_secs(600))
            .max_future_skew(Duration::from_secs(60))
            .build()
            .unwrap();
        let sig = sign(&SigningSecret::new("whsec_abc123"), BODY);
        let ts = 1_711_900_000;
        assert!(v.verify_at(BODY, &sig, at(ts + 600)).is_ok());
        assert_eq!(
            v.verify_at(BODY, &sig, at(ts + 601)).unwrap_err().kind(),
            ErrorKind::Expired
        );
        assert!(v.verify_at(BODY, &sig, at(ts - 60)).is_ok());
        assert_eq!(
            v.verify_at(BODY, &sig, at(ts - 61)).unwrap_err().kind(),
            ErrorKind::FromFuture
        );
        let just_over = at(ts + 600) + time::Duration::nanoseconds(1);
        assert_eq!(
            v.verify_at(BODY, &sig, just_over).unwrap_err().kind(),
            ErrorKind::Expired
        );
    }

    #[test]
    fn windows_can_be_switched_off() {
        let v = Verifier::builder()
            .secret("whsec_abc123")
            .no_max_age()
            .no_max_future_skew()
            .build()
            .unwrap();
        let sig = sign(&SigningSecret::new("whsec_abc123"), BODY);
        assert!(v.verify_at(BODY, &sig, at(4_000_000_000)).is_ok());
        assert!(v.verify_at(BODY, &sig, at(0)).is_ok());
    }

    #[test]
    fn any_secret_may_match_and_reports_its_fingerprint() {
        let old = SigningSecret::new("whsec_old");
        let new = SigningSecret::new("whsec_abc123");
        let v = Verifier::builder()
            .secret(old.clone())
            .secret(new.clone())
            .build()
            .unwrap();
        let verified = v
            .verify_at(BODY, sign(&new, BODY), at(1_711_900_000))
            .unwrap();
        assert_eq!(verified.fingerprint(), new.fingerprint());
        let verified = v
            .verify_at(BODY, sign(&old, BODY), at(1_711_900_000))
            .unwrap();
        assert_eq!(verified.fingerprint(), old.fingerprint());
    }

    #[test]
    fn several_header_values() {
        let v = verifier();
        let good = sign(&SigningSecret::new("whsec_abc123"), BODY);
        let wrong = sign(&SigningSecret::new("whsec_other"), BODY);
        let now = at(1_711_900_000);
        assert!(
            v.verify_any_at(BODY, ["nonsense", &wrong, &good], now)
                .is_ok()
        );
        assert_eq!(
            v.verify_any_at(BODY, [&wrong, &wrong], now)
                .unwrap_err()
                .kind(),
            ErrorKind::SignatureMismatch
        );
        assert_eq!(
            v.verify_any_at(BODY, ["", "zz"], now).unwrap_err().kind(),
            ErrorKind::MalformedSignature
        );
        assert_eq!(
            v.verify_any_at(BODY, Vec::<&str>::new(), now)
                .unwrap_err()
                .kind(),
            ErrorKind::MissingSignature
        );
    }

    #[test]
    fn size_is_checked_before_the_signature() {
        let v = Verifier::builder()
            .secret("whsec_abc123")
            .max_body_bytes(10)
            .build()
            .unwrap();
        assert_eq!(
            v.verify_at(BODY, "", at(0)).unwrap_err().kind(),
            ErrorKind::BodyTooLarge
        );
    }

    #[test]
    fn dedup_key_format_and_fallback() {
        let v = verifier();
        let secret = SigningSecret::new("whsec_abc123");
        let verified = v
            .verify_at(BODY, sign(&secret, BODY), at(1_711_900_000))
            .unwrap();
        assert_eq!(
            verified.dedup_key().to_string(),
            "pharmacy_sku_stock_updated:1711900000:psku-abc123"
        );
        let no_uid = r#"{"event_type":"appointment_reminder_due","timestamp":1711900000,"payload_version":"1","data":{}}"#;
        let verified = v
            .verify_at(no_uid, sign(&secret, no_uid), at(1_711_900_000))
            .unwrap();
        let key = verified.dedup_key().as_str();
        assert!(
            key.starts_with("appointment_reminder_due:1711900000:sha256-"),
            "{key}"
        );
        assert_eq!(
            key.len(),
            "appointment_reminder_due:1711900000:sha256-".len() + 16
        );
    }

    #[test]
    fn verify_as_custom_type() {
        #[derive(serde::Deserialize)]
        struct Mine {
            uid: String,
        }
        let v = verifier();
        let secret = SigningSecret::new("whsec_abc123");
        let verified: Verified<Mine> = v
            .verify_as_at(BODY, sign(&secret, BODY), at(1_711_900_000))
            .unwrap();
        assert_eq!(verified.event().uid, "psku-abc123");
        assert_eq!(
            verified.dedup_key().as_str(),
            "pharmacy_sku_stock_updated:1711900000:psku-abc123"
        );
        #[derive(Debug, serde::Deserialize)]
        struct Strict {
            #[allow(dead_code)]
            stock: i64,
        }
        let err = v
            .verify_as_at::<Strict>(BODY, sign(&secret, BODY), at(1_711_900_000))
            .unwrap_err();
        assert_eq!(err.kind(), ErrorKind::InvalidEventData);
        assert!(err.to_string().contains("stock"), "{err}");
    }

    #[test]
    fn timestamp_beyond_representable_range() {
        let v = Verifier::builder()
            .secret("whsec_abc123")
            .no_max_age()
            .no_max_future_skew()
            .build()
            .unwrap();
        let secret = SigningSecret::new("whsec_abc123");
        let body = r#"{"event_type":"x","timestamp":9223372036854775807,"data":{}}"#;
        let err = v.verify_at(body, sign(&secret, body), at(0)).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::MalformedPayload);
        let windowed = verifier();
        let err = windowed
            .verify_at(body, sign(&secret, body), at(0))
            .unwrap_err();
        assert_eq!(err.kind(), ErrorKind::FromFuture);
    }
}
