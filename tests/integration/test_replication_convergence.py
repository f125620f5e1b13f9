"""Concurrent conflicting writes on both nodes converge (docs/replication.md,
"Versions and the winner rule").

Client threads on both nodes hit the same few keys at once with set, delete,
incr, decr, append, prepend, touch, add and cas. When the writes stop and the
link is quiet, both nodes hold byte-identical items: the same keys, exptimes,
cas uniques, flags and values. Simultaneous sets of one key on both nodes
keep the write with the greater version (cas unique, then node id).
"""

import random
import threading
import unittest

from pair import PairTestCase

THREADS_PER_NODE = 2
OPS_PER_THREAD = 5000  # 20,000 operations in all
KEYS = ["cv%d" % i for i in range(8)]
SIMULTANEOUS_KEYS = 500

INCR_ERROR = b"CLIENT_ERROR cannot increment or decrement non-numeric value\r\n"


def random_op(conn, rng):
    """One random write on a random key of KEYS; returns (command, reply) when
    the reply is not one the command may give, else None."""
    key = rng.choice(KEYS)
    choice = rng.random()
    if choice < 0.30:
        value = b"%d" % rng.randrange(1000)
        cmd = b"set %s %d 0 %d\r\n%s\r\n" % (key.encode(), rng.randrange(4), len(value), value)
        allowed = (b"STORED\r\n",)
    elif choice < 0.40:
        cmd = b"delete %s\r\n" % key.encode()
        allowed = (b"DELETED\r\n", b"NOT_FOUND\r\n")
    elif choice < 0.55:
        cmd = b"incr %s %d\r\n" % (key.encode(), rng.randrange(1, 100))
        allowed = None  # a number, NOT_FOUND or INCR_ERROR
    elif choice < 0.60:
        cmd = b"decr %s %d\r\n" % (key.encode(), rng.randrange(1, 100))
        allowed = None
    elif choice < 0.70:
        cmd = b"append %s 0 0 1\r\n%d\r\n" % (key.encode(), rng.randrange(10))
        allowed = (b"STORED\r\n", b"NOT_STORED\r\n")
    elif choice < 0.75:
        cmd = b"prepend %s 0 0 1\r\n%d\r\n" % (key.encode(), rng.randrange(1, 10))
        allowed = (b"STORED\r\n", b"NOT_STORED\r\n")
    elif choice < 0.85:
        cmd = b"touch %s %d\r\n" % (key.encode(), rng.choice((0, 3600, 7200, 9000)))
        allowed = (b"TOUCHED\r\n", b"NOT_FOUND\r\n")
    elif choice < 0.92:
        cmd = b"add %s 1 0 2\r\n77\r\n" % key.encode()
        allowed = (b"STORED\r\n", b"NOT_STORED\r\n")
    else:
        values = conn.get_values("gets %s" % key)
        if key not in values:
            return None
        cas = int(values[key][0][4])
        cmd = b"cas %s 2 0 3 %d\r\n999\r\n" % (key.encode(), cas)
        allowed = (b"STORED\r\n", b"EXISTS\r\n", b"NOT_FOUND\r\n")
    reply = conn.request(cmd)
    if allowed is None:
        ok = reply in (b"NOT_FOUND\r\n", INCR_ERROR) or reply.rstrip(b"\r\n").isdigit()
    else:
        ok = reply in allowed
    return None if ok else (cmd, reply)


class ConvergenceTest(PairTestCase):

    def run_on_both(self, work):
        """Runs work(node, index, barrier) in THREADS_PER_NODE threads per node;
        returns the list of errors they reported."""
        errors = []
        barrier = threading.Barrier(2 * THREADS_PER_NODE, timeout=30)

        def wrapper(node, index):
            try:
                work(node, index, barrier)
            except Exception as e:  # reported on the main thread
                errors.append("%s thread %d: %r" % (node.name, index, e))
        threads = [threading.Thread(target=wrapper, args=(node, i))
                   for node in self.pair.nodes for i in range(THREADS_PER_NODE)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(120)
        self.assertFalse(any(t.is_alive() for t in threads), "client threads hung")
        return errors

    def test_random_conflicting_writes_converge(self):
        bad_replies = []

        def work(node, index, barrier):
            rng = random.Random(1000 * index + (0 if node is self.pair.a else 1))
            with node.connect() as conn:
                barrier.wait()
                for _ in range(OPS_PER_THREAD):
                    bad = random_op(conn, rng)
                    if bad:
                        bad_replies.append((node.name,) + bad)
        errors = self.run_on_both(work)
        self.assertEqual(errors, [])
        self.assertEqual(bad_replies[:10], [])
        dump = self.pair.assert_converged()
        conflicts = [int(n.stats()["repl_conflicts"]) for n in self.pair.nodes]
        print("\nconverged on %d keys; repl_conflicts A %d B %d" % (len(dump), *conflicts))
        self.assertGreater(sum(conflicts), 0, "no conflict counted\n%s" % self.pair.describe())

    def test_simultaneous_sets_keep_greater_version(self):
        a, b = self.pair.nodes
        node_id = {n.name: int(n.stats()["repl_node_id"]) for n in self.pair.nodes}
        versions = {"A": {}, "B": {}}  # node -> key -> cas unique it assigned

        def work(node, index, barrier):
            keys = ["sim%d" % i for i in range(index, SIMULTANEOUS_KEYS, THREADS_PER_NODE)]
            with node.connect() as conn:
                barrier.wait()
                conn.send(b"".join(b"ms %s 2 c\r\n%s\r\n" % (k.encode(), node.name.encode() * 2)
                                   for k in keys))
                for k in keys:
                    reply = conn.read_line().split()
                    if reply[0] != b"HD":
                        raise AssertionError("ms %s: %r" % (k, reply))
                    versions[node.name][k] = int(reply[1][1:])
        self.assertEqual(self.run_on_both(work), [])
        self.pair.assert_converged()
        keys = sorted(versions["A"])
        on_a = a.values(keys)
        for key in keys:
            winner = max(("A", "B"), key=lambda n: (versions[n][key], node_id[n]))
            self.assertEqual(on_a[key][1:], (versions[winner][key], winner.encode() * 2),
                             "%s: A wrote cas %d, B wrote cas %d" %
                             (key, versions["A"][key], versions["B"][key]))


if __name__ == "__main__":
    unittest.main()
