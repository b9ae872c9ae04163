#!/usr/bin/env bash
# ftbench binaries run alternately on one workload, so that the host's drift (core speeds, the two
# vCPUs' placement, other tenants) falls on all of them alike (docs/REPLICATION.md, "Stretched
# slices").
#
#   scripts/ab.sh compute ALTERNATIONS LABEL=BINARY [LABEL=BINARY ...] > table.md
#   scripts/ab.sh kvstore ALTERNATIONS LABEL=BINARY [LABEL=BINARY ...] > table.md
#
# compute: each alternation runs, for every label in turn, `BINARY run --workload compute
# --profile lan,cross-city --duration 3 --warmup 0.5 --repeat 3` (the reference set's command, 3
# rounds); the table gives per label and profile the median ft_ratio_per_core with its range, the
# median ft_ratio, the primary's stall (median, max), the lag p99 (median, max) and log entries per
# second, then the FT-off MIPS.
# kvstore: `BINARY run --workload kvstore --rate 20000,40000 --profile lan --ft on --repeat 2`;
# the table gives per label and rate the median p99 latency with its range and the rounds the
# run marked noisy.
# The cache-line floor (`calibrate`) is printed before and after.
set -euo pipefail
cd "$(dirname "$0")/.."
[ $# -ge 3 ] || { echo "usage: $0 compute|kvstore ALTERNATIONS LABEL=BINARY [LABEL=BINARY ...]" >&2; exit 2; }
workload=$1 alternations=$2; shift 2
case "$workload" in
  compute) args=(--workload compute --profile lan,cross-city --duration 3 --warmup 0.5 --repeat 3) ;;
  kvstore) args=(--workload kvstore --rate 20000,40000 --profile lan --ft on --repeat 2) ;;
  *) echo "ab.sh: unknown workload '$workload' (compute, kvstore)" >&2; exit 2 ;;
esac
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
first=${1#*=}
floor() { "$first" calibrate 2>/dev/null | awk '/^floor/ {print $5, $6, "ns"}'; }
echo "cache-line floor before: $(floor)"
echo
for alternation in $(seq 1 "$alternations"); do
  for spec in "$@"; do
    label=${spec%%=*} bin=${spec#*=}
    "$bin" run --output "$work/$label" --name "$workload-$alternation" "${args[@]}" >/dev/null 2>&1 \
      || { echo "ab.sh: $bin failed" >&2; exit 1; }
  done
done
python3 - "$workload" "$work" "$@" <<'PY'
import csv, glob, statistics, sys
workload, work, labels = sys.argv[1], sys.argv[2], [spec.split("=", 1)[0] for spec in sys.argv[3:]]
runs = {label: [row for path in sorted(glob.glob(f"{work}/{label}/*/runs.csv")) for row in csv.DictReader(open(path))] for label in labels}
if workload == "kvstore":
    print("| label | offered/s | rounds | p99 µs, median [min, max] | noisy rounds |")
    print("| --- | ---: | ---: | ---: | ---: |")
    for label, rows in runs.items():
        for rate in ["20000", "40000"]:
            at = [r for r in rows if r["offered_rps"] == rate]
            p99 = sorted(float(r["p99_us"]) for r in at)
            print(f"| {label} | {int(rate):,} | {len(at)} | {statistics.median(p99):.1f} [{p99[0]:.1f}, {p99[-1]:.1f}] | {sum(r['noisy'] == 'yes' for r in at)} |")
    sys.exit(0)
print("| label | profile | rounds | per core, median [min, max] | ft_ratio | stall % median (max) | lag p99 ms median (max) | entries/s |")
print("| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: |")
off = {}
for label, rows in runs.items():
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
