#!/usr/bin/env bash
# Quick start, part 1: builds ftbench in release mode and runs the built-in `quick` suite
# (`ftbench suite quick --dry-run` lists it): kvstore at three offered loads and the CPU-bound
# compute workload, FT off and on over a LAN and a cross-city channel, 6 rounds of each (for
# medians with 95% intervals). Writes a result set to results/quick-<UTC timestamp>/ with its
# charts and report (index.html, whose path it prints), then the interpreter's speed on fib.
# About two and a half minutes of running on a 2-core machine, build excluded. Arguments go to
# `ftbench suite` (e.g. --output DIR).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/deps.sh
swift build -c release --product ftbench
.build/release/ftbench suite quick "$@"
.build/release/ftbench exec fib --stats
