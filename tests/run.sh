#!/usr/bin/env bash
# The whole test suite, as README's second command and .ci/run run it:
#   1. a warnings-as-errors build and every unit and integration test (ctest);
#   2. the same unit and integration tests under AddressSanitizer + UBSan;
#   3. the request-parser fuzzer (libFuzzer, clang) for a bounded time.
# Exits non-zero on the first failure. FUZZ_SECONDS (default 60) bounds step 3.
set -euo pipefail
cd "$(dirname "$0")/.."
jobs=${JOBS:-2}
fuzz_seconds=${FUZZ_SECONDS:-60}

bash scripts/install-deps.sh

echo "== build (-Werror) and test"
cmake -S . -B build -DTWINCACHE_WERROR=ON -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build build -j"$jobs"
ctest --test-dir build --output-on-failure -j"$jobs"

echo "== build with ASan+UBSan and test"
cmake -S . -B build-asan -DTWINCACHE_WERROR=ON -DTWINCACHE_SANITIZE=ON -DCMAKE_BUILD_TYPE=Debug >/dev/null
cmake --build build-asan -j"$jobs"
TWINCACHE_SANITIZED=1 ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1 \
  ctest --test-dir build-asan --output-on-failure -j"$jobs"

echo "== fuzz the request parser for ${fuzz_seconds}s"
CXX=clang++ cmake -S . -B build-fuzz -DTWINCACHE_FUZZ=ON -DTWINCACHE_TESTS=ON -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build build-fuzz --target parser_fuzz -j"$jobs"
corpus=$(mktemp -d)
trap 'rm -rf "$corpus"' EXIT
cp tests/fuzz/corpus/parser/* "$corpus"/
build-fuzz/tests/parser_fuzz -max_total_time="$fuzz_seconds" -max_len=4096 -print_final_stats=1 "$corpus" 2>&1 | tail -n 15
echo "fuzz: parser_fuzz ran ${fuzz_seconds}s without a crash"
