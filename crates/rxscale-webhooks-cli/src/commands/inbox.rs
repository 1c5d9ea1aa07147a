//! `inbox list|show|retry|purge`: the reply-first inbox of `rxscale-webhooks-sqlx`, in the
//! database at `DATABASE_URL` (Postgres, or SQLite, whose inbox is the file `PATH.inbox`).
//!
//! Nothing here stores an event or runs a handler: `retry` only makes a dead letter due again
//! for the receiver's workers, and `purge` deletes only events already processed or skipped.

use std::time::Duration;

use clap::{Args, Subcommand};
use rxscale_webhooks::OffsetDateTime;
use rxscale_webhooks_sqlx::sqlx::{PgPool, SqlitePool};
use rxscale_webhooks_sqlx::{
    DEFAULT_TABLE_PREFIX, Inbox, InboxEntry, InboxFilter, InboxStatus, Ledger, postgres, sqlite,
};
use serde_json::json;

use crate::failure::{Failure, say};

#[derive(Debug, Args)]
pub(crate) struct InboxArgs {
    /// The database: `postgres://...` or `sqlite://PATH`. Default: the DATABASE_URL variable.
    #[arg(long, global = true, value_name = "URL")]
    database_url: Option<String>,

    /// The table prefix the receiver's ledger uses.
    #[arg(long, global = true, value_name = "PREFIX", default_value = DEFAULT_TABLE_PREFIX)]
    table_prefix: String,

    /// One JSON object per line instead of text for a terminal.
    #[arg(long, global = true)]
    json: bool,

    #[command(subcommand)]
    command: InboxCommand,
}

#[derive(Debug, Subcommand)]
enum InboxCommand {
    /// List events, oldest first: key, status, attempts, age, type and the last error.
    List(ListArgs),
    /// Show one event. Its body, which holds personal data, only with --body.
    Show(ShowArgs),
    /// Queue a dead letter (or every one, with --all) for the receiver's workers again.
    Retry(RetryArgs),
    /// Delete processed and stale events completed longer ago than --older-than.
    Purge(PurgeArgs),
}

#[derive(Debug, Args)]
struct ListArgs {
    /// Only events in this status: pending, processing, done, stale or dead.
    #[arg(long, value_parser = parse_status)]
    status: Option<InboxStatus>,
    /// Only events of this type, e.g. pharmacy_order_updated.
    #[arg(long = "type", value_name = "EVENT_TYPE")]
    event_type: Option<String>,
    /// Only events that arrived at least this long ago: 90s, 10m, 2h, 7d.
    #[arg(long, value_name = "AGE", value_parser = parse_age)]
    older_than: Option<Duration>,
    /// At most this many events.
    #[arg(long, default_value_t = 1000)]
    limit: u32,
}

#[derive(Debug, Args)]
struct ShowArgs {
    /// The event's dedup key, as `list` prints it.
    key: String,
    /// Print the stored body too (personal data: patients' names, addresses, ...).
    #[arg(long)]
    body: bool,
}

#[derive(Debug, Args)]
struct RetryArgs {
    /// The dead letter's dedup key.
    #[arg(required_unless_present = "all", conflicts_with = "all")]
    key: Option<String>,
    /// Every dead letter.
    #[arg(long)]
    all: bool,
}

#[derive(Debug, Args)]
struct PurgeArgs {
    /// Keep events completed more recently than this: 90s, 10m, 2h, 7d.
    #[arg(long, value_name = "AGE", value_parser = parse_age, default_value = "7d")]
    older_than: Duration,
}

fn parse_status(value: &str) -> Result<InboxStatus, String> {
    InboxStatus::from_name(value).ok_or_else(|| {
        let known: Vec<_> = InboxStatus::ALL.iter().map(|s| s.as_str()).collect();
        format!("unknown status; known: {}", known.join(", "))
    })
}

fn parse_age(value: &str) -> Result<Duration, String> {
    let (number, unit) = value
        .find(|c: char| !c.is_ascii_digit())
        .map_or((value, "s"), |at| value.split_at(at));
    let number: u64 = number
        .parse()
        .map_err(|_| "expected a number and a unit: 90s, 10m, 2h, 7d".to_owned())?;
    let seconds = match unit {
        "s" => 1,
        "m" => 60,
        "h" => 3600,
        "d" => 86_400,
        _ => return Err("unknown unit; use s, m, h or d".to_owned()),
    };
    Ok(Duration::from_secs(number.saturating_mul(seconds)))
}

/// The database behind the inbox.
enum Db {
    Postgres(PgPool),
    Sqlite(SqlitePool),
}

/// Runs `$body` with `$pool` bound to whichever pool `$db` holds.
macro_rules! with_pool {
    ($db:expr, $pool:ident => $body:expr) => {
        match $db {
            Db::Postgres($pool) => $body,
            Db::Sqlite($pool) => $body,
        }
    };
}

pub(crate) fn run(args: InboxArgs) -> Result<(), Failure> {
    let url = match args.database_url.clone() {
        Some(url) => url,
        None => std::env::var("DATABASE_URL")
            .map_err(|_| Failure::usage("no database: set DATABASE_URL or pass --database-url"))?,
    };
    let ledger = Ledger::builder()
        .table_prefix(args.table_prefix.as_str())
        .build()
        .map_err(|error| Failure::usage(format!("--table-prefix: {error}")))?;
    let inbox = Inbox::new(ledger);
    super::runtime()?.block_on(async move {
        // The pools connect lazily: the URL's host and password are never printed.
        let db = if url.starts_with("postgres:") || url.starts_with("postgresql:") {
            Db::Postgres(postgres::pool(&url).map_err(Failure::usage)?)
        } else if url.starts_with("sqlite:") {
            Db::Sqlite(sqlite::inbox_pool(&url).map_err(Failure::usage)?)
        } else {
            return Err(Failure::usage(
                "the database URL must start with postgres:// or sqlite://",
            ));
        };
        let result = execute(&inbox, &db, &args).await;
        with_pool!(&db, pool => pool.close().await);
        result
    })
}

fn database(error: rxscale_webhooks_sqlx::Error) -> Failure {
    if error.kind() == rxscale_webhooks_sqlx::ErrorKind::MissingSchema {
        return Failure::usage(
            "database: the inbox table is missing; has the receiver run Inbox::migrate on this database, with this --table-prefix?",
        );
    }
    Failure::usage(format!("database: {error}"))
}

async fn execute(inbox: &Inbox, db: &Db, args: &InboxArgs) -> Result<(), Failure> {
    match &args.command {
        InboxCommand::List(list) => {
            let mut filter = InboxFilter::new().limit(list.limit);
            if let Some(status) = list.status {
                filter = filter.status(status);
            }
            if let Some(event_type) = &list.event_type {
                filter = filter.event_type(event_type.as_str());
            }
            if let Some(age) = list.older_than {
                filter = filter.older_than(age);
            }
            let entries =
                with_pool!(db, pool => inbox.list(pool, &filter).await).map_err(database)?;
            if args.json {
                for entry in &entries {
                    say(entry_json(entry));
                }
            } else {
                print_table(&entries);
            }
            Ok(())
        }
        InboxCommand::Show(show) => {
            let found =
                with_pool!(db, pool => inbox.get(pool, &show.key).await).map_err(database)?;
            let Some((entry, body)) = found else {
                eprintln!("no event with this key in the inbox");
                return Err(Failure::Rejected);
            };
            if args.json {
                let mut object = entry_json(&entry);
                if show.body {
                    object["body"] = json!(body);
                }
                say(object);
            } else {
                print_entry(&entry);
                if show.body {
                    say(format!("body:        {body}"));
                }
            }
            Ok(())
        }
        InboxCommand::Retry(retry) => {
            let queued = match &retry.key {
                Some(key) => {
                    let queued =
                        with_pool!(db, pool => inbox.retry(pool, key).await).map_err(database)?;
                    if !queued {
                        eprintln!(
                            "not queued: no dead or pending event has this key (processing, done and stale events are left alone)"
                        );
                        return Err(Failure::Rejected);
                    }
                    1
                }
                None => with_pool!(db, pool => inbox.retry_dead(pool).await).map_err(database)?,
            };
            if args.json {
                say(json!({ "queued": queued }));
            } else {
                say(format!(
                    "queued {queued} event(s) for the receiver's workers"
                ));
            }
            Ok(())
        }
        InboxCommand::Purge(purge) => {
            let deleted = with_pool!(db, pool => inbox.purge(pool, purge.older_than).await)
                .map_err(database)?;
            if args.json {
                say(json!({ "deleted": deleted }));
            } else {
                say(format!("deleted {deleted} processed or stale event(s)"));
            }
            Ok(())
        }
    }
}

fn rfc3339(ms: i64) -> String {
    OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000)
        .ok()
        .and_then(|time| {
            time.format(&time::format_description::well_known::Rfc3339)
                .ok()
        })
        .unwrap_or_else(|| ms.to_string())
}

fn entry_json(entry: &InboxEntry) -> serde_json::Value {
    json!({
        "key": entry.key,
        "status": entry.status.as_str(),
        "event_type": entry.event_type,
        "attempts": entry.attempts,
        "arrived_at": rfc3339(entry.arrived_at_ms),
        "next_attempt_at": (matches!(entry.status, InboxStatus::Pending | InboxStatus::Processing))
            .then(|| rfc3339(entry.next_attempt_at_ms)),
        "completed_at": entry.completed_at_ms.map(rfc3339),
        "last_error": entry.last_error,
    })
}

fn age(ms: i64) -> String {
    let now = OffsetDateTime::now_utc().unix_timestamp_nanos() / 1_000_000;
    let seconds = i64::try_from((now - i128::from(ms)).max(0) / 1000).unwrap_or(i64::MAX);
    match seconds {
        s if s < 120 => format!("{s}s"),
        s if s < 7200 => format!("{}m", s / 60),
        s if s < 172_800 => format!("{}h", s / 3600),
        s => format!("{}d", s / 86_400),
    }
}

fn print_table(entries: &[InboxEntry]) {
    if entries.is_empty() {
        say("no events");
        return;
    }
    let width = entries
        .iter()
        .map(|e| e.key.len())
        .max()
        .unwrap_or(3)
        .max(3);
    say(format!(
        "{:<width$}  {:<10}  {:>8}  {:>5}  LAST ERROR",
        "KEY", "STATUS", "ATTEMPTS", "AGE"
    ));
    for entry in entries {
        say(format!(
            "{:<width$}  {:<10}  {:>8}  {:>5}  {}",
            entry.key,
            entry.status.as_str(),
            entry.attempts,
            age(entry.arrived_at_ms),
            entry.last_error.as_deref().unwrap_or("-"),
        ));
    }
}

fn print_entry(entry: &InboxEntry) {
    say(format!("key:         {}", entry.key));
    say(format!("type:        {}", entry.event_type));
    say(format!("status:      {}", entry.status));
    say(format!("attempts:    {}", entry.attempts));
    say(format!(
        "arrived:     {} ({} ago)",
        rfc3339(entry.arrived_at_ms),
        age(entry.arrived_at_ms)
    ));
    if matches!(entry.status, InboxStatus::Pending | InboxStatus::Processing) {
        say(format!(
            "next:        {}",
            rfc3339(entry.next_attempt_at_ms)
        ));
    }
    if let Some(completed) = entry.completed_at_ms {
        say(format!("completed:   {}", rfc3339(completed)));
    }
    if let Some(error) = &entry.last_error {
        say(format!("last error:  {error}"));
    }
}
