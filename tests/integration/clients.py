"""Helpers for the tests that drive real client libraries and programs.

- The binary protocol on a raw socket (memcached protocol_binary.h, "Request
  header" / "Response header"): binary_request(), read_binary_response(), and
  assert_speaks_binary(), a one-second VERSION probe that binary-client tests
  run first, so a server without the binary protocol fails them at once
  instead of after every client timeout.
- Check scripts in PHP and Ruby: run_php() / run_ruby() write the script to a
  temporary file behind a prelude that defines check(name, ok, detail) and
  done(), run it with a deadline, and assert_script_ok() requires exit code 0
  and the final "done". check() prints "ok NAME", or "not ok NAME: DETAIL" and
  exits 1 at the first failure, so a failing script stops at once.
- pylibmc_client(): a python3-pylibmc client with short timeouts.

Every wait is bounded: CLIENT_TIMEOUT for one client operation, SCRIPT_TIMEOUT
for a whole script or program.
"""

import shutil
import socket
import struct
import subprocess
import tempfile

from harness import ConnectionClosed

# Seconds one client operation may take (connect, send, receive).
CLIENT_TIMEOUT = 1.0
# Seconds a whole PHP/Ruby script or client program may run.
SCRIPT_TIMEOUT = 30.0

PHP = "/usr/bin/php"
RUBY = "/usr/bin/ruby"
# libmemcached-tools' copy, cat and remove programs.
MEMCCP = shutil.which("memccp") or "/usr/bin/memccp"
MEMCCAT = shutil.which("memccat") or "/usr/bin/memccat"
MEMCRM = shutil.which("memcrm") or "/usr/bin/memcrm"

# memcached protocol_binary.h: magic bytes, the opcodes and statuses used here.
REQUEST_MAGIC = 0x80
RESPONSE_MAGIC = 0x81
OP_GET = 0x00
OP_SET = 0x01
OP_NOOP = 0x0A
OP_VERSION = 0x0B
OP_SASL_LIST_MECHS = 0x20
OP_SASL_AUTH = 0x21
STATUS_SUCCESS = 0x00
STATUS_KEY_ENOENT = 0x01
STATUS_AUTH_ERROR = 0x20

# magic, opcode, key length, extras length, data type, vbucket id / status,
# total body length, opaque, cas: 24 bytes, network byte order.
HEADER = struct.Struct(">BBHBBHIIQ")


def binary_request(opcode, key=b"", extras=b"", value=b"", opaque=0, cas=0):
    """One binary-protocol request: the 24-byte header, then extras, key, value."""
    body = extras + key + value
    return HEADER.pack(REQUEST_MAGIC, opcode, len(key), len(extras), 0, 0, len(body), opaque,
                       cas) + body


class BinaryResponse:
    """A parsed binary-protocol response: magic, opcode, status, opaque, cas,
    extras, key, value."""

    def __init__(self, header, body):
        (self.magic, self.opcode, keylen, extlen, _datatype, self.status, _bodylen,
         self.opaque, self.cas) = HEADER.unpack(header)
        self.extras = body[:extlen]
        self.key = body[extlen:extlen + keylen]
        self.value = body[extlen + keylen:]

    def __repr__(self):
        return ("BinaryResponse(magic=0x%02x opcode=0x%02x status=0x%02x key=%r value=%r)" %
                (self.magic, self.opcode, self.status, self.key, self.value[:80]))


def read_binary_response(conn, timeout=None):
    """Reads one response from harness.RawConn `conn` (bounded like its other
    reads)."""
    header = conn.read_exact(HEADER.size, timeout)
    bodylen = HEADER.unpack(header)[6]
    return BinaryResponse(header, conn.read_exact(bodylen, timeout))


def assert_speaks_binary(test, server):
    """Fails `test` unless `server` answers a binary VERSION request within
    CLIENT_TIMEOUT (VERSION needs no authentication, also under -S)."""
    with server.connect(timeout=CLIENT_TIMEOUT) as conn:
        conn.send(binary_request(OP_VERSION, opaque=0x5EED))
        try:
            response = read_binary_response(conn)
        except (socket.timeout, ConnectionClosed) as e:
            test.fail("server does not speak the binary protocol: no reply to a binary "
                      "VERSION request within %.1f s (%s)" % (CLIENT_TIMEOUT, e))
    test.assertEqual((response.magic, response.opcode, response.status, response.opaque),
                     (RESPONSE_MAGIC, OP_VERSION, STATUS_SUCCESS, 0x5EED), response)


def pylibmc_client(server, **kwargs):
    """A binary-protocol pylibmc.Client for `server` whose operations give up
    after CLIENT_TIMEOUT. Keyword arguments go to pylibmc.Client (username,
    password, behaviors added to the timeouts)."""
    import pylibmc
    ms = int(CLIENT_TIMEOUT * 1000)
    behaviors = {"connect_timeout": ms, "_poll_timeout": ms,
                 "receive_timeout": ms * 1000, "send_timeout": ms * 1000,  # microseconds
                 "retry_timeout": 0}
    behaviors.update(kwargs.pop("behaviors", {}))
    return pylibmc.Client(["127.0.0.1:%d" % server.port], binary=True, behaviors=behaviors,
                          **kwargs)


PHP_PRELUDE = r"""<?php
// check(): "ok NAME", or "not ok NAME: DETAIL" and exit 1 at the first failure.
function check($name, $ok, $detail = null) {
    if ($ok) {
        echo "ok $name\n";
        return;
    }
    echo "not ok $name: " . var_export($detail, true) . "\n";
    exit(1);
}
function done() {
    echo "done\n";
    exit(0);
}
$port = (int)$argv[1];
"""

# php-memcached with the binary protocol and timeouts of CLIENT_TIMEOUT.
PHP_MEMCACHED_CONNECT = r"""
function memcached_client($port) {
    $m = new Memcached();
    $m->setOption(Memcached::OPT_BINARY_PROTOCOL, true);
    $m->setOption(Memcached::OPT_CONNECT_TIMEOUT, %(ms)d);        // ms
    $m->setOption(Memcached::OPT_POLL_TIMEOUT, %(ms)d);           // ms
    $m->setOption(Memcached::OPT_RECV_TIMEOUT, %(ms)d * 1000);    // us
    $m->setOption(Memcached::OPT_SEND_TIMEOUT, %(ms)d * 1000);    // us
    $m->addServer("127.0.0.1", $port);
    return $m;
}
""" % {"ms": int(CLIENT_TIMEOUT * 1000)}

RUBY_PRELUDE = r"""
$stdout.sync = true
# check(): "ok NAME", or "not ok NAME: DETAIL" and exit 1 at the first failure.
def check(name, ok, detail = nil)
  if ok
    puts "ok #{name}"
  else
    puts "not ok #{name}: #{detail.inspect}"
    exit 1
  end
end

def done
  puts "done"
  exit 0
end
port = Integer(ARGV[0])
"""

# Dalli 3.0.6 (binary protocol only) logging to stderr, timeouts of CLIENT_TIMEOUT.
RUBY_DALLI_CONNECT = r"""
require "dalli"
require "logger"
Dalli.logger = Logger.new($stderr)
Dalli.logger.level = Logger::WARN
def dalli_client(port, **options)
  Dalli::Client.new("127.0.0.1:#{port}", socket_timeout: %(s)s, socket_max_failures: 1,
                    socket_failure_delay: false, **options)
end
""" % {"s": CLIENT_TIMEOUT}


class ScriptResult:
    """What a script printed and how it ended."""

    def __init__(self, argv, returncode, stdout, stderr):
        self.argv = argv
        self.returncode = returncode
        self.stdout = stdout
        self.stderr = stderr

    def lines(self):
        return self.stdout.splitlines()

    def value(self, name):
        """The text after "NAME=" on a line the script printed, or None."""
        for line in self.lines():
            if line.startswith(name + "="):
                return line[len(name) + 1:]
        return None

    def describe(self):
        return "%s exited with %s\n--- stdout\n%s--- stderr\n%s" % (
            " ".join(self.argv), self.returncode, self.stdout, self.stderr)


def run_program(argv, timeout=SCRIPT_TIMEOUT):
    """Runs `argv` with no stdin and a deadline; a ScriptResult. A program
    still running after `timeout` seconds is killed and shows as returncode
    "timeout"."""
    try:
        completed = subprocess.run(argv, capture_output=True, text=True, timeout=timeout,
                              stdin=subprocess.DEVNULL)
    except subprocess.TimeoutExpired as e:
        def text(b):
            return b.decode(errors="replace") if isinstance(b, bytes) else (b or "")
        return ScriptResult(argv, "timeout after %.0f s" % timeout, text(e.stdout),
                            text(e.stderr))
    return ScriptResult(argv, completed.returncode, completed.stdout, completed.stderr)


def _run_script(interpreter, suffix, source, args, timeout):
    with tempfile.NamedTemporaryFile("w", prefix="twincache-client-", suffix=suffix) as f:
        f.write(source)
        f.flush()
        return run_program(interpreter + [f.name] + [str(a) for a in args], timeout)


def run_php(body, *args, ini=None, timeout=SCRIPT_TIMEOUT):
    """Runs PHP_PRELUDE + PHP_MEMCACHED_CONNECT + `body` with the php CLI (its
    Debian configuration plus `ini`, a dict of -d settings); args[0] must be
    the port. Warnings go to stderr."""
    interpreter = [PHP, "-d", "display_errors=stderr", "-d", "error_reporting=E_ALL"]
    for name, value in (ini or {}).items():
        interpreter += ["-d", "%s=%s" % (name, value)]
    return _run_script(interpreter, ".php", PHP_PRELUDE + PHP_MEMCACHED_CONNECT + body, args,
                       timeout)


def run_ruby(body, *args, timeout=SCRIPT_TIMEOUT):
    """Runs RUBY_PRELUDE + RUBY_DALLI_CONNECT + `body` with ruby; args[0]
    must be the port."""
    return _run_script([RUBY, "-W0"], ".rb", RUBY_PRELUDE + RUBY_DALLI_CONNECT + body, args,
                       timeout)


def assert_script_ok(test, result):
    """`result` ran every check: exit code 0 and "done" as its last line."""
    lines = result.lines()
    failed = [line for line in lines if line.startswith("not ok")]
    test.assertEqual(failed, [], result.describe())
    test.assertEqual(result.returncode, 0, result.describe())
    test.assertEqual(lines[-1:], ["done"], result.describe())

