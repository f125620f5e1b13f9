"""memcached closes connections whose request line looks like HTTP.

The rule, from memcached 1.6.18 proto_text.c (process_command_ascii and
tokenize_command):
- A line is split into tokens at spaces only (not tabs); the line ends at
  "\\n", a "\\r" right before it is dropped.
- A command token shorter than 2 bytes is answered ERROR.
- Commands are dispatched on the command token. Unknown words whose first
  byte is 'g', 's', 'a', 'c', 'i', 'd' or 't', and unknown two-byte words
  starting with 'm', are answered ERROR inside their command family.
- Any other unknown command closes the connection without a reply when the
  last token of the line starts with "HTTP/" (case-sensitive); otherwise it
  is answered ERROR.
So "GET / HTTP/1.0", "PUT /x HTTP/1.1" or "DELETE /a HTTP/1.1" (upper case is
not memcached's delete) close, while "get / HTTP/1.0" is a get of two keys.
"""

import socket
import unittest

from harness import ServerTestCase

# Seconds to wait for the server to close (or to answer).
WAIT = 2.0

# Lines after which memcached closes the connection without a reply.
CLOSING_LINES = (
    b"GET / HTTP/1.0\r\n",
    b"GET /index.html HTTP/1.1\r\nHost: cache\r\n\r\n",
    b"PUT /x HTTP/1.1\r\n",
    b"POST /form HTTP/1.1\r\n",
    b"DELETE /a/b HTTP/1.1\r\n",
    b"HEAD / HTTP/1.0\r\n",
    b"OPTIONS * HTTP/1.1\r\n",
    b"PATCH /x HTTP/1.1\r\n",
    b"CONNECT host:443 HTTP/1.1\r\n",
    b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n",  # the HTTP/2 preface
    b"Get / HTTP/1.1\r\n",
    b"GET / HTTP/1.0\n",                # bare newline
    b"GET  /  HTTP/1.0 \r\n",            # extra spaces
    b"GET\t/ HTTP/1.0\r\n",             # a tab is not a separator: "GET\t/" is the command
    b"HTTP/1.1\r\n",                    # the command token itself is the last token
    b"HTTP/\r\n",
    b"foo HTTP/\r\n",                   # only the "HTTP/" prefix matters
    b"GE HTTP/1.1\r\n",
    b"GET / HTTP/1.0x\r\n",
    b"rx / HTTP/1.0\r\n",
    b"flush / HTTP/1.0\r\n",            # not flush_all
    b"mzz / HTTP/1.0\r\n",              # 'm' but not a two-byte meta command
)

# Lines that look a bit like HTTP but are answered ERROR, connection open.
ERROR_LINES = (
    b"GET / http/1.0\r\n",              # case-sensitive
    b"GET /\r\n",
    b"GET / XHTTP/1.0\r\n",
    b"GET /\tHTTP/1.0\r\n",             # last token is "/\tHTTP/1.0"
    b"foo bar HTTP/2 x\r\n",            # HTTP/ is not the last token
    b"x HTTP/1.0\r\n",                  # command token shorter than 2 bytes
    b"G HTTP/1.1\r\n",
)

# Unknown words in a command family: ERROR from the family, never the HTTP close.
FAMILY_ERROR_LINES = (
    b"gx / HTTP/1.0\r\n",
    b"gopher / HTTP/1.0\r\n",
    b"sget / HTTP/1.0\r\n",
    b"ax / HTTP/1.0\r\n",
    b"cx / HTTP/1.0\r\n",
    b"ix / HTTP/1.0\r\n",
    b"dx / HTTP/1.0\r\n",
    b"tx / HTTP/1.0\r\n",
    b"mz / HTTP/1.0\r\n",
    b"stats HTTP/1.0\r\n",
)

# Real commands whose last token is "HTTP/...": handled as the command.
COMMAND_LINES = (
    (b"get / HTTP/1.0\r\n", b"END\r\n"),
    (b"delete / HTTP/1.1\r\n",
     b"CLIENT_ERROR bad command line format.  Usage: delete <key> [noreply]\r\n"),
    (b"touch / HTTP/1.0\r\n", b"CLIENT_ERROR invalid exptime argument\r\n"),
    (b"verbosity HTTP/1.0\r\n", b"CLIENT_ERROR bad command line format\r\n"),
)


class HttpGuardTest(ServerTestCase):

    def assert_closed_without_reply(self, conn, line):
        """Sends `line`; the next thing on `conn` must be the server's close.
        A reply fails at once; neither reply nor close fails after WAIT."""
        conn.send(line)
        conn.sock.settimeout(WAIT)
        try:
            first = conn.sock.recv(4096)
        except ConnectionResetError:
            first = b""
        except socket.timeout:
            self.fail("%r: neither a reply nor a close within %.0f s" % (line, WAIT))
        self.assertEqual(first, b"", "%r was answered instead of closed" % line)

    def assert_reply_then_open(self, line, reply):
        c = self.conn()
        self.assertEqual(c.request(line, timeout=WAIT), reply, line)
        self.assertRegex(c.request(b"version\r\n", timeout=WAIT), rb"^VERSION \S+\r\n$")

    def test_http_request_lines_close_without_reply(self):
        for line in CLOSING_LINES:
            with self.subTest(line=line):
                self.assert_closed_without_reply(self.conn(), line)
        self.assertTrue(self.server.alive())

    def test_close_after_earlier_commands(self):
        c = self.conn()
        self.assertEqual(c.request(b"set http-guard 0 0 2\r\nok\r\n"), b"STORED\r\n")
        self.assert_closed_without_reply(c, b"GET /http-guard HTTP/1.1\r\nHost: cache\r\n\r\n")
        # Nothing of the HTTP request was taken as a command.
        self.assertEqual(self.conn().get_values("get http-guard"),
                         {"http-guard": ([b"VALUE", b"http-guard", b"0", b"2"], b"ok")})

    def test_http_like_lines_get_error(self):
        for line in ERROR_LINES:
            with self.subTest(line=line):
                self.assert_reply_then_open(line, b"ERROR\r\n")

    def test_unknown_words_of_command_families_get_error(self):
        for line in FAMILY_ERROR_LINES:
            with self.subTest(line=line):
                self.assert_reply_then_open(line, b"ERROR\r\n")

    def test_commands_ending_in_http_token_stay_commands(self):
        for line, reply in COMMAND_LINES:
            with self.subTest(line=line):
                self.assert_reply_then_open(line, reply)
        c = self.conn()
        self.assertRegex(c.request(b"version HTTP/1.0\r\n", timeout=WAIT), rb"^VERSION \S+\r\n$")


if __name__ == "__main__":
    unittest.main()
