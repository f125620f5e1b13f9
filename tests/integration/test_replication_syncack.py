"""--repl-ack sync: a client's write is answered only once the twin has applied
it (docs/replication.md, "Acknowledgement modes").

Writers send sets on one node (one at a time, and one thread pipelined); the
moment 200 of them have been acknowledged that node is killed with SIGKILL
(other sets still in flight), three times per node.
Every acknowledged set must be on the twin. Then the node restarts, resyncs,
and the same is done to the other node. With the link down or stalled, a
write is answered after the ack timeout and counted in repl_degraded_writes.
"""

import os
import signal
import threading
import time
import unittest

from pair import PairTestCase, item, set_value

WRITER_THREADS = 4
PIPELINE = 20  # sets per round trip of writer thread 0
ROUNDS = 3  # kills per node
ACKED_BEFORE_KILL = 200
ACK_TIMEOUT_MS = 5000  # far above any loopback round trip: no write degrades


class SyncAckKillTest(PairTestCase):
    PAIR_ARGS = ("--repl-ack", "sync", "--repl-ack-timeout-ms", str(ACK_TIMEOUT_MS))

    def kill_after_acks(self, victim, prefix):
        """Writes on `victim` from WRITER_THREADS threads; SIGKILLs it right
        after the ACKED_BEFORE_KILL-th STORED. Returns {key: value} acknowledged."""
        acked = {}
        lock = threading.Lock()
        killed = threading.Event()
        errors = []

        def work(index):
            # Thread 0 pipelines PIPELINE sets per round trip, the others send
            # one set at a time.
            batch = PIPELINE if index == 0 else 1
            conn = connections[index]
            try:
                started.wait()
                i = 0
                while not killed.is_set():
                    sets = [("%s-%d-%d" % (prefix, index, i + j), b"v%d" % (i + j))
                            for j in range(batch)]
                    i += batch
                    conn.send(b"".join(b"set %s 0 0 %d\r\n%s\r\n" % (k.encode(), len(v), v)
                                       for k, v in sets))
                    for key, value in sets:
                        try:
                            reply = conn.read_line()
                        except Exception:  # the node was killed under this request
                            return
                        if reply != b"STORED\r\n":
                            errors.append("set %s: %r" % (key, reply))
                            return
                        with lock:
                            acked[key] = value
                            if len(acked) >= ACKED_BEFORE_KILL and not killed.is_set():
                                os.kill(victim.pid, signal.SIGKILL)
                                killed.set()
            finally:
                conn.close()
        connections = [victim.connect() for _ in range(WRITER_THREADS)]
        started = threading.Barrier(WRITER_THREADS, timeout=30)
        threads = [threading.Thread(target=work, args=(i,)) for i in range(WRITER_THREADS)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(60)
        self.assertFalse(any(t.is_alive() for t in threads), "writer threads hung")
        self.assertEqual(errors, [])
        self.assertTrue(killed.is_set(), "only %d writes acknowledged" % len(acked))
        victim.kill()  # reap it
        return acked

    def test_acknowledged_writes_survive_kill(self):
        pair = self.pair
        for round_number in range(ROUNDS):
            for victim in pair.nodes:
                self.kill_round(victim, "acked-%d-%s" % (round_number, victim.name))

    def kill_round(self, victim, prefix):
        pair = self.pair
        twin = pair.other(victim)
        pair.wait_quiet()
        # The sync path works without degrading on a healthy link.
        with victim.connect() as conn:
            for i in range(20):
                set_value(conn, "warm-%s-%d" % (prefix, i), b"w")
        self.assertEqual(victim.stats()["repl_degraded_writes"], "0")

        acked = self.kill_after_acks(victim, prefix)
        present = twin.values(list(acked))
        lost = sorted(k for k, v in acked.items() if present.get(k, (0, 0, None))[2] != v)
        self.assertEqual(lost, [], "%d of %d acknowledged writes on %s are not on %s\n%s" %
                         (len(lost), len(acked), victim.name, twin.name, pair.describe()))
        self.assertEqual(twin.stats()["repl_degraded_writes"], "0")
        victim.start()
        self.wait_for(lambda: victim.stats()["repl_initial_sync"] == "done",
                      "%s resyncs after its restart" % victim.name)
        pair.assert_converged()


class SyncAckDegradedTest(PairTestCase):
    PROXIED = True
    PAIR_ARGS = ("--repl-ack", "sync", "--repl-ack-timeout-ms", "300")

    def timed_set(self, node, key):
        with node.connect() as conn:
            started = time.monotonic()
            set_value(conn, key, b"x")
            return time.monotonic() - started

    def test_stalled_link_degrades_after_timeout(self):
        a = self.pair.a
        self.pair.wait_quiet()
        degraded = int(a.stats()["repl_degraded_writes"])
        self.assertLess(self.timed_set(a, "fast"), 0.3)
        self.assertEqual(int(a.stats()["repl_degraded_writes"]), degraded)
        self.pair.stall()
        elapsed = self.timed_set(a, "slow")
        self.assertGreaterEqual(elapsed, 0.25, "answered before the ack timeout")
        self.assertLess(elapsed, 3.0, "answered long after the 300 ms ack timeout")
        self.assertEqual(int(a.stats()["repl_degraded_writes"]), degraded + 1)
        self.pair.restore()
        self.wait_item(self.pair.b, "slow", b"x")
        self.pair.assert_converged()

    def test_link_down_degrades(self):
        a = self.pair.a
        self.pair.wait_quiet()
        degraded = int(a.stats()["repl_degraded_writes"])
        self.pair.cut()
        self.wait_for(lambda: a.stats()["repl_state"] != "connected", "A notices the cut")
        elapsed = self.timed_set(a, "while-down")
        self.assertLess(elapsed, 3.0)
        self.assertEqual(int(a.stats()["repl_degraded_writes"]), degraded + 1)
        self.pair.restore()
        self.wait_item(self.pair.b, "while-down", b"x")
        self.assertEqual(item(a, "while-down"), item(self.pair.b, "while-down"))


if __name__ == "__main__":
    unittest.main()
