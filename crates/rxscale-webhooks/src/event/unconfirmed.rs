//! Payloads RxScale names but has not published (spec §4.3–4.5). Every field is optional and
//! decoded leniently (see `lenient`), and the raw `data` stays available.

use std::fmt;

use crate::event::redact::Redacted;
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;
use time::OffsetDateTime;

use super::lenient;
use super::object_only;
use super::pharmacy_order::Sku;
use super::status::MeetingStatus;
use super::text::Text;

/// `data` of `pharmacy_sku_stock_updated`. The shape is the External Pharmacy SKU API's
/// pharmacy-SKU object, which RxScale has not confirmed for webhooks (spec §4.3).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct PharmacySkuStock {
    /// Pharmacy SKU UID, e.g. `psku-abc123`.
    #[serde(default, deserialize_with = "lenient::option")]
    pub uid: Option<Text>,
    /// The pharmacy's own identifier for the SKU.
    #[serde(default, deserialize_with = "lenient::option")]
    pub external_id: Option<Text>,
    /// Price in cents.
    #[serde(default, deserialize_with = "lenient::option")]
    pub price: Option<i64>,
    /// Current stock level.
    #[serde(default, deserialize_with = "lenient::option")]
    pub stock: Option<i64>,
    /// Pharmacy UID (a plain string in the SKU API).
    #[serde(default, deserialize_with = "lenient::option")]
    pub pharmacy: Option<Text>,
    /// The product SKU.
    #[serde(default, deserialize_with = "object_only::lenient")]
    pub sku: Option<Sku>,
    /// Creation time.
    #[serde(
        default,
        deserialize_with = "lenient::timestamp",
        serialize_with = "time::serde::timestamp::option::serialize"
    )]
    pub created_at: Option<OffsetDateTime>,
    /// Last update time.
    #[serde(
        default,
        deserialize_with = "lenient::timestamp",
        serialize_with = "time::serde::timestamp::option::serialize"
    )]
    pub updated_at: Option<OffsetDateTime>,
    /// Soft-deletion time.
    #[serde(
        default,
        deserialize_with = "lenient::timestamp",
        serialize_with = "time::serde::timestamp::option::serialize"
    )]
    pub deleted_at: Option<OffsetDateTime>,
}

/// `data` of `patient_doctor_meeting_updated`. The shape is the scheduling API's appointment,
/// which RxScale has not confirmed for webhooks (spec §4.5).
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct PatientDoctorMeeting {
    /// Scheduled meeting UID, e.g. `mtg-abc123`.
    #[serde(default, deserialize_with = "lenient::option")]
    pub uid: Option<Text>,
    /// Lifecycle state.
    #[serde(default, deserialize_with = "lenient::option")]
    pub status: Option<MeetingStatus>,
    /// Doctor UID.
    #[serde(default, deserialize_with = "lenient::option")]
    pub doctor_uid: Option<Text>,
    /// Doctor name.
    #[serde(default, deserialize_with = "lenient::option")]
    pub doctor_display_name: Option<Text>,
    /// Patient UID.
    #[serde(default, deserialize_with = "lenient::option")]
    pub patient_uid: Option<Text>,
    /// Patient name.
    #[serde(default, deserialize_with = "lenient::option")]
    pub patient_display_name: Option<Text>,
    /// Appointment type UID, if any.
    #[serde(default, deserialize_with = "lenient::option")]
    pub appointment_type_uid: Option<Text>,
    /// Appointment type name, if any.
    #[serde(default, deserialize_with = "lenient::option")]
    pub appointment_type_name: Option<Text>,
    /// Meeting type (value set unpublished).
    #[serde(default, deserialize_with = "lenient::option")]
    pub meeting_type: Option<Text>,
}

impl fmt::Debug for PatientDoctorMeeting {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PatientDoctorMeeting")
            .field("uid", &self.uid)
            .field("status", &self.status)
            .field("doctor_uid", &self.doctor_uid)
            .field("doctor_display_name", &Redacted(&self.doctor_display_name))
            .field("patient_uid", &self.patient_uid)
            .field(
                "patient_display_name",
                &Redacted(&self.patient_display_name),
            )
            .field("appointment_type_uid", &self.appointment_type_uid)
            .field("appointment_type_name", &self.appointment_type_name)
            .field("meeting_type", &self.meeting_type)
            .finish()
    }
}

/// `data` of `appointment_reminder_due`. RxScale publishes nothing of its content (spec §4.4),
/// so it is kept raw; [`uid`](Self::uid) is read when present.
#[derive(Clone)]
#[non_exhaustive]
pub struct AppointmentReminder {
    /// `data.uid` when present (presumably the scheduled meeting UID).
    pub uid: Option<Text>,
    /// The whole `data` object, verbatim.
    pub raw: Box<RawValue>,
}

impl fmt::Debug for AppointmentReminder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AppointmentReminder")
            .field("uid", &self.uid)
            .field("raw", &Redacted(&self.raw))
            .finish()
    }
}

impl Serialize for AppointmentReminder {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        self.raw.serialize(serializer)
    }
}

impl PartialEq for AppointmentReminder {
    fn eq(&self, other: &Self) -> bool {
        self.uid == other.uid && self.raw.get() == other.raw.get()
    }
}

impl<'de> Deserialize<'de> for AppointmentReminder {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        struct UidOnly {
            #[serde(default, deserialize_with = "lenient::option")]
            uid: Option<Text>,
        }
        let raw = Box::<RawValue>::deserialize(deserializer)?;
        let uid = serde_json::from_str::<UidOnly>(raw.get())
            .ok()
            .and_then(|found| found.uid);
        Ok(AppointmentReminder { uid, raw })
    }
}
