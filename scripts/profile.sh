#!/usr/bin/env bash
# Profiles ftbench by thread role with perf (docs/PROFILING.md).
#
#   scripts/profile.sh                      # kvstore, FT on over lan, 20,000 req/s, 3 s
#   scripts/profile.sh run --workload compute --ft on --profile cross-city --duration 3
#   scripts/profile.sh suite quick
#
# Records `perf record -F 999 -e cpu-clock -g` (this VM has no hardware counters), then prints,
# per role (the primary's threads, the backup's, the client network's code, everything else),
# the share of samples spent waiting (spinning on the clock, the ring or an idle guest) against
# working, and the top symbols demangled with `swift demangle`. Writes profile-<UTC>/ with
# perf.data, folded.txt (one line per stack, `role;frame;frame count`, for flamegraph.pl or
# speedscope) and report.txt (PROFILE_OUT names another folder). Exits 77 with a message where perf may not record (no perf, or
# kernel.perf_event_paranoid too high), so a test can skip.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/deps.sh
if ! command -v perf >/dev/null; then
  if command -v apt-get >/dev/null && [ "$(id -u)" -eq 0 ]; then
    echo "profile.sh: installing linux-perf" >&2
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq linux-perf >/dev/null || true
  fi
fi
if ! command -v perf >/dev/null; then
  echo "profile.sh: perf is not installed (Debian: apt-get install linux-perf); nothing recorded" >&2
  exit 77
fi
out="${PROFILE_OUT:-profile-$(date -u +%Y%m%dT%H%M%SZ)}"
mkdir -p "$out"
if ! perf record -q -e cpu-clock -o "$out/probe.data" -- true >/dev/null 2>&1; then
  echo "profile.sh: perf may not record here (kernel.perf_event_paranoid is $(cat /proc/sys/kernel/perf_event_paranoid 2>/dev/null || echo unknown); as root: sysctl kernel.perf_event_paranoid=1); nothing recorded" >&2
  rm -rf "$out"
  exit 77
fi
rm -f "$out/probe.data"
# FTBENCH_BIN profiles a given binary instead of building the release one (the tests use the
# debug binary beside them: a build would wait on the lock of the build that runs them).
bin="${FTBENCH_BIN:-.build/release/ftbench}"
[ -n "${FTBENCH_BIN:-}" ] || swift build -c release --product ftbench >&2
if [ $# -eq 0 ]; then
  set -- run --workload kvstore --ft on --profile lan --rate 20000 --duration 3 --warmup 0.5 --repeat 1 --no-calibration
fi
echo "profile.sh: perf record -F 999 -e cpu-clock -g -- ftbench $*" >&2
perf record -q -F 999 -e cpu-clock -g -o "$out/perf.data" -- "$bin" "$@" --output "$out/results" >&2

# Folded stacks, outermost frame first, prefixed by the role of the sample's thread. A sample
# waits when one of its four innermost frames is a waiting function: an idle guest, a spin or
# wait loop, a park on a futex, or the backup's next entry not yet due under the channel's delay.
perf script -i "$out/perf.data" -F comm,ip,sym 2>/dev/null | swift demangle --simplified | awk '
  function role(comm) {
    if (comm ~ /^primary/) return "primary"
    if (comm ~ /^backup/) return "backup"
    if (comm ~ /^spare/) return "spare"
    return "other (" comm ")"
  }
  function flush(   i, stack, waiting, client, r) {
    if (n == 0) return
    waiting = 0; client = 0
    for (i = 1; i <= n && i <= 4; i++) if (frames[i] ~ /idle\(|[Ww]ait|(^|[^_])[Ss]pin|pause|[Pp]ark|futex|sleep|sched_yield|LiveLogSource\.next/) waiting = 1
    for (i = 1; i <= n; i++) if (frames[i] ~ /ClientNetwork|KVClient/) client = 1
    r = role(comm)
    if (client && r == "primary") r = "client network (on the primary)"
    if (client && r == "backup") r = "client network (on the backup)"
    stack = r
    for (i = n; i >= 1; i--) stack = stack ";" frames[i]
    print (waiting ? "W" : "R") "\t" r "\t" frames[1] "\t" stack
    n = 0
  }
  /^[^ \t]/ { flush(); comm = $1; next }
  /^[ \t]*$/ { flush(); next }
  { line = $0; sub(/^[ \t]*[0-9a-f]+ /, "", line); sub(/ \([^()]*\)$/, "", line); sub(/\+0x[0-9a-f]+$/, "", line); frames[++n] = line }
  END { flush() }
' > "$out/samples.tsv"
cut -f4 "$out/samples.tsv" | sort | uniq -c | awk '{ c = $1; $1 = ""; sub(/^ /, ""); print $0 " " c }' > "$out/folded.txt"

{
  total=$(wc -l < "$out/samples.tsv")
  echo "ftbench profile: $total samples at 999 Hz (cpu-clock), $(date -u +%Y-%m-%dT%H:%M:%SZ)"
  echo "command: ftbench $*"
  echo
  cut -f2 "$out/samples.tsv" | sort | uniq -c | sort -rn | while read -r count role; do
    waiting=$(awk -F'\t' -v r="$role" '$2 == r && $1 == "W"' "$out/samples.tsv" | wc -l)
    echo "== $role: $count samples ($((100 * count / total))% of all), waiting $((100 * waiting / count))%, working $((100 - 100 * waiting / count))%"
    for kind in R W; do
      [ "$kind" = R ] && label="working" || label="waiting"
      awk -F'\t' -v r="$role" -v k="$kind" '$2 == r && $1 == k { print $3 }' "$out/samples.tsv" | sort | uniq -c | sort -rn | awk 'NR <= 8' |
        awk -v label="$label" -v total="$count" '{ n = $1; $1 = ""; sub(/^ /, ""); printf "   %-8s %5.1f%%  %s\n", label, 100 * n / total, $0 }'
    done
    echo
  done
  echo "folded stacks: $out/folded.txt (flamegraph.pl $out/folded.txt > flame.svg)"
} | tee "$out/report.txt"
rm -f "$out/samples.tsv"
