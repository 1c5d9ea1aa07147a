//! What a claim found, and the entity and version that order events.

use rxscale_webhooks::{Event, Verified};

/// The header added to a response for an event answered as stale.
pub const STALE_HEADER: &str = "x-webhook-stale";

/// The header added to a response for an event answered as a duplicate (the same header the
/// replay guard uses).
pub const DUPLICATE_HEADER: &str = rxscale_webhooks::replay::DUPLICATE_HEADER;

/// What [`Ledger::claim`](crate::Ledger::claim) found.
///
/// Exhaustive on purpose: every handler must decide what each outcome means for it, and a new
/// outcome would be a breaking change.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Claim {
    /// First time this event is seen: apply its effects in the same transaction, then commit.
    /// The claim commits or rolls back with them.
    Fresh,
    /// This event's effects were already committed. Apply nothing; answer 200.
    Duplicate,
    /// An event about the same entity with a newer version was already applied. Apply nothing;
    /// answer 200 (so RxScale stops retrying) with `X-Webhook-Stale: true`. Commit the
    /// transaction so that copies of this event are answered without another check.
    Stale,
}

impl Claim {
    /// Whether the effects must be applied.
    #[must_use]
    pub const fn is_fresh(self) -> bool {
        matches!(self, Claim::Fresh)
    }

    /// The snake_case outcome for logs and bodies: `fresh`, `duplicate` or `stale`.
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            Claim::Fresh => "fresh",
            Claim::Duplicate => "duplicate",
            Claim::Stale => "stale",
        }
    }

    /// The response header that marks the outcome, if any: `X-Webhook-Duplicate: true` or
    /// `X-Webhook-Stale: true`. Every outcome is answered 200.
    #[must_use]
    pub const fn header(self) -> Option<(&'static str, &'static str)> {
        match self {
            Claim::Fresh => None,
            Claim::Duplicate => Some((DUPLICATE_HEADER, "true")),
            Claim::Stale => Some((STALE_HEADER, "true")),
        }
    }

    /// The terse JSON body: `{"status":"ok"}`, `{"status":"duplicate"}` or `{"status":"stale"}`.
    #[must_use]
    pub const fn response_body(self) -> &'static str {
        match self {
            Claim::Fresh => r#"{"status":"ok"}"#,
            Claim::Duplicate => r#"{"status":"duplicate"}"#,
            Claim::Stale => r#"{"status":"stale"}"#,
        }
    }
}

/// The object an event is about and the version of it that the event carries.
///
/// Events are ordered per `(kind, id)`: an event whose version is **lower** than the highest
/// version already applied for its entity is [`Stale`](Claim::Stale). An **equal** version is
/// applied: RxScale's versions are Unix seconds, and two real changes within one second share
/// one, so dropping the second would lose a change; the first to commit wins the race and the
/// second is applied after it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Entity<'a> {
    kind: &'a str,
    id: &'a str,
    version: i64,
}

impl<'a> Entity<'a> {
    /// An entity of `kind` (a namespace, e.g. `"pharmacy_order"`, so that ids of different
    /// kinds never collide), with `id` and the `version` this event carries.
    #[must_use]
    pub const fn new(kind: &'a str, id: &'a str, version: i64) -> Self {
        Entity { kind, id, version }
    }

    /// The kind, e.g. `pharmacy_order`.
    #[must_use]
    pub const fn kind(&self) -> &'a str {
        self.kind
    }

    /// The id, e.g. the pharmacy order's `data.uid`.
    #[must_use]
    pub const fn id(&self) -> &'a str {
        self.id
    }

    /// The version: `data.updated_at`, else the envelope `timestamp`, in Unix seconds.
    #[must_use]
    pub const fn version(&self) -> i64 {
        self.version
    }

    /// The entity of an RxScale event, as [`Ledger::claim`](crate::Ledger::claim) orders it:
    ///
    /// | event type | kind | id | version |
    /// |---|---|---|---|
    /// | `pharmacy_order_created`, `pharmacy_order_updated` | `pharmacy_order` | `data.uid` | `data.updated_at` |
    /// | `pharmacy_sku_stock_updated` | `pharmacy_sku` | `data.uid` | `data.updated_at`, else `timestamp` |
    /// | `patient_doctor_meeting_updated` | `patient_doctor_meeting` | `data.uid` | `timestamp` |
    /// | `appointment_reminder_due`, unknown types | none | | |
    ///
    /// A created and an updated event of one order share the entity, so a late `created`
    /// never overwrites a newer update. A reminder is a notification, not a state, so it is
    /// never stale; an event without a string `data.uid` has no entity.
    #[must_use]
    pub fn of(verified: &'a Verified) -> Option<Entity<'a>> {
        let timestamp = verified.timestamp().unix_timestamp();
        match verified.event() {
            Event::PharmacyOrderCreated(order) | Event::PharmacyOrderUpdated(order) => {
                Some(Entity::new(
                    "pharmacy_order",
                    &order.uid,
                    order.updated_at.unix_timestamp(),
                ))
            }
            Event::PharmacySkuStockUpdated(stock) => stock.uid.as_deref().map(|uid| {
                let version = stock
                    .updated_at
                    .map_or(timestamp, |updated| updated.unix_timestamp());
                Entity::new("pharmacy_sku", uid, version)
            }),
            Event::PatientDoctorMeetingUpdated(meeting) => meeting
                .uid
                .as_deref()
                .map(|uid| Entity::new("patient_doctor_meeting", uid, timestamp)),
            _ => None,
        }
    }
}
