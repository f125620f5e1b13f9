#!/usr/bin/python3
"""Stores N keys in a memcached-compatible server and reads them back with
pymemcache (Debian's python3-pymemcache): the README demo's real client.

usage: smoke.py HOST PORT [N] [--read-from PORT2]
  writes on PORT, reads back from PORT2 (default PORT) on the same HOST; with
  another node's port, reads are retried until replication delivered them
  (bounded: 10 s). Exit 0 when every key reads back intact.
"""
import sys
import time

from pymemcache.client.base import Client


def main():
    args = sys.argv[1:]
    read_port = None
    if "--read-from" in args:
        i = args.index("--read-from")
        read_port = int(args[i + 1])
        del args[i:i + 2]
    host, port = args[0], int(args[1])
    count = int(args[2]) if len(args) > 2 else 10000
    client = Client((host, port), connect_timeout=2, timeout=5)
    reader = Client((host, read_port or port), connect_timeout=2, timeout=5)
    items = {f"smoke:{i}": f"value-{i}-{'x' * (i % 100)}".encode() for i in range(count)}
    start = time.monotonic()
    keys = list(items)
    for i in range(0, count, 500):
        failed = client.set_many({k: items[k] for k in keys[i:i + 500]}, noreply=False)
        if failed:
            print(f"smoke: {len(failed)} keys not stored", file=sys.stderr)
            return 1
    wrote = time.monotonic() - start
    found = {}
    deadline = time.monotonic() + 10
    bad = keys
    while bad:
        for i in range(0, len(bad), 500):
            found.update(reader.get_many(bad[i:i + 500]))
        bad = [k for k in bad if found.get(k) != items[k]]
        if not bad or read_port is None or time.monotonic() > deadline:
            break
        time.sleep(0.05)  # replication is asynchronous: poll again, bounded by the deadline
    stats = reader.stats()
    where = f"from port {read_port}" if read_port else "from the same server"
    print(f"smoke: stored {count} keys on port {port} in {wrote:.2f}s, read back {count - len(bad)}/{count} "
          f"{where}; version {stats[b'version'].decode()}, curr_items {stats[b'curr_items']}")
    client.close()
    reader.close()
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
