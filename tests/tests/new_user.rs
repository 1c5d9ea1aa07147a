//! A new user's first hour, replayed: a brand-new crate outside the workspace, built only from
//! the text of `docs/getting-started.md` and `docs/testing-your-handler.md` (their Cargo blocks
//! and code, read from the files), then run against real deliveries over HTTP on 127.0.0.1.
//! So the guides cannot drift from what works.
//!
//! The only liberties taken are the ones the guides tell the reader to take: the checkout's path
//! replaces `/path/to/rxscale-webhooks`. To build offline and fast, the workspace's `Cargo.lock`
//! is copied in (same versions as the workspace) and the build shares the workspace's `target`
//! directory, so every dependency the test build already compiled with the same features is
//! reused (a separate directory cost a cold build of about eight minutes in CI), and reruns are
//! incremental. The crates live in a fixed directory under the system's temp dir
//! (outside any workspace), reused between runs so that an unchanged guide rebuilds nothing.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::mpsc::{Receiver, RecvTimeoutError, channel};
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};

use rxscale_webhooks::SigningSecret;
use rxscale_webhooks::testing::{Delivery, TestDelivery};
use rxscale_webhooks_tests::workspace_root;

/// The placeholder the guides use for the reader's checkout.
const CHECKOUT_PLACEHOLDER: &str = "/path/to/rxscale-webhooks";

/// One build directory, one binary name (`my-receiver`): the tests take turns.
static BUILDS: Mutex<()> = Mutex::new(());

fn one_at_a_time() -> MutexGuard<'static, ()> {
    BUILDS
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

fn guide(name: &str) -> String {
    let path = workspace_root().join("docs").join(name);
    std::fs::read_to_string(&path).unwrap_or_else(|err| panic!("{}: {err}", path.display()))
}

/// A fenced code block of a guide: its info string, its text, and the last non-empty line of
/// prose before it (where the guides name the file a block goes into).
struct Block {
    info: String,
    code: String,
    lead_in: String,
}

fn blocks(markdown: &str) -> Vec<Block> {
    let mut found = Vec::new();
    let mut lead_in = String::new();
    let mut open: Option<(String, String)> = None;
    for line in markdown.lines() {
        match open.take() {
            Some((info, mut code)) => {
                if line.starts_with("```") {
                    found.push(Block {
                        info,
                        code,
                        lead_in: std::mem::take(&mut lead_in),
                    });
                } else {
                    code.push_str(line);
                    code.push('\n');
                    open = Some((info, code));
                }
            }
            None => {
                if let Some(info) = line.strip_prefix("```") {
                    open = Some((info.to_owned(), String::new()));
                } else if !line.trim().is_empty() {
                    lead_in = line.to_owned();
                }
            }
        }
    }
    found
}

/// The first block of `language` whose lead-in mentions `marker`.
fn block_after<'a>(blocks: &'a [Block], language: &str, marker: &str) -> &'a str {
    blocks
        .iter()
        .find(|b| b.info.starts_with(language) && b.lead_in.contains(marker))
        .map(|b| b.code.as_str())
        .unwrap_or_else(|| panic!("no ```{language} block introduced by a line naming {marker}"))
}

fn with_checkout(text: &str) -> String {
    assert!(
        text.contains(CHECKOUT_PLACEHOLDER),
        "the Cargo block no longer points at {CHECKOUT_PLACEHOLDER}"
    );
    text.replace(
        CHECKOUT_PLACEHOLDER,
        workspace_root().to_str().expect("a UTF-8 path"),
    )
}

fn cargo() -> Command {
    let mut command = rxscale_webhooks_tests::cargo_command();
    command
        .env("CARGO_TARGET_DIR", target_dir())
        .env_remove("RUST_LOG");
    command
}

fn target_dir() -> PathBuf {
    workspace_root().join("target")
}

fn run_ok(command: &mut Command) -> Output {
    let output = command.output().expect("cargo runs");
    assert!(
        output.status.success(),
        "{command:?} failed\n--- stdout\n{}\n--- stderr\n{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    output
}

/// A crate made with `cargo new my-receiver`, in a directory of its own outside the workspace.
struct FreshCrate {
    dir: PathBuf,
}

impl FreshCrate {
    /// `cargo new my-receiver` as the guide says, in `temp/rxscale-new-user-*/<slot>`. Files
    /// are rewritten only when their text changed, so that an unchanged crate is not rebuilt.
    fn new(slot: &str) -> (Self, String) {
        let root = workspace_root();
        let base = std::env::temp_dir().join(format!(
            "rxscale-new-user-{:016x}",
            fnv1a(root.to_string_lossy().as_bytes())
        ));
        let scratch = base.join(format!("scratch-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&scratch);
        std::fs::create_dir_all(&scratch).unwrap();
        run_ok(cargo().current_dir(&scratch).args([
            "new",
            "--vcs",
            "none",
            "--quiet",
            "my-receiver",
        ]));
        let generated = std::fs::read_to_string(scratch.join("my-receiver/Cargo.toml")).unwrap();
        std::fs::remove_dir_all(&scratch).unwrap();
        let head = generated
            .split("[dependencies]")
            .next()
            .expect("cargo new writes a [package] section")
            .to_owned();

        let dir = base.join(slot).join("my-receiver");
        for stale in ["src", "tests"] {
            let _ = std::fs::remove_dir_all(dir.join(stale));
        }
        std::fs::create_dir_all(dir.join("src")).unwrap();
        let fresh = FreshCrate { dir };
        fresh.write(
            "Cargo.lock",
            &std::fs::read_to_string(root.join("Cargo.lock")).unwrap(),
        );
        (fresh, head)
    }

    fn write(&self, relative: &str, text: &str) {
        let path = self.dir.join(relative);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        if std::fs::read_to_string(&path).ok().as_deref() != Some(text) {
            std::fs::write(&path, text).unwrap();
        }
    }

    fn cargo(&self, args: &[&str]) -> Output {
        run_ok(cargo().current_dir(&self.dir).args(args).arg("--offline"))
    }
}

fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |hash, byte| {
        (hash ^ u64::from(*byte)).wrapping_mul(0x0100_0000_01b3)
    })
}

/// The getting-started crate, built: its `Cargo.toml` and `src/main.rs` are the guide's.
fn build_getting_started() -> PathBuf {
    let text = guide("getting-started.md");
    let blocks = blocks(&text);
    assert!(
        blocks
            .iter()
            .any(|b| b.info == "sh" && b.code.contains("cargo new my-receiver")),
        "getting-started.md no longer starts with `cargo new my-receiver`"
    );
    let (fresh, head) = FreshCrate::new("getting-started");
    let toml = block_after(&blocks, "toml", "Cargo.toml");
    fresh.write("Cargo.toml", &format!("{head}{}", with_checkout(toml)));
    fresh.write("src/main.rs", block_after(&blocks, "rust", "`src/main.rs`"));
    fresh.cargo(&["build", "--quiet"]);
    target_dir().join("debug").join("my-receiver")
}

/// The secret the guide exports in "Run it".
fn guide_secret() -> String {
    guide("getting-started.md")
        .lines()
        .find_map(|line| line.strip_prefix("export RXSCALE_WEBHOOK_SECRET="))
        .expect("getting-started.md exports RXSCALE_WEBHOOK_SECRET")
        .trim()
        .to_owned()
}

/// The receiver, running, with every line it prints on stdout or stderr.
struct Running {
    child: Child,
    lines: Receiver<String>,
    seen: Vec<String>,
    url: String,
}

impl Running {
    fn start(binary: &Path, secret: &str) -> Self {
        let mut child = Command::new(binary)
            .env("RXSCALE_WEBHOOK_SECRET", secret)
            .env("PORT", "0")
            .env_remove("RUST_LOG")
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("the receiver starts");
        let (sender, lines) = channel();
        let stdout = child.stdout.take().unwrap();
        let stderr = child.stderr.take().unwrap();
        for stream in [
            Box::new(stdout) as Box<dyn std::io::Read + Send>,
            Box::new(stderr),
        ] {
            let sender = sender.clone();
            std::thread::spawn(move || {
                for line in BufReader::new(stream).lines().map_while(Result::ok) {
                    if sender.send(without_ansi(&line)).is_err() {
                        break;
                    }
                }
            });
        }
        let mut running = Running {
            child,
            lines,
            seen: Vec::new(),
            url: String::new(),
        };
        let listening = running
            .wait_for(Duration::from_secs(30), |line| {
                line.starts_with("listening on http://")
            })
            .expect("the receiver says where it listens");
        running.url = listening["listening on ".len()..].trim().to_owned();
        running
    }

    /// The next line matching `wanted`, within `timeout`.
    fn wait_for(&mut self, timeout: Duration, wanted: impl Fn(&str) -> bool) -> Option<String> {
        let deadline = Instant::now() + timeout;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(line) => {
                    self.seen.push(line.clone());
                    if wanted(&line) {
                        return Some(line);
                    }
                }
                Err(RecvTimeoutError::Timeout | RecvTimeoutError::Disconnected) => return None,
            }
        }
    }

    /// Every line printed within `quiet` of the last one.
    fn drain(&mut self, quiet: Duration) -> Vec<String> {
        let mut drained = Vec::new();
        while let Ok(line) = self.lines.recv_timeout(quiet) {
            self.seen.push(line.clone());
            drained.push(line);
        }
        drained
    }

    fn output(&self) -> String {
        self.seen.join("\n")
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn without_ansi(line: &str) -> String {
    let mut out = String::with_capacity(line.len());
    let mut chars = line.chars();
    while let Some(c) = chars.next() {
        if c == '\u{1b}' {
            // CSI: ESC [ parameters, then one final byte in @..~
            for c in chars.by_ref() {
                if ('@'..='~').contains(&c) && c != '[' {
                    break;
                }
            }
        } else {
            out.push(c);
        }
    }
    out
}

/// POSTs `delivery` as RxScale would; returns the status and the body.
fn post(url: &str, delivery: &Delivery) -> (u16, String) {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let client = reqwest::Client::builder().no_proxy().build().unwrap();
        let mut request = client.post(url).body(delivery.body().to_vec());
        for (name, value) in delivery.headers() {
            request = request.header(*name, value.as_str());
        }
        let response = request.send().await.expect("the receiver answers");
        let status = response.status().as_u16();
        (status, response.text().await.unwrap())
    })
}

#[test]
fn getting_started_receiver_handles_a_delivery() {
    let _turn = one_at_a_time();
    let binary = build_getting_started();
    let secret = guide_secret();
    let mut app = Running::start(&binary, &secret);

    let order = TestDelivery::new(&SigningSecret::new(secret.as_str())).build();
    let (status, _) = post(&app.url, &order);
    assert_eq!(status, 200, "app output:\n{}", app.output());
    let handled = app.wait_for(Duration::from_secs(10), |line| {
        line.starts_with("new order ")
    });
    let handled = handled.unwrap_or_else(|| panic!("no `new order` line:\n{}", app.output()));
    assert!(
        handled.starts_with("new order po-abc123 (init), key pharmacy_order_created:")
            && handled.ends_with(":po-abc123"),
        "{handled}"
    );

    // The same delivery again: answered by the replay guard, the handler does not print.
    let (status, body) = post(&app.url, &order);
    assert_eq!((status, body.as_str()), (200, r#"{"status":"duplicate"}"#));
    let after = app.drain(Duration::from_millis(500));
    assert!(
        after.iter().all(|line| !line.starts_with("new order")),
        "the handler ran twice: {after:?}"
    );
}

#[test]
fn getting_started_receiver_logs_one_line_per_rejection_with_the_fingerprints() {
    let _turn = one_at_a_time();
    let binary = build_getting_started();
    let secret = guide_secret();
    let fingerprint = SigningSecret::new(secret.as_str())
        .fingerprint()
        .to_string();
    let mut app = Running::start(&binary, &secret);
    app.drain(Duration::from_millis(300));

    let forged = TestDelivery::new(&SigningSecret::new(secret.as_str()))
        .tamper()
        .build();
    let mark = app.seen.len();
    let (status, body) = post(&app.url, &forged);
    assert_eq!(
        (status, body.as_str()),
        (401, r#"{"error":"signature_mismatch"}"#)
    );
    app.wait_for(Duration::from_secs(5), |line| {
        line.contains("signature_mismatch")
    });
    app.drain(Duration::from_millis(500));
    let printed = &app.seen[mark..];
    assert_eq!(
        printed.len(),
        1,
        "a rejected delivery prints exactly one line; the app printed:\n{}",
        app.output()
    );
    let line = &printed[0];
    assert!(line.contains("signature_mismatch"), "{line}");
    assert!(
        line.contains(&fingerprint),
        "the line names the configured secret's fingerprint {fingerprint}: {line}"
    );
    assert!(!line.contains(&secret), "the secret leaked: {line}");
    let sent_signature = forged.signature().unwrap();
    assert!(!line.contains(sent_signature), "a signature leaked: {line}");
}

#[test]
fn getting_started_receiver_explains_a_missing_secret_in_one_sentence() {
    let _turn = one_at_a_time();
    let binary = build_getting_started();
    let output = Command::new(&binary)
        .env_remove("RXSCALE_WEBHOOK_SECRET")
        .env_remove("RUST_LOG")
        .env("PORT", "0")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    assert_eq!(
        stderr.trim_end(),
        "error: environment variable RXSCALE_WEBHOOK_SECRET is not set; it must hold the \
         whsec_... signing secret"
    );
}

#[test]
fn testing_guide_tests_pass_in_a_fresh_crate() {
    let _turn = one_at_a_time();
    let getting_started = blocks(&guide("getting-started.md"));
    let testing = blocks(&guide("testing-your-handler.md"));
    let actix = blocks(&guide("actix.md"));

    // Cargo.toml: getting-started's, plus the testing guide's dev-dependencies for axum and
    // actix-web, and actix.md's patch line for rxscale-webhooks-actix. An actix-web app has
    // actix-web already; this axum crate borrows it with the workspace's features (actix.md's
    // plain `actix-web = "4"` would pull in cookies and compression, not in the offline cache).
    let (fresh, head) = FreshCrate::new("testing-guide");
    let actix_toml = with_checkout(block_after(&actix, "toml", "dependency"));
    let actix_patch = actix_toml
        .lines()
        .find(|line| line.starts_with("rxscale-webhooks-actix = { path"))
        .expect("actix.md patches rxscale-webhooks-actix to the checkout");
    assert!(
        actix_toml.contains("\nactix-web = \"4\""),
        "actix.md depends on actix-web 4"
    );
    let actix_web =
        r#"actix-web = { version = "4", default-features = false, features = ["macros"] }"#;
    let axum_dev = block_after(&testing, "toml", "With axum");
    let actix_dev = block_after(&testing, "toml", "With actix-web");
    let manifest = format!(
        "{head}{}{actix_patch}\n\n{axum_dev}{}{actix_web}\n",
        with_checkout(block_after(&getting_started, "toml", "Cargo.toml")),
        actix_dev.replace("[dev-dependencies]\n", ""),
    );
    fresh.write("Cargo.toml", &manifest);
    for file in [
        "src/lib.rs",
        "src/main.rs",
        "tests/verifier.rs",
        "tests/webhooks.rs",
        "tests/actix_webhooks.rs",
    ] {
        fresh.write(file, block_after(&testing, "rust", &format!("`{file}`")));
    }

    let output = fresh.cargo(&["test"]);
    let stdout = String::from_utf8_lossy(&output.stdout);
    for test in [
        "a_stock_update_verifies_and_a_stale_one_does_not",
        "an_order_is_handled_once_and_a_forgery_never",
        "an_order_is_handled_once_and_an_unsigned_delivery_never",
    ] {
        assert!(
            stdout.contains(&format!("test {test} ... ok")),
            "{test} did not pass:\n{stdout}"
        );
    }
}
