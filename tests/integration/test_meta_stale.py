"""Meta protocol recache and invalidation over TCP: mg N (vivify) and R
(recache) with the W, X and Z flags, md I (mark stale), ms I (store a stale
value), ma N/J/D on stale items, base64 keys with these flags, and, between
twins, a stale mark made on one node seen on the other.

The single-server expectations are memcached 1.6.18's exact reply lines
(proto_text.c process_mget_command, process_mdelete_command, memcached.c
do_store_item): run with TWINCACHE_REFERENCE=1 they pass against Debian's
/usr/bin/memcached. A TTL ('t') is checked within a one-second window, since
a server's clock may tick between the store and the read. The replication
class is twincached only.
"""

import re
import unittest

from harness import ServerTestCase, read_stats, twincache_only
from pair import PairTestCase


def reply(conn, line):
    """Sends one command line (str or bytes, without its CRLF unless it
    carries a data block) and returns its whole reply: the status line and,
    after "VA <n>", the data block."""
    if isinstance(line, str):
        line = line.encode()
    conn.send(line if line.endswith(b"\r\n") else line + b"\r\n")
    header = conn.read_line()
    if header.startswith(b"VA "):
        return header + conn.read_exact(int(header.split()[1]) + 2)
    return header


class MetaStaleTest(ServerTestCase):

    def assert_ttl_reply(self, got, pattern, ttl):
        """`got` must match `pattern` (bytes regex with one (\\d+) group, the
        TTL) with ttl - 1 <= TTL <= ttl."""
        match = re.fullmatch(pattern, got, re.S)
        self.assertIsNotNone(match, "%r does not match %r" % (got, pattern))
        self.assertIn(int(match.group(1)), (ttl - 1, ttl), got)

    def cas_of(self, conn, key):
        line = reply(conn, "mg %s c" % key)
        match = re.match(rb"HD c(\d+)", line)
        self.assertIsNotNone(match, line)
        return int(match.group(1))

    def test_vivify_on_miss_has_one_winner(self):
        c1, c2 = self.conn(), self.conn()
        self.assertEqual(reply(c1, "mg viv1 N30 s v"), b"VA 0 s0 W\r\n\r\n")
        # Everyone else finds the placeholder with the token out.
        self.assertEqual(reply(c2, "mg viv1 N30 s v"), b"VA 0 s0 Z\r\n\r\n")
        self.assertEqual(reply(c2, "mg viv1 s f"), b"HD s0 f0 Z\r\n")
        self.assertEqual(reply(c1, "mg viv1 k O12"), b"HD kviv1 O12 Z\r\n")
        self.assert_ttl_reply(reply(c2, "mg viv1 t"), rb"HD t(\d+) Z\r\n", 30)
        # The text protocol sees the empty placeholder as a value.
        self.assertEqual(c2.request("get viv1\r\n", b"END\r\n"), b"VALUE viv1 0 0\r\n\r\nEND\r\n")
        # The winner stores the real value: a fresh item, no token out.
        self.assertEqual(reply(c1, "ms viv1 5 T60\r\nfresh\r\n"), b"HD\r\n")
        self.assertEqual(reply(c2, "mg viv1 N30 v"), b"VA 5\r\nfresh\r\n")

    def test_vivify_with_quiet_opaque_and_ttl_order(self):
        c = self.conn()
        # q hides only misses: a vivified hit is answered.
        self.assertEqual(reply(c, "mg viv2 N30 q O1 k"), b"HD O1 kviv2 W\r\n")
        self.assertEqual(reply(c, "mg viv2 N30 q k"), b"HD kviv2 Z\r\n")
        # memcached applies N and T where they stand: a 't' before them sees
        # the new item's "no TTL", one after them the later of the two.
        self.assertEqual(reply(c, "mg viv3 t N30"), b"HD t-1 W\r\n")
        self.assert_ttl_reply(reply(c, "mg viv4 N30 t T60"), rb"HD t(\d+) W\r\n", 30)
        self.assert_ttl_reply(reply(c, "mg viv4 t"), rb"HD t(\d+) Z\r\n", 60)

    def test_recache_below_the_r_token(self):
        c1, c2 = self.conn(), self.conn()
        self.assertEqual(c1.request("set rc1 0 100 1\r\na\r\n"), b"STORED\r\n")
        self.assertEqual(reply(c1, "mg rc1 R30 v"), b"VA 1\r\na\r\n")  # TTL above the token
        self.assertEqual(reply(c1, "mg rc1 R200 v"), b"VA 1 W\r\na\r\n")
        self.assertEqual(reply(c2, "mg rc1 R200 v"), b"VA 1 Z\r\na\r\n")
        self.assertEqual(reply(c2, "mg rc1 s"), b"HD s1 Z\r\n")
        # A store clears the token: the next client below the token wins.
        self.assertEqual(c2.request("set rc1 0 100 1\r\nb\r\n"), b"STORED\r\n")
        self.assertEqual(reply(c2, "mg rc1 R200"), b"HD W\r\n")
        # An item that never expires never wins a recache.
        self.assertEqual(c1.request("set rc2 0 0 1\r\na\r\n"), b"STORED\r\n")
        self.assertEqual(reply(c1, "mg rc2 R200"), b"HD\r\n")
        # R before T sees the old TTL; after it, the new one.
        self.assertEqual(c1.request("set rc3 0 100 1\r\na\r\n"), b"STORED\r\n")
        self.assert_ttl_reply(reply(c1, "mg rc3 t R30 T10"), rb"HD t(\d+)\r\n", 100)
        self.assertEqual(reply(c1, "mg rc3 R30"), b"HD W\r\n")
        self.assertEqual(c1.request("set rc4 0 100 1\r\na\r\n"), b"STORED\r\n")
        self.assertEqual(reply(c1, "mg rc4 T10 R30"), b"HD W\r\n")

    def test_md_invalidate_marks_stale(self):
        c1, c2 = self.conn(), self.conn()
        self.assertEqual(reply(c1, "ms ds1 5 T0\r\nvalue\r\n"), b"HD\r\n")
        cas = self.cas_of(c1, "ds1")
        before = read_stats(c1)
        self.assertEqual(c1.request("md ds1 I q\r\nmn\r\n"), b"MN\r\n")  # q hides HD
        after = read_stats(c1)
        # A stale mark is neither a delete hit nor a miss.
        self.assertEqual(after["delete_hits"], before["delete_hits"])
        self.assertEqual(after["delete_misses"], before["delete_misses"])
        # The value stays, with a new cas; the first mg wins the recache.
        line = reply(c1, "mg ds1 c v")
        match = re.fullmatch(rb"VA 5 c(\d+) X W\r\nvalue\r\n", line)
        self.assertIsNotNone(match, line)
        self.assertNotEqual(int(match.group(1)), cas)
        self.assertEqual(reply(c2, "mg ds1 v"), b"VA 5 Z X\r\nvalue\r\n")
        self.assertEqual(reply(c2, "mg ds1 R9999"), b"HD Z X\r\n")
        # The text protocol serves the stale value as it is.
        self.assertEqual(c2.request("get ds1\r\n", b"END\r\n"), b"VALUE ds1 0 5\r\nvalue\r\nEND\r\n")
        # Marking again clears the token; T sets a TTL.
        self.assertEqual(reply(c2, "md ds1 I T30 O7 k"), b"HD O7 kds1\r\n")
        self.assert_ttl_reply(reply(c1, "mg ds1 t"), rb"HD t(\d+) X W\r\n", 30)
        # cas compare, misses (never quiet).
        self.assertEqual(reply(c1, "md ds1 I C1"), b"EX\r\n")
        self.assertEqual(reply(c1, "md ds1 I C%d" % self.cas_of(c1, "ds1")), b"HD\r\n")
        self.assertEqual(reply(c1, "md ds-missing I q O5"), b"NF O5\r\n")
        # A plain set makes a fresh item; a plain md deletes a stale one.
        self.assertEqual(reply(c1, "ms ds1 3\r\nnew\r\n"), b"HD\r\n")
        self.assertEqual(reply(c2, "mg ds1 v"), b"VA 3\r\nnew\r\n")
        self.assertEqual(reply(c1, "md ds1 I"), b"HD\r\n")
        self.assertEqual(reply(c1, "md ds1"), b"HD\r\n")
        self.assertEqual(reply(c1, "mg ds1 v"), b"EN\r\n")

    def test_ms_invalidate_stores_an_older_cas_as_stale(self):
        c1, c2 = self.conn(), self.conn()
        self.assertEqual(reply(c1, "ms si1 2 T100\r\nv1\r\n"), b"HD\r\n")
        old_cas = self.cas_of(c1, "si1")
        self.assertEqual(reply(c1, "md si1 I"), b"HD\r\n")
        self.assertEqual(reply(c1, "mg si1"), b"HD X W\r\n")  # c1 recaches
        # Another writer still holding the old cas: stored, but stale, with
        # the old TTL, and the token stays out.
        self.assertEqual(reply(c2, "ms si1 2 I C%d T999\r\nv2\r\n" % old_cas), b"HD\r\n")
        self.assert_ttl_reply(reply(c2, "mg si1 t v"), rb"VA 2 t(\d+) Z X\r\nv2\r\n", 100)
        # A cas above the item's is refused; the item's own cas stores fresh.
        current = self.cas_of(c1, "si1")
        self.assertEqual(reply(c1, "ms si1 2 I C%d\r\nv3\r\n" % (current + 1)), b"EX\r\n")
        self.assertEqual(reply(c1, "ms si1 2 I C%d\r\nv4\r\n" % current), b"HD\r\n")
        self.assertEqual(reply(c2, "mg si1 v"), b"VA 2\r\nv4\r\n")
        # Without C, I does nothing; on a miss, cas mode is NF.
        self.assertEqual(reply(c1, "md si1 I"), b"HD\r\n")
        self.assertEqual(reply(c1, "ms si1 2 I\r\nv5\r\n"), b"HD\r\n")
        self.assertEqual(reply(c1, "mg si1 v"), b"VA 2\r\nv5\r\n")
        self.assertEqual(reply(c1, "ms si-missing 2 I C5\r\nv1\r\n"), b"NF\r\n")

    def test_ma_on_stale_items(self):
        c = self.conn()
        self.assertEqual(reply(c, "ma ma1 N0 J10 v"), b"VA 2\r\n10\r\n")
        self.assertEqual(reply(c, "md ma1 I"), b"HD\r\n")
        # An incr that fits the old number's length keeps the item, stale.
        self.assertEqual(reply(c, "ma ma1 v"), b"VA 2\r\n11\r\n")
        self.assertEqual(reply(c, "mg ma1 v"), b"VA 2 X W\r\n11\r\n")
        self.assertEqual(reply(c, "ma ma1 q D1\r\nmn"), b"MN\r\n")
        self.assertEqual(reply(c, "mg ma1 v"), b"VA 2 Z X\r\n12\r\n")
        # One that grows longer makes a fresh item.
        self.assertEqual(reply(c, "ma ma1 D100 v"), b"VA 3\r\n112\r\n")
        self.assertEqual(reply(c, "mg ma1 v"), b"VA 3\r\n112\r\n")
        # Vivified by ma with a TTL, then decremented.
        self.assertEqual(reply(c, "ma ma2 N30 J5 MD D2 v"), b"VA 1\r\n5\r\n")
        self.assertEqual(reply(c, "ma ma2 MD D2 v"), b"VA 1\r\n3\r\n")
        self.assert_ttl_reply(reply(c, "mg ma2 t v"), rb"VA 1 t(\d+)\r\n3\r\n", 30)
        # N and T apply where they stand; a vivifying ma answers even with q.
        self.assert_ttl_reply(reply(c, "ma ma3 N30 t T60"), rb"HD t(\d+)\r\n", 30)
        self.assert_ttl_reply(reply(c, "ma ma3 t T90"), rb"HD t(\d+)\r\n", 60)
        self.assertEqual(reply(c, "ma ma4 N0 q"), b"HD\r\n")
        self.assertEqual(reply(c, "ma ma4 q\r\nmn"), b"MN\r\n")

    def test_base64_keys(self):
        c = self.conn()
        # "YjY0LXN0YWxl" is base64 of "b64-stale".
        self.assertEqual(reply(c, "ms YjY0LXN0YWxl 2 b\r\nhi\r\n"), b"HD\r\n")
        self.assertEqual(reply(c, "md YjY0LXN0YWxl b I k O3"), b"HD kYjY0LXN0YWxl b O3\r\n")
        self.assertEqual(reply(c, "mg YjY0LXN0YWxl b k v"), b"VA 2 kYjY0LXN0YWxl b X W\r\nhi\r\n")
        self.assertEqual(reply(c, "mg YjY0LXN0YWxl b v"), b"VA 2 Z X\r\nhi\r\n")
        self.assertEqual(c.request("get b64-stale\r\n", b"END\r\n"), b"VALUE b64-stale 0 2\r\nhi\r\nEND\r\n")
        # Vivify and recache by base64 key ("YjY0LW5ldw==" is "b64-new").
        self.assertEqual(reply(c, "mg YjY0LW5ldw== b N30 s v"), b"VA 0 s0 W\r\n\r\n")
        self.assertEqual(reply(c, "mg YjY0LW5ldw== b N30 s"), b"HD s0 Z\r\n")
        self.assertEqual(reply(c, "ms YjY0LW5ldw== 3 b T100\r\nnew\r\n"), b"HD\r\n")
        self.assertEqual(reply(c, "mg YjY0LW5ldw== b R200 v"), b"VA 3 W\r\nnew\r\n")
        self.assertEqual(reply(c, "md YjY0LW5ldw== b I q\r\nmn"), b"MN\r\n")
        self.assertEqual(reply(c, "mg YjY0LW5ldw== b v"), b"VA 3 X W\r\nnew\r\n")


@twincache_only
class MetaStaleReplicationTest(PairTestCase):
    """A stale mark is a new version of the item (docs/replication.md, "Stale
    items and win tokens"): it reaches the twin, whose mg answers X; each
    twin hands out its own win token; a vivified placeholder arrives with its
    token out."""

    def wait_reply(self, node, command, expected):
        """Polls `command` on `node` until it answers `expected` (the twin
        applies asynchronously); fails with both nodes' state otherwise."""
        conn = self.conn(node)
        got = []

        def matches():
            got[:] = [reply(conn, command)]
            return got[0] == expected
        self.wait_for(matches, "%s: %r answers %r (last answer: %r)" % (node.name, command, expected, got))

    def test_md_invalidate_on_one_twin_shows_x_on_the_other(self):
        a, b = self.pair.nodes
        ca, cb = self.conn(a), self.conn(b)
        self.assertEqual(reply(ca, "ms rs1 5 T300\r\nvalue\r\n"), b"HD\r\n")
        self.wait_reply(b, "mg rs1 v", b"VA 5\r\nvalue\r\n")
        self.assertEqual(reply(ca, "md rs1 I T200"), b"HD\r\n")
        # The twin sees the stale item (same cas) and its first reader wins there.
        self.wait_reply(b, "mg rs1 u", b"HD X W\r\n")
        self.assertEqual(reply(cb, "mg rs1 v"), b"VA 5 Z X\r\nvalue\r\n")
        ttl = int(re.match(rb"HD t(\d+)", reply(cb, "mg rs1 t")).group(1))
        self.assertTrue(190 <= ttl <= 200, ttl)
        # Tokens are per node: A's first reader wins on A too. Same cas on both.
        on_a = re.fullmatch(rb"HD c(\d+) X W\r\n", reply(ca, "mg rs1 c"))
        on_b = re.fullmatch(rb"HD c(\d+) Z X\r\n", reply(cb, "mg rs1 c"))
        self.assertTrue(on_a and on_b)
        self.assertEqual(on_a.group(1), on_b.group(1))
        self.assertEqual(reply(ca, "mg rs1"), b"HD Z X\r\n")
        # The recache on B makes a fresh item on both.
        self.assertEqual(reply(cb, "ms rs1 3\r\nnew\r\n"), b"HD\r\n")
        self.wait_reply(a, "mg rs1 v", b"VA 3\r\nnew\r\n")

    def test_ms_invalidate_and_vivify_replicate(self):
        a, b = self.pair.nodes
        ca, cb = self.conn(a), self.conn(b)
        self.assertEqual(reply(ca, "ms rs2 2 T300\r\nv1\r\n"), b"HD\r\n")
        old_cas = int(re.match(rb"HD c(\d+)", reply(ca, "mg rs2 c")).group(1))
        self.assertEqual(reply(ca, "md rs2 I"), b"HD\r\n")
        self.wait_reply(b, "mg rs2 u v", b"VA 2 X W\r\nv1\r\n")
        # A stale store on B (its win token out) reaches A as stale, token out.
        self.assertEqual(reply(cb, "ms rs2 2 I C%d\r\nv2\r\n" % old_cas), b"HD\r\n")
        self.wait_reply(a, "mg rs2 v", b"VA 2 Z X\r\nv2\r\n")
        # A placeholder vivified on A has its token out on B.
        self.assertEqual(reply(ca, "mg rs3 N30 v"), b"VA 0 W\r\n\r\n")
        self.wait_reply(b, "mg rs3 v", b"VA 0 Z\r\n\r\n")  # no N: B must not vivify its own
        self.assertEqual(reply(cb, "mg rs3 N30 v"), b"VA 0 Z\r\n\r\n")
        # Base64 keys ("cnMtYjY0" is "rs-b64").
        self.assertEqual(reply(cb, "ms cnMtYjY0 2 b\r\nhi\r\n"), b"HD\r\n")
        self.wait_reply(a, "mg cnMtYjY0 b v", b"VA 2\r\nhi\r\n")
        self.assertEqual(reply(cb, "md cnMtYjY0 b I"), b"HD\r\n")
        self.wait_reply(a, "mg cnMtYjY0 b k v", b"VA 2 kcnMtYjY0 b X W\r\nhi\r\n")


if __name__ == "__main__":
    unittest.main()
