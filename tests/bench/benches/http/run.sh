#!/usr/bin/env bash
# HTTP benchmarks of rxscale-webhooks: axum, actix-web and Rocket receivers (bare, inline yardstick,
# our layer/middleware, our extractor) under wrk, on 127.0.0.1 only. See docs/benchmarks.md.
#
#   tests/bench/benches/http/run.sh              # full run, about 6 minutes on 2 cores
#   tests/bench/benches/http/run.sh --quick      # smoke run, 2 s per cell, about 1.5 minutes
#   tests/bench/benches/http/run.sh --callgrind  # instructions per delivery, about 3 minutes
#
# Any other flag goes to bench.py (`--help` lists them). Results are printed as Markdown and
# written to target/http-bench/.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/../../../.." && pwd)"
cd "$root"

need() { # need COMMAND PACKAGE: installs PACKAGE from the distribution when COMMAND is missing
    command -v "$1" >/dev/null && return
    echo "$1 not found; installing $2 from the distribution's packages" >&2
    if command -v apt-get >/dev/null; then
        sudo_=""
        [ "$(id -u)" -ne 0 ] && sudo_="sudo"
        $sudo_ apt-get update -qq
        $sudo_ apt-get install -y -qq "$2"
    else
        echo "no apt-get here: install $2 and rerun" >&2
        exit 1
    fi
}
case " $* " in
    *" --callgrind "*) need valgrind valgrind ;;
    *) need wrk wrk ;;
esac
command -v python3 >/dev/null || { echo "python3 is required" >&2; exit 1; }

# The bench profile is release with debug info, so `perf` can name what it samples.
cargo build --profile bench -p rxscale-webhooks-bench --bin bench_server
server="${CARGO_TARGET_DIR:-$root/target}/release/bench_server"

export BENCH_COMMAND="tests/bench/benches/http/run.sh${*:+ $*}"
exec python3 "$here/bench.py" --server "$server" --out "${CARGO_TARGET_DIR:-$root/target}/http-bench" "$@"
