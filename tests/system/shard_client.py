#!/usr/bin/python3
"""The application side of the shards system test (test_shards.py), run in
the client namespace with `ip netns exec`: keys spread over several
twincache pairs, either through nutcracker (pymemcache to the proxy) or by
pylibmc's ketama over the pairs' VIPs. Prints one JSON object per line on
stdout; times are time.monotonic() (the same clock in every namespace).

  shard_client.py TARGET write PREFIX COUNT
  shard_client.py TARGET verify PREFIX COUNT
  shard_client.py TARGET verify-keys          (keys on stdin, one a line)
  shard_client.py TARGET loop PREFIX COUNT [--interval-ms 20]

TARGET is proxy=HOST:PORT (nutcracker) or ketama=HOST:PORT,HOST:PORT,...
(pylibmc with ketama and the settings README "More than one pair" gives).
write, verify and verify-keys print what vip_client.py's do ("written",
"verified"). loop runs until stdin EOF or SIGTERM; every interval it reads
back the live keys acknowledged in the last RECENT ticks and one PREFIX key
(one multi-get, so both pairs), then sets live-PREFIX:SEQ. One line a tick:
{"t":T,"ok":bool,"err":"..."(when not ok),"miss":[keys] (acknowledged or
preloaded keys that came back missing or wrong),"set":KEY (when that set
was acknowledged)}. Through nutcracker a pair that fails gives errors
(SERVER_ERROR); pylibmc's multi-get leaves that pair's keys out, so they
show as misses until the pair serves again.
"""

import collections
import signal
import sys
import threading
import time

from vip_client import BATCH, RECENT, emit, keys_of, value_of

# Seconds a client waits for a reply: longer than nutcracker's timeout (the
# generator's 400 ms), so the proxy answers a stuck request first.
TIMEOUT_S = 1.0


class ProxyClient:
    """pymemcache on nutcracker."""

    def __init__(self, spec):
        from pymemcache.client.base import Client
        host, port = spec.rsplit(":", 1)
        self.c = Client((host, int(port)), connect_timeout=TIMEOUT_S, timeout=TIMEOUT_S)

    def get_many(self, keys):
        return self.c.get_many(keys)

    def set_many(self, items):
        return self.c.set_many(items, noreply=False)

    def set(self, key, value):
        if not self.c.set(key, value, noreply=False):
            raise RuntimeError("set %s not stored" % key)

    def reset(self):
        self.c.close()


class KetamaClient:
    """pylibmc (libmemcached) with the libketama-compatible ring over the
    pairs' VIPs (ketama_weighted, as php-memcached's OPT_LIBKETAMA_COMPATIBLE)
    and the settings README "More than one pair" gives: a pair that fails is
    never removed from the ring (remove_failed 0) and is retried at the next
    request (retry_timeout 0: libmemcached counts it in whole seconds, so 1
    holds a pair disabled for up to 2 s after its VIP has moved), and no
    request waits longer than 400 ms (send/receive timeouts, in us) on a twin
    that died without a word."""

    BEHAVIORS = {"ketama_weighted": True, "remove_failed": 0, "retry_timeout": 0, "connect_timeout": 200,
                 "send_timeout": 400000, "receive_timeout": 400000}

    def __init__(self, spec):
        import pylibmc
        self.c = pylibmc.Client(spec.split(","), behaviors=self.BEHAVIORS)

    def get_many(self, keys):
        return self.c.get_multi(keys)

    def set_many(self, items):
        return self.c.set_multi(items)

    def set(self, key, value):
        if not self.c.set(key, value):
            raise RuntimeError("set %s not stored" % key)

    def reset(self):
        self.c.disconnect_all()


def client(target):
    kind, _, spec = target.partition("=")
    if kind == "proxy":
        return ProxyClient(spec)
    if kind == "ketama":
        return KetamaClient(spec)
    raise SystemExit("unknown target %r (proxy=HOST:PORT or ketama=HOST:PORT,...)" % target)


def write(c, prefix, count):
    keys = keys_of(prefix, count)
    start = time.monotonic()
    failed = 0
    for i in range(0, count, BATCH):
        failed += len(c.set_many({k: value_of(k) for k in keys[i:i + BATCH]}))
    emit({"event": "written", "count": count, "failed": failed, "seconds": round(time.monotonic() - start, 3)})
    return 0 if failed == 0 else 1


def verify_keys(c, keys):
    found = {}
    for i in range(0, len(keys), BATCH):
        found.update(c.get_many(keys[i:i + BATCH]))
    missing = [k for k in keys if k not in found]
    wrong = [k for k in keys if k in found and found[k] != value_of(k)]
    emit({"event": "verified", "count": len(keys), "missing": len(missing), "wrong": len(wrong),
          "examples": (missing + wrong)[:5]})
    return 0 if not missing and not wrong else 1


class Loop:
    def __init__(self, c, prefix, count, interval_s):
        self.c = c
        self.prefix = prefix
        self.preload = keys_of(prefix, count)
        self.interval_s = interval_s
        self.seq = 0
        self.acked = collections.deque(maxlen=RECENT)
        self.stop = threading.Event()

    def tick(self):
        line = {"ok": True}
        errors = []
        wanted = list(self.acked) + [self.preload[self.seq % len(self.preload)]]
        try:
            found = self.c.get_many(wanted)
            miss = [k for k in wanted if found.get(k) != value_of(k)]
            if miss:
                line["miss"] = miss
        except Exception as e:  # any client error is what is being measured
            errors.append("get: %s: %s" % (type(e).__name__, e))
            self.c.reset()
        self.seq += 1
        live = "live-%s:%d" % (self.prefix, self.seq)
        try:
            self.c.set(live, value_of(live))
            self.acked.append(live)
            line["set"] = live
        except Exception as e:
            errors.append("set: %s: %s" % (type(e).__name__, e))
            self.c.reset()
        if errors:
            line["ok"] = False
            line["err"] = "; ".join(errors)
        line["t"] = round(time.monotonic(), 4)
        emit(line)

    def run(self):
        next_tick = time.monotonic()
        while not self.stop.is_set():
            self.tick()
            next_tick += self.interval_s
            self.stop.wait(max(0.0, next_tick - time.monotonic()))
            next_tick = max(next_tick, time.monotonic() - self.interval_s)
        return 0


def main(argv):
    if len(argv) >= 2 and argv[1] == "verify-keys":
        return verify_keys(client(argv[0]), sys.stdin.read().split())
    if len(argv) < 4 or argv[1] not in ("write", "verify", "loop"):
        print(__doc__, file=sys.stderr)
        return 2
    c = client(argv[0])
    mode, prefix, count = argv[1], argv[2], int(argv[3])
    if mode == "write":
        return write(c, prefix, count)
    if mode == "verify":
        return verify_keys(c, keys_of(prefix, count))
    opts = dict(zip(argv[4::2], argv[5::2]))
    loop = Loop(c, prefix, count, int(opts.get("--interval-ms", 20)) / 1000.0)
    signal.signal(signal.SIGTERM, lambda *_: loop.stop.set())
    threading.Thread(target=lambda: (sys.stdin.read(), loop.stop.set()), daemon=True).start()
    return loop.run()


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
