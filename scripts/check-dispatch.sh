#!/usr/bin/env bash
# Checks that the release build's interpreter loop has threaded dispatch: LLVM copies the
# dispatch (load opcode, load table entry, add, indirect jump) into the end of each handler only
# with the GuestVM target's `-tail-dup-size=6` (Package.swift; docs/INTERPRETER.md, "Shape"), and a
# build that loses it runs every program slower while every test still passes. At c123a3c
# `execute` had 48 indirect jumps; without the flag, 1. Fails below MIN (default 40).
#
#   scripts/check-dispatch.sh [BINARY] [MIN]     # default .build/release/ftbench, 40
set -euo pipefail
cd "$(dirname "$0")/.."
binary="${1:-.build/release/ftbench}"
min="${2:-40}"
if [ "$(uname -m)" != "x86_64" ]; then echo "check-dispatch: counts x86-64 indirect jumps; skipped on $(uname -m)"; exit 0; fi
[ -x "$binary" ] || { echo "check-dispatch: $binary: no such executable (swift build -c release --product ftbench)" >&2; exit 2; }
objdump_tool="$(dirname "$(command -v swift)")/llvm-objdump"
if [ ! -x "$objdump_tool" ]; then
  command -v objdump >/dev/null || scripts/deps.sh binutils
  objdump_tool=objdump
fi
symbol="$(nm "$binary" | grep -m1 'GuestVM7MachineC7execute_5limit6stores.*UntrackedStores' | cut -d' ' -f3 || true)"
[ -n "$symbol" ] || { echo "check-dispatch: $binary has no interpreter loop symbol (Machine.execute specialised for UntrackedStores)" >&2; exit 2; }
jumps="$("$objdump_tool" -d --no-show-raw-insn --disassemble-symbols="$symbol" "$binary" | grep -cE 'jmpq?[[:space:]]+\*' || true)"
case "$jumps" in ''|*[!0-9]*) echo "check-dispatch: could not disassemble $symbol with $objdump_tool" >&2; exit 2 ;; esac
if [ "$jumps" -lt "$min" ]; then
  echo "check-dispatch: Machine.execute has $jumps indirect jumps, fewer than $min: threaded dispatch is lost (Package.swift's -tail-dup-size for GuestVM; docs/INTERPRETER.md)" >&2
  exit 1
fi
echo "check-dispatch: Machine.execute has $jumps indirect jumps (threaded dispatch)"
