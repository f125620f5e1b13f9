#!/bin/bash
# Memory benchmark: how many items each server holds in the same -m, and what
# an item costs in RSS, side by side with Debian's memcached (and yrmcds).
#
# Usage: tests/bench/memory.sh [path/to/twincached]
#   The binary defaults to $TWINCACHED, then build/daemon/twincached.
#   MEMORY_ITEMS (default 1000000)   items stored in each phase
#   MEMORY_VALUE_SIZE (default 100)  value bytes
#   MEMORY_KEY_SIZE (default 30)     key bytes
#   MEMORY_SMALL_MB (default 64)     -m of phase 1
#   REFERENCE_MEMCACHED (default /usr/bin/memcached)
#
# 1. Items held: memcached and twincached with -m MEMORY_SMALL_MB each get
#    MEMORY_ITEMS sets (pipelined, noreply); prints curr_items, bytes,
#    limit_maxbytes and evictions of each, the ratio of items held, and the
#    issue's target (twincached holds >= 1.1 x memcached's items).
# 2. RSS per item: both with -m 1024 (and yrmcds with a 1024M memory_limit
#    when installed) get the same MEMORY_ITEMS sets, none evicted; prints
#    (RSS after - RSS before) / MEMORY_ITEMS for each and the ratio (target:
#    twincached <= memcached). yrmcds's curr_items lags (its GC recounts
#    them), so the sets, all held, are the divisor for every server.
# One server runs at a time. Runtime: a few seconds per phase and server.
set -euo pipefail

# shellcheck source=SCRIPTDIR/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh" "$@"
items=${MEMORY_ITEMS:-1000000}
value_size=${MEMORY_VALUE_SIZE:-100}
key_size=${MEMORY_KEY_SIZE:-30}
small_mb=${MEMORY_SMALL_MB:-64}

tool() { /usr/bin/python3 "$repo_root/tests/bench/pair_tool.py" "$@"; }
rss_kb() { awk '$1 == "VmRSS:" { print $2 }' "/proc/$1/status"; }
stop() {  # stop PID: SIGTERM and wait
  kill -TERM "$1" 2>/dev/null || true
  wait "$1" 2>/dev/null || true
}
divide() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.3f", a / b; else print "n/a" }'; }

echo "memcached:  $memcached ($("$memcached" --version 2>&1 | head -n 1))"
echo "twincached: $twincached ($("$twincached" --version 2>&1 | head -n 1))"
echo "$items sets of $key_size-byte keys and $value_size-byte values"
echo

declare -A held
echo "1. items held in -m $small_mb:"
for name in memcached twincached; do
  binary=$memcached
  [[ $name == twincached ]] && binary=$twincached
  port=$(free_ports 1)
  memory_mb=$small_mb start_server "$name-small" "$binary" "$port"
  pid=$REPLY_PID
  seconds_taken=$(tool load "$port" "$items" "$value_size" "$key_size")
  read -r curr bytes limit evictions < <(tool stats "$port" curr_items bytes limit_maxbytes evictions | paste -s -d ' ')
  held[$name]=$curr
  printf '  %-10s curr_items %9s  bytes %10s  limit_maxbytes %10s  evictions %9s  RSS %7s KiB  (load %s s)\n' \
    "$name" "$curr" "$bytes" "$limit" "$evictions" "$(rss_kb "$pid")" "$seconds_taken"
  stop "$pid"
done
printf '  items held, twincached / memcached: %s (target >= 1.1)\n\n' "$(divide "${held[twincached]}" "${held[memcached]}")"

declare -A per_item
echo "2. RSS per item, -m 1024, nothing evicted:"
names=(memcached twincached)
[[ -n $yrmcds ]] && names+=(yrmcds)
for name in "${names[@]}"; do
  port=$(free_ports 1)
  case $name in
    memcached) start_server "$name-large" "$memcached" "$port" ;;
    twincached) start_server "$name-large" "$twincached" "$port" ;;
    yrmcds) start_yrmcds "$name-large" "$port" ;;
  esac
  pid=$REPLY_PID
  before=$(rss_kb "$pid")
  tool load "$port" "$items" "$value_size" "$key_size" >/dev/null
  after=$(rss_kb "$pid")
  curr=$(tool stats "$port" curr_items)
  per_item[$name]=$(awk -v a="$after" -v b="$before" -v n="$items" 'BEGIN { if (n > 0) printf "%.1f", (a - b) * 1024 / n; else print "n/a" }')
  printf '  %-10s curr_items %9s  RSS %7s -> %7s KiB  %s bytes per item\n' "$name" "$curr" "$before" "$after" \
    "${per_item[$name]}"
  stop "$pid"
done
printf '  RSS per item, twincached / memcached: %s (target <= 1.0)' \
  "$(divide "${per_item[twincached]}" "${per_item[memcached]}")"
[[ -n $yrmcds ]] && printf '; yrmcds / memcached: %s' "$(divide "${per_item[yrmcds]}" "${per_item[memcached]}")"
echo
