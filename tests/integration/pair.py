"""Replication pair helpers: two twincached nodes that replicate to each other
on loopback, as docs/replication.md describes, for the test_replication_* tests.

Pair() starts node A and node B on free 127.0.0.1 ports, each naming the other
(`-x 127.0.0.1 -X LISTEN:CONNECT`, repcached's form). With proxied=True each
node dials its twin through a TcpProxy (A -> proxy_ab -> B's replication port,
B -> proxy_ba -> A's), so pair.cut()/stall()/restore() break or freeze every
link between them whichever side dialed.

Convergence is checked, never slept for: wait_quiet() polls both nodes'
`stats` until each has applied everything the other produced and no record
is unacknowledged; assert_converged() then compares the nodes' item dumps
(`lru_crawler metadump all`: key, exptime, cas unique = version) and their
values, flags and cas (`mg <key> v c f`), retrying until a deadline.
"""

import re
import socket
import threading
import time
import unittest
import urllib.parse

import harness
from tcp_proxy import TcpProxy

PEER_HOST = "127.0.0.1"
# Seconds a pair may take to link up, and to converge once writes stop.
LINK_TIMEOUT = 15.0
CONVERGE_TIMEOUT = 30.0
# Seconds a dump or a batch of reads may take.
DUMP_TIMEOUT = 60.0
MG_BATCH = 2000
# The fields of a metadump line the nodes must agree on: key (urlencoded),
# exptime and cas unique (la, fetch and the rest are local).
METADUMP_LINE = re.compile(rb"^key=(\S+) exp=(-?\d+) la=\S+ cas=(\d+)", re.MULTILINE)


def free_ports(count):
    """`count` distinct TCP ports on 127.0.0.1 that were free a moment ago
    (all bound at once, so they differ from each other)."""
    socks = []
    try:
        for _ in range(count):
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            s.bind(("127.0.0.1", 0))
            socks.append(s)
        ports = [s.getsockname()[1] for s in socks]
        harness.remember_ports(ports)  # never a node's admin port as well
        return ports
    finally:
        for s in socks:
            s.close()


def _recv_until_end(sock, timeout, end_marks):
    """Reads from `sock` until the data ends with one of `end_marks` (bytes);
    returns all of it. Raises socket.timeout after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    chunks = []
    tail = b""
    while True:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise socket.timeout("no end mark within %.0fs; tail %r" % (timeout, tail[-200:]))
        sock.settimeout(remaining)
        chunk = sock.recv(1 << 20)
        if not chunk:
            raise harness.ConnectionClosed("closed; tail %r" % tail[-200:])
        chunks.append(chunk)
        tail = (tail + chunk)[-64:]
        if any(tail.endswith(mark) for mark in end_marks):
            return b"".join(chunks)


class _Reader:
    """Buffered, bounded reads of lines and byte counts from a socket, without
    re-copying the buffer at every line (replies of a million items)."""

    def __init__(self, sock, timeout):
        self.sock = sock
        self.deadline = time.monotonic() + timeout
        self.buffer = b""
        self.pos = 0

    def _fill(self):
        remaining = self.deadline - time.monotonic()
        if remaining <= 0:
            raise socket.timeout("reply not complete; at %r" % self.buffer[self.pos:self.pos + 200])
        self.sock.settimeout(remaining)
        chunk = self.sock.recv(1 << 20)
        if not chunk:
            raise harness.ConnectionClosed("closed at %r" % self.buffer[self.pos:self.pos + 200])
        self.buffer = self.buffer[self.pos:] + chunk
        self.pos = 0

    def line(self):
        """The next line without its CRLF."""
        while True:
            eol = self.buffer.find(b"\r\n", self.pos)
            if eol >= 0:
                out = self.buffer[self.pos:eol]
                self.pos = eol + 2
                return out
            self._fill()

    def exact(self, n):
        while len(self.buffer) - self.pos < n:
            self._fill()
        out = self.buffer[self.pos:self.pos + n]
        self.pos += n
        return out


class Node(harness.Server):
    """One twincached of a pair: fixed client and replication ports, so it can
    be killed and restarted as the same node. log_text() keeps the output of
    every run (restarts included)."""

    def __init__(self, name, port, repl_port, connect_port, args, peer_args=None):
        """peer_args replace the default `-x 127.0.0.1 -X repl_port:connect_port`."""
        self.name = name
        self.repl_port = repl_port  # the replication port this node listens on
        self.connect_port = connect_port  # the port it dials for its twin
        if peer_args is None:
            peer_args = ["-x", PEER_HOST, "-X", "%d:%d" % (repl_port, connect_port)]
        super().__init__(list(peer_args) + list(args), port=port)
        self._old_logs = ""

    def start(self):
        if self._stderr_after_stop:
            self._old_logs += "---- %s restarted ----\n" % self.name + self._stderr_after_stop
            self._stderr_after_stop = ""
        return super().start()

    def log_text(self):
        """The node's log lines of all its runs so far."""
        return self._old_logs + self.stderr_text()

    def log_tail(self, lines=40):
        return "\n".join(self.log_text().splitlines()[-lines:])

    def wait_log(self, pattern, timeout=LINK_TIMEOUT):
        """Polls the node's log for regex `pattern`; returns the match or None."""
        regex = re.compile(pattern)
        return harness.poll_until(lambda: regex.search(self.log_text()), timeout)

    def stats(self):
        """`stats` as {name: value string}."""
        return harness.stats(self)

    def repl_stats(self):
        """The repl_* lines of `stats`."""
        return {k: v for k, v in self.stats().items() if k.startswith("repl_")}

    def stat_int(self, name):
        return int(self.stats()[name])

    def dump(self, timeout=DUMP_TIMEOUT):
        """Every live item as {key: (exptime, cas)}, from `lru_crawler
        metadump all` (exp is -1 for "never", else absolute unix seconds)."""
        with socket.create_connection(("127.0.0.1", self.port), timeout=harness.READ_TIMEOUT) as s:
            s.sendall(b"lru_crawler metadump all\r\n")
            data = _recv_until_end(s, timeout, (b"END\r\n",))
        out = {}
        for key, exp, cas in METADUMP_LINE.findall(data):
            if b"%" in key:
                key = urllib.parse.unquote_to_bytes(key)
            out[key.decode("latin-1")] = (int(exp), int(cas))
        return out

    def values(self, keys, timeout=DUMP_TIMEOUT):
        """{key: (flags, cas, value bytes)} of the keys that exist, read with
        pipelined `mg <key> v c f` (keys must be plain text without spaces)."""
        keys = list(keys)
        out = {}
        with socket.create_connection(("127.0.0.1", self.port), timeout=harness.READ_TIMEOUT) as s:
            reader = _Reader(s, timeout)
            for i in range(0, len(keys), MG_BATCH):
                batch = keys[i:i + MG_BATCH]
                s.sendall(b"".join(b"mg %s v c f\r\n" % k.encode("latin-1") for k in batch))
                for key in batch:
                    header = reader.line().split()
                    if header[0] == b"EN":
                        continue
                    if header[0] != b"VA":
                        raise AssertionError("%s: mg %s answered %r" % (self.name, key, header))
                    meta = {f[:1]: f[1:] for f in header[2:]}
                    value = reader.exact(int(header[1]) + 2)[:-2]
                    out[key] = (int(meta[b"f"]), int(meta[b"c"]), value)
        return out


class Pair:
    """Nodes A and B replicating to each other; see the module docstring.

    args go to both nodes, a_args / b_args to one. `with Pair() as pair:`
    starts both and stops both (and the proxies) at the end.
    """

    def __init__(self, args=(), a_args=(), b_args=(), proxied=False, a_port=None, record=False):
        """`a_port`: node A's client port (default: a free one), for a test
        whose clients hash the address (client-side ketama); one try.
        `record`: the proxies keep the bytes they forward (TcpProxy record=True)."""
        self.args = list(args)
        self.record = record
        self.a_args = list(a_args)
        self.b_args = list(b_args)
        self.proxied = proxied
        self.a_port = a_port
        self.a = self.b = None
        self.proxies = []

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()

    @property
    def nodes(self):
        return (self.a, self.b)

    def other(self, node):
        return self.b if node is self.a else self.a

    def start(self):
        """Starts both nodes (A first); retries with other ports if one was
        taken meanwhile. Does not wait for the link: see wait_connected()."""
        last_error = None
        for _ in range(1 if self.a_port else 3):
            port_a, port_b, repl_a, repl_b = free_ports(4)
            if self.a_port:
                port_a = self.a_port
            connect_a, connect_b = repl_b, repl_a
            if self.proxied:
                self.proxies = [TcpProxy(repl_b, record=self.record),
                                TcpProxy(repl_a, record=self.record)]  # A->B, B->A
                connect_a, connect_b = self.proxies[0].port, self.proxies[1].port
            self.a = Node("A", port_a, repl_a, connect_a, self.args + self.a_args)
            self.b = Node("B", port_b, repl_b, connect_b, self.args + self.b_args)
            try:
                self.a.start()
                self.b.start()
                return self
            except RuntimeError as e:
                last_error = e
                self.stop()
        raise last_error

    def stop(self):
        for node in self.nodes:
            if node is not None:
                node.stop()
        for proxy in self.proxies:
            proxy.close()
        self.proxies = []

    # Link control (proxied pairs only).

    def cut(self):
        """Resets every link between the nodes and refuses new ones."""
        for proxy in self.proxies:
            proxy.cut()

    def stall(self):
        """Freezes every link: nothing is forwarded, connections stay open."""
        for proxy in self.proxies:
            proxy.stall()

    def restore(self):
        for proxy in self.proxies:
            proxy.restore()

    # Waiting and checking.

    def describe(self, lines=30):
        """Both nodes' repl stats and log tails, for failure messages."""
        out = []
        for node in self.nodes:
            try:
                stats = node.repl_stats() if node.alive() else "(not running)"
            except OSError as e:
                stats = "(stats failed: %r)" % e
            out.append("== node %s port %s repl %s->%s stats: %s\n-- log tail:\n%s" %
                       (node.name, node.port, node.repl_port, node.connect_port, stats,
                        node.log_tail(lines)))
        return "\n".join(out)

    def wait_connected(self, timeout=LINK_TIMEOUT):
        """Waits until both nodes report repl_state connected. A node that
        does not answer counts as not connected, so a failure ends with both
        nodes' state and logs (a dead node shows "(not running)")."""
        def connected(node):
            try:
                return node.stats().get("repl_state") == "connected"
            except OSError:
                return False
        ok = harness.poll_until(lambda: all(connected(n) for n in self.nodes), timeout)
        if not ok:
            raise AssertionError("pair did not connect within %.0fs\n%s" %
                                 (timeout, self.describe()))

    def quiet(self):
        """True when each node has applied all the other produced and has no
        unacknowledged record: (stats A, stats B) then, else None."""
        sa, sb = self.a.stats(), self.b.stats()
        for mine, theirs in ((sa, sb), (sb, sa)):
            if mine.get("repl_state") != "connected":
                return None
            if mine.get("repl_lag_records") != "0":
                return None
            if mine.get("repl_acked_offset") != mine.get("repl_offset"):
                return None
            if (theirs.get("repl_peer_replid") != mine.get("repl_replid") or
                    theirs.get("repl_applied_offset") != mine.get("repl_offset")):
                return None
        return sa, sb

    def wait_quiet(self, timeout=CONVERGE_TIMEOUT):
        """Waits (bounded) for quiet(); returns (stats A, stats B)."""
        result = harness.poll_until(self.quiet, timeout)
        if not result:
            raise AssertionError("pair not quiet within %.0fs\n%s" % (timeout, self.describe()))
        return result

    def diff(self, value_keys=None):
        """Differences between the nodes' dumps (key, exptime, cas) and, for
        `value_keys` (default: every key), values, flags and cas. Returns
        (list of text lines, empty when identical; A's dump)."""
        dump_a, dump_b = self.a.dump(), self.b.dump()
        problems = []
        differing = () if dump_a == dump_b else sorted(set(dump_a) | set(dump_b))
        for key in differing:
            if dump_a.get(key) != dump_b.get(key):
                problems.append("dump %r: A %s B %s" % (key, dump_a.get(key), dump_b.get(key)))
        if problems:
            return ["%d of %d/%d keys differ in the dumps (exp, cas):" %
                    (len(problems), len(dump_a), len(dump_b))] + problems, dump_a
        keys = sorted(dump_a) if value_keys is None else list(value_keys)
        values_a, values_b = self.a.values(keys), self.b.values(keys)
        for key in keys:
            if values_a.get(key) != values_b.get(key):
                problems.append("value %r: A %r B %r" % (key, values_a.get(key), values_b.get(key)))
        if problems:
            problems.insert(0, "%d of %d keys differ in (flags, cas, value):" %
                            (len(problems), len(keys)))
        return problems, dump_a

    def assert_converged(self, timeout=CONVERGE_TIMEOUT, value_keys=None):
        """Waits for quiet, then for identical dumps and values (retrying
        until `timeout`: an item may expire between the two dumps). Returns
        A's dump."""
        deadline = time.monotonic() + timeout
        self.wait_quiet(timeout)
        while True:
            problems, dump = self.diff(value_keys)
            if not problems:
                return dump
            if time.monotonic() >= deadline:
                raise AssertionError("nodes did not converge:\n%s\n%s" %
                                     ("\n".join(problems[:20]), self.describe()))
            time.sleep(0.2)  # polling interval


class PairTestCase(unittest.TestCase):
    """Starts one linked pair per test class (PAIR_ARGS to both nodes,
    PAIR_B_ARGS to B alone, PROXIED for a cuttable link) and stops it after; fails the class if a
    node died during its tests. Tests use distinct keys."""

    PAIR_ARGS = ()
    PAIR_B_ARGS = ()  # to node B only
    PROXIED = False

    @classmethod
    def setUpClass(cls):
        cls.pair = Pair(cls.PAIR_ARGS, b_args=cls.PAIR_B_ARGS, proxied=cls.PROXIED).start()
        try:
            cls.pair.wait_connected()
        except BaseException:
            cls.pair.stop()
            raise

    @classmethod
    def tearDownClass(cls):
        dead = [n.name for n in cls.pair.nodes if not n.alive()]
        description = cls.pair.describe() if dead else ""
        cls.pair.stop()
        if dead:
            raise AssertionError("node(s) %s died during the tests\n%s" % (dead, description))

    def setUp(self):
        # A test that fails with the link cut or stalled leaves it flowing.
        self.addCleanup(self.pair.restore)

    def conn(self, node):
        c = node.connect()
        self.addCleanup(c.close)
        return c

    def wait_for(self, predicate, what, timeout=LINK_TIMEOUT):
        """Polls predicate() until truthy; fails with both nodes' state if
        `timeout` passes. Returns its value."""
        value = harness.poll_until(predicate, timeout)
        if not value:
            self.fail("%s: not within %.0fs\n%s" % (what, timeout, self.pair.describe()))
        return value

    def wait_item(self, node, key, expected, timeout=LINK_TIMEOUT):
        """Waits until `node` holds `key` as `expected`: None (absent), a value
        (bytes), or (flags, cas, value). Returns (flags, cas, value) or None."""
        def matches():
            got = item(node, key)
            if expected is None:
                return got is None and ("absent",)
            if got is None:
                return None
            return (got[2] == expected if isinstance(expected, bytes) else got == expected) and got
        got = harness.poll_until(matches, timeout)
        if not got:
            self.fail("node %s: %r is %r, expected %r within %.0fs\n%s" %
                      (node.name, key, item(node, key), expected, timeout, self.pair.describe()))
        return None if expected is None else got


def stats_when(node, predicate, timeout):
    """Polls node.stats() until predicate(stats) holds; returns those stats,
    or None after `timeout` seconds."""
    found = harness.poll_until(lambda: (lambda st: predicate(st) and st)(node.stats()), timeout)
    return found or None


def item(node, key):
    """(flags, cas, value) of `key` on `node`, or None."""
    return node.values([key]).get(key)


class LoadThread(threading.Thread):
    """Runs step(conn, i) for i = 0, 1, ... on its own RawConn to `node` until
    stop() or `max_steps`; records the first exception (check() re-raises it)."""

    def __init__(self, node, step, max_steps=10 ** 9, name=None):
        super().__init__(name=name or "load-%s" % node.name, daemon=True)
        self.node = node
        self.step = step
        self.max_steps = max_steps
        self.steps = 0
        self.error = None
        self._stop_event = threading.Event()

    def run(self):
        try:
            with self.node.connect() as conn:
                while self.steps < self.max_steps and not self._stop_event.is_set():
                    self.step(conn, self.steps)
                    self.steps += 1
        except Exception as e:  # reported by check() on the test's thread
            self.error = e

    def stop(self, timeout=30.0):
        """Stops and joins the thread; returns the number of steps done."""
        self._stop_event.set()
        self.join(timeout)
        if self.is_alive():
            raise AssertionError("%s did not stop within %.0fs" % (self.name, timeout))
        self.check()
        return self.steps

    def check(self):
        if self.error is not None:
            raise AssertionError("%s failed after %d steps: %r" %
                                 (self.name, self.steps, self.error))


def set_value(conn, key, value, exptime=0, flags=0):
    """`set` on RawConn `conn`; asserts STORED."""
    if isinstance(value, str):
        value = value.encode()
    reply = conn.request(b"set %s %d %d %d\r\n%s\r\n" % (key.encode(), flags, exptime,
                                                          len(value), value))
    if reply != b"STORED\r\n":
        raise AssertionError("set %s: %r" % (key, reply))


def set_noreply_many(node, items, batch=5000, flags=0):
    """Stores {key: value bytes} (or an iterable of pairs) on `node` with
    pipelined `set ... noreply`, then waits for a final `mn` so every set is
    done. Bounded by DUMP_TIMEOUT."""
    pairs = items.items() if isinstance(items, dict) else items
    with socket.create_connection(("127.0.0.1", node.port), timeout=harness.READ_TIMEOUT) as s:
        chunk = []
        for key, value in pairs:
            chunk.append(b"set %s %d 0 %d noreply\r\n%s\r\n" % (key.encode(), flags, len(value),
                                                                 value))
            if len(chunk) >= batch:
                s.sendall(b"".join(chunk))
                chunk = []
        chunk.append(b"mn\r\n")
        s.sendall(b"".join(chunk))
        reply = _recv_until_end(s, DUMP_TIMEOUT, (b"MN\r\n", b"ERROR\r\n"))
        if reply != b"MN\r\n":
            raise AssertionError("%s: pipelined sets answered %r" % (node.name, reply[:300]))
