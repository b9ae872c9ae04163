#!/usr/bin/env python3
"""Runs ftbench beside its peers in interleaved rounds and prints the ratios (scripts/peers/run.sh
builds everything and calls this; see docs/INTERPRETER.md and docs/LOGCHANNEL.md).

Sections:
  interpreter  each program under ftbench (`exec NAME --stats`, guest time: the run alone), LuaJIT
               2.1 -joff, Lua 5.4 (os.clock around the work) and WasmKit 0.4.2 (the call of `run`
               alone); every checksum must equal ftbench's, or the run stops.
  channel      `ftbench calibrate` (floor, raw ring, production path) and the C++ rings (floor,
               cached-index ring, boost::lockfree::spsc_queue), same method, one after the other.
  startup      whole-process wall time of `ftbench exec` of a trivial program and of a hello-world
               binary linked the same way, median of 20 runs each per round.

Every round runs each section's engines back to back, so drift of the host hits them alike. A
figure is the median over rounds with a distribution-free 95% interval (order statistics, as
Statistics.swift in the Harness does). Writes DIR/peers.csv (every measurement) and
DIR/summary.md (the tables) atomically: a folder DIR.partial renamed when complete.
"""
import argparse
import datetime
import math
import os
import platform
import random
import re
import shutil
import subprocess
import sys
import time

PROGRAMS = ["fib", "sieve", "loop", "tak", "hash-rem", "hash-mul", "matmul", "sort"]
HERE = os.path.dirname(os.path.abspath(__file__))


def fail(message):
    print(f"peers: {message}", file=sys.stderr)
    sys.exit(1)


def run(command, timeout=600):
    try:
        result = subprocess.run(command, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        fail(f"{' '.join(command)}: timed out after {timeout} s")
    if result.returncode != 0:
        fail(f"{' '.join(command)}: exit {result.returncode}: {result.stderr.strip()[:300]}")
    return result.stdout


def median_interval(values):
    """Median and the order-statistic interval with coverage >= 95% (the range below n = 6)."""
    v = sorted(values)
    n = len(v)
    median = v[n // 2] if n % 2 else (v[n // 2 - 1] + v[n // 2]) / 2
    def coverage(l):  # P(rank l <= median < rank n+1-l) for B(n, 1/2)
        return 1 - 2 * sum(math.comb(n, k) for k in range(l)) / 2 ** n
    l = 1
    while l + 1 <= n // 2 and coverage(l + 1) >= 0.95:
        l += 1
    return median, v[l - 1], v[n - l]


def interval_text(values, digits):
    m, lo, hi = median_interval(values)
    return f"{m:.{digits}f} [{lo:.{digits}f}, {hi:.{digits}f}]"


def guest_run(engine, program, paths):
    """(checksum, seconds) of one program on one engine."""
    if engine == "ftbench":
        out = run([paths.ftbench, "exec", program, "--stats"])
        checksum = out.splitlines()[0].strip()
        seconds = float(re.search(r"wall seconds\s+([0-9.]+)", out).group(1))
        return checksum, seconds
    if engine in ("luajit", "lua5.4"):
        script = os.path.join(HERE, "lua", f"{program}.lua")
        special = os.path.join(HERE, "lua", f"{program}.luajit.lua")
        if engine == "luajit" and os.path.exists(special):
            script = special
        command = ["luajit", "-joff", script] if engine == "luajit" else ["lua5.4", script]
    else:
        command = [paths.wasmkit, os.path.join(HERE, "wat", f"{program}.wat")]
    lines = run(command).splitlines()
    return lines[0].strip(), float(lines[1].split()[1])


def parse_pairs(text):
    return {k: float(v) for k, v in (line.split()[:2] for line in text.splitlines() if len(line.split()) == 2)}


def calibrate(paths, cpus, samples, entries):
    out = run([paths.ftbench, "calibrate", "--cpus", cpus, "--samples", str(samples), "--entries", str(entries), "--machine-readable"])
    return parse_pairs(out)


def startup(command, runs):
    times = []
    for _ in range(runs):
        start = time.perf_counter_ns()
        if subprocess.run(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL).returncode != 0:
            fail(f"{' '.join(command)}: failed (run it alone to see why)")
        times.append((time.perf_counter_ns() - start) / 1e6)
    times.sort()
    return times[len(times) // 2]


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--ftbench", required=True)
    parser.add_argument("--wasmkit", required=True)
    parser.add_argument("--rings", required=True)
    parser.add_argument("--hello", required=True)
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--sections", default="interpreter,channel,startup")
    parser.add_argument("--programs", default=",".join(PROGRAMS))
    parser.add_argument("--cpus", default="0,1")
    parser.add_argument("--samples", type=int, default=2000)
    parser.add_argument("--entries", type=int, default=20_000_000)
    parser.add_argument("--output", default="results")
    parser.add_argument("--command", default="scripts/peers/run.sh")
    paths = parser.parse_args()
    sections = paths.sections.split(",")
    for s in sections:
        if s not in ("interpreter", "channel", "startup"):
            fail(f"--sections: unknown section '{s}' (interpreter, channel, startup)")
    programs = paths.programs.split(",")
    for p in programs:
        if p not in PROGRAMS:
            fail(f"--programs: unknown program '{p}' ({', '.join(PROGRAMS)})")
    if paths.rounds < 1:
        fail("--rounds must be at least 1")

    revision = source_revision()
    stamp = datetime.datetime.now(datetime.timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    final = os.path.join(paths.output, f"peers-{stamp}")
    partial = final + ".partial"
    os.makedirs(partial)
    rows = []  # (round, section, work, engine, metric, value)
    engines = ["ftbench", "luajit", "wasmkit", "lua5.4"]
    trivial = os.path.join(HERE, "trivial.s")
    cpu0, cpu1 = paths.cpus.split(",")
    for r in range(1, paths.rounds + 1):
        print(f"round {r}/{paths.rounds}", file=sys.stderr, flush=True)
        if "interpreter" in sections:
            for program in programs:
                order = engines[:]
                random.Random(r * 31 + len(program)).shuffle(order)
                sums = {}
                for engine in order:
                    checksum, seconds = guest_run(engine, program, paths)
                    sums[engine] = checksum
                    rows.append((r, "interpreter", program, engine, "seconds", seconds))
                if len(set(sums.values())) != 1:
                    fail(f"{program}: checksums differ: {sums}")
        if "channel" in sections:
            for name, value in calibrate(paths, paths.cpus, paths.samples, paths.entries).items():
                rows.append((r, "channel", name, "ftbench", "value", value))
            out = run([paths.rings, cpu0, cpu1, str(paths.samples), str(paths.entries)])
            for name, value in parse_pairs(out).items():
                rows.append((r, "channel", name, "c++", "value", value))
        if "startup" in sections:
            rows.append((r, "startup", "exec-trivial", "ftbench", "ms", startup([paths.ftbench, "exec", trivial], 20)))
            rows.append((r, "startup", "version", "ftbench", "ms", startup([paths.ftbench, "--version"], 20)))
            rows.append((r, "startup", "hello-world", "swift", "ms", startup([paths.hello], 20)))

    with open(os.path.join(partial, "peers.csv"), "w") as f:
        f.write("round,section,work,engine,metric,value\n")
        for row in rows:
            f.write(",".join(str(x) for x in row) + "\n")
    summary = summarise(rows, paths, sections, programs, revision)
    with open(os.path.join(partial, "summary.md"), "w") as f:
        f.write(summary)
    os.rename(partial, final)
    print(summary)
    print(f"written: {final}", file=sys.stderr)


def values(rows, section, work, engine):
    return [v for (_, s, w, e, _, v) in rows if s == section and w == work and e == engine]


def source_revision():
    """The commit measured, and whether tracked files outside results/ differ from it (results/
    changes while a reference run replaces its own sets)."""
    commit = subprocess.run(["git", "-C", HERE, "rev-parse", "--short", "HEAD"], capture_output=True, text=True).stdout.strip()
    root = subprocess.run(["git", "-C", HERE, "rev-parse", "--show-toplevel"], capture_output=True, text=True).stdout.strip()
    dirty = subprocess.run(["git", "-C", root, "status", "--porcelain", "--untracked-files=no", "--", ".", ":(exclude)results"],
                           capture_output=True, text=True).stdout.strip()
    return commit or "unknown", bool(dirty)


def summarise(rows, paths, sections, programs, revision):
    rounds = max(r for (r, *_ ) in rows)
    commit, dirty = revision
    model = next((l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name")), platform.machine())
    lines = [f"# ftbench beside its peers", "",
             f"`{paths.command}` at {commit}{' (uncommitted changes)' if dirty else ''}, {rounds} interleaved rounds, "
             f"{model}, {os.cpu_count()} CPUs, {platform.system()} {platform.release()}. "
             "Medians over rounds with 95% order-statistic intervals (the range below 6 rounds).", ""]
    if "interpreter" in sections:
        lines += ["## Interpreter: guest time, ms", "",
                  "ratio = ftbench / the faster of LuaJIT `-joff` and WasmKit, per round (target: at most 0.9).", "",
                  "| program | ftbench | LuaJIT -joff | WasmKit 0.4.2 | Lua 5.4 | ratio |", "| --- | ---: | ---: | ---: | ---: | ---: |"]
        for p in programs:
            cells = [interval_text([v * 1e3 for v in values(rows, "interpreter", p, e)], 1) for e in ["ftbench", "luajit", "wasmkit", "lua5.4"]]
            ft, lj, wk = (values(rows, "interpreter", p, e) for e in ["ftbench", "luajit", "wasmkit"])
            ratios = [f / min(l, w) for f, l, w in zip(ft, lj, wk)]
            lines.append(f"| {p} | " + " | ".join(cells) + f" | {interval_text(ratios, 2)} |")
        lines.append("")
    if "channel" in sections:
        def c(work, engine):
            return values(rows, "channel", work, engine)
        lines += ["## Logging channel", "",
                  "Round trips: p50 of 64-round-trip group means, ns; throughput: 64-byte entries in batches of 64, M/s. "
                  "Each process measures its own floor (one cache line bounced between the two pinned cores), and again after "
                  "every measurement, so each figure has the floor just before and just after it (peers.csv). "
                  "The production path's sizes are payloads (8 bytes fill one slot with the entry's headers, 64 take two); "
                  "its throughput is of 8-byte-payload entries.", "",
                  "| measurement | floor | 8-byte round trip | 64-byte round trip | batched 64-byte M/s |", "| --- | ---: | ---: | ---: | ---: |"]
        ft_rows = [("ftbench raw ring", "raw"), ("ftbench production path (loopback)", "path")]
        for label, key in ft_rows:
            if not c(f"{key}_rt8_p50", "ftbench"):
                continue
            lines.append(f"| {label} | {interval_text(c('floor_p50', 'ftbench'), 1)} | {interval_text(c(f'{key}_rt8_p50', 'ftbench'), 1)} | "
                         f"{interval_text(c(f'{key}_rt64_p50', 'ftbench'), 1)} | {interval_text(c(f'{key}_batched64', 'ftbench'), 1)} |")
        for label, key in [("C++ cached-index ring", "cached"), ("boost::lockfree::spsc_queue", "boost")]:
            lines.append(f"| {label} | {interval_text(c('floor_p50', 'c++'), 1)} | {interval_text(c(f'{key}_rt8_p50', 'c++'), 1)} | "
                         f"{interval_text(c(f'{key}_rt64_p50', 'c++'), 1)} | {interval_text(c(f'{key}_batched64', 'c++'), 1)} |")
        lines.append("")
        ft = c("raw_rt8_p50", "ftbench")
        if ft:
            # Each round trip against the floor around it (the mean of the floors measured just
            # before and just after it), where the binary prints them; else the process's floor.
            def own_floor(key):
                before, after = c(f"{key}_floor_before", "ftbench"), c(f"{key}_floor_after", "ftbench")
                return [(b + a) / 2 for b, a in zip(before, after)] if before and after else c("floor_p50", "ftbench")
            above8 = [a - f for a, f in zip(ft, own_floor("raw_rt8"))]
            above64 = [a - f for a, f in zip(c("raw_rt64_p50", "ftbench"), own_floor("raw_rt64"))]
            best_cpp = [max(a, b) for a, b in zip(c("cached_batched64", "c++"), c("boost_batched64", "c++"))]
            ratio = [a / b for a, b in zip(c("raw_batched64", "ftbench"), best_cpp)]
            lines += [f"- ftbench raw ring above its floor: 8-byte {interval_text(above8, 1)} ns, 64-byte {interval_text(above64, 1)} ns (target: at most 25).",
                      f"- batched 64-byte throughput / the best C++ ring of the same round: {interval_text(ratio, 2)} (target: at least 1.1)."]
            moved, total = [], 0
            for (r, section, work, engine, _, before) in rows:
                if section == "channel" and work.endswith("_floor_before"):
                    name = work[:-len("_floor_before")]
                    after = next(v for (r2, s2, w2, e2, _, v) in rows if (r2, s2, w2, e2) == (r, section, f"{name}_floor_after", engine))
                    total += 1
                    if max(before, after) > 1.25 * min(before, after):
                        moved.append(f"{name} ({engine}, round {r}: {before:.0f} -> {after:.0f} ns)")
            if total:
                lines.append(f"- floor brackets: the floor moved by more than a quarter across {len(moved)} of {total} measurements"
                             + (f" (the placement moved: {', '.join(moved)})" if moved else "") + ".")
            lines.append("")
    if "startup" in sections:
        lines += ["## Start-up: whole-process wall time, ms (median of 20 runs per round)", "",
                  "| command | ms |", "| --- | ---: |",
                  f"| `ftbench exec scripts/peers/trivial.s` | {interval_text(values(rows, 'startup', 'exec-trivial', 'ftbench'), 2)} |",
                  f"| `ftbench --version` | {interval_text(values(rows, 'startup', 'version', 'ftbench'), 2)} |",
                  f"| Swift hello world, same link settings | {interval_text(values(rows, 'startup', 'hello-world', 'swift'), 2)} |", ""]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    main()
