#!/usr/bin/env bash
# Regenerates results/reference/: the result sets that the figures in README.md and docs/ come
# from. Run it on an otherwise idle machine; it takes about 15 minutes.
#   default-*/          the default suite (scripts/bench.sh's command), 6 rounds
#   compute-*/          compute, FT off and on over lan, 12 rounds of 3 s (the CPU-bound FT ratio)
#   benchmarks/*.md     package-benchmark output of the interpreter and logging-channel targets
# Old sets are removed first, so the folder holds one of each.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/deps.sh
swift build -c release --product ftbench
out=results/reference
rm -rf "$out"/default-* "$out"/compute-* "$out"/benchmarks
mkdir -p "$out/benchmarks"
.build/release/ftbench run --output "$out" --name default --workload kvstore,compute \
  --profile lan,cross-city --rate 10000,40000 --duration 1.5 --warmup 0.3 --repeat 6
.build/release/ftbench run --output "$out" --name compute --workload compute --profile lan \
  --duration 3 --warmup 0.5 --repeat 12
for target in GuestVMBenchmarks LogChannelBenchmarks; do
  swift package --allow-writing-to-package-directory benchmark --target "$target" --format markdown --no-progress \
    > "$out/benchmarks/$target.md"
done
