use serde::{Deserialize, Serialize};
use std::fmt;

use serde_json::value::RawValue;

use crate::event::redact::Redacted;
use time::OffsetDateTime;

use super::object_only;
use super::status::PharmacyOrderStatus;
use super::text::Text;

/// A pharmacy order: the `data` of `pharmacy_order_created` and `pharmacy_order_updated`
/// (spec §4.1, §4.2).
///
/// Fields RxScale documents as never null are plain; every other field is an `Option` that is
/// `None` both when the field is `null` and when it is absent. Unknown fields are ignored.
#[derive(Clone, Serialize, Deserialize)]
#[non_exhaustive]
pub struct PharmacyOrder {
    /// Pharmacy order UID, e.g. `po-abc123`. Also the `uid` of the dedup key.
    pub uid: Text,
    /// Current status.
    pub status: PharmacyOrderStatus,
    /// Human-readable order name, e.g. `#1001`.
    #[serde(default)]
    pub name: Option<Text>,
    /// Custom data attached to the order: free-form JSON, kept as received (validated, never
    /// rebuilt into a tree), so that no depth of nesting makes an authentic order undecodable.
    /// Decode it when you need it: `serde_json::from_str::<YourType>(data.get())`.
    #[serde(default)]
    pub data: Option<Box<RawValue>>,
    /// External status identifier, e.g. `OPEN` (value set undocumented).
    #[serde(default)]
    pub external_status: Option<Text>,
    /// When the order was created.
    #[serde(with = "time::serde::timestamp")]
    pub created_at: OffsetDateTime,
    /// When the order was last updated. Use it to discard stale, out-of-order updates.
    #[serde(with = "time::serde::timestamp")]
    pub updated_at: OffsetDateTime,
    /// When the order was soft-deleted, if it was.
    #[serde(default, with = "time::serde::timestamp::option")]
    pub deleted_at: Option<OffsetDateTime>,
    /// The pharmacy the order is assigned to.
    #[serde(deserialize_with = "object_only::required")]
    pub pharmacy: PharmacySummary,
    /// The parent (shop) order.
    #[serde(deserialize_with = "object_only::required")]
    pub order: ParentOrder,
    /// How the order is delivered.
    #[serde(default, deserialize_with = "object_only::option")]
    pub delivery_type: Option<DeliveryType>,
    /// The items of the order.
    #[serde(deserialize_with = "object_only::vec")]
    pub order_items: Vec<OrderItem>,
    /// The patient, when shared with the pharmacy.
    #[serde(default, deserialize_with = "object_only::option")]
    pub patient_data: Option<PatientData>,
    /// The prescribing doctor. Unconfirmed for webhooks (spec §4.1, after `patient_data`).
    #[serde(default, deserialize_with = "object_only::option")]
    pub doctor_data: Option<DoctorData>,
    /// The prescription document. Unconfirmed for webhooks; may be large.
    #[serde(default, deserialize_with = "object_only::option")]
    pub prescription_file: Option<PrescriptionFile>,
    /// Prepaid amount in cents. Unconfirmed for webhooks.
    #[serde(default)]
    pub prepaid: Option<i64>,
}

impl fmt::Debug for PharmacyOrder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PharmacyOrder")
            .field("uid", &self.uid)
            .field("status", &self.status)
            .field("name", &self.name)
            .field("data", &Redacted(&self.data))
            .field("external_status", &self.external_status)
            .field("created_at", &self.created_at)
            .field("updated_at", &self.updated_at)
            .field("deleted_at", &self.deleted_at)
            .field("pharmacy", &self.pharmacy)
            .field("order", &self.order)
            .field("delivery_type", &self.delivery_type)
            .field("order_items", &self.order_items)
            .field("patient_data", &self.patient_data)
            .field("doctor_data", &self.doctor_data)
            .field("prescription_file", &self.prescription_file)
            .field("prepaid", &self.prepaid)
            .finish()
    }
}

/// Field by field; `data` compares as its JSON text.
impl PartialEq for PharmacyOrder {
    fn eq(&self, other: &Self) -> bool {
        self.uid == other.uid
            && self.status == other.status
            && self.name == other.name
            && self.data.as_deref().map(RawValue::get) == other.data.as_deref().map(RawValue::get)
            && self.external_status == other.external_status
            && self.created_at == other.created_at
            && self.updated_at == other.updated_at
            && self.deleted_at == other.deleted_at
            && self.pharmacy == other.pharmacy
            && self.order == other.order
            && self.delivery_type == other.delivery_type
            && self.order_items == other.order_items
            && self.patient_data == other.patient_data
            && self.doctor_data == other.doctor_data
            && self.prescription_file == other.prescription_file
            && self.prepaid == other.prepaid
    }
}

/// The pharmacy an order is assigned to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct PharmacySummary {
    /// Pharmacy UID, e.g. `ph-xyz`.
    pub uid: Text,
    /// Pharmacy name.
    #[serde(default)]
    pub display_name: Option<Text>,
}

/// The parent (shop) order of a pharmacy order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct ParentOrder {
    /// Parent order UID, e.g. `ord-123`.
    pub uid: Text,
    /// Delivery address.
    #[serde(default, deserialize_with = "object_only::option")]
    pub delivery_address: Option<Address>,
    /// Invoice address.
    #[serde(default, deserialize_with = "object_only::option")]
    pub invoice_address: Option<Address>,
    /// Shipping costs in cents; `None` when not available (V2 docs only).
    #[serde(default)]
    pub shipping_costs_amount: Option<i64>,
    /// ISO 4217 currency of the shipping costs, e.g. `EUR` (V2 docs only).
    #[serde(default)]
    pub shipping_costs_currency: Option<Text>,
    /// Handling priority; larger is more urgent, 0 is none (V2 docs only).
    #[serde(default)]
    pub priority: Option<i64>,
}

/// A postal address (spec §4.9).
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct Address {
    /// First name.
    #[serde(default)]
    pub first_name: Option<Text>,
    /// Last name.
    #[serde(default)]
    pub last_name: Option<Text>,
    /// Street.
    #[serde(default)]
    pub street: Option<Text>,
    /// House number, a string such as `"1"` or `"12a"`.
    #[serde(default)]
    pub house_number: Option<Text>,
    /// Postal code, a string such as `"10115"`.
    #[serde(default)]
    pub zip_code: Option<Text>,
    /// City.
    #[serde(default)]
    pub city: Option<Text>,
    /// Country **name**, e.g. `Germany` (not an ISO code).
    #[serde(default)]
    pub country: Option<Text>,
    /// Additional address line.
    #[serde(default)]
    pub additional_address: Option<Text>,
    /// Province; seen in newer Orders API examples only.
    #[serde(default)]
    pub province: Option<Text>,
}

impl fmt::Debug for Address {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Address")
            .field("first_name", &Redacted(&self.first_name))
            .field("last_name", &Redacted(&self.last_name))
            .field("street", &Redacted(&self.street))
            .field("house_number", &Redacted(&self.house_number))
            .field("zip_code", &Redacted(&self.zip_code))
            .field("city", &Redacted(&self.city))
            .field("country", &self.country)
            .field("additional_address", &Redacted(&self.additional_address))
            .field("province", &Redacted(&self.province))
            .finish()
    }
}

/// How an order is delivered.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct DeliveryType {
    /// Delivery type UID, e.g. `dt-001`.
    pub uid: Text,
    /// Name, e.g. `Standard Shipping`.
    #[serde(default)]
    pub display_name: Option<Text>,
    /// Machine identifier.
    #[serde(default)]
    pub identifier: Option<Text>,
}

/// One item of a pharmacy order.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct OrderItem {
    /// The SKU ordered.
    #[serde(deserialize_with = "object_only::required")]
    pub sku: Sku,
    /// Pharmacy-specific SKU data.
    #[serde(default, deserialize_with = "object_only::option")]
    pub pharmacy_sku: Option<PharmacySku>,
    /// Item UID, e.g. `oi-789` (unconfirmed for webhooks).
    #[serde(default)]
    pub uid: Option<Text>,
    /// Quantity (unconfirmed for webhooks).
    #[serde(default)]
    pub amount: Option<i64>,
    /// Amount paid in cents (unconfirmed for webhooks).
    #[serde(default)]
    pub total_paid_amount: Option<i64>,
}

/// A product SKU.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct Sku {
    /// SKU UID.
    #[serde(default)]
    pub uid: Option<Text>,
    /// SKU name, e.g. `Medication X 100mg`.
    #[serde(default)]
    pub display_name: Option<Text>,
    /// German pharmaceutical number (PZN), a string.
    #[serde(default)]
    pub pzn: Option<Text>,
    /// Product UID.
    #[serde(default)]
    pub product_uid: Option<Text>,
    /// Product name.
    #[serde(default)]
    pub product_display_name: Option<Text>,
    /// Product handle (slug).
    #[serde(default)]
    pub product_handle: Option<Text>,
    /// Standard selling unit, a number (e.g. `10.0`).
    #[serde(default)]
    pub standard_selling_unit: Option<f64>,
    /// Unit of the selling unit, e.g. `g`.
    #[serde(default)]
    pub unit: Option<Text>,
    /// Whether the product is digital.
    #[serde(default)]
    pub digital: Option<bool>,
}

/// Pharmacy-specific SKU data.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct PharmacySku {
    /// Pharmacy SKU UID, e.g. `psku-abc123`.
    pub uid: Text,
    /// The pharmacy's own identifier.
    #[serde(default)]
    pub external_id: Option<Text>,
    /// Price in cents.
    #[serde(default)]
    pub price: Option<i64>,
    /// Stock level.
    #[serde(default)]
    pub stock: Option<i64>,
}

/// The patient, as shared with the pharmacy.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct PatientData {
    /// Patient UID.
    #[serde(default)]
    pub uid: Option<Text>,
    /// Patient name.
    #[serde(default)]
    pub display_name: Option<Text>,
    /// E-mail address.
    #[serde(default)]
    pub email: Option<Text>,
    /// Date of birth as sent, e.g. `1990-01-15` (field name inferred from the Orders API).
    #[serde(default)]
    pub date_of_birth: Option<Text>,
}

impl fmt::Debug for PatientData {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PatientData")
            .field("uid", &self.uid)
            .field("display_name", &Redacted(&self.display_name))
            .field("email", &Redacted(&self.email))
            .field("date_of_birth", &Redacted(&self.date_of_birth))
            .finish()
    }
}

/// The prescribing doctor.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct DoctorData {
    /// Doctor UID.
    #[serde(default)]
    pub uid: Option<Text>,
    /// Doctor name.
    #[serde(default)]
    pub display_name: Option<Text>,
}

impl fmt::Debug for DoctorData {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DoctorData")
            .field("uid", &self.uid)
            .field("display_name", &Redacted(&self.display_name))
            .finish()
    }
}

/// A prescription document.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct PrescriptionFile {
    /// File name.
    #[serde(default)]
    pub filename: Option<Text>,
    /// Base64 content.
    #[serde(default)]
    pub content_base64: Option<Text>,
}

impl fmt::Debug for PrescriptionFile {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PrescriptionFile")
            .field("filename", &Redacted(&self.filename))
            .field("content_base64", &self.content_base64)
            .finish()
    }
}
