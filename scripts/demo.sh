#!/usr/bin/env bash
# README's first command: installs, builds, starts twincached on
# 127.0.0.1:11211 in the foreground, and has a real memcached client
# (pymemcache) store and read back 10,000 keys. Ctrl-C stops the daemon.
set -euo pipefail
cd "$(dirname "$0")/.."
port=${PORT:-11211}

bash scripts/install-deps.sh
cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build build --target twincached -j"${JOBS:-2}"

build/daemon/twincached -l 127.0.0.1 -p "$port" -m 64 -t 4 &
daemon=$!
trap 'kill "$daemon" 2>/dev/null; wait "$daemon" 2>/dev/null || true' EXIT
for _ in $(seq 100); do
  if echo version | nc -q 1 127.0.0.1 "$port" 2>/dev/null | grep -q '^VERSION'; then break; fi
  kill -0 "$daemon" 2>/dev/null || { echo "demo: twincached did not start" >&2; exit 1; }
  sleep 0.1
done
/usr/bin/python3 scripts/smoke.py 127.0.0.1 "$port" 10000
echo "demo: twincached is serving 127.0.0.1:$port (try: echo stats | nc -q 1 127.0.0.1 $port); Ctrl-C to stop"
if [[ -n ${DEMO_EXIT:-} ]]; then exit 0; fi
wait "$daemon"
