#!/usr/bin/env bash
# The CPU-bound FT ratio of ftbench binaries run alternately, so that the host's drift (core
# speeds, the two vCPUs' placement) falls on all of them alike (docs/REPLICATION.md, "Stretched
# slices").
#
#   scripts/compute-ab.sh ALTERNATIONS LABEL=BINARY [LABEL=BINARY ...] > table.md
#
# Each alternation runs, for every label in turn, `BINARY run --workload compute --profile
# lan,cross-city --duration 3 --warmup 0.5 --repeat 3` (the reference set's command, 3 rounds).
# Prints a Markdown table per label and profile: rounds, median ft_ratio_per_core with its range,
# median ft_ratio, the primary's stall (median, max), the lag p99 (median, max), log entries per
# second, and the FT-off MIPS; the cache-line floor (`calibrate`) before and after.
set -euo pipefail
cd "$(dirname "$0")/.."
[ $# -ge 2 ] || { echo "usage: $0 ALTERNATIONS LABEL=BINARY [LABEL=BINARY ...]" >&2; exit 2; }
alternations=$1; shift
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
first=${1#*=}
floor() { "$first" calibrate 2>/dev/null | awk '/^floor/ {print $5, $6, "ns"}'; }
echo "cache-line floor before: $(floor)"
echo
for alternation in $(seq 1 "$alternations"); do
  for spec in "$@"; do
    label=${spec%%=*} bin=${spec#*=}
    "$bin" run --output "$work/$label" --name "compute-$alternation" --workload compute --profile lan,cross-city \
      --duration 3 --warmup 0.5 --repeat 3 >/dev/null 2>&1 || { echo "compute-ab.sh: $bin failed" >&2; exit 1; }
  done
done
python3 - "$work" "$@" <<'PY'
import csv, glob, statistics, sys
work, labels = sys.argv[1], [spec.split("=", 1)[0] for spec in sys.argv[2:]]
print("| label | profile | rounds | per core, median [min, max] | ft_ratio | stall % median (max) | lag p99 ms median (max) | entries/s |")
print("| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: |")
off = {}
for label in labels:
    rows = [row for path in sorted(glob.glob(f"{work}/{label}/*/runs.csv")) for row in csv.DictReader(open(path))]
    off[label] = statistics.median(float(r["guest_mips"]) for r in rows if r["ft"] == "off")
    for profile in ["lan", "cross-city"]:
        on = [r for r in rows if r["ft"] == "on" and r["channel_profile"] == profile]
        per_core = sorted(float(r["ft_ratio_per_core"]) for r in on)
        stall = [float(r["primary_stall_pct"]) for r in on]
        lag = [float(r["backup_lag_p99_us"]) / 1000 for r in on]
        print(f"| {label} | {profile} | {len(on)} | {statistics.median(per_core):.3f} [{per_core[0]:.3f}, {per_core[-1]:.3f}]"
              f" | {statistics.median(float(r['ft_ratio']) for r in on):.3f}"
              f" | {statistics.median(stall):.2f} ({max(stall):.2f}) | {statistics.median(lag):.2f} ({max(lag):.2f})"
              f" | {statistics.median(float(r['log_entries_per_s']) for r in on):,.0f} |")
print()
print("FT-off MIPS, median: " + ", ".join(f"{label} {mips:.1f}" for label, mips in off.items()))
PY
echo
echo "cache-line floor after: $(floor)"
