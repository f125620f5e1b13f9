"""memcached's own memcached-tool (Debian's memcached package,
/usr/share/memcached/scripts/memcached-tool, Perl) against the server:

- `stats` prints every `stats` line as "name value" under a header;
- `settings` likewise for `stats settings`, including the settings an
  operator looks for (maxbytes, maxconns, shutdown_command, idle_timeout);
- `display` prints a row per slab class from `stats slabs` and `stats items`;
- `dump` walks `lru_crawler metadump all` and prints an `add` command with
  flags, exptime and value for every item; replayed into a second server, it
  recreates the items.

Runs against Debian's memcached 1.6.18 in the reference mode too. Skipped
loudly where perl or the script is missing.
"""

import os
import re
import shutil
import subprocess
import time
import unittest

import harness
from harness import Server

TOOL = "/usr/share/memcached/scripts/memcached-tool"
# Seconds one run of the tool may take.
TOOL_TIMEOUT = 30


class MemcachedToolTest(unittest.TestCase):

    @classmethod
    def setUpClass(cls):
        cls.perl = shutil.which("perl")
        if cls.perl is None or not os.path.exists(TOOL):
            raise unittest.SkipTest("SKIPPED: perl or %s missing (Debian package memcached)" % TOOL)
        cls.server = Server(["-A", "-o", "idle_timeout=600"]).start()

    @classmethod
    def tearDownClass(cls):
        cls.server.stop()

    def tool(self, *args, server=None):
        server = server or self.server
        result = subprocess.run([self.perl, TOOL, "127.0.0.1:%d" % server.port] + list(args),
                                capture_output=True, timeout=TOOL_TIMEOUT)
        self.assertEqual(result.returncode, 0, result.stderr)
        return result.stdout.decode("latin-1"), result.stderr.decode("latin-1")

    def table(self, text):
        """The tool's "name value" lines after its header, as a dict."""
        lines = text.splitlines()
        self.assertTrue(lines[0].startswith("#127.0.0.1:%d" % self.server.port), lines[0])
        return dict(line.split(None, 1) for line in lines[1:])

    def test_stats(self):
        with self.server.connect() as conn:
            self.assertEqual(conn.request("set tool-stats 0 0 1\r\nv\r\n"), b"STORED\r\n")
        out, _ = self.tool("stats")
        table = self.table(out)
        server_stats = harness.stats(self.server)
        self.assertEqual(table["pid"], str(self.server.pid))
        self.assertEqual(set(table), set(server_stats))
        for name in ("version", "threads", "limit_maxbytes", "max_connections"):
            self.assertEqual(table[name], server_stats[name], name)
        self.assertGreaterEqual(int(table["curr_items"]), 1)

    def test_settings(self):
        out, _ = self.tool("settings")
        table = self.table(out)
        self.assertEqual(table["maxbytes"], str(64 << 20))
        self.assertEqual(table["maxconns"], "1024")
        self.assertEqual(table["tcpport"], str(self.server.port))
        self.assertEqual(table["shutdown_command"], "yes")
        self.assertEqual(table["idle_timeout"], "600")
        self.assertEqual(table["item_size_max"], str(1 << 20))
        self.assertEqual(set(table), set(harness.stats(self.server, "settings")))

    def test_display_shows_a_row_per_slab_class(self):
        # `display` joins `stats items` and `stats slabs` by class id: one row
        # per class holding pages, with its pages and item count.
        with self.server.connect() as conn:
            for key, size in (("tool-display-small", 10), ("tool-display-big", 30000)):
                self.assertEqual(conn.request(b"set %s 0 0 %d\r\n%s\r\n" % (key.encode(), size, b"d" * size)),
                                 b"STORED\r\n")
        out, _ = self.tool("display")
        rows = {}
        for line in out.splitlines()[1:]:
            fields = line.split()
            rows[int(fields[0])] = {"pages": int(fields[3]), "count": int(fields[4])}
        slabs = harness.stats(self.server, "slabs")
        items = harness.stats(self.server, "items")
        classes = {int(name.split(":")[0]) for name in slabs if name.endswith(":total_pages")}
        self.assertGreaterEqual(len(classes), 2, slabs)
        self.assertEqual(set(rows), classes)
        for cls, row in rows.items():
            self.assertEqual(row["pages"], int(slabs["%d:total_pages" % cls]), cls)
            self.assertEqual(row["count"], int(items.get("items:%d:number" % cls, 0)), cls)

    def test_dump_replays_into_another_server(self):
        expire_at = int(time.time()) + 3600
        items = {
            "tool-plain": (0, 0, b"hello"),
            "tool-flags": (4294967295, 0, b"x" * 3000),
            "tool-expiring": (7, expire_at, b"soon"),
            "tool-binary": (1, 0, b"a\r\nb\x00c"),
        }
        with self.server.connect() as conn:
            conn.send(b"flush_all\r\n")
            self.assertEqual(conn.read_line(), b"OK\r\n")
            for key, (flags, exptime, value) in items.items():
                self.assertEqual(conn.request(b"set %s %d %d %d\r\n%s\r\n" %
                                              (key.encode(), flags, exptime, len(value), value)),
                                 b"STORED\r\n")
        out, err = self.tool("dump")
        self.assertIn("Dumping memcache contents", err)
        commands = re.findall(rb"add (\S+) (\d+) (-?\d+) (\d+)\r\n", out.encode("latin-1"))
        self.assertEqual(sorted(c[0].decode() for c in commands), sorted(items))
        for key, flags, exptime, length in commands:
            want_flags, want_exptime, value = items[key.decode()]
            self.assertEqual((int(flags), int(length)), (want_flags, len(value)), key)
            # The absolute exptime, as memcached's metadump gives it (0: never).
            self.assertEqual(int(exptime), want_exptime, key)

        with Server() as other, other.connect() as conn:
            conn.send(out.encode("latin-1"))
            for _ in items:
                self.assertEqual(conn.read_line(), b"STORED\r\n")
            for key, (flags, _, value) in items.items():
                got = conn.get_values("get %s" % key)
                self.assertEqual(got[key][0][2], str(flags).encode(), key)
                self.assertEqual(got[key][1], value, key)


if __name__ == "__main__":
    unittest.main()
