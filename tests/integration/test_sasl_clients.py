"""SASL authentication (-S) as users configure it, through real clients.

memcached 1.6.18 (sasl_defs.c) authenticates binary-protocol clients through
Cyrus SASL. Debian's build has the SASL config-path callback but not the
MEMCACHED_SASL_PWDB password file (built without --enable-sasl-pwdb), so the
configuration that works with Debian's memcached is:

    SASL_CONF_PATH=DIR, DIR/memcached.conf containing
        mech_list: plain
        sasldb_path: DIR/sasldb2
    saslpasswd2 -a memcached -c -f DIR/sasldb2 -u $(hostname) USER

(the realm is the host name: memcached passes gethostname() as the user realm).
Without SASL_CONF_PATH memcached reads /etc/sasl2/memcached.conf. The
MEMCACHED_SASL_PWDB variant (a "user:password" file) is tested too; against
Debian's memcached it is skipped, since that build cannot run it.

What memcached does under -S (proto_bin.c, memcached.c):
- -S makes the listener binary-only. A connection that sends ASCII gets no
  reply at all: memcached waits for a 24-byte binary header, then closes
  because the magic byte is not 0x80.
- Before authentication only VERSION and the SASL commands are served; any
  other command gets status 0x20 (Auth error) with the body "Auth failure."
  and the connection is closed after that reply.
- A failed SASL_AUTH gets 0x20 "Auth failure." and the connection stays
  open (unauthenticated).
"""

import os
import re
import shutil
import socket
import subprocess
import tempfile
import unittest

from clients import (CLIENT_TIMEOUT, MEMCCAT, MEMCCP, OP_GET, OP_NOOP, OP_SASL_AUTH,
                     OP_SASL_LIST_MECHS, OP_SET, OP_VERSION, RESPONSE_MAGIC, STATUS_AUTH_ERROR,
                     STATUS_KEY_ENOENT, STATUS_SUCCESS, assert_script_ok,
                     assert_speaks_binary, binary_request, pylibmc_client,
                     read_binary_response, run_php, run_program, run_ruby)
from harness import MEMCACHED, REFERENCE, Server

SASLPASSWD2 = shutil.which("saslpasswd2") or "/usr/sbin/saslpasswd2"
USER = "alice"
PASSWORD = "wonderland-7"
WRONG_PASSWORD = "looking-glass"
# libmemcached's MEMCACHED_AUTH_FAILURE, as pylibmc reports it.
LIBMEMCACHED_AUTH_FAILURE = re.compile(r"\berror 41\b")


def plain_auth(user, password):
    """A SASL_AUTH request with mechanism PLAIN (RFC 4616: authzid NUL
    authcid NUL password, authzid empty)."""
    return binary_request(OP_SASL_AUTH, key=b"PLAIN",
                          value=b"\0" + user.encode() + b"\0" + password.encode())


def set_request(key, value, flags=0, exptime=0):
    """A binary SET: extras are flags and exptime, 4 bytes each."""
    return binary_request(OP_SET, key=key, value=value,
                          extras=flags.to_bytes(4, "big") + exptime.to_bytes(4, "big"))


class SaslTestCase(unittest.TestCase):
    """Starts one server with -S and the environment from sasl_env(dir) per
    class; dir is a temporary directory for the SASL files."""

    @classmethod
    def sasl_env(cls, directory):
        raise NotImplementedError

    @classmethod
    def setUpClass(cls):
        cls.sasl_dir = tempfile.mkdtemp(prefix="twincache-sasl-")
        try:
            cls.server = Server(["-S"], env=cls.sasl_env(cls.sasl_dir)).start()
        except BaseException:
            shutil.rmtree(cls.sasl_dir)
            raise

    @classmethod
    def tearDownClass(cls):
        was_alive = cls.server.alive()
        code = cls.server.stop()
        shutil.rmtree(cls.sasl_dir)
        if not was_alive:
            raise AssertionError("server exited during the tests with %s; stderr:\n%s" %
                                 (code, cls.server.stderr_text()))

    def setUp(self):
        assert_speaks_binary(self, self.server)

    def conn(self):
        c = self.server.connect(timeout=CLIENT_TIMEOUT)
        self.addCleanup(c.close)
        return c

    def client(self, user=USER, password=PASSWORD):
        return pylibmc_client(self.server, username=user, password=password)


def write_sasldb_config(directory):
    """memcached.conf (mech_list: plain, sasldb_path) and a sasldb with USER
    in `directory`; the SASL_CONF_PATH environment for it."""
    sasldb = os.path.join(directory, "sasldb2")
    with open(os.path.join(directory, "memcached.conf"), "w") as f:
        f.write("mech_list: plain\nsasldb_path: %s\n" % sasldb)
    subprocess.run([SASLPASSWD2, "-a", "memcached", "-c", "-p", "-f", sasldb,
                    "-u", socket.gethostname(), USER],
                   input=PASSWORD, text=True, check=True, timeout=10, capture_output=True)
    return {"SASL_CONF_PATH": directory}


class SaslSasldbTest(SaslTestCase):
    """-S with SASL_CONF_PATH and a sasldb: the configuration Debian's
    memcached supports."""

    @classmethod
    def sasl_env(cls, directory):
        return write_sasldb_config(directory)

    # Real clients.

    def test_pylibmc_authenticates(self):
        mc = self.client()
        self.assertTrue(mc.set("sasl-py", b"secret value"))
        self.assertEqual(mc.get("sasl-py"), b"secret value")
        self.assertEqual(self.client().get("sasl-py"), b"secret value")  # a second connection
        self.assertTrue(mc.delete("sasl-py"))

    def test_pylibmc_wrong_password_is_refused(self):
        import pylibmc
        with self.assertRaisesRegex(pylibmc.Error, LIBMEMCACHED_AUTH_FAILURE):
            self.client(password=WRONG_PASSWORD).set("sasl-py-wrong", b"x")
        with self.assertRaisesRegex(pylibmc.Error, LIBMEMCACHED_AUTH_FAILURE):
            self.client(user="mallory").set("sasl-py-wrong", b"x")
        self.assertIsNone(self.client().get("sasl-py-wrong"))

    def test_pylibmc_without_credentials_is_refused(self):
        import pylibmc
        with self.assertRaisesRegex(pylibmc.Error, LIBMEMCACHED_AUTH_FAILURE):
            pylibmc_client(self.server).set("sasl-py-anon", b"x")
        self.assertIsNone(self.client().get("sasl-py-anon"))

    def test_php_memcached_set_sasl_auth_data(self):
        body = r"""
        $m = memcached_client($port);
        check("setSaslAuthData", $m->setSaslAuthData($argv[2], $argv[3]));
        check("set", $m->set("sasl-php", "from php"), $m->getResultMessage());
        check("get", $m->get("sasl-php") === "from php", $m->getResultMessage());
        $bad = memcached_client($port);
        $bad->setSaslAuthData($argv[2], $argv[4]);
        check("wrong password: set refused", $bad->set("sasl-php-wrong", "x") === false
              && $bad->getResultCode() === Memcached::RES_AUTH_FAILURE, $bad->getResultMessage());
        check("nothing stored", $m->get("sasl-php-wrong") === false
              && $m->getResultCode() === Memcached::RES_NOTFOUND, $m->getResultMessage());
        done();
        """
        assert_script_ok(self, run_php(body, self.server.port, USER, PASSWORD, WRONG_PASSWORD))
        self.assertEqual(self.client().get("sasl-php"), b"from php")

    def test_php_session_with_sasl(self):
        body = r"""
        session_id("twincachesaslsession0123456789");
        $started = session_start();
        check("session_start", $started === true, error_get_last());
        if ($argv[2] === "write") {
            $_SESSION["user"] = "alice";
        } else {
            check("read back", $_SESSION === ["user" => "alice"], $_SESSION);
        }
        check("session_write_close", session_write_close() === true, error_get_last());
        done();
        """
        ini = {"session.save_handler": "memcached",
               "session.save_path": "127.0.0.1:%d" % self.server.port,
               "memcached.sess_sasl_username": USER, "memcached.sess_sasl_password": PASSWORD}
        assert_script_ok(self, run_php(body, self.server.port, "write", ini=ini))
        assert_script_ok(self, run_php(body, self.server.port, "read", ini=ini))

    def test_dalli_username_password(self):
        body = r"""
        dc = dalli_client(port, username: ARGV[1], password: ARGV[2])
        check("set", dc.set("sasl-rb", "from ruby", nil, raw: true))
        check("get", dc.get("sasl-rb") == "from ruby")
        check("incr", dc.incr("sasl-rb-n", 1, nil, 5) == 5 && dc.incr("sasl-rb-n", 1) == 6)
        bad = dalli_client(port, username: ARGV[1], password: ARGV[3])
        begin
          bad.set("sasl-rb-wrong", "x")
          check("wrong password refused", false, "set succeeded")
        rescue Dalli::DalliError => e
          check("wrong password refused", e.message.include?("0x20"), e.message)
        end
        check("nothing stored", dc.get("sasl-rb-wrong").nil?)
        done
        """
        assert_script_ok(self, run_ruby(body, self.server.port, USER, PASSWORD, WRONG_PASSWORD))
        self.assertEqual(self.client().get("sasl-rb"), b"from ruby")

    def test_libmemcached_tools_username_password(self):
        work = tempfile.mkdtemp(prefix="twincache-sasl-memccp-")
        self.addCleanup(shutil.rmtree, work)
        source = os.path.join(work, "sasl-file")
        with open(source, "wb") as f:
            f.write(b"copied with SASL\n")
        common = ["--binary", "--servers=127.0.0.1:%d" % self.server.port,
                  "--username=" + USER, "--password=" + PASSWORD]
        result = run_program([MEMCCP] + common + [source])
        self.assertEqual(result.returncode, 0, result.describe())
        copy = os.path.join(work, "copy")
        result = run_program([MEMCCAT] + common + ["--file=" + copy, "sasl-file"])
        self.assertEqual(result.returncode, 0, result.describe())
        with open(copy, "rb") as f:
            self.assertEqual(f.read(), b"copied with SASL\n")
        wrong = common[:-1] + ["--password=" + WRONG_PASSWORD]
        result = run_program([MEMCCAT] + wrong + ["sasl-file"])
        self.assertNotEqual(result.returncode, 0, result.describe())
        self.assertNotIn("copied with SASL", result.stdout)

    # The wire, as memcached answers it.

    def assert_auth_error_then_closed(self, conn, opcode):
        response = read_binary_response(conn)
        self.assertEqual((response.magic, response.opcode, response.status, response.value),
                         (RESPONSE_MAGIC, opcode, STATUS_AUTH_ERROR, b"Auth failure."), response)
        self.assertEqual(conn.read_eof(), b"")

    def test_unauthenticated_commands_get_auth_error_and_close(self):
        for request, opcode in ((binary_request(OP_GET, key=b"k"), OP_GET),
                                (set_request(b"k", b"v"), OP_SET),
                                (binary_request(OP_NOOP), OP_NOOP),
                                (binary_request(0x10), 0x10)):  # STAT
            c = self.conn()
            c.send(request)
            self.assert_auth_error_then_closed(c, opcode)
        self.assertIsNone(self.client().get("k"))

    def test_version_and_mechanisms_need_no_authentication(self):
        c = self.conn()
        c.send(binary_request(OP_VERSION))
        response = read_binary_response(c)
        self.assertEqual(response.status, STATUS_SUCCESS, response)
        self.assertRegex(response.value, rb"^\d+\.\d+\.\d+")
        c.send(binary_request(OP_SASL_LIST_MECHS))
        response = read_binary_response(c)
        self.assertEqual((response.opcode, response.status, response.value),
                         (OP_SASL_LIST_MECHS, STATUS_SUCCESS, b"PLAIN"), response)

    def test_plain_auth_on_the_wire(self):
        c = self.conn()
        c.send(plain_auth(USER, PASSWORD))
        response = read_binary_response(c)
        self.assertEqual((response.opcode, response.status, response.value),
                         (OP_SASL_AUTH, STATUS_SUCCESS, b"Authenticated"), response)
        c.send(binary_request(OP_GET, key=b"sasl-wire-missing", opaque=7))
        response = read_binary_response(c)
        self.assertEqual((response.opcode, response.status, response.opaque),
                         (OP_GET, STATUS_KEY_ENOENT, 7), response)
        c.send(set_request(b"sasl-wire", b"on the wire", flags=9))
        self.assertEqual(read_binary_response(c).status, STATUS_SUCCESS)
        c.send(binary_request(OP_GET, key=b"sasl-wire"))
        response = read_binary_response(c)
        self.assertEqual((response.status, response.extras, response.value),
                         (STATUS_SUCCESS, (9).to_bytes(4, "big"), b"on the wire"), response)

    def test_failed_auth_keeps_connection_unauthenticated(self):
        c = self.conn()
        c.send(plain_auth(USER, WRONG_PASSWORD))
        response = read_binary_response(c)
        self.assertEqual((response.opcode, response.status, response.value),
                         (OP_SASL_AUTH, STATUS_AUTH_ERROR, b"Auth failure."), response)
        # Still open, still unauthenticated: VERSION works, GET is refused and closes.
        c.send(binary_request(OP_VERSION))
        self.assertEqual(read_binary_response(c).status, STATUS_SUCCESS)
        c.send(binary_request(OP_GET, key=b"k"))
        self.assert_auth_error_then_closed(c, OP_GET)
        # A failed attempt may be followed by a good one on the same connection.
        c = self.conn()
        c.send(plain_auth(USER, WRONG_PASSWORD) + plain_auth(USER, PASSWORD))
        self.assertEqual(read_binary_response(c).status, STATUS_AUTH_ERROR)
        self.assertEqual(read_binary_response(c).status, STATUS_SUCCESS)
        c.send(binary_request(OP_GET, key=b"sasl-wire-missing"))
        self.assertEqual(read_binary_response(c).status, STATUS_KEY_ENOENT)

    def test_ascii_request_is_closed_without_reply(self):
        # 24 bytes or more: read as a binary header with a bad magic byte.
        for request in (b"get sasl-ascii-probe-key\r\n",
                        b"set sasl-ascii 0 0 5\r\nhello\r\n",
                        b"stats\r\nversion\r\nstats\r\nversion\r\n"):
            c = self.conn()
            c.send(request)
            self.assertEqual(c.read_eof(timeout=2 * CLIENT_TIMEOUT), b"", request)
        self.assertIsNone(self.client().get("sasl-ascii"))

    def test_short_ascii_line_gets_no_reply(self):
        # Under 24 bytes memcached is still waiting for a binary header: no
        # reply (it may also close; it must not answer in ASCII).
        c = self.conn()
        c.send(b"version\r\n")
        try:
            received = c.read_eof(timeout=CLIENT_TIMEOUT)
        except socket.timeout:
            received = c.buffer
        self.assertEqual(received, b"")


def memcached_has_sasl_pwdb():
    """Whether /usr/bin/memcached was built with --enable-sasl-pwdb (it then
    reads the MEMCACHED_SASL_PWDB variable and names it in its binary)."""
    with open(MEMCACHED, "rb") as f:
        return b"MEMCACHED_SASL_PWDB" in f.read()


class SaslPasswordFileTest(SaslTestCase):
    """-S with MEMCACHED_SASL_PWDB, a file of "user:password" lines (memcached
    built with --enable-sasl-pwdb), and SASL_CONF_PATH offering PLAIN."""

    @classmethod
    def setUpClass(cls):
        if REFERENCE and not memcached_has_sasl_pwdb():
            raise unittest.SkipTest("Debian's memcached 1.6.18 is built without "
                                    "--enable-sasl-pwdb: MEMCACHED_SASL_PWDB is ignored")
        super().setUpClass()

    @classmethod
    def sasl_env(cls, directory):
        pwdb = os.path.join(directory, "memcached-sasl-pwdb")
        with open(pwdb, "w") as f:
            f.write("bob:builder-1\n%s:%s\n" % (USER, PASSWORD))
        with open(os.path.join(directory, "memcached.conf"), "w") as f:
            f.write("mech_list: plain\n")
        return {"MEMCACHED_SASL_PWDB": pwdb, "SASL_CONF_PATH": directory}

    def test_pylibmc_authenticates(self):
        mc = self.client()
        self.assertTrue(mc.set("pwdb-py", b"v"))
        self.assertEqual(self.client(user="bob", password="builder-1").get("pwdb-py"), b"v")

    def test_wrong_password_is_refused(self):
        import pylibmc
        with self.assertRaisesRegex(pylibmc.Error, LIBMEMCACHED_AUTH_FAILURE):
            self.client(password=WRONG_PASSWORD).set("pwdb-py-wrong", b"x")
        # A prefix of the right password is wrong too.
        with self.assertRaisesRegex(pylibmc.Error, LIBMEMCACHED_AUTH_FAILURE):
            self.client(password=PASSWORD[:-1]).set("pwdb-py-wrong", b"x")
        self.assertIsNone(self.client().get("pwdb-py-wrong"))


if __name__ == "__main__":
    unittest.main()
