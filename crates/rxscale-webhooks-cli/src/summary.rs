//! One line about an event, for people watching deliveries arrive. It names objects by their
//! uids and states, never by the personal data orders carry.

use rxscale_webhooks::Event;

pub(crate) fn describe(event: &Event) -> String {
    match event {
        Event::PharmacyOrderCreated(order) | Event::PharmacyOrderUpdated(order) => {
            let name = order
                .name
                .as_deref()
                .map(|name| format!(" {name}"))
                .unwrap_or_default();
            let items = order.order_items.len();
            format!(
                "pharmacy order {}{name}: status {}, {items} item{}, pharmacy {}",
                order.uid,
                order.status,
                if items == 1 { "" } else { "s" },
                order.pharmacy.uid
            )
        }
        Event::PharmacySkuStockUpdated(stock) => format!(
            "pharmacy SKU {}: stock {}, price {}",
            or_unknown(stock.uid.as_deref()),
            stock
                .stock
                .map_or_else(|| "?".to_owned(), |n| n.to_string()),
            stock
                .price
                .map_or_else(|| "?".to_owned(), |cents| format!("{cents} cents")),
        ),
        Event::PatientDoctorMeetingUpdated(meeting) => format!(
            "meeting {}: status {}",
            or_unknown(meeting.uid.as_deref()),
            meeting
                .status
                .as_ref()
                .map_or("?", |status| status.as_str()),
        ),
        Event::AppointmentReminderDue(reminder) => format!(
            "appointment reminder for {}",
            or_unknown(reminder.uid.as_deref())
        ),
        Event::Unknown(unknown) => format!(
            "event type unknown to this SDK version, acknowledged; data.uid {}",
            or_unknown(unknown.uid.as_deref())
        ),
        other => format!("{} {}", other.event_type(), or_unknown(other.uid())),
    }
}

fn or_unknown(value: Option<&str>) -> &str {
    value.unwrap_or("(none)")
}

#[cfg(test)]
mod tests {
    use rxscale_webhooks::testing::fixture;
    use rxscale_webhooks::{EventType, SigningSecret, Verifier, sign};

    use super::*;

    #[test]
    fn every_fixture_has_a_summary_without_personal_data() {
        let secret = SigningSecret::new("whsec_summary");
        let verifier = Verifier::builder()
            .secret(secret.clone())
            .no_max_age()
            .build()
            .unwrap();
        for &event_type in EventType::ALL {
            let body = fixture(event_type);
            let verified = verifier.verify(body, sign(&secret, body)).unwrap();
            let line = describe(verified.event());
            assert!(!line.contains("Mustermann"), "{line}");
            assert!(!line.is_empty());
        }
        let body = fixture(EventType::PharmacyOrderCreated);
        let verified = verifier.verify(body, sign(&secret, body)).unwrap();
        assert_eq!(
            describe(verified.event()),
            "pharmacy order po-abc123 #1001: status init, 1 item, pharmacy ph-xyz"
        );
    }
}
