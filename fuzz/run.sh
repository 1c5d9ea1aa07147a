#!/usr/bin/env bash
# Runs every fuzz target for SECONDS each (default 60) and prints one summary line per target.
# Usage: fuzz/run.sh [SECONDS]   — needs cargo-fuzz (cargo install cargo-fuzz).
# cargo fuzz needs nightly -Z flags; RUSTC_BOOTSTRAP lets the machine's stable toolchain accept
# them, since only one toolchain is available here.
set -euo pipefail
seconds=${1:-60}
cd "$(dirname "$0")"
export RUSTC_BOOTSTRAP=1
command -v cargo-fuzz >/dev/null || { echo "cargo-fuzz is missing: cargo install cargo-fuzz --locked" >&2; exit 1; }
cargo fuzz build -O
status=0
for target in $(cargo fuzz list); do
  mkdir -p "corpus/$target" artifacts/"$target"
  # Fuzz into a scratch copy so the committed seed corpus stays small and reviewable.
  work=$(mktemp -d)
  cp -r "corpus/$target/." "$work/"
  log=$(mktemp)
  if cargo fuzz run -O "$target" "$work" -- -max_total_time="$seconds" -rss_limit_mb=2048 >"$log" 2>&1; then
    result=ok
  else
    result=CRASH
    status=1
    tail -40 "$log"
  fi
  execs=$(grep -Eo 'stat::number_of_executed_units: *[0-9]+' "$log" | grep -Eo '[0-9]+$' || true)
  if [ -z "$execs" ]; then execs=$(grep -Eo '#[0-9]+' "$log" | tail -1 | tr -d '#'); fi
  echo "fuzz: $target ${seconds}s execs=${execs:-?} result=$result"
  rm -rf "$work" "$log"
done
exit $status
