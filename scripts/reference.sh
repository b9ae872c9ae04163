#!/usr/bin/env bash
# Regenerates results/reference/: the result sets that the figures in README.md and docs/ come
# from. Run it on an otherwise idle machine. The groups other than multicore and devices took
# 27 minutes together here (quick through state-transfer 12, benchmarks 6, peers 9); multicore
# and devices run scenarios of 5 to 60 s and can take over three hours (multicore-seeds alone is
# up to 160 scenarios of 60 s).
#   quick-*/            the built-in quick suite (scripts/bench.sh's command), 6 rounds, with
#                       its charts and report: README.md shows its charts
#   failover-*/         the built-in failover suite (5 fault scenarios, 6 rounds), with the
#                       failover timeline charts README.md shows
#   latency-*/          the built-in latency suite (every channel profile), with the round-trip
#                       charts README.md shows
#   batching-*/         the built-in batching suite (8 ACK policies), with the ACK trade-off chart
#   compute-*/          compute, FT off and on over lan and cross-city, 12 rounds of 3 s (the
#                       CPU-bound FT ratio, read against each side's core speed)
#   logpath-*/          nondet (an entry every 5.5 instructions), FT off and on over lan, 20 rounds:
#                       the primary's stall, guest MIPS and log entries/s (docs/LOGCHANNEL.md)
#   lag-*/              every built-in workload, FT off and on over lan with the default lag bound,
#                       3 rounds, no warm-up (most programs end within a second): the backup's
#                       lag p99 and the stall that bounds it (docs/REPLICATION.md, "Flow control")
#   failover-outage-*/  kvstore at 10,000 req/s on lan, a primary crash at a random time in each
#                       of 20 rounds (the client-visible outage, docs/FAILOVER.md)
#   state-transfer-*/   kvstore at 10,000 req/s on lan at 1 Gbit/s, two primary crashes at random
#                       times in each of 20 rounds: repeated failovers, each followed by a state
#                       transfer to the restarted host (pause, transfer time, bytes re-sent)
#   multicore-*/        partitioned, lock-heavy and racy-counter on 2 vCPUs under the one-thread
#                       interleaving modes (roundrobin, timeslice, uni), FT off and on over lan,
#                       6 rounds: what each mode costs
#   multicore-free-*/   the same under free, each side's vCPU threads on CPUs 0-1 (FT on, the two
#                       sides' four threads share the two CPUs: oversubscribed, flagged), 6 rounds:
#                       free's verdicts (racy-counter diverges there by design, so that run exits
#                       non-zero and the script goes on)
#   multicore-recorded-*/  partitioned and lock-heavy on 2 vCPUs, free against recorded with FT off
#                       (the cost of recording alone), vCPU threads on CPUs 0-1, 12 rounds
#   multicore-sync-N-*/ lock-heavy at SYNC_RATE=N (1, 2, 5, 10, 20, 50 per 1,000 instructions),
#                       free against recorded with FT off, 6 rounds: overhead against the rate
#   multicore-seeds-*/  the data-race-free built-ins under timeslice and recorded, FT on over lan,
#                       20 rounds of 20 seeds (--seed-per-round): divergences
#   recorded-devices-*/ kvstore-split (vCPU 0 takes requests by DMA, vCPU 1 serves them on timer
#                       ticks) under recorded, FT off and on over lan, at 1,000, 2,000 and 10,000
#                       req/s, vCPU threads on CPUs 0-1, 6 rounds (FT on oversubscribes: flagged;
#                       a row that does not finish its requests in 30 s fails, and the script goes on)
#   benchmarks/*.md     package-benchmark output of the interpreter, logging-channel and
#                       replication targets
#   pairs.md            ftbench exec PROGRAM --pairs 12 for every benchmark program at a reduced
#                       size: the dynamic instruction pairs the superinstructions were chosen from
#                       (docs/INTERPRETER.md, "Superinstructions"); seconds
#   peers-*/            scripts/peers/run.sh: ftbench beside LuaJIT, Lua 5.4, WasmKit and two C++
#                       rings, and its start-up beside a hello world, 7 interleaved rounds
#                       (summary.md holds the tables README.md and docs/ quote)
# Old sets are removed first, so the folder holds one of each. Arguments name groups to regenerate
# alone (quick failover-suite latency-suite batching-suite compute logpath lag failover state-transfer multicore devices benchmarks pairs peers); none means all.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/deps.sh
swift build -c release --product ftbench
out=results/reference
groups=("$@")
[ ${#groups[@]} -eq 0 ] && groups=(quick failover-suite latency-suite batching-suite compute logpath lag failover state-transfer multicore devices benchmarks pairs peers)
run=.build/release/ftbench
for group in "${groups[@]}"; do
  case "$group" in
  quick)
    rm -rf "$out"/quick-* "$out"/default-*
    $run suite quick --output "$out" ;;
  failover-suite)
    rm -rf "$out"/failover-2*
    $run suite failover --output "$out" ;;
  latency-suite)
    rm -rf "$out"/latency-*
    $run suite latency --output "$out" ;;
  batching-suite)
    rm -rf "$out"/batching-*
    $run suite batching --output "$out" ;;
  compute)
    rm -rf "$out"/compute-2*
    $run run --output "$out" --name compute --workload compute --profile lan,cross-city \
      --duration 3 --warmup 0.5 --repeat 12 ;;
  logpath)
    rm -rf "$out"/logpath-2*
    $run run --output "$out" --name logpath --workload nondet --ft both --profile lan --repeat 20 ;;
  lag)
    rm -rf "$out"/lag-*
    $run run --output "$out" --name lag --workload "$($run list | awk 'NR > 1 { print $1 }' | paste -sd, -)" \
      --ft both --profile lan --repeat 3 --warmup 0 ;;
  failover)
    rm -rf "$out"/failover-outage-*
    $run run --output "$out" --name failover-outage --workload kvstore --ft on --profile lan \
      --rate 10000 --warmup 0.5 --duration 1.5 --repeat 20 --heartbeat 10ms --failure-timeout 50ms \
      --arbiter-latency 1ms --fault 'primary-crash@0.8s..1.6s' ;;
  state-transfer)
    rm -rf "$out"/state-transfer-*
    $run run --output "$out" --name state-transfer --workload kvstore --ft on --profile lan,bw=1gbit \
      --rate 10000 --warmup 0.5 --duration 1.7 --repeat 20 --heartbeat 10ms --failure-timeout 50ms \
      --arbiter-latency 1ms --fault 'primary-crash@0.6s..1.0s' --fault 'primary-crash@1.4s..1.8s' ;;
  multicore)
    rm -rf "$out"/multicore-*
    $run run --output "$out" --name multicore --workload partitioned,lock-heavy,racy-counter --vcpus 2 \
      --interleaving roundrobin,timeslice,uni --ft both --profile lan --duration 5 --warmup 0 --repeat 6
    $run run --output "$out" --name multicore-free --workload partitioned,lock-heavy,racy-counter --vcpus 2 \
      --interleaving free --primary-cpus 0-1 --backup-cpus 0-1 --ft both --profile lan --duration 5 --warmup 0 --repeat 6 || true
    $run run --output "$out" --name multicore-recorded --workload partitioned,lock-heavy --vcpus 2 \
      --interleaving free,recorded --primary-cpus 0-1 --ft off --duration 5 --warmup 0 --repeat 12
    for rate in 1 2 5 10 20 50; do
      $run run --output "$out" --name "multicore-sync-$rate" --workload lock-heavy --define "SYNC_RATE=$rate" --vcpus 2 \
        --interleaving free,recorded --primary-cpus 0-1 --ft off --duration 5 --warmup 0 --repeat 6
    done
    $run run --output "$out" --name multicore-seeds --workload shared-counter,partitioned,lock-heavy,producer-consumer --vcpus 2 \
      --interleaving timeslice,recorded --primary-cpus 0-1 --backup-cpus 0-1 --ft on --profile lan --duration 60 --warmup 0 \
      --repeat 20 --seed-per-round --no-calibration || true ;;
  devices)
    rm -rf "$out"/recorded-devices-*
    $run run --output "$out" --name recorded-devices --workload kvstore-split --define REQUESTS=6000 \
      --interleaving recorded --primary-cpus 0-1 --backup-cpus 0-1 --ft both --profile lan --rate 1000,2000,10000 \
      --duration 30 --warmup 0 --repeat 6 || true ;;
  benchmarks)
    rm -rf "$out/benchmarks"
    mkdir -p "$out/benchmarks"
    for target in GuestVMBenchmarks LogChannelBenchmarks ReplicationBenchmarks; do
      swift package --allow-writing-to-package-directory benchmark --target "$target" --format markdown --no-progress \
        > "$out/benchmarks/$target.md"
    done ;;
  pairs)
    # Reduced sizes: the pair profile single-steps the guest; the pairs' shares are those of the
    # full-size runs, whose loops are the same.
    {
      echo "# Dynamic instruction pairs of the benchmark programs"
      echo
      echo "\`scripts/reference.sh pairs\` at $(git rev-parse --short HEAD): \`ftbench exec PROGRAM --pairs 12\` (counts pairs whose first instruction falls through)."
      for args in "fib --define N=22" "sieve --define N=200000" "loop --define ITERATIONS=200000" \
                  "tak --define X=18 --define Y=12 --define Z=6" "hash-rem --define PASSES=4" "hash-mul --define PASSES=4" \
                  "matmul --define N=40 --define REPEAT=1" "sort --define N=10000"; do
        echo
        echo "## ftbench exec $args --seed 1 --pairs 12"
        echo
        echo '```'
        $run exec $args --seed 1 --pairs 12
        echo '```'
      done
    } > "$out/pairs.md" ;;
  peers)
    rm -rf "$out"/peers-*
    scripts/peers/run.sh --output "$out" --command "scripts/reference.sh peers" ;;
  *) echo "scripts/reference.sh: unknown group '$group' (quick failover-suite latency-suite batching-suite compute logpath failover state-transfer multicore devices benchmarks pairs peers)" >&2; exit 2 ;;
  esac
done
