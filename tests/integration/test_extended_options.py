"""memcached 1.6's extended options, `-o key[=value],...`
(core/config/extended_options.h):

- a key with a meaning is honoured: idle_timeout closes a connection that
  sends nothing for that long and leaves a busy one open (memcached's
  conn_timeout_thread), and `stats settings` shows it;
- keys that tune memcached internals are accepted and the server serves;
  twincached logs them in exactly one warning line;
- an unknown key stops the start with one line naming it (twincached: exit
  code 64; memcached: "Illegal suboption", exit code 1);
- twincached only: the same keys in the --config file.

All but the log lines and the config file run against Debian's memcached
1.6.18 in the reference mode too.
"""

import os
import subprocess
import tempfile
import time
import unittest

import harness
from harness import REFERENCE, Server, base_args, free_port, twincache_only

# Keys of memcached internals, with values memcached accepts.
INTERNAL = "modern,slab_reassign,slab_automove=1,lru_crawler,hash_algorithm=murmur3,hashpower=20,no_lru_maintainer"
# Seconds a failing start may take.
FAIL_TIMEOUT = 10.0


def start_fails(args):
    """Runs the server under test with `args` on a free port; expects it to
    exit by itself. Returns (exit code, output)."""
    result = subprocess.run(base_args(free_port()) + list(args), stdin=subprocess.DEVNULL,
                            capture_output=True, text=True, timeout=FAIL_TIMEOUT)
    return result.returncode, result.stdout + result.stderr


class IdleTimeoutTest(unittest.TestCase):

    def test_idle_connections_close_busy_ones_stay(self):
        with Server(["-o", "idle_timeout=1"]) as server:
            with server.connect() as busy, server.connect() as idle:
                self.assertEqual(harness.read_stats(busy, "settings")["idle_timeout"], "1")
                started = time.monotonic()
                # A client that sends a command every 0.2 s for 3 s is never idle.
                while time.monotonic() - started < 3.0:
                    self.assertEqual(busy.request("version\r\n")[:8], b"VERSION ")
                    time.sleep(0.2)  # the client's pace, not synchronisation
                # The idle one was closed without a word meanwhile (memcached
                # checks about once a second: within 3 s of its last byte).
                self.assertEqual(idle.read_eof(timeout=1.0), b"")
                self.assertEqual(busy.request("version\r\n")[:8], b"VERSION ")

    def test_zero_is_off(self):
        with Server(["-o", "idle_timeout=0"]) as server, server.connect() as conn:
            self.assertEqual(harness.read_stats(conn, "settings")["idle_timeout"], "0")


class ExtendedKeysTest(unittest.TestCase):

    def test_internal_keys_are_accepted(self):
        with Server(["-o", INTERNAL, "-o", "maxconns_fast"]) as server:
            with server.connect() as conn:
                self.assertEqual(conn.request("set k 0 0 1\r\nv\r\n"), b"STORED\r\n")
            if not REFERENCE:
                warnings = [line for line in server.stderr_text().splitlines() if "extended_options_ignored" in line]
                self.assertEqual(len(warnings), 1, server.stderr_text())
                self.assertIn("level=warning event=extended_options_ignored keys=modern,slab_reassign,"
                              "slab_automove,lru_crawler,hash_algorithm,hashpower,no_lru_maintainer ", warnings[0])

    @twincache_only
    def test_honoured_keys_alone_log_no_warning(self):
        with Server(["-o", "maxconns_fast,idle_timeout=5"]) as server:
            self.assertEqual(harness.stats(server, "settings")["idle_timeout"], "5")
            self.assertNotIn("extended_options_ignored", server.stderr_text())

    def test_unknown_key_stops_the_start_naming_it(self):
        for option in ("no_such_option", "modern,no_such_option=1", "proxy_config=/etc/proxy.lua"):
            code, output = start_fails(["-o", option])
            key = option.split(",")[-1].split("=")[0]
            self.assertNotEqual(code, 0, option)
            self.assertIn('Illegal suboption "%s' % key, output)
            if not REFERENCE:
                self.assertEqual(code, 64, output)
                self.assertEqual(output, 'twincached: Illegal suboption "%s"\n' % key)

    def test_a_key_without_its_value_stops_the_start(self):
        code, output = start_fails(["-o", "idle_timeout"])
        self.assertNotEqual(code, 0)
        self.assertIn("idle_timeout", output)
        if not REFERENCE:
            self.assertEqual(code, 64)
            self.assertEqual(len(output.splitlines()), 1, output)


@twincache_only
class ConfigFileKeysTest(unittest.TestCase):

    def config(self, text):
        fd, path = tempfile.mkstemp(prefix="twincache-extended-", suffix=".conf")
        with os.fdopen(fd, "w") as f:
            f.write(text)
        self.addCleanup(os.unlink, path)
        return path

    def test_keys_and_the_extended_line(self):
        path = self.config('idle_timeout = 7\nmodern = true\nextended = "slab_reassign"\n')
        with Server(["--config", path]) as server:
            self.assertEqual(harness.stats(server, "settings")["idle_timeout"], "7")
            self.assertRegex(server.stderr_text(), r"event=extended_options_ignored keys=modern,slab_reassign ")

    def test_unknown_key_in_the_file_stops_the_start(self):
        code, output = start_fails(["--config", self.config("idle_timeout = 7\nno_such_option = 1\n")])
        self.assertEqual(code, 64, output)
        self.assertIn("no_such_option", output)
        self.assertEqual(len(output.splitlines()), 1, output)


if __name__ == "__main__":
    unittest.main()
