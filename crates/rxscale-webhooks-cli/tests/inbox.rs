//! `inbox`: where the database comes from, usage errors, and what an unmigrated or missing
//! database says. The command against a populated inbox (list, show, retry, purge) runs in
//! `tests/tests/inbox_receiver.rs`, next to the receiver that fills it.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::cli;
use predicates::prelude::*;

fn scratch(name: &str) -> std::path::PathBuf {
    let path = std::env::temp_dir().join(format!(
        "rxscale-cli-inbox-{name}-{}.db",
        std::process::id()
    ));
    for suffix in ["", ".inbox", ".inbox-wal", ".inbox-shm"] {
        let _ = std::fs::remove_file(format!("{}{suffix}", path.display()));
    }
    path
}

#[test]
fn without_a_database_it_says_where_to_put_one() {
    cli()
        .env_remove("DATABASE_URL")
        .args(["inbox", "list"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains(
            "set DATABASE_URL or pass --database-url",
        ));
}

#[test]
fn unknown_status_and_age_are_usage_errors() {
    cli()
        .args([
            "inbox",
            "list",
            "--status",
            "lost",
            "--database-url",
            "sqlite://x.db",
        ])
        .assert()
        .code(2)
        .stderr(predicate::str::contains(
            "pending, processing, done, stale, dead",
        ));
    cli()
        .args([
            "inbox",
            "purge",
            "--older-than",
            "3w",
            "--database-url",
            "sqlite://x.db",
        ])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("use s, m, h or d"));
    cli()
        .args(["inbox", "retry", "--database-url", "sqlite://x.db"])
        .assert()
        .code(2);
}

#[test]
fn an_unmigrated_database_is_named_without_its_url() {
    let path = scratch("unmigrated");
    let url = format!("sqlite://{}?mode=rwc", path.display());
    cli()
        .env("DATABASE_URL", &url)
        .args(["inbox", "list", "--json"])
        .assert()
        .code(2)
        .stdout(predicate::str::is_empty())
        .stderr(predicate::str::contains("database:"))
        .stderr(predicate::str::contains("missing"));
    let secret_url = "postgres://user:hunter2@127.0.0.1:1/db";
    cli()
        .args(["inbox", "list", "--database-url", secret_url])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("hunter2").not());
    for suffix in ["", ".inbox", ".inbox-wal", ".inbox-shm"] {
        let _ = std::fs::remove_file(format!("{}{suffix}", path.display()));
    }
}
