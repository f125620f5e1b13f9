"""Memory limit: writing twice -m of data evicts old items and bounds RSS.

Starts the server with -m 64, writes 2 x 64 MB of 100-byte values with
pipelined noreply sets over one raw socket, then checks that items were
evicted (LRU), the most recently written keys are all readable, stats
"bytes" stays within "limit_maxbytes", and the process RSS stays within
1.3 x 64 MB. With -M the same writes fail with "SERVER_ERROR out of memory
storing object" once memory is full, and nothing is evicted.
"""

import select
import socket
import time
import unittest

import harness
from harness import Server, read_stats

MEMORY_MB = 64
VALUE_SIZE = 100
TOTAL_BYTES = 2 * MEMORY_MB * 1024 * 1024
KEYS = TOTAL_BYTES // VALUE_SIZE
RECENT = 1000
RSS_FACTOR = 1.3
BATCH = 5000
WRITE_SECONDS = 90.0


def key(i):
    return b"mem:%08d" % i


def value(i):
    return (b"%07d" % i) * 14 + b"!!"  # 100 bytes, unique per key


class MemoryLimitTest(unittest.TestCase):

    def write_all(self, port):
        """Pipelines KEYS noreply sets; returns any bytes the server sent back
        (there should be none). Reads while writing so an unexpected reply
        cannot block the server."""
        sock = socket.create_connection(("127.0.0.1", port), timeout=10)
        sock.setblocking(False)
        replies = b""
        deadline = time.monotonic() + WRITE_SECONDS
        try:
            for start in range(0, KEYS, BATCH):
                chunk = memoryview(b"".join(
                    b"set %s 0 0 %d noreply\r\n%s\r\n" % (key(i), VALUE_SIZE, value(i))
                    for i in range(start, min(start + BATCH, KEYS))))
                sent = 0
                while sent < len(chunk):
                    self.assertLess(time.monotonic(), deadline, "writing took too long")
                    readable, writable, _ = select.select([sock], [sock], [], 1.0)
                    if readable:
                        data = sock.recv(65536)
                        self.assertTrue(data, "server closed the connection")
                        replies += data
                    if writable:
                        try:
                            sent += sock.send(chunk[sent:])
                        except BlockingIOError:
                            pass
            # Sync point: every set before "mn" has been processed.
            sock.sendall(b"mn\r\n")
            while not replies.endswith(b"MN\r\n"):
                self.assertLess(time.monotonic(), deadline, "no MN reply")
                readable, _, _ = select.select([sock], [], [], 1.0)
                if readable:
                    data = sock.recv(65536)
                    self.assertTrue(data, "server closed the connection")
                    replies += data
        finally:
            sock.close()
        return replies[:-len(b"MN\r\n")]

    def test_eviction_bounds_memory(self):
        with Server(["-m", str(MEMORY_MB)]) as srv:
            start = time.monotonic()
            unexpected = self.write_all(srv.port)
            elapsed = time.monotonic() - start
            self.assertEqual(unexpected[:200], b"", "replies to noreply sets")
            with srv.connect(timeout=10) as c:
                stats = read_stats(c)
                rss_kb = srv.rss_kb()
                missing = []
                for first in range(KEYS - RECENT, KEYS, 100):
                    ids = range(first, min(first + 100, KEYS))
                    got = c.get_values(b"get " + b" ".join(key(i) for i in ids))
                    for i in ids:
                        block = got.get(key(i).decode())
                        if block is None or block[1] != value(i):
                            missing.append(i)
            print("wrote %d x %d-byte values in %.1fs (%.0f sets/s)" %
                  (KEYS, VALUE_SIZE, elapsed, KEYS / elapsed))
            print("curr_items=%s total_items=%s evictions=%s bytes=%s limit_maxbytes=%s" %
                  (stats.get("curr_items"), stats.get("total_items"), stats.get("evictions"),
                   stats.get("bytes"), stats.get("limit_maxbytes")))
            print("VmRSS=%d KiB (limit %d KiB), VmHWM=%d KiB" %
                  (rss_kb, RSS_FACTOR * MEMORY_MB * 1024, srv.peak_rss_kb()))
            self.assertEqual(int(stats["limit_maxbytes"]), MEMORY_MB * 1024 * 1024)
            self.assertGreater(int(stats["evictions"]), 0)
            self.assertLess(int(stats["curr_items"]), KEYS)
            self.assertLessEqual(int(stats["bytes"]), int(stats["limit_maxbytes"]))
            self.assertEqual(missing[:20], [], "%d of the last %d keys unreadable" %
                             (len(missing), RECENT))
            if not harness.SANITIZED:
                self.assertLessEqual(rss_kb, RSS_FACTOR * MEMORY_MB * 1024)
            self.assertTrue(srv.alive(), srv.stderr_text())


class NoEvictionTest(unittest.TestCase):
    """-M: when memory is full, stores fail instead of evicting."""

    def test_out_of_memory_instead_of_eviction(self):
        with Server(["-m", str(MEMORY_MB), "-M"]) as srv:
            with srv.connect(timeout=10) as c:
                stored = 0
                first_error = None
                deadline = time.monotonic() + WRITE_SECONDS
                for start in range(0, KEYS, BATCH):
                    self.assertLess(time.monotonic(), deadline, "writing took too long")
                    ids = range(start, min(start + BATCH, KEYS))
                    c.send(b"".join(b"set %s 0 0 %d\r\n%s\r\n" % (key(i), VALUE_SIZE, value(i))
                                    for i in ids))
                    for i in ids:
                        reply = c.read_line()
                        if reply == b"STORED\r\n":
                            stored += 1
                        elif first_error is None:
                            first_error = (i, reply)
                    if first_error is not None:
                        break
                stats = read_stats(c)
                settings = read_stats(c, "settings")
                got = c.get_values(b"get " + b" ".join(key(i) for i in range(100)))
            print("-M: stored %d values before %r; evictions=%s bytes=%s" %
                  (stored, first_error, stats["evictions"], stats["bytes"]))
            self.assertIsNotNone(first_error, "memory never ran out")
            self.assertEqual(first_error[1], b"SERVER_ERROR out of memory storing object\r\n")
            self.assertEqual(int(stats["evictions"]), 0)
            self.assertEqual(settings["evictions"], "off")
            self.assertLessEqual(int(stats["bytes"]), int(stats["limit_maxbytes"]))
            # The first items written are all still there.
            self.assertEqual(len(got), 100)
            self.assertTrue(srv.alive(), srv.stderr_text())


if __name__ == "__main__":
    unittest.main()
