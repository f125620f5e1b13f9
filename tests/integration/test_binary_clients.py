"""The memcached binary protocol through Debian's real clients.

python3-pylibmc (libmemcached), php-memcached with OPT_BINARY_PROTOCOL, PHP
sessions through php-memcached's session handler with Debian's defaults
(memcached.sess_binary_protocol=On), Ruby dalli 3.0.6 (binary only), and
libmemcached-tools with --binary (memccp/memccat/memcrm, memccapable -b,
memcaslap -B). php-memcache (the older extension, ASCII) runs a text-protocol
smoke test alongside. The expectations hold for memcached 1.6.18
(TWINCACHE_REFERENCE=1).

Every binary test starts with a one-second binary VERSION probe
(clients.assert_speaks_binary), and every client has timeouts of
clients.CLIENT_TIMEOUT, so a server without the binary protocol fails these
tests in about a second each instead of hanging.
"""

import os
import random
import re
import shutil
import tempfile
import unittest

from clients import (MEMCCAT, MEMCCP, MEMCRM, assert_script_ok, assert_speaks_binary,
                     pylibmc_client, run_php, run_program, run_ruby)
from harness import ServerTestCase

MEMCCAPABLE = shutil.which("memccapable") or "/usr/bin/memccapable"
MEMCASLAP = shutil.which("memcaslap") or "/usr/bin/memcaslap"
# memccapable -b runs this many binary cases (noop, quit(q), set(q), flush(q),
# add(q), replace(q), delete(q), get(q), getk(q), incr(q), decr(q), version,
# append(q), prepend(q), stat).
BINARY_CASES = 27
MAX_U64 = 2**64 - 1


class BinaryTestCase(ServerTestCase):
    """A ServerTestCase whose tests first check that the server answers a
    binary request at all."""

    def setUp(self):
        assert_speaks_binary(self, self.server)

    def ascii_get(self, key):
        """(flags, data) of `key` read over the text protocol, or None."""
        got = self.conn().get_values(b"get " + key.encode())
        if key not in got:
            return None
        fields, data = got[key]
        return int(fields[2]), data


class PylibmcBinaryTest(BinaryTestCase):

    def setUp(self):
        super().setUp()
        self.mc = pylibmc_client(self.server, behaviors={"cas": True})

    def test_set_get_and_miss(self):
        self.assertTrue(self.mc.set("py-sg", b"hello"))
        self.assertEqual(self.mc.get("py-sg"), b"hello")
        self.assertIsNone(self.mc.get("py-missing"))
        # Stored through the binary protocol, read through the text one.
        self.assertEqual(self.ascii_get("py-sg"), (0, b"hello"))

    def test_add_replace(self):
        import pylibmc
        self.assertTrue(self.mc.add("py-add", b"first"))
        self.assertFalse(self.mc.add("py-add", b"second"))
        self.assertEqual(self.mc.get("py-add"), b"first")
        with self.assertRaises(pylibmc.NotFound):
            self.mc.replace("py-rep-missing", b"x")
        self.assertIsNone(self.mc.get("py-rep-missing"))
        self.assertTrue(self.mc.replace("py-add", b"replaced"))
        self.assertEqual(self.mc.get("py-add"), b"replaced")

    def test_append_prepend(self):
        self.mc.set("py-ap", b"mid")
        self.assertTrue(self.mc.append("py-ap", b"-end"))
        self.assertTrue(self.mc.prepend("py-ap", b"start-"))
        self.assertEqual(self.mc.get("py-ap"), b"start-mid-end")

    def test_delete(self):
        self.mc.set("py-del", b"x")
        self.assertTrue(self.mc.delete("py-del"))
        self.assertFalse(self.mc.delete("py-del"))
        self.assertIsNone(self.mc.get("py-del"))

    def test_incr_decr(self):
        import pylibmc
        self.mc.set("py-n", b"10")
        self.assertEqual(self.mc.incr("py-n", 5), 15)
        self.assertEqual(self.mc.decr("py-n", 3), 12)
        self.assertEqual(self.mc.decr("py-n", 100), 0)  # floors at zero
        self.mc.set("py-n", str(MAX_U64).encode())
        self.assertEqual(self.mc.incr("py-n", 2), 1)  # wraps at 2^64
        with self.assertRaises(pylibmc.NotFound):
            self.mc.incr("py-n-missing", 1)
        # memcached pads a value that shrank in place with spaces.
        flags, data = self.ascii_get("py-n")
        self.assertEqual((flags, data.rstrip(b" ")), (0, b"1"))

    def test_gets_and_cas(self):
        import pylibmc
        self.mc.set("py-cas", b"v1")
        value, cas = self.mc.gets("py-cas")
        self.assertEqual(value, b"v1")
        self.assertTrue(self.mc.cas("py-cas", b"v2", cas))
        self.assertFalse(self.mc.cas("py-cas", b"v3", cas))  # stale cas unique
        self.assertEqual(self.mc.get("py-cas"), b"v2")
        _, cas2 = self.mc.gets("py-cas")
        self.assertNotEqual(cas, cas2)
        # The binary cas unique is the one gets reports over the text protocol.
        self.assertEqual(self.conn().get_values("gets py-cas")["py-cas"][0][4], str(cas2).encode())
        with self.assertRaises(pylibmc.NotFound):
            self.mc.cas("py-cas-missing", b"x", cas2)

    def test_get_multi_set_multi(self):
        values = {"py-m%d" % i: ("value-%d" % i).encode() for i in range(50)}
        self.assertEqual(self.mc.set_multi(values), [])  # no key failed
        got = self.mc.get_multi(list(values) + ["py-m-missing1", "py-m-missing2"])
        self.assertEqual(got, values)
        self.assertEqual(self.mc.get_multi(["py-m-missing3"]), {})

    def test_touch(self):
        self.mc.set("py-touch", b"x", time=100)
        self.assertTrue(self.mc.touch("py-touch", 1000))
        self.assertFalse(self.mc.touch("py-touch-missing", 1000))
        ttl = int(self.conn().request("mg py-touch t\r\n").split()[1][1:])
        self.assertTrue(990 <= ttl <= 1000, ttl)

    def test_flags_round_trip(self):
        # pylibmc keeps the Python type in the flags: they must survive both ways.
        self.mc.set("py-int", 42)
        self.mc.set("py-text", "text")
        int_flags = self.ascii_get("py-int")[0]
        text_flags = self.ascii_get("py-text")[0]
        self.assertNotEqual(int_flags, text_flags)
        c = self.conn()
        self.assertEqual(c.request(b"set py-int2 %d 0 3\r\n777\r\n" % int_flags), b"STORED\r\n")
        self.assertEqual(c.request(b"set py-text2 %d 0 2\r\nhi\r\n" % text_flags), b"STORED\r\n")
        self.assertEqual(self.mc.get("py-int"), 42)
        self.assertEqual(self.mc.get("py-int2"), 777)
        self.assertEqual(self.mc.get("py-text2"), "hi")
        self.assertEqual(self.mc.get_multi(["py-int2", "py-text2"]),
                         {"py-int2": 777, "py-text2": "hi"})

    def test_100k_value(self):
        value = random.Random(7).randbytes(100 * 1024)
        self.assertTrue(self.mc.set("py-big", value))
        self.assertEqual(self.mc.get("py-big"), value)
        self.assertEqual(self.ascii_get("py-big"), (0, value))


# The checks of one php-memcached script, binary protocol throughout.
PHP_MEMCACHED_OPS = r"""
$m = memcached_client($port);
$m->setOption(Memcached::OPT_COMPRESSION, false);  // php-memcached appends only uncompressed values
check("binary protocol on", $m->getOption(Memcached::OPT_BINARY_PROTOCOL));
check("set", $m->set("php-sg", "hello"), $m->getResultMessage());
check("get", $m->get("php-sg") === "hello", $m->getResultMessage());
check("miss", $m->get("php-missing") === false && $m->getResultCode() === Memcached::RES_NOTFOUND,
      $m->getResultMessage());
check("add new", $m->add("php-add", "first"), $m->getResultMessage());
check("add existing fails", $m->add("php-add", "second") === false, $m->getResultMessage());
check("add kept the first value", $m->get("php-add") === "first");
check("replace missing fails", $m->replace("php-rep-missing", "x") === false
      && $m->getResultCode() === Memcached::RES_NOTFOUND, $m->getResultMessage());
check("replace existing", $m->replace("php-add", "replaced") && $m->get("php-add") === "replaced");
check("append", $m->append("php-sg", "!") && $m->get("php-sg") === "hello!",
      $m->getResultMessage());
check("prepend", $m->prepend("php-sg", ">") && $m->get("php-sg") === ">hello!",
      $m->getResultMessage());
check("delete", $m->delete("php-add"), $m->getResultMessage());
check("delete again: not found", $m->delete("php-add") === false
      && $m->getResultCode() === Memcached::RES_NOTFOUND, $m->getResultMessage());
check("set counter", $m->set("php-n", 10));
check("increment", $m->increment("php-n", 5) === 15, $m->getResultMessage());
check("decrement", $m->decrement("php-n", 3) === 12, $m->getResultMessage());
check("decrement floors at 0", $m->decrement("php-n", 100) === 0, $m->getResultMessage());
check("increment missing", $m->increment("php-n-missing", 1) === false
      && $m->getResultCode() === Memcached::RES_NOTFOUND, $m->getResultMessage());
$r = $m->get("php-sg", null, Memcached::GET_EXTENDED);
check("get extended", is_array($r) && $r["value"] === ">hello!" && $r["cas"] > 0, $r);
check("cas with current unique", $m->cas($r["cas"], "php-sg", "swapped"), $m->getResultMessage());
check("cas with stale unique", $m->cas($r["cas"], "php-sg", "again") === false
      && $m->getResultCode() === Memcached::RES_DATA_EXISTS, $m->getResultMessage());
check("cas kept the swap", $m->get("php-sg") === "swapped");
$values = ["php-m1" => 1, "php-m2" => "two", "php-m3" => [1, "a" => 2.5], "php-m4" => true];
check("setMulti", $m->setMulti($values), $m->getResultMessage());
$got = $m->getMulti(["php-m1", "php-m2", "php-m3", "php-m4", "php-m-missing"]);
check("getMulti with types", $got === $values, $got);
check("touch", $m->touch("php-m1", 1000), $m->getResultMessage());
check("touch missing", $m->touch("php-touch-missing", 1000) === false
      && $m->getResultCode() === Memcached::RES_NOTFOUND, $m->getResultMessage());
$m->setOption(Memcached::OPT_USER_FLAGS, 1234);
check("set with user flags", $m->set("php-uflags", "v"), $m->getResultMessage());
$m->setOption(Memcached::OPT_USER_FLAGS, 0);
$r = $m->get("php-uflags", null, Memcached::GET_EXTENDED);
check("user flags round trip", $r["flags"] === 1234, $r);
$big = str_repeat(implode(range("a", "z")) . "0123456789", 2900);  // 104400 bytes
check("set 100 KB", $m->set("php-big", $big), $m->getResultMessage());
check("get 100 KB", $m->get("php-big") === $big);
$versions = $m->getVersion();
check("version", is_array($versions) && count($versions) === 1
      && preg_match('/^\d+\.\d+\.\d+/', reset($versions)), $versions);
done();
"""

# The session scenario: session_start() with the memcached handler, then
# data written by one process is read by the next. $argv[2] is "write" (a new
# session gets data) or "read" (the data must be there; one counter goes up),
# $argv[3] the session id ("": let the handler create one). Nothing is printed
# before session_start(), which refuses to start after output.
PHP_SESSION = r"""
$mode = $argv[2];
if ($argv[3] !== "") {
    session_id($argv[3]);
}
$started = session_start();
check("session_start", $started === true, error_get_last());
check("handler is memcached", ini_get("session.save_handler") === "memcached");
echo "sess_binary_protocol=" . ini_get("memcached.sess_binary_protocol") . "\n";
echo "session_id=" . session_id() . "\n";
// Debian's default memcached.sess_locking: the handler holds a lock item.
$lock = memcached_client($port)->get(ini_get("memcached.sess_prefix") . "lock." . session_id());
check("lock item held", $lock !== false, $lock);
if ($mode === "write") {
    check("new session is empty", $_SESSION === [], $_SESSION);
    $_SESSION["user"] = "alice";
    $_SESSION["visits"] = 3;
    $_SESSION["cart"] = ["apple" => 2, "pear" => 1];
} else {
    check("session data read back",
          $_SESSION === ["user" => "alice", "visits" => 3, "cart" => ["apple" => 2, "pear" => 1]],
          $_SESSION);
    $_SESSION["visits"]++;
}
check("session_write_close", session_write_close() === true, error_get_last());
done();
"""


class PhpMemcachedBinaryTest(BinaryTestCase):

    def test_operations(self):
        assert_script_ok(self, run_php(PHP_MEMCACHED_OPS, self.server.port))
        # What PHP stored is what the text protocol sees (flags 1234 << 16:
        # php-memcached keeps user flags in the upper 16 bits).
        self.assertEqual(self.ascii_get("php-uflags"), (1234 << 16, b"v"))
        self.assertEqual(self.ascii_get("php-sg"), (0, b"swapped"))
        self.assertEqual(len(self.ascii_get("php-big")[1]), 104400)


class PhpSessionTest(BinaryTestCase):
    """PHP sessions as Debian users configure them: session.save_handler =
    memcached and session.save_path = HOST:PORT, everything else as Debian's
    php-memcached ships it (memcached.sess_binary_protocol=On, locking on,
    prefix "memc.sess.key."). A server that mishandles the binary protocol
    fails here with "Failed to create session ID"."""

    PREFIX = "memc.sess.key."

    def run_session(self, mode, session_id=""):
        ini = {"session.save_handler": "memcached",
               "session.save_path": "127.0.0.1:%d" % self.server.port}
        result = run_php(PHP_SESSION, self.server.port, mode, session_id, ini=ini)
        assert_script_ok(self, result)
        # Debian's default, which this scenario is about.
        self.assertEqual(result.value("sess_binary_protocol"), "1", result.describe())
        return result.value("session_id")

    def assert_stored(self, session_id, visits):
        flags_data = self.ascii_get(self.PREFIX + session_id)
        self.assertIsNotNone(flags_data, "no session item for %s" % session_id)
        self.assertIn(b'user|s:5:"alice";visits|i:%d;' % visits, flags_data[1])
        # The lock item is gone once the session is closed.
        self.assertIsNone(self.ascii_get(self.PREFIX + "lock." + session_id))

    def test_fixed_session_id_written_then_read(self):
        sid = "twincachefixedsession0123456789"
        self.assertEqual(self.run_session("write", sid), sid)
        self.assert_stored(sid, 3)
        self.assertEqual(self.run_session("read", sid), sid)
        self.assert_stored(sid, 4)

    def test_generated_session_id(self):
        # session_start() without an id makes the handler create one, which
        # checks the id is unused on the server first.
        sid = self.run_session("write")
        self.assertRegex(sid, r"^[a-zA-Z0-9,-]{22,}$")
        self.assert_stored(sid, 3)
        self.assertEqual(self.run_session("read", sid), sid)
        self.assert_stored(sid, 4)


PHP_MEMCACHE_TEXT = r"""
$m = new Memcache();
check("protocol is ascii", ini_get("memcache.protocol") === "ascii");
check("addServer", $m->addServer("127.0.0.1", $port, false, 1, 1, 1));
check("set", $m->set("pm-sg", "hello", 0, 0));
check("get", $m->get("pm-sg") === "hello");
check("miss", $m->get("pm-missing") === false);
check("add existing fails", $m->add("pm-sg", "x") === false);
check("replace", $m->replace("pm-sg", "replaced") && $m->get("pm-sg") === "replaced");
check("increment", $m->set("pm-n", 10) && $m->increment("pm-n", 5) === 15);
check("decrement", $m->decrement("pm-n", 3) === 12);
check("multi get",
      $m->get(["pm-sg", "pm-n", "pm-missing"]) === ["pm-sg" => "replaced", "pm-n" => 12]);
check("array value", $m->set("pm-arr", [1, "two"]) && $m->get("pm-arr") === [1, "two"]);
check("delete", $m->delete("pm-sg") && $m->get("pm-sg") === false);
check("version", preg_match('/^\d+\.\d+\.\d+/', $m->getVersion()) === 1);
done();
"""


class PhpMemcacheTextTest(ServerTestCase):
    """php-memcache, the older extension, over its default ASCII protocol."""

    def test_smoke(self):
        assert_script_ok(self, run_php(PHP_MEMCACHE_TEXT, self.server.port))


RUBY_DALLI_OPS = r"""
dc = dalli_client(port)
check("set", dc.set("rb-sg", "hello"))
check("get", dc.get("rb-sg") == "hello")
check("miss", dc.get("rb-missing").nil?)
check("add new", dc.add("rb-add", "first"))
check("add existing fails", dc.add("rb-add", "second") == false)
check("add kept the first value", dc.get("rb-add") == "first")
check("replace", dc.replace("rb-add", "replaced") && dc.get("rb-add") == "replaced")
check("delete", dc.delete("rb-add") == true)
check("delete again", !dc.delete("rb-add"))
check("raw counter", dc.set("rb-n", "10", nil, raw: true))
check("incr", dc.incr("rb-n", 5) == 15)
check("decr", dc.decr("rb-n", 3) == 12)
check("decr floors at 0", dc.decr("rb-n", 100) == 0)
check("incr missing", dc.incr("rb-n-missing", 1).nil?)
check("incr missing with initial", dc.incr("rb-n-init", 1, nil, 7) == 7)
check("cas block", dc.cas("rb-sg") { |v| v + "!" })
check("cas stored", dc.get("rb-sg") == "hello!")
check("cas missing", dc.cas("rb-cas-missing") { |v| "x" }.nil?)
value, cas = dc.get_cas("rb-sg")
check("get_cas", value == "hello!" && cas.is_a?(Integer) && cas > 0, [value, cas])
check("set_cas current", dc.set_cas("rb-sg", "swapped", cas))
check("set_cas stale", dc.set_cas("rb-sg", "again", cas) == false)
multi = dc.get_multi("rb-sg", "rb-n", "rb-missing")
# memcached pads a counter that shrank in place with spaces.
check("get_multi", multi.keys.sort == ["rb-n", "rb-sg"] && multi["rb-sg"] == "swapped" &&
      multi["rb-n"].rstrip == "0", multi)
check("touch", dc.touch("rb-sg", 1000))
check("touch missing", dc.touch("rb-touch-missing", 1000).nil?)
check("fetch computes", dc.fetch("rb-fetch") { "computed" } == "computed")
check("fetch reads", dc.fetch("rb-fetch") { "again" } == "computed")
check("object value", dc.set("rb-obj", {a: [1, 2]}) && dc.get("rb-obj") == {a: [1, 2]})
big = (("a".."z").to_a.join * 4000)  # 104000 bytes, compressible: stored compressed
check("100 KB value", dc.set("rb-big", big) && dc.get("rb-big") == big)
check("version", dc.version.values.all? { |v| v =~ /\A\d+\.\d+\.\d+/ }, dc.version)
done
"""


class DalliTest(BinaryTestCase):
    """Ruby dalli 3.0.6, which speaks only the binary protocol."""

    def test_operations(self):
        assert_script_ok(self, run_ruby(RUBY_DALLI_OPS, self.server.port))
        # Dalli marks Marshal-serialized values with flags 1 and raw ones with 0.
        flags, data = self.ascii_get("rb-sg")
        self.assertEqual((flags, data[:2]), (1, b"\x04\x08"))
        self.assertEqual(self.ascii_get("rb-n")[0], 0)


class LibmemcachedToolsBinaryTest(BinaryTestCase):
    """libmemcached-tools with the binary protocol."""

    def tool(self, program, *args):
        argv = [program, "--binary", "--servers=127.0.0.1:%d" % self.server.port] + list(args)
        return run_program(argv)

    def test_memccp_memccat_memcrm_round_trip(self):
        work = tempfile.mkdtemp(prefix="twincache-memccp-")
        self.addCleanup(shutil.rmtree, work)
        source = os.path.join(work, "blob.bin")
        data = random.Random(3).randbytes(50000)
        with open(source, "wb") as f:
            f.write(data)
        result = self.tool(MEMCCP, "--flags=123", source)
        self.assertEqual(result.returncode, 0, result.describe())
        self.assertEqual(self.ascii_get("blob.bin"), (123, data))
        copy = os.path.join(work, "copy.bin")
        result = self.tool(MEMCCAT, "--file=" + copy, "blob.bin")
        self.assertEqual(result.returncode, 0, result.describe())
        with open(copy, "rb") as f:
            self.assertEqual(f.read(), data)
        result = self.tool(MEMCRM, "blob.bin")
        self.assertEqual(result.returncode, 0, result.describe())
        self.assertIsNone(self.ascii_get("blob.bin"))
        # Missing keys: memccat and memcrm report failure.
        self.assertEqual(self.tool(MEMCCAT, "blob.bin").returncode, 1)
        self.assertEqual(self.tool(MEMCRM, "blob.bin").returncode, 1)

    def test_memccapable_binary_cases(self):
        result = run_program([MEMCCAPABLE, "-h", "127.0.0.1", "-p", str(self.server.port),
                              "-b", "-t", "2"])
        lines = result.stdout.splitlines()
        passed = [l for l in lines if l.rstrip().endswith("[pass]")]
        failed = [l for l in lines if "[FAIL]" in l]
        self.assertEqual(failed, [], result.describe())
        self.assertEqual(len(passed), BINARY_CASES, result.describe())
        self.assertEqual(result.returncode, 0, result.describe())
        self.assertTrue(self.server.alive(), self.server.stderr_text())

    def test_memcaslap_binary_bounded(self):
        ops = 5000
        result = run_program([MEMCASLAP, "-s", "127.0.0.1:%d" % self.server.port, "-B",
                              "-x", str(ops), "-T", "2", "-c", "8", "--verify=0.1"])
        self.assertEqual(result.returncode, 0, result.describe())
        counts = dict((m.group(1), int(m.group(2)))
                      for m in re.finditer(r"^(\w+): (\d+)$", result.stdout, re.M))
        for name in ("cmd_get", "cmd_set", "get_misses", "verify_misses", "verify_failed"):
            self.assertIn(name, counts, result.describe())
        self.assertEqual(counts["cmd_get"] + counts["cmd_set"], ops, result.describe())
        self.assertGreater(counts["cmd_set"], 0, result.describe())
        self.assertEqual((counts["get_misses"], counts["verify_misses"], counts["verify_failed"]),
                         (0, 0, 0), result.describe())
        self.assertTrue(self.server.alive(), self.server.stderr_text())


if __name__ == "__main__":
    unittest.main()
