"""Error replies, limits and abusive clients, over raw sockets; process errors.

The protocol error replies are memcached 1.6.18's (proto_text.c); where
memcached is laxer than protocol.txt (control characters in keys) or a test
checks twincached's own process behaviour (exit codes, messages), the test is
@twincache_only.
"""

import re
import select
import socket
import subprocess
import time
import unittest

import harness
from harness import (REFERENCE, Server, ServerTestCase, base_args,
                     free_port, read_stats, twincache_only)

ERROR_LINE = re.compile(rb"^(ERROR|CLIENT_ERROR|SERVER_ERROR)[^\r\n]*\r\n$")


class ProtocolErrorsTest(ServerTestCase):

    def assert_then_usable(self, conn):
        """The connection still answers commands after an error."""
        conn.send("version\r\n")
        reply = conn.read_until(b"VERSION ")
        self.assertTrue(reply.endswith(b"VERSION "), reply)
        conn.read_line()

    def test_unknown_command(self):
        c = self.conn()
        self.assertEqual(c.request("foo\r\n"), b"ERROR\r\n")
        self.assertEqual(c.request("GET k\r\n"), b"ERROR\r\n")  # commands are case sensitive
        self.assertEqual(c.request("\r\n"), b"ERROR\r\n")
        self.assertEqual(c.request("get\r\n"), b"ERROR\r\n")  # get needs a key
        self.assert_then_usable(c)

    def test_bare_newline_terminates_lines(self):
        c = self.conn()
        self.assertEqual(c.request("set nl 0 0 1\nx\r\n"), b"STORED\r\n")
        self.assertEqual(c.request("get nl\n", b"END\r\n"), b"VALUE nl 0 1\r\nx\r\nEND\r\n")

    def test_malformed_storage_lines(self):
        c = self.conn()
        for line in (b"set k 0 0 abc\r\n", b"set k abc 0 1\r\n", b"set k 0 0 -1\r\n",
                     b"set k -1 0 1\r\n", b"set k 0 abc 1\r\n"):
            self.assertEqual(c.request(line), b"CLIENT_ERROR bad command line format\r\n", line)
            self.assert_then_usable(c)

    def test_malformed_other_lines(self):
        c = self.conn()
        self.assertEqual(c.request("incr k\r\n"), b"ERROR\r\n")
        self.assertEqual(c.request("incr k abc\r\n"), b"CLIENT_ERROR invalid numeric delta argument\r\n")
        self.assertEqual(c.request("touch k abc\r\n"), b"CLIENT_ERROR invalid exptime argument\r\n")
        self.assertEqual(c.request("gat abc k\r\n"), b"CLIENT_ERROR invalid exptime argument\r\n")
        self.assertEqual(c.request("flush_all abc\r\n"), b"CLIENT_ERROR invalid exptime argument\r\n")
        self.assertEqual(c.request("verbosity abc\r\n"), b"CLIENT_ERROR bad command line format\r\n")
        self.assertEqual(c.request("mg k zz\r\n"), b"CLIENT_ERROR invalid flag\r\n")
        self.assertEqual(c.request("ms k abc\r\n"), b"CLIENT_ERROR bad command line format\r\n")
        self.assert_then_usable(c)

    def test_wrong_data_length(self):
        c = self.conn()
        c.send("set wl 0 0 3\r\nabcde\r\n")
        self.assertEqual(c.read_line(), b"CLIENT_ERROR bad data chunk\r\n")
        self.assert_then_usable(c)
        self.assertEqual(c.request("get wl\r\n"), b"END\r\n")

    def test_value_over_item_size_max_is_swallowed(self):
        c = self.conn()
        size = 2 * 1024 * 1024
        c.send(b"set huge 0 0 %d\r\n" % size)
        # The data may look like commands; it must be swallowed, not parsed.
        c.send(b"get x\r\n" * (size // 7) + b"g" * (size % 7) + b"\r\n")
        self.assertEqual(c.read_line(), b"SERVER_ERROR object too large for cache\r\n")
        self.assertEqual(c.request("set after 0 0 2\r\nok\r\n"), b"STORED\r\n")
        self.assertEqual(c.request("get after huge\r\n", b"END\r\n"),
                         b"VALUE after 0 2\r\nok\r\nEND\r\n")

    def test_key_too_long(self):
        c = self.conn()
        key = b"k" * 251
        self.assertEqual(c.request(b"get " + key + b"\r\n"),
                         b"CLIENT_ERROR bad command line format\r\n")
        self.assertEqual(c.request(b"set " + key + b" 0 0 1\r\n"),
                         b"CLIENT_ERROR bad command line format\r\n")
        self.assert_then_usable(c)
        self.assertEqual(c.request(b"mg " + key + b" v\r\n"),
                         b"CLIENT_ERROR bad command line format\r\n")
        self.assert_then_usable(c)

    @twincache_only  # --strict-keys: protocol.txt's rule; memcached and the default accept them
    def test_strict_keys_refuse_control_characters(self):
        with Server(["--strict-keys"]) as srv, srv.connect() as c:
            reply = c.request(b"set k\x01y 0 0 1\r\n")
            self.assertTrue(reply.startswith(b"CLIENT_ERROR"), reply)
            reply = c.request(b"get k\x7fy\r\n")
            self.assertTrue(reply.startswith(b"CLIENT_ERROR"), reply)
            reply = c.request(b"mg k\x1by v\r\n")
            self.assertTrue(reply.startswith(b"CLIENT_ERROR"), reply)
            self.assertEqual(c.request(b"version\r\n")[:8], b"VERSION ")

    @twincache_only
    def test_lenient_keys_flag_is_still_taken(self):
        with Server(["--lenient-keys"]) as srv, srv.connect() as c:
            self.assertEqual(c.request(b"set \x10\x10k 0 0 1\r\nv\r\n"), b"STORED\r\n")
            self.assertEqual(c.request(b"get \x10\x10k\r\n", b"END\r\n"),
                             b"VALUE \x10\x10k 0 1\r\nv\r\nEND\r\n")

    def test_line_too_long_closes(self):
        c = self.conn()
        c.send(b"set " + b"a" * 3000)
        received = c.read_eof()
        if not REFERENCE:  # memcached closes without a reply
            self.assertRegex(received, ERROR_LINE)
        self.assertTrue(self.server.alive())

    def test_incr_non_numeric(self):
        c = self.conn()
        c.request("set nn 0 0 3\r\nabc\r\n")
        for cmd in ("incr nn 1\r\n", "decr nn 1\r\n"):
            self.assertEqual(c.request(cmd),
                             b"CLIENT_ERROR cannot increment or decrement non-numeric value\r\n")
        # Numbers of more than 20 digits are not numeric either.
        c.request("set nn 0 0 21\r\n%s\r\n" % ("1" * 21))
        self.assertEqual(c.request("incr nn 1\r\n"),
                         b"CLIENT_ERROR cannot increment or decrement non-numeric value\r\n")


class ConnectionLimitTest(unittest.TestCase):
    # memcached reserves some of -c for its own descriptors and needs ~64 to
    # start at all; with -c 64 it serves ~39 clients.
    MAX_CONNS = 64
    EXTRA = 24

    def test_connections_over_limit_are_refused(self):
        with Server(["-c", str(self.MAX_CONNS)]) as srv:
            conns = []
            try:
                for _ in range(self.MAX_CONNS + self.EXTRA):
                    # connect() succeeds via the kernel backlog; the server decides.
                    conns.append(socket.create_connection(("127.0.0.1", srv.port), timeout=5))
                served = []
                for i, s in enumerate(conns):
                    s.settimeout(2)
                    try:
                        s.sendall(b"version\r\n")
                        reply = s.recv(100)
                    except (socket.timeout, ConnectionResetError, BrokenPipeError):
                        reply = b""
                    if reply.startswith(b"VERSION"):
                        served.append(i)
                    else:
                        # Refused: closed, or one error line then closed.
                        self.assertTrue(reply == b"" or ERROR_LINE.match(reply), reply)
                print("served %d of %d connections with -c %d" %
                      (len(served), len(conns), self.MAX_CONNS))
                self.assertIn(0, served)
                self.assertGreaterEqual(len(served), self.MAX_CONNS // 2)
                self.assertLessEqual(len(served), self.MAX_CONNS)
                self.assertLess(len(served), len(conns))
                # The accepted ones keep working.
                for i in served:
                    conns[i].sendall(b"version\r\n")
                    self.assertTrue(conns[i].recv(100).startswith(b"VERSION"))
                refused = [i for i in range(len(conns)) if i not in served]
                for i in refused:
                    conns[i].close()
                for i in served[-5:]:
                    conns[i].close()
                # Freed slots accept new clients again (closes are asynchronous).
                ok = harness.poll_until(lambda: self._version_ok(srv.port), 5.0)
                self.assertTrue(ok)
            finally:
                for s in conns:
                    s.close()
            self.assertTrue(srv.alive(), srv.stderr_text())

    @staticmethod
    def _version_ok(port):
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=2) as s:
                s.sendall(b"version\r\n")
                return s.recv(100).startswith(b"VERSION")
        except OSError:
            return False


class SlowReaderTest(unittest.TestCase):
    # 20 MB of requests for 200 GB of replies: more than socket buffers hold,
    # so the send can only finish if the server keeps reading without bound.
    GETS = 2000000
    VALUE_SIZE = 100 * 1024
    RSS_LIMIT_KB = 200 * 1024
    SEND_SECONDS = 8.0

    def test_client_that_never_reads_is_bounded(self):
        with Server([]) as srv:
            with srv.connect() as setup:
                self.assertEqual(
                    setup.request(b"set slow 0 0 %d\r\n" % self.VALUE_SIZE +
                                  b"v" * self.VALUE_SIZE + b"\r\n"), b"STORED\r\n")
            slow = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            slow.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
            slow.connect(("127.0.0.1", srv.port))
            slow.setblocking(False)
            request = memoryview(b"get slow\r\n" * self.GETS)
            sent = 0
            peak_kb = srv.rss_kb()
            deadline = time.monotonic() + self.SEND_SECONDS
            last_progress = time.monotonic()
            try:
                while sent < len(request) and time.monotonic() < deadline:
                    _, writable, _ = select.select([], [slow], [], 0.2)
                    if writable:
                        try:
                            n = slow.send(request[sent:sent + 65536])
                        except BlockingIOError:
                            n = 0
                        if n:
                            sent += n
                            last_progress = time.monotonic()
                    peak_kb = max(peak_kb, srv.rss_kb())
                    if time.monotonic() - last_progress > 1.5:
                        break  # the server stopped reading: backpressure works
                # While the slow client is stuck, others are served.
                with srv.connect() as other:
                    self.assertEqual(other.request("set other 0 0 2\r\nok\r\n"), b"STORED\r\n")
                    self.assertEqual(other.request("get other\r\n", b"END\r\n"),
                                     b"VALUE other 0 2\r\nok\r\nEND\r\n")
                    self.assertIn("pid", read_stats(other))
                for _ in range(10):
                    peak_kb = max(peak_kb, srv.rss_kb())
                    time.sleep(0.05)
                print("slow reader: sent %d of %d request bytes; server peak RSS %d KiB" %
                      (sent, len(request), peak_kb))
                self.assertLess(sent, len(request), "the server never stopped reading")
                if not harness.SANITIZED:
                    self.assertLess(peak_kb, self.RSS_LIMIT_KB)
            finally:
                slow.close()
            self.assertTrue(harness.poll_until(lambda: ConnectionLimitTest._version_ok(srv.port), 5.0))
            self.assertTrue(srv.alive(), srv.stderr_text())


class NetcatTest(ServerTestCase):

    def test_echo_stats_through_nc(self):
        # netcat-openbsd: -N shuts the socket down for writing at stdin EOF,
        # then nc exits when the server closes.
        result = subprocess.run("echo stats | nc -N 127.0.0.1 %d | grep pid" % self.server.port,
                                shell=True, capture_output=True, text=True, timeout=10)
        self.assertEqual(result.returncode, 0, result.stderr)
        self.assertEqual(result.stdout.strip(), "STAT pid %d" % self.server.pid)


class ProcessErrorsTest(unittest.TestCase):
    """How the binary fails at start."""

    def run_server(self, args, timeout=10):
        return subprocess.run(args, capture_output=True, text=True, timeout=timeout,
                              stdin=subprocess.DEVNULL)

    @twincache_only
    def test_udp_port_is_refused(self):
        port = free_port()
        result = self.run_server(base_args(port) + ["-U", "1"])
        self.assertNotEqual(result.returncode, 0)
        self.assertIn("udp", result.stderr.lower())

    def test_busy_port(self):
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as busy:
            busy.bind(("127.0.0.1", 0))
            busy.listen(1)
            port = busy.getsockname()[1]
            result = self.run_server(base_args(port))
        self.assertNotEqual(result.returncode, 0)
        self.assertIn("127.0.0.1", result.stderr)
        if not REFERENCE:  # memcached names the interface only
            self.assertIn(str(port), result.stderr)

    @twincache_only
    def test_bad_flag_is_usage_error(self):
        result = self.run_server(base_args(free_port()) + ["--no-such-flag"])
        self.assertEqual(result.returncode, 64, result.stderr)
        message = result.stderr.strip()
        self.assertTrue(message, "no message on stderr")
        self.assertNotIn("\n", message)

    @twincache_only
    def test_bad_flag_value_is_usage_error(self):
        result = self.run_server(base_args(free_port()) + ["-t", "abc"])
        self.assertEqual(result.returncode, 64, result.stderr)
        self.assertNotIn("\n", result.stderr.strip())

    @twincache_only
    def test_version_flag(self):
        result = self.run_server([harness.server_binary(), "--version"])
        self.assertEqual(result.returncode, 0)
        self.assertRegex(result.stdout + result.stderr, r"\d+\.\d+\.\d+")

    def test_sigterm_exits_promptly(self):
        srv = Server([]).start()
        start = time.monotonic()
        srv.proc.terminate()
        code = srv.proc.wait(harness.STOP_TIMEOUT)
        srv.stop()
        self.assertLess(time.monotonic() - start, harness.STOP_TIMEOUT)
        self.assertIn(code, (0, -15))


if __name__ == "__main__":
    unittest.main()
