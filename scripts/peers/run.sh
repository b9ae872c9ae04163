#!/usr/bin/env bash
# ftbench beside its peers, in one interleaved run: builds ftbench (release), the WasmKit 0.4.2
# peer (scripts/peers/wasmkit-peer, a separate package), the C++ rings (scripts/peers/rings) and
# a hello-world binary linked like ftbench; installs LuaJIT, Lua 5.4, boost and g++ from Debian
# if missing; then runs scripts/peers/compare.py, which prints the tables that README.md and
# docs/INTERPRETER.md / docs/LOGCHANNEL.md quote and writes them with every measurement to
# results/peers-<UTC timestamp>/ (or --output DIR).
#
#   scripts/peers/run.sh                          # all sections, 7 rounds (about 12 minutes)
#   scripts/peers/run.sh --sections interpreter --programs fib,tak --rounds 3
#   scripts/peers/run.sh --output results/reference
#
# Run it on an otherwise idle machine: the channel section spins two pinned threads.
set -euo pipefail
cd "$(dirname "$0")/../.."
scripts/deps.sh luajit lua5.4 libboost-dev g++ python3
swift build -c release --product ftbench
(cd scripts/peers/wasmkit-peer && swift build -c release --product WasmKitPeer)
mkdir -p .build/peers
g++ -O2 -std=c++17 -pthread scripts/peers/rings/rings.cpp -o .build/peers/rings
# The hello world gets ftbench's link settings (Package.swift: a static Swift runtime, no PIE).
swiftc -O -static-stdlib -Xclang-linker -no-pie scripts/peers/hello.swift -o .build/peers/hello
exec python3 scripts/peers/compare.py \
  --ftbench .build/release/ftbench \
  --wasmkit scripts/peers/wasmkit-peer/.build/release/WasmKitPeer \
  --rings .build/peers/rings --hello .build/peers/hello "$@"
