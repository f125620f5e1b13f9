"""The replication port against wrong secrets, strangers and bad bytes
(docs/replication.md, "Links" and "Wire format").

- Twins with different secret files never link (repl_auth_failed is logged)
  and keep serving clients; the secret never appears in a log.
- A connection from an address that is not the peer is closed at once and
  logged with its address.
- Garbage on the replication port (random bytes, a huge length prefix, a
  frame before HELLO, a truncated or unknown frame after HELLO) drops that
  link with a log line; the daemon stays up and serves.
- A fake peer written from the wire format alone (this file's encoder) can
  link, send a full sync and records, and read the node's own full sync: the
  bytes are exactly as the document says.
"""

import os
import random
import re
import socket
import struct
import tempfile
import threading
import time
import unittest

from harness import poll_until
from pair import (LINK_TIMEOUT, Node, Pair, PairTestCase, free_ports, item, set_value,
                  stats_when)

# Frame types and record kinds of docs/replication.md.
HELLO, AUTH, FULL_BEGIN, FULL_END, RECORD, SNAPSHOT, ACK, PING, PARTIAL_BEGIN, ERROR = range(1, 11)
SET, DELETE, TOUCH, FLUSH = range(1, 5)


def frame(frame_type, payload=b""):
    return struct.pack(">IB", len(payload) + 1, frame_type) + payload


def hello(node_id, replid, offset=0, peer_replid=bytes(16), peer_offset=0, flags=0,
          nonce=bytes(32), version=1):
    return frame(HELLO, struct.pack(">HQ16sQ16sQB32s", version, node_id, replid, offset,
                                    peer_replid, peer_offset, flags, nonce))


def record(kind, hlc, origin, key=b"", value=b"", flags=0, exptime=0, exptime_version=None):
    out = struct.pack(">BQQ", kind, hlc, origin)
    if kind in (SET, TOUCH):
        out += struct.pack(">B", len(key)) + key
        out += struct.pack(">IqQI", flags, exptime,
                           hlc if exptime_version is None else exptime_version, len(value))
        out += value
    elif kind == DELETE:
        out += struct.pack(">B", len(key)) + key
    return out


def parse_record(payload):
    kind, hlc, origin = struct.unpack_from(">BQQ", payload)
    out = {"kind": kind, "hlc": hlc, "origin": origin}
    pos = 17
    if kind in (SET, TOUCH, DELETE):
        key_len = payload[pos]
        out["key"] = payload[pos + 1:pos + 1 + key_len]
        pos += 1 + key_len
    if kind in (SET, TOUCH):
        out["flags"], out["exptime"], out["exptime_version"], value_len = \
            struct.unpack_from(">IqQI", payload, pos)
        pos += 24
        out["value"] = payload[pos:pos + value_len]
        pos += value_len
    if kind == FLUSH:
        (out["at_ms"],) = struct.unpack_from(">q", payload, pos)
        pos += 8
    if pos != len(payload):
        raise AssertionError("record of kind %d: %d bytes, parsed %d" % (kind, len(payload), pos))
    return out


def parse_hello(payload):
    fields = struct.unpack(">HQ16sQ16sQB32s", payload)
    names = ("version", "node_id", "replid", "offset", "peer_replid", "peer_offset", "flags",
             "nonce")
    return dict(zip(names, fields))


def split_frames(data):
    """The whole frames in `data` as (type, payload) pairs."""
    frames = []
    while len(data) >= 5:
        (length,) = struct.unpack_from(">I", data)
        if len(data) < 4 + length:
            break
        frames.append((data[4], data[5:4 + length]))
        data = data[4 + length:]
    return frames


def hlc_now():
    return int(time.time() * 1000) << 16


class FrameReader(threading.Thread):
    """Reads the frames a node sends on a socket until it closes; frames are
    (type, payload) in `frames`."""

    def __init__(self, sock):
        super().__init__(daemon=True)
        self.sock = sock
        self.frames = []
        self.closed = False

    def run(self):
        data = b""
        self.sock.settimeout(None)
        try:
            while True:
                chunk = self.sock.recv(1 << 16)
                if not chunk:
                    break
                data += chunk
                while len(data) >= 5:
                    (length,) = struct.unpack_from(">I", data)
                    if len(data) < 4 + length:
                        break
                    self.frames.append((data[4], data[5:4 + length]))
                    data = data[4 + length:]
        except OSError:
            pass
        self.closed = True

    def first(self, frame_type, timeout=LINK_TIMEOUT, where=lambda payload: True):
        """The payload of the first frame of `frame_type` that satisfies `where`."""
        def find():
            for t, payload in list(self.frames):
                if t == frame_type and where(payload):
                    return (payload,)
            return None
        found = poll_until(find, timeout)
        if not found:
            raise AssertionError("no frame of type %d within %.0fs; got types %s" %
                                 (frame_type, timeout, [t for t, _ in self.frames]))
        return found[0]


class LonelyNodeTestCase(unittest.TestCase):
    """One node whose peer (127.0.0.1, a dead port) never answers: the test
    plays the peer on the node's replication port."""

    def setUp(self):
        port, repl_port, dead_port = free_ports(3)
        self.node = Node("A", port, repl_port, dead_port, [])
        self.node.start()
        self.addCleanup(self.node.stop)

    def dial(self, source="127.0.0.1"):
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.addCleanup(s.close)
        s.bind((source, 0))
        s.settimeout(5)
        s.connect(("127.0.0.1", self.node.repl_port))
        return s

    def drops(self):
        """Links dropped so far (repl_link_failed: dropped before the handshake ended)."""
        return len(re.findall(r"event=repl_link_(dropped|failed) .*reason=", self.node.log_text()))

    def assert_serving(self):
        self.assertTrue(self.node.alive(), self.node.log_text())
        with self.node.connect() as conn:
            set_value(conn, "alive", b"yes")
            self.assertEqual(conn.get_values("get alive")["alive"][1], b"yes")

    def assert_closed(self, sock, what):
        """The node closes `sock` within 5 s; returns what it sent before."""
        deadline = time.monotonic() + 5
        received = b""
        while time.monotonic() < deadline:
            sock.settimeout(max(0.01, deadline - time.monotonic()))
            try:
                chunk = sock.recv(1 << 16)
            except socket.timeout:
                break
            except ConnectionResetError:
                return received
            if not chunk:
                return received
            received += chunk
        self.fail("%s: the node kept the link open\n%s" % (what, self.node.log_tail()))


class GarbageTest(LonelyNodeTestCase):

    def check_dropped(self, what, data, shutdown=False):
        """Sends `data` as the peer; the node must close the link, log it and
        keep serving. Returns the frames the node sent, as (type, payload)."""
        drops = self.drops()
        s = self.dial()
        s.sendall(data)
        if shutdown:
            s.shutdown(socket.SHUT_WR)
        received = self.assert_closed(s, what)
        self.assertTrue(
            poll_until(lambda: self.drops() > drops, 5),
            "%s: no event=repl_link_dropped (or _failed) logged\n%s" % (what, self.node.log_tail()))
        self.assert_serving()
        return split_frames(received)

    def test_garbage_drops_the_link_only(self):
        rng = random.Random(3)
        good_hello = hello(0x1234, bytes(range(16)))
        # Random bytes whose length prefix exceeds max_frame.
        self.check_dropped("random bytes", b"\x7f" + bytes(rng.randrange(256) for _ in range(4095)))
        self.check_dropped("huge length prefix", b"\xff\xff\xff\xff\x01" + b"\x00" * 100)
        self.check_dropped("zero length frame", b"\x00\x00\x00\x00")
        self.check_dropped("unknown frame type before HELLO", frame(99, b"abc"))
        self.check_dropped("record before HELLO",
                           frame(RECORD, struct.pack(">Q", 1) +
                                 record(SET, hlc_now(), 77, b"sneaky", b"x")))
        frames = self.check_dropped("HELLO of protocol version 2",
                                    hello(0x1234, bytes(16), version=2))
        self.assertIn((ERROR, struct.pack(">H", 28) + b"unsupported protocol version"), frames)
        self.check_dropped("HELLO, then an unknown frame type", good_hello + frame(99, b"x"))
        self.check_dropped("HELLO, then a frame longer than its record",
                           good_hello + frame(SNAPSHOT, record(SET, hlc_now(), 77, b"k1", b"v") +
                                              b"trailing"))
        self.check_dropped("HELLO, then a truncated frame",
                           good_hello + frame(FULL_BEGIN, bytes(32))[:20], shutdown=True)
        self.check_dropped("HELLO, then a full sync whose FULL_END miscounts",
                           good_hello + frame(FULL_BEGIN, bytes(range(16)) + struct.pack(">QQ", 0, 1)) +
                           frame(SNAPSHOT, record(SET, hlc_now(), 77, b"counted", b"x")) +
                           frame(FULL_END, struct.pack(">Q", 2)))
        self.assertIn("reason=\"FULL_END counts 2 items, 1 arrived\"", self.node.log_text())
        self.assertEqual(self.node.stats()["repl_initial_sync"], "pending")
        self.assertIsNone(item(self.node, "sneaky"))
        self.assertIsNone(item(self.node, "k1"))
        self.assertIn(self.node.stats()["repl_state"], ("connecting", "disconnected"))
        print("\nlog lines of the drops:\n%s" % "\n".join(
            line for line in self.node.log_text().splitlines() if "repl_link_" in line))

    def test_stranger_address_refused(self):
        s = self.dial(source="127.0.0.2")
        s.sendall(hello(0x1234, bytes(range(16))))
        self.assertEqual(self.assert_closed(s, "connection from 127.0.0.2"), b"",
                         "the node sent bytes to a stranger")
        self.assertIsNotNone(self.node.wait_log(r"event=repl_refused .*addr=127\.0\.0\.2", 5),
                             self.node.log_tail())
        self.assert_serving()


class FakePeerTest(LonelyNodeTestCase):
    """The test speaks the wire format to the node as its peer."""

    def test_fake_peer_full_sync_and_records(self):
        node = self.node
        with node.connect() as conn:
            conn.request("set node-key 5 0 9\r\nnode-data\r\n")
            conn.request("set node-old 0 0 4\r\nkeep\r\n")
            conn.request("set node-del 0 0 4\r\ngone\r\n")
        node_items = node.values(["node-key", "node-old", "node-del"])
        stats = node.stats()

        my_id = 0x5EED0000_00000001
        my_replid = bytes(range(100, 116))
        s = self.dial()
        s.sendall(hello(my_id, my_replid, offset=3, nonce=os.urandom(32)))
        reader = FrameReader(s)
        reader.start()
        theirs = parse_hello(reader.first(HELLO))
        self.assertEqual(theirs["version"], 1)
        self.assertEqual(theirs["node_id"], int(stats["repl_node_id"]))
        self.assertEqual(theirs["replid"].hex(), stats["repl_replid"])
        self.assertEqual(theirs["peer_replid"], bytes(16))
        self.assertEqual(theirs["flags"] & 2, 0, "no secret configured")

        # Our full sync, then records 1..3 of our stream, versioned after
        # every item the node holds.
        base = max([hlc_now()] + [cas for _, cas, _ in node_items.values()]) + (1 << 16)
        s.sendall(frame(FULL_BEGIN, my_replid + struct.pack(">QQ", 0, 1)) +
                  frame(SNAPSHOT, record(SET, base + 1, my_id, b"fake-key", b"fake-data", 7)) +
                  frame(FULL_END, struct.pack(">Q", 1)))
        self.wait_item_is("fake-key", (7, base + 1, b"fake-data"))
        self.assertTrue(poll_until(lambda: node.stats()["repl_initial_sync"] == "done", 5))
        old_cas = node_items["node-old"][1]
        s.sendall(frame(RECORD, struct.pack(">Q", 1) +
                        record(SET, base + 2, my_id, b"fake-live", b"live", 3,
                               exptime=2000000000)) +
                  frame(RECORD, struct.pack(">Q", 2) +
                        record(DELETE, base + 3, my_id, b"node-del")) +
                  frame(RECORD, struct.pack(">Q", 3) +
                        record(SET, old_cas - 1, my_id, b"node-old", b"older")))
        self.wait_item_is("fake-live", (3, base + 2, b"live"))
        self.assertEqual(node.dump()["fake-live"], (2000000000, base + 2))
        self.wait_item_is("node-del", None)
        stats = stats_when(node, lambda st: st["repl_applied_offset"] == "3", 5)
        self.assertTrue(stats, node.repl_stats())
        self.assertEqual(item(node, "node-old"), node_items["node-old"], "an older write won")
        self.assertGreaterEqual(int(stats["repl_conflicts"]), 1)
        self.assertEqual(stats["repl_peer_replid"], my_replid.hex())
        self.assertEqual(stats["repl_state"], "connected")

        # The node's full sync of its own stream: FULL_BEGIN, SNAPSHOTs, FULL_END.
        begin = reader.first(FULL_BEGIN)
        self.assertEqual(begin[:16].hex(), stats["repl_replid"])
        reader.first(FULL_END)
        snapshots = [parse_record(p) for t, p in reader.frames if t == SNAPSHOT]
        by_key = {r["key"]: r for r in snapshots}
        sent = by_key.get(b"node-key")
        self.assertIsNotNone(sent, "node-key not in the node's full sync: %s" % sorted(by_key))
        self.assertEqual((sent["kind"], sent["flags"], sent["hlc"], sent["value"], sent["exptime"]),
                         (SET, 5, node_items["node-key"][1], b"node-data", 0))
        self.assertEqual(sent["origin"], int(stats["repl_node_id"]))
        # Its acknowledgement of our records.
        reader.first(ACK, where=lambda p: struct.unpack(">Q", p)[0] >= 3)

        # A local write now streams to us as a RECORD.
        with node.connect() as conn:
            conn.request("set after-link 0 0 1\r\nz\r\n")
        payload = reader.first(RECORD, where=lambda p: b"after-link" in p)
        (offset,) = struct.unpack_from(">Q", payload)
        rec = parse_record(payload[8:])
        self.assertEqual((rec["kind"], rec["key"], rec["value"]), (SET, b"after-link", b"z"))
        self.assertEqual(rec["hlc"], item(node, "after-link")[1])
        self.assertGreater(offset, struct.unpack_from(">Q", begin, 16)[0])

        def drops():
            return len(re.findall(r"event=repl_link_dropped .*reason=", node.log_text()))
        dropped = drops()
        s.close()
        self.assertTrue(poll_until(lambda: drops() > dropped, 5), node.log_tail())
        self.assert_serving()

    def test_hello_offset_acknowledges(self):
        # A peer whose HELLO says it applied all of the node's stream (it got
        # the records on an earlier link) has nothing outstanding: the node's
        # repl_acked_offset and repl_lag_records must say so without waiting
        # for a new write (else lag never clears, and sync-ack waiters wait).
        node = self.node
        with node.connect() as conn:
            for i in range(5):
                set_value(conn, "pre%d" % i, b"x")
        stats = node.stats()
        self.assertEqual(stats["repl_offset"], "5")
        s = self.dial()
        reader = FrameReader(s)
        reader.start()
        s.sendall(hello(0x5EED, bytes(range(16)), peer_replid=bytes.fromhex(stats["repl_replid"]),
                        peer_offset=5))
        begin = reader.first(PARTIAL_BEGIN)
        self.assertEqual(struct.unpack_from(">Q", begin, 16)[0], 6)
        s.sendall(frame(FULL_BEGIN, bytes(range(16)) + struct.pack(">QQ", 0, 0)) +
                  frame(FULL_END, struct.pack(">Q", 0)))
        stats = stats_when(node, lambda st: st["repl_state"] == "connected", 5)
        self.assertTrue(stats, node.log_tail())
        synced = poll_until(lambda: node.stats()["repl_lag_records"] == "0", 3)
        stats = node.stats()
        self.assertTrue(synced, "peer's HELLO said it applied offset 5, yet repl_acked_offset "
                        "%s repl_lag_records %s" % (stats["repl_acked_offset"],
                                                    stats["repl_lag_records"]))
        self.assertEqual(stats["repl_acked_offset"], "5")

    def test_lazy_acks_to_an_async_peer(self):
        # A node in --repl-ack async says so in its HELLO (flags bit 3, 0x08):
        # its replies wait for no ACK. To a peer that says so, the node sends
        # at most one ACK a millisecond, yet the last ACK always comes and
        # covers every record applied.
        node = self.node
        s = self.dial()
        reader = FrameReader(s)
        reader.start()
        my_id = 0x5EED
        s.sendall(hello(my_id, bytes(range(16)), flags=8))
        theirs = parse_hello(reader.first(HELLO))
        self.assertEqual(theirs["flags"] & 8, 8, "an async node waits for no ACK")
        s.sendall(frame(FULL_BEGIN, bytes(range(16)) + struct.pack(">QQ", 0, 0)) +
                  frame(FULL_END, struct.pack(">Q", 0)))
        self.assertTrue(stats_when(node, lambda st: st["repl_state"] == "connected", 5), node.log_tail())
        count = 200
        base = hlc_now()
        started = time.monotonic()
        for i in range(1, count + 1):
            # Each record in a read of its own (applied before the next is
            # sent), which an eager node would acknowledge one by one.
            s.sendall(frame(RECORD, struct.pack(">Q", i) +
                            record(SET, base + i, my_id, b"lazy%d" % i, b"v")))
            self.assertTrue(stats_when(node, lambda st, i=i: int(st["repl_applied_offset"]) >= i, 5),
                            node.log_tail())
        reader.first(ACK, where=lambda p: struct.unpack(">Q", p)[0] == count)
        window_ms = (time.monotonic() - started) * 1000
        acks = [struct.unpack(">Q", p)[0] for t, p in list(reader.frames) if t == ACK]
        self.assertEqual(acks, sorted(acks), "ACKs never go back")
        self.assertLessEqual(len(acks), int(window_ms) + 1,
                             "%d ACKs within %.1f ms: more than one a millisecond" % (len(acks), window_ms))
        self.assertEqual(item(node, "lazy%d" % count)[2], b"v")

    def test_back_to_back_writes_all_stream(self):
        # An async node wakes its link at most once per 250 us: writes that
        # follow one another within that go out together when it ends. None
        # may be left behind: every write reaches the peer, in order, also
        # the last of a burst.
        node = self.node
        s = self.dial()
        reader = FrameReader(s)
        reader.start()
        s.sendall(hello(0x5EED, bytes(range(16))))
        reader.first(HELLO)
        reader.first(FULL_END)
        count = 300
        with node.connect() as conn:
            for i in range(count):
                set_value(conn, "burst%d" % i, b"b")
        last = int(node.stats()["repl_offset"])
        reader.first(RECORD, where=lambda p: struct.unpack_from(">Q", p)[0] == last)
        records = [(struct.unpack_from(">Q", p)[0], parse_record(p[8:])["key"])
                   for t, p in list(reader.frames) if t == RECORD]
        self.assertEqual([offset for offset, _ in records], list(range(last - count + 1, last + 1)))
        self.assertEqual([key for _, key in records], [b"burst%d" % i for i in range(count)])

    def test_sync_node_asks_for_prompt_acks(self):
        # A node in --repl-ack sync leaves HELLO flags bit 3 clear, so its
        # peer acknowledges after every read.
        port, repl_port, dead_port = free_ports(3)
        node = Node("S", port, repl_port, dead_port, ["--repl-ack", "sync"])
        node.start()
        self.addCleanup(node.stop)
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.addCleanup(s.close)
        s.settimeout(5)
        s.connect(("127.0.0.1", node.repl_port))
        reader = FrameReader(s)
        reader.start()
        s.sendall(hello(0x5EED, bytes(range(16))))
        theirs = parse_hello(reader.first(HELLO))
        self.assertEqual(theirs["flags"] & 8, 0)

    def test_ping_shows_peer_offset_and_clock_skew(self):
        # PING carries the peer's clock and stream end: repl_peer_offset and
        # repl_peer_clock_skew_ms show them, and a skew over 1 s is logged once.
        node = self.node
        s = self.dial()
        reader = FrameReader(s)
        reader.start()
        s.sendall(hello(0x5EED, bytes(range(16))))
        reader.first(HELLO)
        s.sendall(frame(FULL_BEGIN, bytes(range(16)) + struct.pack(">QQ", 0, 0)) +
                  frame(FULL_END, struct.pack(">Q", 0)))
        behind_ms = int(time.time() * 1000) - 5000
        s.sendall(frame(PING, struct.pack(">qQ", behind_ms, 42)))
        stats = stats_when(node, lambda st: st["repl_peer_offset"] == "42", 5)
        self.assertTrue(stats, node.log_tail())
        self.assertGreaterEqual(int(stats["repl_peer_clock_skew_ms"]), 5000)
        self.assertTrue(poll_until(lambda: "event=repl_clock_skew" in node.log_text(), 5), node.log_tail())
        s.sendall(frame(PING, struct.pack(">qQ", behind_ms + 1, 43)))
        self.assertTrue(stats_when(node, lambda st: st["repl_peer_offset"] == "43", 5))
        self.assertEqual(node.log_text().count("event=repl_clock_skew"), 1)

    def wait_item_is(self, key, expected):
        if not poll_until(lambda: item(self.node, key) == expected, 5):
            self.fail("%s is %r, expected %r\n%s" % (key, item(self.node, key), expected,
                                                     self.node.log_tail()))


class SecretTest(unittest.TestCase):

    def secret_file(self, text):
        f = tempfile.NamedTemporaryFile("w", prefix="twincache-secret-", delete=False)
        self.addCleanup(os.unlink, f.name)
        f.write(text)
        f.close()
        os.chmod(f.name, 0o600)
        return f.name

    def start_pair(self, a_args, b_args):
        pair = Pair(a_args=a_args, b_args=b_args).start()
        self.addCleanup(pair.stop)
        return pair

    def assert_serving(self, node):
        with node.connect() as conn:
            set_value(conn, "own-%s" % node.name, b"1")
            self.assertEqual(conn.get_values("get own-%s" % node.name)["own-%s" % node.name][1],
                             b"1")

    def test_same_secret_links(self):
        path = self.secret_file("correct horse battery staple\n")
        pair = self.start_pair(["--repl-secret-file", path], ["--repl-secret-file", path])
        pair.wait_connected()
        with pair.a.connect() as conn:
            set_value(conn, "authed", b"ok")
        self.assertTrue(poll_until(lambda: item(pair.b, "authed"), LINK_TIMEOUT), pair.describe())
        for node in pair.nodes:
            self.assertNotIn("correct horse", node.log_text())
            self.assertNotIn("correct horse", " ".join(map(str, node.stats().values())))

    def test_wrong_secret_never_links(self):
        a_secret, b_secret = "alpha-secret-4711", "bravo-secret-4711"
        pair = self.start_pair(["--repl-secret-file", self.secret_file(a_secret)],
                               ["--repl-secret-file", self.secret_file(b_secret)])
        def failures():
            return sum(len(re.findall(r"event=repl_auth_failed", n.log_text())) for n in pair.nodes)
        self.assertTrue(poll_until(lambda: failures() >= 3, LINK_TIMEOUT),
                             "fewer than 3 repl_auth_failed logged\n%s" % pair.describe())
        self.assertRegex(pair.a.log_text() + pair.b.log_text(),
                         r"event=repl_auth_failed .*addr=127\.0\.0\.1")
        for node in pair.nodes:
            self.assertNotEqual(node.stats()["repl_state"], "connected", pair.describe())
            self.assert_serving(node)
            for secret in (a_secret, b_secret):
                self.assertNotIn(secret, node.log_text())
        self.assertIsNone(item(pair.b, "own-A"), "a write crossed an unauthenticated link")

    def test_secret_on_one_side_only_never_links(self):
        pair = self.start_pair(["--repl-secret-file", self.secret_file("only-a-has-it")], [])
        def drops():
            return sum(len(re.findall(r"event=repl_(auth_failed|link_dropped|link_failed)",
                                      n.log_text()))
                       for n in pair.nodes)
        self.assertTrue(poll_until(lambda: drops() >= 3, LINK_TIMEOUT),
                             "no refused link logged\n%s" % pair.describe())
        for node in pair.nodes:
            self.assertNotEqual(node.stats()["repl_state"], "connected", pair.describe())
            self.assert_serving(node)
        self.assertIsNone(item(pair.a, "own-B"), "a write crossed an unauthenticated link")


class StrangerOnLinkedPairTest(PairTestCase):

    def test_stranger_does_not_disturb_the_link(self):
        a, b = self.pair.nodes
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.addCleanup(s.close)
        s.bind(("127.0.0.2", 0))
        s.settimeout(5)
        s.connect(("127.0.0.1", a.repl_port))
        s.sendall(hello(0x1234, bytes(range(16))))
        try:
            received = s.recv(1 << 16)
        except ConnectionResetError:
            received = b""
        self.assertEqual(received, b"")
        self.assertIsNotNone(a.wait_log(r"event=repl_refused .*addr=127\.0\.0\.2", 5))
        self.assertEqual(a.stats()["repl_state"], "connected")
        with a.connect() as conn:
            set_value(conn, "after-stranger", b"1")
        self.wait_item(b, "after-stranger", b"1")


if __name__ == "__main__":
    unittest.main()
