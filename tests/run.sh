#!/usr/bin/env bash
# The whole test suite, as README's second command and .ci/run run it:
#   0. clang-format finds nothing to change;
#   1. a warnings-as-errors build, clang-tidy (.clang-tidy) without findings, and
#      every test (ctest: unit, integration, the protocol modules against
#      Debian's memcached, system, packaging);
#   2. the unit and integration tests under AddressSanitizer + UBSan;
#   3. the text and binary request-parser and replication-frame fuzzers (libFuzzer, clang), bounded.
# Exits non-zero on the first failure. FUZZ_SECONDS (default 60) bounds each fuzzer.
set -euo pipefail
cd "$(dirname "$0")/.."
jobs=${JOBS:-2}
fuzz_seconds=${FUZZ_SECONDS:-60}

bash scripts/install-deps.sh

echo "== style: clang-format (.clang-format) over every C++ file"
git ls-files -z '*.cc' '*.h' | xargs -0 clang-format --dry-run -Werror

echo "== build (-Werror) and test"
cmake -S . -B build -DTWINCACHE_WERROR=ON -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build build -j"$jobs"
echo "== clang-tidy (.clang-tidy) over core/, daemon/, healthcheck/, keepalived/"
JOBS=$jobs bash scripts/tidy.sh build
ctest --test-dir build --output-on-failure -j"$jobs"

echo "== build with ASan+UBSan and test"
cmake -S . -B build-asan -DTWINCACHE_WERROR=ON -DTWINCACHE_SANITIZE=ON -DCMAKE_BUILD_TYPE=Debug >/dev/null
cmake --build build-asan -j"$jobs"
TWINCACHE_SANITIZED=1 ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1 \
  ctest --test-dir build-asan --output-on-failure -j"$jobs" -LE reference

echo "== fuzz the text and binary request parsers and the replication frame decoder, ${fuzz_seconds}s each"
CXX=clang++ cmake -S . -B build-fuzz -DTWINCACHE_FUZZ=ON -DTWINCACHE_TESTS=ON -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build build-fuzz --target parser_fuzz binary_parser_fuzz repl_frame_fuzz -j"$jobs"
corpus=$(mktemp -d)
trap 'rm -rf "$corpus"' EXIT
for target in parser binary_parser repl_frame; do
  mkdir -p "$corpus/$target"
  cp tests/fuzz/corpus/$target/* "$corpus/$target"/
  build-fuzz/tests/${target}_fuzz -max_total_time="$fuzz_seconds" -max_len=4096 -print_final_stats=1 \
    "$corpus/$target" 2>&1 | tail -n 6
  echo "fuzz: ${target}_fuzz ran ${fuzz_seconds}s without a crash"
done
