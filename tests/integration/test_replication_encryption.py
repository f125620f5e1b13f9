"""The replication link with a secret is TLS 1.3 with a PSK derived from the
secret (docs/replication.md, "Transport"), and works as the clear one does.

Every pair here dials its twin through recording TcpProxies (tcp_proxy.py), so
the test sees every byte that crossed the "network" between the twins:

- with a secret, a distinctive value written on one node reaches the other
  and never appears in the recorded bytes (the control: without a secret, the
  same recording does show it);
- twins with different secrets never link: the TLS handshake fails and each
  refusal is logged with the peer and the reason; nothing crosses;
- a relay that alters bytes (a man in the middle) is refused: with every
  chunk altered the handshake never succeeds and no write crosses; one byte
  altered on a working link drops that link with a TLS reason, and the value
  that finally arrives is the one written, never an altered one;
- full sync, partial sync (after a cut) and --repl-ack sync work encrypted.
"""

import os
import re
import tempfile
import unittest

from harness import poll_until, twincache_only
from pair import LINK_TIMEOUT, Pair, item, set_noreply_many, set_value

# A value no frame, nonce or key would contain by chance.
MARKER = b"PLAINTEXT-MARKER-7f3a9c-visible-on-the-wire-if-not-encrypted"


def refusals(node):
    return re.findall(r"event=repl_auth_failed .*", node.log_text())


@twincache_only
class EncryptedLinkTest(unittest.TestCase):

    def secret_file(self, text):
        fd, path = tempfile.mkstemp(prefix="twincache-secret-")
        self.addCleanup(os.unlink, path)
        with os.fdopen(fd, "w") as f:
            f.write(text)
        os.chmod(path, 0o600)
        return path

    def start_pair(self, a_args=(), b_args=(), args=()):
        pair = Pair(args=args, a_args=a_args, b_args=b_args, proxied=True, record=True).start()
        self.addCleanup(pair.stop)
        return pair

    def secret_pair(self, args=()):
        path = self.secret_file("correct horse battery staple 2026\n")
        return self.start_pair(args=["--repl-secret-file", path] + list(args))

    def wait_value(self, pair, node, key, value):
        if not poll_until(lambda: (item(node, key) or (0, 0, None))[2] == value, LINK_TIMEOUT):
            self.fail("%s: %r is %r\n%s" % (node.name, key, item(node, key), pair.describe()))

    def recorded(self, pair):
        """Every byte both proxies forwarded, both directions."""
        return b"".join(b"".join(proxy.recorded()) for proxy in pair.proxies)

    def test_recording_relay_sees_no_value_in_clear(self):
        pair = self.secret_pair()
        pair.wait_connected()
        with pair.a.connect() as conn:
            set_value(conn, "marker-a", MARKER)
        with pair.b.connect() as conn:
            set_value(conn, "marker-b", MARKER[::-1])
        self.wait_value(pair, pair.b, "marker-a", MARKER)
        self.wait_value(pair, pair.a, "marker-b", MARKER[::-1])
        wire = self.recorded(pair)
        self.assertGreater(len(wire), 1000, "the proxies recorded nothing")
        for needle in (MARKER, MARKER[::-1], b"marker-a", b"marker-b", b"correct horse"):
            self.assertNotIn(needle, wire)
        # Each proxied connection starts with a TLS handshake record.
        for proxy in pair.proxies:
            sent, _ = proxy.recorded()
            if sent:
                self.assertEqual(sent[:2], b"\x16\x03", "not a TLS record")
        self.assertIn("transport=tls1.3-psk", pair.a.log_text())
        self.assertNotIn("event=repl_unencrypted", pair.a.log_text())

    def test_control_without_secret_the_value_is_in_clear(self):
        # The recorder works: without a secret the same value is on the wire,
        # and the daemon said at start that the link is unencrypted.
        pair = self.start_pair()
        pair.wait_connected()
        with pair.a.connect() as conn:
            set_value(conn, "marker-clear", MARKER)
        self.wait_value(pair, pair.b, "marker-clear", MARKER)
        self.assertIn(MARKER, self.recorded(pair))
        for node in pair.nodes:
            self.assertRegex(node.log_text(), r"level=warning event=repl_unencrypted ")

    def test_wrong_secret_refused_and_logged(self):
        pair = self.start_pair(a_args=["--repl-secret-file", self.secret_file("alpha-7781")],
                               b_args=["--repl-secret-file", self.secret_file("bravo-7781")])
        self.assertTrue(poll_until(lambda: all(len(refusals(n)) >= 2 for n in pair.nodes),
                                   LINK_TIMEOUT), pair.describe())
        for node in pair.nodes:
            line = refusals(node)[0]
            self.assertRegex(line, r"addr=127\.0\.0\.1:\d+ reason=\"TLS handshake: ", line)
            self.assertNotEqual(node.stats()["repl_state"], "connected")
        with pair.a.connect() as conn:
            set_value(conn, "wrong-secret", MARKER)
        self.assertIsNone(item(pair.b, "wrong-secret"))
        self.assertNotIn(MARKER, self.recorded(pair))

    def test_relay_altering_every_chunk_is_refused(self):
        pair = self.secret_pair()
        for proxy in pair.proxies:
            proxy.tamper(-1)
        # A link that came up before the relay began altering ends at its
        # next record (PINGs every 200 ms); from then on none comes up.
        self.assertTrue(poll_until(lambda: all(n.stats()["repl_state"] != "connected"
                                               for n in pair.nodes), LINK_TIMEOUT))
        links_up = [n.log_text().count("event=repl_link_up") for n in pair.nodes]
        refused = sum(len(refusals(n)) for n in pair.nodes)
        with pair.a.connect() as conn:
            set_value(conn, "mitm-all", MARKER)
        self.assertTrue(poll_until(lambda: sum(len(refusals(n)) for n in pair.nodes) >= refused + 4,
                                   LINK_TIMEOUT), pair.describe())
        self.assertGreater(sum(p.tampered for p in pair.proxies), 0)
        self.assertEqual([n.log_text().count("event=repl_link_up") for n in pair.nodes], links_up,
                         pair.describe())
        self.assertIsNone(item(pair.b, "mitm-all"))
        self.assertRegex(pair.a.log_text() + pair.b.log_text(),
                         r"event=repl_auth_failed addr=\S+ reason=\"TLS handshake: ")

    def test_one_altered_byte_drops_the_link_and_nothing_altered_is_applied(self):
        pair = self.secret_pair()
        pair.wait_connected()
        value = MARKER * 20
        for proxy in pair.proxies:
            proxy.tamper(1)
        with pair.a.connect() as conn:
            set_value(conn, "mitm-one", value)
        drop = r"event=repl_link_dropped .*reason=\"TLS: "
        self.assertTrue(poll_until(lambda: any(re.search(drop, n.log_text()) for n in pair.nodes),
                                   LINK_TIMEOUT), pair.describe())
        # The link comes back (nothing alters bytes any more) and the write
        # arrives whole: the altered copy was never applied.
        pair.wait_connected()
        self.wait_value(pair, pair.b, "mitm-one", value)
        pair.wait_quiet()
        self.assertEqual(item(pair.b, "mitm-one")[2], value)
        for node in pair.nodes:
            self.assertEqual(node.stats()["repl_apply_errors"], "0")

    def test_full_sync_encrypted(self):
        pair = self.secret_pair()
        pair.wait_connected()
        items = {"full-%05d" % i: (b"v%05d-" % i) * 40 for i in range(3000)}
        set_noreply_many(pair.a, items)
        pair.wait_quiet()
        # B restarts empty: A sends it a full sync, over TLS.
        pair.b.stop()
        pair.b.start()
        pair.wait_connected()
        pair.wait_quiet()
        self.assertRegex(pair.a.log_text(), r"event=repl_full_sync_sent .*items=3\d\d\d ")
        got = pair.b.values(items)
        self.assertEqual(len(got), len(items))
        self.assertTrue(all(got[k][2] == v for k, v in items.items()))
        self.assertNotIn(items["full-00042"], self.recorded(pair))

    def test_partial_sync_encrypted(self):
        pair = self.secret_pair()
        pair.wait_connected()
        with pair.a.connect() as conn:
            set_value(conn, "before-cut", b"1")
        self.wait_value(pair, pair.b, "before-cut", b"1")
        partial_before = int(pair.a.stats()["repl_partial_syncs"])
        pair.cut()
        self.assertTrue(poll_until(lambda: pair.a.stats()["repl_state"] != "connected", LINK_TIMEOUT))
        with pair.a.connect() as conn:
            set_value(conn, "during-cut", MARKER)
        pair.restore()
        pair.wait_connected()
        self.wait_value(pair, pair.b, "during-cut", MARKER)
        self.assertGreater(int(pair.a.stats()["repl_partial_syncs"]), partial_before)
        self.assertNotIn(MARKER, self.recorded(pair))

    def test_sync_ack_encrypted(self):
        pair = self.secret_pair(args=["--repl-ack", "sync", "--repl-ack-timeout-ms", "2000"])
        pair.wait_connected()
        pair.wait_quiet()
        with pair.a.connect() as conn:
            for i in range(50):
                set_value(conn, "acked-%d" % i, MARKER)
                # STORED came after B applied it: B has it now, no waiting.
                self.assertEqual(item(pair.b, "acked-%d" % i)[2], MARKER)
        self.assertEqual(pair.a.stats()["repl_degraded_writes"], "0")
        self.assertNotIn(MARKER, self.recorded(pair))


if __name__ == "__main__":
    unittest.main()
