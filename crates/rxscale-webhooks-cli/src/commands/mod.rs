//! One module per subcommand.

pub(crate) mod demo;
pub(crate) mod example;
pub(crate) mod inbox;
pub(crate) mod listen;
pub(crate) mod send;
pub(crate) mod sign;
pub(crate) mod subscriptions;
pub(crate) mod verify;

use rxscale_webhooks::EventType;

/// Parses an event type for clap, so that an unknown one is a usage error (exit 2) that lists
/// the known ones.
pub(crate) fn parse_event_type(value: &str) -> Result<EventType, String> {
    EventType::from_wire(value).ok_or_else(|| {
        format!(
            "unknown event type; known event types: {}",
            EventType::ALL
                .iter()
                .map(|known| known.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        )
    })
}

/// Seconds since the Unix epoch, by this machine's clock.
pub(crate) fn unix_now() -> i64 {
    rxscale_webhooks::OffsetDateTime::now_utc().unix_timestamp()
}

/// The async runtime of the commands that talk HTTP. One thread is plenty for a developer's
/// tool, and leaves the machine to the receiver being tested.
pub(crate) fn runtime() -> Result<tokio::runtime::Runtime, crate::failure::Failure> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|err| {
            crate::failure::Failure::usage(format!("cannot start the async runtime: {err}"))
        })
}
