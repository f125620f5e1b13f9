#!/bin/bash
# Client TLS throughput: Debian's memcached -Z vs twincached -Z, the same
# certificate and the same load (tls_load.py: pipelined batches of 90% get /
# 10% set of 100-byte values over TLS; memcaslap has no TLS).
#
# Usage: tests/bench/tls.sh [path/to/twincached]
#   BENCH_SECONDS (default 10)   length of each run
#   BENCH_PROCESSES (default 4)  load processes, one TLS connection each
#   BENCH_BATCH (default 16)     commands per pipelined batch
#   REFERENCE_MEMCACHED (default /usr/bin/memcached)
# Runs A B A B (memcached, twincached, ...) so drift in the machine's load
# hits both alike, and prints the mean of each and their ratio. The
# certificate is made at run time with the openssl command. The load is
# Python: on a small machine it can be what limits both servers, so the
# ratio is an upper bound on the gap, not a measure of the ceiling.
set -euo pipefail

# shellcheck source=SCRIPTDIR/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh" "$@"
processes=${BENCH_PROCESSES:-4}
batch=${BENCH_BATCH:-16}
load=$repo_root/tests/bench/tls_load.py

openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 1 \
  -keyout "$workdir/key.pem" -out "$workdir/cert.pem" -subj /CN=127.0.0.1 \
  -addext subjectAltName=IP:127.0.0.1 2>/dev/null
tls_args=(-Z -o "ssl_chain_cert=$workdir/cert.pem,ssl_key=$workdir/key.pem")

read -r memcached_port twincached_port < <(free_ports 2)
start_server memcached "$memcached" "$memcached_port" "${tls_args[@]}"
start_server twincached "$twincached" "$twincached_port" "${tls_args[@]}"

run() {  # run PORT: ops/s of one load run, or "error"
  /usr/bin/python3 "$load" "$1" "$workdir/cert.pem" "$seconds" "$processes" "$batch" || echo error
}

a1=$(run "$memcached_port")
b1=$(run "$twincached_port")
a2=$(run "$memcached_port")
b2=$(run "$twincached_port")
echo "$bench_name: TLS ops/s, $processes connections, batches of $batch, ${seconds}s runs"
echo "  memcached -Z : $a1 $a2"
echo "  twincached -Z: $b1 $b2"
echo "  twincached/memcached: $(ratio "$b1" "$b2" "$a1" "$a2")"
