#!/usr/bin/env bash
# Quick start, part 1: builds ftbench in release mode and runs the default suite, writing a
# result set to results/default-<UTC timestamp>/ (runs.csv, latency.csv, summary.csv,
# meta.json): kvstore at two offered loads and the CPU-bound compute workload, FT off and on
# over a LAN and a cross-city channel, 6 rounds of each (for medians with 95% intervals); then
# the interpreter's speed on fib. About two minutes of running on a 2-core machine.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/deps.sh
swift build -c release --product ftbench
.build/release/ftbench run --name default --workload kvstore,compute --profile lan,cross-city \
  --rate 10000,40000 --duration 1.5 --warmup 0.3 --repeat 6 "$@"
.build/release/ftbench exec fib --stats
