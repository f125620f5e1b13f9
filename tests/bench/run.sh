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
# With Debian's yrmcds installed (/usr/sbin/yrmcdsd, or $YRMCDSD; BENCH_YRMCDS=0
# leaves it out), a third column: yrmcds as master with 4 workers, two runs of
# each mix after the A B A B.
# Mixes: (a) 90% get / 10% set of 100-byte values; (b) the same with gets
# batched into multi-gets of BENCH_DIVISION keys (memcaslap --division);
# (c) mix (a) over the binary protocol (memcaslap -B).
# Total runtime is about 12 x BENCH_SECONDS plus a few seconds.
set -euo pipefail

# shellcheck source=SCRIPTDIR/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh" "$@"
division=${BENCH_DIVISION:-20}

mix "$workdir/mix.cfg" 0.1 0.9

# tps_with_cpu PORT PID NAME [memcaslap args...]: prints the TPS of a run of
# the 90/10 mix (see tps), and appends "CPU-us ops" of the server PID to
# $workdir/NAME.cpu.
tps_with_cpu() {
  local port=$1 pid=$2 name=$3 value us_before
  shift 3
  us_before=$(cpu_us "$pid")
  value=$(tps "$port" "$name" "$workdir/mix.cfg" "$@")
  awk -v t="$(($(cpu_us "$pid") - us_before))" '/^Run time:/ {
         for (i = 1; i < NF; i++) if ($i == "Ops:") print t, $(i + 1) }' \
    "$workdir/$name.memcaslap" >>"$workdir/$name.cpu"
  echo "$value"
}

rss_kb() {  # rss_kb PID FIELD: VmRSS or VmHWM in KiB
  awk -v field="$2:" '$1 == field { print $2 }' "/proc/$1/status"
}

read -r mc_port tc_port <<<"$(free_ports 2)"
start_server memcached "$memcached" "$mc_port"
mc_pid=$REPLY_PID
start_server twincached "$twincached" "$tc_port"
tc_pid=$REPLY_PID
if [[ -n $yrmcds ]]; then
  yr_port=$(free_ports 1)
  start_yrmcds yrmcds "$yr_port"
  yr_pid=$REPLY_PID
fi

echo "memcached:  $memcached ($("$memcached" --version 2>&1 | head -n 1)) port $mc_port"
echo "twincached: $twincached ($("$twincached" --version 2>&1 | head -n 1)) port $tc_port"
if [[ -n $yrmcds ]]; then
  echo "yrmcds:     $yrmcds ($(dpkg-query -W -f='${Version}' yrmcds 2>/dev/null || echo '?')) port $yr_port, workers 4"
else
  echo "yrmcds:     not installed (apt-get install yrmcds), its column is left out"
fi
echo "memcaslap: -T $threads -c $concurrency -t ${seconds}s, 32-byte keys, 100-byte values"
echo

run_mix() {  # run_mix LABEL [memcaslap args...]
  local label=$1 a1 b1 a2 b2 c1 c2 third=""
  shift
  a1=$(tps_with_cpu "$mc_port" "$mc_pid" memcached "$@")
  b1=$(tps_with_cpu "$tc_port" "$tc_pid" twincached "$@")
  a2=$(tps_with_cpu "$mc_port" "$mc_pid" memcached "$@")
  b2=$(tps_with_cpu "$tc_port" "$tc_pid" twincached "$@")
  if [[ -n $yrmcds ]]; then  # A B C A B C would stretch the run; yrmcds runs twice after
    c1=$(tps_with_cpu "$yr_port" "$yr_pid" yrmcds "$@")
    c2=$(tps_with_cpu "$yr_port" "$yr_pid" yrmcds "$@")
    third=$(printf '  yrmcds %8s %8s  ratio yrmcds/memcached %s' "$c1" "$c2" "$(ratio "$c1" "$c2" "$a1" "$a2")")
  fi
  printf '%-28s memcached %8s %8s  twincached %8s %8s  ratio twincached/memcached %s%s\n' \
    "$label" "$a1" "$a2" "$b1" "$b2" "$(ratio "$b1" "$b2" "$a1" "$a2")" "$third"
}

echo "ops/s (TPS) of each run, A B A B:"
run_mix "(a) 90/10 get/set"
run_mix "(b) multi-get of $division" --division="$division"
run_mix "(c) 90/10, binary protocol" --binary
echo
rss_line() {  # rss_line FIELD LABEL
  local line
  line=$(printf '%s: memcached %s KiB, twincached %s KiB' "$2" "$(rss_kb "$mc_pid" "$1")" "$(rss_kb "$tc_pid" "$1")")
  [[ -n $yrmcds ]] && line+=$(printf ', yrmcds %s KiB' "$(rss_kb "$yr_pid" "$1")")
  echo "$line"
}
rss_line VmHWM "peak RSS (VmHWM)"
rss_line VmRSS "current RSS (VmRSS)"
# Server CPU per operation over all runs: on a small machine where memcaslap
# competes for the same cores, this shows efficiency better than ops/s.
mc_us=$(us_per_op memcached)
tc_us=$(us_per_op twincached)
line=$(printf 'server CPU per op: memcached %s us, twincached %s us (%s x memcached)' "$mc_us" "$tc_us" \
  "$(per_op_ratio "$tc_us" "$mc_us")")
if [[ -n $yrmcds ]]; then
  yr_us=$(us_per_op yrmcds)
  line+=$(printf ', yrmcds %s us (%s x memcached)' "$yr_us" "$(per_op_ratio "$yr_us" "$mc_us")")
fi
echo "$line"
