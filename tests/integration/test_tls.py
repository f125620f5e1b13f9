"""Client TLS as memcached 1.6's -Z (-o ssl_chain_cert, ssl_key, ssl_ca_cert,
ssl_verify_mode; -l notls:ADDR; refresh_certs), with pymemcache's
tls_context and raw TLS sockets, against a real server. The certificates are
made at run time (tls_certs.py). The same tests run against Debian's
memcached 1.6.18 (built with TLS) in the reference mode; what only
twincached does is marked.

- set/get, gets/cas and a 1 MiB value over TLS; the server's TLS stats.
- A client that verifies the server with the wrong CA fails; a plaintext
  client on a TLS port is dropped after the failed handshake and counted in
  ssl_handshake_errors.
- ssl_verify_mode=2 with ssl_ca_cert: a client certificate of that CA is
  served, one of another CA and none at all are refused.
- -l notls:ADDR stays in clear while the other listener speaks TLS.
- refresh_certs and SIGHUP load a new certificate for new connections while
  a connection opened before keeps working; a certificate that does not
  load is refused by refresh_certs and the old one stays.
"""

import os
import shutil
import signal
import socket
import ssl
import subprocess
import unittest

from pymemcache.exceptions import MemcacheUnexpectedCloseError

import harness
from harness import REFERENCE, RawConn, Server, poll_until, read_stats, twincache_only
from tls_certs import TestPki

# Seconds a reload may take to show in new connections (memcached re-reads
# its auth file on its clock tick; twincached at once).
RELOAD_TIMEOUT = 10.0
LARGE_VALUE = 1 << 20


def tls_conn(port, context, host="127.0.0.1"):
    """A harness.RawConn whose socket speaks TLS (handshake done)."""
    conn = RawConn(port) if host == "127.0.0.1" else None
    if conn is None:
        conn = RawConn.__new__(RawConn)
        conn.sock = socket.create_connection((host, port), timeout=harness.READ_TIMEOUT)
        conn.timeout = harness.READ_TIMEOUT
        conn.buffer = b""
    try:
        conn.sock = context.wrap_socket(conn.sock, server_hostname=host)
    except Exception:
        conn.close()
        raise
    return conn


def peer_common_name(port, context):
    """The CN of the certificate the server at `port` presents now."""
    with socket.create_connection(("127.0.0.1", port), timeout=harness.READ_TIMEOUT) as raw:
        with context.wrap_socket(raw, server_hostname="127.0.0.1") as tls:
            subject = dict(item[0] for item in tls.getpeercert()["subject"])
            return subject["commonName"]


class TlsTestCase(unittest.TestCase):
    """A TestPki for the class; servers are started by the tests."""

    @classmethod
    def setUpClass(cls):
        cls.pki = TestPki()

    @classmethod
    def tearDownClass(cls):
        cls.pki.cleanup()

    def start(self, args):
        server = Server(args).start()
        self.addCleanup(self._stop, server)
        return server

    def _stop(self, server):
        alive = server.alive()
        code = server.stop()
        if not alive:
            raise AssertionError("server exited during the test with %s:\n%s" % (code, server.stderr_text()))

    def tls_client(self, server, context=None, **kwargs):
        client = server.pymemcache(tls_context=context or self.pki.client_context(), **kwargs)
        self.addCleanup(client.close)
        return client


class ClientTlsTest(TlsTestCase):

    def test_set_get_cas_and_a_large_value(self):
        server = self.start(self.pki.server_args() + ["-I", "2m"])
        client = self.tls_client(server)
        self.assertTrue(client.set("tls-k", b"v1"))
        self.assertEqual(client.get("tls-k"), b"v1")
        value, cas = client.gets("tls-k")
        self.assertEqual(value, b"v1")
        self.assertTrue(client.cas("tls-k", b"v2", cas))
        self.assertFalse(client.cas("tls-k", b"v3", cas))  # the cas unique changed
        self.assertEqual(client.get("tls-k"), b"v2")
        large = os.urandom(LARGE_VALUE)
        self.assertTrue(client.set("tls-large", large))
        self.assertEqual(client.get("tls-large"), large)
        self.assertEqual(client.get_many(["tls-k", "tls-large"]), {"tls-k": b"v2", "tls-large": large})

    def test_stats_report_tls(self):
        server = self.start(self.pki.server_args())
        with tls_conn(server.port, self.pki.client_context()) as conn:
            general = read_stats(conn)
            settings = read_stats(conn, "settings")
        # The harness's readiness probe connects without a handshake: counted.
        self.assertTrue(general["ssl_handshake_errors"].isdigit(), general)
        self.assertIn("time_since_server_cert_refresh", general)
        self.assertEqual(settings["ssl_enabled"], "yes")
        self.assertEqual(settings["ssl_chain_cert"], self.pki.path("server.crt"))
        self.assertEqual(settings["ssl_verify_mode"], "0")
        self.assertEqual(settings["ssl_min_version"], "tlsv1.2")

    def test_client_with_the_wrong_ca_refuses_the_server(self):
        server = self.start(self.pki.server_args())
        with self.assertRaises(ssl.SSLCertVerificationError):
            tls_conn(server.port, self.pki.client_context(ca="wrong-ca.crt"))
        with tls_conn(server.port, self.pki.client_context()) as conn:  # still serving
            self.assertEqual(conn.request("version\r\n")[:8], b"VERSION ")

    def test_plaintext_client_is_dropped(self):
        server = self.start(self.pki.server_args())
        with server.connect() as conn:
            conn.send("version\r\nget foo\r\n")
            self.assertEqual(conn.read_eof(), b"")  # no reply in clear, then the close
        if REFERENCE:
            # memcached counts only a handshake that fails within its first
            # SSL_accept call, made at accept time on a non-blocking socket:
            # whether the client's bytes are there yet is a race.
            return
        with tls_conn(server.port, self.pki.client_context()) as conn:
            errors = poll_until(lambda: int(read_stats(conn)["ssl_handshake_errors"]) >= 1, RELOAD_TIMEOUT)
            self.assertTrue(errors, "a plaintext client should count in ssl_handshake_errors")

    def test_notls_listener_stays_in_clear(self):
        server = self.start(self.pki.server_args() + ["-l", "notls:127.0.0.2"])
        plain = RawConn.__new__(RawConn)
        plain.sock = socket.create_connection(("127.0.0.2", server.port), timeout=harness.READ_TIMEOUT)
        plain.timeout, plain.buffer = harness.READ_TIMEOUT, b""
        with plain:
            self.assertEqual(plain.request("set clear 0 0 1\r\nx\r\n"), b"STORED\r\n")
        with tls_conn(server.port, self.pki.client_context()) as conn:
            self.assertEqual(conn.request("get clear\r\n", b"END\r\n"), b"VALUE clear 0 1\r\nx\r\nEND\r\n")

    @twincache_only  # memcached prints the same line but exits 71 ("failed to listen"); here a usage error
    def test_notls_without_tls_is_a_usage_error(self):
        server = Server(["-l", "notls:127.0.0.2"])
        with self.assertRaises(RuntimeError) as raised:
            server.start()
        self.assertIn("'notls' option is valid only when SSL is enabled", str(raised.exception))
        self.assertEqual(server.proc.returncode, 64)


class ClientCertificateTest(TlsTestCase):
    """ssl_verify_mode=2 (require) with ssl_ca_cert: memcached's SSL_VERIFY_PEER
    | SSL_VERIFY_FAIL_IF_NO_PEER_CERT."""

    def setUp(self):
        self.server = self.start(self.pki.server_args("ssl_ca_cert=" + self.pki.path("ca.crt"),
                                                      "ssl_verify_mode=2"))

    def assert_refused(self, context):
        # With TLS 1.3 the client finishes its handshake before the server
        # checks the certificate; the refusal shows at the first exchange.
        with self.assertRaises((ssl.SSLError, OSError, harness.ConnectionClosed, MemcacheUnexpectedCloseError)):
            with tls_conn(self.server.port, context) as conn:
                conn.request("version\r\n")

    def test_client_certificate_of_the_ca_is_served(self):
        client = self.tls_client(self.server, self.pki.client_context(cert="client"))
        self.assertTrue(client.set("cert-k", b"v"))
        self.assertEqual(client.get("cert-k"), b"v")

    def test_client_certificate_of_another_ca_is_refused(self):
        self.assert_refused(self.pki.client_context(cert="wrong-client"))

    def test_client_without_certificate_is_refused(self):
        self.assert_refused(self.pki.client_context())
        if REFERENCE:
            return  # memcached's count of failed handshakes is racy (test_plaintext_client_is_dropped)
        with tls_conn(self.server.port, self.pki.client_context(cert="client")) as conn:
            errors = poll_until(lambda: int(read_stats(conn)["ssl_handshake_errors"]) >= 1, RELOAD_TIMEOUT)
            self.assertTrue(errors)


class CertificateRefreshTest(TlsTestCase):
    """The server's certificate files are replaced while a client stays
    connected; each test gets its own copies of the files."""

    def setUp(self):
        self.cert = self.pki.path("live-%s.crt" % self._testMethodName)
        self.key = self.pki.path("live-%s.key" % self._testMethodName)
        shutil.copy(self.pki.path("server.crt"), self.cert)
        shutil.copy(self.pki.path("server.key"), self.key)
        self.server = self.start(["-Z", "-o", "ssl_chain_cert=%s,ssl_key=%s" % (self.cert, self.key)])
        self.context = self.pki.client_context()
        self.assertEqual(peer_common_name(self.server.port, self.context), "server-1")
        self.open_conn = tls_conn(self.server.port, self.context)
        self.addCleanup(self.open_conn.close)
        self.assertEqual(self.open_conn.request("set before 0 0 3\r\nold\r\n"), b"STORED\r\n")

    def install(self, name, cn):
        crt, key = self.pki.issue_server(name, cn)
        shutil.copy(crt, self.cert)
        shutil.copy(key, self.key)

    def assert_open_conn_usable(self):
        self.assertEqual(self.open_conn.request("get before\r\n", b"END\r\n"), b"VALUE before 0 3\r\nold\r\nEND\r\n")
        self.assertEqual(self.open_conn.request("set after 0 0 3\r\nnew\r\n"), b"STORED\r\n")

    def test_refresh_certs_command(self):
        self.install("refreshed", "server-2")
        self.assertEqual(self.open_conn.request("refresh_certs\r\n"), b"OK\r\n")
        self.assertEqual(peer_common_name(self.server.port, self.context), "server-2")
        self.assert_open_conn_usable()

    @twincache_only  # memcached re-reads only its auth file on SIGHUP, not the certificates
    def test_sighup_reloads_the_certificates(self):
        self.install("hupped", "server-3")
        os.kill(self.server.pid, signal.SIGHUP)
        reloaded = poll_until(lambda: peer_common_name(self.server.port, self.context) == "server-3",
                              RELOAD_TIMEOUT)
        self.assertTrue(reloaded, self.server.stderr_text())
        self.assert_open_conn_usable()

    @twincache_only  # memcached loads into its live SSL_CTX: a bad file may leave it half-changed
    def test_refresh_with_a_bad_certificate_keeps_the_old_one(self):
        with open(self.cert, "w") as f:
            f.write("not a certificate\n")
        reply = self.open_conn.request("refresh_certs\r\n")
        self.assertTrue(reply.startswith(b"Error loading the certificate chain: "), reply)
        self.assertEqual(peer_common_name(self.server.port, self.context), "server-1")
        self.assert_open_conn_usable()


CHECK = harness.build_program("healthcheck", "twincache-check", "TWINCACHE_CHECK")


class CheckOverTlsTest(TlsTestCase):
    """twincache-check --tls against a TLS-only listener (--admin off: the
    facts come from `stats`, so memcached in the reference mode answers too)."""

    def run_check(self, server, *args):
        command = [CHECK, "--port", str(server.port), "--admin", "off", "--track-file", "off",
                   "--maintenance-file", "", "--timeout-ms", "3000", "-q", *args]
        p = subprocess.run(command, capture_output=True, text=True, timeout=30)
        return p.returncode, p.stderr

    def test_check_speaks_tls(self):
        server = self.start(self.pki.server_args())
        self.assertEqual(self.run_check(server, "--tls", "--tls-ca", self.pki.path("ca.crt")), (0, ""))
        self.assertEqual(self.run_check(server, "--tls", "--tls-insecure"), (0, ""))
        code, err = self.run_check(server)  # in clear: dropped after the failed handshake
        self.assertEqual(code, 1)
        # memcached resets the connection (unread bytes at its close()); twincached closes it.
        self.assertRegex(err, "closed the connection before answering stats|Connection reset by peer")
        code, err = self.run_check(server, "--tls", "--tls-ca", self.pki.path("wrong-ca.crt"))
        self.assertEqual(code, 1)
        self.assertIn("TLS handshake with 127.0.0.1:%d failed: " % server.port, err)
        code, err = self.run_check(server, "--tls", "--tls-ca", self.pki.path("ca.crt"), "--tls-name", "other.example")
        self.assertEqual(code, 1)
        self.assertIn("failed: hostname mismatch", err)

    def test_check_with_a_client_certificate(self):
        server = self.start(self.pki.server_args("ssl_ca_cert=" + self.pki.path("ca.crt"), "ssl_verify_mode=2"))
        ca = self.pki.path("ca.crt")
        self.assertEqual(self.run_check(server, "--tls", "--tls-ca", ca, "--tls-cert", self.pki.path("client.crt"),
                                        "--tls-key", self.pki.path("client.key")), (0, ""))
        code, err = self.run_check(server, "--tls", "--tls-ca", ca)
        self.assertEqual(code, 1, err)

    def test_tls_options_need_tls(self):
        p = subprocess.run([CHECK, "--tls-insecure"], capture_output=True, text=True, timeout=30)
        self.assertEqual(p.returncode, 2)
        self.assertIn("need --tls", p.stderr)


@twincache_only  # memcached answers with this line too, but only when built with TLS
class RefreshWithoutTlsTest(harness.ServerTestCase):

    def test_refresh_certs_without_tls(self):
        self.assertEqual(self.conn().request("refresh_certs\r\n"), b"Error TLS not enabled\r\n")


if __name__ == "__main__":
    unittest.main()
