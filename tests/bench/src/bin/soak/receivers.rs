//! The receiver processes (`soak_receiver`), what they print, and their memory.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::io::{AsyncBufReadExt as _, AsyncWriteExt as _, BufReader};
use tokio::process::{Child, Command};
use tokio::sync::oneshot;

use crate::{BoxError, lock, now_us};

/// One line a handler printed: the event it handled.
#[derive(Debug, Clone)]
pub(crate) struct Handled {
    pub(crate) instance: usize,
    pub(crate) incarnation: u32,
    pub(crate) key: String,
    pub(crate) at_us: u64,
}

/// A completion the guard could not record even by retrying while the claim's lease lasted
/// (the store stayed unreachable after the handler ran), from the receiver's own log line.
#[derive(Debug, Clone)]
pub(crate) struct LostCompletion {
    pub(crate) key: String,
}

/// Everything the receivers printed, for the report.
#[derive(Debug, Default)]
pub(crate) struct Output {
    pub(crate) handled: Vec<Handled>,
    /// stdout lines that are neither `listening` nor a handled event.
    pub(crate) garbage: Vec<String>,
    pub(crate) lost_completions: Vec<LostCompletion>,
    /// Completions that failed at first and were handed to the background retry.
    pub(crate) deferred_completions: usize,
    /// Completions that the background retry recorded.
    pub(crate) recovered_completions: usize,
    /// `warn` lines about claims that expired before their handler finished.
    pub(crate) expired_claims: usize,
    /// Other `WARN`/`ERROR` lines, counted (the full text is in the logs).
    pub(crate) store_unavailable_logs: usize,
    pub(crate) other_log_lines: usize,
}

pub(crate) struct Spec {
    pub(crate) name: String,
    pub(crate) framework: &'static str,
}

/// One running receiver process.
pub(crate) struct Instance {
    pub(crate) spec: Spec,
    pub(crate) port: u16,
    pub(crate) incarnation: u32,
    child: Child,
    pub(crate) pid: u32,
    pub(crate) readers: Vec<tokio::task::JoinHandle<()>>,
    /// VmRSS right after `listening`, per incarnation.
    pub(crate) rss_start_kib: Vec<u64>,
}

pub(crate) struct Launcher {
    pub(crate) binary: PathBuf,
    pub(crate) redis_url: String,
    pub(crate) secret: String,
    pub(crate) extra_args: Vec<String>,
    pub(crate) log_dir: PathBuf,
    pub(crate) output: Arc<Mutex<Output>>,
}

impl Launcher {
    /// Starts an instance on `port` (0: ephemeral) and waits for its `listening` line.
    pub(crate) async fn spawn(
        &self,
        index: usize,
        spec: Spec,
        port: u16,
        incarnation: u32,
    ) -> Result<Instance, BoxError> {
        let mut child = Command::new(&self.binary)
            .args(["--framework", spec.framework])
            .args(["--port", &port.to_string()])
            .args(&self.extra_args)
            .env("RXSCALE_WEBHOOK_SECRET", &self.secret)
            .env("RXSCALE_REDIS_URL", &self.redis_url)
            .env_remove("RUST_LOG")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .map_err(|error| format!("spawn {}: {error}", self.binary.display()))?;
        let pid = child.id().ok_or("receiver exited at once")?;
        let stdout = child.stdout.take().ok_or("no stdout")?;
        let stderr = child.stderr.take().ok_or("no stderr")?;
        let (port_tx, port_rx) = oneshot::channel();
        let stdout_reader = tokio::spawn(read_stdout(
            BufReader::new(stdout),
            index,
            incarnation,
            self.log_dir
                .join(format!("{}.{incarnation}.stdout.log", spec.name)),
            Arc::clone(&self.output),
            port_tx,
        ));
        let log = self
            .log_dir
            .join(format!("{}.{incarnation}.stderr.log", spec.name));
        let stderr_reader = tokio::spawn(read_stderr(
            BufReader::new(stderr),
            log,
            Arc::clone(&self.output),
        ));
        let port = match tokio::time::timeout(Duration::from_secs(60), port_rx).await {
            Ok(Ok(port)) => port,
            _ => {
                let _ = child.start_kill();
                return Err(format!(
                    "{} did not report its port (see {}/{}.{incarnation}.stderr.log)",
                    spec.name,
                    self.log_dir.display(),
                    spec.name
                )
                .into());
            }
        };
        let rss = rss_kib(pid).unwrap_or(0);
        Ok(Instance {
            spec,
            port,
            incarnation,
            child,
            pid,
            readers: vec![stdout_reader, stderr_reader],
            rss_start_kib: vec![rss],
        })
    }
}

impl Instance {
    /// SIGKILL (as a crash) and reap.
    pub(crate) async fn kill(&mut self) {
        let _ = self.child.start_kill();
        let _ = self.child.wait().await;
    }

    /// Kills the process, then waits for its output to be read to the end.
    pub(crate) async fn shut_down(&mut self) {
        self.kill().await;
        for reader in self.readers.drain(..) {
            let _ = tokio::time::timeout(Duration::from_secs(10), reader).await;
        }
    }
}

async fn read_stdout(
    mut stdout: BufReader<tokio::process::ChildStdout>,
    instance: usize,
    incarnation: u32,
    log: PathBuf,
    output: Arc<Mutex<Output>>,
    port_tx: oneshot::Sender<u16>,
) {
    let mut file = create_log(&log).await;
    let mut port_tx = Some(port_tx);
    let mut line = String::new();
    loop {
        line.clear();
        match stdout.read_line(&mut line).await {
            Ok(0) | Err(_) => break,
            Ok(_) => {}
        }
        if let Some(file) = file.as_mut() {
            let _ = file.write_all(line.as_bytes()).await;
        }
        let text = line.trim_end();
        if let Some(port) = text.strip_prefix("listening ")
            && let (Some(tx), Ok(port)) = (port_tx.take(), port.parse())
        {
            let _ = tx.send(port);
            continue;
        }
        let parsed = serde_json::from_str::<serde_json::Value>(text)
            .ok()
            .and_then(|v| {
                Some(Handled {
                    instance,
                    incarnation,
                    key: v.get("key")?.as_str()?.to_owned(),
                    at_us: v.get("at_us")?.as_u64()?,
                })
                .filter(|_| v.get("handled").is_some_and(serde_json::Value::is_string))
            });
        let mut output = lock(&output);
        match parsed {
            Some(handled) => output.handled.push(handled),
            None => output.garbage.push(text.to_owned()),
        }
    }
    if let Some(file) = file.as_mut() {
        let _ = file.flush().await;
    }
}

async fn create_log(path: &Path) -> Option<tokio::io::BufWriter<tokio::fs::File>> {
    match tokio::fs::File::create(path).await {
        Ok(file) => Some(tokio::io::BufWriter::new(file)),
        Err(error) => {
            eprintln!("soak: cannot write {}: {error}", path.display());
            None
        }
    }
}

async fn read_stderr(
    mut stderr: BufReader<tokio::process::ChildStderr>,
    log: PathBuf,
    output: Arc<Mutex<Output>>,
) {
    let mut file = create_log(&log).await;
    let mut line = String::new();
    loop {
        line.clear();
        match stderr.read_line(&mut line).await {
            Ok(0) | Err(_) => break,
            Ok(_) => {}
        }
        if let Some(file) = file.as_mut() {
            let _ = file
                .write_all(format!("{} {line}", now_us()).as_bytes())
                .await;
        }
        let mut output = lock(&output);
        if line.contains("could not record the handler's success; retrying") {
            output.deferred_completions += 1;
        } else if line.contains("recorded the handler's success after retrying") {
            output.recovered_completions += 1;
        } else if line.contains("could not record the handler's success before the lease ended")
            || line.contains("claim was gone when retrying completion")
        {
            if let Some(key) = field(&line, "dedup_key=") {
                output.lost_completions.push(LostCompletion {
                    key: key.to_owned(),
                });
            }
        } else if line.contains("claim had expired") {
            output.expired_claims += 1;
        } else if line.contains("replay store unavailable") {
            output.store_unavailable_logs += 1;
        } else if !line.trim().is_empty() {
            output.other_log_lines += 1;
        }
    }
    if let Some(file) = file.as_mut() {
        let _ = file.flush().await;
    }
}

/// The value after `name` in a tracing fmt line, up to the next space.
fn field<'a>(line: &'a str, name: &str) -> Option<&'a str> {
    let start = line.find(name)? + name.len();
    line[start..].split_whitespace().next()
}

/// VmRSS of a process, in KiB.
pub(crate) fn rss_kib(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find_map(|line| line.strip_prefix("VmRSS:"))?
        .trim()
        .trim_end_matches("kB")
        .trim()
        .parse()
        .ok()
}

/// The `soak_receiver` built next to this driver.
pub(crate) fn receiver_binary() -> Result<PathBuf, BoxError> {
    let me = std::env::current_exe()?;
    let dir = me.parent().ok_or("the driver has no directory")?;
    let binary = dir.join(format!("soak_receiver{}", std::env::consts::EXE_SUFFIX));
    if !Path::new(&binary).is_file() {
        return Err(format!(
            "{} not found: build it with `cargo build -p rxscale-webhooks-bench --bins`",
            binary.display()
        )
        .into());
    }
    Ok(binary)
}
