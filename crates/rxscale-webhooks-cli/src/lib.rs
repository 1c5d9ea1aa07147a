#![doc = include_str!("../README.md")]
//!
//! ## Feature flags
//!
//! | feature | default | what it adds |
//! |---|---|---|
//! | *(none)* | | The crate builds the `rxscale-webhooks` binary; this library is its implementation. |
#![deny(missing_docs)]

mod commands;
mod delivery;
mod failure;
mod hints;
mod input;
mod limits;
mod net;
mod reencode;
mod secret;
mod summary;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

use crate::commands::{demo, example, inbox, listen, send, sign, subscriptions, verify};

/// Sign, verify, send, receive and demo RxScale webhooks.
///
/// Exit codes: 0 success or valid, 1 rejected or invalid, 2 usage or configuration error.
/// Secrets are read from an environment variable or a file, never from the command line.
#[derive(Debug, Parser)]
#[command(name = "rxscale-webhooks", version, max_term_width = 100)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Print the X-Webhook-Signature of a body: lowercase hex HMAC-SHA256.
    Sign(sign::SignArgs),
    /// Check a body and its X-Webhook-Signature; explain common mistakes when it fails.
    Verify(verify::VerifyArgs),
    /// Print a realistic payload of an event type.
    Example(example::ExampleArgs),
    /// POST signed deliveries to a local endpoint, exactly as RxScale does.
    Send(send::SendArgs),
    /// Run a local receiver that verifies and shows every delivery.
    Listen(listen::ListenArgs),
    /// Run a receiver in-process and show what it accepts and rejects. No set-up needed.
    Demo(demo::DemoArgs),
    /// Register, list, remove and test RxScale webhook subscriptions; rotate a secret.
    Subscriptions(subscriptions::SubscriptionsArgs),
    /// Inspect and retry the reply-first inbox of rxscale-webhooks-sqlx (DATABASE_URL).
    Inbox(inbox::InboxArgs),
}

/// Runs the command line of this process and returns its exit code: 0 success or valid,
/// 1 rejected or invalid, 2 usage or configuration error.
///
/// This is the whole `rxscale-webhooks` binary; it is a library function only so that the
/// documentation has a home next to the core crate's.
#[must_use]
pub fn run() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Sign(args) => sign::run(args),
        Command::Verify(args) => verify::run(args),
        Command::Example(args) => example::run(&args),
        Command::Send(args) => send::run(args),
        Command::Listen(args) => listen::run(args),
        Command::Demo(args) => demo::run(&args),
        Command::Subscriptions(args) => subscriptions::run(args),
        Command::Inbox(args) => inbox::run(args),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(failure) => failure.report(),
    }
}
