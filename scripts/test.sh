#!/usr/bin/env bash
# Quick start, part 2: runs the test suite. FTBENCH_LONG_TESTS=1 enables the long stress runs.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/deps.sh
swift test "$@"
