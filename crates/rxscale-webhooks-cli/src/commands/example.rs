//! `example [EVENT_TYPE]`: the payloads the SDK's own tests use, for piping into `sign`,
//! `verify` and `send`.

use std::io::Write;

use clap::Args;
use rxscale_webhooks::EventType;
use rxscale_webhooks::testing::{fixture, fixture_at};

use super::{parse_event_type, unix_now};
use crate::failure::{Failure, say};

#[derive(Debug, Args)]
pub(crate) struct ExampleArgs {
    /// The event type to print.
    #[arg(
        value_name = "EVENT_TYPE",
        value_parser = parse_event_type,
        default_value = "pharmacy_order_created",
        conflicts_with = "list"
    )]
    event_type: EventType,

    /// Name the event types instead, one a line.
    #[arg(long)]
    list: bool,

    /// Date the event now instead of its fixed example time, so that it passes the age check.
    #[arg(long, conflicts_with = "timestamp")]
    fresh: bool,

    /// Date the event at this Unix time.
    #[arg(long, value_name = "UNIX", allow_negative_numbers = true)]
    timestamp: Option<i64>,
}

pub(crate) fn run(args: &ExampleArgs) -> Result<(), Failure> {
    if args.list {
        for &event_type in EventType::ALL {
            say(event_type);
        }
        return Ok(());
    }
    let stamp = match (args.fresh, args.timestamp) {
        (true, _) => Some(unix_now()),
        (false, timestamp) => timestamp,
    };
    let body = match stamp {
        Some(timestamp) => fixture_at(args.event_type, timestamp),
        None => fixture(args.event_type).to_owned(),
    };
    // Byte for byte, so that `example > body.json` and `example | sign` agree.
    let mut stdout = std::io::stdout().lock();
    stdout
        .write_all(body.as_bytes())
        .and_then(|()| stdout.flush())
        .map_err(|err| Failure::usage(format!("cannot write to standard output: {err}")))
}
