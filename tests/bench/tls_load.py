#!/usr/bin/python3
"""TLS load for tests/bench/tls.sh (memcaslap has no TLS): PROCESSES
processes, each on its own TLS connection to 127.0.0.1:PORT, send pipelined
batches of text commands, 90% get / 10% set of 100-byte values over 32-byte
keys (memcaslap's mix in run.sh), for SECONDS; prints the total operations
per second.

Usage: tls_load.py PORT CA_FILE SECONDS PROCESSES [BATCH]

Every key is set before the clock starts, so each reply's length is known and
read exactly; a reply that differs stops the run with an error (exit 1).
"""

import multiprocessing
import random
import socket
import ssl
import sys
import time

KEYS = 10000
VALUE = b"v" * 100
SET_SHARE = 0.1
# Seconds a connection may wait for one batch's replies.
REPLY_TIMEOUT = 30.0


def key(i):
    return b"tls-bench-%022d" % i  # 32 bytes


def connect(port, ca_file):
    context = ssl.create_default_context(cafile=ca_file)
    raw = socket.create_connection(("127.0.0.1", port), timeout=REPLY_TIMEOUT)
    raw.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return context.wrap_socket(raw, server_hostname="127.0.0.1")


def read_exact(sock, n):
    chunks, have = [], 0
    while have < n:
        chunk = sock.recv(min(1 << 20, n - have))
        if not chunk:
            raise ConnectionError("server closed the connection")
        chunks.append(chunk)
        have += len(chunk)
    return b"".join(chunks)


def preload(port, ca_file):
    # In chunks that each wait for their replies: memcached 1.6.18 -Z did not
    # answer a megabyte of pipelined `set ... noreply` + `mn` sent at once
    # (seen while writing this; the cause was not investigated).
    chunk = 100
    with connect(port, ca_file) as sock:
        for start in range(0, KEYS, chunk):
            sock.sendall(b"".join(b"set %s 0 0 %d\r\n%s\r\n" % (key(i), len(VALUE), VALUE)
                                  for i in range(start, start + chunk)))
            if read_exact(sock, 8 * chunk) != b"STORED\r\n" * chunk:
                raise RuntimeError("preload failed")


def worker(port, ca_file, seconds, batch, seed, result):
    rng = random.Random(seed)
    get_reply_len = len(b"VALUE %s 0 100\r\n" % key(0)) + len(VALUE) + 2 + len(b"END\r\n")
    ops = 0
    with connect(port, ca_file) as sock:
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            parts, expected = [], 0
            for _ in range(batch):
                k = key(rng.randrange(KEYS))
                if rng.random() < SET_SHARE:
                    parts.append(b"set %s 0 0 100\r\n%s\r\n" % (k, VALUE))
                    expected += len(b"STORED\r\n")
                else:
                    parts.append(b"get %s\r\n" % k)
                    expected += get_reply_len
            sock.sendall(b"".join(parts))
            reply = read_exact(sock, expected)
            if not reply.endswith((b"END\r\n", b"STORED\r\n")):
                raise RuntimeError("unexpected reply: %r" % reply[-80:])
            ops += batch
    result.put(ops)


def main(argv):
    if len(argv) not in (4, 5):
        print(__doc__, file=sys.stderr)
        return 2
    port, ca_file, seconds, processes = int(argv[0]), argv[1], float(argv[2]), int(argv[3])
    batch = int(argv[4]) if len(argv) == 5 else 16
    preload(port, ca_file)
    result = multiprocessing.Queue()
    procs = [multiprocessing.Process(target=worker, args=(port, ca_file, seconds, batch, i, result))
             for i in range(processes)]
    start = time.monotonic()
    for p in procs:
        p.start()
    total = sum(result.get(timeout=seconds + REPLY_TIMEOUT) for _ in procs)
    for p in procs:
        p.join(REPLY_TIMEOUT)
    elapsed = time.monotonic() - start
    if any(p.exitcode != 0 for p in procs):
        print("tls_load: a worker failed", file=sys.stderr)
        return 1
    print(int(total / elapsed))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
