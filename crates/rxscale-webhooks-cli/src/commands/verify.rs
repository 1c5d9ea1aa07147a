//! `verify --signature HEX [FILE|-]`: one JSON line saying whether a delivery is genuine, and
//! if not, why.

use std::path::PathBuf;

use clap::Args;
use rxscale_webhooks::{ErrorKind, OffsetDateTime};
use serde::Serialize;

use crate::failure::{Failure, say};
use crate::hints;
use crate::input::read_body;
use crate::limits::LimitArgs;
use crate::secret::SecretArgs;

#[derive(Debug, Args)]
pub(crate) struct VerifyArgs {
    /// The X-Webhook-Signature header value, as received.
    #[arg(long, value_name = "HEX", allow_hyphen_values = true)]
    signature: String,

    /// Check freshness as of this Unix time instead of now, e.g. when the delivery arrived.
    #[arg(long, value_name = "UNIX", allow_negative_numbers = true)]
    now: Option<i64>,

    #[command(flatten)]
    limits: LimitArgs,

    #[command(flatten)]
    secret: SecretArgs,

    /// The body exactly as received; `-` or nothing reads standard input.
    #[arg(value_name = "FILE|-")]
    input: Option<PathBuf>,
}

/// The one line printed. The field order is part of the interface, hence a struct, not a map.
#[derive(Serialize)]
#[serde(untagged)]
enum Report<'a> {
    Valid {
        valid: bool,
        event_type: &'a str,
        timestamp: i64,
        dedup_key: &'a str,
    },
    Invalid {
        valid: bool,
        error: &'static str,
        hint: String,
    },
}

pub(crate) fn run(args: VerifyArgs) -> Result<(), Failure> {
    let secret = args.secret.load()?;
    let now = match args.now {
        Some(unix) => OffsetDateTime::from_unix_timestamp(unix)
            .map_err(|_| Failure::usage(format!("--now {unix} is not a representable time")))?,
        None => OffsetDateTime::now_utc(),
    };
    let verifier = args.limits.verifier(&secret)?;
    let body = read_body(args.input.as_deref())?;

    let (report, result) = match verifier.verify_at(&body, &args.signature, now) {
        Ok(verified) => {
            let line = to_json(&Report::Valid {
                valid: true,
                event_type: verified.event_type(),
                timestamp: verified.timestamp().unix_timestamp(),
                dedup_key: verified.dedup_key().as_str(),
            });
            (line, Ok(()))
        }
        Err(error) => {
            let mut hint = hints::explain(&error, &secret, &body, args.signature.as_bytes());
            if error.kind() == ErrorKind::Expired && args.now.is_none() {
                hint.push_str(
                    "; to check a delivery captured earlier, pass --now with the Unix time it \
                     arrived",
                );
            }
            let line = to_json(&Report::Invalid {
                valid: false,
                error: error.kind().code(),
                hint,
            });
            (line, Err(Failure::Rejected))
        }
    };
    say(report);
    result
}

fn to_json(report: &Report<'_>) -> String {
    // Serializing strings and integers into a String cannot fail.
    serde_json::to_string(report).unwrap_or_else(|_| String::from(r#"{"valid":false}"#))
}
