#!/usr/bin/env bash
# README's first command: installs, builds, and shows a twincache pair at work.
#
# As root where network namespaces can be made: the two-node demo
# (tests/system/demo.py). Node A (192.0.2.1) and node B (192.0.2.2) each run
# twincached and keepalived in a network namespace on a private bridge, with
# a client namespace (192.0.2.10); the VIP 192.0.2.100 starts on A. The client
# writes 10,000 keys through the VIP, A's daemon is killed with SIGKILL, the
# VIP moves to B and every key reads back through it. Everything is removed
# at the end; nothing is added to the host's own network namespace.
#
# Otherwise (not root, no namespaces): a replicating pair of twincached on
# loopback in the foreground, without keepalived:
#   node A: 127.0.0.1:11211 (replication 11212), node B: 127.0.0.1:11221 (replication 11222).
# A real memcached client (pymemcache) stores 10,000 keys on A and reads them
# all back from B. Ctrl-C stops both; DEMO_EXIT=1 stops them at once instead.
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/install-deps.sh
cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build build --target twincached twincache-check twincache-notify -j"${JOBS:-2}"

if [[ $(id -u) -eq 0 ]]; then
  status=0
  /usr/bin/python3 tests/system/demo.py || status=$?
  # 77: network namespaces cannot be created here; anything else is the demo's verdict.
  if ((status != 77)); then exit "$status"; fi
  echo "demo: falling back to a replicating pair on loopback, without keepalived"
else
  echo "demo: not root, so no two-node demo in network namespaces; a replicating pair on loopback instead"
fi

pids=()
trap 'kill "${pids[@]}" 2>/dev/null; wait 2>/dev/null || true' EXIT
build/daemon/twincached -l 127.0.0.1 -p 11211 -X 11212:11222 -x 127.0.0.1 -m 64 --admin-listen 127.0.0.1:11213 &
pids+=($!)
build/daemon/twincached -l 127.0.0.1 -p 11221 -X 11222:11212 -x 127.0.0.1 -m 64 --admin-listen 127.0.0.1:11223 &
pids+=($!)

# Both serve and have finished their initial sync with each other.
for port in 11211 11221; do
  for _ in $(seq 100); do
    if echo stats | nc -q 1 127.0.0.1 "$port" 2>/dev/null | grep -q 'repl_initial_sync done'; then break; fi
    sleep 0.1
  done
done
/usr/bin/python3 scripts/smoke.py 127.0.0.1 11211 10000 --read-from 11221
echo "demo: replicating pair on 127.0.0.1:11211 and 127.0.0.1:11221" \
  "(try: echo stats | nc -q 1 127.0.0.1 11221 | grep repl_); Ctrl-C to stop"
if [[ -n ${DEMO_EXIT:-} ]]; then exit 0; fi
wait
