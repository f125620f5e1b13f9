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
#   BENCH_SYSCALLS (default 1)  also count each server's syscalls per op over a
#                      run of mix (a): perf stat on the syscall tracepoints
#                      (linux-perf), else strace -c -f (see count_syscalls)
#   BENCH_SYSCALL_SECONDS (default 5)
#   BENCH_FORCE_STRACE=1  count with strace even when perf is there (to compare)
#   and the settings of tests/bench/lib.sh (BENCH_SECONDS, BENCH_THREADS,
#   BENCH_CONCURRENCY, REFERENCE_MEMCACHED); BENCH_DIVISION as in run.sh.
#
# The servers run as lib.sh starts them (-t 4 -m 1024 -c 4096). Each mix runs
# A B C A B C (memcached, twincached epoll, twincached io_uring) so drift in
# the machine's load hits all three alike. Server CPU per op is the server's
# utime + stime (/proc/PID/stat) over a run divided by memcaslap's ops, summed
# over both runs of a mix. Total runtime is about 18 x BENCH_SECONDS, plus the
# build and the syscall counts (3 x BENCH_SYSCALL_SECONDS).
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

ticks_us_per_op() {  # ticks_us_per_op NAME TAG: server CPU microseconds per op over the runs of mix TAG (from clock ticks, with kernel_share)
  awk -v hz="$(getconf CLK_TCK)" '{ t += $1; o += $2 }
    END { if (o > 0) printf "%.2f", t / hz * 1e6 / o; else print "n/a" }' "$workdir/$1.$2.cpu"
}

kernel_share() {  # kernel_share NAME TAG: the server's system time as a percentage of its CPU time in mix TAG
  awk '{ t += $1; s += $3 } END { if (t > 0) printf "%.0f %%", 100 * s / t; else print "n/a" }' "$workdir/$1.$2.cpu"
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
  mc_us=$(ticks_us_per_op memcached "$tag")
  ep_us=$(ticks_us_per_op twincached-epoll "$tag")
  ur_us=$(ticks_us_per_op twincached-uring "$tag")
  uring_vs_epoll=$(per_op_ratio "$ur_us" "$ep_us")
  echo "$label"
  printf '  ops/s      memcached %8s %8s  epoll %8s %8s  io_uring %8s %8s\n' "$a1" "$a2" "$b1" "$b2" "$c1" "$c2"
  printf '  ops/s      ratio epoll/memcached %s  io_uring/memcached %s  io_uring/epoll %s\n' \
    "$(ratio "$b1" "$b2" "$a1" "$a2")" "$(ratio "$c1" "$c2" "$a1" "$a2")" "$(ratio "$c1" "$c2" "$b1" "$b2")"
  printf '  CPU/op us  memcached %s  epoll %s  io_uring %s  (kernel share %s, %s, %s)\n' "$mc_us" "$ep_us" "$ur_us" \
    "$(kernel_share memcached "$tag")" "$(kernel_share twincached-epoll "$tag")" \
    "$(kernel_share twincached-uring "$tag")"
  printf '  CPU/op     ratio epoll/memcached %s  io_uring/memcached %s  io_uring/epoll %s\n' \
    "$(per_op_ratio "$ep_us" "$mc_us")" "$(per_op_ratio "$ur_us" "$mc_us")" "$uring_vs_epoll"
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

# Syscalls per op, counted over a run of mix (a) of BENCH_SYSCALL_SECONDS.
# perf stat on the kernel's syscall tracepoints counts without stopping the
# server; strace -c (ptrace) stops it at every syscall, which slows it enough
# that the client's next request is usually there before the server reads
# again, so strace undercounts the reads that fail with EAGAIN and the
# epoll_waits. strace is the fallback when perf or the tracepoints are missing.
syscall_events=(read recvfrom sendto sendmsg epoll_wait io_uring_enter)

perf_usable() {  # perf_usable: true when perf can count the syscall tracepoints of a process
  command -v perf >/dev/null && perf stat -e raw_syscalls:sys_enter -e syscalls:sys_exit_read --filter 'ret < 0' \
    -o /dev/null -- true >/dev/null 2>&1
}

# count_syscalls NAME PORT PID: runs mix (a) against PORT while counting the
# syscalls of the server PID; prints the ones made at least 0.01 times per op,
# with those that failed with EAGAIN (reads that found no data).
count_syscalls() {
  local name=$1 port=$2 pid=$3 out=$workdir/$1.syscalls events=() call ops
  local load=(memcaslap -s "127.0.0.1:$port" -F "$workdir/mix.cfg" -t "${BENCH_SYSCALL_SECONDS:-5}s" -T "$threads"
    -c "$concurrency")
  if [[ $syscall_counter == perf ]]; then
    events=(-e raw_syscalls:sys_enter)
    for call in "${syscall_events[@]}"; do
      events+=(-e "syscalls:sys_enter_$call")
      if [[ $call == read || $call == recvfrom ]]; then
        events+=(-e "syscalls:sys_exit_$call" --filter 'ret == -11')
      fi
    done
    perf stat -x , -o "$out" -p "$pid" "${events[@]}" -- "${load[@]}" >"$workdir/$name-syscalls.memcaslap" 2>&1 || true
  else
    strace -c -f -p "$pid" -o "$out" 2>"$out.stderr" &
    local strace_pid=$! tasks i
    tasks=$(find "/proc/$pid/task" -mindepth 1 -maxdepth 1 | wc -l)
    for ((i = 0; i < 100; i++)); do  # up to 5 s for strace to attach to every thread
      (($(grep -c 'attached' "$out.stderr" 2>/dev/null || true) >= tasks)) && break
      sleep 0.05
    done
    "${load[@]}" >"$workdir/$name-syscalls.memcaslap" 2>&1 || true
    kill -INT "$strace_pid"
    wait "$strace_pid" || true
  fi
  ops=$(awk '/^Run time:/ { for (i = 1; i < NF; i++) if ($i == "Ops:") print $(i + 1) }' \
    "$workdir/$name-syscalls.memcaslap")
  printf '  %-20s %s ops;' "$name" "${ops:-no}"
  if [[ $syscall_counter == perf ]]; then
    # perf stat -x , lines: count,unit,event,...; sys_exit_X counts only the EAGAIN returns (the filter).
    awk -F , -v ops="${ops:-0}" '$3 ~ /^(raw_)?syscalls:/ {
        n = $1 + 0; event = $3; sub(/^.*:sys_/, "", event)
        if (ops == 0) next
        if (event == "enter") { total = n / ops; next }
        call = event; sub(/^(enter|exit)_/, "", call)
        if (event ~ /^exit_/) { failed[call] = n / ops; next }
        per[call] = n / ops; order[++k] = call
      }
      END {
        for (i = 1; i <= k; i++) if (per[order[i]] >= 0.01) {
          printf " %s %.2f", order[i], per[order[i]]
          if (failed[order[i]] > 0) printf " (EAGAIN %.2f)", failed[order[i]]
        }
        printf "; all syscalls %.2f per op\n", total }' "$out"
  else
    # strace -c columns: % time, seconds, usecs/call, calls, [errors,] syscall
    awk -v ops="${ops:-0}" '$1 ~ /^[0-9.]+$/ && NF >= 5 && ops > 0 {
        if ($NF == "total") { total = $4 / ops; next }
        if ($4 / ops >= 0.01) printf " %s %.2f%s", $NF, $4 / ops, (NF == 6 ? sprintf(" (failed %.2f)", $5 / ops) : "")
      }
      END { printf "; all syscalls %.2f per op\n", total }' "$out"
  fi
}

if [[ ${BENCH_SYSCALLS:-1} != 0 ]]; then
  echo
  if [[ ${BENCH_FORCE_STRACE:-0} == 0 ]] && perf_usable; then
    syscall_counter=perf
    echo "Syscalls per op (perf stat on the syscall tracepoints), mix (a), ${BENCH_SYSCALL_SECONDS:-5} s each:"
  elif command -v strace >/dev/null; then
    syscall_counter=strace
    echo "Syscalls per op (strace -c -f, without perf or with BENCH_FORCE_STRACE=1; its stops undercount EAGAIN reads), mix (a):"
  else
    syscall_counter=
    echo "Neither perf nor strace: no syscall counts"
  fi
  if [[ -n $syscall_counter ]]; then
    count_syscalls memcached "$mc_port" "$mc_pid"
    count_syscalls twincached-epoll "$ep_port" "$ep_pid"
    count_syscalls twincached-uring "$ur_port" "$ur_pid"
  fi
fi
