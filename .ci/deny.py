#!/usr/bin/env python3
"""The licences, wildcard and sources gates of deny.toml, checked from `cargo metadata`.

CI runs on a fresh machine where building cargo-deny from source costs minutes, and the one
check it adds beyond these (advisories) needs the RustSec database, which that network cannot
fetch. So CI reads the same deny.toml and checks the same rules here:

- licences: every package outside the workspace has an SPDX `license` expression that the
  `[licenses] allow` list satisfies (`OR` needs one side, `AND` both, `WITH` exceptions are
  matched whole, as cargo-deny lists them);
- bans: no workspace member depends on a registry crate with a `*` version requirement
  (`wildcards = "deny"`, path dependencies allowed);
- sources: every package comes from the workspace or from an `allow-registry` registry; git
  sources are refused.

`cargo deny check licenses bans sources` is the same gate where cargo-deny is installed.
"""
import json
import re
import subprocess
import sys
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
config = tomllib.loads((ROOT / "deny.toml").read_text())
allowed = set(config["licenses"]["allow"])
registries = {
    "registry+" + url for url in config["sources"]["allow-registry"]
}

meta = json.loads(
    subprocess.run(
        ["cargo", "metadata", "--format-version", "1", "--all-features", "--locked"],
        cwd=ROOT,
        check=True,
        capture_output=True,
        text=True,
    ).stdout
)
members = set(meta["workspace_members"])
resolved = {node["id"] for node in meta["resolve"]["nodes"]}
packages = [p for p in meta["packages"] if p["id"] in resolved]


def tokens(expression):
    return re.findall(r"\(|\)|[^\s()]+", expression.replace("/", " OR "))


def satisfied(expression):
    """Evaluates an SPDX expression against the allow list; raises ValueError if malformed."""
    stream = tokens(expression)
    position = 0

    def peek():
        return stream[position] if position < len(stream) else None

    def take():
        nonlocal position
        token = peek()
        if token is None:
            raise ValueError("unexpected end")
        position += 1
        return token

    def primary():
        token = take()
        if token == "(":
            value = disjunction()
            if take() != ")":
                raise ValueError("unbalanced parenthesis")
            return value
        if token in (")", "AND", "OR", "WITH"):
            raise ValueError(f"unexpected {token}")
        if peek() == "WITH":
            take()
            return f"{token} WITH {take()}" in allowed
        return token in allowed

    def conjunction():
        value = primary()
        while peek() == "AND":
            take()
            value = primary() and value
        return value

    def disjunction():
        value = conjunction()
        while peek() == "OR":
            take()
            value = conjunction() or value
        return value

    value = disjunction()
    if peek() is not None:
        raise ValueError(f"trailing {peek()}")
    return value


problems = []
for package in packages:
    name = f'{package["name"]} {package["version"]}'
    source = package["source"]
    if package["id"] in members:
        continue
    if source is None:
        continue  # a path dependency outside the members (none today); licences are ours
    if source not in registries:
        problems.append(f"sources: {name} comes from {source}, not an allowed registry")
    licence = package["license"]
    if not licence:
        problems.append(f"licenses: {name} declares no SPDX licence expression")
        continue
    try:
        if not satisfied(licence):
            problems.append(f"licenses: {name} is {licence!r}, not satisfied by deny.toml's allow list")
    except ValueError as err:
        problems.append(f"licenses: {name} has an unreadable expression {licence!r}: {err}")

for package in meta["packages"]:
    if package["id"] not in members:
        continue
    for dependency in package["dependencies"]:
        if dependency.get("path") is None and dependency["req"].strip() == "*":
            problems.append(f'bans: {package["name"]} depends on {dependency["name"]} = "*"')

if problems:
    sys.exit("deny: " + "\n  ".join(["deny.toml's gates fail:"] + problems))
print(
    f"deny: {len(packages) - len(members)} registry packages: licences allowed, sources "
    f"allowed, no wildcard requirements"
)
