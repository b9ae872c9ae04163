#!/usr/bin/env python3
"""FT-on rows of a result set's runs.csv grouped by core_ratio (the backup's core speed over the
primary's, measured in the same run): per group, the number of rows and the medians of the
primary's stall, guest MIPS, log entries/s, FT ratio and backup lag p99. On this shared 2-vCPU
host the two vCPUs are not always equally fast, and a backup on the slower one falls behind for
that reason alone (docs/LOGCHANNEL.md, "Per-side core speed").

Usage: scripts/by-core-ratio.py SET [SET...]
"""
import csv
import statistics
import sys

GROUPS = [("below 0.95", 0.0, 0.95), ("0.95 to 1.05", 0.95, 1.05), ("above 1.05", 1.05, float("inf"))]
COLUMNS = ["primary_stall_pct", "guest_mips", "log_entries_per_s", "ft_ratio", "backup_lag_p99_us"]


def median(rows, column):
    values = [float(r[column]) for r in rows if r[column] not in ("", "-")]
    return f"{statistics.median(values):.4g}" if values else "-"


def main(paths):
    if not paths:
        sys.exit("usage: scripts/by-core-ratio.py SET [SET...]")
    for path in paths:
        try:
            with open(f"{path}/runs.csv", newline="") as f:
                rows = list(csv.DictReader(f))
        except OSError as error:
            sys.exit(f"by-core-ratio.py: {path}/runs.csv: {error.strerror}")
        if rows and "core_ratio" not in rows[0]:
            sys.exit(f"by-core-ratio.py: {path}/runs.csv: no core_ratio column (a set of schema 7 or older)")
        measured = [r for r in rows if r["ft"] == "on" and r["status"] == "ok" and r["core_ratio"]]
        print(f"{path}: {len(measured)} FT-on rows with a core ratio")
        print("| workload | profile | core_ratio | rows | " + " | ".join(COLUMNS) + " |")
        print("| --- | --- | --- | ---: | " + " | ".join("---:" for _ in COLUMNS) + " |")
        for key in sorted({(r["workload"], r["channel_profile"]) for r in measured}):
            for name, low, high in GROUPS:
                group = [r for r in measured if (r["workload"], r["channel_profile"]) == key and low <= float(r["core_ratio"]) < high]
                if group:
                    print(f"| {key[0]} | {key[1]} | {name} | {len(group)} | " + " | ".join(median(group, c) for c in COLUMNS) + " |")


if __name__ == "__main__":
    main(sys.argv[1:])
