//! Shared helpers for the cross-crate integration tests.
//!
//! Every adapter test builds its server with [`test_verifier`], so that one case table
//! (see the `matrix` module once it exists) holds for every framework.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use rxscale_webhooks::{SigningSecret, Verifier};

/// The secret every test server is configured with.
pub const TEST_SECRET: &str = "whsec_test_0123456789abcdefghijklmnopqrstuv";

/// A second, unrelated secret: deliveries signed with it must be rejected.
pub const OTHER_SECRET: &str = "whsec_other_zyxwvutsrqponmlkjihgfedcba9876";

/// The body limit of every test server: small, so that oversized cases stay cheap.
pub const TEST_MAX_BODY_BYTES: usize = 64 * 1024;

/// The secret as a [`SigningSecret`].
pub fn test_secret() -> SigningSecret {
    SigningSecret::new(TEST_SECRET)
}

/// The verifier every test server uses: [`TEST_SECRET`], a 10-minute age window, 5 minutes of
/// future skew and a [`TEST_MAX_BODY_BYTES`] body limit.
pub fn test_verifier() -> Verifier {
    Verifier::builder()
        .secret(test_secret())
        .max_age(Duration::from_secs(600))
        .max_future_skew(Duration::from_secs(300))
        .max_body_bytes(TEST_MAX_BODY_BYTES)
        .build()
        .expect("test verifier configuration is valid")
}

/// Panics with install instructions when a tool the tests need is missing: tests never skip.
pub fn require_tool(tool: &str, install_hint: &str) {
    let found = std::process::Command::new("sh")
        .arg("-c")
        .arg(format!("command -v {tool}"))
        .output()
        .map(|out| out.status.success())
        .unwrap_or(false);
    assert!(
        found,
        "`{tool}` is required by this test but was not found on PATH; install it with: {install_hint}"
    );
}
pub mod actix_server;
pub mod axum_server;
pub mod client;
pub mod example_contract;
pub mod example_process;
pub mod hostile;
pub mod logs;
pub mod matrix;
pub mod metrics_mix;
pub mod poem_server;
pub mod postgres_server;
pub mod prometheus_text;
pub mod receiver;
pub mod redis_cluster;
pub mod redis_server;
pub mod replay;
pub mod rocket_server;
pub mod rxscale_api_standin;
pub mod salvo_server;
pub mod warp_server;

/// The guides in `docs/` and the README run as doctests here, so their code cannot rot.
#[cfg(doctest)]
pub mod guides {
    #[doc = include_str!("../../README.md")]
    pub struct Readme;
    #[doc = include_str!("../../docs/secrets-and-rotation.md")]
    pub struct SecretsAndRotation;
    #[doc = include_str!("../../docs/replay-protection.md")]
    pub struct ReplayProtection;
    #[doc = include_str!("../../docs/scaling-out.md")]
    pub struct ScalingOut;
    #[doc = include_str!("../../docs/manual-verify.md")]
    pub struct ManualVerify;
    #[doc = include_str!("../../docs/getting-started.md")]
    pub struct GettingStarted;
    #[doc = include_str!("../../docs/axum.md")]
    pub struct Axum;
    #[doc = include_str!("../../docs/testing-your-handler.md")]
    pub struct TestingYourHandler;
    #[doc = include_str!("../../docs/observability.md")]
    pub struct Observability;
    #[doc = include_str!("../../docs/actix.md")]
    pub struct Actix;
    #[doc = include_str!("../../docs/exactly-once.md")]
    pub struct ExactlyOnce;
    #[doc = include_str!("../../docs/subscriptions.md")]
    pub struct Subscriptions;
    #[doc = include_str!("../../docs/inbox.md")]
    pub struct Inbox;
    #[doc = include_str!("../../docs/rocket.md")]
    pub struct Rocket;
    #[doc = include_str!("../../docs/poem.md")]
    pub struct Poem;
    #[doc = include_str!("../../docs/salvo.md")]
    pub struct Salvo;
    #[doc = include_str!("../../docs/warp.md")]
    pub struct Warp;
    #[doc = include_str!("../../docs/lambda.md")]
    pub struct Lambda;
    #[doc = include_str!("../../docs/loco.md")]
    pub struct Loco;
}

/// A `cargo` command (the cargo that runs these tests) for a build nested in a test, without the
/// variables cargo sets for the test itself (`CARGO_MANIFEST_DIR`, `CARGO_PKG_*`, `OUT_DIR`, ...).
/// Build scripts that watch one of them (ring's does) would otherwise see a change and rebuild,
/// and the next test build would see it change back and rebuild again.
pub fn cargo_command() -> std::process::Command {
    const SET_BY_CARGO_FOR_TESTS: &[&str] = &[
        "CARGO_MANIFEST_",
        "CARGO_PKG_",
        "CARGO_CRATE_NAME",
        "CARGO_PRIMARY_PACKAGE",
        "CARGO_TARGET_TMPDIR",
        "CARGO_BIN_",
        "CARGO_RUSTC_CURRENT_DIR",
        "OUT_DIR",
    ];
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let mut command = std::process::Command::new(cargo);
    for (name, _) in std::env::vars_os() {
        let text = name.to_string_lossy();
        if SET_BY_CARGO_FOR_TESTS
            .iter()
            .any(|prefix| text.starts_with(prefix))
        {
            command.env_remove(&name);
        }
    }
    command
}

/// The workspace's root directory.
pub fn workspace_root() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("tests/ sits in the workspace")
        .to_path_buf()
}

/// Builds `--example NAME` or `--bin NAME` (`kind`) with [`cargo_command`] and returns its
/// executable, so that the tests spawn exactly what `cargo run` would build.
///
/// It builds with the features `cargo test --workspace --all-features` resolves (`--workspace
/// --all-features`), so the target and its dependencies are the ones that test build already
/// compiled: nothing is built twice with a second feature set.
pub fn workspace_executable(kind: &str, name: &str) -> std::path::PathBuf {
    use std::process::Stdio;
    let output = cargo_command()
        .current_dir(workspace_root())
        .args([
            "build",
            "--quiet",
            "--workspace",
            "--all-features",
            kind,
            name,
        ])
        .arg("--message-format=json-render-diagnostics")
        .stderr(Stdio::inherit())
        .output()
        .expect("cargo runs");
    assert!(output.status.success(), "building {name} failed");
    String::from_utf8(output.stdout)
        .expect("cargo prints UTF-8")
        .lines()
        .filter_map(|line| serde_json::from_str::<serde_json::Value>(line).ok())
        .filter(|message| message["target"]["name"] == name)
        .find_map(|message| message["executable"].as_str().map(std::path::PathBuf::from))
        .expect("cargo reports the executable")
}

/// An example of the `examples` package, built by [`workspace_executable`].
pub fn example_binary(name: &str) -> std::path::PathBuf {
    workspace_executable("--example", name)
}
