#!/usr/bin/env bash
# What the `metrics` feature costs per delivery, in instructions (valgrind --tool=callgrind), as
# a share of `verify` on a 2 KiB order. Instruction counts do not depend on what else the machine
# runs. Prints a Markdown table for docs/benchmarks.md.
#
#   tests/bench/benches/metrics_cost.sh
#
# Each figure is the difference of a 12,000- and a 2,000-iteration run, divided by 10,000, so that
# start-up cancels out (installing the Prometheus recorder calibrates a clock for a varying number
# of instructions: the long runs keep that under ±100 per delivery).
set -euo pipefail
cd "$(dirname "$0")/../../.."
command -v valgrind >/dev/null || { echo "valgrind is required: apt-get install -y valgrind" >&2; exit 1; }

build() { # $1: extra cargo args; prints the bench executable
  cargo build --release -p rxscale-webhooks --bench metrics_cost $1 --message-format=json 2>/dev/null |
    sed -n 's/.*"executable":"\([^"]*metrics_cost[^"]*\)".*/\1/p' | tail -1
}
OFF=$(build "")
ON=$(build "--features metrics")

instructions() { # $1 executable, $2 mode, $3 recorder, $4 iterations
  METRICS_COST_MODE=$2 METRICS_COST_RECORDER=$3 METRICS_COST_ITERATIONS=$4 \
    valgrind --tool=callgrind --callgrind-out-file=/dev/null "$1" 2>&1 |
    sed -n 's/.*Collected : \([0-9]*\).*/\1/p'
}
per_iteration() { # $1 executable, $2 mode, $3 recorder
  local small large
  small=$(instructions "$1" "$2" "$3" 2000)
  large=$(instructions "$1" "$2" "$3" 12000)
  echo $(( (large - small) / 10000 ))
}

VERIFY=$(per_iteration "$OFF" verify none)
D_OFF=$(per_iteration "$OFF" delivery none)
D_NONE=$(per_iteration "$ON" delivery none)
D_PROM=$(per_iteration "$ON" delivery prometheus)
pct() { awk -v a="$1" -v b="$2" -v v="$VERIFY" 'BEGIN { printf "%+.2f %%", (a - b) * 100 / v }'; }

echo "| per delivery, 2 KiB order | instructions | cost of metrics, share of verify |"
echo "|---|---:|---:|"
echo "| \`verify_at\` (the yardstick) | $VERIFY | |"
echo "| pipeline, feature off | $D_OFF | |"
echo "| pipeline, feature on, no recorder | $D_NONE | $(pct "$D_NONE" "$D_OFF") |"
echo "| pipeline, feature on, Prometheus recorder | $D_PROM | $(pct "$D_PROM" "$D_OFF") |"
