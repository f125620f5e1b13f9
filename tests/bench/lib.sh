# shellcheck shell=bash
# What tests/bench/run.sh and tests/bench/pair.sh share. Sourced by them after
# `set -euo pipefail`, with the script's arguments:
#   source "$(dirname "${BASH_SOURCE[0]}")/lib.sh" "$@"
#
# Sets repo_root, bench_name (the script's file name, which starts its
# messages), the settings
#   twincached   argument 1, else $TWINCACHED, else build/daemon/twincached
#   memcached    $REFERENCE_MEMCACHED, else /usr/bin/memcached
#   yrmcds       $YRMCDSD, else /usr/sbin/yrmcdsd (Debian's yrmcds); empty when
#                missing or BENCH_YRMCDS=0, and the scripts leave its column out
#   seconds      $BENCH_SECONDS (default 10), length of each memcaslap run
#   threads      $BENCH_THREADS (default 2), memcaslap -T
#   concurrency  $BENCH_CONCURRENCY (default 64), memcaslap -c
# and workdir, a fresh directory removed at exit, after the servers started by
# start_server (their pids are in the array pids) got SIGTERM and ended.
# Exits 1 when memcaslap (libmemcached-tools) or a server binary is missing.

repo_root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
bench_name=$(basename "$0")
twincached=${1:-${TWINCACHED:-$repo_root/build/daemon/twincached}}
memcached=${REFERENCE_MEMCACHED:-/usr/bin/memcached}
seconds=${BENCH_SECONDS:-10}
threads=${BENCH_THREADS:-2}
concurrency=${BENCH_CONCURRENCY:-64}

yrmcds=${YRMCDSD:-/usr/sbin/yrmcdsd}
if [[ ${BENCH_YRMCDS:-1} == 0 || ! -x $yrmcds ]]; then
  yrmcds=
fi

for program in memcaslap "$memcached" "$twincached"; do
  if ! command -v "$program" >/dev/null; then
    echo "$bench_name: $program not found (memcaslap is in libmemcached-tools)" >&2
    exit 1
  fi
done

workdir=$(mktemp -d "/tmp/twincache-${bench_name%.sh}-bench.XXXXXX")
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

# mix FILE SET_SHARE GET_SHARE: writes a memcaslap workload file: 32-byte
# keys, 100-byte values, cmd 0 = set, 1 = get.
mix() {
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

# free_ports N: prints N distinct loopback ports that were free a moment ago.
free_ports() {
  /usr/bin/python3 -c '
import socket, sys
socks = [socket.socket() for _ in range(int(sys.argv[1]))]
for s in socks:
    s.bind(("127.0.0.1", 0))
print(" ".join(str(s.getsockname()[1]) for s in socks))' "$1"
}

# start_server NAME BINARY PORT [ARGS...]: starts BINARY on 127.0.0.1:PORT
# with -t 4 -m $memory_mb (default 1024) -c 4096 and ARGS, stderr appended to $workdir/NAME.stderr;
# sets REPLY_PID once it accepts connections (polled up to 10 s), else exits 1.
# A memcached binary (by its file name) gets -U 0; twincached gets no admin
# endpoint (nothing here reads it).
start_server() {
  local name=$1 binary=$2 port=$3 extra=()
  shift 3
  if [[ $(basename "$binary") == memcached ]]; then
    extra=(-U 0)
    [[ $EUID -eq 0 ]] && extra+=(-u root)  # memcached refuses root without -u
  else
    extra=(--admin-listen off)
  fi
  "$binary" -p "$port" -l 127.0.0.1 -t 4 -m "${memory_mb:-1024}" -c 4096 "${extra[@]}" "$@" \
    2>>"$workdir/$name.stderr" &
  REPLY_PID=$!
  pids+=("$REPLY_PID")
  wait_listening "$name" "$binary" "$port"
}

# start_yrmcds NAME PORT: starts yrmcds (the master: its virtual_ip is
# 127.0.0.1, which every host holds) on 127.0.0.1:PORT with 4 workers and a
# 1024 MiB memory_limit, the same as start_server gives the others; its
# configuration, temp_dir and log under $workdir. Sets REPLY_PID once it
# accepts connections (polled up to 10 s), else exits 1.
start_yrmcds() {
  local name=$1 port=$2 conf=$workdir/$1.conf repl_port
  repl_port=$(free_ports 1)
  mkdir -p "$workdir/$name.tmp"
  {
    if [[ $EUID -eq 0 ]] && id yrmcds >/dev/null 2>&1; then
      echo "user = yrmcds"
      echo "group = yrmcds"
      chown yrmcds "$workdir/$name.tmp"
      chmod 755 "$workdir"
    fi
    cat <<EOF
virtual_ip = 127.0.0.1
port = $port
repl_port = $repl_port
max_connections = 4096
temp_dir = "$workdir/$name.tmp"
log.threshold = warning
log.file = "$workdir/$name.tmp/yrmcds.log"
memory_limit = 1024M
workers = 4
EOF
  } >"$conf"
  "$yrmcds" -f "$conf" 2>>"$workdir/$name.stderr" &
  REPLY_PID=$!
  pids+=("$REPLY_PID")
  wait_listening "$name" "$yrmcds" "$port"
}

# wait_listening NAME BINARY PORT: returns once 127.0.0.1:PORT accepts
# connections (polled up to 10 s); exits 1 with the server's stderr when it
# does not or the process $REPLY_PID ended.
wait_listening() {
  local name=$1 binary=$2 port=$3 i
  for ((i = 0; i < 200; i++)); do  # up to 10 s
    if nc -z 127.0.0.1 "$port" 2>/dev/null; then
      return 0
    fi
    if ! kill -0 "$REPLY_PID" 2>/dev/null; then
      break
    fi
    sleep 0.05
  done
  echo "$bench_name: $name ($binary) did not start on port $port:" >&2
  cat "$workdir/$name.stderr" "$workdir/$name.tmp/yrmcds.log" 2>/dev/null >&2
  exit 1
}

# tps PORT NAME CONFIG [memcaslap args...]: runs memcaslap against
# 127.0.0.1:PORT for $seconds with workload file CONFIG, output in
# $workdir/NAME.memcaslap; prints its TPS, "n/a" when it gave none, or "error"
# when the server answered with errors (they count as operations in
# memcaslap's TPS, so such a run is void).
tps() {
  local port=$1 name=$2 config=$3 out value
  shift 3
  out=$workdir/$name.memcaslap
  timeout $((seconds + 30)) memcaslap -s "127.0.0.1:$port" -F "$config" \
    -t "${seconds}s" -T "$threads" -c "$concurrency" "$@" >"$out" 2>&1 || true
  # The summary line: "Run time: 10.0s Ops: 1234567 TPS: 123456 Net_rate: 17.9M/s".
  value=$(awk '/^Run time:/ { for (i = 1; i < NF; i++) if ($i == "TPS:") tps = $(i + 1) }
               END { if (tps ~ /^[0-9]+$/) print tps }' "$out")
  if [[ -z $value ]]; then
    echo "$bench_name: no TPS in memcaslap output for $name:" >&2
    tail -n 5 "$out" >&2
    value=n/a
  fi
  # (A server that rejects control characters in keys, as twincached does with
  # --strict-keys, answers every set of memcaslap's with CLIENT_ERROR.)
  if grep -q -E 'ERROR' "$out"; then
    echo "$bench_name: $name answered memcaslap with errors ($(grep -c -E 'ERROR' "$out") lines), e.g.:" >&2
    grep -m 1 -E 'ERROR' "$out" >&2
    value=error
  fi
  echo "$value"
}

# ratio B1 B2 A1 A2: prints mean(B)/mean(A), or n/a unless all are numbers.
ratio() {
  awk -v b1="$1" -v b2="$2" -v a1="$3" -v a2="$4" 'BEGIN {
    if (a1 !~ /^[0-9]+$/ || a2 !~ /^[0-9]+$/ || b1 !~ /^[0-9]+$/ || b2 !~ /^[0-9]+$/ || a1 + a2 == 0)
      print "n/a"; else printf "%.3f\n", (b1 + b2) / (a1 + a2) }'
}

# cpu_us PID: CPU time of the process's threads so far, in microseconds: the
# sum of the first field of /proc/PID/task/*/schedstat (time on a CPU in ns,
# the scheduler's own account; proc(5)). utime + stime of /proc/PID/stat
# say the same in clock ticks (10 ms), sampled at each tick: too coarse and
# too noisy for runs of a few seconds.
cpu_us() {
  cat /proc/"$1"/task/*/schedstat | awk '{ ns += $1 } END { printf "%d\n", ns / 1000 }'
}

# us_per_op NAME: server CPU per operation in microseconds over the lines
# "CPU-us ops" of $workdir/NAME.cpu (each a run), n/a when there are none.
us_per_op() {
  awk '{ t += $1; o += $2 } END { if (o > 0) printf "%.2f", t / o; else print "n/a" }' \
    "$workdir/$1.cpu" 2>/dev/null || echo n/a
}

# per_op_ratio US BASE_US: US / BASE_US to three places, n/a unless both are
# positive numbers (either may be us_per_op's "n/a").
per_op_ratio() {
  awk -v a="$1" -v b="$2" 'BEGIN {
    if (a ~ /^[0-9.]+$/ && b ~ /^[0-9.]+$/ && a > 0 && b > 0) printf "%.3f", a / b; else print "n/a" }'
}
