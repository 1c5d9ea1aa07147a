#!/usr/bin/env python3
"""Drives the HTTP benchmarks of rxscale-webhooks: bench_server under wrk, on 127.0.0.1 only.

Run it through run.sh, which installs wrk and builds bench_server. See docs/benchmarks.md.

For each framework, one at a time, and each round, every mode gets a fresh server (pinned to
one CPU when there are two or more, wrk on another), a correctness check (an authentic
delivery answers 200, a forged one 401), a one-second warm-up, then one wrk run per body size.
Modes are interleaved within a round so that drift in the machine's load hits them alike; each
cell reports the median of its rounds. Then, per framework and mode, a fresh server takes 1 MiB
deliveries at a fixed concurrency and its peak RSS (VmHWM) is read from /proc.
"""

import argparse
import hashlib
import hmac
import http.client
import json
import os
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timezone

SECRET = b"whsec_benchmark_secret_0123456789abcdef"  # bench_server's
HERE = os.path.dirname(os.path.abspath(__file__))
LUA = os.path.join(HERE, "post.lua")
MODES = ["bare", "inline", "layer", "extractor"]
FRAMEWORKS = ["axum", "actix", "rocket"]


def modes_for(framework, modes):
    """Rocket has no layer: its one way in is the data guard with its fairing (`extractor`)."""
    return [m for m in modes if not (framework == "rocket" and m == "layer")]
SIZES = [("2 KiB", 2 * 1024), ("64 KiB", 64 * 1024)]
RSS_SIZE = ("1 MiB", 1024 * 1024)

ITEM = (
    '{"sku":{"uid":"sku-456","display_name":"Medication X 100mg","pzn":"12345678",'
    '"product_uid":"prod-789","product_display_name":"Medication X","product_handle":'
    '"medication-x"},"pharmacy_sku":{"uid":"psku-abc123","external_id":"EXT-001",'
    '"price":1299,"stock":50}}'
)
ADDRESS = (
    '{"first_name":"Max","last_name":"Mustermann","street":"Hauptstr.","house_number":"1",'
    '"zip_code":"10115","city":"Berlin","country":"Germany","additional_address":null}'
)


def order_body(size, timestamp):
    """A pharmacy_order_created of at most `size` bytes: the spec's order with as many order
    items as fit, the same shape as the core benchmark's (crates/rxscale-webhooks/benches)."""
    head = (
        '{"event_type":"pharmacy_order_created","timestamp":%d,"payload_version":"1",'
        '"data":{"uid":"po-abc123","status":"init","name":"#1001","data":{},'
        '"external_status":"OPEN","created_at":1711899000,"updated_at":1711899000,'
        '"deleted_at":null,"pharmacy":{"uid":"ph-xyz","display_name":"City Pharmacy"},'
        '"order":{"uid":"ord-123","delivery_address":%s,"invoice_address":%s},'
        '"delivery_type":{"uid":"dt-001","display_name":"Standard Shipping",'
        '"identifier":"standard"},"patient_data":{"uid":"pat-123","display_name":'
        '"Max Mustermann","email":"max@example.com","date_of_birth":"1990-01-15"},'
        '"order_items":[' % (timestamp, ADDRESS, ADDRESS)
    )
    tail = "]}}"
    room = size - len(head) - len(tail)
    count = max(1, (room + 1) // (len(ITEM) + 1))
    body = head + ",".join([ITEM] * count) + tail
    json.loads(body)  # well-formed, or the benchmark would measure rejections
    return body.encode()


def machine():
    info = {"cores": os.cpu_count(), "model": "?", "flags": []}
    try:
        with open("/proc/cpuinfo") as f:
            text = f.read()
        model = re.search(r"^model name\s*:\s*(.+)$", text, re.M)
        flags = re.search(r"^flags\s*:\s*(.+)$", text, re.M)
        info["model"] = model.group(1).strip() if model else "?"
        have = set(flags.group(1).split()) if flags else set()
        info["flags"] = [f for f in ("sha_ni", "avx2", "avx512f", "bmi2", "adx") if f in have]
    except OSError:
        pass
    info["kernel"] = os.uname().release
    return info


def loadavg():
    with open("/proc/loadavg") as f:
        return " ".join(f.read().split()[:3])


def busy_processes(exclude):
    """Other processes using CPU right now, to record honestly what shared the machine."""
    out = subprocess.run(
        ["ps", "-eo", "pid,ni,pcpu,comm", "--sort=-pcpu", "--no-headers"],
        capture_output=True, text=True, check=False,
    ).stdout
    busy = []
    for line in out.splitlines():
        parts = line.split(None, 3)
        if len(parts) < 4 or int(parts[0]) in exclude:
            continue
        if float(parts[2]) >= 5.0:
            busy.append(f"{parts[3]} (nice {parts[1]}, {parts[2]}% cpu)")
    return busy[:6]


class Server:
    def __init__(self, binary, framework, mode, workers, max_body, cpu, wrapper=()):
        cmd = list(wrapper) + [binary, "--framework", framework, "--mode", mode, "--port", "0",
                               "--workers", str(workers), "--max-body-bytes", str(max_body)]
        if cpu is not None:
            cmd = ["taskset", "-c", str(cpu)] + cmd
        self.stderr = tempfile.TemporaryFile()
        self.proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=self.stderr, text=True)
        line = self.proc.stdout.readline()
        match = re.match(r"listening (\d+)", line)
        if not match:
            self.stop()
            self.stderr.seek(0)
            raise SystemExit(f"bench_server did not start: {line!r} "
                             f"{self.stderr.read().decode(errors='replace')}")
        self.port = int(match.group(1))
        self.pid = self.proc.pid

    def status(self, field):
        # taskset execs the server, so the pid is the server's own.
        with open(f"/proc/{self.pid}/status") as f:
            for line in f:
                if line.startswith(field + ":"):
                    return int(line.split()[1]) * 1024
        raise RuntimeError(f"{field} not in /proc/{self.pid}/status")

    def cpu_ns(self):
        """CPU time the server's threads have run, in ns: unlike req/s, it hardly moves when
        other processes compete for the core, so its ratios are the steadier ones."""
        total = 0
        for task in os.listdir(f"/proc/{self.pid}/task"):
            try:
                with open(f"/proc/{self.pid}/task/{task}/schedstat") as f:
                    total += int(f.read().split()[0])
            except (OSError, ValueError, IndexError):
                pass  # a thread that exited between listdir and open
        return total

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


def post(port, body, signature, count=1):
    """Sends `count` deliveries on one keep-alive connection; returns the last status and
    fails on any other status than the first's."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    statuses = set()
    for _ in range(count):
        conn.request("POST", "/webhook", body=body, headers={
            "Content-Type": "application/json",
            "X-Webhook-Event": "pharmacy_order_created",
            "X-Webhook-Signature": signature,
        })
        response = conn.getresponse()
        response.read()
        statuses.add(response.status)
    conn.close()
    if len(statuses) != 1:
        raise SystemExit(f"mixed statuses {statuses}")
    return statuses.pop()


def callgrind(args, frameworks, modes, deliveries, out_dir):
    """User-space instructions per delivery under callgrind: deterministic, so its ratios do not
    move with the machine's load. Valgrind's CPU model has no SHA extensions, so sha2 takes its
    portable path here; the SHA-256 compression is reported apart, the rest is the comparison.
    """
    counts = {"2 KiB": 1000, "64 KiB": 300}
    results = {}
    for framework in frameworks:
        for label, _ in SIZES:
            for mode in modes_for(framework, modes):
                prefix = os.path.join(out_dir, f"callgrind.{framework}.{mode}.{label[:-4]}")
                wrapper = ["valgrind", "--tool=callgrind", f"--callgrind-out-file={prefix}"]
                server = Server(args.server, framework, mode, 1, args.max_body_bytes, None,
                                wrapper)
                try:
                    body, signature = deliveries[label]
                    post(server.port, body, signature, 50)  # warm-up, not counted
                    subprocess.run(["callgrind_control", "-z", str(server.pid)],
                                   capture_output=True, check=True)
                    status = post(server.port, body, signature, counts[label])
                    if status != 200:
                        raise SystemExit(f"{framework} {mode}: status {status}")
                    subprocess.run(["callgrind_control", "-d", str(server.pid)],
                                   capture_output=True, check=True)
                finally:
                    server.stop()
                dump = prefix + ".1"
                with open(dump) as f:
                    total = int(re.search(r"^summary:\s*(\d+)", f.read(), re.M).group(1))
                annotated = subprocess.run(
                    ["callgrind_annotate", "--inclusive=yes", "--auto=no", "--threshold=100",
                     dump], capture_output=True, text=True, check=True).stdout
                sha = re.search(r"^\s*([\d,]+) .*sha2::sha256::compress256", annotated, re.M)
                sha = int(sha.group(1).replace(",", "")) if sha else 0
                n = counts[label]
                results[(framework, label, mode)] = {"total": total / n, "sha": sha / n}
                print(f"{framework:5} {mode:9} {label:6} callgrind: {total / n:,.0f} instr/req, "
                      f"{(total - sha) / n:,.0f} without SHA-256", flush=True)
    lines = [
        "**User-space instructions per delivery (callgrind)** (valgrind hides SHA-NI, so "
        "SHA-256 runs the portable code there; it is the same for every mode and shown apart)",
        "",
        "| framework | body | mode | instr/req | vs inline | without SHA-256 | vs inline |",
        "|---|---|---|---:|---:|---:|---:|",
    ]
    for framework in frameworks:
        for label, _ in SIZES:
            base = results[(framework, label, "inline")]
            for mode in modes_for(framework, modes):
                r = results[(framework, label, mode)]
                rest, base_rest = r["total"] - r["sha"], base["total"] - base["sha"]
                lines.append(f"| {framework} | {label} | {mode} | {r['total'] / 1000:,.1f}k | "
                             f"{r['total'] / base['total']:.3f}× | {rest / 1000:,.1f}k | "
                             f"{rest / base_rest:.3f}× |")
    lines.append("")
    return "\n".join(lines), results


def check(server, mode, deliveries):
    """Every mode must accept the authentic deliveries, and the verifying ones refuse a forgery,
    or the figures would be measuring something else."""
    for label, (body, signature) in deliveries.items():
        status = post(server.port, body, signature)
        if status != 200:
            raise SystemExit(f"{mode}: authentic {label} delivery answered {status}, not 200")
    body, signature = next(iter(deliveries.values()))
    forged = "0" * 64
    status = post(server.port, body, forged)
    expected = 200 if mode == "bare" else 401
    if status != expected:
        raise SystemExit(f"{mode}: forged delivery answered {status}, not {expected}")


UNIT = {"us": 1.0, "ms": 1e3, "s": 1e6, "m": 60e6, "h": 3600e6}


def micros(text):
    match = re.fullmatch(r"([\d.]+)(us|ms|s|m|h)", text)
    if not match:
        raise ValueError(f"unparsed latency {text!r}")
    return float(match.group(1)) * UNIT[match.group(2)]


def wrk(server, files, seconds, connections, cpu):
    port = server.port
    cmd = ["wrk", "-t", "1", "-c", str(connections), "-d", f"{seconds}s", "--timeout", "10s",
           "--latency", "-s", LUA, f"http://127.0.0.1:{port}/webhook"]
    if cpu is not None:
        cmd = ["taskset", "-c", str(cpu)] + cmd
    env = dict(os.environ, BENCH_BODY=files[0], BENCH_SIGNATURE=files[1])
    cpu_before = server.cpu_ns()
    out = subprocess.run(cmd, capture_output=True, text=True, env=env, check=False)
    cpu_after = server.cpu_ns()
    if out.returncode != 0:
        raise SystemExit(f"wrk failed: {out.stderr}{out.stdout}")
    text = out.stdout
    result = {
        "rps": float(re.search(r"Requests/sec:\s*([\d.]+)", text).group(1)),
        "requests": int(re.search(r"(\d+) requests in", text).group(1)),
    }
    result["cpu_us"] = (cpu_after - cpu_before) / 1000 / max(1, result["requests"])
    for pct in ("50", "99"):
        match = re.search(r"^\s+%s(?:\.0+)?%%\s+(\S+)" % pct, text, re.M)
        result["p" + pct] = micros(match.group(1))
    bad = re.search(r"Non-2xx or 3xx responses:\s*(\d+)", text)
    errors = re.search(r"Socket errors:.*", text)
    if bad or errors:
        raise SystemExit(f"wrk saw failures, figures void:\n{text}")
    return result


def fmt_lat(us):
    return f"{us / 1000:.2f} ms" if us >= 1000 else f"{us:.0f} µs"


def fmt_bytes(n):
    return f"{n / (1024 * 1024):.1f} MiB"


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--server", required=True, help="path to the bench_server binary")
    parser.add_argument("--quick", action="store_true", help="smoke run: 2 s per cell, 1 round")
    parser.add_argument("--duration", type=int, help="seconds per wrk run (default 3; quick 2)")
    parser.add_argument("--rounds", type=int, help="rounds per cell, median kept (default 5)")
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--workers", type=int, default=1,
                        help="tokio worker threads (axum) = actix-web workers (default 1)")
    parser.add_argument("--rss-connections", type=int, default=16)
    parser.add_argument("--rss-duration", type=int, help="seconds of 1 MiB load (default 5)")
    parser.add_argument("--max-body-bytes", type=int, default=2 * 1024 * 1024)
    parser.add_argument("--frameworks", default=",".join(FRAMEWORKS))
    parser.add_argument("--modes", default=",".join(MODES))
    parser.add_argument("--no-pin", action="store_true", help="do not pin server and wrk")
    parser.add_argument("--out", default=None, help="directory for results.md / results.json")
    parser.add_argument("--callgrind", action="store_true",
                        help="only count instructions per delivery under valgrind's callgrind")
    args = parser.parse_args()

    duration = args.duration or (2 if args.quick else 3)
    rounds = args.rounds or (1 if args.quick else 5)
    rss_duration = args.rss_duration or (2 if args.quick else 5)
    frameworks = [f for f in args.frameworks.split(",") if f]
    modes = [m for m in args.modes.split(",") if m]
    if "inline" not in modes:
        raise SystemExit("the inline yardstick is needed for the ratios")
    cores = os.cpu_count() or 1
    pin = not args.no_pin and cores >= 2 and shutil.which("taskset") is not None
    server_cpu, wrk_cpu = (1, 0) if pin else (None, None)

    started = time.time()
    now = int(started)
    tmp = tempfile.mkdtemp(prefix="rxscale-http-bench-")
    deliveries, files = {}, {}
    for label, size in SIZES + [RSS_SIZE]:
        body = order_body(size, now)
        signature = hmac.new(SECRET, body, hashlib.sha256).hexdigest()
        stem = os.path.join(tmp, label.replace(" ", ""))
        with open(stem + ".json", "wb") as f:
            f.write(body)
        with open(stem + ".sig", "w") as f:
            f.write(signature)
        deliveries[label] = (body, signature)
        files[label] = (stem + ".json", stem + ".sig")

    if args.callgrind:
        for tool in ("valgrind", "callgrind_control", "callgrind_annotate"):
            if shutil.which(tool) is None:
                raise SystemExit(f"{tool} not found: apt-get install valgrind")
        out = args.out or tmp
        os.makedirs(out, exist_ok=True)
        table, _ = callgrind(args, frameworks, modes, deliveries, out)
        print()
        print(table)
        with open(os.path.join(out, "callgrind.md"), "w") as f:
            f.write(table)
        shutil.rmtree(tmp, ignore_errors=True)
        return

    info = machine()
    meta = {
        "date": datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "machine": info,
        "command": os.environ.get("BENCH_COMMAND", " ".join(sys.argv)),
        "wrk": f"wrk -t 1 -c {args.connections} -d {duration}s --latency, "
               f"{rounds} round(s), median kept",
        "workers": args.workers,
        "pinning": "server on CPU 1, wrk on CPU 0" if pin else "none",
        "body_bytes": {label: len(deliveries[label][0]) for label, _ in SIZES + [RSS_SIZE]},
        "load_before": loadavg(),
        "busy_before": busy_processes({os.getpid()}),
    }
    print(f"# {meta['date']}  {info['model']}, {info['cores']} cores, "
          f"flags {' '.join(info['flags'])}; load {meta['load_before']}", flush=True)
    if meta["busy_before"]:
        print("# sharing the machine: " + "; ".join(meta["busy_before"]), flush=True)

    cells = {}  # (framework, size label, mode) -> [results]
    for framework in frameworks:
        for round_ in range(rounds):
            for mode in modes_for(framework, modes):
                server = Server(args.server, framework, mode, args.workers,
                                args.max_body_bytes, server_cpu)
                try:
                    check(server, mode, {k: deliveries[k] for k, _ in SIZES})
                    wrk(server, files[SIZES[0][0]], 1, args.connections, wrk_cpu)
                    for label, _ in SIZES:
                        result = wrk(server, files[label], duration, args.connections,
                                     wrk_cpu)
                        cells.setdefault((framework, label, mode), []).append(result)
                        print(f"{framework:5} {mode:9} {label:6} round {round_ + 1}: "
                              f"{result['rps']:9.0f} req/s  p50 {fmt_lat(result['p50'])}  "
                              f"p99 {fmt_lat(result['p99'])}  cpu {result['cpu_us']:.1f} µs/req", flush=True)
                finally:
                    server.stop()

    rss = {}
    rss_label = RSS_SIZE[0]
    for framework in frameworks:
        for mode in modes_for(framework, modes):
            server = Server(args.server, framework, mode, args.workers, args.max_body_bytes,
                            server_cpu)
            try:
                idle = server.status("VmRSS")
                check(server, mode, {rss_label: deliveries[rss_label]})
                result = wrk(server, files[rss_label], rss_duration, args.rss_connections,
                             wrk_cpu)
                peak = server.status("VmHWM")
                rss[(framework, mode)] = {"idle": idle, "peak": peak, "rps": result["rps"]}
                print(f"{framework:5} {mode:9} {rss_label}: idle {fmt_bytes(idle)}, "
                      f"peak {fmt_bytes(peak)}, {result['rps']:.0f} req/s", flush=True)
            finally:
                server.stop()

    meta["load_after"] = loadavg()
    meta["busy_after"] = busy_processes({os.getpid()})
    meta["elapsed_s"] = round(time.time() - started)
    report = render(meta, cells, rss, frameworks, modes, rounds, args)
    print()
    print(report)
    out = args.out
    if out:
        os.makedirs(out, exist_ok=True)
        with open(os.path.join(out, "results.md"), "w") as f:
            f.write(report)
        with open(os.path.join(out, "results.json"), "w") as f:
            json.dump({
                "meta": meta,
                "cells": [{"framework": k[0], "size": k[1], "mode": k[2], "runs": v}
                          for k, v in cells.items()],
                "rss": [{"framework": k[0], "mode": k[1], **v} for k, v in rss.items()],
            }, f, indent=1)
        print(f"\n(written to {out}/results.md and results.json)")
    shutil.rmtree(tmp, ignore_errors=True)


def render(meta, cells, rss, frameworks, modes, rounds, args):
    info = meta["machine"]
    lines = [
        f"Command: `{meta['command']}`.",
        f"Date: {meta['date']}. Machine: {info['model']}, {info['cores']} cores, "
        f"flags: {', '.join(info['flags']) or 'none of sha_ni/avx2'}; kernel {info['kernel']}.",
        f"Load: {meta['wrk']}; {meta['workers']} server worker thread(s) per framework; "
        f"pinning: {meta['pinning']}. Bodies: "
        + ", ".join(f"{k} = {v} B" for k, v in meta["body_bytes"].items()) + ".",
        f"Load average before/after: {meta['load_before']} / {meta['load_after']}; "
        f"took {meta['elapsed_s']} s.",
    ]
    busy = sorted(set(meta["busy_before"] + meta["busy_after"]))
    if busy:
        lines.append("Other processes on the machine: " + "; ".join(busy) + ".")
    lines.append("")
    for label, _ in SIZES:
        lines += [
            f"**{label} bodies** (median of {rounds} round(s), req/s min–max in brackets; "
            "server CPU/req: CPU time of all the server's threads over requests served)",
            "",
            "| framework | mode | req/s | vs inline | p50 | p99 | server CPU/req | vs inline |",
            "|---|---|---:|---:|---:|---:|---:|---:|",
        ]
        for framework in frameworks:
            base = cells[(framework, label, "inline")]
            base_rps = statistics.median(r["rps"] for r in base)
            base_cpu = statistics.median(r["cpu_us"] for r in base)
            for mode in modes_for(framework, modes):
                runs = cells[(framework, label, mode)]
                rps = statistics.median(r["rps"] for r in runs)
                p50 = statistics.median(r["p50"] for r in runs)
                p99 = statistics.median(r["p99"] for r in runs)
                cpu = statistics.median(r["cpu_us"] for r in runs)
                spread = (f" [{min(r['rps'] for r in runs):.0f}–{max(r['rps'] for r in runs):.0f}]"
                          if len(runs) > 1 else "")
                lines.append(
                    f"| {framework} | {mode} | {rps:.0f}{spread} | {rps / base_rps:.3f}× | "
                    f"{fmt_lat(p50)} | {fmt_lat(p99)} | {cpu:.1f} µs | {cpu / base_cpu:.3f}× |")
        lines.append("")
    bound = args.max_body_bytes * args.rss_connections
    lines += [
        f"**Peak RSS, {RSS_SIZE[0]} bodies, {args.rss_connections} connections** "
        f"(body limit {fmt_bytes(args.max_body_bytes)}, so limit × concurrency = "
        f"{fmt_bytes(bound)})",
        "",
        "| framework | mode | idle RSS | peak RSS (VmHWM) | peak − idle | vs inline | req/s |",
        "|---|---|---:|---:|---:|---:|---:|",
    ]
    for framework in frameworks:
        base = rss.get((framework, "inline"))
        for mode in modes_for(framework, modes):
            r = rss[(framework, mode)]
            grown = r["peak"] - r["idle"]
            ratio = f"{grown / (base['peak'] - base['idle']):.2f}×" if base else "–"
            lines.append(f"| {framework} | {mode} | {fmt_bytes(r['idle'])} | "
                         f"{fmt_bytes(r['peak'])} | {fmt_bytes(grown)} | {ratio} | "
                         f"{r['rps']:.0f} |")
    lines.append("")
    return "\n".join(lines)


if __name__ == "__main__":
    main()
