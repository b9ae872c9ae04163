#!/usr/bin/env python3
"""Interleaved A/B of guest time: builds or flags of ftbench side by side on the same programs.

    scripts/exec-ab.py --rounds 7 --programs fib,loop \\
        'before=/tmp/old/ftbench' 'after=.build/release/ftbench' 'plain=.build/release/ftbench --no-superinstructions'

Each variant is LABEL=BINARY [EXTRA ARGS]. Every round runs every program once on every variant,
in a shuffled order, pinned to one CPU (taskset -c CPU), with `exec PROGRAM --stats --seed 1`;
the time is the `wall seconds` line (the guest's run: loading, assembly and the final state hash
excluded). Prints, per program, the median time of each variant and the median of the per-round
ratios to the first variant with the 20th-80th percentile of those ratios, as a Markdown table;
--output FILE writes the table and every measurement there too. Run it on an otherwise idle
machine; the figures of a noisy one move by 5% between runs of the same binary.
"""
import argparse, random, statistics, subprocess, sys

parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
parser.add_argument("--rounds", type=int, default=7)
parser.add_argument("--programs", default="fib,sieve,loop,tak,hash-rem,hash-mul,matmul,sort,nondet,kvstore")
parser.add_argument("--cpu", default="1")
parser.add_argument("--output")
parser.add_argument("variants", nargs="+", help="LABEL=BINARY [EXTRA ARGS]")
options = parser.parse_args()
variants = []
for text in options.variants:
    label, _, command = text.partition("=")
    if not label or not command:
        sys.exit(f"exec-ab.py: '{text}' is not LABEL=BINARY [ARGS]")
    variants.append((label, command.split()))
programs = options.programs.split(",")

def guest_seconds(command, program):
    args = ["taskset", "-c", options.cpu, command[0], "exec", program, "--stats", "--seed", "1"] + command[1:]
    run = subprocess.run(args, capture_output=True, text=True)
    for line in run.stdout.splitlines():
        if line.startswith("wall seconds"):
            return float(line.split()[-1])
    sys.exit(f"exec-ab.py: {' '.join(args)} printed no wall seconds (exit {run.returncode}): {run.stderr.strip()[:200]}")

times = {(p, label): [] for p in programs for label, _ in variants}
for round_number in range(options.rounds):
    print(f"round {round_number + 1}/{options.rounds}", file=sys.stderr)
    for program in programs:
        for label, command in random.sample(variants, len(variants)):
            times[(program, label)].append(guest_seconds(command, program))

first = variants[0][0]
header = "| program | " + " | ".join(f"{label} ms" for label, _ in variants) + " | " + " | ".join(f"{label} / {first}" for label, _ in variants[1:]) + " |"
lines = [header, "|" + " --- |" * (1 + 2 * len(variants) - 1)]
for program in programs:
    cells = [f"{statistics.median(times[(program, label)]) * 1000:.1f}" for label, _ in variants]
    for label, _ in variants[1:]:
        ratios = sorted(b / a for a, b in zip(times[(program, first)], times[(program, label)]))
        low, high = ratios[len(ratios) // 5], ratios[-1 - len(ratios) // 5]
        cells.append(f"{statistics.median(ratios):.3f} [{low:.3f}, {high:.3f}]")
    lines.append(f"| {program} | " + " | ".join(cells) + " |")
table = "\n".join(lines)
print(table)
if options.output:
    with open(options.output, "w") as out:
        out.write(f"# exec A/B, {options.rounds} interleaved rounds, pinned to CPU {options.cpu}\n\n")
        out.write("Command: `scripts/exec-ab.py --rounds %d --programs %s %s`\n\n" % (
            options.rounds, options.programs, " ".join(f"'{v}'" for v in options.variants)))
        out.write("Medians of guest wall time (ms); ratios: median of per-round ratios [20th, 80th percentile].\n\n")
        out.write(table + "\n\n## Every measurement (ms, in round order)\n\n")
        for (program, label), values in times.items():
            out.write(f"- {program} {label}: " + ", ".join(f"{v * 1000:.2f}" for v in values) + "\n")
