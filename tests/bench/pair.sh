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
#   PAIR_PARTS (default "1 2 3")    which of the parts below to run
#
# 1. ops/s: memcaslap (as tests/bench/run.sh drives it: 32-byte keys, 100-byte
#    values) against memcached alone, and against node A of a pair A <-> B
#    (--repl-ack async), for a 90/10 and a 50/50
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
# Parts 2 and 3 run twice, side by side: the link in clear, and encrypted
# (--repl-secret-file on both nodes: TLS 1.3 with a PSK, docs/replication.md,
# "Transport").
# Total runtime is about 9 x BENCH_SECONDS plus the load and sync.
set -euo pipefail

# shellcheck source=SCRIPTDIR/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh" "$@"
sync_items=${SYNC_ITEMS:-1000000}
sync_value_size=${SYNC_VALUE_SIZE:-100}

if ! "$twincached" --help | grep -q -- --peer; then
  echo "pair.sh: $twincached has no --peer (replication) option" >&2
  exit 1
fi

tool() { /usr/bin/python3 "$repo_root/tests/bench/pair_tool.py" "$@"; }

mix "$workdir/mix90.cfg" 0.1 0.9
mix "$workdir/mix50.cfg" 0.5 0.5

parts=${PAIR_PARTS:-1 2 3}
secret_file="$workdir/repl-secret"
(umask 077 && head -c 32 /dev/urandom | base64 >"$secret_file")
# The two transports parts 2 and 3 compare: a label and the flags for both nodes.
transports=("clear" "tls")
transport_args() {  # transport_args LABEL: the flags of that transport, one a line
  if [[ $1 == tls ]]; then
    printf '%s\n' --repl-secret-file "$secret_file"
  fi
}

# start_pair [ARG...]: nodes A and B replicating to each other, each with
# ARGs; sets A_PID B_PID A_PORT B_PORT and B_ARGS (to restart B).
start_pair() {
  local repl_a repl_b
  read -r A_PORT B_PORT repl_a repl_b <<<"$(free_ports 4)"
  start_server A "$twincached" "$A_PORT" -x 127.0.0.1 -X "$repl_a:$repl_b" "$@"
  A_PID=$REPLY_PID
  B_ARGS=(-x 127.0.0.1 -X "$repl_b:$repl_a" "$@")
  start_server B "$twincached" "$B_PORT" "${B_ARGS[@]}"
  B_PID=$REPLY_PID
  tool wait "$A_PORT" repl_state connected 30
  tool wait "$B_PORT" repl_state connected 30
}

stop() {  # stop PID: SIGTERM and wait
  kill -TERM "$1" 2>/dev/null || true
  wait "$1" 2>/dev/null || true
}

echo "twincached: $twincached ($("$twincached" --version 2>&1 | head -n 1))"
echo "memcaslap: -T $threads -c $concurrency -t ${seconds}s, 32-byte keys, 100-byte values, against A"

if [[ " $parts " == *" 1 "* ]]; then
  read -r mc_port <<<"$(free_ports 1)"
  start_server memcached "$memcached" "$mc_port"
  mc_pid=$REPLY_PID
  start_pair
  echo "memcached:  $memcached ($("$memcached" --version 2>&1 | head -n 1)) port $mc_port"
  echo "pair A $A_PORT <-> B $B_PORT (async, link in clear)"
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
  stop "$A_PID"
  stop "$B_PID"
fi

if [[ " $parts " == *" 2 "* ]]; then
  for transport in "${transports[@]}"; do
    mapfile -t extra < <(transport_args "$transport")
    start_pair "${extra[@]}"
    echo
    echo "2. [$transport] replication lag A -> B under a 50/50 memcaslap load on A (${seconds}s):"
    timeout $((seconds + 30)) memcaslap -s "127.0.0.1:$A_PORT" -F "$workdir/mix50.cfg" \
      -t "$((seconds + 2))s" -T "$threads" -c "$concurrency" >"$workdir/lag.memcaslap" 2>&1 &
    load_pid=$!
    tool lag "$A_PORT" "$B_PORT" "$seconds"
    wait "$load_pid" || true
    echo "   [$transport] memcaslap on A: $(grep -Eo 'TPS: [0-9]+' "$workdir/lag.memcaslap" | tail -n 1)"
    echo "   [$transport] (same probe with no load:)"
    tool lag "$A_PORT" "$B_PORT" 2
    stop "$A_PID"
    stop "$B_PID"
  done
fi

if [[ " $parts " == *" 3 "* ]]; then
  for transport in "${transports[@]}"; do
    mapfile -t extra < <(transport_args "$transport")
    echo
    echo "3. [$transport] full sync of $sync_items items of $sync_value_size bytes to an empty B:"
    start_pair "${extra[@]}"
    stop "$B_PID"
    load_seconds=$(tool load "$A_PORT" "$sync_items" "$sync_value_size")
    echo "   loaded A in ${load_seconds}s"
    started=$(date +%s.%N)
    start_server B "$twincached" "$B_PORT" "${B_ARGS[@]}"
    B_PID=$REPLY_PID
    tool wait "$B_PORT" repl_initial_sync "done" 300
    ended=$(date +%s.%N)
    read -r b_items sync_ms <<<"$(tool stats "$B_PORT" curr_items repl_last_sync_duration_ms | tr '\n' ' ')"
    awk -v s="$started" -v e="$ended" -v n="$sync_items" -v size="$sync_value_size" -v ms="$sync_ms" -v got="$b_items" -v label="$transport" 'BEGIN {
      t = e - s
      printf "   [%s] B start -> initial sync done: %.2f s, %.0f items/s, %.1f MB/s of values (B holds %s items)\n", label, t, n / t, n * size / t / 1e6, got
      if (ms ~ /^[0-9]+$/ && ms > 0)
        printf "   [%s] B repl_last_sync_duration_ms %d: %.0f items/s, %.1f MB/s of values\n", label, ms, n / (ms / 1000), n * size / (ms / 1000) / 1e6
    }'
    stop "$A_PID"
    stop "$B_PID"
  done
fi
