#!/usr/bin/env bash
# Where the primary's CPU time goes besides the interpreter, for ftbench binaries run alternately:
# the share of the primary thread's samples outside `Machine.execute` in a replicated run of
# `compute`. Unlike the FT ratio it does not move with the two cores' speeds, so a per-slice cost
# of a fraction of a percent shows (docs/LOGCHANNEL.md, "Publishing without a fence").
#
#   scripts/primary-overhead.sh ROUNDS LABEL=BINARY [LABEL=BINARY ...] > table.md
#
# Each round runs, for every label in turn, `BINARY run --workload compute --ft on --profile lan
# --duration 2 --repeat 1` under `perf record -F 9999 -e cpu-clock -g`, and once `--ft off` with
# the first binary (what the same slices cost without a backup). Prints a Markdown table: per
# run, the primary's samples and the % in `execute`, elsewhere in user space, and in the kernel
# (the throttle's sleeps show there); then the median per label. The cache-line floor
# (`calibrate`) is printed before and after: far placements (300+ ns) cost more per slice.
set -euo pipefail
cd "$(dirname "$0")/.."
[ $# -ge 2 ] || { echo "usage: $0 ROUNDS LABEL=BINARY [LABEL=BINARY ...]" >&2; exit 2; }
rounds=$1; shift
command -v perf >/dev/null || { echo "primary-overhead.sh: perf is not installed (Debian: apt-get install linux-perf)" >&2; exit 77; }
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
first=${1#*=}
floor() { "$first" calibrate 2>/dev/null | awk '/^floor/ {print $5, $6, "ns"}'; }
# The primary's thread is named primary-vcpu0; a sample counts as `execute` by its leaf frame.
share() {
  perf script -i "$1" -F comm,ip,sym 2>/dev/null | awk 'BEGIN { RS = "" }
    { split($0, l, "\n"); if (l[1] !~ /primary-vcpu/) next; n++; split(l[2], f, " ")
      if (l[2] ~ /MachineC7execute/) e++; else if (f[1] ~ /^ffffffff/) k++; else u++ }
    END { if (n == 0) { print "0 - - -"; exit } printf "%d %.2f %.2f %.2f\n", n, 100 * e / n, 100 * u / n, 100 * k / n }'
}
echo "cache-line floor before: $(floor)"
echo
echo "| round | label | FT | primary samples | execute % | other user % | kernel % |"
echo "| ---: | --- | --- | ---: | ---: | ---: | ---: |"
for round in $(seq 1 "$rounds"); do
  runs=("$@" "off=$first")
  for spec in "${runs[@]}"; do
    label=${spec%%=*} bin=${spec#*=} ft=on
    [ "$label" = off ] && ft=off
    perf record -q -F 9999 -e cpu-clock -g -o "$work/p.data" -- \
      "$bin" run --workload compute --ft "$ft" --profile lan --duration 2 --warmup 0.5 --repeat 1 \
      --output "$work/results" --name overhead >/dev/null 2>&1 || { echo "primary-overhead.sh: $bin failed" >&2; exit 1; }
    read -r n e u k < <(share "$work/p.data")
    [ "$label" = off ] && label=${1%%=*}
    echo "| $round | $label | $ft | $n | $e | $u | $k |"
    echo "$label $ft $u" >> "$work/shares"
  done
done
echo
echo "Median % of the primary's samples in user space outside \`execute\`:"
echo
python3 - "$work/shares" <<'PY'
import statistics, sys
runs = {}
for line in open(sys.argv[1]):
    label, ft, share = line.split()
    runs.setdefault(f"{label} (FT {ft})", []).append(float(share))
for key, values in runs.items():
    print(f"- {key}: {statistics.median(values):.2f} (runs: {', '.join(f'{v:.2f}' for v in values)})")
PY
echo
echo "cache-line floor after: $(floor)"
