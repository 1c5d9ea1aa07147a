//! Helpers for testing code that receives RxScale webhooks: realistic payloads for every event
//! type, the same ones the CLI's `example` command prints and this SDK's own tests use.
//!
//! ```
//! use rxscale_webhooks::testing::fixture;
//! use rxscale_webhooks::{sign, EventType, SigningSecret, Verifier};
//!
//! let secret = SigningSecret::new("whsec_test");
//! let verifier = Verifier::builder().secret(secret.clone()).no_max_age().build().unwrap();
//! let body = fixture(EventType::PharmacyOrderCreated);
//! let verified = verifier.verify(body, sign(&secret, body)).unwrap();
//! assert_eq!(verified.event_type(), "pharmacy_order_created");
//! ```

use std::time::Duration;

use time::OffsetDateTime;

use crate::event::EventType;
use crate::secret::SigningSecret;
use crate::signature::{EVENT_HEADER, SIGNATURE_HEADER, sign};

/// `pharmacy_order_created`, the published V1 example (spec §4.1).
pub const PHARMACY_ORDER_CREATED: &str = include_str!("../fixtures/pharmacy_order_created.json");
/// `pharmacy_order_created` with the V2 fields `shipping_costs_amount`,
/// `shipping_costs_currency` and `priority` inside `data.order`.
pub const PHARMACY_ORDER_CREATED_V2: &str =
    include_str!("../fixtures/pharmacy_order_created_v2.json");
/// `pharmacy_order_updated` (spec §4.2).
pub const PHARMACY_ORDER_UPDATED: &str = include_str!("../fixtures/pharmacy_order_updated.json");
/// `pharmacy_sku_stock_updated`, hypothetical shape (spec §4.3).
pub const PHARMACY_SKU_STOCK_UPDATED: &str =
    include_str!("../fixtures/pharmacy_sku_stock_updated.json");
/// `patient_doctor_meeting_updated`, hypothetical shape (spec §4.5).
pub const PATIENT_DOCTOR_MEETING_UPDATED: &str =
    include_str!("../fixtures/patient_doctor_meeting_updated.json");
/// `appointment_reminder_due`, placeholder `data` (spec §4.4).
pub const APPOINTMENT_REMINDER_DUE: &str =
    include_str!("../fixtures/appointment_reminder_due.json");

/// The example body for a known event type, exactly as in the specification.
#[must_use]
pub fn fixture(event_type: EventType) -> &'static str {
    match event_type {
        EventType::PharmacyOrderCreated => PHARMACY_ORDER_CREATED,
        EventType::PharmacyOrderUpdated => PHARMACY_ORDER_UPDATED,
        EventType::PharmacySkuStockUpdated => PHARMACY_SKU_STOCK_UPDATED,
        EventType::PatientDoctorMeetingUpdated => PATIENT_DOCTOR_MEETING_UPDATED,
        EventType::AppointmentReminderDue => APPOINTMENT_REMINDER_DUE,
    }
}

/// The fixture for `event_type` with its envelope `timestamp` replaced, for tests that verify
/// against the real clock. The rest of the body is kept byte for byte.
#[must_use]
pub fn fixture_at(event_type: EventType, timestamp: i64) -> String {
    let body = fixture(event_type);
    let marker = "\"timestamp\": ";
    match body.find(marker) {
        Some(start) => {
            let digits_start = start + marker.len();
            let digits_len = body[digits_start..]
                .find(|c: char| !c.is_ascii_digit())
                .unwrap_or(0);
            format!(
                "{}{timestamp}{}",
                &body[..digits_start],
                &body[digits_start + digits_len..]
            )
        }
        None => body.to_owned(),
    }
}

/// Builds a delivery exactly as RxScale sends it — body bytes and headers — for testing your
/// handler end to end without computing HMACs by hand.
///
/// By default: the `pharmacy_order_created` fixture, stamped with the current time, signed with
/// the given secret.
///
/// ```
/// use std::time::Duration;
/// use rxscale_webhooks::testing::TestDelivery;
/// use rxscale_webhooks::{ErrorKind, EventType, SigningSecret, Verifier};
///
/// let secret = SigningSecret::new("whsec_test");
/// let verifier = Verifier::builder().secret(secret.clone()).build().unwrap();
///
/// let genuine = TestDelivery::new(&secret).event(EventType::PharmacySkuStockUpdated).build();
/// assert_eq!(genuine.header("x-webhook-event"), Some("pharmacy_sku_stock_updated"));
/// assert!(verifier.verify(genuine.body(), genuine.signature().unwrap()).is_ok());
///
/// let stale = TestDelivery::new(&secret).stale(Duration::from_secs(4 * 24 * 3600)).build();
/// let err = verifier.verify(stale.body(), stale.signature().unwrap()).unwrap_err();
/// assert_eq!(err.kind(), ErrorKind::Expired);
/// ```
#[derive(Debug, Clone)]
#[must_use]
pub struct TestDelivery {
    secret: SigningSecret,
    source: Source,
    timestamp: Option<i64>,
    signing: Signing,
    tamper: bool,
}

#[derive(Debug, Clone)]
enum Source {
    Fixture(EventType),
    Unknown(String),
    Raw(Vec<u8>),
}

#[derive(Debug, Clone)]
enum Signing {
    Secret,
    Other(SigningSecret),
    Unsigned,
    Literal(String),
}

impl TestDelivery {
    /// A genuine `pharmacy_order_created` delivery signed with `secret`, stamped now.
    pub fn new(secret: &SigningSecret) -> Self {
        TestDelivery {
            secret: secret.clone(),
            source: Source::Fixture(EventType::PharmacyOrderCreated),
            timestamp: None,
            signing: Signing::Secret,
            tamper: false,
        }
    }

    /// Uses the fixture of `event_type`. Default: `pharmacy_order_created`.
    pub fn event(mut self, event_type: EventType) -> Self {
        self.source = Source::Fixture(event_type);
        self
    }

    /// Uses an event type this SDK does not know, with `data: {"uid": "test-1"}`.
    pub fn unknown_event(mut self, event_type: impl Into<String>) -> Self {
        self.source = Source::Unknown(event_type.into());
        self
    }

    /// Sends these exact bytes as the body instead of a fixture (the timestamp is then not
    /// rewritten). `X-Webhook-Event` is read from the body's `event_type` when there is one.
    pub fn body(mut self, body: impl Into<Vec<u8>>) -> Self {
        self.source = Source::Raw(body.into());
        self
    }

    /// Stamps the envelope with this time. Default: now.
    pub fn timestamp(mut self, at: OffsetDateTime) -> Self {
        self.timestamp = Some(at.unix_timestamp());
        self
    }

    /// Stamps the envelope `age` in the past.
    pub fn stale(mut self, age: Duration) -> Self {
        let age = i64::try_from(age.as_secs()).unwrap_or(i64::MAX);
        self.timestamp = Some(
            OffsetDateTime::now_utc()
                .unix_timestamp()
                .saturating_sub(age),
        );
        self
    }

    /// Signs with another secret, as a forger would.
    pub fn wrong_secret(mut self) -> Self {
        self.signing = Signing::Other(SigningSecret::new("whsec_test_delivery_wrong_secret"));
        self
    }

    /// Sends no `X-Webhook-Signature` header.
    pub fn unsigned(mut self) -> Self {
        self.signing = Signing::Unsigned;
        self
    }

    /// Sends this literal `X-Webhook-Signature` value.
    pub fn signature(mut self, value: impl Into<String>) -> Self {
        self.signing = Signing::Literal(value.into());
        self
    }

    /// Changes one byte of the body after signing.
    pub fn tamper(mut self) -> Self {
        self.tamper = true;
        self
    }

    /// The delivery.
    pub fn build(self) -> Delivery {
        let timestamp = self
            .timestamp
            .unwrap_or_else(|| OffsetDateTime::now_utc().unix_timestamp());
        let (event_type, mut body) = match self.source {
            Source::Fixture(event_type) => (
                Some(event_type.as_str().to_owned()),
                fixture_at(event_type, timestamp).into_bytes(),
            ),
            Source::Unknown(event_type) => {
                let body = serde_json::json!({
                    "event_type": event_type,
                    "timestamp": timestamp,
                    "payload_version": "1",
                    "data": {"uid": "test-1"},
                });
                (Some(event_type), body.to_string().into_bytes())
            }
            Source::Raw(body) => {
                let event_type = serde_json::from_slice::<serde_json::Value>(&body)
                    .ok()
                    .and_then(|v| v.get("event_type")?.as_str().map(str::to_owned));
                (event_type, body)
            }
        };
        let signature = match self.signing {
            Signing::Secret => Some(sign(&self.secret, &body)),
            Signing::Other(other) => Some(sign(&other, &body)),
            Signing::Unsigned => None,
            Signing::Literal(value) => Some(value),
        };
        if self.tamper {
            if let Some(last_digit) = body.iter().rposition(u8::is_ascii_digit) {
                body[last_digit] = if body[last_digit] == b'9' {
                    b'0'
                } else {
                    body[last_digit] + 1
                };
            } else if let Some(first) = body.first_mut() {
                *first ^= 1;
            }
        }
        let mut headers = vec![("content-type", "application/json".to_owned())];
        if let Some(event_type) = event_type {
            headers.push((EVENT_HEADER, event_type));
        }
        if let Some(signature) = signature {
            headers.push((SIGNATURE_HEADER, signature));
        }
        Delivery { body, headers }
    }
}

/// A built [`TestDelivery`]: the body bytes and the headers RxScale would send.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Delivery {
    body: Vec<u8>,
    headers: Vec<(&'static str, String)>,
}

impl Delivery {
    /// The body bytes.
    #[must_use]
    pub fn body(&self) -> &[u8] {
        &self.body
    }

    /// Takes the body bytes.
    #[must_use]
    pub fn into_body(self) -> Vec<u8> {
        self.body
    }

    /// The headers, lowercase names: `content-type`, `x-webhook-event`, `x-webhook-signature`.
    #[must_use]
    pub fn headers(&self) -> &[(&'static str, String)] {
        &self.headers
    }

    /// One header's value.
    #[must_use]
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(key, _)| key.eq_ignore_ascii_case(name))
            .map(|(_, value)| value.as_str())
    }

    /// The `X-Webhook-Signature` value, if the delivery is signed.
    #[must_use]
    pub fn signature(&self) -> Option<&str> {
        self.header(SIGNATURE_HEADER)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fixture_at_replaces_only_the_envelope_timestamp() {
        let body = fixture_at(EventType::PharmacyOrderCreated, 1_800_000_000);
        let value: serde_json::Value = serde_json::from_str(&body).unwrap();
        assert_eq!(value["timestamp"], 1_800_000_000);
        assert_eq!(value["data"]["created_at"], 1_711_899_000);
        assert_eq!(body.len(), PHARMACY_ORDER_CREATED.len());
    }

    #[test]
    fn test_deliveries_verify_or_fail_as_asked() {
        use crate::{ErrorKind, Verifier};
        let secret = SigningSecret::new("whsec_td");
        let verifier = Verifier::builder().secret(secret.clone()).build().unwrap();
        let check = |delivery: Delivery| {
            verifier
                .verify(delivery.body(), delivery.signature().unwrap_or(""))
                .map(|v| v.event_type().to_owned())
                .map_err(|e| e.kind())
        };
        for &event_type in EventType::ALL {
            let delivery = TestDelivery::new(&secret).event(event_type).build();
            assert_eq!(check(delivery), Ok(event_type.as_str().to_owned()));
        }
        let unknown = TestDelivery::new(&secret)
            .unknown_event("brand_new")
            .build();
        assert_eq!(unknown.header("X-Webhook-Event"), Some("brand_new"));
        assert_eq!(check(unknown), Ok("brand_new".to_owned()));
        let t = || TestDelivery::new(&secret);
        assert_eq!(
            check(t().tamper().build()),
            Err(ErrorKind::SignatureMismatch)
        );
        assert_eq!(
            check(t().wrong_secret().build()),
            Err(ErrorKind::SignatureMismatch)
        );
        assert_eq!(
            check(t().unsigned().build()),
            Err(ErrorKind::MissingSignature)
        );
        assert_eq!(
            check(t().signature("sha256=00").build()),
            Err(ErrorKind::MalformedSignature)
        );
        assert_eq!(
            check(t().stale(Duration::from_secs(73 * 3600)).build()),
            Err(ErrorKind::Expired)
        );
        let raw = t()
            .body(r#"{"event_type":"x","timestamp":1,"data":{}}"#)
            .build();
        assert_eq!(raw.header("x-webhook-event"), Some("x"));
    }
}
