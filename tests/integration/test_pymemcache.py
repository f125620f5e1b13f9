"""Every memcached text and meta command through a real client.

Uses Debian's python3-pymemcache (3.5: no gat/gats, no meta commands), and a
raw socket where pymemcache lacks a command or hides the exact reply. The
expectations hold for memcached 1.6.18 (run with TWINCACHE_REFERENCE=1).
"""

import time
import unittest

from harness import ServerTestCase, poll_until, read_stats, twincache_only

MAX_U64 = 2**64 - 1


class StorageCommandsTest(ServerTestCase):

    def setUp(self):
        self.mc = self.client(default_noreply=False)

    def test_set_get(self):
        self.assertTrue(self.mc.set("sg", b"hello", expire=0, flags=42))
        self.assertEqual(self.mc.get("sg"), b"hello")
        # flags come back on the VALUE line.
        c = self.conn()
        self.assertEqual(c.get_values("get sg"), {"sg": ([b"VALUE", b"sg", b"42", b"5"], b"hello")})
        self.assertIsNone(self.mc.get("sg-missing"))

    def test_max_flags(self):
        c = self.conn()
        self.assertEqual(c.request("set fl 4294967295 0 1\r\nx\r\n"), b"STORED\r\n")
        self.assertEqual(c.get_values("get fl")["fl"][0][2], b"4294967295")

    def test_empty_value(self):
        self.assertTrue(self.mc.set("empty", b""))
        self.assertEqual(self.mc.get("empty"), b"")

    def test_get_many(self):
        keys = ["gm%d" % i for i in range(100)]
        for k in keys[:50]:
            self.mc.set(k, k.encode() * 3)
        got = self.mc.get_many(keys)
        self.assertEqual(got, {k: k.encode() * 3 for k in keys[:50]})

    def test_get_many_raw_order_and_duplicates(self):
        c = self.conn()
        c.request("set o1 0 0 1\r\na\r\n")
        c.request("set o2 0 0 1\r\nb\r\n")
        c.send("get o2 nope o1 o2\r\n")
        self.assertEqual(c.read_until(b"END\r\n"),
                         b"VALUE o2 0 1\r\nb\r\nVALUE o1 0 1\r\na\r\nVALUE o2 0 1\r\nb\r\nEND\r\n")

    def test_gets_and_cas(self):
        self.mc.set("cas1", b"v1")
        value, cas = self.mc.gets("cas1")
        self.assertEqual(value, b"v1")
        self.assertTrue(self.mc.cas("cas1", b"v2", cas))
        self.assertEqual(self.mc.get("cas1"), b"v2")
        # The old cas unique no longer matches.
        self.assertFalse(self.mc.cas("cas1", b"v3", cas))
        self.assertEqual(self.mc.get("cas1"), b"v2")
        # cas on a missing key → NOT_FOUND (pymemcache: None).
        self.assertIsNone(self.mc.cas("cas-missing", b"x", cas))
        # Every modification changes the cas unique.
        _, cas2 = self.mc.gets("cas1")
        self.assertNotEqual(cas, cas2)
        self.mc.append("cas1", b"+")
        _, cas3 = self.mc.gets("cas1")
        self.assertNotEqual(cas2, cas3)

    def test_cas_raw_replies(self):
        c = self.conn()
        self.assertEqual(c.request("cas rc 0 0 1 1\r\nx\r\n"), b"NOT_FOUND\r\n")
        c.request("set rc 0 0 1\r\nx\r\n")
        cas = int(c.get_values("gets rc")["rc"][0][4])
        self.assertEqual(c.request("cas rc 0 0 1 %d\r\ny\r\n" % (cas + 1000)), b"EXISTS\r\n")
        self.assertEqual(c.request("cas rc 0 0 1 %d\r\ny\r\n" % cas), b"STORED\r\n")

    def test_gets_many(self):
        self.mc.set("gsm1", b"a")
        self.mc.set("gsm2", b"b")
        got = self.mc.gets_many(["gsm1", "gsm2", "gsm3"])
        self.assertEqual(set(got), {"gsm1", "gsm2"})
        self.assertEqual(got["gsm1"][0], b"a")
        self.assertNotEqual(got["gsm1"][1], got["gsm2"][1])

    def test_add(self):
        self.assertTrue(self.mc.add("add1", b"first"))
        self.assertFalse(self.mc.add("add1", b"second"))
        self.assertEqual(self.mc.get("add1"), b"first")

    def test_replace(self):
        self.assertFalse(self.mc.replace("rep1", b"x"))
        self.assertIsNone(self.mc.get("rep1"))
        self.mc.set("rep1", b"a", flags=1)
        self.assertTrue(self.mc.replace("rep1", b"b", flags=2))
        c = self.conn()
        self.assertEqual(c.get_values("get rep1")["rep1"], ([b"VALUE", b"rep1", b"2", b"1"], b"b"))

    def test_append_prepend(self):
        self.assertFalse(self.mc.append("ap1", b"x"))
        self.assertFalse(self.mc.prepend("ap1", b"x"))
        self.mc.set("ap1", b"mid", flags=7)
        self.assertTrue(self.mc.append("ap1", b"-end"))
        self.assertTrue(self.mc.prepend("ap1", b"start-"))
        self.assertEqual(self.mc.get("ap1"), b"start-mid-end")
        # append/prepend ignore the flags and exptime they are given.
        c = self.conn()
        self.assertEqual(c.request("append ap1 99 -1 1\r\n!\r\n"), b"STORED\r\n")
        self.assertEqual(c.get_values("get ap1")["ap1"][0][2], b"7")
        self.assertEqual(self.mc.get("ap1"), b"start-mid-end!")

    def test_delete(self):
        self.mc.set("del1", b"x")
        self.assertTrue(self.mc.delete("del1"))
        self.assertFalse(self.mc.delete("del1"))
        self.assertIsNone(self.mc.get("del1"))
        c = self.conn()
        self.assertEqual(c.request("delete del1\r\n"), b"NOT_FOUND\r\n")
        c.request("set del1 0 0 1\r\nx\r\n")
        self.assertEqual(c.request("delete del1\r\n"), b"DELETED\r\n")
        # memcached accepts a legacy "0" time argument.
        c.request("set del1 0 0 1\r\nx\r\n")
        self.assertEqual(c.request("delete del1 0\r\n"), b"DELETED\r\n")

    def test_touch(self):
        self.assertFalse(self.mc.touch("touch-missing", 10))
        self.mc.set("touch1", b"x", expire=100)
        self.assertTrue(self.mc.touch("touch1", 0))
        c = self.conn()
        self.assertEqual(c.request("mg touch1 t\r\n"), b"HD t-1\r\n")
        self.assertEqual(c.request("touch touch1 1000\r\n"), b"TOUCHED\r\n")
        ttl = int(c.request("mg touch1 t\r\n").split()[1][1:])
        self.assertTrue(990 <= ttl <= 1000, ttl)

    def test_gat_gats(self):
        # pymemcache 3.5 has no gat/gats: raw socket.
        c = self.conn()
        self.assertEqual(c.request("gat 100 gat-missing\r\n"), b"END\r\n")
        c.request("set gat1 5 0 3\r\nabc\r\n")
        c.request("set gat2 6 0 2\r\nde\r\n")
        got = c.get_values("gat 500 gat1 gat2 gat-missing")
        self.assertEqual(got["gat1"], ([b"VALUE", b"gat1", b"5", b"3"], b"abc"))
        self.assertEqual(got["gat2"], ([b"VALUE", b"gat2", b"6", b"2"], b"de"))
        ttl = int(c.request("mg gat1 t\r\n").split()[1][1:])
        self.assertTrue(490 <= ttl <= 500, ttl)
        got = c.get_values("gats 0 gat1")
        fields, data = got["gat1"]
        self.assertEqual((fields[:4], data), ([b"VALUE", b"gat1", b"5", b"3"], b"abc"))
        gets_cas = c.get_values("gets gat1")["gat1"][0][4]
        self.assertEqual(fields[4], gets_cas)
        self.assertEqual(c.request("mg gat1 t\r\n"), b"HD t-1\r\n")

    def test_many_commands_pipelined(self):
        c = self.conn()
        c.send(b"".join(b"set pipe%d 0 0 2\r\n%02d\r\n" % (i, i % 100) for i in range(500)))
        for _ in range(500):
            self.assertEqual(c.read_line(), b"STORED\r\n")
        got = c.get_values("get " + " ".join("pipe%d" % i for i in range(500)))
        self.assertEqual(len(got), 500)
        self.assertEqual(got["pipe123"][1], b"23")


class ArithmeticTest(ServerTestCase):

    def setUp(self):
        self.mc = self.client(default_noreply=False)

    def test_incr_decr(self):
        self.assertIsNone(self.mc.incr("ar-missing", 1))
        self.assertIsNone(self.mc.decr("ar-missing", 1))
        self.mc.set("ar1", b"10")
        self.assertEqual(self.mc.incr("ar1", 5), 15)
        self.assertEqual(self.mc.decr("ar1", 3), 12)
        self.assertEqual(self.mc.get("ar1").strip(), b"12")
        self.assertEqual(self.mc.incr("ar1", 88), 100)  # grows a digit
        self.assertEqual(self.mc.get("ar1"), b"100")

    def test_incr_wraps_at_2_64(self):
        self.mc.set("wrap", str(MAX_U64).encode())
        self.assertEqual(self.mc.incr("wrap", 1), 0)
        self.mc.set("wrap", str(MAX_U64 - 1).encode())
        self.assertEqual(self.mc.incr("wrap", 3), 1)
        self.mc.set("wrap", b"0")
        self.assertEqual(self.mc.incr("wrap", MAX_U64), MAX_U64)

    def test_decr_floors_at_zero(self):
        self.mc.set("floor", b"5")
        self.assertEqual(self.mc.decr("floor", 6), 0)
        self.assertEqual(self.mc.decr("floor", 1), 0)
        # Decrementing may leave trailing spaces (protocol.txt allows it).
        self.mc.set("floor", b"100")
        self.assertEqual(self.mc.decr("floor", 91), 9)
        self.assertEqual(self.mc.get("floor").rstrip(b" "), b"9")
        self.assertEqual(self.mc.incr("floor", 1), 10)

    def test_raw_replies(self):
        c = self.conn()
        self.assertEqual(c.request("incr raw-missing 1\r\n"), b"NOT_FOUND\r\n")
        c.request("set raw 3 0 1\r\n7\r\n")
        self.assertEqual(c.request("incr raw 1\r\n"), b"8\r\n")
        self.assertEqual(c.request("decr raw 100\r\n"), b"0\r\n")
        # Flags survive incr.
        self.assertEqual(c.get_values("get raw")["raw"][0][2], b"3")
        self.assertEqual(c.request("incr raw 18446744073709551615\r\n"), b"18446744073709551615\r\n")
        # A delta that is not a number, or over 2^64-1, is an error.
        self.assertEqual(c.request("incr raw abc\r\n"),
                         b"CLIENT_ERROR invalid numeric delta argument\r\n")
        self.assertEqual(c.request("incr raw 18446744073709551616\r\n"),
                         b"CLIENT_ERROR invalid numeric delta argument\r\n")

    def test_incr_changes_cas(self):
        self.mc.set("arcas", b"1")
        _, cas1 = self.mc.gets("arcas")
        self.mc.incr("arcas", 1)
        _, cas2 = self.mc.gets("arcas")
        self.assertNotEqual(cas1, cas2)


class NoreplyTest(ServerTestCase):

    def test_pymemcache_noreply(self):
        mc = self.client(default_noreply=True)
        self.assertTrue(mc.set("nr1", b"a"))
        self.assertTrue(mc.add("nr2", b"b"))
        self.assertTrue(mc.append("nr1", b"c"))
        self.assertTrue(mc.prepend("nr1", b"d"))
        self.assertTrue(mc.replace("nr2", b"e"))
        mc.set("nr3", b"10")
        mc.incr("nr3", 5, noreply=True)
        mc.decr("nr3", 2, noreply=True)
        mc.touch("nr3", 100, noreply=True)
        mc.delete("nr2", noreply=True)
        self.assertEqual(mc.get_many(["nr1", "nr2", "nr3"]), {"nr1": b"dac", "nr3": b"13"})

    def test_every_command_noreply_raw(self):
        # No reply at all for any of these; the get afterwards must be the
        # first bytes on the wire.
        c = self.conn()
        c.send(b"set nrr 0 0 1 noreply\r\n5\r\n"
               b"add nrr 0 0 1 noreply\r\n6\r\n"              # NOT_STORED, suppressed
               b"add nrr2 0 0 1 noreply\r\nx\r\n"
               b"replace nrr2 0 0 1 noreply\r\ny\r\n"
               b"replace nrr-missing 0 0 1 noreply\r\ny\r\n"  # NOT_STORED, suppressed
               b"append nrr 0 0 1 noreply\r\n0\r\n"
               b"prepend nrr 0 0 1 noreply\r\n1\r\n"
               b"incr nrr 5 noreply\r\n"
               b"decr nrr 1 noreply\r\n"
               b"incr nrr-missing 1 noreply\r\n"               # NOT_FOUND, suppressed
               b"touch nrr 100 noreply\r\n"
               b"delete nrr2 noreply\r\n"
               b"delete nrr2 noreply\r\n"                      # NOT_FOUND, suppressed
               b"cas nrr 0 0 1 1 noreply\r\nz\r\n"             # EXISTS, suppressed
               b"verbosity 0 noreply\r\n"
               b"get nrr nrr2\r\n")
        self.assertEqual(c.read_until(b"END\r\n"), b"VALUE nrr 0 3\r\n154\r\nEND\r\n")

    def test_cas_noreply_stores(self):
        c = self.conn()
        c.request("set cnr 0 0 1\r\na\r\n")
        cas = int(c.get_values("gets cnr")["cnr"][0][4])
        c.send("cas cnr 0 0 1 %d noreply\r\nb\r\nget cnr\r\n" % cas)
        self.assertEqual(c.read_until(b"END\r\n"), b"VALUE cnr 0 1\r\nb\r\nEND\r\n")


class ValuesTest(ServerTestCase):
    SERVER_ARGS = ("-I", "1m")

    def setUp(self):
        self.mc = self.client(default_noreply=False)

    def test_all_byte_values(self):
        value = bytes(range(256)) * 4
        self.assertTrue(self.mc.set("bin", value))
        self.assertEqual(self.mc.get("bin"), value)

    def test_value_containing_protocol_markers(self):
        value = b"a\r\nEND\r\nVALUE x 0 1\r\nb\r\n\r\n"
        self.assertTrue(self.mc.set("marker", value))
        self.assertTrue(self.mc.set("marker2", b"\r\nEND\r\n"))
        self.assertEqual(self.mc.get_many(["marker", "marker2"]),
                         {"marker": value, "marker2": b"\r\nEND\r\n"})

    def test_large_values_near_item_size_max(self):
        big = bytes(i % 251 for i in range(1024 * 1024 - 1024))
        self.assertTrue(self.mc.set("big", big))
        self.assertEqual(self.mc.get("big"), big)
        self.assertTrue(self.mc.append("big", b"tail"))
        self.assertEqual(self.mc.get("big"), big + b"tail")
        # Over -I: refused, and the old value is gone (memcached unlinks it).
        c = self.conn()
        c.send(b"set big 0 0 %d\r\n" % (1024 * 1024 + 1) + b"x" * (1024 * 1024 + 1) + b"\r\n")
        self.assertEqual(c.read_line(), b"SERVER_ERROR object too large for cache\r\n")
        self.assertIsNone(self.mc.get("big"))

    def test_many_sizes(self):
        for size in (1, 2, 63, 64, 65, 1000, 4095, 4096, 4097, 65536, 300000):
            value = bytes((i * 7) % 256 for i in range(size))
            self.assertTrue(self.mc.set("size%d" % size, value))
        for size in (1, 2, 63, 64, 65, 1000, 4095, 4096, 4097, 65536, 300000):
            got = self.mc.get("size%d" % size)
            self.assertEqual(len(got), size)
            self.assertEqual(got, bytes((i * 7) % 256 for i in range(size)))

    def test_longest_key(self):
        key = "k" * 250
        self.assertTrue(self.mc.set(key, b"long"))
        self.assertEqual(self.mc.get(key), b"long")


class ExpiryTest(ServerTestCase):
    # memcached's clock ticks once a second, so exptime 1 expires within ~2 s.
    EXPIRY_WAIT = 5.0

    def setUp(self):
        self.mc = self.client(default_noreply=False)

    def test_relative_exptime_expires(self):
        self.mc.set("exp1", b"x", expire=1)
        self.mc.set("exp2", b"y", expire=2)
        self.mc.set("exp-long", b"z", expire=100)
        self.assertTrue(poll_until(lambda: self.mc.get("exp1") is None, self.EXPIRY_WAIT))
        self.assertTrue(poll_until(lambda: self.mc.get("exp2") is None, self.EXPIRY_WAIT))
        self.assertEqual(self.mc.get("exp-long"), b"z")
        # Expired items can be added again.
        self.assertTrue(self.mc.add("exp1", b"again"))
        self.assertEqual(self.mc.get("exp1"), b"again")

    def test_touch_extends_and_shortens(self):
        self.mc.set("exp-touch", b"x", expire=1)
        self.assertTrue(self.mc.touch("exp-touch", 100))
        self.mc.set("exp-touch2", b"x", expire=100)
        self.assertTrue(self.mc.touch("exp-touch2", 1))
        self.assertTrue(poll_until(lambda: self.mc.get("exp-touch2") is None, self.EXPIRY_WAIT))
        self.assertEqual(self.mc.get("exp-touch"), b"x")

    def test_negative_exptime_is_immediately_expired(self):
        c = self.conn()
        self.assertEqual(c.request("set neg 0 -1 1\r\nx\r\n"), b"STORED\r\n")
        self.assertEqual(c.request("get neg\r\n"), b"END\r\n")
        c.request("set neg2 0 0 1\r\nx\r\n")
        self.assertEqual(c.request("touch neg2 -1\r\n"), b"TOUCHED\r\n")
        self.assertEqual(c.request("get neg2\r\n"), b"END\r\n")

    def test_absolute_exptime(self):
        now = int(time.time())
        c = self.conn()
        # Over 30 days means a unix time: in the past → already expired.
        self.assertEqual(c.request("set abs-past 0 %d 1\r\nx\r\n" % (now - 100)), b"STORED\r\n")
        self.assertEqual(c.request("get abs-past\r\n"), b"END\r\n")
        self.assertEqual(c.request("set abs-future 0 %d 1\r\ny\r\n" % (now + 1000)), b"STORED\r\n")
        self.assertEqual(c.request("get abs-future\r\n", b"END\r\n"), b"VALUE abs-future 0 1\r\ny\r\nEND\r\n")
        ttl = int(c.request("mg abs-future t\r\n").split()[1][1:])
        self.assertTrue(990 <= ttl <= 1001, ttl)
        # Absolute time a few seconds ahead actually expires.
        c.request("set abs-soon 0 %d 1\r\nz\r\n" % (int(time.time()) + 2))
        self.assertEqual(c.request("get abs-soon\r\n", b"END\r\n"), b"VALUE abs-soon 0 1\r\nz\r\nEND\r\n")
        self.assertTrue(poll_until(lambda: self.mc.get("abs-soon") is None, self.EXPIRY_WAIT))

    def test_thirty_days_is_relative(self):
        c = self.conn()
        c.request("set days30 0 2592000 1\r\nx\r\n")
        ttl = int(c.request("mg days30 t\r\n").split()[1][1:])
        self.assertTrue(2592000 - 5 <= ttl <= 2592000, ttl)


class FlushAllTest(ServerTestCase):

    def setUp(self):
        self.mc = self.client(default_noreply=False)

    def test_flush_all_now(self):
        self.mc.set("f1", b"x")
        self.mc.set("f2", b"y")
        self.assertTrue(self.mc.flush_all())
        self.assertEqual(self.mc.get_many(["f1", "f2"]), {})
        # Stores after the flush work.
        self.mc.set("f1", b"z")
        self.assertEqual(self.mc.get("f1"), b"z")
        c = self.conn()
        self.assertEqual(c.request("flush_all\r\n"), b"OK\r\n")
        self.assertEqual(c.request("flush_all 0\r\n"), b"OK\r\n")
        c.send("flush_all noreply\r\nmn\r\n")
        self.assertEqual(c.read_line(), b"MN\r\n")

    def test_flush_all_with_delay(self):
        self.mc.flush_all()
        self.mc.set("fd1", b"x")
        self.assertTrue(self.mc.flush_all(delay=2))
        # Still there right after the command.
        self.assertEqual(self.mc.get("fd1"), b"x")
        self.assertTrue(poll_until(lambda: self.mc.get("fd1") is None, 5.0))


class VersionStatsTest(ServerTestCase):

    def test_version(self):
        version = self.client().version()
        self.assertRegex(version, rb"^\d+\.\d+\.\d+")
        c = self.conn()
        self.assertRegex(c.request("version\r\n"), rb"^VERSION \d+\.\d+\.\d+\S*\r\n$")

    def test_stats(self):
        mc = self.client(default_noreply=False)
        mc.set("st1", b"abc")
        mc.get("st1")
        mc.get("st-missing")
        stats = mc.stats()
        for name in (b"pid", b"uptime", b"time", b"version", b"curr_connections",
                     b"total_connections", b"cmd_get", b"cmd_set", b"get_hits",
                     b"get_misses", b"curr_items", b"total_items", b"bytes",
                     b"limit_maxbytes", b"evictions", b"threads", b"cmd_flush",
                     b"cmd_touch", b"delete_hits", b"incr_misses", b"cas_badval"):
            self.assertIn(name, stats)
        self.assertEqual(stats[b"pid"], self.server.pid)
        self.assertGreaterEqual(stats[b"cmd_get"], 2)
        self.assertGreaterEqual(stats[b"get_hits"], 1)
        self.assertGreaterEqual(stats[b"get_misses"], 1)
        self.assertGreaterEqual(stats[b"curr_items"], 1)
        self.assertEqual(stats[b"limit_maxbytes"], 64 * 1024 * 1024)
        self.assertEqual(stats[b"threads"], 4)
        self.assertLessEqual(abs(stats[b"time"] - time.time()), 3)

    def test_stats_counts_exactly(self):
        c = self.conn()
        before = read_stats(c)
        c.request("set sc1 0 0 1\r\nx\r\n")
        c.request("get sc1 sc-missing\r\n", b"END\r\n")
        c.request("delete sc-missing\r\n")
        c.request("incr sc-missing 1\r\n")
        after = read_stats(c)

        def delta(name):
            return int(after[name]) - int(before[name])
        self.assertEqual(delta("cmd_set"), 1)
        self.assertEqual(delta("cmd_get"), 2)
        self.assertEqual(delta("get_hits"), 1)
        self.assertEqual(delta("get_misses"), 1)
        self.assertEqual(delta("delete_misses"), 1)
        self.assertEqual(delta("incr_misses"), 1)

    def test_stats_settings(self):
        s = self.client().stats("settings")
        self.assertEqual(s[b"maxbytes"], 64 * 1024 * 1024)
        self.assertEqual(s[b"maxconns"], 1024)
        self.assertEqual(s[b"tcpport"], self.server.port)
        self.assertEqual(s[b"num_threads"], 4)
        self.assertEqual(s[b"item_size_max"], 1024 * 1024)
        self.assertIn(s[b"evictions"], (b"on", "on"))

    def test_stats_reset(self):
        c = self.conn()
        c.request("get sr-missing\r\n")
        self.assertEqual(c.request("stats reset\r\n"), b"RESET\r\n")
        self.assertEqual(read_stats(c)["get_misses"], "0")

    def test_verbosity(self):
        c = self.conn()
        self.assertEqual(c.request("verbosity 0\r\n"), b"OK\r\n")

    @twincache_only
    def test_twincache_version(self):
        s = read_stats(self.conn())
        self.assertRegex(s["twincache_version"], r"^\d+\.\d+\.\d+")

    def test_quit(self):
        c = self.conn()
        c.send("quit\r\n")
        self.assertEqual(c.read_eof(), b"")


class MetaCommandsTest(ServerTestCase):

    def test_mn(self):
        self.assertEqual(self.conn().request("mn\r\n"), b"MN\r\n")

    def test_ms_mg(self):
        c = self.conn()
        self.assertEqual(c.request("ms mk1 5 F33 T0\r\nhello\r\n"), b"HD\r\n")
        self.assertEqual(c.request("mg mk1 v\r\n", b"hello\r\n"), b"VA 5\r\nhello\r\n")
        self.assertEqual(c.request("mg mk1 s f t v\r\n", b"hello\r\n"),
                         b"VA 5 s5 f33 t-1\r\nhello\r\n")
        self.assertEqual(c.request("mg mk1\r\n"), b"HD\r\n")
        self.assertEqual(c.request("mg mk1 k Oabc\r\n"), b"HD kmk1 Oabc\r\n")
        self.assertEqual(c.request("mg mk-missing v\r\n"), b"EN\r\n")
        # The mg cas equals the one gets reports.
        line = c.request("mg mk1 c\r\n")
        cas = line.split()[1][1:]
        self.assertEqual(c.get_values("gets mk1")["mk1"][0][4], cas)
        # Values stored by ms are visible to get with their flags.
        self.assertEqual(c.get_values("get mk1"), {"mk1": ([b"VALUE", b"mk1", b"33", b"5"], b"hello")})

    def test_mg_quiet_and_opaque_pipeline(self):
        c = self.conn()
        c.request("ms mq1 1\r\na\r\n")
        c.send("mg mq-missing v q O1\r\nmg mq1 v q O2\r\nmg mq-missing2 v q O3\r\nmn\r\n")
        self.assertEqual(c.read_until(b"MN\r\n"), b"VA 1 O2\r\na\r\nMN\r\n")

    def test_mg_touch_and_ttl(self):
        c = self.conn()
        c.request("ms mt1 1 T100\r\na\r\n")
        ttl = int(c.request("mg mt1 t\r\n").split()[1][1:])
        self.assertTrue(95 <= ttl <= 100, ttl)
        self.assertEqual(c.request("mg mt1 T0 t\r\n"), b"HD t-1\r\n")

    def test_ms_modes_and_cas(self):
        c = self.conn()
        self.assertEqual(c.request("ms mm1 1 ME\r\na\r\n"), b"HD\r\n")     # add
        self.assertEqual(c.request("ms mm1 1 ME\r\nb\r\n"), b"NS\r\n")
        self.assertEqual(c.request("ms mm1 1 MA\r\nz\r\n"), b"HD\r\n")     # append
        self.assertEqual(c.request("ms mm1 1 MP\r\n<\r\n"), b"HD\r\n")     # prepend
        self.assertEqual(c.request("mg mm1 v\r\n", b"<az\r\n"), b"VA 3\r\n<az\r\n")
        self.assertEqual(c.request("ms mm-missing 1 MR\r\nx\r\n"), b"NS\r\n")  # replace
        self.assertEqual(c.request("ms mm1 1 MR\r\nr\r\n"), b"HD\r\n")
        self.assertEqual(c.request("ms mm1 1 MS\r\ns\r\n"), b"HD\r\n")
        line = c.request("ms mm1 1 c\r\nt\r\n")
        self.assertTrue(line.startswith(b"HD c"), line)
        cas = int(line.split()[1][1:])
        self.assertEqual(c.request("ms mm1 1 C%d\r\nu\r\n" % (cas + 1000)), b"EX\r\n")
        self.assertEqual(c.request("ms mm1 1 C%d\r\nu\r\n" % cas), b"HD\r\n")
        self.assertEqual(c.request("ms mm-nf 1 C%d\r\nu\r\n" % cas), b"NF\r\n")
        self.assertEqual(c.request("ms mm1 1 q\r\nv\r\nmn\r\n"), b"MN\r\n")
        self.assertEqual(c.request("ms mm1 1 k O9\r\nw\r\n"), b"HD kmm1 O9\r\n")

    def test_ms_binary_value(self):
        c = self.conn()
        value = bytes(range(256))
        c.send(b"ms mbin 256\r\n" + value + b"\r\n")
        self.assertEqual(c.read_line(), b"HD\r\n")
        c.send("mg mbin v\r\n")
        self.assertEqual(c.read_line(), b"VA 256\r\n")
        self.assertEqual(c.read_exact(258), value + b"\r\n")

    def test_md(self):
        c = self.conn()
        self.assertEqual(c.request("md md-missing\r\n"), b"NF\r\n")
        c.request("ms md1 1\r\na\r\n")
        self.assertEqual(c.request("md md1\r\n"), b"HD\r\n")
        self.assertEqual(c.request("mg md1 v\r\n"), b"EN\r\n")
        c.request("ms md2 1\r\na\r\n")
        self.assertEqual(c.request("md md2 q\r\nmn\r\n"), b"MN\r\n")
        self.assertEqual(c.request("md md2 q\r\n"), b"NF\r\n")  # misses are not quiet
        c.request("ms md3 1\r\na\r\n")
        self.assertEqual(c.request("md md3 C1 O5\r\n"), b"EX O5\r\n")
        self.assertEqual(c.request("md md3 k\r\n"), b"HD kmd3\r\n")

    def test_ma(self):
        c = self.conn()
        self.assertEqual(c.request("ma ma-missing\r\n"), b"NF\r\n")
        self.assertEqual(c.request("ma ma1 N0 J13 v\r\n", b"13\r\n"), b"VA 2\r\n13\r\n")
        self.assertEqual(c.request("ma ma1\r\n"), b"HD\r\n")
        self.assertEqual(c.request("ma ma1 v D10\r\n", b"24\r\n"), b"VA 2\r\n24\r\n")
        self.assertEqual(c.request("ma ma1 MD D4 v\r\n", b"20\r\n"), b"VA 2\r\n20\r\n")
        self.assertEqual(c.request("ma ma1 M- D100 v\r\n", b"0\r\n"), b"VA 1\r\n0\r\n")
        self.assertEqual(c.request("ma ma1 M+ D18446744073709551615 v\r\n", b"\r\n"),
                         b"VA 20\r\n")
        self.assertEqual(c.read_line(), b"18446744073709551615\r\n")
        self.assertEqual(c.request("ma ma1 v\r\n", b"0\r\n"), b"VA 1\r\n0\r\n")  # wraps
        self.assertEqual(c.request("ma ma1 q\r\nmn\r\n"), b"MN\r\n")
        # incr sees ma's results.
        self.assertEqual(c.request("incr ma1 1\r\n"), b"2\r\n")
        c.request("ms ma-text 3\r\nabc\r\n")
        self.assertEqual(c.request("ma ma-text\r\n"),
                         b"CLIENT_ERROR cannot increment or decrement non-numeric value\r\n")

    def test_me(self):
        c = self.conn()
        self.assertEqual(c.request("me me-missing\r\n"), b"EN\r\n")
        c.request("ms me1 3 T100\r\nabc\r\n")
        line = c.request("me me1\r\n")
        self.assertTrue(line.startswith(b"ME me1 "), line)
        fields = dict(f.split(b"=", 1) for f in line.split()[2:])
        self.assertIn(b"exp", fields)
        self.assertIn(b"cas", fields)

    def test_meta_base64_key(self):
        c = self.conn()
        # "bWV0YWI2NA==" is base64 of "metab64".
        self.assertEqual(c.request("ms bWV0YWI2NA== 2 b\r\nhi\r\n"), b"HD\r\n")
        self.assertEqual(c.request("get metab64\r\n", b"END\r\n"),
                         b"VALUE metab64 0 2\r\nhi\r\nEND\r\n")
        # memcached 1.6.18 returns the 'b' flag last; the order is not specified.
        line = c.request("mg bWV0YWI2NA== b k v\r\n")
        self.assertEqual(line.split()[:2], [b"VA", b"2"])
        self.assertEqual(set(line.split()[2:]), {b"b", b"kbWV0YWI2NA=="})
        self.assertEqual(c.read_line(), b"hi\r\n")


if __name__ == "__main__":
    unittest.main()
