"""Network cuts and stalls between the nodes (docs/replication.md, "Catching up").

Both nodes dial their twin through a TcpProxy (pair.py, proxied=True), so the
tests can reset every link (cut), refuse new ones, or freeze them (stall)
while clients keep writing on both nodes:

- a short cut: each node sends the other only what it missed, from its
  backlog (partial sync; no full sync);
- a cut longer than a small backlog: a full sync, and writes go on;
- a stall: the replication lag grows, then recovers when the path flows.
"""

import time
import unittest

from pair import LoadThread, PairTestCase, set_noreply_many, set_value

STEPS_DURING_CUT = 500  # writes per node while the link is down
SHARED_KEYS = 300  # keys both nodes write


def writer_for(node, prefix, value_size=20):
    """A LoadThread writing prefix-<i> (and deleting every 7th key it wrote),
    and setting and deleting keys shared-<j> that the other node's writer
    changes too (conflicts to settle after the cut)."""
    value = b"v" * value_size

    def step(conn, i):
        set_value(conn, "%s-%d" % (prefix, i % 2000), value + b"%d" % i)
        if i % 7 == 6:
            reply = conn.request("delete %s-%d\r\n" % (prefix, (i * 13) % 2000))
            if reply not in (b"DELETED\r\n", b"NOT_FOUND\r\n"):
                raise AssertionError("delete: %r" % reply)
        shared = "shared-%d" % ((i * 7) % SHARED_KEYS)
        if i % 5 == 4:
            reply = conn.request("delete %s\r\n" % shared)
            if reply not in (b"DELETED\r\n", b"NOT_FOUND\r\n"):
                raise AssertionError("delete: %r" % reply)
        else:
            set_value(conn, shared, b"%s-%d" % (node.name.encode(), i))
    return LoadThread(node, step, name="writer-%s" % prefix)


def clock_gap(seconds=0.005):
    """Lets `seconds` of wall time pass, so that writes on two unlinked nodes
    get versions (millisecond hybrid clocks) in the order they were made.
    Not a synchronisation: the nodes are not linked meanwhile."""
    end = time.time() + seconds
    while time.time() < end:
        time.sleep(0.001)


def counters(node):
    stats = node.stats()
    return int(stats["repl_full_syncs"]), int(stats["repl_partial_syncs"])


class CutTestCase(PairTestCase):
    PROXIED = True

    def start_writers(self, value_size=20):
        writers = [writer_for(n, "%s-%s" % (self.id().split(".")[-1], n.name), value_size)
                   for n in self.pair.nodes]
        for w in writers:
            w.start()
            self.addCleanup(w.stop)
        return writers

    def wait_steps(self, writers, steps, what):
        """Waits until every writer did `steps` more steps (or failed)."""
        targets = [w.steps + steps for w in writers]
        self.wait_for(lambda: all(w.steps >= t or w.error for w, t in zip(writers, targets)),
                      what, timeout=60)
        for w in writers:
            w.check()

    def cut_during_writes(self, writers, steps):
        pair = self.pair
        pair.cut()
        self.wait_for(lambda: all(n.stats()["repl_state"] != "connected" for n in pair.nodes),
                      "both nodes notice the cut")
        self.wait_steps(writers, steps, "writes continue during the cut")
        pair.restore()


class ShortCutTest(CutTestCase):

    def test_short_cut_resyncs_partially(self):
        pair = self.pair
        pair.wait_quiet()
        before = {n.name: counters(n) for n in pair.nodes}
        writers = self.start_writers()
        self.wait_steps(writers, 100, "writes before the cut")
        self.cut_during_writes(writers, STEPS_DURING_CUT)
        pair.wait_connected()
        self.wait_steps(writers, 100, "writes after the cut")
        for w in writers:
            w.stop()
        pair.assert_converged()
        for node in pair.nodes:
            full, partial = counters(node)
            self.assertEqual(full, before[node.name][0],
                             "node %s sent a full sync after a short cut\n%s" %
                             (node.name, pair.describe()))
            self.assertGreater(partial, before[node.name][1],
                               "node %s sent no partial sync\n%s" % (node.name, pair.describe()))
            self.assertIsNotNone(node.wait_log(r"event=repl_partial_sync_sent .*from=\d+", 0))
            self.assertIsNotNone(node.wait_log(r"event=repl_link_dropped .*reason=", 0))


class StallTest(CutTestCase):

    def test_stall_lag_grows_then_recovers(self):
        pair = self.pair
        a = pair.a
        pair.wait_quiet()
        writers = self.start_writers()
        pair.stall()
        lags = []

        def lag_grew():
            lags.append(int(a.stats()["repl_lag_records"]))
            return lags[-1] >= 200
        self.wait_for(lag_grew, "A's repl_lag_records grows while the link is stalled")
        self.assertTrue(all(w.is_alive() for w in writers), "writes blocked by a stalled link")
        pair.restore()
        self.wait_steps(writers, 100, "writes after the stall")
        for w in writers:
            w.stop()
        pair.assert_converged()
        sa, sb = pair.wait_quiet()
        self.assertEqual(sa["repl_lag_records"], "0")
        self.assertEqual(sb["repl_lag_records"], "0")
        print("\nA's repl_lag_records during the stall: max %d" % max(lags))


class LongCutTest(CutTestCase):
    PAIR_ARGS = ("--repl-backlog-size", "64k")

    def test_cut_past_small_backlog_resyncs_fully(self):
        pair = self.pair
        pair.wait_quiet()
        self.assertEqual(pair.a.stats()["repl_backlog_size"], str(64 << 10))
        before = {n.name: counters(n) for n in pair.nodes}
        writers = self.start_writers(value_size=200)
        # 1500 writes of > 200 bytes per node: far more than 64 KiB of records.
        self.cut_during_writes(writers, 1500)
        pair.wait_connected()
        self.wait_steps(writers, 300, "writes continue during and after the full sync")
        for w in writers:
            w.stop()
        pair.assert_converged()
        for node in pair.nodes:
            full, _ = counters(node)
            self.assertGreater(full, before[node.name][0],
                               "node %s sent no full sync after a long cut\n%s" %
                               (node.name, pair.describe()))
            self.assertIsNotNone(node.wait_log(r"event=repl_full_sync_sent .*items=\d+", 0))


class FlushDuringCutTest(CutTestCase):
    """flush_all on A while the link is cut: B's writes from before the flush
    (older versions) vanish on both nodes when the link is back; writes
    after the flush survive (docs/replication.md: flush_all is a version)."""

    def test_flush_beats_older_writes_from_the_cut(self):
        pair = self.pair
        a, b = pair.nodes
        set_noreply_many(a, {"pre%d" % i: b"p" for i in range(100)})
        pair.assert_converged()
        pair.cut()
        self.wait_for(lambda: all(n.stats()["repl_state"] != "connected" for n in pair.nodes),
                      "both nodes notice the cut")
        set_noreply_many(b, {"older%d" % i: b"o" for i in range(50)})
        # Without the link, B's writes and A's flush are ordered only by the
        # clock (versions are hybrid clocks in milliseconds, concurrent ones
        # tie-break by counter and node id): keep 5 ms of wall time between.
        clock_gap()
        with a.connect() as conn:
            self.assertEqual(conn.request("flush_all\r\n"), b"OK\r\n")
        set_noreply_many(a, {"newer-a%d" % i: b"n" for i in range(50)})
        clock_gap()
        set_noreply_many(b, {"newer-b%d" % i: b"m" for i in range(50)})
        pair.restore()
        dump = pair.assert_converged()
        self.assertEqual(sorted(k for k in dump if not k.startswith("newer")), [],
                         "writes older than the flush survived it")
        self.assertEqual(sorted(set("newer-%s%d" % (n, i) for n in "ab" for i in range(50)) -
                                set(dump)), [], "writes after the flush lost")


if __name__ == "__main__":
    unittest.main()
