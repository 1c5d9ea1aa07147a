#!/usr/bin/env python3
"""MSRV check that works with the machine's single toolchain.

Every workspace package declares a rust-version (most take the workspace's; a crate whose
framework needs a newer Rust, such as rxscale-webhooks-salvo for salvo 1, declares its own, and
so do the packages that depend on it). Every package in a member's dependency graph (normal,
build and dev dependencies, other members included) must declare a rust-version no newer than
that member's own. Together with resolver 3 (which prefers such versions), this is what `cargo
+<msrv> check -p <member>` would catch first; that command remains the real check where the
older toolchain is installed (`rustup toolchain install <msrv>`).
"""
import json
import subprocess
import sys


def version(text):
    parts = [int(part) for part in text.split(".")[:3]]
    return tuple(parts + [0] * (3 - len(parts)))


meta = json.loads(
    subprocess.run(
        ["cargo", "metadata", "--format-version", "1", "--all-features"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
)
packages = {p["id"]: p for p in meta["packages"]}
members = set(meta["workspace_members"])
nodes = {node["id"]: node for node in meta["resolve"]["nodes"]}


def dependencies(id, with_dev):
    """What building `id` needs; its dev-dependencies only for the member being checked."""
    return [
        dep["pkg"]
        for dep in nodes[id]["deps"]
        if with_dev or any(kind["kind"] != "dev" for kind in dep["dep_kinds"])
    ]


problems = []
for member in sorted(members, key=lambda id: packages[id]["name"]):
    own = packages[member]["rust_version"]
    if not own:
        problems.append(f'{packages[member]["name"]} declares no rust-version')
        continue
    seen, todo = set(), dependencies(member, with_dev=True)
    while todo:
        id = todo.pop()
        if id in seen:
            continue
        seen.add(id)
        needs = packages[id]["rust_version"]
        if needs and version(needs) > version(own):
            problems.append(
                f'{packages[member]["name"]} (rust-version {own}) depends on '
                f'{packages[id]["name"]} {packages[id]["version"]}, which needs {needs}'
            )
        todo.extend(dependencies(id, with_dev=False))
if problems:
    sys.exit("msrv:\n  " + "\n  ".join(sorted(set(problems))))
declared = sorted({packages[m]["rust_version"] for m in members})
print(f"msrv: every member's dependency graph builds on the member's own rust-version ({', '.join(declared)})")
