"""ASCII protocol authentication as memcached 1.5.15+ (-Y FILE; proto_text.c
try_read_command_asciiauth, t/ascii-auth.t): until a connection sends a
`set` whose value is "user password" of a line of FILE, every command gets
"CLIENT_ERROR unauthenticated"; a wrong password gets "CLIENT_ERROR
authentication failure" and may try again; SIGHUP re-reads FILE. Also over
TLS (-Z). The same tests run against Debian's memcached 1.6.18 in the
reference mode.
"""

import os
import signal
import subprocess
import tempfile
import unittest

import harness
from harness import REFERENCE, Server, poll_until, read_stats
from tls_certs import TestPki
from test_tls import tls_conn

# Seconds a SIGHUP may take to show: memcached re-reads the file on its next
# clock tick (once a second), twincached at once.
RELOAD_TIMEOUT = 10.0


def auth_set(user, password):
    value = ("%s %s" % (user, password)).encode()
    return b"set auth 0 0 %d\r\n%s\r\n" % (len(value), value)


class AsciiAuthTest(unittest.TestCase):

    def setUp(self):
        fd, self.auth_file = tempfile.mkstemp(prefix="twincache-auth-")
        os.close(fd)
        self.addCleanup(os.unlink, self.auth_file)
        self.write_users("alice:secret-1\nbob:pass word:with colon\n")
        self.server = Server(["-Y", self.auth_file]).start()
        self.addCleanup(self.server.stop)

    def write_users(self, text):
        with open(self.auth_file + ".new", "w") as f:
            f.write(text)
        os.replace(self.auth_file + ".new", self.auth_file)

    def conn(self):
        c = self.server.connect()
        self.addCleanup(c.close)
        return c

    def test_every_command_is_refused_before_authentication(self):
        c = self.conn()
        for line in ("version", "get foo", "stats", "mn", "delete foo", "flush_all"):
            self.assertEqual(c.request(line + "\r\n"), b"CLIENT_ERROR unauthenticated\r\n", line)
        # A set line is read as an auth attempt whatever its key.
        self.assertEqual(c.request(b"set k 0 0 1\r\nx\r\n"), b"CLIENT_ERROR bad authentication token format\r\n")
        self.assertEqual(c.request(b"set k 0 0 5\r\nab cdXY"), b"CLIENT_ERROR bad command line termination\r\n")
        self.assertEqual(c.request("version\r\n"), b"CLIENT_ERROR unauthenticated\r\n")

    def test_wrong_then_right_password(self):
        c = self.conn()
        self.assertEqual(c.request(auth_set("alice", "wrong")), b"CLIENT_ERROR authentication failure\r\n")
        self.assertEqual(c.request(auth_set("nobody", "secret-1")), b"CLIENT_ERROR authentication failure\r\n")
        self.assertEqual(c.request(auth_set("alice", "secret-1")), b"STORED\r\n")
        self.assertEqual(c.request("set k 0 0 2\r\nhi\r\n"), b"STORED\r\n")
        self.assertEqual(c.request("get k\r\n", b"END\r\n"), b"VALUE k 0 2\r\nhi\r\nEND\r\n")
        self.assertEqual(c.request("get auth\r\n", b"END\r\n"), b"END\r\n")  # the auth set stored nothing
        st = read_stats(c)
        self.assertEqual(st["auth_cmds"], "3")
        self.assertEqual(st["auth_errors"], "2")
        self.assertEqual(read_stats(c, "settings")["auth_enabled_ascii"], self.auth_file)

    def test_pipelined_auth_and_commands(self):
        c = self.conn()
        c.send(auth_set("alice", "secret-1") + b"set p 0 0 1\r\nz\r\nget p\r\n")
        self.assertEqual(c.read_until(b"END\r\n"), b"STORED\r\nSTORED\r\nVALUE p 0 1\r\nz\r\nEND\r\n")

    def test_two_sockets_authenticate_separately(self):
        first, second = self.conn(), self.conn()
        self.assertEqual(first.request(auth_set("alice", "secret-1")), b"STORED\r\n")
        self.assertEqual(second.request("get k\r\n"), b"CLIENT_ERROR unauthenticated\r\n")
        self.assertEqual(first.request("version\r\n")[:8], b"VERSION ")
        self.assertEqual(second.request(auth_set("alice", "wrong")), b"CLIENT_ERROR authentication failure\r\n")
        self.assertEqual(first.request("version\r\n")[:8], b"VERSION ")

    def test_sighup_reloads_the_file(self):
        authenticated = self.conn()
        self.assertEqual(authenticated.request(auth_set("alice", "secret-1")), b"STORED\r\n")
        self.write_users("carol:new-pass\n")
        os.kill(self.server.pid, signal.SIGHUP)

        def carol_accepted():
            with self.server.connect() as c:
                return c.request(auth_set("carol", "new-pass")) == b"STORED\r\n"

        self.assertTrue(poll_until(carol_accepted, RELOAD_TIMEOUT), self.server.stderr_text())
        with self.server.connect() as c:
            self.assertEqual(c.request(auth_set("alice", "secret-1")), b"CLIENT_ERROR authentication failure\r\n")
        # A connection authenticated before stays so.
        self.assertEqual(authenticated.request("version\r\n")[:8], b"VERSION ")

    @harness.twincache_only  # memcached keeps the old users too, but logs nothing to check
    def test_unreadable_file_on_sighup_keeps_the_users(self):
        # A reply first: the port accepts before the server handles signals.
        self.assertEqual(self.conn().request("version\r\n"), b"CLIENT_ERROR unauthenticated\r\n")
        os.unlink(self.auth_file)
        self.addCleanup(self.write_users, "")  # for the cleanup's unlink
        os.kill(self.server.pid, signal.SIGHUP)
        logged = poll_until(lambda: "auth_file: cannot read" in self.server.stderr_text(), RELOAD_TIMEOUT)
        self.assertTrue(logged, self.server.stderr_text())
        with self.server.connect() as c:
            self.assertEqual(c.request(auth_set("alice", "secret-1")), b"STORED\r\n")


CHECK = harness.build_program("healthcheck", "twincache-check", "TWINCACHE_CHECK")


class CheckWithAuthTest(unittest.TestCase):
    """twincache-check --auth-file: the daemon's own -Y file (--admin off, so
    memcached in the reference mode answers too)."""

    def run_check(self, port, *args):
        command = [CHECK, "--port", str(port), "--admin", "off", "--track-file", "off",
                   "--maintenance-file", "", "--timeout-ms", "3000", "-q", *args]
        p = subprocess.run(command, capture_output=True, text=True, timeout=30)
        return p.returncode, p.stderr

    def test_check_authenticates(self):
        with tempfile.TemporaryDirectory(prefix="twincache-auth-") as tmp:
            users, wrong = os.path.join(tmp, "users"), os.path.join(tmp, "wrong")
            with open(users, "w") as f:
                f.write("monitor:m0n\nalice:a\n")
            with open(wrong, "w") as f:
                f.write("monitor:bad\n")
            with Server(["-Y", users]) as server:
                self.assertEqual(self.run_check(server.port, "--auth-file", users), (0, ""))
                code, err = self.run_check(server.port)
                self.assertEqual(code, 1)
                self.assertIn("answered stats with: CLIENT_ERROR unauthenticated", err)
                code, err = self.run_check(server.port, "--auth-file", wrong)
                self.assertEqual(code, 1)
                # memcached 1.6.18 answers a refused auth set followed at once by
                # another command with "CLIENT_ERROR unauthenticated" only.
                self.assertRegex(err, "refused the check's authentication: CLIENT_ERROR "
                                      "(authentication failure|unauthenticated)")


class AsciiAuthOverTlsTest(unittest.TestCase):

    @classmethod
    def setUpClass(cls):
        cls.pki = TestPki()

    @classmethod
    def tearDownClass(cls):
        cls.pki.cleanup()

    def test_tls_and_ascii_auth(self):
        auth_file = self.pki.path("users")
        with open(auth_file, "w") as f:
            f.write("alice:secret-1\n")
        with Server(self.pki.server_args() + ["-Y", auth_file]) as server:
            with tls_conn(server.port, self.pki.client_context()) as c:
                self.assertEqual(c.request("get k\r\n"), b"CLIENT_ERROR unauthenticated\r\n")
                self.assertEqual(c.request(auth_set("alice", "wrong")), b"CLIENT_ERROR authentication failure\r\n")
                self.assertEqual(c.request(auth_set("alice", "secret-1")), b"STORED\r\n")
                self.assertEqual(c.request("set k 0 0 3\r\nabc\r\n"), b"STORED\r\n")
                self.assertEqual(c.request("get k\r\n", b"END\r\n"), b"VALUE k 0 3\r\nabc\r\nEND\r\n")
            with server.connect() as plain:  # no way around TLS
                plain.send(auth_set("alice", "secret-1"))
                self.assertEqual(plain.read_eof(), b"")


if __name__ == "__main__":
    unittest.main()
