"""kill -9 and restart of a node under load (docs/replication.md, "Catching up"
and "Initial sync").

A restarted node comes back empty with a new replication id: it reports
repl_initial_sync pending until it has applied its twin's full sync, then
done, and ends with every item of its twin. A full sync merges, so the
restarted empty node never wipes its twin: every item the survivor held is
still there, with the same value, on both nodes.
"""

import time
import unittest

from harness import poll_until
from pair import LoadThread, Node, PairTestCase, free_ports, set_noreply_many, set_value

PRELOAD = 5000  # items per node before the kills
WRITER_MIN_STEPS = 200  # survivor writes at least this many while its twin is down


class KillRestartTest(PairTestCase):
    PROXIED = True  # so a restarted node can be held in initial sync

    def test_kill_and_restart_each_node_under_load(self):
        pair = self.pair
        before = {}
        for node in pair.nodes:
            values = {"pre-%s-%d" % (node.name, i): b"%s-%d" % (node.name.encode(), i) * 5
                      for i in range(PRELOAD)}
            set_noreply_many(node, values)
            before.update(values)
        pair.assert_converged()

        for victim in pair.nodes:
            survivor = pair.other(victim)
            full_syncs = int(survivor.stats()["repl_full_syncs"])
            written = {}

            def write(conn, i, survivor=survivor, written=written, victim=victim):
                key = "w-%s-%d" % (victim.name, i)
                set_value(conn, key, b"%d" % i)
                written[key] = b"%d" % i
            writer = LoadThread(survivor, write)
            writer.start()
            self.addCleanup(writer.stop)
            victim.kill()
            self.wait_for(lambda: survivor.stats()["repl_state"] != "connected",
                          "%s notices %s's death" % (survivor.name, victim.name))
            steps = writer.steps
            self.wait_for(lambda: writer.steps >= steps + WRITER_MIN_STEPS or writer.error,
                          "%s keeps serving writes with its twin down" % survivor.name)

            # Restart while the link is cut: held in initial sync, but serving.
            pair.cut()
            victim.start()
            stats = victim.stats()
            self.assertEqual(stats["repl_initial_sync"], "pending", victim.name)
            self.assertNotEqual(stats["repl_state"], "connected", victim.name)
            with victim.connect() as conn:
                self.assertIsNone(conn.get_values("get pre-A-0").get("pre-A-0"))
            pair.restore()
            self.wait_for(lambda: victim.stats()["repl_initial_sync"] == "done",
                          "%s finishes its initial sync" % victim.name)
            self.assertIsNotNone(victim.wait_log(r"event=repl_link_up", 0),
                                 "no repl_link_up logged by %s" % victim.name)

            steps = writer.steps
            self.wait_for(lambda: writer.steps >= steps + WRITER_MIN_STEPS or writer.error,
                          "%s keeps serving writes during the sync" % survivor.name)
            writer.stop()
            dump = pair.assert_converged()
            # Nothing the survivor held is lost, on either node.
            missing = [k for k in list(before) + list(written) if k not in dump]
            self.assertEqual(missing[:10], [], "%d keys lost\n%s" % (len(missing), pair.describe()))
            for node in pair.nodes:
                values = node.values(list(before) + list(written))
                wrong = [k for k, v in list(before.items()) + list(written.items())
                         if values.get(k, (0, 0, None))[2] != v]
                self.assertEqual(wrong[:10], [], "node %s: %d keys with wrong values" %
                                 (node.name, len(wrong)))
            before.update(written)
            # The survivor sent its new twin a full sync.
            self.assertGreater(int(survivor.stats()["repl_full_syncs"]), full_syncs)
            self.assertIsNotNone(survivor.wait_log(r"event=repl_full_sync_sent .*items=\d+", 0),
                                 "no repl_full_sync_sent logged by %s" % survivor.name)


class BothRestartEmptyTest(PairTestCase):

    def test_both_restarted_empty_serve_at_once(self):
        # Both nodes restart empty: each sees in the other's HELLO that it is
        # empty and in initial sync, so both are synced without waiting for
        # the 30 s initial sync timeout.
        for node in self.pair.nodes:
            node.kill()
        for node in self.pair.nodes:
            node.start()
        started = time.monotonic()
        self.wait_for(lambda: all(n.stats()["repl_initial_sync"] == "done"
                                  for n in self.pair.nodes),
                      "both empty nodes finish initial sync", timeout=10)
        self.assertLess(time.monotonic() - started, 10)
        self.pair.wait_connected()
        with self.pair.a.connect() as conn:
            set_value(conn, "after-both", b"1")
        self.wait_item(self.pair.b, "after-both", b"1")


class TimeoutThenLinkTest(PairTestCase):
    """A restarted node that gave up waiting for its twin (initial sync
    timeout) and took writes alone still never wipes its twin when the link
    comes back: the full syncs merge both ways."""
    PROXIED = True
    PAIR_ARGS = ("--repl-initial-sync-timeout", "1")

    def test_timed_out_node_merges_on_link(self):
        pair = self.pair
        a, b = pair.nodes
        preload = {"keep-%d" % i: b"b%d" % i for i in range(1000)}
        set_noreply_many(b, preload)
        pair.assert_converged()
        a.kill()
        pair.cut()
        a.start()
        self.wait_for(lambda: a.stats()["repl_initial_sync"] == "done",
                      "A gives up its initial sync after 1 s", timeout=10)
        self.assertIsNotNone(a.wait_log(r"event=repl_initial_sync_timeout", 0))
        fresh = {"fresh-%d" % i: b"a%d" % i for i in range(100)}
        fresh.update({"keep-%d" % i: b"newer-on-A" for i in range(10)})
        set_noreply_many(a, fresh)
        pair.restore()
        dump = pair.assert_converged()
        expected = dict(preload)
        expected.update(fresh)
        for node in pair.nodes:
            values = node.values(list(expected))
            wrong = [k for k, v in expected.items() if values.get(k, (0, 0, None))[2] != v]
            self.assertEqual(wrong[:10], [], "node %s: %d wrong keys" % (node.name, len(wrong)))
        self.assertEqual(len(dump), len(expected))


class InitialSyncTimeoutTest(unittest.TestCase):

    def test_unreachable_peer_serves_after_timeout(self):
        port, repl_port, dead_port = free_ports(3)
        node = Node("A", port, repl_port, dead_port, ["--repl-initial-sync-timeout", "2"])
        node.start()
        self.addCleanup(node.stop)
        started = time.monotonic()
        stats = node.stats()
        self.assertEqual(stats["repl_initial_sync"], "pending")
        self.assertIn(stats["repl_state"], ("connecting", "disconnected"))
        with node.connect() as conn:  # clients are served while pending
            set_value(conn, "k", b"v")
            self.assertEqual(conn.get_values("get k")["k"][1], b"v")
        done = poll_until(lambda: node.stats()["repl_initial_sync"] == "done", 10)
        elapsed = time.monotonic() - started
        self.assertTrue(done, "initial sync still pending after 10 s:\n%s" % node.log_text())
        self.assertGreater(elapsed, 1.0, "initial sync timeout of 2 s ended after %.1fs" % elapsed)
        self.assertIsNotNone(node.wait_log(r"event=repl_initial_sync_timeout", 1),
                             node.log_text())
        # It keeps dialing the dead peer, with backoff, and stays alive.
        self.assertTrue(node.alive())
        self.assertIn(node.stats()["repl_state"], ("connecting", "disconnected"))


if __name__ == "__main__":
    unittest.main()
