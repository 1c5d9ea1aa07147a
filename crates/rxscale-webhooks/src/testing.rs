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

use crate::event::EventType;

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
}
