//! Helpers shared by the CLI tests: the binary, an independent signer (python3), scratch
//! files, and a `listen` process on a free loopback port.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command as StdCommand, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError};
use std::time::{Duration, Instant};

/// The secret the tests configure, through the environment unless a test says otherwise.
pub(crate) const SECRET: &str = "whsec_cli_test_0123456789abcdefABCDEF";
/// The environment variable the CLI reads by default.
pub(crate) const SECRET_ENV: &str = "RXSCALE_WEBHOOK_SECRET";

pub(crate) const BIN: &str = env!("CARGO_BIN_EXE_rxscale-webhooks");

/// The CLI, with no secret inherited from the developer's environment.
pub(crate) fn cli() -> assert_cmd::Command {
    let mut command = assert_cmd::Command::new(BIN);
    command.env_remove(SECRET_ENV);
    command
}

/// The CLI with [`SECRET`] in the default variable.
pub(crate) fn cli_with_secret() -> assert_cmd::Command {
    let mut command = cli();
    command.env(SECRET_ENV, SECRET);
    command
}

pub(crate) fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

/// HMAC-SHA256 of `body` keyed with `secret`, computed by python3's `hmac`, in `"hex"` or
/// `"base64"`. Panics with an install hint when python3 is missing: tests never skip.
pub(crate) fn python_hmac(secret: &str, body: &[u8], encoding: &str) -> String {
    let script = "import base64, hashlib, hmac, os, sys\n\
                  d = hmac.new(os.environ['KEY'].encode(), sys.stdin.buffer.read(), hashlib.sha256).digest()\n\
                  print(d.hex() if sys.argv[1] == 'hex' else base64.b64encode(d).decode())";
    python(&["-c", script, encoding], &[("KEY", secret)], body)
}

/// `body` parsed and written again by python3's `json` module with these `json.dumps` arguments.
pub(crate) fn python_json(body: &[u8], dumps_args: &str) -> Vec<u8> {
    let script = format!(
        "import json, sys\nsys.stdout.write(json.dumps(json.loads(sys.stdin.buffer.read()){dumps_args}))"
    );
    python(&["-c", &script], &[], body).into_bytes()
}

fn python(args: &[&str], env: &[(&str, &str)], stdin: &[u8]) -> String {
    let mut command = StdCommand::new("python3");
    command
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    for (key, value) in env {
        command.env(key, value);
    }
    let mut child = command.spawn().unwrap_or_else(|err| {
        panic!(
            "python3 is required to cross-check signatures with an independent HMAC ({err}); \
             install it, e.g. `apt-get install python3`"
        )
    });
    child.stdin.take().unwrap().write_all(stdin).unwrap();
    let output = child.wait_with_output().unwrap();
    assert!(
        output.status.success(),
        "python3 failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout)
        .unwrap()
        .trim_end_matches('\n')
        .to_owned()
}

/// A scratch directory, removed when dropped.
pub(crate) struct Scratch(PathBuf);

impl Scratch {
    pub(crate) fn new() -> Self {
        static NEXT: AtomicUsize = AtomicUsize::new(0);
        let dir = std::env::temp_dir().join(format!(
            "rxscale-cli-test-{}-{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        ));
        std::fs::create_dir_all(&dir).unwrap();
        Scratch(dir)
    }

    pub(crate) fn file(&self, name: &str, contents: impl AsRef<[u8]>) -> PathBuf {
        let path = self.0.join(name);
        std::fs::write(&path, contents).unwrap();
        path
    }

    pub(crate) fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// The example body of an event type, as the CLI prints it.
pub(crate) fn example(event_type: &str, extra: &[&str]) -> Vec<u8> {
    let output = cli()
        .arg("example")
        .arg(event_type)
        .args(extra)
        .output()
        .unwrap();
    assert!(output.status.success());
    output.stdout
}

/// A running `rxscale-webhooks listen --port 0`, its output read line by line.
pub(crate) struct Listening {
    child: Child,
    pub(crate) url: String,
    lines: Receiver<String>,
    pub(crate) seen: Vec<String>,
}

impl Listening {
    /// Starts `listen` on a free port with `secret` and extra arguments, and waits for it to
    /// say where it listens.
    pub(crate) fn start(secret: &str, extra: &[&str]) -> Self {
        let mut child = StdCommand::new(BIN)
            .arg("listen")
            .args(["--port", "0"])
            .args(extra)
            .env(SECRET_ENV, secret)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap();
        let stdout = child.stdout.take().unwrap();
        let (sender, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if sender.send(line).is_err() {
                    break;
                }
            }
        });
        let mut listening = Listening {
            child,
            url: String::new(),
            lines,
            seen: Vec::new(),
        };
        let first = listening.next_line();
        let url = first
            .strip_prefix("listening on ")
            .and_then(|rest| rest.split_whitespace().next())
            .unwrap_or_else(|| panic!("unexpected first line: {first}"));
        listening.url = url.to_owned();
        listening
    }

    /// The next line of output, waiting up to 20 seconds for it.
    pub(crate) fn next_line(&mut self) -> String {
        match self.lines.recv_timeout(Duration::from_secs(20)) {
            Ok(line) => {
                self.seen.push(line.clone());
                line
            }
            Err(err) => panic!("no output from listen ({err:?}); so far: {:#?}", self.seen),
        }
    }

    /// Reads lines until one contains `needle`, and returns it.
    pub(crate) fn wait_for(&mut self, needle: &str) -> String {
        loop {
            let line = self.next_line();
            if line.contains(needle) {
                return line;
            }
        }
    }

    /// Stops the receiver with SIGINT, as Ctrl-C would, and returns its exit code and the rest
    /// of its output.
    pub(crate) fn interrupt(self) -> (Option<i32>, Vec<String>) {
        self.stop("-INT")
    }

    /// Stops the receiver with this `kill` signal option, e.g. `-TERM`.
    pub(crate) fn stop(mut self, signal: &str) -> (Option<i32>, Vec<String>) {
        let status = StdCommand::new("kill")
            .args([signal, &self.child.id().to_string()])
            .status()
            .expect("`kill` is needed to stop the receiver with a signal");
        assert!(status.success());
        let deadline = Instant::now() + Duration::from_secs(20);
        let code = loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                break status.code();
            }
            assert!(Instant::now() < deadline, "listen did not stop on {signal}");
            std::thread::sleep(Duration::from_millis(20));
        };
        loop {
            match self.lines.recv_timeout(Duration::from_secs(5)) {
                Ok(line) => self.seen.push(line),
                Err(RecvTimeoutError::Disconnected) => break,
                Err(RecvTimeoutError::Timeout) => panic!("listen's output did not end"),
            }
        }
        (code, std::mem::take(&mut self.seen))
    }
}

impl Drop for Listening {
    fn drop(&mut self) {
        // Only reached when a test failed midway: do not leave the receiver running.
        if self.child.try_wait().ok().flatten().is_none() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}
