use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use super::status::PharmacyOrderStatus;

/// A pharmacy order: the `data` of `pharmacy_order_created` and `pharmacy_order_updated`
/// (spec §4.1, §4.2).
///
/// Fields RxScale documents as never null are plain; every other field is an `Option` that is
/// `None` both when the field is `null` and when it is absent. Unknown fields are ignored.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct PharmacyOrder {
    /// Pharmacy order UID, e.g. `po-abc123`. Also the `uid` of the dedup key.
    pub uid: String,
    /// Current status.
    pub status: PharmacyOrderStatus,
    /// Human-readable order name, e.g. `#1001`.
    #[serde(default)]
    pub name: Option<String>,
    /// Custom data attached to the order.
    #[serde(default)]
    pub data: Option<serde_json::Value>,
    /// External status identifier, e.g. `OPEN` (value set undocumented).
    #[serde(default)]
    pub external_status: Option<String>,
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
    pub pharmacy: PharmacySummary,
    /// The parent (shop) order.
    pub order: ParentOrder,
    /// How the order is delivered.
    #[serde(default)]
    pub delivery_type: Option<DeliveryType>,
    /// The items of the order.
    pub order_items: Vec<OrderItem>,
    /// The patient, when shared with the pharmacy.
    #[serde(default)]
    pub patient_data: Option<PatientData>,
    /// The prescribing doctor. Unconfirmed for webhooks (spec §4.1, after `patient_data`).
    #[serde(default)]
    pub doctor_data: Option<DoctorData>,
    /// The prescription document. Unconfirmed for webhooks; may be large.
    #[serde(default)]
    pub prescription_file: Option<PrescriptionFile>,
    /// Prepaid amount in cents. Unconfirmed for webhooks.
    #[serde(default)]
    pub prepaid: Option<i64>,
}

/// The pharmacy an order is assigned to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct PharmacySummary {
    /// Pharmacy UID, e.g. `ph-xyz`.
    pub uid: String,
    /// Pharmacy name.
    #[serde(default)]
    pub display_name: Option<String>,
}

/// The parent (shop) order of a pharmacy order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct ParentOrder {
    /// Parent order UID, e.g. `ord-123`.
    pub uid: String,
    /// Delivery address.
    #[serde(default)]
    pub delivery_address: Option<Address>,
    /// Invoice address.
    #[serde(default)]
    pub invoice_address: Option<Address>,
    /// Shipping costs in cents; `None` when not available (V2 docs only).
    #[serde(default)]
    pub shipping_costs_amount: Option<i64>,
    /// ISO 4217 currency of the shipping costs, e.g. `EUR` (V2 docs only).
    #[serde(default)]
    pub shipping_costs_currency: Option<String>,
    /// Handling priority; larger is more urgent, 0 is none (V2 docs only).
    #[serde(default)]
    pub priority: Option<i64>,
}

/// A postal address (spec §4.9).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct Address {
    /// First name.
    #[serde(default)]
    pub first_name: Option<String>,
    /// Last name.
    #[serde(default)]
    pub last_name: Option<String>,
    /// Street.
    #[serde(default)]
    pub street: Option<String>,
    /// House number, a string such as `"1"` or `"12a"`.
    #[serde(default)]
    pub house_number: Option<String>,
    /// Postal code, a string such as `"10115"`.
    #[serde(default)]
    pub zip_code: Option<String>,
    /// City.
    #[serde(default)]
    pub city: Option<String>,
    /// Country **name**, e.g. `Germany` (not an ISO code).
    #[serde(default)]
    pub country: Option<String>,
    /// Additional address line.
    #[serde(default)]
    pub additional_address: Option<String>,
    /// Province; seen in newer Orders API examples only.
    #[serde(default)]
    pub province: Option<String>,
}

/// How an order is delivered.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct DeliveryType {
    /// Delivery type UID, e.g. `dt-001`.
    pub uid: String,
    /// Name, e.g. `Standard Shipping`.
    #[serde(default)]
    pub display_name: Option<String>,
    /// Machine identifier.
    #[serde(default)]
    pub identifier: Option<String>,
}

/// One item of a pharmacy order.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct OrderItem {
    /// The SKU ordered.
    pub sku: Sku,
    /// Pharmacy-specific SKU data.
    #[serde(default)]
    pub pharmacy_sku: Option<PharmacySku>,
    /// Item UID, e.g. `oi-789` (unconfirmed for webhooks).
    #[serde(default)]
    pub uid: Option<String>,
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
    pub uid: Option<String>,
    /// SKU name, e.g. `Medication X 100mg`.
    #[serde(default)]
    pub display_name: Option<String>,
    /// German pharmaceutical number (PZN), a string.
    #[serde(default)]
    pub pzn: Option<String>,
    /// Product UID.
    #[serde(default)]
    pub product_uid: Option<String>,
    /// Product name.
    #[serde(default)]
    pub product_display_name: Option<String>,
    /// Product handle (slug).
    #[serde(default)]
    pub product_handle: Option<String>,
    /// Standard selling unit, a number (e.g. `10.0`).
    #[serde(default)]
    pub standard_selling_unit: Option<f64>,
    /// Unit of the selling unit, e.g. `g`.
    #[serde(default)]
    pub unit: Option<String>,
    /// Whether the product is digital.
    #[serde(default)]
    pub digital: Option<bool>,
}

/// Pharmacy-specific SKU data.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct PharmacySku {
    /// Pharmacy SKU UID, e.g. `psku-abc123`.
    pub uid: String,
    /// The pharmacy's own identifier.
    #[serde(default)]
    pub external_id: Option<String>,
    /// Price in cents.
    #[serde(default)]
    pub price: Option<i64>,
    /// Stock level.
    #[serde(default)]
    pub stock: Option<i64>,
}

/// The patient, as shared with the pharmacy.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct PatientData {
    /// Patient UID.
    #[serde(default)]
    pub uid: Option<String>,
    /// Patient name.
    #[serde(default)]
    pub display_name: Option<String>,
    /// E-mail address.
    #[serde(default)]
    pub email: Option<String>,
    /// Date of birth as sent, e.g. `1990-01-15` (field name inferred from the Orders API).
    #[serde(default)]
    pub date_of_birth: Option<String>,
}

/// The prescribing doctor.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct DoctorData {
    /// Doctor UID.
    #[serde(default)]
    pub uid: Option<String>,
    /// Doctor name.
    #[serde(default)]
    pub display_name: Option<String>,
}

/// A prescription document.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct PrescriptionFile {
    /// File name.
    #[serde(default)]
    pub filename: Option<String>,
    /// Base64 content.
    #[serde(default)]
    pub content_base64: Option<String>,
}
