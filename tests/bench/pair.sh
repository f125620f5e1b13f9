#!/bin/bash
# Replicated pair benchmark: throughput of an async twincached pair against
# Debian's memcached alone, full sync throughput, and replication lag.
#
# Usage: tests/bench/pair.sh [path/to/twincached]
#   The binary defaults to $TWINCACHED, then build/daemon/twincached.
#   BENCH_SECONDS (default 10)      length of each memcaslap run
#   BENCH_THREADS (default 2)       memcaslap -T
#   BENCH_CONCURRENCY (default 64)  memcaslap -c
#   SYNC_ITEMS (default 1000000)    items of SYNC_VALUE_SIZE (default 100) bytes for the full sync
#   REFERENCE_MEMCACHED (default /usr/bin/memcached)
#
# 1. ops/s: memcaslap (as tests/bench/run.sh drives it: 32-byte keys, 100-byte
#    values) against memcached alone, and against node A of a pair A <-> B
#    (--repl-ack async, both with --lenient-keys), for a 90/10 and a 50/50
#    get/set mix, each run A B A B (memcached, pair, memcached, pair); the
#    ratio uses the mean of each pair of runs. B runs on the same machine and
#    competes for the same cores (applying A's writes), as the price of
#    replication on one box would be.
# 2. replication lag under load (50/50 mix on A), measured two ways and
#    labelled: a probe (set on A, time from A's STORED until B's mg returns
#    the value, polling B back to back) and the daemon's repl_lag_ms sampled
#    from `stats` every 100 ms.
# 3. full sync: SYNC_ITEMS items loaded into A of a fresh pair whose B is
#    down, then B starts empty; time from B's start until B reports
#    repl_initial_sync done, as items/s and MB/s of values; also by B's
#    repl_last_sync_duration_ms (the duration of the sync it received).
# Total runtime is about 9 x BENCH_SECONDS plus the load and sync.
set -euo pipefail

repo_root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
twincached=${1:-${TWINCACHED:-$repo_root/build/daemon/twincached}}
memcached=${REFERENCE_MEMCACHED:-/usr/bin/memcached}
seconds=${BENCH_SECONDS:-10}
threads=${BENCH_THREADS:-2}
concurrency=${BENCH_CONCURRENCY:-64}
sync_items=${SYNC_ITEMS:-1000000}
sync_value_size=${SYNC_VALUE_SIZE:-100}

for t in memcaslap "$memcached" "$twincached"; do
  if ! command -v "$t" >/dev/null; then
    echo "pair.sh: $t not found (memcaslap is in libmemcached-tools)" >&2
    exit 1
  fi
done
if ! "$twincached" --help | grep -q -- --peer; then
  echo "pair.sh: $twincached has no --peer (replication) option" >&2
  exit 1
fi

tool() { /usr/bin/python3 "$repo_root/tests/bench/pair_tool.py" "$@"; }

workdir=$(mktemp -d /tmp/twincache-pair-bench.XXXXXX)
pids=()
cleanup() {
  local pid
  for pid in "${pids[@]}"; do
    kill -TERM "$pid" 2>/dev/null || true
  done
  for pid in "${pids[@]}"; do
    wait "$pid" 2>/dev/null || true
  done
  rm -rf "$workdir"
}
trap cleanup EXIT

mix() {  # mix FILE SET_SHARE GET_SHARE: a memcaslap workload file
  cat >"$1" <<EOF
key
32 32 1
value
100 100 1
cmd
0 $2
1 $3
EOF
}
mix "$workdir/mix90.cfg" 0.1 0.9
mix "$workdir/mix50.cfg" 0.5 0.5

free_ports() {  # free_ports N: N distinct ports that were free a moment ago
  /usr/bin/python3 -c '
import socket, sys
socks = [socket.socket() for _ in range(int(sys.argv[1]))]
for s in socks:
    s.bind(("127.0.0.1", 0))
print(" ".join(str(s.getsockname()[1]) for s in socks))' "$1"
}

# start NAME PORT ARGS...: starts a server (twincached, or memcached when
# NAME is memcached) on PORT; sets REPLY_PID once it accepts connections.
start() {
  local name=$1 port=$2 binary=$twincached extra=(--lenient-keys)
  shift 2
  if [[ $name == memcached ]]; then
    binary=$memcached
    extra=(-U 0)
    [[ $EUID -eq 0 ]] && extra+=(-u root)  # memcached refuses root without -u
  fi
  "$binary" -p "$port" -l 127.0.0.1 -t 4 -m 1024 -c 4096 "${extra[@]}" "$@" \
    2>>"$workdir/$name.stderr" &
  REPLY_PID=$!
  pids+=("$REPLY_PID")
  local i
  for ((i = 0; i < 200; i++)); do  # up to 10 s
    if nc -z 127.0.0.1 "$port" 2>/dev/null; then
      return 0
    fi
    if ! kill -0 "$REPLY_PID" 2>/dev/null; then
      break
    fi
    sleep 0.05
  done
  echo "pair.sh: $name did not start on port $port:" >&2
  cat "$workdir/$name.stderr" >&2
  exit 1
}

# start_pair: nodes A and B replicating to each other; sets A_PID B_PID
# A_PORT B_PORT and B_ARGS (to restart B).
start_pair() {
  local repl_a repl_b
  read -r A_PORT B_PORT repl_a repl_b <<<"$(free_ports 4)"
  start A "$A_PORT" -x 127.0.0.1 -X "$repl_a:$repl_b"
  A_PID=$REPLY_PID
  B_ARGS=(-x 127.0.0.1 -X "$repl_b:$repl_a")
  start B "$B_PORT" "${B_ARGS[@]}"
  B_PID=$REPLY_PID
  tool wait "$A_PORT" repl_state connected 30
  tool wait "$B_PORT" repl_state connected 30
}

stop() {  # stop PID: SIGTERM and wait
  kill -TERM "$1" 2>/dev/null || true
  wait "$1" 2>/dev/null || true
}

# tps PORT NAME CONFIG: runs memcaslap, prints its TPS ("error"/"n/a" if void).
tps() {
  local port=$1 name=$2 config=$3 out value
  out=$workdir/$name.memcaslap
  timeout $((seconds + 30)) memcaslap -s "127.0.0.1:$port" -F "$config" \
    -t "${seconds}s" -T "$threads" -c "$concurrency" >"$out" 2>&1 || true
  value=$(awk '/^Run time:/ { for (i = 1; i < NF; i++) if ($i == "TPS:") tps = $(i + 1) }
               END { if (tps ~ /^[0-9]+$/) print tps }' "$out")
  if [[ -z $value ]]; then
    echo "pair.sh: no TPS in memcaslap output for $name:" >&2
    tail -n 5 "$out" >&2
    value=n/a
  fi
  if grep -q -E 'ERROR' "$out"; then  # error replies count in memcaslap's TPS
    echo "pair.sh: $name answered memcaslap with errors, e.g.:" >&2
    grep -m 1 -E 'ERROR' "$out" >&2
    value=error
  fi
  echo "$value"
}

ratio() {  # ratio B1 B2 A1 A2: mean(B)/mean(A), or n/a
  awk -v b1="$1" -v b2="$2" -v a1="$3" -v a2="$4" 'BEGIN {
    if (a1 !~ /^[0-9]+$/ || a2 !~ /^[0-9]+$/ || b1 !~ /^[0-9]+$/ || b2 !~ /^[0-9]+$/ || a1 + a2 == 0)
      print "n/a"; else printf "%.3f\n", (b1 + b2) / (a1 + a2) }'
}

read -r mc_port <<<"$(free_ports 1)"
start memcached "$mc_port"
mc_pid=$REPLY_PID
start_pair

echo "memcached:  $memcached ($("$memcached" --version 2>&1 | head -n 1)) port $mc_port"
echo "twincached: $twincached ($("$twincached" --version 2>&1 | head -n 1)) pair A $A_PORT <-> B $B_PORT (async)"
echo "memcaslap: -T $threads -c $concurrency -t ${seconds}s, 32-byte keys, 100-byte values, against A"
echo
echo "1. ops/s (TPS) of each run, A B A B:"
for m in 90 50; do
  a1=$(tps "$mc_port" memcached "$workdir/mix$m.cfg")
  b1=$(tps "$A_PORT" pair "$workdir/mix$m.cfg")
  a2=$(tps "$mc_port" memcached "$workdir/mix$m.cfg")
  b2=$(tps "$A_PORT" pair "$workdir/mix$m.cfg")
  printf '%-22s memcached %8s %8s  pair %8s %8s  ratio pair/memcached %s\n' \
    "$m/$((100 - m)) get/set" "$a1" "$a2" "$b1" "$b2" "$(ratio "$b1" "$b2" "$a1" "$a2")"
done
read -r conflicts full partial <<<"$(tool stats "$B_PORT" repl_conflicts repl_full_syncs repl_partial_syncs | tr '\n' ' ')"
echo "B after the runs: repl_conflicts $conflicts repl_full_syncs $full repl_partial_syncs $partial"
stop "$mc_pid"

echo
echo "2. replication lag A -> B under a 50/50 memcaslap load on A (${seconds}s):"
timeout $((seconds + 30)) memcaslap -s "127.0.0.1:$A_PORT" -F "$workdir/mix50.cfg" \
  -t "$((seconds + 2))s" -T "$threads" -c "$concurrency" >"$workdir/lag.memcaslap" 2>&1 &
load_pid=$!
tool lag "$A_PORT" "$B_PORT" "$seconds"
wait "$load_pid" || true
echo "   (same probe with no load:)"
tool lag "$A_PORT" "$B_PORT" 2
stop "$A_PID"
stop "$B_PID"

echo
echo "3. full sync of $sync_items items of $sync_value_size bytes to an empty B:"
start_pair
stop "$B_PID"
load_seconds=$(tool load "$A_PORT" "$sync_items" "$sync_value_size")
echo "   loaded A in ${load_seconds}s"
started=$(date +%s.%N)
start B "$B_PORT" "${B_ARGS[@]}"
B_PID=$REPLY_PID
tool wait "$B_PORT" repl_initial_sync "done" 300
ended=$(date +%s.%N)
read -r b_items sync_ms <<<"$(tool stats "$B_PORT" curr_items repl_last_sync_duration_ms | tr '\n' ' ')"
awk -v s="$started" -v e="$ended" -v n="$sync_items" -v size="$sync_value_size" -v ms="$sync_ms" -v got="$b_items" 'BEGIN {
  t = e - s
  printf "   B start -> initial sync done: %.2f s, %.0f items/s, %.1f MB/s of values (B holds %s items)\n", t, n / t, n * size / t / 1e6, got
  if (ms ~ /^[0-9]+$/ && ms > 0)
    printf "   B repl_last_sync_duration_ms %d: %.0f items/s, %.1f MB/s of values\n", ms, n / (ms / 1000), n * size / (ms / 1000) / 1e6
}'
