#!/bin/bash
# Throughput comparison: Debian's memcached vs twincached, driven by memcaslap
# (libmemcached-tools) over loopback.
#
# Usage: tests/bench/run.sh [path/to/twincached]
#   The binary defaults to $TWINCACHED, then build/daemon/twincached.
#   BENCH_SECONDS (default 10)  length of each memcaslap run
#   BENCH_THREADS (default 2)   memcaslap -T
#   BENCH_CONCURRENCY (default 64) memcaslap -c
#   BENCH_DIVISION (default 20) keys per multi-get in the pipelined mix
#   REFERENCE_MEMCACHED (default /usr/bin/memcached)
# Passing /usr/bin/memcached as the binary compares memcached with itself,
# which shows the noise of the measurement.
#
# Both servers run with the same -t 4 -m 1024 on free loopback ports. Each mix
# runs A B A B (memcached, twincached, memcached, twincached) so drift in the
# machine's load hits both alike; the ratio uses the mean of each pair.
# Mixes: (a) 90% get / 10% set of 100-byte values; (b) the same with gets
# batched into multi-gets of BENCH_DIVISION keys (memcaslap --division).
# Total runtime is about 8 x BENCH_SECONDS plus a few seconds.
set -euo pipefail

repo_root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
twincached=${1:-${TWINCACHED:-$repo_root/build/daemon/twincached}}
memcached=${REFERENCE_MEMCACHED:-/usr/bin/memcached}
seconds=${BENCH_SECONDS:-10}
threads=${BENCH_THREADS:-2}
concurrency=${BENCH_CONCURRENCY:-64}
division=${BENCH_DIVISION:-20}

for tool in memcaslap "$memcached" "$twincached"; do
  if ! command -v "$tool" >/dev/null; then
    echo "run.sh: $tool not found (memcaslap is in libmemcached-tools)" >&2
    exit 1
  fi
done

workdir=$(mktemp -d /tmp/twincache-bench.XXXXXX)
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

# memcaslap workload: 32-byte keys, 100-byte values, cmd 0 = set, 1 = get.
cat >"$workdir/mix.cfg" <<'EOF'
key
32 32 1
value
100 100 1
cmd
0 0.1
1 0.9
EOF

free_port() {
  /usr/bin/python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# start_server NAME BINARY: starts BINARY on a free port; sets REPLY_PID, REPLY_PORT.
start_server() {
  local name=$1 binary=$2 port extra=()
  port=$(free_port)
  if [[ $(basename "$binary") == memcached ]]; then
    extra=(-U 0)
    [[ $EUID -eq 0 ]] && extra+=(-u root)  # memcached refuses root without -u
  else
    extra=(--lenient-keys)  # memcaslap's keys start with eight 0x10 bytes, which memcached accepts
  fi
  "$binary" -p "$port" -l 127.0.0.1 -t 4 -m 1024 -c 4096 "${extra[@]}" \
    2>"$workdir/$name.stderr" &
  REPLY_PID=$!
  pids+=("$REPLY_PID")
  REPLY_PORT=$port
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
  echo "run.sh: $name ($binary) did not start on port $port:" >&2
  cat "$workdir/$name.stderr" >&2
  exit 1
}

cpu_ticks() {  # cpu_ticks PID: user + system CPU time of the process, in clock ticks
  awk '{ print $14 + $15 }' "/proc/$1/stat"
}

# tps PORT PID NAME [memcaslap args...]: runs memcaslap, prints its TPS (or
# "n/a"), and appends "CPU-ticks ops" of the server to $workdir/NAME.cpu.
tps() {
  local port=$1 pid=$2 name=$3 out value ticks_before
  shift 3
  out=$workdir/$name.memcaslap
  ticks_before=$(cpu_ticks "$pid")
  timeout $((seconds + 30)) memcaslap -s "127.0.0.1:$port" -F "$workdir/mix.cfg" \
    -t "${seconds}s" -T "$threads" -c "$concurrency" "$@" >"$out" 2>&1 || true
  # The summary line: "Run time: 10.0s Ops: 1234567 TPS: 123456 Net_rate: 17.9M/s".
  value=$(awk '/^Run time:/ { for (i = 1; i < NF; i++) if ($i == "TPS:") tps = $(i + 1) }
               END { if (tps ~ /^[0-9]+$/) print tps }' "$out")
  awk -v t="$(($(cpu_ticks "$pid") - ticks_before))" '/^Run time:/ {
         for (i = 1; i < NF; i++) if ($i == "Ops:") print t, $(i + 1) }' "$out" >>"$workdir/$name.cpu"
  if [[ -z $value ]]; then
    echo "run.sh: no TPS in memcaslap output for $name:" >&2
    tail -n 5 "$out" >&2
    value=n/a
  fi
  # Error replies count as operations in memcaslap's TPS; such a run is void.
  # (memcaslap's keys start with eight 0x10 bytes, so a server that rejects
  # control characters in keys answers every set with CLIENT_ERROR: twincached
  # runs with --lenient-keys here.)
  if grep -q -E 'ERROR' "$out"; then
    echo "run.sh: $name answered memcaslap with errors ($(grep -c -E 'ERROR' "$out") lines), e.g.:" >&2
    grep -m 1 -E 'ERROR' "$out" >&2
    value=error
  fi
  echo "$value"
}

rss_kb() {  # rss_kb PID FIELD: VmRSS or VmHWM in KiB
  awk -v field="$2:" '$1 == field { print $2 }' "/proc/$1/status"
}

ratio() {  # ratio B1 B2 A1 A2: mean(B)/mean(A), or n/a
  awk -v b1="$1" -v b2="$2" -v a1="$3" -v a2="$4" 'BEGIN {
    if (a1 !~ /^[0-9]+$/ || a2 !~ /^[0-9]+$/ || b1 !~ /^[0-9]+$/ || b2 !~ /^[0-9]+$/ || a1 + a2 == 0)
      print "n/a"; else printf "%.3f\n", (b1 + b2) / (a1 + a2) }'
}

start_server memcached "$memcached"
mc_pid=$REPLY_PID mc_port=$REPLY_PORT
start_server twincached "$twincached"
tc_pid=$REPLY_PID tc_port=$REPLY_PORT

echo "memcached:  $memcached ($("$memcached" --version 2>&1 | head -n 1)) port $mc_port"
echo "twincached: $twincached ($("$twincached" --version 2>&1 | head -n 1)) port $tc_port"
echo "memcaslap: -T $threads -c $concurrency -t ${seconds}s, 32-byte keys, 100-byte values"
echo

run_mix() {  # run_mix LABEL [memcaslap args...]
  local label=$1 a1 b1 a2 b2
  shift
  a1=$(tps "$mc_port" "$mc_pid" memcached "$@")
  b1=$(tps "$tc_port" "$tc_pid" twincached "$@")
  a2=$(tps "$mc_port" "$mc_pid" memcached "$@")
  b2=$(tps "$tc_port" "$tc_pid" twincached "$@")
  printf '%-28s memcached %8s %8s  twincached %8s %8s  ratio twincached/memcached %s\n' \
    "$label" "$a1" "$a2" "$b1" "$b2" "$(ratio "$b1" "$b2" "$a1" "$a2")"
}

echo "ops/s (TPS) of each run, A B A B:"
run_mix "(a) 90/10 get/set"
run_mix "(b) multi-get of $division" --division="$division"
echo
printf 'peak RSS (VmHWM): memcached %s KiB, twincached %s KiB\n' \
  "$(rss_kb "$mc_pid" VmHWM)" "$(rss_kb "$tc_pid" VmHWM)"
printf 'current RSS (VmRSS): memcached %s KiB, twincached %s KiB\n' \
  "$(rss_kb "$mc_pid" VmRSS)" "$(rss_kb "$tc_pid" VmRSS)"
# Server CPU per operation over all runs: on a small machine where memcaslap
# competes for the same cores, this shows efficiency better than ops/s.
us_per_op() {  # us_per_op NAME
  awk -v hz="$(getconf CLK_TCK)" '{ t += $1; o += $2 } END { if (o > 0) printf "%.2f", t / hz * 1e6 / o; else print "n/a" }' \
    "$workdir/$1.cpu"
}
mc_us=$(us_per_op memcached)
tc_us=$(us_per_op twincached)
printf 'server CPU per op: memcached %s us, twincached %s us, ratio memcached/twincached %s\n' "$mc_us" "$tc_us" \
  "$(awk -v a="$mc_us" -v b="$tc_us" 'BEGIN { if (b > 0) printf "%.3f", a / b; else print "n/a" }')"
