#!/usr/bin/env bash
# Quick start, part 1: builds ftbench in release mode and runs the main job. For now that is
# the guest VM alone on the built-in CPU benchmarks, with statistics; replicated runs and result
# sets in results/ come with `ftbench run`.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/deps.sh
swift build -c release --product ftbench
for program in fib sieve loop compute; do
  .build/release/ftbench exec "$program" --stats
done
