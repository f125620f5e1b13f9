#!/usr/bin/env bash
# README's first command: installs, builds, and starts a replicating pair of
# twincached on loopback in the foreground:
#   node A: 127.0.0.1:11211 (replication 11212), node B: 127.0.0.1:11221 (replication 11222).
# A real memcached client (pymemcache) stores 10,000 keys on A and reads them
# all back from B. Ctrl-C stops both.
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/install-deps.sh
cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build build --target twincached -j"${JOBS:-2}"

pids=()
trap 'kill "${pids[@]}" 2>/dev/null; wait 2>/dev/null || true' EXIT
build/daemon/twincached -l 127.0.0.1 -p 11211 -X 11212:11222 -x 127.0.0.1 -m 64 &
pids+=($!)
build/daemon/twincached -l 127.0.0.1 -p 11221 -X 11222:11212 -x 127.0.0.1 -m 64 &
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
