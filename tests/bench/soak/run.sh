#!/usr/bin/env bash
# Soak test of the replay guard under load and faults (issue 7; results in docs/security.md,
# "Soak"). Two axum and two actix-web receivers share a real redis-server; the driver sends a
# bounded mix of genuine, duplicate, forged, oversized, slow and stale deliveries on 127.0.0.1,
# kills Redis and a receiver in the middle, and asserts exactly-once handling at the end.
#
#   tests/bench/soak/run.sh [--quick] [--duration SECS] [--release | --debug] [--cluster]
#                           [driver options...]
#
#   --quick          60 s of traffic (CI); debug build unless --release
#   --duration SECS  traffic phase (default 600); release build unless --debug
#   --cluster        the receivers share a real Redis Cluster (3 primaries, 1 replica each)
#                    instead of one redis-server; the store's fault is a primary SIGKILLed
#   driver options   --workers N (16), --think-ms MS (40), --handler-sleep-ms MS (5),
#                    --seed N, --log-dir DIR, --strict (the at-least-once windows fail too)
#
# Exit code: the driver's (0 passed, 1 a violation, 2 could not run).
set -euo pipefail
cd "$(dirname "$0")/../../.."

quick=0
duration=600
profile=""
cluster=0
driver_args=()
while [ $# -gt 0 ]; do
  case "$1" in
    --quick) quick=1; duration=60; shift ;;
    --duration) duration=${2:?--duration needs SECS}; shift 2 ;;
    --release) profile=release; shift ;;
    --debug) profile=debug; shift ;;
    --cluster) cluster=1; driver_args+=("$1"); shift ;;
    -h|--help) sed -n '2,17p' "$0"; exit 0 ;;
    *) driver_args+=("$1"); shift ;;
  esac
done
case "$duration" in
  ''|*[!0-9]*) echo "soak: --duration must be a number of seconds, got '$duration'" >&2; exit 2 ;;
esac
if [ -z "$profile" ]; then
  if [ "$quick" = 1 ]; then profile=debug; else profile=release; fi
fi

# The cluster is joined with redis-cli (package redis-tools).
tools=(redis-server)
[ "$cluster" = 1 ] && tools+=(redis-cli)
for tool in "${tools[@]}"; do
  command -v "$tool" >/dev/null 2>&1 && continue
  echo "soak: $tool not found; installing redis-server and redis-tools with apt-get" >&2
  if command -v apt-get >/dev/null 2>&1 && [ "$(id -u)" = 0 ]; then
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq redis-server redis-tools
  elif command -v apt-get >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
    sudo apt-get update -qq
    sudo DEBIAN_FRONTEND=noninteractive apt-get install -y -qq redis-server redis-tools
  fi
  command -v "$tool" >/dev/null 2>&1 || {
    echo "soak: $tool is required and could not be installed: apt-get install -y redis-server redis-tools" >&2
    exit 2
  }
done

# The driver's own unit tests (its report and traffic logic). `cargo test --workspace` does not
# build this package, so they run here.
echo "soak: cargo test -p rxscale-webhooks-bench --bin soak"
cargo test -p rxscale-webhooks-bench --bin soak

build=(cargo build -p rxscale-webhooks-bench --bins)
[ "$profile" = release ] && build+=(--release)
echo "soak: ${build[*]}"
"${build[@]}"

target_dir=${CARGO_TARGET_DIR:-$(cargo metadata --format-version 1 --no-deps \
  | sed -n 's/.*"target_directory":"\([^"]*\)".*/\1/p')}
driver="$target_dir/$profile/soak"
[ -x "$driver" ] || { echo "soak: $driver was not built" >&2; exit 2; }

# The driver bounds itself (traffic, then at most 60 s of retries); this is the backstop.
set +e
timeout -k 10 $((duration + 300)) "$driver" --duration "$duration" "${driver_args[@]}"
code=$?
set -e
[ "$code" = 124 ] && echo "soak: the driver overran its time bound and was stopped" >&2
exit "$code"
