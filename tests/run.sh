#!/usr/bin/env bash
# The README's test command: provisions every program the test suite needs, then runs the whole
# suite. Nothing else has to be set up by hand.
#
#   tests/run.sh [ARGS...]     provision, then
#                              `cargo test --workspace --all-features --no-fail-fast ARGS...`
#   tests/run.sh --provision   provision only (.ci/run does this before its other gates)
#   tests/run.sh --dry-run     report what is missing and the install command; change nothing
#
# The tests need python3 and node (independent signers), redis-server and redis-cli (Redis and
# Redis Cluster tests), cargo-lambda (the Lambda runtime emulator of tests/lambda_emulator.rs,
# installed from PyPI with pip, pinned to $CARGO_LAMBDA_VERSION), and PostgreSQL's server binaries, `initdb` and `postgres` (the sqlx
# store's tests start their own server in a temporary directory). Debian keeps the latter off
# PATH, so this script finds them ($PG_BIN, then `pg_config --bindir`, then the newest
# /usr/lib/postgresql/*/bin) and exports PG_BIN for the tests.
#
# What is missing is installed with apt-get, as root or through passwordless sudo, before
# anything compiles; any service the packages start is stopped again, so only the servers the
# tests start listen. Where nothing can be installed, it stops at once with one line naming the
# packages. When everything is present it installs nothing: a second run costs what
# `cargo test` costs.
set -euo pipefail
cd "$(dirname "$0")/.."

mode=test
case "${1:-}" in
  --provision) mode=provision; shift ;;
  --dry-run) mode=dry-run; shift ;;
  -h|--help) sed -n '2,20p' "$0"; exit 0 ;;
esac

say() { echo "tests/run.sh: $*" >&2; }

have() { command -v "$1" >/dev/null 2>&1; }

# The directory holding PostgreSQL's `initdb` and `postgres`, or nothing.
pg_bin_dir() {
  local dir
  if [ -n "${PG_BIN:-}" ]; then
    [ -x "$PG_BIN/initdb" ] && [ -x "$PG_BIN/postgres" ] && echo "$PG_BIN"
    return 0
  fi
  if have pg_config; then
    dir=$(pg_config --bindir 2>/dev/null || true)
    if [ -n "$dir" ] && [ -x "$dir/initdb" ] && [ -x "$dir/postgres" ]; then
      echo "$dir"
      return 0
    fi
  fi
  for dir in $(printf '%s\n' /usr/lib/postgresql/*/bin | sort -t/ -k5,5 -n -r); do
    if [ -x "$dir/initdb" ] && [ -x "$dir/postgres" ]; then
      echo "$dir"
      return 0
    fi
  done
  if have initdb && have postgres; then
    dirname "$(readlink -f "$(command -v initdb)")"
  fi
}

# Fills `missing` (what to look for) and `packages` (the Debian packages that provide it).
survey() {
  missing=()
  packages=()
  have python3 || { missing+=(python3); packages+=(python3); }
  have node || { missing+=(node); packages+=(nodejs); }
  have redis-server || { missing+=(redis-server); packages+=(redis-server); }
  have redis-cli || { missing+=(redis-cli); packages+=(redis-tools); }
  pg_bin=$(pg_bin_dir || true)
  [ -n "$pg_bin" ] || { missing+=("initdb (PostgreSQL)"); packages+=(postgresql); }
  # cargo-lambda comes from PyPI, through pip: apt only provides pip itself.
  if ! have cargo-lambda && ! python3 -m pip --version >/dev/null 2>&1; then
    missing+=(pip); packages+=(python3-pip)
  fi
}

# The Lambda runtime emulator (tests/lambda_emulator.rs): cargo-lambda from PyPI.
CARGO_LAMBDA_VERSION=1.9.2
pip_install_line="python3 -m pip install cargo-lambda==$CARGO_LAMBDA_VERSION"
provision_cargo_lambda() {
  have cargo-lambda && return 0
  if [ "$mode" = dry-run ]; then
    say "missing cargo-lambda; would run: $pip_install_line"
    return 0
  fi
  say "missing cargo-lambda: $pip_install_line"
  # A Debian python3 refuses system-wide pip installs (PEP 668) unless told otherwise.
  $pip_install_line -q || $pip_install_line -q --break-system-packages || {
    say "installing cargo-lambda failed: run \`$pip_install_line\` and rerun"
    exit 1
  }
  hash -r
  have cargo-lambda || {
    say "pip installed cargo-lambda off PATH: add pip's scripts directory (python3 -m site --user-base)/bin to PATH and rerun"
    exit 1
  }
}

have cargo || { say "cargo is missing: install Rust from https://rustup.rs and rerun"; exit 1; }
if [ -n "${PG_BIN:-}" ] && { [ ! -x "$PG_BIN/initdb" ] || [ ! -x "$PG_BIN/postgres" ]; }; then
  say "PG_BIN=$PG_BIN has no initdb/postgres: point it at PostgreSQL's bin directory or unset it"
  exit 1
fi

survey
if [ "${#missing[@]}" -gt 0 ]; then
  list=$(IFS=,; echo "${missing[*]}" | sed 's/,/, /g')
  install_line="apt-get install -y ${packages[*]}"
  if [ "$mode" = dry-run ]; then
    say "missing: $list; would run: apt-get update && $install_line"
    exit 0
  fi
  sudo_=()
  if [ "$(id -u)" != 0 ]; then
    if have sudo && sudo -n true 2>/dev/null; then
      sudo_=(sudo)
    else
      say "missing $list and not root (no passwordless sudo): run \`sudo $install_line\` and rerun"
      exit 1
    fi
  fi
  have apt-get || { say "missing $list and no apt-get here: install ${packages[*]} (Debian names) and rerun"; exit 1; }

  say "missing $list: installing ${packages[*]} with apt-get"
  "${sudo_[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update -qq
  "${sudo_[@]}" env DEBIAN_FRONTEND=noninteractive \
    apt-get install -y -qq --no-install-recommends "${packages[@]}" >/dev/null
  # The packages may start their services (Redis on 6379, a PostgreSQL cluster on 5432). The
  # tests start their own servers on ephemeral ports; stop these so nothing else listens.
  for package in "${packages[@]}"; do
    case "$package" in
      redis-server)
        "${sudo_[@]}" service redis-server stop >/dev/null 2>&1 || true ;;
      postgresql)
        if have pg_lsclusters; then
          pg_lsclusters --no-header 2>/dev/null | while read -r version cluster _ status _; do
            if [ "$status" = online ]; then
              "${sudo_[@]}" pg_ctlcluster "$version" "$cluster" stop >/dev/null 2>&1 || true
            fi
          done
        fi
        "${sudo_[@]}" service postgresql stop >/dev/null 2>&1 || true ;;
    esac
  done
  survey
  if [ "${#missing[@]}" -gt 0 ]; then
    say "still missing after apt-get: ${missing[*]}; install ${packages[*]} by hand and rerun"
    exit 1
  fi
  say "installed; later runs skip this step"
elif [ "$mode" = dry-run ]; then
  say "no apt package to install (PG_BIN=$pg_bin)"
fi

provision_cargo_lambda
[ "$mode" = dry-run ] && exit 0

export PG_BIN="$pg_bin"
[ "$mode" = provision ] && exit 0
# --no-fail-fast: a failing test binary does not hide the others' results; the run still fails.
exec cargo test --workspace --all-features --no-fail-fast "$@"
