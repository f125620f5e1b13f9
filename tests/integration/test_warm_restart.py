"""Warm restart (-e/--memory-file; docs/replication.md, "Warm restart").

A graceful stop (SIGTERM with -e, SIGUSR1, `shutdown graceful`) writes the
node's items, tombstones and replication identity to the memory file; the
next start loads it, consumes it, and asks the twin for a partial sync of
only the writes it missed: sets, overwrites, deletes, touches and flush_all
made on the twin while it was down all arrive, nothing deleted comes back,
and the twin counts a partial sync, not a full one. A backlog too small for
the downtime falls back to the full sync, with the same end state. kill -9
leaves no file (a cold start), and a corrupt, truncated, foreign or
other-version file is refused whole with one log line. A node without a
twin keeps its cache as memcached -e does.
"""

import hashlib
import os
import re
import shutil
import signal
import subprocess
import tempfile
import time
import unittest

import harness
from harness import http_json, poll_until, twincache_only
from pair import LINK_TIMEOUT, LoadThread, Pair, set_noreply_many, set_value

PRELOAD = 3000
WRITER_MIN_STEPS = 200  # the twin writes at least this many while the node is down
DIGEST = 32


def memory_file_args(directory, name):
    """-e PATH and a fixed admin port for one node (its /health is read)."""
    return ["-e", os.path.join(directory, name + ".state"),
            "--admin-listen", "127.0.0.1:%d" % harness.free_port()]


def admin_of(node):
    return node.extra_args[node.extra_args.index("--admin-listen") + 1]


def memory_file_of(node):
    return node.extra_args[node.extra_args.index("-e") + 1]


def stop_gracefully(node, sig=signal.SIGTERM):
    """Sends `sig` and waits (bounded) for the node to exit 0; returns its log."""
    node.proc.send_signal(sig)
    code = node.proc.wait(harness.STOP_TIMEOUT + 10)
    node.stop()
    if code != 0:
        raise AssertionError("exit %d after %s:\n%s" % (code, sig, node.stderr_text()))
    return node.stderr_text()


def run_log(node):
    """The log of the node's current run only."""
    return node.stderr_text()


def wait_run_log(node, pattern, timeout=LINK_TIMEOUT):
    """Polls the current run's log for regex `pattern` (the client port
    accepts connections from its bind on, before a load ends); returns the
    log, or fails with it."""
    regex = re.compile(pattern)
    if not poll_until(lambda: regex.search(run_log(node)), timeout):
        raise AssertionError("%r not logged within %.0fs:\n%s" % (pattern, timeout, run_log(node)))
    return run_log(node)


class WarmPairCase(unittest.TestCase):
    """One pair per test, each node with its own memory file; the link runs
    through proxies so a restarted node can be held in its catch-up. No
    tests of its own."""

    PAIR_ARGS = ()

    def setUp(self):
        self.dir = tempfile.mkdtemp(prefix="twincache-warm-")
        self.addCleanup(shutil.rmtree, self.dir, True)
        self.pair = Pair(self.PAIR_ARGS, a_args=memory_file_args(self.dir, "a"),
                         b_args=memory_file_args(self.dir, "b"), proxied=True).start()
        self.addCleanup(self.pair.stop)
        self.pair.wait_connected()

    def wait_for(self, predicate, what, timeout=LINK_TIMEOUT):
        value = poll_until(predicate, timeout)
        if not value:
            self.fail("%s: not within %.0fs\n%s" % (what, timeout, self.pair.describe()))
        return value

    def preload(self):
        values = {"pre-%d" % i: b"v%d" % i * 20 for i in range(PRELOAD)}
        set_noreply_many(self.pair.a, values)
        self.pair.assert_converged()
        return values

    def restart_held_then_caught_up(self, node):
        """Starts `node` with the link cut: it holds its file's items at once,
        reports repl_initial_sync pending and /health 503; then lets the link
        through and waits for the catch-up."""
        self.pair.cut()
        node.start()
        wait_run_log(node, r"event=warm_start .*items=[1-9]")
        self.assertFalse(os.path.exists(memory_file_of(node)), "the file is consumed at load")
        self.assertEqual(node.stats()["repl_initial_sync"], "pending")
        status, health = http_json(admin_of(node), "/health")
        self.assertEqual(status, 503, health)
        self.pair.restore()
        self.wait_for(lambda: node.stats()["repl_initial_sync"] == "done",
                      "%s catches up" % node.name)
        self.assertEqual(http_json(admin_of(node), "/health")[0], 200)


@twincache_only
class WarmRestartPairTest(WarmPairCase):

    def test_graceful_restart_under_writes_takes_only_the_missed_writes(self):
        pair = self.pair
        a, b = pair.nodes
        values = self.preload()
        b_full, b_partial = b.stat_int("repl_full_syncs"), b.stat_int("repl_partial_syncs")

        written = {}

        def write(conn, i):
            key = "during-%d" % i
            set_value(conn, key, b"%d" % i)
            written[key] = b"%d" % i
        writer = LoadThread(b, write)
        writer.start()
        self.addCleanup(writer.stop)
        log = stop_gracefully(a)
        self.assertRegex(log, r"event=graceful_stop twin=caught_up")
        saved = int(re.search(r"event=memory_file_saved .*items=(\d+)", log).group(1))
        self.assertGreaterEqual(saved, PRELOAD)
        self.assertTrue(os.path.exists(memory_file_of(a)))

        # While A is down: overwrites, deletes, touches and new keys on B.
        overwritten = {"pre-%d" % i: b"new-%d" % i for i in range(0, 300)}
        deleted = ["pre-%d" % i for i in range(300, 600)]
        touched = ["pre-%d" % i for i in range(600, 700)]
        set_noreply_many(b, overwritten)
        with b.connect() as conn:
            for key in deleted:
                self.assertEqual(conn.request(b"delete %s\r\n" % key.encode()), b"DELETED\r\n")
            for key in touched:
                self.assertEqual(conn.request(b"touch %s 3600\r\n" % key.encode()), b"TOUCHED\r\n")
        steps = writer.steps
        self.wait_for(lambda: writer.steps >= steps + WRITER_MIN_STEPS or writer.error,
                      "B keeps serving writes with A down")

        self.restart_held_then_caught_up(a)
        writer.stop()
        dump = pair.assert_converged()

        expected = dict(values)
        expected.update(overwritten)
        expected.update(written)
        for key in deleted:
            del expected[key]
        for node in pair.nodes:
            got = node.values(list(expected) + deleted)
            wrong = [k for k, v in expected.items() if got.get(k, (0, 0, None))[2] != v]
            self.assertEqual(wrong[:10], [], "node %s: %d wrong keys" % (node.name, len(wrong)))
            back = [k for k in deleted if k in got]
            self.assertEqual(back[:10], [], "node %s: deleted keys came back" % node.name)
        now = time.time()
        for key in touched:
            self.assertGreater(dump[key][0], now + 3000, "touch of %s missed" % key)
        # Only the missed writes travelled, both ways.
        self.assertEqual(b.stat_int("repl_full_syncs"), b_full, pair.describe())
        self.assertGreater(b.stat_int("repl_partial_syncs"), b_partial)
        self.assertEqual(a.stat_int("repl_full_syncs"), 0, pair.describe())
        self.assertGreater(a.stat_int("repl_partial_syncs"), 0)
        self.assertRegex(run_log(a), r"event=repl_partial_sync_receiving")
        self.assertNotRegex(run_log(a), r"event=repl_full_sync_receiving")

    def test_flush_all_while_down_leaves_nothing_stale(self):
        pair = self.pair
        a, b = pair.nodes
        self.preload()
        b_full = b.stat_int("repl_full_syncs")
        stop_gracefully(a, signal.SIGUSR1)
        with b.connect() as conn:
            self.assertEqual(conn.request(b"flush_all\r\n"), b"OK\r\n")
            set_value(conn, "after-flush", b"fresh")
        self.restart_held_then_caught_up(a)
        dump = pair.assert_converged()
        self.assertEqual(sorted(dump), ["after-flush"])
        self.assertEqual(a.values(["pre-1", "after-flush"]).get("after-flush")[2], b"fresh")
        self.assertEqual(b.stat_int("repl_full_syncs"), b_full, pair.describe())

    def test_kill_9_is_a_cold_start_with_a_full_sync(self):
        pair = self.pair
        a, b = pair.nodes
        self.preload()
        # A graceful restart first: its file is consumed at load...
        stop_gracefully(a)
        a.start()
        self.wait_for(lambda: a.stats()["repl_initial_sync"] == "done", "A catches up")
        self.assertFalse(os.path.exists(memory_file_of(a)))
        # ... so a crash after it leaves nothing to load.
        b_full = b.stat_int("repl_full_syncs")
        a.kill()
        a.start()
        wait_run_log(a, r'event=cold_start .*reason="no memory file"')
        self.wait_for(lambda: a.stats()["repl_initial_sync"] == "done", "A's full sync")
        pair.assert_converged()
        self.assertGreater(b.stat_int("repl_full_syncs"), b_full)


@twincache_only
class SmallBacklogTest(WarmPairCase):
    """A backlog too small for what the twin wrote during the downtime: the
    twin sends a full sync instead, and the end state is the same."""

    PAIR_ARGS = ("--repl-backlog-size", "64k")

    def test_backlog_overrun_falls_back_to_a_full_sync(self):
        pair = self.pair
        a, b = pair.nodes
        values = self.preload()
        b_full = b.stat_int("repl_full_syncs")
        stop_gracefully(a)
        missed = {"missed-%d" % i: b"m%d" % i * 50 for i in range(5000)}  # far over 64 KiB
        set_noreply_many(b, missed)
        deleted = ["pre-%d" % i for i in range(10)]
        with b.connect() as conn:
            for key in deleted:
                self.assertEqual(conn.request(b"delete %s\r\n" % key.encode()), b"DELETED\r\n")
        self.restart_held_then_caught_up(a)
        pair.assert_converged()
        self.assertGreater(b.stat_int("repl_full_syncs"), b_full)
        self.assertRegex(b.log_text(), r"event=repl_full_sync_started .*reason=\"backlog no longer holds")
        expected = dict(values)
        expected.update(missed)
        for key in deleted:
            del expected[key]
        got = a.values(list(expected) + deleted)
        self.assertEqual([k for k in deleted if k in got], [])
        self.assertEqual([k for k, v in expected.items() if got.get(k, (0, 0, None))[2] != v][:10], [])


@twincache_only
class OldFileTest(WarmPairCase):
    """With a twin, a file older than the tombstone TTL is refused: the twin
    may have forgotten deletes made since, which a merge would bring back."""

    PAIR_ARGS = ("--repl-tombstone-ttl", "1")

    def test_file_older_than_the_tombstone_ttl_is_refused(self):
        a, b = self.pair.nodes
        self.preload()
        stop_gracefully(a)
        saved_at = time.time()
        # The downtime under test: time must pass, there is nothing to poll.
        poll_until(lambda: time.time() > saved_at + 2.5, 5)
        a.start()
        wait_run_log(a, r"event=memory_file_refused .*longer than the tombstone TTL")
        self.assertFalse(os.path.exists(memory_file_of(a)))
        self.wait_for(lambda: a.stats()["repl_initial_sync"] == "done", "A's full sync")
        self.pair.assert_converged()


@twincache_only
class SyncAckWarmRestartTest(WarmPairCase):
    """--repl-ack sync: the restarted node's writes are acknowledged by the
    twin again once it is back (none degraded), after a partial sync."""

    PAIR_ARGS = ("--repl-ack", "sync", "--repl-ack-timeout-ms", "2000")

    def test_sync_writes_after_a_warm_restart(self):
        pair = self.pair
        a, b = pair.nodes
        self.preload()
        b_full = b.stat_int("repl_full_syncs")
        stop_gracefully(a)
        with b.connect() as conn:
            set_value(conn, "while-down", b"1")  # degraded: the twin is away
        self.restart_held_then_caught_up(a)
        degraded = a.stat_int("repl_degraded_writes")
        with a.connect() as conn:
            for i in range(50):
                set_value(conn, "after-%d" % i, b"%d" % i)
        self.assertEqual(a.stat_int("repl_degraded_writes"), degraded)
        self.assertEqual(b.values(["after-49"])["after-49"][2], b"49")
        pair.assert_converged()
        self.assertEqual(a.stat_int("repl_full_syncs"), 0)
        self.assertEqual(b.stat_int("repl_full_syncs"), b_full, pair.describe())


@twincache_only
class StandaloneWarmRestartTest(unittest.TestCase):
    """No twin: memcached -e's behaviour, the cache survives a graceful restart."""

    def setUp(self):
        self.dir = tempfile.mkdtemp(prefix="twincache-warm-")
        self.addCleanup(shutil.rmtree, self.dir, True)
        self.path = os.path.join(self.dir, "state")
        self.port = harness.free_port()

    def server(self, extra=()):
        server = harness.Server(["-e", self.path, "-A"] + list(extra), port=self.port)
        self.addCleanup(server.stop)
        return server.start()

    def fill(self, server):
        with server.connect() as conn:
            for i in range(100):
                set_value(conn, "k%d" % i, b"value-%d" % i, flags=i)
            set_value(conn, "expiring", b"x", exptime=3600)
            self.assertEqual(conn.request(b"delete k0\r\n"), b"DELETED\r\n")
            return conn.get_values("gets k1 k2 expiring")

    def check_kept(self, server, before):
        with server.connect() as conn:
            self.assertEqual(conn.get_values("gets k1 k2 expiring"), before)
            self.assertEqual(conn.get_values("get k0"), {})
            fields, data = conn.get_values("get k99")["k99"]
            self.assertEqual((fields[2], data), (b"99", b"value-99"))

    def test_sigterm_sigusr1_and_shutdown_graceful_keep_the_cache(self):
        server = self.server()
        before = self.fill(server)
        for stop in ("SIGTERM", "SIGUSR1", "shutdown graceful"):
            if stop == "shutdown graceful":
                with server.connect() as conn:
                    conn.send(b"shutdown graceful\r\n")
                server.proc.wait(harness.STOP_TIMEOUT)
                server.stop()
            else:
                stop_gracefully(server, getattr(signal, stop))
            self.assertRegex(server.stderr_text(), r"event=memory_file_saved .*items=100 ", stop)
            server.start()
            wait_run_log(server, r"event=warm_start .*items=100 ")
            self.assertFalse(os.path.exists(self.path))
            self.check_kept(server, before)

    def test_sigint_and_kill_9_leave_no_file(self):
        server = self.server()
        self.fill(server)
        server.proc.send_signal(signal.SIGINT)
        server.proc.wait(harness.STOP_TIMEOUT)
        server.stop()
        self.assertFalse(os.path.exists(self.path))
        server.start()
        wait_run_log(server, r'event=cold_start .*reason="no memory file"')
        self.fill(server)
        server.kill()
        self.assertFalse(os.path.exists(self.path))

    def test_sigterm_while_starting_keeps_the_file(self):
        # Sent at once: either before the daemon opened the file (it stays)
        # or while it loads (held until the server handles it: a graceful
        # stop that writes the file again). Never a consumed, unsaved file.
        server = self.server()
        self.fill(server)
        stop_gracefully(server)
        proc = subprocess.Popen(harness.base_args(self.port) + ["-e", self.path],
                                stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                stderr=subprocess.DEVNULL)
        proc.send_signal(signal.SIGTERM)
        # 0 after a graceful stop; -SIGTERM when it came before any handler.
        self.assertIn(proc.wait(harness.STOP_TIMEOUT), (0, -signal.SIGTERM))
        self.assertTrue(os.path.exists(self.path))
        server.start()
        wait_run_log(server, r"event=warm_start .*items=100 ")

    def test_file_larger_than_the_memory_limit_loads_what_fits(self):
        server = self.server(["-m", "64"])
        value = b"v" * 10000
        set_noreply_many(server_node(server), {"big-%d" % i: value for i in range(5000)})
        stop_gracefully(server)
        small = harness.Server(["-e", self.path, "-m", "16", "-I", "1m"], port=self.port)
        self.addCleanup(small.stop)
        small.start()
        log = wait_run_log(small, r"event=memory_file_partly_loaded .*not_loaded=[1-9]")
        loaded = int(re.search(r"event=warm_start .*items=(\d+)", log).group(1))
        self.assertGreater(loaded, 500)
        self.assertLess(loaded, 5000)
        stats = harness.stats(small)
        self.assertEqual(int(stats["curr_items"]), loaded)
        self.assertEqual(int(stats["evictions"]), 0)

    def refused(self, mangle, reason):
        """Writes a good file, mangles its bytes, and checks that a start
        refuses it with `reason` logged, serves an empty cache and removed it."""
        server = self.server()
        self.fill(server)
        stop_gracefully(server)
        with open(self.path, "rb") as f:
            data = f.read()
        with open(self.path, "wb") as f:
            f.write(mangle(data))
        server.start()
        wait_run_log(server, r"event=memory_file_refused .*reason=.*%s" % reason)
        self.assertNotRegex(server.stderr_text(), r"event=warm_start")
        with server.connect() as conn:
            self.assertEqual(conn.get_values("get k1 k99"), {})
        self.assertEqual(harness.stats(server)["curr_items"], "0")
        self.assertFalse(os.path.exists(self.path))

    def test_corrupt_file_is_refused(self):
        self.refused(lambda d: d[:200] + bytes([d[200] ^ 0xff]) + d[201:], "checksum mismatch")

    def test_truncated_file_is_refused(self):
        self.refused(lambda d: d[:len(d) // 2], "checksum mismatch")

    def test_empty_file_is_refused(self):
        self.refused(lambda d: b"", "truncated")

    def test_other_version_is_refused(self):
        def version_2(data):
            body = data[:8] + b"\x02" + data[9:-DIGEST]
            return body + hashlib.sha256(body).digest()
        self.refused(version_2, "format version 2, this build reads 1")

    def test_foreign_file_is_refused(self):
        other = harness.Server(["-e", self.path])  # another port: another node
        self.addCleanup(other.stop)
        other.start()
        with other.connect() as conn:
            set_value(conn, "theirs", b"1")
        stop_gracefully(other)
        server = self.server()
        wait_run_log(server, r"event=memory_file_refused .*written by another node")
        with server.connect() as conn:
            self.assertEqual(conn.get_values("get theirs"), {})


def server_node(server):
    """A harness.Server where pair helpers expect a node (they use .port and .name)."""
    server.name = "standalone"
    return server


if __name__ == "__main__":
    unittest.main()
