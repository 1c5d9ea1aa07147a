//! The verdict: every assertion of the soak, and the summary tables.

use std::collections::{BTreeMap, HashMap};
use std::fmt::Write as _;
use std::time::Duration;

use crate::receivers::{Handled, Output};
use crate::traffic::{Attempt, Class, Event, MAX_DELIVERIES, Outcome};

/// A fault and the time it was in effect, in Unix µs. `end_us` adds the grace the system is
/// given to recover after the fault is lifted.
#[derive(Debug, Clone)]
pub(crate) struct FaultWindow {
    pub(crate) kind: FaultKind,
    pub(crate) start_us: u64,
    pub(crate) restored_us: u64,
    pub(crate) end_us: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum FaultKind {
    RedisDown,
    /// A Redis Cluster primary SIGKILLed; `restored_us` is when a replica had taken over.
    PrimaryKilled,
    /// The instance, and the incarnation that was killed.
    Killed(usize, u32),
}

/// Memory of one instance over its life.
#[derive(Debug, Clone)]
pub(crate) struct Memory {
    pub(crate) name: String,
    pub(crate) incarnation: u32,
    pub(crate) start_kib: u64,
    /// Half-way through the traffic, if this incarnation was already running then.
    pub(crate) mid_kib: Option<u64>,
    pub(crate) peak_kib: u64,
    pub(crate) end_kib: u64,
}

pub(crate) struct Inputs<'a> {
    pub(crate) t0_us: u64,
    pub(crate) names: Vec<String>,
    pub(crate) events: &'a [Event],
    pub(crate) attempts: &'a [Attempt],
    pub(crate) output: &'a Output,
    pub(crate) faults: &'a [FaultWindow],
    pub(crate) memory: &'a [Memory],
    pub(crate) rss_bound_kib: u64,
    /// Count the two documented at-least-once windows as violations too.
    pub(crate) strict: bool,
}

/// How long before a primary's kill a write it acknowledged may still be unreplicated: the
/// replication lag, generous for a loaded machine.
const REPLICATION_MARGIN_US: u64 = 2_000_000;
/// The body of a deliberate handler failure, as `soak_receiver` sends it.
const DELIBERATE_FAILURE: &str = "deliberate handler failure";
/// The replay guard's fail-closed answer.
const STORE_UNAVAILABLE: &str = r#"{"error":"replay_store_unavailable"}"#;

/// Builds the summary and returns it with every violation found.
pub(crate) fn analyse(inputs: &Inputs<'_>) -> (String, Vec<String>) {
    let mut violations = Vec::new();
    let mut out = String::new();
    let secs = |us: u64| us.saturating_sub(inputs.t0_us) as f64 / 1e6;

    // Who handled what.
    let mut handled: HashMap<&str, Vec<&Handled>> = HashMap::new();
    for line in &inputs.output.handled {
        handled.entry(line.key.as_str()).or_default().push(line);
    }
    let by_key: HashMap<&str, usize> = inputs
        .events
        .iter()
        .enumerate()
        .map(|(index, event)| (event.key.as_str(), index))
        .collect();
    for garbage in &inputs.output.garbage {
        violations.push(format!(
            "a receiver printed an unexpected line: {garbage:?}"
        ));
    }
    for (key, lines) in &handled {
        if !by_key.contains_key(key) {
            violations.push(format!(
                "handled an event that was never sent genuinely ({} time(s)): {key}",
                lines.len()
            ));
        }
    }

    // 1. Nothing that must be rejected was acknowledged.
    for attempt in inputs.attempts {
        if attempt.class.must_be_rejected() && attempt.outcome.is_success() {
            violations.push(format!(
                "{} request accepted by {}: {:?}",
                attempt.class.name(),
                inputs.names[attempt.instance],
                attempt.outcome
            ));
        }
    }

    // 2. Every genuine event acknowledged and handled exactly once.
    let kills: Vec<(usize, u32, u64)> = inputs
        .faults
        .iter()
        .filter_map(|fault| match fault.kind {
            FaultKind::Killed(instance, incarnation) => {
                Some((instance, incarnation, fault.start_us))
            }
            FaultKind::RedisDown | FaultKind::PrimaryKilled => None,
        })
        .collect();
    // Writes a primary acknowledged but had not yet replicated when it was killed are lost on
    // failover (Redis replication is asynchronous): a handler line from shortly before the kill
    // up to the promotion may be repeated by a redelivery.
    let failovers: Vec<(u64, u64)> = inputs
        .faults
        .iter()
        .filter(|fault| fault.kind == FaultKind::PrimaryKilled)
        .map(|fault| {
            (
                fault.start_us.saturating_sub(REPLICATION_MARGIN_US),
                fault.restored_us,
            )
        })
        .collect();
    let mut lost_completion: HashMap<&str, usize> = HashMap::new();
    for lost in &inputs.output.lost_completions {
        *lost_completion.entry(lost.key.as_str()).or_default() += 1;
    }
    let mut exactly_once = 0usize;
    let mut crash_window = Vec::new();
    let mut completion_lost = Vec::new();
    let mut failover_lost = Vec::new();
    let mut unacked = 0usize;
    for (index, event) in inputs.events.iter().enumerate() {
        let lines = handled
            .get(event.key.as_str())
            .map_or(&[][..], Vec::as_slice);
        if event.acked_at.is_none() {
            unacked += 1;
            violations.push(format!(
                "never acknowledged after {} deliveries ({}): {}",
                event.deliveries,
                if event.abandoned {
                    "given up"
                } else {
                    "drain deadline"
                },
                event.key
            ));
        }
        match lines.len() {
            0 => {
                if event.acked_at.is_some() {
                    violations.push(format!("acknowledged but never handled: {}", event.key));
                } else {
                    violations.push(format!("never handled: {}", event.key));
                }
            }
            1 => exactly_once += 1,
            n => {
                // Two windows are at-least-once by design, and each is proven from evidence:
                // a handler that ran on an instance SIGKILLed before its 2xx left (the claim
                // then expires and the retry runs the handler again), and a completion the
                // guard could not record because Redis was down (logged at error by the
                // receiver; its 2xx stands, docs/replay-protection.md).
                let crashed = lines
                    .iter()
                    .filter(|line| {
                        kills.iter().any(|&(instance, incarnation, kill_us)| {
                            line.instance == instance
                                && line.incarnation == incarnation
                                && line.at_us < kill_us
                                && !inputs.attempts.iter().any(|a| {
                                    a.event == Some(index)
                                        && a.instance == instance
                                        && a.outcome.is_success()
                                        && a.end_us >= line.at_us
                                        && a.end_us <= kill_us
                                })
                        })
                    })
                    .count();
                let lost = lost_completion
                    .get(event.key.as_str())
                    .copied()
                    .unwrap_or(0);
                let extra = n - 1;
                let detail: Vec<String> = lines
                    .iter()
                    .map(|line| {
                        format!(
                            "{}#{} at {:.3}s",
                            inputs.names[line.instance],
                            line.incarnation,
                            secs(line.at_us)
                        )
                    })
                    .collect();
                let described = format!("{} ({})", event.key, detail.join(", "));
                if crashed >= extra {
                    if inputs.strict {
                        violations.push(format!("handled {n} times (crash window): {described}"));
                    }
                    crash_window.push(described);
                } else if crashed + lost >= extra {
                    if inputs.strict {
                        violations
                            .push(format!("handled {n} times (completion lost): {described}"));
                    }
                    completion_lost.push(described);
                } else if lines.iter().any(|line| {
                    failovers
                        .iter()
                        .any(|&(from, to)| line.at_us >= from && line.at_us <= to)
                }) {
                    if inputs.strict {
                        violations.push(format!("handled {n} times (failover): {described}"));
                    }
                    failover_lost.push(described);
                } else {
                    violations.push(format!("handled {n} times: {described}"));
                }
            }
        }
    }

    // 3. No 2xx before the handler's line.
    let mut acked_before_handled = 0usize;
    for attempt in inputs.attempts {
        let (Some(index), true) = (attempt.event, attempt.outcome.is_success()) else {
            continue;
        };
        let key = inputs.events[index].key.as_str();
        let proven = handled
            .get(key)
            .is_some_and(|lines| lines.iter().any(|line| line.at_us <= attempt.end_us));
        if !proven {
            acked_before_handled += 1;
            violations.push(format!(
                "{} answered {:?} to {} before any handler printed it ({})",
                inputs.names[attempt.instance],
                attempt.outcome,
                key,
                attempt.class.name()
            ));
        }
    }

    // 4. No 5xx outside the fault windows but the handler's deliberate 500s.
    let redis_windows: Vec<&FaultWindow> = inputs
        .faults
        .iter()
        .filter(|fault| matches!(fault.kind, FaultKind::RedisDown | FaultKind::PrimaryKilled))
        .collect();
    let in_redis_window = |attempt: &Attempt| {
        redis_windows
            .iter()
            .any(|w| attempt.end_us >= w.start_us && attempt.start_us <= w.end_us)
    };
    let in_kill_window = |attempt: &Attempt| {
        inputs.faults.iter().any(|w| {
            matches!(w.kind, FaultKind::Killed(instance, _) if instance == attempt.instance)
                && attempt.end_us >= w.start_us
                && attempt.start_us <= w.end_us
        })
    };
    let mut deliberate_500 = 0usize;
    let mut store_503 = 0usize;
    let mut unexpected_transport = Vec::new();
    for attempt in inputs.attempts {
        match &attempt.outcome {
            Outcome::Status { code, body, .. } if *code >= 500 => {
                if *code == 500 && body.contains(DELIBERATE_FAILURE) {
                    deliberate_500 += 1;
                } else if *code == 503 && body == STORE_UNAVAILABLE && in_redis_window(attempt) {
                    store_503 += 1;
                } else {
                    violations.push(format!(
                        "{} outside a fault window from {} at {:.3}s ({}): {body:?}",
                        code,
                        inputs.names[attempt.instance],
                        secs(attempt.start_us),
                        attempt.class.name()
                    ));
                }
            }
            Outcome::Transport(error) => {
                // An oversized body may be refused before it is fully written: the server
                // answers 413 and closes, and the client may see the reset first.
                if attempt.class != Class::Oversized && !in_kill_window(attempt) {
                    unexpected_transport.push(format!(
                        "{} at {:.3}s ({}): {error}",
                        inputs.names[attempt.instance],
                        secs(attempt.start_us),
                        attempt.class.name()
                    ));
                }
            }
            Outcome::Status { .. } => {}
        }
    }
    for error in &unexpected_transport {
        violations.push(format!("transport error outside a fault window: {error}"));
    }

    // The faults must have happened for the run to prove anything: each Redis outage was
    // answered with 503s, each killed instance refused connections and then served again as a
    // new incarnation, and the handlers failed about as often as they were told to.
    for fault in inputs.faults {
        let in_window = |a: &&Attempt| a.end_us >= fault.start_us && a.start_us <= fault.end_us;
        match fault.kind {
            FaultKind::RedisDown | FaultKind::PrimaryKilled => {
                let answered_503 = inputs
                    .attempts
                    .iter()
                    .filter(in_window)
                    .any(|a| matches!(&a.outcome, Outcome::Status { code: 503, .. }));
                if !answered_503 {
                    violations.push(format!(
                        "the Redis outage at {:.1}s had no visible effect (no 503)",
                        secs(fault.start_us)
                    ));
                }
            }
            FaultKind::Killed(instance, incarnation) => {
                let refused =
                    inputs.attempts.iter().filter(in_window).any(|a| {
                        a.instance == instance && matches!(a.outcome, Outcome::Transport(_))
                    });
                let served_again = inputs
                    .output
                    .handled
                    .iter()
                    .any(|line| line.instance == instance && line.incarnation > incarnation);
                if !refused || !served_again {
                    violations.push(format!(
                        "the kill of {}#{incarnation} had no visible effect (refused: {refused}, \
                         served again: {served_again})",
                        inputs.names[instance]
                    ));
                }
            }
        }
    }
    let handler_calls = inputs.output.handled.len() + deliberate_500;
    let failure_rate = deliberate_500 as f64 / handler_calls.max(1) as f64;
    if handler_calls >= 1000 && !(0.025..=0.075).contains(&failure_rate) {
        violations.push(format!(
            "the handlers failed {:.2}% of {handler_calls} calls, not about 5%",
            100.0 * failure_rate
        ));
    }

    // 5. Memory.
    for memory in inputs.memory {
        if memory.end_kib > memory.start_kib + inputs.rss_bound_kib {
            violations.push(format!(
                "{}#{} RSS grew from {} KiB to {} KiB (bound: +{} KiB)",
                memory.name,
                memory.incarnation,
                memory.start_kib,
                memory.end_kib,
                inputs.rss_bound_kib
            ));
        }
    }

    // The tables.
    let _ = writeln!(out, "\n== traffic per class ==");
    let _ = writeln!(
        out,
        "{:<15} {:>7} {:>7} {:>6} {:>6} {:>18} {:>6} {:>6} {:>6} {:>6} {:>9} {:>9} {:>9} {:>9}",
        "class",
        "sent",
        "2xx",
        "dup",
        "409",
        "4xx",
        "500h",
        "503s",
        "5xx?",
        "conn",
        "p50 ms",
        "p99 ms",
        "max ms",
        "p99 calm"
    );
    let calm = |attempt: &Attempt| {
        !inputs
            .faults
            .iter()
            .any(|w| attempt.end_us >= w.start_us && attempt.start_us <= w.end_us)
    };
    for class in Class::ALL {
        let of_class: Vec<&Attempt> = inputs
            .attempts
            .iter()
            .filter(|a| a.class == class)
            .collect();
        if of_class.is_empty() {
            continue;
        }
        let mut ok = 0;
        let mut dup = 0;
        let mut conflict = 0;
        let mut client_errors: BTreeMap<u16, usize> = BTreeMap::new();
        let mut h500 = 0;
        let mut s503 = 0;
        let mut other5 = 0;
        let mut transport = 0;
        for attempt in &of_class {
            match &attempt.outcome {
                Outcome::Status {
                    code,
                    body,
                    duplicate,
                } => match code {
                    200..=299 => {
                        ok += 1;
                        if *duplicate {
                            dup += 1;
                        }
                    }
                    409 => conflict += 1,
                    400..=499 => *client_errors.entry(*code).or_default() += 1,
                    500 if body.contains(DELIBERATE_FAILURE) => h500 += 1,
                    503 if body == STORE_UNAVAILABLE => s503 += 1,
                    _ => other5 += 1,
                },
                Outcome::Transport(_) => transport += 1,
            }
        }
        let four: Vec<String> = client_errors
            .iter()
            .map(|(code, count)| format!("{code}x{count}"))
            .collect();
        let mut latencies: Vec<Duration> = of_class.iter().map(|a| a.latency).collect();
        latencies.sort_unstable();
        let mut calm_latencies: Vec<Duration> = of_class
            .iter()
            .filter(|a| calm(a))
            .map(|a| a.latency)
            .collect();
        calm_latencies.sort_unstable();
        let _ = writeln!(
            out,
            "{:<15} {:>7} {:>7} {:>6} {:>6} {:>18} {:>6} {:>6} {:>6} {:>6} {:>9.1} {:>9.1} {:>9.1} {:>9.1}",
            class.name(),
            of_class.len(),
            ok,
            dup,
            conflict,
            if four.is_empty() {
                "-".to_owned()
            } else {
                four.join(" ")
            },
            h500,
            s503,
            other5,
            transport,
            millis(percentile(&latencies, 0.50)),
            millis(percentile(&latencies, 0.99)),
            millis(latencies.last().copied().unwrap_or_default()),
            millis(percentile(&calm_latencies, 0.99)),
        );
    }
    let _ = writeln!(
        out,
        "(dup: 2xx with X-Webhook-Duplicate; 500h: the handler's deliberate 500; 503s: the \
         guard's replay_store_unavailable; 5xx?: any other 5xx; conn: no HTTP answer; \
         p99 calm: requests outside every fault window)"
    );

    let _ = writeln!(out, "\n== events ==");
    let mut by_origin: BTreeMap<&str, usize> = BTreeMap::new();
    for event in inputs.events {
        *by_origin.entry(event.origin.name()).or_default() += 1;
    }
    let origins: Vec<String> = by_origin
        .iter()
        .map(|(origin, count)| format!("{origin} {count}"))
        .collect();
    let redelivered = inputs.events.iter().filter(|e| e.deliveries > 1).count();
    let most = inputs
        .events
        .iter()
        .map(|e| e.deliveries)
        .max()
        .unwrap_or(0);
    let _ = writeln!(
        out,
        "unique genuine events:            {} ({})",
        inputs.events.len(),
        origins.join(", ")
    );
    let _ = writeln!(
        out,
        "acknowledged (2xx) by the end:    {}",
        inputs.events.len() - unacked
    );
    let _ = writeln!(out, "handled exactly once:             {exactly_once}");
    let _ = writeln!(
        out,
        "handled twice, crash window:      {}",
        crash_window.len()
    );
    for described in &crash_window {
        let _ = writeln!(out, "    {described}");
    }
    let _ = writeln!(
        out,
        "handled twice, completion lost:   {}",
        completion_lost.len()
    );
    for described in &completion_lost {
        let _ = writeln!(out, "    {described}");
    }
    if !failovers.is_empty() {
        let _ = writeln!(
            out,
            "handled twice, failover:          {}",
            failover_lost.len()
        );
        for described in &failover_lost {
            let _ = writeln!(out, "    {described}");
        }
    }
    let _ = writeln!(
        out,
        "handler lines / calls:            {} / {} ({} deliberate 500s = {:.2}%)",
        inputs.output.handled.len(),
        handler_calls,
        deliberate_500,
        100.0 * deliberate_500 as f64 / handler_calls.max(1) as f64
    );
    let _ = writeln!(
        out,
        "events needing redelivery:        {redelivered} (most deliveries of one event: {most}, limit {MAX_DELIVERIES})"
    );
    let _ = writeln!(
        out,
        "2xx before the handler's line:    {acked_before_handled}"
    );
    let _ = writeln!(out, "5xx in fault windows (503):       {store_503}");
    let _ = writeln!(
        out,
        "receiver log lines:               {} completion(s) retried in the background, {} recorded by the retry, {} not recorded, {} expired claim(s), {} store-unavailable, {} other",
        inputs.output.deferred_completions,
        inputs.output.recovered_completions,
        inputs.output.lost_completions.len(),
        inputs.output.expired_claims,
        inputs.output.store_unavailable_logs,
        inputs.output.other_log_lines
    );

    let _ = writeln!(out, "\n== faults ==");
    for fault in inputs.faults {
        let what = match fault.kind {
            FaultKind::RedisDown => "redis-server SIGKILLed, restarted (AOF)".to_owned(),
            FaultKind::PrimaryKilled => {
                "cluster primary SIGKILLed, its replica promoted".to_owned()
            }
            FaultKind::Killed(instance, incarnation) => format!(
                "{}#{incarnation} SIGKILLed, restarted on its port",
                inputs.names[instance]
            ),
        };
        let in_window: Vec<&Attempt> = inputs
            .attempts
            .iter()
            .filter(|a| a.end_us >= fault.start_us && a.start_us <= fault.end_us)
            .collect();
        let s503 = in_window
            .iter()
            .filter(|a| matches!(&a.outcome, Outcome::Status { code: 503, .. }))
            .count();
        let last_503 = in_window
            .iter()
            .filter(|a| matches!(&a.outcome, Outcome::Status { code: 503, .. }))
            .map(|a| a.end_us)
            .max();
        let conn = in_window
            .iter()
            .filter(|a| matches!(&a.outcome, Outcome::Transport(_)))
            .count();
        let _ = writeln!(
            out,
            "{what}: down {:.1}s..{:.1}s, window to {:.1}s; {} requests in window, {s503} x 503, {conn} without answer{}",
            secs(fault.start_us),
            secs(fault.restored_us),
            secs(fault.end_us),
            in_window.len(),
            last_503.map_or(String::new(), |at| format!(
                "; last 503 {:+.2}s after the restart",
                (at as f64 - fault.restored_us as f64) / 1e6
            )),
        );
    }

    let _ = writeln!(
        out,
        "\n== receiver memory (VmRSS, KiB; bound: end <= start + {} KiB) ==",
        inputs.rss_bound_kib
    );
    let _ = writeln!(
        out,
        "{:<10} {:>5} {:>10} {:>10} {:>10} {:>10} {:>10} {:>14}",
        "instance", "inc", "start", "mid", "peak", "end", "growth", "2nd half"
    );
    for memory in inputs.memory {
        let _ = writeln!(
            out,
            "{:<10} {:>5} {:>10} {:>10} {:>10} {:>10} {:>+10} {:>14}",
            memory.name,
            memory.incarnation,
            memory.start_kib,
            memory.mid_kib.map_or("-".to_owned(), |kib| kib.to_string()),
            memory.peak_kib,
            memory.end_kib,
            memory.end_kib as i64 - memory.start_kib as i64,
            memory.mid_kib.map_or("-".to_owned(), |kib| format!(
                "{:+}",
                memory.end_kib as i64 - kib as i64
            )),
        );
    }
    (out, violations)
}

fn percentile(sorted: &[Duration], q: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    // Nearest rank.
    let rank = (q * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

fn millis(duration: Duration) -> f64 {
    duration.as_secs_f64() * 1000.0
}

#[cfg(test)]
mod tests {
    //! The verdict must catch what it claims to catch: each rule is fed a violation and the
    //! matching innocent case.

    use super::*;
    use crate::receivers::LostCompletion;

    const KEY: &str = "pharmacy_order_created:1700000000:g1";

    fn ok(start_us: u64, end_us: u64, instance: usize, class: Class) -> Attempt {
        attempt(start_us, end_us, instance, class, 200, "")
    }

    fn attempt(
        start_us: u64,
        end_us: u64,
        instance: usize,
        class: Class,
        code: u16,
        body: &str,
    ) -> Attempt {
        Attempt {
            class,
            instance,
            event: (!class.must_be_rejected()).then_some(0),
            start_us,
            end_us,
            latency: Duration::from_micros(end_us - start_us),
            outcome: Outcome::Status {
                code,
                body: body.to_owned(),
                duplicate: false,
            },
        }
    }

    fn line(instance: usize, incarnation: u32, at_us: u64) -> Handled {
        Handled {
            instance,
            incarnation,
            key: KEY.to_owned(),
            at_us,
        }
    }

    fn verdict(
        attempts: &[Attempt],
        handled: Vec<Handled>,
        lost: &[&str],
        faults: &[FaultWindow],
        memory: &[Memory],
    ) -> Vec<String> {
        let events = [Event::for_test(KEY, Some(2_000))];
        let output = Output {
            handled,
            lost_completions: lost
                .iter()
                .map(|key| LostCompletion {
                    key: (*key).to_owned(),
                })
                .collect(),
            ..Output::default()
        };
        let (_, violations) = analyse(&Inputs {
            t0_us: 0,
            names: vec!["a".into(), "b".into()],
            events: &events,
            attempts,
            output: &output,
            faults,
            memory,
            rss_bound_kib: 1024,
            strict: false,
        });
        // Whether the faults showed is a rule of its own (tested below); these tests build
        // fault windows only to excuse what happens inside them.
        violations
            .into_iter()
            .filter(|violation| !violation.contains("had no visible effect"))
            .collect()
    }

    #[test]
    fn faults_must_show() {
        let events = [Event::for_test(KEY, Some(2_000))];
        let redis = FaultWindow {
            kind: FaultKind::RedisDown,
            start_us: 10_000,
            restored_us: 20_000,
            end_us: 25_000,
        };
        let run = |attempts: &[Attempt], handled: Vec<Handled>| {
            let output = Output {
                handled,
                ..Output::default()
            };
            analyse(&Inputs {
                t0_us: 0,
                names: vec!["a".into(), "b".into()],
                events: &events,
                attempts,
                output: &output,
                faults: &[redis.clone(), kill_of(1, 30_000)],
                memory: &[],
                rss_bound_kib: 1024,
                strict: false,
            })
            .1
        };
        let base = ok(1_000, 2_000, 0, Class::Genuine);
        let handled = vec![line(0, 1, 1_500)];
        let unseen = run(std::slice::from_ref(&base), handled.clone());
        assert_eq!(unseen.len(), 2, "{unseen:?}");
        let refused = Attempt {
            outcome: Outcome::Transport("connect: refused".into()),
            ..attempt(30_050, 30_060, 1, Class::Duplicate, 0, "")
        };
        let seen = [
            base,
            attempt(12_000, 12_100, 1, Class::Duplicate, 503, STORE_UNAVAILABLE),
            refused,
        ];
        // Refused, but the new incarnation never handled anything: not shown to recover.
        assert_eq!(run(&seen, handled.clone()).len(), 1);
        let mut served = handled;
        served.push(Handled {
            instance: 1,
            incarnation: 2,
            key: KEY.to_owned(),
            at_us: 1_900,
        });
        // (The second line makes KEY handled twice; only the fault rules are asserted here.)
        let violations = run(&seen, served);
        assert!(
            violations
                .iter()
                .all(|v| !v.contains("had no visible effect")),
            "{violations:?}"
        );
    }

    fn kill_of(instance: usize, at_us: u64) -> FaultWindow {
        FaultWindow {
            kind: FaultKind::Killed(instance, 1),
            start_us: at_us,
            restored_us: at_us + 100,
            end_us: at_us + 200,
        }
    }

    #[test]
    fn a_clean_delivery_passes() {
        let violations = verdict(
            &[ok(1_000, 2_000, 0, Class::Genuine)],
            vec![line(0, 1, 1_500)],
            &[],
            &[],
            &[],
        );
        assert!(violations.is_empty(), "{violations:?}");
    }

    #[test]
    fn an_accepted_forgery_fails() {
        let violations = verdict(
            &[
                ok(1_000, 2_000, 0, Class::Genuine),
                ok(1_000, 2_000, 1, Class::Forged),
            ],
            vec![line(0, 1, 1_500)],
            &[],
            &[],
            &[],
        );
        assert_eq!(violations.len(), 1, "{violations:?}");
        assert!(violations[0].starts_with("forged request accepted"));
    }

    #[test]
    fn an_unexplained_second_handling_fails() {
        let violations = verdict(
            &[ok(1_000, 2_000, 0, Class::Genuine)],
            vec![line(0, 1, 1_500), line(1, 1, 3_000)],
            &[],
            &[],
            &[],
        );
        assert_eq!(violations.len(), 1, "{violations:?}");
        assert!(violations[0].starts_with("handled 2 times"));
    }

    #[test]
    fn a_second_handling_after_a_crash_before_the_answer_is_at_least_once() {
        // Handled on a (killed at 1_800, before answering), then on b after the lease.
        let attempts = [ok(10_000, 11_000, 1, Class::Retry)];
        let excused = verdict(
            &attempts,
            vec![line(0, 1, 1_500), line(1, 1, 10_500)],
            &[],
            &[kill_of(0, 1_800)],
            &[],
        );
        assert!(excused.is_empty(), "{excused:?}");
        // Had the killed instance answered 2xx before dying, the second run is a real double.
        let answered = [
            ok(1_000, 1_600, 0, Class::Genuine),
            ok(10_000, 11_000, 1, Class::Retry),
        ];
        let violations = verdict(
            &answered,
            vec![line(0, 1, 1_500), line(1, 1, 10_500)],
            &[],
            &[kill_of(0, 1_800)],
            &[],
        );
        assert_eq!(violations.len(), 1, "{violations:?}");
    }

    #[test]
    fn a_second_handling_after_a_logged_lost_completion_is_at_least_once() {
        let attempts = [
            ok(1_000, 2_000, 0, Class::Genuine),
            ok(5_000, 6_000, 1, Class::Duplicate),
        ];
        let handled = vec![line(0, 1, 1_500), line(1, 1, 5_500)];
        assert!(verdict(&attempts, handled.clone(), &[KEY], &[], &[]).is_empty());
        assert_eq!(
            verdict(&attempts, handled, &["other:key"], &[], &[]).len(),
            1
        );
    }

    #[test]
    fn a_second_handling_across_a_failover_is_at_least_once_only_near_the_kill() {
        let failover = |kill_us: u64| FaultWindow {
            kind: FaultKind::PrimaryKilled,
            start_us: kill_us,
            restored_us: kill_us + 3_000_000,
            end_us: kill_us + 8_000_000,
        };
        let attempts = [
            ok(1_000, 2_000, 0, Class::Genuine),
            ok(9_000_000, 9_001_000, 1, Class::Retry),
        ];
        let handled = vec![line(0, 1, 1_500), line(1, 1, 9_000_500)];
        // Handled 0.5 s before the primary died: its completion may not have been replicated.
        let near = verdict(&attempts, handled.clone(), &[], &[failover(500_000)], &[]);
        assert!(near.is_empty(), "{near:?}");
        // Handled 5 s before: replicated long before, so a second handling is a real double.
        let far = verdict(&attempts, handled, &[], &[failover(5_000_000)], &[]);
        assert_eq!(far.len(), 1, "{far:?}");
        assert!(far[0].starts_with("handled 2 times"), "{far:?}");
    }

    #[test]
    fn a_2xx_before_any_handler_line_fails() {
        let violations = verdict(
            &[ok(1_000, 2_000, 0, Class::Genuine)],
            vec![line(0, 1, 2_500)],
            &[],
            &[],
            &[],
        );
        assert_eq!(violations.len(), 1, "{violations:?}");
        assert!(violations[0].contains("before any handler printed it"));
    }

    #[test]
    fn only_deliberate_500s_and_503s_in_a_redis_window_are_allowed() {
        let redis = FaultWindow {
            kind: FaultKind::RedisDown,
            start_us: 10_000,
            restored_us: 20_000,
            end_us: 25_000,
        };
        let handled = vec![line(0, 1, 1_500)];
        let base = ok(1_000, 2_000, 0, Class::Genuine);
        let allowed = [
            base.clone(),
            attempt(
                3_000,
                3_100,
                0,
                Class::Retry,
                500,
                "soak: deliberate handler failure",
            ),
            attempt(24_000, 26_000, 1, Class::Retry, 503, STORE_UNAVAILABLE),
        ];
        let violations = verdict(
            &allowed,
            handled.clone(),
            &[],
            std::slice::from_ref(&redis),
            &[],
        );
        assert!(violations.is_empty(), "{violations:?}");
        for bad in [
            attempt(26_000, 26_100, 1, Class::Retry, 503, STORE_UNAVAILABLE),
            attempt(3_000, 3_100, 0, Class::Retry, 500, r#"{"error":"x"}"#),
            attempt(12_000, 12_100, 0, Class::Duplicate, 502, ""),
        ] {
            let violations = verdict(
                &[base.clone(), bad],
                handled.clone(),
                &[],
                std::slice::from_ref(&redis),
                &[],
            );
            assert_eq!(violations.len(), 1, "{violations:?}");
        }
    }

    #[test]
    fn rss_growth_beyond_the_bound_fails() {
        let memory = |end_kib| Memory {
            name: "a".into(),
            incarnation: 1,
            start_kib: 10_000,
            mid_kib: None,
            peak_kib: end_kib,
            end_kib,
        };
        let attempts = [ok(1_000, 2_000, 0, Class::Genuine)];
        let handled = vec![line(0, 1, 1_500)];
        assert!(verdict(&attempts, handled.clone(), &[], &[], &[memory(11_024)]).is_empty());
        assert_eq!(
            verdict(&attempts, handled, &[], &[], &[memory(11_025)]).len(),
            1
        );
    }
}
