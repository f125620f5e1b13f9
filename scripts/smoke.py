#!/usr/bin/python3
"""Stores N keys in a memcached-compatible server and reads them back with
pymemcache (Debian's python3-pymemcache): the README demo's real client.

usage: smoke.py HOST PORT [N]   (exit 0 when every key reads back intact)
"""
import sys
import time

from pymemcache.client.base import Client


def main():
    host, port = sys.argv[1], int(sys.argv[2])
    count = int(sys.argv[3]) if len(sys.argv) > 3 else 10000
    client = Client((host, port), connect_timeout=2, timeout=5)
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
    for i in range(0, count, 500):
        found.update(client.get_many(keys[i:i + 500]))
    bad = [k for k in keys if found.get(k) != items[k]]
    stats = client.stats()
    print(f"smoke: stored {count} keys in {wrote:.2f}s, read back {count - len(bad)}/{count}; "
          f"server version {stats[b'version'].decode()}, curr_items {stats[b'curr_items']}")
    client.close()
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
