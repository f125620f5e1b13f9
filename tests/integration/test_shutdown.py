"""The `shutdown [graceful]` command and -A/--enable-shutdown, as memcached 1.6
(proto_text.c process_shutdown_command; protocol.txt "shutdown"):

- without -A every form answers "ERROR: shutdown not enabled" and the server
  serves on;
- with -A, `shutdown` closes the connection without a reply and the server
  exits 0 (memcached raises SIGINT), `shutdown graceful` likewise as SIGUSR1
  does, and any other argument is "CLIENT_ERROR invalid shutdown mode";
- `stats settings` shows shutdown_command no / yes.

Each test runs against Debian's memcached 1.6.18 in the reference mode too;
only the log lines are twincached's own.
"""

import unittest

import harness
from harness import REFERENCE, Server


class ShutdownDisabledTest(harness.ServerTestCase):

    def test_every_form_is_refused_and_the_server_serves_on(self):
        conn = self.conn()
        for line in ("shutdown", "shutdown graceful", "shutdown now", "shutdown noreply"):
            self.assertEqual(conn.request(line + "\r\n"), b"ERROR: shutdown not enabled\r\n", line)
        self.assertEqual(conn.request("set k 0 0 1\r\nv\r\n"), b"STORED\r\n")
        self.assertEqual(harness.read_stats(conn, "settings")["shutdown_command"], "no")
        self.assertTrue(self.server.alive())


class ShutdownEnabledTest(unittest.TestCase):

    def start(self, *args):
        server = Server(["-A"] + list(args)).start()
        self.addCleanup(server.stop)
        return server

    def test_bad_modes_are_refused(self):
        server = self.start()
        with server.connect() as conn:
            self.assertEqual(harness.read_stats(conn, "settings")["shutdown_command"], "yes")
            for line in ("shutdown now", "shutdown graceful now", "shutdown noreply", "shutdown GRACEFUL"):
                self.assertEqual(conn.request(line + "\r\n"), b"CLIENT_ERROR invalid shutdown mode\r\n", line)
            self.assertEqual(conn.request("version\r\n")[:8], b"VERSION ")
        self.assertTrue(server.alive())

    def check_stops(self, server, line):
        with server.connect() as conn, server.connect() as other:
            self.assertEqual(other.request("set k 0 0 1\r\nv\r\n"), b"STORED\r\n")
            conn.send(line + "\r\n")
            self.assertEqual(conn.read_eof(), b"")  # no reply, closed
            self.assertEqual(server.proc.wait(harness.STOP_TIMEOUT), 0)
            self.assertEqual(other.read_eof(), b"")

    def test_shutdown_stops_the_server(self):
        server = self.start()
        self.check_stops(server, "shutdown")
        if not REFERENCE:
            self.assertRegex(server.stderr_text(), r'event=shutdown reason="shutdown command" mode=normal')

    def test_shutdown_graceful_stops_as_sigusr1(self):
        server = self.start()
        self.check_stops(server, "shutdown graceful")
        if REFERENCE:
            self.assertIn("Gracefully stopping", server.stderr_text())
        else:
            self.assertRegex(server.stderr_text(), r'event=shutdown reason="shutdown command" mode=graceful')

    def test_enable_shutdown_long_form(self):
        server = Server(["--enable-shutdown"]).start()
        self.addCleanup(server.stop)
        self.check_stops(server, "shutdown")


if __name__ == "__main__":
    unittest.main()
