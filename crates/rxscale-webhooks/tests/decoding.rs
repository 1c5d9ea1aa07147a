//! Typed decoding of every payload example in the spec, and of variants with unknown fields,
//! unknown statuses and nulls: a new field or status from RxScale must never fail an event.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use rxscale_webhooks::event::{MeetingStatus, PharmacyOrderStatus};
use rxscale_webhooks::testing::{self, fixture};
use rxscale_webhooks::{
    ErrorKind, Event, EventType, OffsetDateTime, SigningSecret, Verifier, sign,
};
use serde_json::{Value, json};

const SECRET: &str = "whsec_decoding";

fn verify(body: &str) -> Result<rxscale_webhooks::Verified, rxscale_webhooks::Error> {
    let secret = SigningSecret::new(SECRET);
    let verifier = Verifier::builder()
        .secret(secret.clone())
        .no_max_age()
        .no_max_future_skew()
        .build()
        .unwrap();
    verifier.verify_at(body, sign(&secret, body), OffsetDateTime::UNIX_EPOCH)
}

fn with(body: &str, edit: impl FnOnce(&mut Value)) -> String {
    let mut value: Value = serde_json::from_str(body).unwrap();
    edit(&mut value);
    serde_json::to_string(&value).unwrap()
}

#[test]
fn pharmacy_order_created_v1_example() {
    let verified = verify(fixture(EventType::PharmacyOrderCreated)).unwrap();
    assert_eq!(verified.event_type(), "pharmacy_order_created");
    assert_eq!(verified.timestamp().unix_timestamp(), 1_711_900_000);
    assert_eq!(verified.payload_version(), Some("1"));
    assert_eq!(
        verified.dedup_key().as_str(),
        "pharmacy_order_created:1711900000:po-abc123"
    );
    let Event::PharmacyOrderCreated(order) = verified.event() else {
        panic!("{:?}", verified.event());
    };
    assert_eq!(order.uid, "po-abc123");
    assert_eq!(order.status, PharmacyOrderStatus::Init);
    assert_eq!(order.name.as_deref(), Some("#1001"));
    assert_eq!(order.data.as_deref().map(|raw| raw.get()), Some("{}"));
    assert_eq!(order.external_status.as_deref(), Some("OPEN"));
    assert_eq!(order.created_at.unix_timestamp(), 1_711_899_000);
    assert_eq!(order.deleted_at, None);
    assert_eq!(order.pharmacy.uid, "ph-xyz");
    assert_eq!(
        order.pharmacy.display_name.as_deref(),
        Some("City Pharmacy")
    );
    let delivery = order.order.delivery_address.as_ref().unwrap();
    assert_eq!(delivery.house_number.as_deref(), Some("1"));
    assert_eq!(delivery.zip_code.as_deref(), Some("10115"));
    assert_eq!(delivery.country.as_deref(), Some("Germany"));
    assert_eq!(delivery.additional_address, None);
    assert_eq!(order.order.priority, None);
    let delivery_type = order.delivery_type.as_ref().unwrap();
    assert_eq!(delivery_type.identifier.as_deref(), Some("standard"));
    let item = &order.order_items[0];
    assert_eq!(item.sku.pzn.as_deref(), Some("12345678"));
    let pharmacy_sku = item.pharmacy_sku.as_ref().unwrap();
    assert_eq!(pharmacy_sku.price, Some(1299));
    assert_eq!(pharmacy_sku.stock, Some(50));
    let patient = order.patient_data.as_ref().unwrap();
    assert_eq!(patient.date_of_birth.as_deref(), Some("1990-01-15"));
}

#[test]
fn pharmacy_order_created_v2_fields() {
    let verified = verify(testing::PHARMACY_ORDER_CREATED_V2).unwrap();
    let Event::PharmacyOrderCreated(order) = verified.event() else {
        panic!()
    };
    assert_eq!(order.order.shipping_costs_amount, Some(499));
    assert_eq!(order.order.shipping_costs_currency.as_deref(), Some("EUR"));
    assert_eq!(order.order.priority, Some(5));
}

#[test]
fn pharmacy_order_updated_example() {
    let verified = verify(fixture(EventType::PharmacyOrderUpdated)).unwrap();
    let Event::PharmacyOrderUpdated(order) = verified.event() else {
        panic!()
    };
    assert_eq!(order.status, PharmacyOrderStatus::InProgress);
    assert!(order.order_items.is_empty());
    assert_eq!(order.patient_data, None);
    assert_eq!(order.updated_at.unix_timestamp(), 1_711_903_600);
}

#[test]
fn sku_stock_meeting_and_reminder_examples() {
    let verified = verify(fixture(EventType::PharmacySkuStockUpdated)).unwrap();
    let Event::PharmacySkuStockUpdated(stock) = verified.event() else {
        panic!()
    };
    assert_eq!(stock.uid.as_deref(), Some("psku-abc123"));
    assert_eq!(stock.stock, Some(50));
    assert_eq!(stock.pharmacy.as_deref(), Some("pharmacy-123"));
    let sku = stock.sku.as_ref().unwrap();
    assert_eq!(sku.standard_selling_unit, Some(10.0));
    assert_eq!(sku.digital, Some(false));
    assert_eq!(stock.deleted_at, None);

    let verified = verify(fixture(EventType::PatientDoctorMeetingUpdated)).unwrap();
    let Event::PatientDoctorMeetingUpdated(meeting) = verified.event() else {
        panic!()
    };
    assert_eq!(meeting.uid.as_deref(), Some("mtg-abc123"));
    assert_eq!(meeting.status, Some(MeetingStatus::Confirmed));
    assert_eq!(meeting.appointment_type_uid, None);

    let verified = verify(fixture(EventType::AppointmentReminderDue)).unwrap();
    let Event::AppointmentReminderDue(reminder) = verified.event() else {
        panic!()
    };
    assert_eq!(reminder.uid, None);
    assert_eq!(reminder.raw.get(), "{}");
    assert!(
        verified
            .dedup_key()
            .as_str()
            .starts_with("appointment_reminder_due:1711900000:sha256-")
    );
}

#[test]
fn unknown_fields_everywhere_are_tolerated() {
    for &event_type in EventType::ALL {
        let body = with(fixture(event_type), |v| {
            v["brand_new_envelope_field"] = json!({"nested": [1, 2]});
            v["data"]["brand_new_data_field"] = json!("x");
            if let Some(order) = v["data"].get_mut("order") {
                order["brand_new"] = json!(true);
                order["delivery_address"]["geo"] = json!({"lat": 1.5});
            }
            if let Some(items) = v["data"].get_mut("order_items") {
                for item in items.as_array_mut().unwrap() {
                    item["sku"]["new_sku_field"] = json!(7);
                }
            }
        });
        let verified = verify(&body).unwrap();
        assert_eq!(verified.event_type(), event_type.as_str());
    }
}

#[test]
fn unknown_statuses_are_kept_verbatim() {
    let body = with(fixture(EventType::PharmacyOrderUpdated), |v| {
        v["data"]["status"] = json!("shipped");
    });
    let Event::PharmacyOrderUpdated(order) = verify(&body).unwrap().into_event() else {
        panic!()
    };
    assert_eq!(order.status, PharmacyOrderStatus::Other("shipped".into()));
    assert_eq!(order.status.as_str(), "shipped");

    let body = with(fixture(EventType::PatientDoctorMeetingUpdated), |v| {
        v["data"]["status"] = json!("rescheduled");
    });
    let Event::PatientDoctorMeetingUpdated(meeting) = verify(&body).unwrap().into_event() else {
        panic!()
    };
    assert_eq!(
        meeting.status,
        Some(MeetingStatus::Other("rescheduled".into()))
    );
}

#[test]
fn nulls_and_absences_of_optional_fields() {
    let body = with(fixture(EventType::PharmacyOrderCreated), |v| {
        let data = &mut v["data"];
        for field in [
            "name",
            "external_status",
            "deleted_at",
            "delivery_type",
            "patient_data",
            "data",
        ] {
            data[field] = Value::Null;
        }
        data["order"]["delivery_address"] = Value::Null;
        data["order"]
            .as_object_mut()
            .unwrap()
            .remove("invoice_address");
        data["order_items"][0]["pharmacy_sku"] = Value::Null;
        data["order_items"][0]["sku"] = json!({});
    });
    let Event::PharmacyOrderCreated(order) = verify(&body).unwrap().into_event() else {
        panic!()
    };
    assert_eq!(order.name, None);
    assert_eq!(order.delivery_type, None);
    assert_eq!(order.order.invoice_address, None);
    assert_eq!(order.order_items[0].sku.pzn, None);
}

#[test]
fn unconfirmed_payloads_tolerate_surprising_types() {
    // pharmacy may turn out to be an object, stock a string: the event still arrives.
    let body = with(fixture(EventType::PharmacySkuStockUpdated), |v| {
        v["data"]["pharmacy"] = json!({"uid": "ph-1"});
        v["data"]["stock"] = json!("lots");
        v["data"]["updated_at"] = json!("yesterday");
    });
    let Event::PharmacySkuStockUpdated(stock) = verify(&body).unwrap().into_event() else {
        panic!()
    };
    assert_eq!(stock.uid.as_deref(), Some("psku-abc123"));
    assert_eq!(stock.pharmacy, None);
    assert_eq!(stock.stock, None);
    assert_eq!(stock.updated_at, None);
    assert_eq!(stock.price, Some(1299));
}

#[test]
fn documented_fields_of_the_wrong_type_are_invalid_event_data() {
    type Edit = fn(&mut Value);
    let cases: [(&str, Edit); 5] = [
        ("data.uid", |v| v["data"]["uid"] = json!(5)),
        ("data.status", |v| v["data"]["status"] = Value::Null),
        ("data.created_at", |v| {
            v["data"]["created_at"] = json!("2024-03-31")
        }),
        ("data.pharmacy", |v| {
            v["data"].as_object_mut().unwrap().remove("pharmacy");
        }),
        ("data.order_items", |v| v["data"]["order_items"] = json!({})),
    ];
    for (field, edit) in cases {
        let body = with(fixture(EventType::PharmacyOrderCreated), edit);
        let err = verify(&body).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::InvalidEventData, "{field}");
        assert!(err.to_string().contains(field), "{field}: {err}");
    }
}

/// serde's derived structs also take a sequence and fill fields by position; a payload struct
/// given as an array must be rejected instead of landing `["Jane"]` in its first field.
#[test]
fn nested_structs_given_as_positional_arrays_are_invalid_event_data() {
    let pointers = [
        "/data/pharmacy",
        "/data/order",
        "/data/order/delivery_address",
        "/data/order/invoice_address",
        "/data/delivery_type",
        "/data/order_items/0",
        "/data/order_items/0/sku",
        "/data/order_items/0/pharmacy_sku",
        "/data/patient_data",
        "/data/doctor_data",
        "/data/prescription_file",
    ];
    for pointer in pointers {
        let body = with(fixture(EventType::PharmacyOrderCreated), |v| {
            let (parent, key) = pointer.rsplit_once('/').unwrap();
            match v.pointer_mut(parent).unwrap() {
                Value::Object(object) => {
                    object.insert(key.to_owned(), json!(["Jane-Positional-4711"]));
                }
                Value::Array(array) => {
                    array[key.parse::<usize>().unwrap()] = json!(["Jane-Positional-4711"]);
                }
                other => panic!("{parent} is {other}"),
            }
        });
        let err = verify(&body).expect_err(pointer);
        assert_eq!(err.kind(), ErrorKind::InvalidEventData, "{pointer}");
        let path = pointer
            .trim_start_matches('/')
            .replace("/0", "[0]")
            .replace('/', ".");
        let text = err.to_string();
        assert!(text.contains(&path), "{pointer}: {text}");
        assert!(
            text.contains("invalid type: sequence, expected a JSON object"),
            "{pointer}: {text}"
        );
        assert!(!text.contains("Jane"), "{pointer}: {text}");
        assert!(!format!("{err:?}").contains("Jane"), "{pointer}: {err:?}");
    }

    // The unconfirmed stock payload's `sku` is lenient: an array is `None`, not a positional SKU.
    let body = with(fixture(EventType::PharmacySkuStockUpdated), |v| {
        v["data"]["sku"] = json!(["Jane-Positional-4711"]);
    });
    let Event::PharmacySkuStockUpdated(stock) = verify(&body).unwrap().into_event() else {
        panic!()
    };
    assert_eq!(stock.sku, None);
}

#[test]
fn unknown_event_types_verify_and_keep_raw_data() {
    let body = r#"{"event_type":"prescription_approved","timestamp":1711900000,"payload_version":"2","data":{"uid":"px-1","doctor":{"uid":"doc-1"}}}"#;
    let verified = verify(body).unwrap();
    assert_eq!(verified.payload_version(), Some("2"));
    let Event::Unknown(unknown) = verified.event() else {
        panic!()
    };
    assert_eq!(unknown.event_type, "prescription_approved");
    assert_eq!(unknown.uid.as_deref(), Some("px-1"));
    let data: Value = unknown.data_as().unwrap();
    assert_eq!(data["doctor"]["uid"], "doc-1");
    assert_eq!(
        verified.dedup_key().as_str(),
        "prescription_approved:1711900000:px-1"
    );
}

#[test]
fn event_type_matching_is_exact() {
    let body = with(fixture(EventType::PharmacyOrderCreated), |v| {
        v["event_type"] = json!("Pharmacy_Order_Created");
    });
    assert!(matches!(verify(&body).unwrap().event(), Event::Unknown(_)));
}

/// Issue 14: a genuine order whose free-form `data.data` nests deeper than serde_json's
/// 128-level recursion limit was 422 `invalid_event_data`, so RxScale would retry it for ever.
/// The free-form field is kept raw: validated, never rebuilt into a tree.
#[test]
fn free_form_order_data_nested_far_deeper_than_128_levels_decodes() {
    for depth in [129, 200, 10_000] {
        let nested = format!("{}{}{}", r#"{"k":["#.repeat(depth), "1", "]}".repeat(depth));
        let base = with(fixture(EventType::PharmacyOrderCreated), |value| {
            value["data"]["data"] = json!("PLACEHOLDER");
        });
        let body = base.replace(r#""PLACEHOLDER""#, &nested);
        let verified = verify(&body).unwrap_or_else(|error| panic!("depth {depth}: {error}"));
        let Event::PharmacyOrderCreated(order) = verified.event() else {
            panic!("depth {depth}: {:?}", verified.event());
        };
        assert_eq!(
            order.data.as_deref().map(|raw| raw.get()),
            Some(nested.as_str())
        );
        // The `Debug` print stays redacted and short.
        assert!(format!("{order:?}").contains("data: Some(<redacted>)"));
    }
}

/// Raw, but validated: free-form data that is not JSON fails the envelope like any other.
#[test]
fn free_form_order_data_that_is_not_json_is_rejected() {
    let base = with(fixture(EventType::PharmacyOrderCreated), |value| {
        value["data"]["data"] = json!("PLACEHOLDER");
    });
    let body = base.replace(r#""PLACEHOLDER""#, r#"{"k":[1,}"#);
    let error = verify(&body).unwrap_err();
    assert_eq!(error.kind(), ErrorKind::MalformedPayload);
}
