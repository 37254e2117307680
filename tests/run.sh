#!/bin/sh
# Runs Genkan's whole test suite the way CI does: installs missing Debian
# packages, builds with clang, AddressSanitizer + UBSan, libFuzzer targets and
# warnings as errors, then runs every CTest test (unit, integration, e2e,
# fuzz-replay, short fuzz runs, benchmarks in quick mode).
# Usage: tests/run.sh [extra ctest arguments, e.g. -L unit]
set -eu

root=$(cd "$(dirname "$0")/.." && pwd)
build=${GENKAN_TEST_BUILD_DIR:-"$root/build-test"}
jobs=$(nproc 2>/dev/null || echo 2)

"$root/packaging/install-deps.sh" all

cmake -S "$root" -B "$build" \
  -DCMAKE_C_COMPILER=clang \
  -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  -DGENKAN_SANITIZE=ON -DGENKAN_FUZZ=ON -DGENKAN_WERROR=ON
cmake --build "$build" -j "$jobs"

cd "$build"
exec ctest --output-on-failure --timeout 900 -j "$jobs" "$@"
