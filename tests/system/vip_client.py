#!/usr/bin/python3
"""The application side of the system test: a pymemcache client (Debian's
python3-pymemcache) on the VIP, run in the client namespace with
`ip netns exec`. Prints one JSON object per line on stdout; times are
time.monotonic() (CLOCK_MONOTONIC, the same clock in every process and
namespace of the host, so the test compares them with its own).

  vip_client.py write HOST PORT PREFIX COUNT
      stores COUNT keys PREFIX:00000.. (values from value_of) in batches;
      prints {"event":"written","count":N,"failed":F,"seconds":S}; exit 0
      when every key was stored.
  vip_client.py verify HOST PORT PREFIX COUNT
      reads them back; prints {"event":"verified","count":N,"missing":M,
      "wrong":W,"examples":[...]}; exit 0 when all are intact.
  vip_client.py verify-keys HOST PORT
      reads the keys named on stdin (one a line) back; prints the same
      "verified" object as verify.
  vip_client.py loop HOST PORT PREFIX COUNT [--interval-ms 20] [--timeout-ms 200]
      until SIGTERM/stdin EOF, every interval: on a new connection `stats`
      (to learn which daemon serves it: its pid), then reads back the live
      keys acknowledged in the last RECENT ticks (one multi-get) and one
      PREFIX key (round robin), then sets live:SEQ. One line per tick:
      {"t":T,"ok":bool,"pid":P,"err":"..."(when not ok),
      "miss":[keys] (keys that were acknowledged, or preloaded, but came
      back missing or wrong), "set":SEQ (when live:SEQ was acknowledged)}.
      T is when the tick's last operation ended. Reading the recent writes
      every tick shows how long an acknowledged write stays invisible after
      the VIP moves (the stale window), not just whether the last one is.
"""

import collections
import json
import signal
import sys
import threading
import time

from pymemcache.client.base import Client

BATCH = 500
# Acknowledged live keys read back every tick: 2 s of ticks at 20 ms, longer
# than any failover, so every write acknowledged before a fault is read on
# the node that serves after it.
RECENT = 100


def value_of(key):
    """The value stored under `key`: derived from the key, so any reader can
    check it without a copy of the data."""
    return ("v:%s:%s" % (key, "x" * (len(key) * 3))).encode()


def keys_of(prefix, count):
    return ["%s:%05d" % (prefix, i) for i in range(count)]


def emit(obj):
    sys.stdout.write(json.dumps(obj, separators=(",", ":")) + "\n")
    sys.stdout.flush()


def client(host, port, timeout_s):
    return Client((host, port), connect_timeout=timeout_s, timeout=timeout_s)


def write(host, port, prefix, count):
    c = client(host, port, 5)
    keys = keys_of(prefix, count)
    start = time.monotonic()
    failed = 0
    for i in range(0, count, BATCH):
        failed += len(c.set_many({k: value_of(k) for k in keys[i:i + BATCH]}, noreply=False))
    emit({"event": "written", "count": count, "failed": failed, "seconds": round(time.monotonic() - start, 3)})
    return 0 if failed == 0 else 1


def verify(host, port, prefix, count):
    return verify_keys(host, port, keys_of(prefix, count))


def verify_keys(host, port, keys):
    c = client(host, port, 5)
    count = len(keys)
    found = {}
    for i in range(0, count, BATCH):
        found.update(c.get_many(keys[i:i + BATCH]))
    missing = [k for k in keys if k not in found]
    wrong = [k for k in keys if k in found and found[k] != value_of(k)]
    emit({"event": "verified", "count": count, "missing": len(missing), "wrong": len(wrong),
          "examples": (missing + wrong)[:5]})
    return 0 if not missing and not wrong else 1


class Loop:
    def __init__(self, host, port, prefix, count, interval_s, timeout_s):
        self.c = client(host, port, timeout_s)
        self.preload = keys_of(prefix, count)
        self.interval_s = interval_s
        self.pid = None
        self.seq = 0
        self.acked = collections.deque(maxlen=RECENT)  # live keys whose set succeeded
        self.stop = threading.Event()

    def tick(self):
        line = {"ok": True, "pid": None}
        miss = []
        try:
            if self.c.sock is None or self.pid is None:
                self.pid = None
                self.pid = int(self.c.stats()[b"pid"])
            line["pid"] = self.pid
            key = self.preload[self.seq % len(self.preload)] if self.preload else None
            wanted = list(self.acked) + ([key] if key is not None else [])
            if wanted:
                found = self.c.get_many(wanted)
                miss += [k for k in wanted if found.get(k) != value_of(k)]
            self.seq += 1
            live = "live:%d" % self.seq
            self.c.set(live, value_of(live), noreply=False)
            self.acked.append(live)
            line["set"] = self.seq
        except Exception as e:  # any client error is what is being measured
            line["ok"] = False
            line["err"] = "%s: %s" % (type(e).__name__, e)
            self.pid = None
            self.c.close()
        if miss:
            line["miss"] = miss
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
    if len(argv) == 3 and argv[0] == "verify-keys":
        return verify_keys(argv[1], int(argv[2]), sys.stdin.read().split())
    if len(argv) < 5 or argv[0] not in ("write", "verify", "loop"):
        print(__doc__, file=sys.stderr)
        return 2
    mode, host, port, prefix, count = argv[0], argv[1], int(argv[2]), argv[3], int(argv[4])
    if mode == "write":
        return write(host, port, prefix, count)
    if mode == "verify":
        return verify(host, port, prefix, count)
    opts = dict(zip(argv[5::2], argv[6::2]))
    loop = Loop(host, port, prefix, count, int(opts.get("--interval-ms", 20)) / 1000.0,
                int(opts.get("--timeout-ms", 200)) / 1000.0)
    signal.signal(signal.SIGTERM, lambda *_: loop.stop.set())
    # The test ends the loop by closing our stdin (or SIGTERM).
    threading.Thread(target=lambda: (sys.stdin.read(), loop.stop.set()), daemon=True).start()
    return loop.run()


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
