#!/usr/bin/env python3
"""Prints criterion's figures as the Markdown tables of docs/benchmarks.md.

    criterion_table.py [TARGET_DIR]          # core: cargo bench -p rxscale-webhooks --bench verify
    criterion_table.py --crypto [TARGET_DIR] # cargo bench -p rxscale-webhooks-bench --bench crypto_backends

Reads criterion's point estimates (the middle figure of each `time:` line criterion prints)
from TARGET_DIR/criterion/ (default: target), and adds the ratios the issue's goals name.
"""

import json
import os
import sys

SIZES = ["512B", "2KiB", "16KiB", "256KiB"]
ROWS = [
    ("floor", "raw_hmac", "raw HMAC-SHA256 (floor)"),
    ("baseline", "typed_parse", "typed parse alone"),
    ("baseline", "raw_hmac+typed_parse", "raw HMAC + typed parse"),
    ("baseline", "value_parse", "`serde_json::Value` parse"),
    ("peer", "svix_verify", "svix `verify`"),
    ("peer", "svix_verify+typed_parse", "svix `verify` + typed parse"),
    ("ours", "signature_check", "ours: signature check"),
    ("ours", "verify", "ours: full `verify`"),
    ("ours", "reject_forged", "ours: forged rejected"),
]


def estimate(root, size, kind, name):
    path = os.path.join(root, "criterion", f"verify_{size}", kind, name, "new", "estimates.json")
    with open(path) as f:
        data = json.load(f)
    # What criterion prints as the middle `time:` figure: the slope, or the mean without one.
    return (data.get("slope") or data["mean"])["point_estimate"]  # ns


def fmt(ns):
    if ns >= 1e6:
        return f"{ns / 1e6:.3f} ms"
    if ns >= 1e3:
        return f"{ns / 1e3:.2f} µs"
    return f"{ns:.0f} ns"


BACKENDS = ["rustcrypto_sha2_0.11", "rustcrypto_soft", "ring", "aws_lc_rs", "hmac_sha256"]


def crypto(root):
    def ns(size, backend):
        path = os.path.join(root, "criterion", f"hmac_sha256_{size}", backend, "new",
                            "estimates.json")
        with open(path) as f:
            data = json.load(f)
        return (data.get("slope") or data["mean"])["point_estimate"]

    t = {(s, b): ns(s, b) for s in SIZES for b in BACKENDS}
    print("| backend | " + " | ".join(SIZES) + " |")
    print("|---|" + "---:|" * len(SIZES))
    for b in BACKENDS:
        cells = [f"{fmt(t[(s, b)])} ({t[(s, b)] / t[(s, BACKENDS[0])]:.2f}×)" for s in SIZES]
        print(f"| `{b}` | " + " | ".join(cells) + " |")


def main():
    args = sys.argv[1:]
    if args[:1] == ["--crypto"]:
        crypto(args[1] if len(args) > 1 else "target")
        return
    root = args[0] if args else "target"
    t = {(s, n): estimate(root, s, k, n) for s in SIZES for k, n, _ in ROWS}
    print("| | " + " | ".join(SIZES) + " |")
    print("|---|" + "---:|" * len(SIZES))
    for _, name, label in ROWS:
        print(f"| {label} | " + " | ".join(fmt(t[(s, name)]) for s in SIZES) + " |")
    print()
    print("| ratio (goal) | " + " | ".join(SIZES) + " |")
    print("|---|" + "---:|" * len(SIZES))
    goals = [
        ("signature check / raw HMAC (≤ 1.05× from 2 KiB)", "signature_check", "raw_hmac"),
        ("verify / (raw HMAC + typed parse) (≤ 1.1× at 2 KiB)", "verify",
         "raw_hmac+typed_parse"),
        ("verify / (svix + typed parse) (≤ 0.5× at 2 KiB)", "verify", "svix_verify+typed_parse"),
        ("forged rejection / verify (≤ 1×)", "reject_forged", "verify"),
        ("forged rejection / raw HMAC", "reject_forged", "raw_hmac"),
    ]
    for label, a, b in goals:
        print(f"| {label} | " + " | ".join(f"{t[(s, a)] / t[(s, b)]:.3f}×" for s in SIZES)
              + " |")


if __name__ == "__main__":
    main()
