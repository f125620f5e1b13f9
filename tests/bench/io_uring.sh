#!/bin/bash
# Asio's io_uring backend against its epoll reactor: Debian's memcached,
# twincached as built (epoll) and twincached built with -DTWINCACHE_IO_URING=ON,
# driven by the same memcaslap mixes as tests/bench/run.sh over loopback, in
# one run. Prints ops/s and server CPU per op side by side, as ratios to
# memcached and io_uring/epoll, and whether io_uring meets the adoption
# threshold: at least 10 % less server CPU per op than epoll.
#
# Usage: tests/bench/io_uring.sh [path/to/twincached]
#   The epoll binary defaults to $TWINCACHED, then build/daemon/twincached.
#   TWINCACHED_URING   the io_uring binary; by default this script configures
#                      build-uring (-DTWINCACHE_IO_URING=ON, RelWithDebInfo)
#                      and builds twincached there under the shared build lock
#                      (flock /work/.build.lock, or $BUILD_LOCK) with -j2
#   BENCH_STRACE (default 1)  also count each twincached's syscalls per request
#                      with strace -c -f over a short run of mix (a)
#   BENCH_STRACE_SECONDS (default 3)
#   and the settings of tests/bench/lib.sh (BENCH_SECONDS, BENCH_THREADS,
#   BENCH_CONCURRENCY, REFERENCE_MEMCACHED); BENCH_DIVISION as in run.sh.
#
# The servers run as lib.sh starts them (-t 4 -m 1024 -c 4096). Each mix runs
# A B C A B C (memcached, twincached epoll, twincached io_uring) so drift in
# the machine's load hits all three alike. Server CPU per op is the server's
# utime + stime (/proc/PID/stat) over a run divided by memcaslap's ops, summed
# over both runs of a mix. Total runtime is about 18 x BENCH_SECONDS, plus the
# build and the strace runs.
set -euo pipefail

repo_root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
uring_build=$repo_root/build-uring
if [[ -z ${TWINCACHED_URING:-} ]]; then
  lock=${BUILD_LOCK:-/work/.build.lock}
  if [[ ! -f $uring_build/CMakeCache.txt ]]; then
    cmake -S "$repo_root" -B "$uring_build" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DTWINCACHE_IO_URING=ON \
      -DTWINCACHE_TESTS=OFF >"$repo_root/build-uring.configure.log" 2>&1 ||
      {
        echo "io_uring.sh: configuring $uring_build failed:" >&2
        tail -n 20 "$repo_root/build-uring.configure.log" >&2
        exit 1
      }
    rm -f "$repo_root/build-uring.configure.log"
  fi
  if ! grep -q '^TWINCACHE_IO_URING:BOOL=ON' "$uring_build/CMakeCache.txt"; then
    echo "io_uring.sh: $uring_build is not configured with -DTWINCACHE_IO_URING=ON" >&2
    exit 1
  fi
  echo "building twincached in $uring_build (io_uring) under $lock ..."
  flock "$lock" cmake --build "$uring_build" -j2 --target twincached >/dev/null
  TWINCACHED_URING=$uring_build/daemon/twincached
fi

# shellcheck source=SCRIPTDIR/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh" "$@"
division=${BENCH_DIVISION:-20}
twincached_uring=$TWINCACHED_URING
if [[ ! -x $twincached_uring ]]; then
  echo "$bench_name: $twincached_uring not found" >&2
  exit 1
fi
if [[ $(realpath "$twincached_uring") == $(realpath "$twincached") ]]; then
  echo "$bench_name: the epoll and the io_uring binary are the same file ($twincached)" >&2
  exit 1
fi

mix "$workdir/mix.cfg" 0.1 0.9

cpu_ticks() {  # cpu_ticks PID: user + system CPU time of the process, in clock ticks
  awk '{ print $14 + $15 }' "/proc/$1/stat"
}

system_ticks() {  # system_ticks PID: system (kernel) CPU time of the process, in clock ticks
  awk '{ print $15 }' "/proc/$1/stat"
}

# tps_with_cpu PORT PID NAME TAG [memcaslap args...]: prints the TPS of a run
# of the 90/10 mix (lib.sh tps), and appends "CPU-ticks ops system-ticks" of
# the server PID to $workdir/NAME.TAG.cpu.
tps_with_cpu() {
  local port=$1 pid=$2 name=$3 tag=$4 value ticks_before system_before
  shift 4
  ticks_before=$(cpu_ticks "$pid")
  system_before=$(system_ticks "$pid")
  value=$(tps "$port" "$name" "$workdir/mix.cfg" "$@")
  awk -v t="$(($(cpu_ticks "$pid") - ticks_before))" -v s="$(($(system_ticks "$pid") - system_before))" \
    '/^Run time:/ { for (i = 1; i < NF; i++) if ($i == "Ops:") print t, $(i + 1), s }' \
    "$workdir/$name.memcaslap" >>"$workdir/$name.$tag.cpu"
  echo "$value"
}

us_per_op() {  # us_per_op NAME TAG: server CPU microseconds per op over the runs of mix TAG
  awk -v hz="$(getconf CLK_TCK)" '{ t += $1; o += $2 }
    END { if (o > 0) printf "%.2f", t / hz * 1e6 / o; else print "n/a" }' "$workdir/$1.$2.cpu"
}

kernel_share() {  # kernel_share NAME TAG: the server's system time as a percentage of its CPU time in mix TAG
  awk '{ t += $1; s += $3 } END { if (t > 0) printf "%.0f %%", 100 * s / t; else print "n/a" }' "$workdir/$1.$2.cpu"
}

quotient() {  # quotient A B: A / B to three places, n/a unless both are positive numbers
  awk -v a="$1" -v b="$2" 'BEGIN {
    if (a ~ /^[0-9.]+$/ && b ~ /^[0-9.]+$/ && a > 0 && b > 0) printf "%.3f", a / b; else print "n/a" }'
}

read -r mc_port ep_port ur_port <<<"$(free_ports 3)"
start_server memcached "$memcached" "$mc_port"
mc_pid=$REPLY_PID
start_server twincached-epoll "$twincached" "$ep_port"
ep_pid=$REPLY_PID
start_server twincached-uring "$twincached_uring" "$ur_port"
ur_pid=$REPLY_PID

echo "memcached:           $memcached ($("$memcached" --version 2>&1 | head -n 1)) port $mc_port"
echo "twincached epoll:    $twincached port $ep_port"
echo "twincached io_uring: $twincached_uring port $ur_port (liburing $(pkg-config --modversion liburing 2>/dev/null || echo '?'), kernel $(uname -r))"
echo "memcaslap: -T $threads -c $concurrency -t ${seconds}s, 32-byte keys, 100-byte values; servers -t 4 -m 1024"
echo

verdicts=()
run_mix() {  # run_mix TAG LABEL [memcaslap args...]
  local tag=$1 label=$2 a1 b1 c1 a2 b2 c2 mc_us ep_us ur_us uring_vs_epoll
  shift 2
  a1=$(tps_with_cpu "$mc_port" "$mc_pid" memcached "$tag" "$@")
  b1=$(tps_with_cpu "$ep_port" "$ep_pid" twincached-epoll "$tag" "$@")
  c1=$(tps_with_cpu "$ur_port" "$ur_pid" twincached-uring "$tag" "$@")
  a2=$(tps_with_cpu "$mc_port" "$mc_pid" memcached "$tag" "$@")
  b2=$(tps_with_cpu "$ep_port" "$ep_pid" twincached-epoll "$tag" "$@")
  c2=$(tps_with_cpu "$ur_port" "$ur_pid" twincached-uring "$tag" "$@")
  mc_us=$(us_per_op memcached "$tag")
  ep_us=$(us_per_op twincached-epoll "$tag")
  ur_us=$(us_per_op twincached-uring "$tag")
  uring_vs_epoll=$(quotient "$ur_us" "$ep_us")
  echo "$label"
  printf '  ops/s      memcached %8s %8s  epoll %8s %8s  io_uring %8s %8s\n' "$a1" "$a2" "$b1" "$b2" "$c1" "$c2"
  printf '  ops/s      ratio epoll/memcached %s  io_uring/memcached %s  io_uring/epoll %s\n' \
    "$(ratio "$b1" "$b2" "$a1" "$a2")" "$(ratio "$c1" "$c2" "$a1" "$a2")" "$(ratio "$c1" "$c2" "$b1" "$b2")"
  printf '  CPU/op us  memcached %s  epoll %s  io_uring %s  (kernel share %s, %s, %s)\n' "$mc_us" "$ep_us" "$ur_us" \
    "$(kernel_share memcached "$tag")" "$(kernel_share twincached-epoll "$tag")" \
    "$(kernel_share twincached-uring "$tag")"
  printf '  CPU/op     ratio epoll/memcached %s  io_uring/memcached %s  io_uring/epoll %s\n' \
    "$(quotient "$ep_us" "$mc_us")" "$(quotient "$ur_us" "$mc_us")" "$uring_vs_epoll"
  verdicts+=("$(awk -v label="$label" -v r="$uring_vs_epoll" 'BEGIN {
    if (r == "n/a") { printf "%s: no figure", label; exit }
    printf "%s: io_uring/epoll CPU per op %s, %s", label, r,
      (r <= 0.90 ? "meets the threshold" : "does not meet the threshold") }')")
}

echo "Each mix runs memcached, epoll, io_uring, twice (A B C A B C):"
run_mix a "(a) 90/10 get/set"
run_mix b "(b) multi-get of $division" --division="$division"
run_mix c "(c) 90/10, binary protocol" --binary
echo
echo "Adoption threshold: io_uring must use at least 10 % less server CPU per op than epoll (ratio <= 0.900)"
for verdict in "${verdicts[@]}"; do
  echo "  $verdict"
done

# strace_run NAME PORT PID: runs mix (a) for BENCH_STRACE_SECONDS against
# PORT with strace -c -f attached to the server PID; prints the syscalls that
# are at least 0.01 per op, as calls per op (strace slows the server, so the
# counts matter here, not the times).
strace_run() {
  local name=$1 port=$2 pid=$3 strace_pid ops i
  strace -c -f -p "$pid" -o "$workdir/$name.strace" 2>"$workdir/$name.strace.stderr" &
  strace_pid=$!
  for ((i = 0; i < 100; i++)); do  # up to 5 s for strace to attach to every thread
    grep -q 'Process .* attached' "$workdir/$name.strace.stderr" 2>/dev/null && break
    sleep 0.05
  done
  seconds=${BENCH_STRACE_SECONDS:-3} tps "$port" "$name-strace" "$workdir/mix.cfg" >/dev/null
  kill -INT "$strace_pid"
  wait "$strace_pid" || true
  ops=$(awk '/^Run time:/ { for (i = 1; i < NF; i++) if ($i == "Ops:") print $(i + 1) }' \
    "$workdir/$name-strace.memcaslap")
  echo "$name: $ops ops under strace; syscalls per op:"
  # strace -c columns: % time, seconds, usecs/call, calls, [errors,] syscall
  awk -v ops="${ops:-0}" '$1 ~ /^[0-9.]+$/ && NF >= 5 && $NF != "total" {
      errors = (NF == 6) ? $5 : 0
      if (ops > 0 && $4 / ops >= 0.01)
        printf "    %-16s %7.3f per op%s\n", $NF, $4 / ops, (errors > 0 ? sprintf(" (%.3f failed)", errors / ops) : "")
    }
    $NF == "total" && ops > 0 { printf "    %-16s %7.3f per op\n", "all", $4 / ops }' "$workdir/$name.strace"
}

if [[ ${BENCH_STRACE:-1} != 0 ]]; then
  echo
  if command -v strace >/dev/null; then
    echo "strace -c -f, mix (a), ${BENCH_STRACE_SECONDS:-3} s each:"
    strace_run twincached-epoll "$ep_port" "$ep_pid"
    strace_run twincached-uring "$ur_port" "$ur_pid"
  else
    echo "strace not installed: no syscall counts"
  fi
fi
