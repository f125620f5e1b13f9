"""Signals as memcached 1.6 takes them: SIGHUP never stops the server,
SIGUSR1 is the graceful stop.

- SIGHUP under client load: several clients, each on one connection, keep
  writing and reading back while the server gets SIGHUP after SIGHUP; every
  reply is checked, no connection is dropped and the server keeps serving
  (Debian's memcached 1.6.18 too, in the reference mode).
- twincached re-reads its configuration on SIGHUP (core/server/reload.h): a
  rewritten --config file's memory-limit, conn-limit and idle_timeout take
  effect, settings that need a restart are named in the one log line, a
  broken file changes nothing.
- A replicating pair under load on both nodes, each sent SIGHUP repeatedly:
  no client connection drops, the replication link stays up (no new link,
  no sync), and the nodes converge.
- SIGUSR1 stops the server with exit code 0 (memcached: "Gracefully
  stopping"); in a pair, the stopping node first lets its twin apply every
  write it made.

Every wait is bounded; load progress is polled, never slept for.
"""

import os
import re
import signal
import tempfile
import threading
import unittest

import harness
from harness import REFERENCE, Server, poll_until, twincache_only
from pair import Pair

LOAD_CLIENTS = 4
HUPS = 20
# Seconds the load may take to make progress between two signals.
PROGRESS_TIMEOUT = 10.0
# Bytes of each value the load writes.
VALUE_SIZE = 100


class ClientLoad:
    """LOAD_CLIENTS threads, each on its own connection to `port`, setting
    and reading back keys `prefix`-THREAD-N until stop(); a wrong reply or a
    closed connection ends the thread with an error. ops[i] counts the round
    trips of thread i."""

    def __init__(self, port, prefix):
        self.port = port
        self.prefix = prefix
        self.ops = [0] * LOAD_CLIENTS
        self.errors = []
        self.stopping = threading.Event()
        self.threads = [threading.Thread(target=self._run, args=(i,), daemon=True)
                        for i in range(LOAD_CLIENTS)]

    def start(self):
        for thread in self.threads:
            thread.start()
        return self

    def _run(self, index):
        try:
            with harness.RawConn(self.port) as conn:
                n = 0
                while not self.stopping.is_set():
                    key = "%s-%d-%d" % (self.prefix, index, n % 500)
                    value = (b"%d:%d:" % (index, n)).ljust(VALUE_SIZE, b"v")
                    reply = conn.request(b"set %s 0 0 %d\r\n%s\r\n" % (key.encode(), len(value), value))
                    if reply != b"STORED\r\n":
                        raise AssertionError("set %s: %r" % (key, reply))
                    got = conn.request("get %s\r\n" % key, b"END\r\n")
                    expected = b"VALUE %s 0 %d\r\n%s\r\nEND\r\n" % (key.encode(), len(value), value)
                    if got != expected:
                        raise AssertionError("get %s: %r" % (key, got[:200]))
                    n += 1
                    self.ops[index] = n
        except Exception as e:  # reported by the test thread
            self.errors.append("client %d after %d ops: %r" % (index, self.ops[index], e))

    def wait_progress(self, more=20):
        """Waits until every client made `more` further round trips; False if
        one did not within PROGRESS_TIMEOUT (or failed)."""
        targets = [n + more for n in self.ops]
        return poll_until(lambda: self.errors or all(n >= t for n, t in zip(self.ops, targets)),
                          PROGRESS_TIMEOUT, interval=0.01) and not self.errors

    def stop(self):
        self.stopping.set()
        for thread in self.threads:
            thread.join(PROGRESS_TIMEOUT)
        return [t for t in self.threads if t.is_alive()]


def hup_under_load(case, servers):
    """Sends every server in `servers` HUPS SIGHUPs, waiting for each
    server's load to progress after each; checks nothing failed."""
    loads = [ClientLoad(server.port, "hup%d" % i).start() for i, server in enumerate(servers)]
    try:
        for load in loads:
            case.assertTrue(load.wait_progress(), load.errors)
        for _ in range(HUPS):
            for server in servers:
                os.kill(server.pid, signal.SIGHUP)
            for load, server in zip(loads, servers):
                case.assertTrue(load.wait_progress(), "no progress after SIGHUP: %s\n%s" %
                                (load.errors, server.stderr_text()[-2000:]))
    finally:
        hung = [t for load in loads for t in load.stop()]
    case.assertEqual(hung, [])
    for load in loads:
        case.assertEqual(load.errors, [])
    for server in servers:
        case.assertTrue(server.alive(), server.stderr_text())
    return loads


class SighupUnderLoadTest(unittest.TestCase):

    def test_sighup_never_stops_the_server_nor_drops_a_connection(self):
        with Server() as server:
            before = harness.stats(server)
            hup_under_load(self, [server])
            after = harness.stats(server)
            if not REFERENCE:
                # The load's connections and the second stats one: nobody
                # reconnected (memcached counts its total otherwise).
                self.assertEqual(int(after["total_connections"]) - int(before["total_connections"]),
                                 LOAD_CLIENTS + 1)
                # Each HUP's reload line; the main thread may still be
                # writing the last ones while the load already progressed.
                self.assertTrue(poll_until(lambda: len(re.findall(r"event=reload ", server.stderr_text())) == HUPS,
                                           harness.START_TIMEOUT), server.stderr_text()[-2000:])


@twincache_only
class SighupReloadsTheConfigTest(unittest.TestCase):

    def setUp(self):
        fd, self.config = tempfile.mkstemp(prefix="twincache-reload-", suffix=".conf")
        os.close(fd)
        self.addCleanup(os.unlink, self.config)
        self.write("memory-limit = 64\nconn-limit = 100\n")
        self.server = Server(["--config", self.config], defaults=False).start()
        self.addCleanup(self.server.stop)
        # A reply proves the server runs its signal handling: the port accepts
        # (into the kernel's backlog) before, while a HUP is still ignored.
        harness.stats(self.server)

    def write(self, text):
        with open(self.config, "w") as f:
            f.write(text)

    def reload(self):
        """SIGHUP, then the reload's log line (waited for, bounded)."""
        count = len(re.findall(r"event=reload(?:_failed)? ", self.server.stderr_text()))
        os.kill(self.server.pid, signal.SIGHUP)
        found = poll_until(lambda: re.findall(r".*event=reload(?:_failed)? .*", self.server.stderr_text())[count:],
                           harness.START_TIMEOUT)
        self.assertTrue(found, self.server.stderr_text())
        return found[0]

    def test_changed_settings_apply_and_the_rest_are_named(self):
        with self.server.connect() as held:  # open across the reload; asks for the stats too
            # Only `held` is open (the start probe's connection is gone).
            self.assertTrue(poll_until(lambda: harness.read_stats(held)["curr_connections"] == "1",
                                       harness.START_TIMEOUT))
            self.write("memory-limit = 128\nconn-limit = 3\nthreads = 2\nidle_timeout = 30\nmodern = true\n")
            line = self.reload()
            self.assertRegex(line, r"level=info event=reload config=%s reloaded=memory-limit,conn-limit,"
                             r"idle_timeout restart_needed=threads hooks=none failed=none$" % re.escape(self.config))
            settings = harness.read_stats(held, "settings")
            self.assertEqual(settings["maxbytes"], str(128 << 20))
            self.assertEqual(settings["maxconns"], "3")
            self.assertEqual(settings["idle_timeout"], "30")
            self.assertEqual(settings["num_threads"], "4")  # needs a restart
            self.assertEqual(held.request("set held 0 0 1\r\nx\r\n"), b"STORED\r\n")
            # The new limit is enforced for new connections: held + 2 more fit.
            with self.server.connect() as second, self.server.connect() as third:
                self.assertEqual(second.request("version\r\n")[:8], b"VERSION ")
                with self.server.connect() as fourth:
                    self.assertEqual(fourth.read_eof(), b"ERROR Too many open connections\r\n")
                self.assertEqual(third.request("get held\r\n", b"END\r\n"), b"VALUE held 0 1\r\nx\r\nEND\r\n")

    def test_a_broken_file_changes_nothing(self):
        self.write("memory-limit = 128\nno-such-key = 1\n")
        line = self.reload()
        self.assertIn("level=warning event=reload_failed", line)
        self.assertIn("no-such-key", line)
        self.assertEqual(harness.stats(self.server, "settings")["maxbytes"], str(64 << 20))
        self.write("memory-limit = 96\n")
        self.assertIn("reloaded=memory-limit,conn-limit", self.reload())
        settings = harness.stats(self.server, "settings")
        self.assertEqual((settings["maxbytes"], settings["maxconns"]), (str(96 << 20), "1024"))

    def test_a_second_reload_finds_nothing_new(self):
        self.write("memory-limit = 80\nconn-limit = 100\n")
        self.assertIn("reloaded=memory-limit restart_needed=none", self.reload())
        self.assertIn("reloaded=none restart_needed=none", self.reload())


@twincache_only
class SighupInAPairTest(unittest.TestCase):

    def test_pair_keeps_its_link_and_clients_under_sighup(self):
        with Pair() as pair:
            pair.wait_connected()
            links_up = [n.log_text().count("event=repl_link_up") for n in pair.nodes]
            syncs = [(n.stats()["repl_full_syncs"], n.stats()["repl_partial_syncs"]) for n in pair.nodes]
            hup_under_load(self, list(pair.nodes))
            pair.assert_converged()
            for node, up, sync in zip(pair.nodes, links_up, syncs):
                log = node.log_text()
                self.assertEqual(log.count("event=repl_link_up"), up, log[-3000:])
                self.assertNotIn("event=repl_link_dropped", log)
                self.assertEqual((node.stats()["repl_full_syncs"], node.stats()["repl_partial_syncs"]), sync)
                self.assertEqual(node.stats()["repl_state"], "connected")
                self.assertEqual(len(re.findall(r"event=reload ", log)), HUPS)


class SigusrOneTest(unittest.TestCase):

    def test_sigusr1_stops_gracefully_with_exit_code_zero(self):
        server = Server().start()
        try:
            with server.connect() as conn:
                self.assertEqual(conn.request("set k 0 0 1\r\nv\r\n"), b"STORED\r\n")
                os.kill(server.pid, signal.SIGUSR1)
                self.assertEqual(server.proc.wait(harness.STOP_TIMEOUT), 0)
                self.assertEqual(conn.read_eof(), b"")
        finally:
            server.stop()
        if REFERENCE:
            self.assertIn("Gracefully stopping", server.stderr_text())
        else:
            self.assertRegex(server.stderr_text(), r"event=shutdown reason=SIGUSR1 mode=graceful")

    @twincache_only
    def test_graceful_stop_lets_the_twin_apply_every_write(self):
        # Enough writes that the twin is still behind when the stop comes:
        # SIGTERM here left about 1000 of them unapplied on B.
        keys = 30000
        with Pair() as pair:
            pair.wait_connected()
            with pair.a.connect() as conn:
                # noreply writes, then one with a reply: all were applied on A.
                conn.send(b"".join(b"set g%d 0 0 4 noreply\r\nv%03d\r\n" % (i, i % 1000) for i in range(keys)))
                self.assertEqual(conn.request("mn\r\n"), b"MN\r\n")
            os.kill(pair.a.pid, signal.SIGUSR1)
            self.assertEqual(pair.a.proc.wait(harness.STOP_TIMEOUT + 5), 0)
            self.assertRegex(pair.a.log_text(), r"event=graceful_stop twin=caught_up offset=\d+")
            values = pair.b.values("g%d" % i for i in range(keys))
            self.assertEqual(len(values), keys)


if __name__ == "__main__":
    unittest.main()
