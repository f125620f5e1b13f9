#!/usr/bin/env bash
# clang-tidy (the repo's .clang-tidy) over every C++ source of core/, daemon/,
# healthcheck/ and keepalived/, two at a time, with the compile commands of
# BUILD_DIR (default build/, configured by the caller). Prints the findings and
# exits non-zero when there is any. Headers are checked through the sources
# that include them (HeaderFilterRegex).
set -euo pipefail
cd "$(dirname "$0")/.."
build=${1:-build}
jobs=${JOBS:-2}
[[ -f $build/compile_commands.json ]] || { echo "tidy: no $build/compile_commands.json" >&2; exit 2; }
log=$(mktemp)
trap 'rm -f "$log"' EXIT
status=0
git ls-files -z 'core/*.cc' 'daemon/*.cc' 'healthcheck/*.cc' 'keepalived/*.cc' |
  xargs -0 -P"$jobs" -n1 clang-tidy -p "$build" --quiet >"$log" 2>&1 || status=$?
findings=$(grep -c ': \(warning\|error\):' "$log" || true)
if ((status != 0 || findings != 0)); then
  grep -A3 ': \(warning\|error\):' "$log" | head -200
  echo "tidy: $findings finding(s)" >&2
  exit 1
fi
echo "tidy: no findings in $(git ls-files 'core/*.cc' 'daemon/*.cc' 'healthcheck/*.cc' 'keepalived/*.cc' | wc -l) sources"
