#!/usr/bin/env python3
"""MSRV check that works with the machine's single toolchain.

Every package in the resolved dependency graph must declare a rust-version no newer than the
workspace's own. Together with resolver 3 (which prefers such versions), this is what `cargo
+<msrv> check` would catch first; that command remains the real check where the older toolchain
is installed (`rustup toolchain install <msrv>` then `cargo +<msrv> check --workspace`).
"""
import json
import subprocess
import sys


def version(text):
    return tuple(int(part) for part in text.split(".")[:3]) + (0,) * (3 - len(text.split(".")))


meta = json.loads(
    subprocess.run(
        ["cargo", "metadata", "--format-version", "1", "--all-features"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
)
members = set(meta["workspace_members"])
ours = {p["rust_version"] for p in meta["packages"] if p["id"] in members and p["rust_version"]}
if len(ours) != 1:
    sys.exit(f"msrv: workspace members declare differing rust-version values: {sorted(ours)}")
msrv = ours.pop()
resolved = {node["id"] for node in meta["resolve"]["nodes"]}
too_new = sorted(
    f'{p["name"]} {p["version"]} needs {p["rust_version"]}'
    for p in meta["packages"]
    if p["id"] in resolved and p["rust_version"] and version(p["rust_version"]) > version(msrv)
)
if too_new:
    sys.exit(f"msrv: rust-version is {msrv}, but:\n  " + "\n  ".join(too_new))
print(f"msrv: all {len(resolved)} resolved packages build on Rust {msrv} or older (declared)")
