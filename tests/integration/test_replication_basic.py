"""Replication basics: every kind of write on one node reaches the other.

Two twincached nodes name each other on loopback (pair.py). A write on either
node appears on the other with the same value, flags, exptime and cas unique
(docs/replication.md: the cas unique is the version, identical on both); cas
works across nodes; expiry and delayed flush_all happen on both.
"""

import time
import unittest

from harness import poll_until
from pair import Node, PairTestCase, free_ports, item, set_noreply_many, set_value


class ReplicationBasicTest(PairTestCase):

    def test_link_stats(self):
        a, b = self.pair.nodes
        sa, sb = self.pair.wait_quiet()
        for node, mine, theirs in ((a, sa, sb), (b, sb, sa)):
            self.assertEqual(mine["repl_state"], "connected", node.name)
            self.assertEqual(mine["repl_initial_sync"], "done", node.name)
            self.assertRegex(mine["repl_replid"], "^[0-9a-f]{32}$")
            self.assertEqual(mine["repl_peer_replid"], theirs["repl_replid"])
            self.assertNotIn(mine["repl_node_id"], ("0", theirs["repl_node_id"]))
            self.assertIn("127.0.0.1", mine["repl_peer"])
            for name in ("repl_offset", "repl_acked_offset", "repl_applied_offset",
                         "repl_lag_records", "repl_lag_ms", "repl_backlog_size",
                         "repl_backlog_used", "repl_full_syncs", "repl_partial_syncs",
                         "repl_conflicts", "repl_last_sync_duration_ms",
                         "repl_degraded_writes", "repl_tombstones", "repl_apply_errors"):
                self.assertRegex(mine.get(name, "missing"), r"^\d+$", "%s %s" % (node.name, name))
            self.assertEqual(mine["repl_backlog_size"], str(64 << 20))
            self.assertIn("repl_last_error", mine)
            self.assertRegex(node.log_text(), r"event=repl_link_up .*peer=127\.0\.0\.1")

    def test_set_both_ways(self):
        a, b = self.pair.nodes
        ca, cb = self.conn(a), self.conn(b)
        self.assertEqual(ca.request("set ab 17 0 5\r\nfromA\r\n"), b"STORED\r\n")
        self.assertEqual(cb.request("set ba 4294967295 0 5\r\nfromB\r\n"), b"STORED\r\n")
        on_a = self.wait_item(a, "ba", b"fromB")
        on_b = self.wait_item(b, "ab", b"fromA")
        # Same flags and the same cas unique on both nodes.
        self.assertEqual(item(a, "ab"), on_b)
        self.assertEqual(item(b, "ba"), on_a)
        self.assertEqual(on_b[0], 17)
        self.assertEqual(on_a[0], 4294967295)
        # Binary-safe values, noreply, and an overwrite.
        value = bytes(range(256)) * 4
        ca.send(b"set bin 0 0 %d noreply\r\n%s\r\n" % (len(value), value))
        self.wait_item(b, "bin", value)
        cb.request("set ab 0 0 3\r\nnew\r\n")
        self.wait_item(a, "ab", b"new")

    def test_large_value(self):
        a, b = self.pair.nodes
        value = bytes(i % 251 for i in range(1000 * 1000))
        self.assertEqual(self.conn(a).request(b"set big 0 0 %d\r\n%s\r\n" % (len(value), value)),
                         b"STORED\r\n")
        self.wait_item(b, "big", value)

    def test_delete(self):
        a, b = self.pair.nodes
        ca, cb = self.conn(a), self.conn(b)
        ca.request("set del1 0 0 1\r\nx\r\n")
        cb.request("set del2 0 0 1\r\ny\r\n")
        self.wait_item(b, "del1", b"x")
        self.wait_item(a, "del2", b"y")
        self.assertEqual(cb.request("delete del1\r\n"), b"DELETED\r\n")
        self.assertEqual(ca.request("md del2\r\n"), b"HD\r\n")
        self.wait_item(a, "del1", None)
        self.wait_item(b, "del2", None)
        self.wait_for(lambda: all(int(n.stats()["repl_tombstones"]) >= 2 for n in self.pair.nodes),
                      "tombstones counted on both nodes")
        # A key deleted on one node can be set again on either.
        ca.request("set del1 0 0 5\r\nagain\r\n")
        self.wait_item(b, "del1", b"again")

    def test_arithmetic_and_concatenation(self):
        a, b = self.pair.nodes
        ca, cb = self.conn(a), self.conn(b)
        ca.request("set n 0 0 2\r\n10\r\n")
        self.wait_item(b, "n", b"10")
        self.assertEqual(cb.request("incr n 5\r\n"), b"15\r\n")
        self.wait_item(a, "n", b"15")
        self.assertEqual(ca.request("decr n 20\r\n"), b"0\r\n")
        self.wait_item(b, "n", b"0")
        self.assertEqual(cb.request("ma n D7 MI\r\n"), b"HD\r\n")
        self.wait_item(a, "n", b"7")
        ca.request("set s 3 0 3\r\nmid\r\n")
        self.wait_item(b, "s", b"mid")
        self.assertEqual(cb.request("append s 0 0 4\r\n-end\r\n"), b"STORED\r\n")
        self.wait_item(a, "s", b"mid-end")
        self.assertEqual(ca.request("prepend s 0 0 6\r\nstart-\r\n"), b"STORED\r\n")
        on_b = self.wait_item(b, "s", b"start-mid-end")
        self.assertEqual(on_b[0], 3)  # append/prepend keep the flags
        self.assertEqual(item(a, "s"), on_b)

    def test_add_replace_meta_set(self):
        a, b = self.pair.nodes
        ca, cb = self.conn(a), self.conn(b)
        self.assertEqual(ca.request("add ad 0 0 1\r\n1\r\n"), b"STORED\r\n")
        self.wait_item(b, "ad", b"1")
        # Replicated: add on the other node now fails, replace succeeds.
        self.assertEqual(cb.request("add ad 0 0 1\r\n2\r\n"), b"NOT_STORED\r\n")
        self.assertEqual(cb.request("replace ad 0 0 1\r\n3\r\n"), b"STORED\r\n")
        self.wait_item(a, "ad", b"3")
        self.assertEqual(ca.request("ms msk 4 F9 T0\r\nmeta\r\n"), b"HD\r\n")
        on_b = self.wait_item(b, "msk", b"meta")
        self.assertEqual(on_b[0], 9)

    def test_exptime_identical_and_expiry_on_both(self):
        a, b = self.pair.nodes
        ca = self.conn(a)
        ca.request("set ttl-long 0 1000 1\r\nx\r\n")
        ca.request("set ttl-short 0 2 1\r\ny\r\n")
        self.wait_item(b, "ttl-long", b"x")
        dump_a, dump_b = a.dump(), b.dump()
        self.assertEqual(dump_a["ttl-long"], dump_b["ttl-long"])
        self.assertAlmostEqual(dump_a["ttl-long"][0], time.time() + 1000, delta=5)
        if "ttl-short" in dump_b:  # unless it expired already
            self.assertEqual(dump_a["ttl-short"], dump_b["ttl-short"])
        # Both nodes expire the item by absolute time.
        gone = poll_until(lambda: item(a, "ttl-short") is None and item(b, "ttl-short") is None, 6)
        self.assertTrue(gone, "ttl-short still on a node 6 s after a 2 s exptime: A %r B %r" %
                        (item(a, "ttl-short"), item(b, "ttl-short")))

    def test_touch_changes_exptime_keeps_cas(self):
        a, b = self.pair.nodes
        ca, cb = self.conn(a), self.conn(b)
        ca.request("set tch 5 100 3\r\nabc\r\n")
        before = self.wait_item(b, "tch", b"abc")
        self.assertEqual(cb.request("touch tch 5000\r\n"), b"TOUCHED\r\n")
        self.wait_for(lambda: a.dump().get("tch", (0,))[0] > time.time() + 4000,
                      "touch on B reaches A's exptime")
        self.assertEqual(a.dump()["tch"], b.dump()["tch"])
        self.assertEqual(item(a, "tch"), before)  # same value, flags and cas unique
        # gat on A back to no expiry.
        ca.send("gat 0 tch\r\n")
        self.assertEqual(ca.read_until(b"END\r\n"), b"VALUE tch 5 3\r\nabc\r\nEND\r\n")
        self.wait_for(lambda: b.dump().get("tch", (0,))[0] == -1, "gat 0 on A reaches B")
        self.assertEqual(item(b, "tch"), before)

    def test_cas_across_nodes(self):
        a, b = self.pair.nodes
        ca, cb = self.conn(a), self.conn(b)
        ca.request("set c1 0 0 2\r\nv1\r\n")
        self.wait_item(b, "c1", b"v1")
        cas = int(ca.get_values("gets c1")["c1"][0][4])
        self.assertEqual(int(cb.get_values("gets c1")["c1"][0][4]), cas)
        # Unchanged: cas with A's unique succeeds on B.
        self.assertEqual(cb.request("cas c1 0 0 2 %d\r\nv2\r\n" % cas), b"STORED\r\n")
        on_a = self.wait_item(a, "c1", b"v2")
        self.assertNotEqual(on_a[1], cas)
        # Changed on A: B's cas with the unique it had read is refused.
        cas2 = int(cb.get_values("gets c1")["c1"][0][4])
        ca.request("set c1 0 0 2\r\nv3\r\n")
        self.wait_item(b, "c1", b"v3")
        self.assertEqual(cb.request("cas c1 0 0 2 %d\r\nv4\r\n" % cas2), b"EXISTS\r\n")
        # Changed on B: A's cas with the unique it had read is refused, on A and on B.
        cas3 = int(ca.get_values("gets c1")["c1"][0][4])
        cb.request("set c1 0 0 2\r\nv5\r\n")
        self.wait_item(a, "c1", b"v5")
        self.assertEqual(ca.request("cas c1 0 0 2 %d\r\nv6\r\n" % cas3), b"EXISTS\r\n")
        self.assertEqual(cb.request("cas c1 0 0 2 %d\r\nv6\r\n" % cas3), b"EXISTS\r\n")
        # Deleted on A: cas on B answers NOT_FOUND.
        cas4 = int(cb.get_values("gets c1")["c1"][0][4])
        ca.request("delete c1\r\n")
        self.wait_item(b, "c1", None)
        self.assertEqual(cb.request("cas c1 0 0 2 %d\r\nv7\r\n" % cas4), b"NOT_FOUND\r\n")

    def test_bulk_writes_converge(self):
        a, b = self.pair.nodes
        set_noreply_many(a, {"bulk-a-%d" % i: b"%d" % i * 10 for i in range(3000)})
        set_noreply_many(b, {"bulk-b-%d" % i: b"%d" % i * 7 for i in range(3000)})
        dump = self.pair.assert_converged()
        self.assertTrue(all("bulk-%s-%d" % (side, i) in dump for side in "ab"
                            for i in range(3000)))


class ReplicationFlushTest(PairTestCase):
    """flush_all replicates, immediate and delayed (a pair of its own: it
    empties both nodes)."""

    def test_flush_all(self):
        a, b = self.pair.nodes
        ca, cb = self.conn(a), self.conn(b)
        set_noreply_many(a, {"fa%d" % i: b"x" for i in range(50)})
        set_noreply_many(b, {"fb%d" % i: b"y" for i in range(50)})
        self.pair.assert_converged()
        self.assertEqual(cb.request("flush_all\r\n"), b"OK\r\n")
        self.wait_for(lambda: not a.dump() and not b.dump(), "flush_all on B empties both nodes")
        # A write after the flush survives it on both nodes.
        ca.request("set after 0 0 1\r\nz\r\n")
        self.wait_item(b, "after", b"z")

        # Delayed: flush_all 2 on A invalidates, two seconds later, on both.
        set_noreply_many(b, {"fd%d" % i: b"w" for i in range(50)})
        self.pair.assert_converged()
        start = time.monotonic()
        self.assertEqual(ca.request("flush_all 2\r\n"), b"OK\r\n")
        on_b = item(b, "fd0")
        if time.monotonic() - start < 1.0:  # surely still before the flush time
            self.assertEqual(on_b and on_b[2], b"w")
        self.wait_for(lambda: not a.dump() and not b.dump(),
                      "delayed flush_all empties both nodes", timeout=8)
        self.assertGreaterEqual(time.monotonic() - start, 1.0, "flush_all 2 came early")
        cb.request("set later 0 0 1\r\nq\r\n")
        self.wait_item(a, "later", b"q")
        self.pair.assert_converged()


class TombstoneTtlTest(PairTestCase):
    """--repl-tombstone-ttl: a delete's tombstone is forgotten after it."""
    PAIR_ARGS = ("--repl-tombstone-ttl", "1")

    def test_tombstones_expire(self):
        a, b = self.pair.nodes
        with a.connect() as conn:
            for i in range(20):
                set_value(conn, "tomb%d" % i, b"x")
            self.pair.wait_quiet()
            for i in range(20):
                self.assertEqual(conn.request("delete tomb%d\r\n" % i), b"DELETED\r\n")
        self.wait_for(lambda: all(n.stats()["repl_tombstones"] == "20" for n in self.pair.nodes),
                      "20 tombstones on both nodes", timeout=5)
        self.wait_for(lambda: all(n.stats()["repl_tombstones"] == "0" for n in self.pair.nodes),
                      "tombstones forgotten after the 1 s TTL", timeout=10)
        self.assertIsNone(item(b, "tomb0"))


class EvictionNotShippedTest(PairTestCase):
    """Evictions are local (docs/replication.md): A, with 4 MB, evicts; B,
    with 64 MB, keeps every item it received."""

    def test_evictions_stay_local(self):
        pair = self.pair
        a, b = pair.nodes
        # Restart A with a small memory limit (its twin keeps running).
        a.kill()
        a.extra_args[a.extra_args.index("-m") + 1] = "4"
        a.start()
        self.wait_for(lambda: a.stats()["repl_initial_sync"] == "done", "A synced")
        count = 20000  # 20 MB of values
        set_noreply_many(a, ((("ev%d" % i), b"e" * 1000) for i in range(count)))
        pair.wait_quiet()
        stats_a, stats_b = a.stats(), b.stats()
        self.assertGreater(int(stats_a["evictions"]), 0, "A did not evict: the test proves nothing")
        self.assertEqual(int(stats_b["evictions"]), 0)
        self.assertEqual(len([k for k in b.dump() if k.startswith("ev")]), count,
                         "B lost items A evicted")
        self.assertLess(int(stats_a["curr_items"]), count)


class PeerPortFormTest(unittest.TestCase):
    """`-x HOST:PORT` names the twin's replication port; `-X PORT` the own."""

    def test_peer_with_port(self):
        port_a, port_b, repl_a, repl_b = free_ports(4)
        a = Node("A", port_a, repl_a, repl_b, [],
                 ["-x", "127.0.0.1:%d" % repl_b, "-X", str(repl_a)])
        b = Node("B", port_b, repl_b, repl_a, [], ["--peer", "127.0.0.1:%d" % repl_a,
                                                    "--repl-port", str(repl_b)])
        for node in (a, b):
            node.start()
            self.addCleanup(node.stop)
        with a.connect() as conn:
            set_value(conn, "form", b"ok")
        self.assertTrue(poll_until(lambda: item(b, "form"), 10),
                        "no link with -x HOST:PORT\n%s\n%s" % (a.log_tail(), b.log_tail()))


if __name__ == "__main__":
    unittest.main()
