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
#   PAIR_PARTS (default "1 2 3 4")  which of the parts below to run
#   RATE_LOAD (default build/tests/rate_load)  the fixed-rate load of part 4
#   RATE_READS (default 20000)      part 4: requests/s of the 90/10 mix
#   RATE_WRITES (default 20000)     part 4: writes/s of the 50/50 mix (so twice as many requests/s)
#   RATE_CONNECTIONS (default 16)   part 4: rate_load --connections
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
# 4. the targets at a fixed rate, link in clear. rate_load (tests/bench/rate_load.cc)
#    sends requests on a fixed schedule whatever the replies do (open loop)
#    and times each from when it was due to its reply, so a stall is charged
#    to every request it delays:
#    a. latency p50/p99 per request at RATE_READS req/s of the 90/10 mix and
#       RATE_WRITES writes/s of the 50/50 mix, against memcached alone,
#       twincached alone and node A of a pair, runs in that order twice;
#       ratios of the best run of each to memcached's best (other load on
#       the machine only adds latency). Target: no worse than memcached.
#       The defaults are below saturation on a 2-core box: part 4c prints
#       the 50/50 ops/s memcaslap reaches on twincached alone, and each run
#       prints the rate it achieved;
#    b. replication lag (the probe and samples of part 2) while rate_load
#       drives RATE_WRITES writes/s (50/50) into A, then with no load.
#       Target: p99 <= 1 ms;
#    c. the writing node's server CPU per op (its threads' time on a CPU, lib.sh cpu_us,
#       over the operations of the runs) under the 50/50 mix, twincached
#       alone vs node A of a pair: with memcaslap saturating (runs A B A B)
#       and at the fixed rate of 4a. Target: pair <= 1.15 x alone.
# Parts 2 and 3 run twice, side by side: the link in clear, and encrypted
# (--repl-secret-file on both nodes: TLS 1.3 with a PSK, docs/replication.md,
# "Transport").
# Total runtime is about 25 x BENCH_SECONDS plus the load and sync (part 4
# about 16 x).
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

parts=${PAIR_PARTS:-1 2 3 4}
rate_load=${RATE_LOAD:-$repo_root/build/tests/rate_load}
rate_reads=${RATE_READS:-20000}
rate_writes=${RATE_WRITES:-20000}
rate_connections=${RATE_CONNECTIONS:-16}
if [[ " $parts " == *" 4 "* && ! -x $rate_load ]]; then
  echo "pair.sh: $rate_load not found (cmake --build build --target rate_load)" >&2
  exit 1
fi
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
      printf "   [%s] B start -> initial sync done: %.2f s, %.0f items/s, %.1f MB/s of values (B holds %s items; target >= 300 MB/s)\n", label, t, n / t, n * size / t / 1e6, got
      if (ms ~ /^[0-9]+$/ && ms > 0)
        printf "   [%s] B repl_last_sync_duration_ms %d: %.0f items/s, %.1f MB/s of values\n", label, ms, n / (ms / 1000), n * size / (ms / 1000) / 1e6
    }'
    stop "$A_PID"
    stop "$B_PID"
  done
fi

# fixed_rate PORT PID NAME RATE SET_FRACTION: runs rate_load against
# 127.0.0.1:PORT for $seconds at RATE requests/s with that share of sets;
# appends its line to $workdir/NAME.rate and "CPU-us requests" of the
# server PID to $workdir/NAME.cpu.
fixed_rate() {
  local port=$1 pid=$2 name=$3 rate=$4 set_fraction=$5 us_before line
  us_before=$(cpu_us "$pid")
  line=$(timeout $((seconds + 60)) "$rate_load" --port "$port" --rate "$rate" --seconds "$seconds" \
    --connections "$rate_connections" --set-fraction "$set_fraction" --keys 10000 --key-size 32 \
    --value-size 100 2>>"$workdir/$name.rate.stderr") || true
  if [[ $line != "rate_load "* ]]; then
    echo "pair.sh: rate_load against $name failed:" >&2
    tail -n 5 "$workdir/$name.rate.stderr" >&2
    line="rate_load failed"
  fi
  echo "$line" >>"$workdir/$name.rate"
  awk -v t="$(($(cpu_us "$pid") - us_before))" '{
    for (i = 1; i < NF; i++) if ($i == "requests") print t, $(i + 1) }' <<<"$line" >>"$workdir/$name.cpu"
}

# rate_values NAME FIELD: FIELD of each run in $workdir/NAME.rate, space-separated.
rate_values() {
  awk -v f="$2" '{ for (i = 1; i < NF; i++) if ($i == f) printf "%s%s", (n++ ? " " : ""), $(i + 1) }
                 END { if (!n) printf "n/a" }' "$workdir/$1.rate"
}

# rate_ratio NAME BASE FIELD: the best (lowest) FIELD of NAME's runs over the
# best of BASE's. Other load on the machine only ever adds latency, and one
# stall of a second would swamp a mean.
rate_ratio() {
  awk -v f="$3" -v name="$workdir/$1.rate" '{
      for (i = 1; i < NF; i++) if ($i == f) {
        if (FILENAME == name) { if (nb++ == 0 || $(i + 1) < b) b = $(i + 1) }
        else if (na++ == 0 || $(i + 1) < a) a = $(i + 1) } }
    END { if (na && nb && a > 0) printf "%.2f", b / a; else printf "n/a" }' \
    "$workdir/$1.rate" "$workdir/$2.rate"
}

# rate_report LABEL NAME [BASE]: one line of NAME's runs, with ratios to BASE's.
rate_report() {
  local line
  line=$(printf '     %-16s p50 %-15s us  p99 %-17s us  achieved %s req/s' "$1" "$(rate_values "$2" p50_us)" \
    "$(rate_values "$2" p99_us)" "$(rate_values "$2" achieved)")
  if [[ -n ${3:-} ]]; then
    line+=$(printf '  best/best memcached p50 %s p99 %s (target <= 1.00: no worse than memcached)' \
      "$(rate_ratio "$2" "$3" p50_us)" "$(rate_ratio "$2" "$3" p99_us)")
  fi
  echo "$line"
}

if [[ " $parts " == *" 4 "* ]]; then
  read -r mc_port tc_port <<<"$(free_ports 2)"
  start_server memcached "$memcached" "$mc_port"
  mc_pid=$REPLY_PID
  start_server twincached "$twincached" "$tc_port"
  tc_pid=$REPLY_PID
  start_pair
  echo
  echo "4. at a fixed rate (rate_load, open loop, $rate_connections connections, ${seconds}s a run; link in clear)"
  echo "   a. latency per request, from when it was due to its reply; runs memcached, twincached alone, pair A, twice:"
  for m in 90 50; do
    if [[ $m == 90 ]]; then
      rate=$rate_reads set_fraction=0.1
    else
      rate=$((2 * rate_writes)) set_fraction=0.5
    fi
    for name in mc$m tc$m pair$m; do
      rm -f "$workdir/$name.rate" "$workdir/$name.cpu"
    done
    for _ in 1 2; do
      fixed_rate "$mc_port" "$mc_pid" "mc$m" "$rate" "$set_fraction"
      fixed_rate "$tc_port" "$tc_pid" "tc$m" "$rate" "$set_fraction"
      fixed_rate "$A_PORT" "$A_PID" "pair$m" "$rate" "$set_fraction"
    done
    echo "   $m/$((100 - m)) get/set at $rate req/s ($(awk -v r="$rate" -v s="$set_fraction" 'BEGIN { printf "%d", r * s }') writes/s):"
    rate_report memcached "mc$m"
    rate_report "twincached alone" "tc$m" "mc$m"
    rate_report "pair node A" "pair$m" "mc$m"
  done

  echo "   b. replication lag A -> B while rate_load drives $rate_writes writes/s (50/50, $((2 * rate_writes)) req/s) into A (target p99 <= 1 ms):"
  timeout $((seconds + 60)) "$rate_load" --port "$A_PORT" --rate $((2 * rate_writes)) --seconds $((seconds + 2)) \
    --connections "$rate_connections" --set-fraction 0.5 --keys 10000 >"$workdir/lag.rate" 2>&1 &
  load_pid=$!
  tool lag "$A_PORT" "$B_PORT" "$seconds" | sed 's/^/      /'
  wait "$load_pid" || true
  echo "      rate_load on A: $(tail -n 1 "$workdir/lag.rate")"
  echo "      (same probe with no load, target p99 <= 1 ms:)"
  tool lag "$A_PORT" "$B_PORT" 2 | sed 's/^/      /'

  echo "   c. the writing node's server CPU per op under the 50/50 mix, twincached alone vs node A of a pair (target <= 1.15x):"
  tc_at_rate=$(us_per_op tc50)
  pair_at_rate=$(us_per_op pair50)
  rm -f "$workdir/tc-sat.cpu" "$workdir/pair-sat.cpu" "$workdir/pairB-sat.cpu"
  sat=()
  for name in tc-sat pair-sat tc-sat pair-sat; do
    if [[ $name == tc-sat ]]; then
      port=$tc_port pid=$tc_pid
    else
      port=$A_PORT pid=$A_PID
    fi
    us_before=$(cpu_us "$pid")
    b_us_before=$(cpu_us "$B_PID")
    sat+=("$(tps "$port" "$name" "$workdir/mix50.cfg")")
    ops=$(awk '/^Run time:/ { for (i = 1; i < NF; i++) if ($i == "Ops:") print $(i + 1) }' "$workdir/$name.memcaslap")
    echo "$(($(cpu_us "$pid") - us_before)) ${ops:-0}" >>"$workdir/$name.cpu"
    if [[ $name == pair-sat ]]; then
      echo "$(($(cpu_us "$B_PID") - b_us_before)) ${ops:-0}" >>"$workdir/pairB-sat.cpu"
    fi
  done
  tc_sat=$(us_per_op tc-sat)
  pair_sat=$(us_per_op pair-sat)
  printf '      memcaslap saturating (ops/s alone %s %s, pair %s %s): alone %s us/op, pair A %s us/op (B %s us/op): pair A / alone %s (target <= 1.15)\n' \
    "${sat[0]}" "${sat[2]}" "${sat[1]}" "${sat[3]}" "$tc_sat" "$pair_sat" "$(us_per_op pairB-sat)" \
    "$(per_op_ratio "$pair_sat" "$tc_sat")"
  printf '      fixed rate of 4a (%s req/s):                     alone %s us/op, pair A %s us/op: pair A / alone %s (target <= 1.15)\n' \
    "$((2 * rate_writes))" "$tc_at_rate" "$pair_at_rate" "$(per_op_ratio "$pair_at_rate" "$tc_at_rate")"
  stop "$mc_pid"
  stop "$tc_pid"
  stop "$A_PID"
  stop "$B_PID"
fi
