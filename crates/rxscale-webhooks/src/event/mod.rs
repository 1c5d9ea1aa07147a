//! Typed RxScale events (spec §4).
//!
//! Forward compatibility is the rule: unknown fields are ignored, statuses are open enums, and
//! an `event_type` this SDK does not know becomes [`Event::Unknown`] rather than an error.

mod lenient;
mod object_only;
mod pharmacy_order;
mod redact;
mod status;
mod text;
mod unconfirmed;

use std::fmt;

use serde::Deserialize;
use serde::de::{DeserializeOwned, DeserializeSeed, Deserializer};
use serde_json::value::RawValue;

use self::redact::Redacted;

pub use pharmacy_order::{
    Address, DeliveryType, DoctorData, OrderItem, ParentOrder, PatientData, PharmacyOrder,
    PharmacySku, PharmacySummary, PrescriptionFile, Sku,
};
pub use status::{MeetingStatus, PharmacyOrderStatus};
pub use text::Text;
pub use unconfirmed::{AppointmentReminder, PatientDoctorMeeting, PharmacySkuStock};

/// A verified RxScale event, decoded by its `event_type`.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum Event {
    /// `pharmacy_order_created`: a new pharmacy order was assigned to the pharmacy.
    PharmacyOrderCreated(PharmacyOrder),
    /// `pharmacy_order_updated`: a pharmacy order changed (carries the full order).
    PharmacyOrderUpdated(PharmacyOrder),
    /// `pharmacy_sku_stock_updated`: the stock of a pharmacy SKU changed.
    PharmacySkuStockUpdated(PharmacySkuStock),
    /// `patient_doctor_meeting_updated`: a meeting moved to another lifecycle state.
    PatientDoctorMeetingUpdated(PatientDoctorMeeting),
    /// `appointment_reminder_due`: an appointment reminder became due.
    AppointmentReminderDue(AppointmentReminder),
    /// Any other `event_type`, authentic but unknown to this version of the SDK.
    Unknown(UnknownEvent),
}

impl Event {
    /// The wire `event_type`, e.g. `pharmacy_order_created`.
    #[must_use]
    pub fn event_type(&self) -> &str {
        match self {
            Event::PharmacyOrderCreated(_) => EventType::PharmacyOrderCreated.as_str(),
            Event::PharmacyOrderUpdated(_) => EventType::PharmacyOrderUpdated.as_str(),
            Event::PharmacySkuStockUpdated(_) => EventType::PharmacySkuStockUpdated.as_str(),
            Event::PatientDoctorMeetingUpdated(_) => {
                EventType::PatientDoctorMeetingUpdated.as_str()
            }
            Event::AppointmentReminderDue(_) => EventType::AppointmentReminderDue.as_str(),
            Event::Unknown(unknown) => &unknown.event_type,
        }
    }

    /// `data.uid`, the object the event is about, when the payload has one.
    #[must_use]
    pub fn uid(&self) -> Option<&str> {
        match self {
            Event::PharmacyOrderCreated(order) | Event::PharmacyOrderUpdated(order) => {
                Some(&order.uid)
            }
            Event::PharmacySkuStockUpdated(stock) => stock.uid.as_deref(),
            Event::PatientDoctorMeetingUpdated(meeting) => meeting.uid.as_deref(),
            Event::AppointmentReminderDue(reminder) => reminder.uid.as_deref(),
            Event::Unknown(unknown) => unknown.uid.as_deref(),
        }
    }
}

/// An authentic event whose `event_type` this SDK does not know. Acknowledge it: RxScale's
/// setup test and future event types arrive this way.
#[derive(Clone)]
#[non_exhaustive]
pub struct UnknownEvent {
    /// The wire `event_type`.
    pub event_type: Text,
    /// `data.uid` when it is a string.
    pub uid: Option<Text>,
    /// The `data` object, verbatim.
    pub data: Box<RawValue>,
}

impl fmt::Debug for UnknownEvent {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("UnknownEvent")
            .field("event_type", &self.event_type)
            .field("uid", &self.uid)
            .field("data", &Redacted(&self.data))
            .finish()
    }
}

impl UnknownEvent {
    pub(crate) fn new(event_type: Text, data: Box<RawValue>) -> Self {
        let uid = uid_of(&data);
        UnknownEvent {
            event_type,
            uid,
            data,
        }
    }

    /// Decodes `data` into a type of your own.
    ///
    /// # Errors
    ///
    /// serde's error when `data` does not fit `T`.
    pub fn data_as<T: DeserializeOwned>(&self) -> Result<T, serde_json::Error> {
        serde_json::from_str(self.data.get())
    }
}

impl PartialEq for UnknownEvent {
    fn eq(&self, other: &Self) -> bool {
        self.event_type == other.event_type && self.data.get() == other.data.get()
    }
}

/// `data.uid` of a raw `data` object, when it is a string.
pub(crate) fn uid_of(data: &RawValue) -> Option<Text> {
    #[derive(Deserialize)]
    struct UidOnly {
        #[serde(default, deserialize_with = "lenient::option")]
        uid: Option<Text>,
    }
    serde_json::from_str::<UidOnly>(data.get())
        .ok()
        .and_then(|found| found.uid)
}

/// The event types this SDK decodes into typed payloads.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum EventType {
    /// `pharmacy_order_created`
    PharmacyOrderCreated,
    /// `pharmacy_order_updated`
    PharmacyOrderUpdated,
    /// `pharmacy_sku_stock_updated`
    PharmacySkuStockUpdated,
    /// `patient_doctor_meeting_updated`
    PatientDoctorMeetingUpdated,
    /// `appointment_reminder_due`
    AppointmentReminderDue,
}

impl EventType {
    /// Every known event type.
    pub const ALL: &'static [EventType] = &[
        EventType::PharmacyOrderCreated,
        EventType::PharmacyOrderUpdated,
        EventType::PharmacySkuStockUpdated,
        EventType::PatientDoctorMeetingUpdated,
        EventType::AppointmentReminderDue,
    ];

    /// The wire string.
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            EventType::PharmacyOrderCreated => "pharmacy_order_created",
            EventType::PharmacyOrderUpdated => "pharmacy_order_updated",
            EventType::PharmacySkuStockUpdated => "pharmacy_sku_stock_updated",
            EventType::PatientDoctorMeetingUpdated => "patient_doctor_meeting_updated",
            EventType::AppointmentReminderDue => "appointment_reminder_due",
        }
    }

    /// The known type with this wire string, if any. Comparison is exact.
    #[must_use]
    pub fn from_wire(event_type: &str) -> Option<Self> {
        EventType::ALL
            .iter()
            .copied()
            .find(|known| known.as_str() == event_type)
    }

    /// Decodes `data` for this event type, with serde's own error on failure.
    pub(crate) fn decode<'de, D: Deserializer<'de>>(self, data: D) -> Result<Event, D::Error> {
        Ok(match self {
            EventType::PharmacyOrderCreated => {
                Event::PharmacyOrderCreated(object_only::required(data)?)
            }
            EventType::PharmacyOrderUpdated => {
                Event::PharmacyOrderUpdated(object_only::required(data)?)
            }
            EventType::PharmacySkuStockUpdated => {
                Event::PharmacySkuStockUpdated(object_only::required(data)?)
            }
            EventType::PatientDoctorMeetingUpdated => {
                Event::PatientDoctorMeetingUpdated(object_only::required(data)?)
            }
            // Kept raw, so decoded straight from serde_json (RawValue needs its deserializer).
            EventType::AppointmentReminderDue => {
                let reminder = AppointmentReminder::deserialize(data)?;
                if !is_object(&reminder.raw) {
                    return Err(serde::de::Error::custom("data is not an object"));
                }
                Event::AppointmentReminderDue(reminder)
            }
        })
    }
}

impl fmt::Display for EventType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

pub(crate) fn is_object(raw: &RawValue) -> bool {
    raw.get().starts_with('{')
}

/// A seed that decodes one known event type's `data`.
pub(crate) struct DataSeed(pub(crate) EventType);

impl<'de> DeserializeSeed<'de> for DataSeed {
    type Value = Event;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Event, D::Error> {
        self.0.decode(deserializer)
    }
}
