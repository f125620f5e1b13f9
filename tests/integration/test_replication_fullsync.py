"""Full sync of a million items to a fresh node while clients write on both
(docs/replication.md, "Catching up: partial and full sync").

Node A holds 1,000,000 items of 100-byte values (written with pipelined
noreply sets); node B starts empty. B's initial sync must bring it every
item while writer threads keep changing both nodes; at the end the dumps
(key, exptime, cas) match exactly and a sample of values does too. The test
prints the sync's throughput.
"""

import random
import time
import unittest

from harness import SANITIZED, poll_until
from pair import LoadThread, Pair, set_noreply_many, set_value

# A million items; a quarter under ASan (tests/run.sh's second pass), where
# every operation is several times slower and only correctness is checked.
ITEMS = 250 * 1000 if SANITIZED else 1000 * 1000
VALUE_SIZE = 100
SYNC_TIMEOUT = 60.0
VALUE_SAMPLE = 20000


def items():
    filler = b"x" * (VALUE_SIZE - 7)
    for i in range(ITEMS):
        yield "fs%07d" % i, b"%07d" % i + filler


class FullSyncTest(unittest.TestCase):

    def test_million_items_to_fresh_node(self):
        pair = Pair(["-m", "1024"]).start()
        self.addCleanup(pair.stop)
        pair.wait_connected()
        a, b = pair.nodes
        b.kill()

        started = time.monotonic()
        set_noreply_many(a, items())
        load_seconds = time.monotonic() - started
        self.assertEqual(int(a.stats()["curr_items"]), ITEMS)

        written = {}

        def writer(node):
            def step(conn, i):
                key = "live-%s-%d" % (node.name, i)
                set_value(conn, key, b"%d" % i)
                written[key] = b"%d" % i
                # Overwrite old items too, so the snapshot and the stream overlap.
                set_value(conn, "fs%07d" % ((i * 7919) % ITEMS),
                          b"new-%s-%d" % (node.name.encode(), i))
            return LoadThread(node, step, name="writer-%s" % node.name)

        started = time.monotonic()
        b.start()
        writers = [writer(a), writer(b)]
        for w in writers:
            w.start()
            self.addCleanup(w.stop)
        synced = poll_until(lambda: b.stats()["repl_initial_sync"] == "done", SYNC_TIMEOUT, 0.1)
        sync_seconds = time.monotonic() - started
        self.assertTrue(synced, "B not synced within %.0fs\n%s" % (SYNC_TIMEOUT, pair.describe()))
        steps = [w.steps for w in writers]
        for w in writers:
            w.stop()

        stats_a, stats_b = pair.wait_quiet()
        sample = random.Random(7).sample(range(ITEMS), VALUE_SAMPLE)
        dump = pair.assert_converged(value_keys=["fs%07d" % i for i in sample] + list(written))
        self.assertGreaterEqual(len(dump), ITEMS)
        payload_mb = ITEMS * VALUE_SIZE / 1e6
        print("\nloaded %d items on A in %.1fs (%.0f sets/s)" %
              (ITEMS, load_seconds, ITEMS / load_seconds))
        print("full sync to B: %.1fs from start to initial sync done: %.0f items/s, %.1f MB/s "
              "of values; writes meanwhile A %d B %d" %
              (sync_seconds, ITEMS / sync_seconds, payload_mb / sync_seconds, *steps))
        received_ms = int(stats_b["repl_last_sync_duration_ms"])
        print("B's repl_last_sync_duration_ms (the sync it received): %d ms" % received_ms)
        if received_ms:
            print("by it: %.0f items/s, %.1f MB/s of values" %
                  (ITEMS / (received_ms / 1e3), payload_mb / (received_ms / 1e3)))

class SyncRateTest(unittest.TestCase):
    """--repl-sync-rate bounds the full sync; writes that outrun a small
    backlog during the copy make it start again, and nothing is lost."""

    def restart_b_timed(self, pair, during=None):
        """Kills and restarts B; runs during() meanwhile; returns the seconds
        until B's initial sync is done."""
        b = pair.b
        b.kill()
        started = time.monotonic()
        b.start()
        if during:
            during()
        done = poll_until(lambda: b.stats()["repl_initial_sync"] == "done", 60, 0.05)
        self.assertTrue(done, "B not synced within 60 s\n%s" % pair.describe())
        return time.monotonic() - started

    def test_rate_limited_sync(self):
        pair = Pair(["--repl-sync-rate", "1"]).start()
        self.addCleanup(pair.stop)
        pair.wait_connected()
        set_noreply_many(pair.a, (("r%06d" % i, b"r" * 100) for i in range(30000)))
        pair.wait_quiet()
        seconds = self.restart_b_timed(pair)
        print("\n3 MB of values at --repl-sync-rate 1: synced in %.1fs" % seconds)
        self.assertGreater(seconds, 2.0, "--repl-sync-rate 1 (MB/s) not applied")
        self.assertLess(seconds, 20.0)
        pair.assert_converged(value_keys=["r%06d" % i for i in range(0, 30000, 97)])

    def test_backlog_overflow_restarts_the_copy(self):
        pair = Pair(["--repl-sync-rate", "1", "--repl-backlog-size", "64k"]).start()
        self.addCleanup(pair.stop)
        pair.wait_connected()
        a = pair.a
        set_noreply_many(a, (("o%06d" % i, b"o" * 100) for i in range(20000)))
        pair.wait_quiet()
        written = {}

        def write(conn, i):
            set_value(conn, "during-%d" % i, b"d" * 200)
            written["during-%d" % i] = b"d" * 200

        def overflow():
            # 1000 writes of 200 bytes (> 64 KiB of records) during the copy.
            writer = LoadThread(a, write, max_steps=1000)
            writer.start()
            writer.join(30)
            writer.stop()
        seconds = self.restart_b_timed(pair, overflow)
        self.assertIsNotNone(a.wait_log(r"event=repl_full_sync_restart", 0),
                             "the copy did not restart\n%s" % pair.describe())
        print("\nsync with a backlog overflow: %.1fs" % seconds)
        pair.assert_converged(value_keys=list(written) + ["o%06d" % i for i in range(0, 20000, 97)])


if __name__ == "__main__":
    unittest.main()
