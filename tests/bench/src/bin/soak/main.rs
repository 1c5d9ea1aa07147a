//! The soak test's driver (`tests/bench/soak/run.sh`): a real `redis-server`, two axum and two
//! actix-web `soak_receiver` processes sharing it, bounded traffic from a fixed number of
//! workers, and faults in the middle: Redis SIGKILLed and restarted, a receiver SIGKILLed and
//! restarted, and handlers that fail 5 % of the time. Everything stays on 127.0.0.1.
//!
//! With `--cluster`, the receivers share a real Redis Cluster instead (3 primaries with 1
//! replica each, every node URL in `RXSCALE_REDIS_URL`), and the store's fault is a primary
//! SIGKILLed: its replica is promoted, and the receivers must recover without a restart.
//!
//! ```text
//! soak [--quick | --duration SECS] [--workers N] [--think-ms MS] [--handler-sleep-ms MS]
//!      [--seed N] [--log-dir DIR] [--strict] [--cluster]
//! ```
//!
//! `--strict` also fails the run on the at-least-once windows the report otherwise lists with
//! their evidence (a receiver SIGKILLed between its handler and its 2xx; a completion Redis was
//! down for; on a cluster, a write acknowledged by a primary just before it was killed and not
//! yet replicated).
//!
//! Exits 0 when every assertion holds, 1 on any violation (listed), 2 when the soak could not
//! run at all. See docs/security.md, "Soak".

use std::path::PathBuf;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use rxscale_webhooks::SigningSecret;
use rxscale_webhooks_tests::{TEST_MAX_BODY_BYTES, TEST_SECRET};

mod receivers;
mod redis;
mod report;
mod traffic;

use receivers::{Instance, Launcher, Output, Spec};
use report::{FaultKind, FaultWindow, Memory};
use traffic::{Settings, Traffic};

type BoxError = Box<dyn std::error::Error + Send + Sync>;
/// An incarnation of a receiver and its VmRSS in KiB.
type IncarnationRss = (u32, u64);

/// The claims' lease in the receivers: above any handler here (a few ms, at most seconds on a
/// loaded machine), longer than a Redis outage (10 s) so that a completion that failed in the
/// outage can still be recorded by the background retry, and short enough that a crashed
/// instance's claims free up within the run.
const LEASE: Duration = Duration::from_secs(20);
/// How long after Redis is back the receivers may still answer 503 (they reconnect on demand).
const REDIS_GRACE: Duration = Duration::from_secs(5);
/// How long after a killed receiver listens again connections to it may still fail.
const RESTART_GRACE: Duration = Duration::from_secs(1);
/// How long a killed receiver stays down.
const KILLED_FOR: Duration = Duration::from_secs(2);
/// How long retries may continue after the traffic phase.
const DRAIN: Duration = Duration::from_secs(60);
/// The RSS growth allowed to a receiver over its life: the in-memory store's own budget at its
/// default capacity (~16 MiB for 100 000 keys). These receivers keep their claims in Redis and
/// no per-event state at all, so they must stay within what a receiver *with* a full store
/// would be allowed; a leak of ~100 bytes per request crosses it in the 10-minute run.
const RSS_BOUND_KIB: u64 = 16 * 1024;

fn main() {
    let args = match Args::parse() {
        Ok(args) => args,
        Err(error) => {
            eprintln!("soak: {error}");
            std::process::exit(2);
        }
    };
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("soak: {error}");
            std::process::exit(2);
        }
    };
    let code = match runtime.block_on(soak(args)) {
        Ok(true) => 0,
        Ok(false) => 1,
        Err(error) => {
            eprintln!("soak: could not run: {error}");
            2
        }
    };
    std::process::exit(code);
}

struct Args {
    duration: Duration,
    workers: usize,
    think: Duration,
    seed: u64,
    log_dir: PathBuf,
    handler_sleep_ms: u64,
    strict: bool,
    cluster: bool,
}

impl Args {
    fn parse() -> Result<Self, BoxError> {
        let mut duration = Duration::from_secs(600);
        let mut workers = 16;
        let mut think = Duration::from_millis(40);
        let mut seed = now_us();
        let mut log_dir = None;
        let mut handler_sleep_ms = 5;
        let mut strict = false;
        let mut cluster = false;
        let mut args = std::env::args().skip(1);
        while let Some(arg) = args.next() {
            let mut value = || args.next().ok_or_else(|| format!("{arg} needs a value"));
            match arg.as_str() {
                "--quick" => duration = Duration::from_secs(60),
                "--duration" => duration = Duration::from_secs(value()?.parse()?),
                "--workers" => workers = value()?.parse()?,
                "--think-ms" => think = Duration::from_millis(value()?.parse()?),
                "--seed" => seed = value()?.parse()?,
                "--log-dir" => log_dir = Some(PathBuf::from(value()?)),
                "--handler-sleep-ms" => handler_sleep_ms = value()?.parse()?,
                "--strict" => strict = true,
                "--cluster" => cluster = true,
                "-h" | "--help" => {
                    println!(
                        "soak [--quick | --duration SECS] [--workers N] [--think-ms MS] \
                         [--handler-sleep-ms MS] [--seed N] [--log-dir DIR] [--strict] [--cluster]"
                    );
                    std::process::exit(0);
                }
                other => return Err(format!("unknown argument {other:?}").into()),
            }
        }
        if duration < Duration::from_secs(30) {
            return Err("--duration must be at least 30 s, for the faults to fit".into());
        }
        if workers == 0 || workers > 64 {
            return Err("--workers must be between 1 and 64".into());
        }
        let log_dir = log_dir.unwrap_or_else(|| {
            std::env::temp_dir().join(format!("rxscale-soak-{}", std::process::id()))
        });
        Ok(Args {
            duration,
            workers,
            think,
            seed,
            log_dir,
            handler_sleep_ms,
            strict,
            cluster,
        })
    }
}

/// One fault of the schedule, at an offset from the start of the traffic.
enum Fault {
    RedisDown {
        at: Duration,
        down: Duration,
    },
    /// A Redis Cluster primary SIGKILLed; the cluster promotes its replica.
    PrimaryDown {
        at: Duration,
    },
    Kill {
        at: Duration,
        instance: usize,
    },
}

/// Faults scale with the run: a quick run has one of each, a long run two of each (one kill
/// per framework). Redis stays down 10 s in a long run, and 5 s in a 60-second one. On a
/// cluster, each Redis outage is a primary killed instead (a different one each time).
fn schedule(duration: Duration, seed: u64, cluster: bool) -> Vec<Fault> {
    let faults = single_schedule(duration, seed);
    if !cluster {
        return faults;
    }
    faults
        .into_iter()
        .map(|fault| match fault {
            Fault::RedisDown { at, .. } => Fault::PrimaryDown { at },
            other => other,
        })
        .collect()
}

fn single_schedule(duration: Duration, seed: u64) -> Vec<Fault> {
    let at = |fraction: f64| duration.mul_f64(fraction);
    if duration >= Duration::from_secs(300) {
        let down = Duration::from_secs(10);
        vec![
            Fault::RedisDown { at: at(0.2), down },
            Fault::Kill {
                at: at(0.4),
                instance: (seed % 2) as usize,
            },
            Fault::RedisDown { at: at(0.6), down },
            Fault::Kill {
                at: at(0.8),
                instance: 2 + (seed / 2 % 2) as usize,
            },
        ]
    } else {
        let down = Duration::from_secs((duration.as_secs() / 12).clamp(3, 10));
        vec![
            Fault::RedisDown { at: at(0.25), down },
            Fault::Kill {
                at: at(0.6),
                instance: (seed % 4) as usize,
            },
        ]
    }
}

const INSTANCES: [(&str, &str); 4] = [
    ("axum-1", "axum"),
    ("axum-2", "axum"),
    ("actix-1", "actix"),
    ("actix-2", "actix"),
];

async fn soak(args: Args) -> Result<bool, BoxError> {
    std::fs::create_dir_all(&args.log_dir)?;
    let redis_dir = args.log_dir.join("redis");
    let redis = Arc::new(Mutex::new(redis::Store::start(&redis_dir, args.cluster)?));
    let redis_url = lock(&redis).url();
    let output = Arc::new(Mutex::new(Output::default()));
    let launcher = Arc::new(Launcher {
        binary: receivers::receiver_binary()?,
        redis_url,
        secret: TEST_SECRET.to_owned(),
        extra_args: vec![
            "--fail-percent".into(),
            "5".into(),
            "--lease-ms".into(),
            LEASE.as_millis().to_string(),
            "--max-body-bytes".into(),
            TEST_MAX_BODY_BYTES.to_string(),
            "--handler-sleep-ms".into(),
            args.handler_sleep_ms.to_string(),
        ],
        log_dir: args.log_dir.clone(),
        output: Arc::clone(&output),
    });
    let mut instances = Vec::new();
    for (index, (name, framework)) in INSTANCES.into_iter().enumerate() {
        let spec = Spec {
            name: name.to_owned(),
            framework,
        };
        instances.push(Arc::new(tokio::sync::Mutex::new(
            launcher.spawn(index, spec, 0, 1).await?,
        )));
    }
    let mut ports = Vec::new();
    let mut names = Vec::new();
    for instance in &instances {
        let instance = instance.lock().await;
        ports.push(instance.port);
        names.push(instance.spec.name.clone());
    }
    let faults = schedule(args.duration, args.seed, args.cluster);
    println!(
        "soak: {} s of traffic, {} workers (think {} ms), seed {}, handler sleep {} ms, lease {} s",
        args.duration.as_secs(),
        args.workers,
        args.think.as_millis(),
        args.seed,
        args.handler_sleep_ms,
        LEASE.as_secs()
    );
    println!(
        "soak: receivers {} on ports {:?}; logs in {}",
        names.join(", "),
        ports,
        args.log_dir.display()
    );
    println!(
        "soak: store: {}",
        if lock(&redis).is_cluster() {
            "Redis Cluster, 3 primaries with 1 replica each"
        } else {
            "redis-server with AOF (appendfsync always)"
        }
    );

    println!("soak: load average at the start: {}", load_average());
    let started = Instant::now();
    let t0_us = now_us();
    let traffic = Arc::new(Traffic::new(Settings {
        ports,
        secret: SigningSecret::new(TEST_SECRET),
        run_id: format!("{:x}", args.seed % 0xff_ffff),
        max_body_bytes: TEST_MAX_BODY_BYTES,
        think: args.think,
        traffic_end: started + args.duration,
        drain_deadline: started + args.duration + DRAIN,
    })?);

    // Memory: sampled every 2 s; the peak is over the samples.
    let peaks: Arc<Mutex<Vec<u64>>> = Arc::new(Mutex::new(vec![0; instances.len()]));
    let sampler = {
        let instances = instances.clone();
        let peaks = Arc::clone(&peaks);
        tokio::spawn(async move {
            loop {
                for (index, instance) in instances.iter().enumerate() {
                    let pid = instance.lock().await.pid;
                    if let Some(rss) = receivers::rss_kib(pid) {
                        let mut peaks = lock(&peaks);
                        peaks[index] = peaks[index].max(rss);
                    }
                }
                tokio::time::sleep(Duration::from_secs(2)).await;
            }
        })
    };

    // Memory half-way through the traffic: growth from there to the end shows a leak even
    // when the start-up growth (allocator arenas, pools) is large.
    let mids: Arc<Mutex<Vec<Option<IncarnationRss>>>> =
        Arc::new(Mutex::new(vec![None; instances.len()]));
    let mid_sampler = {
        let instances = instances.clone();
        let mids = Arc::clone(&mids);
        let at = started + args.duration / 2;
        tokio::spawn(async move {
            tokio::time::sleep_until(at.into()).await;
            for (index, instance) in instances.iter().enumerate() {
                let instance = instance.lock().await;
                lock(&mids)[index] =
                    receivers::rss_kib(instance.pid).map(|rss| (instance.incarnation, rss));
            }
        })
    };

    let fault_log: Arc<Mutex<Vec<FaultWindow>>> = Arc::new(Mutex::new(Vec::new()));
    let injector = tokio::spawn(inject(
        faults,
        started,
        Arc::clone(&redis),
        instances.clone(),
        Arc::clone(&launcher),
        Arc::clone(&fault_log),
        Arc::clone(&peaks),
    ));

    let mut workers = Vec::new();
    for worker in 0..args.workers {
        let rng = Rng::new(args.seed ^ (worker as u64 + 1).wrapping_mul(0x9e37_79b9_7f4a_7c15));
        workers.push(tokio::spawn(Arc::clone(&traffic).worker(rng)));
    }
    let mut progress = tokio::time::interval(Duration::from_secs(10));
    progress.tick().await;
    let mut all_done = false;
    while !all_done {
        tokio::select! {
            _ = progress.tick() => {
                let sent = lock(&traffic.attempts).len();
                println!(
                    "soak: {:>4} s, {sent} requests, {} events outstanding",
                    started.elapsed().as_secs(),
                    traffic.outstanding()
                );
            }
            () = tokio::time::sleep(Duration::from_millis(200)) => {
                all_done = workers.iter().all(tokio::task::JoinHandle::is_finished);
            }
        }
    }
    for worker in workers {
        worker.await?;
    }
    injector.await??;
    let traffic_secs = started.elapsed().as_secs_f64();

    // Let the last lines reach the pipes, then measure and stop everything.
    tokio::time::sleep(Duration::from_secs(1)).await;
    sampler.abort();
    mid_sampler.abort();
    let mut memory = Vec::new();
    for (index, instance) in instances.iter().enumerate() {
        let mut instance = instance.lock().await;
        let end = receivers::rss_kib(instance.pid).unwrap_or(0);
        let peak = lock(&peaks)[index].max(end);
        let start = instance.rss_start_kib.last().copied().unwrap_or(0);
        memory.push(Memory {
            name: instance.spec.name.clone(),
            incarnation: instance.incarnation,
            start_kib: start,
            mid_kib: lock(&mids)[index]
                .filter(|&(incarnation, _)| incarnation == instance.incarnation)
                .map(|(_, rss)| rss),
            peak_kib: peak,
            end_kib: end,
        });
        instance.shut_down().await;
    }
    let redis_keys = lock(&redis).key_count();
    drop(redis);

    let events = std::mem::take(&mut *lock(&traffic.events));
    let attempts = std::mem::take(&mut *lock(&traffic.attempts));
    let output = std::mem::take(&mut *lock(&output));
    let faults = std::mem::take(&mut *lock(&fault_log));
    let (summary, violations) = report::analyse(&report::Inputs {
        t0_us,
        names,
        events: &events,
        attempts: &attempts,
        output: &output,
        faults: &faults,
        memory: &memory,
        rss_bound_kib: RSS_BOUND_KIB,
        strict: args.strict,
    });
    println!("{summary}");
    println!(
        "ran {traffic_secs:.1} s (traffic {} s + drain), {} requests ({:.0}/s), {} workers, redis keys at the end: {}",
        args.duration.as_secs(),
        attempts.len(),
        attempts.len() as f64 / traffic_secs,
        args.workers,
        redis_keys.map_or("?".to_owned(), |keys| keys.to_string())
    );
    println!("load average at the end: {}", load_average());
    if violations.is_empty() {
        println!("\nSOAK PASSED: no violation");
        Ok(true)
    } else {
        println!("\nSOAK FAILED: {} violation(s)", violations.len());
        for violation in violations.iter().take(50) {
            println!("  - {violation}");
        }
        if violations.len() > 50 {
            println!("  ... and {} more", violations.len() - 50);
        }
        Ok(false)
    }
}

async fn inject(
    faults: Vec<Fault>,
    started: Instant,
    redis: Arc<Mutex<redis::Store>>,
    instances: Vec<Arc<tokio::sync::Mutex<Instance>>>,
    launcher: Arc<Launcher>,
    log: Arc<Mutex<Vec<FaultWindow>>>,
    peaks: Arc<Mutex<Vec<u64>>>,
) -> Result<(), BoxError> {
    for fault in faults {
        match fault {
            Fault::RedisDown { at, down } => {
                tokio::time::sleep_until((started + at).into()).await;
                let start_us = now_us();
                let stopping = Arc::clone(&redis);
                tokio::task::spawn_blocking(move || lock(&stopping).kill_single()).await??;
                println!("soak: fault: redis-server killed for {} s", down.as_secs());
                tokio::time::sleep(down).await;
                let starting = Arc::clone(&redis);
                tokio::task::spawn_blocking(move || lock(&starting).restart()).await??;
                let restored_us = now_us();
                println!("soak: fault: redis-server back");
                lock(&log).push(FaultWindow {
                    kind: FaultKind::RedisDown,
                    start_us,
                    restored_us,
                    end_us: restored_us + micros(REDIS_GRACE),
                });
            }
            Fault::PrimaryDown { at } => {
                tokio::time::sleep_until((started + at).into()).await;
                let start_us = now_us();
                let killing = Arc::clone(&redis);
                let port =
                    tokio::task::spawn_blocking(move || lock(&killing).kill_primary()).await??;
                println!("soak: fault: cluster primary on port {port} SIGKILLed");
                let waiting = Arc::clone(&redis);
                tokio::task::spawn_blocking(move || {
                    lock(&waiting).wait_until_healthy(Duration::from_secs(60));
                })
                .await?;
                let restored_us = now_us();
                println!(
                    "soak: fault: replica promoted, cluster healthy after {:.1} s",
                    (restored_us - start_us) as f64 / 1e6
                );
                lock(&log).push(FaultWindow {
                    kind: FaultKind::PrimaryKilled,
                    start_us,
                    restored_us,
                    end_us: restored_us + micros(REDIS_GRACE),
                });
            }
            Fault::Kill {
                at,
                instance: index,
            } => {
                tokio::time::sleep_until((started + at).into()).await;
                let mut instance = instances[index].lock().await;
                let start_us = now_us();
                instance.kill().await;
                let incarnation = instance.incarnation;
                println!(
                    "soak: fault: {}#{incarnation} SIGKILLed",
                    instance.spec.name
                );
                // Traffic keeps going to its port meanwhile: those requests fail to connect.
                drop(instance);
                tokio::time::sleep(KILLED_FOR).await;
                let mut instance = instances[index].lock().await;
                let spec = Spec {
                    name: instance.spec.name.clone(),
                    framework: instance.spec.framework,
                };
                let mut fresh = launcher
                    .spawn(index, spec, instance.port, incarnation + 1)
                    .await?;
                let restored_us = now_us();
                // The old incarnation's readers still drain its pipes; keep them to await.
                fresh.readers.append(&mut instance.readers);
                *instance = fresh;
                lock(&peaks)[index] = 0;
                println!(
                    "soak: fault: {}#{} listening again",
                    instance.spec.name,
                    incarnation + 1
                );
                lock(&log).push(FaultWindow {
                    kind: FaultKind::Killed(index, incarnation),
                    start_us,
                    restored_us,
                    end_us: restored_us + micros(RESTART_GRACE),
                });
            }
        }
    }
    Ok(())
}

/// The machine's 1/5/15-minute load averages: the soak shares it with whatever else runs.
fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|text| {
            text.split_whitespace()
                .take(3)
                .collect::<Vec<_>>()
                .join(" ")
        })
        .unwrap_or_else(|_| "?".to_owned())
}

/// Locks a mutex; a panicked holder has already failed the run, so its data is still usable.
fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// Wall-clock Unix time in µs: comparable with the receivers' `at_us`.
fn now_us() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |elapsed| {
            u64::try_from(elapsed.as_micros()).unwrap_or(u64::MAX)
        })
}

fn micros(duration: Duration) -> u64 {
    u64::try_from(duration.as_micros()).unwrap_or(u64::MAX)
}

/// A small deterministic generator (splitmix64): the run is reproducible from its seed up to
/// scheduling.
pub(crate) struct Rng(u64);

impl Rng {
    fn new(seed: u64) -> Self {
        Rng(seed)
    }

    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// Uniform in `0..n` (n > 0).
    pub(crate) fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }

    /// Uniform in `[0, 1)`.
    pub(crate) fn unit(&mut self) -> f64 {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64
    }
}
