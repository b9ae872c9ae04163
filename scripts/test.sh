#!/usr/bin/env bash
# Quick start, part 2: runs the test suite. FTBENCH_LONG_TESTS=1 enables the long stress runs.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/deps.sh
# SwiftPM reruns the BuildRevision prebuild command only when its output is missing (an
# incremental build kept recording the previous commit): remove it, so that meta.json records the
# commit being built.
find .build/plugins/outputs -path '*/BuildRevision/generated/BuildRevision.swift' -delete 2>/dev/null || true
swift test "$@"
