"""Test harness: start a memcached-compatible server on a free loopback port.

The server under test is twincached (env TWINCACHED, default
../../build/daemon/twincached relative to this directory). With env
TWINCACHE_REFERENCE=1 the same tests run against Debian's /usr/bin/memcached
instead, which proves the protocol expectations; tests of twincache-only
behaviour are decorated with @twincache_only and skipped there.
build_program() finds the other programs built next to twincached (the check,
the notify hook); AdminServer and http_json() reach its HTTP admin endpoint.

Everything here is bounded: connecting, reading and stopping all take a
deadline, and nothing sleeps to synchronise (readiness is polled by connect).
"""

import json
import os
import signal
import socket
import subprocess
import tempfile
import time
import unittest
import urllib.error
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
REFERENCE = os.environ.get("TWINCACHE_REFERENCE", "") not in ("", "0")
MEMCACHED = "/usr/bin/memcached"
# Set by tests/run.sh for the ASan+UBSan build, whose shadow memory and
# quarantine make resident-memory bounds meaningless: those asserts are skipped.
SANITIZED = os.environ.get("TWINCACHE_SANITIZED", "") not in ("", "0")

# Seconds allowed for a server to start accepting, and to stop after SIGTERM.
START_TIMEOUT = 10.0
STOP_TIMEOUT = 5.0
# Default seconds a raw-socket read waits for an expected reply.
READ_TIMEOUT = 5.0
# Seconds an HTTP request to the admin endpoint may take.
HTTP_TIMEOUT = 5.0


def twincache_only(test):
    """Skips `test` when running against the reference memcached."""
    return unittest.skipIf(REFERENCE, "twincache-only behaviour")(test)


def twincached_binary():
    """Path of the built twincached: env TWINCACHED, else
    ../../build/daemon/twincached relative to this directory."""
    default = os.path.join(HERE, "..", "..", "build", "daemon", "twincached")
    return os.path.abspath(os.environ.get("TWINCACHED", default))


def server_binary():
    """Path of the server under test (memcached in reference mode)."""
    if REFERENCE:
        return MEMCACHED
    return twincached_binary()


def build_program(subdir, name, env_var):
    """Path of a program built next to twincached: env `env_var`, else
    BUILD/`subdir`/`name` where BUILD holds daemon/twincached (also in
    reference mode, where only the server under test is memcached)."""
    if os.environ.get(env_var):
        return os.path.abspath(os.environ[env_var])
    build = os.path.dirname(os.path.dirname(twincached_binary()))
    return os.path.join(build, subdir, name)


# Ports this process has handed out: the kernel may give a port just
# released back to the next bind(port 0), e.g. a pair's client port (picked,
# released, not yet listened on) as the same node's admin port.
_handed_out = set()
# Draws before free_port() gives up on finding a port not handed out yet.
_FREE_PORT_DRAWS = 64


def remember_ports(ports):
    """Marks `ports` as handed out, so free_port() never returns them."""
    _handed_out.update(ports)


def free_port():
    """A TCP port on 127.0.0.1 that was free a moment ago (bind port 0) and
    that this process has not handed out before (remember_ports)."""
    for _ in range(_FREE_PORT_DRAWS):
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        if port not in _handed_out:
            _handed_out.add(port)
            return port
    raise RuntimeError("no free port after %d draws" % _FREE_PORT_DRAWS)


def base_args(port, admin=True):
    """Command line for the server under test on `port`, before extra args.
    twincached's HTTP admin endpoint (default 127.0.0.1:11213) goes on a free
    port unless `admin` is False (the caller passes its own --admin-listen),
    so servers of parallel tests never share it."""
    args = [server_binary(), "-p", str(port), "-l", "127.0.0.1"]
    if REFERENCE:
        args += ["-U", "0"]
        if os.geteuid() == 0:
            args += ["-u", "root"]  # memcached refuses to run as root without -u
    elif admin:
        args += ["--admin-listen", "127.0.0.1:%d" % free_port()]
    return args


class Server:
    """One server process on a free loopback port.

    Usage: `with Server(["-m", "64"]) as srv: srv.port ...` or start()/stop().
    stderr goes to a temporary file (srv.stderr_text()). `env` adds variables
    to the server's environment (e.g. SASL_CONF_PATH for -S).
    """

    def __init__(self, extra_args=(), defaults=True, port=None, env=None):
        self.extra_args = list(extra_args)
        self.env = None if env is None else dict(os.environ, **env)
        # A fixed client port (a replication pair names its ports before
        # starting); None picks a free one at each start.
        self.fixed_port = port
        if defaults:
            # The daemon's standard test configuration unless overridden.
            given = set(a for a in self.extra_args if a.startswith("-"))
            for flag, value in (("-m", "64"), ("-t", "4"), ("-c", "1024"), ("-I", "1m")):
                if flag not in given:
                    self.extra_args += [flag, value]
        self.port = None
        self.proc = None
        self._stderr = None
        self._stderr_after_stop = ""

    def __enter__(self):
        self.start()
        return self

    def __exit__(self, *exc):
        self.stop()

    @property
    def pid(self):
        return self.proc.pid

    def start(self):
        """Starts the server and waits (bounded) until it accepts connections.
        Tries up to three ports in case a chosen one was taken meanwhile (one
        try with a fixed port)."""
        last_error = None
        for _ in range(1 if self.fixed_port else 3):
            self.port = self.fixed_port or free_port()
            self._stderr = tempfile.NamedTemporaryFile(
                prefix="twincache-integ-", suffix=".stderr", delete=False)
            self.proc = subprocess.Popen(
                base_args(self.port, admin="--admin-listen" not in self.extra_args) + self.extra_args,
                stdin=subprocess.DEVNULL, stdout=self._stderr, stderr=self._stderr,
                env=self.env)
            try:
                self._wait_ready()
                return self
            except RuntimeError as e:
                last_error = e
                self.stop()
        raise last_error

    def _wait_ready(self):
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError("server exited with %d at start: %s" %
                                   (self.proc.returncode, self.stderr_text()))
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.5):
                    return
            except OSError:
                time.sleep(0.01)  # polling interval, not synchronisation
        raise RuntimeError("server did not accept on port %d within %.0fs: %s" %
                           (self.port, START_TIMEOUT, self.stderr_text()))

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def stop(self):
        """SIGTERM, then SIGKILL after STOP_TIMEOUT. Returns the exit code."""
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(STOP_TIMEOUT)
        if self._stderr is not None:
            # Keep the text for messages after stop(); remove the file.
            self._stderr_after_stop = self.stderr_text()
            self._stderr.close()
            os.unlink(self._stderr.name)
            self._stderr = None
        return self.proc.returncode

    def kill(self):
        """SIGKILL (kill -9), waits for the process; keeps its output for
        stderr_text(). Returns the exit code."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(STOP_TIMEOUT)
        return self.stop()

    def stderr_text(self):
        """What the server wrote to stdout and stderr so far."""
        if self._stderr is None:
            return self._stderr_after_stop
        self._stderr.flush()
        with open(self._stderr.name, "r", errors="replace") as f:
            return f.read()

    def rss_kb(self):
        """Resident set size (VmRSS) of the server in KiB."""
        return proc_status_kb(self.pid, "VmRSS")

    def peak_rss_kb(self):
        """Peak resident set size (VmHWM) of the server in KiB."""
        return proc_status_kb(self.pid, "VmHWM")

    def connect(self, timeout=READ_TIMEOUT):
        return RawConn(self.port, timeout)

    def pymemcache(self, **kwargs):
        """A pymemcache base Client for this server (default timeouts 5 s)."""
        from pymemcache.client.base import Client
        kwargs.setdefault("connect_timeout", READ_TIMEOUT)
        kwargs.setdefault("timeout", READ_TIMEOUT)
        return Client(("127.0.0.1", self.port), **kwargs)


class AdminServer(Server):
    """A Server with twincached's HTTP admin endpoint on a free loopback port
    (.admin_port, and .admin as "127.0.0.1:PORT"); start() also waits
    (bounded) until /health answers. The reference memcached has no admin
    endpoint: there it is a plain Server whose .admin_port and .admin are None.
    """

    def __init__(self, extra_args=()):
        self.admin_port = None if REFERENCE else free_port()
        admin_args = [] if REFERENCE else ["--admin-listen", "127.0.0.1:%d" % self.admin_port]
        super().__init__(list(extra_args) + admin_args)

    @property
    def admin(self):
        return None if self.admin_port is None else "127.0.0.1:%d" % self.admin_port

    def start(self):
        super().start()
        if self.admin is not None:
            wait_health(self.admin)
        return self

    def health(self):
        """GET /health as a dict (200 and 503 alike)."""
        return http_json(self.admin, "/health")[1]


def http_json(port_or_addr, path, body=None, headers=None):
    """(HTTP status, answer) of a GET of `path`, or of a POST of `body` (bytes
    as they are, anything else as JSON) when it is given, to the admin
    endpoint at 127.0.0.1:`port_or_addr` (an int) or `port_or_addr` ("host:port"),
    with `headers` (a dict) added.
    The answer is parsed JSON when the server sends application/json, else
    text. 4xx/5xx answers are returned; no answer raises OSError (URLError).
    Bounded by HTTP_TIMEOUT seconds."""
    addr = "127.0.0.1:%d" % port_or_addr if isinstance(port_or_addr, int) else port_or_addr
    extra = dict(headers or {})
    if body is None:
        request = urllib.request.Request("http://%s%s" % (addr, path), method="GET", headers=extra)
    else:
        data = body if isinstance(body, bytes) else json.dumps(body).encode()
        request = urllib.request.Request("http://%s%s" % (addr, path), data=data, method="POST",
                                         headers={"Content-Type": "application/json", **extra})
    try:
        with urllib.request.urlopen(request, timeout=HTTP_TIMEOUT) as response:
            status, headers, text = response.status, response.headers, response.read().decode()
    except urllib.error.HTTPError as e:
        status, headers, text = e.code, e.headers, e.read().decode()
    return status, (json.loads(text) if headers.get_content_type() == "application/json" else text)


def wait_health(admin):
    """Waits (bounded by START_TIMEOUT) until the admin endpoint at `admin`
    ("host:port") answers /health, whatever its status: the admin port may
    open just after the memcached one. Returns http_json's (status, health)."""
    deadline = time.monotonic() + START_TIMEOUT
    while True:
        try:
            return http_json(admin, "/health")
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.01)  # polling interval, not synchronisation


def proc_status_kb(pid, field):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    raise KeyError(field)


class ConnectionClosed(Exception):
    """The server closed the connection before the expected reply."""


class RawConn:
    """A raw TCP connection with bounded reads.

    Every read takes a deadline (default READ_TIMEOUT seconds from the call);
    a timeout raises socket.timeout, a closed connection ConnectionClosed,
    in both cases with what was received so far in `self.buffer`.
    """

    def __init__(self, port, timeout=READ_TIMEOUT):
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=timeout)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.timeout = timeout
        self.buffer = b""

    def close(self):
        self.sock.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def send(self, data):
        if isinstance(data, str):
            data = data.encode()
        self.sock.sendall(data)

    def _fill(self, deadline):
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise socket.timeout("deadline passed; received %r" % self.buffer[:500])
        self.sock.settimeout(remaining)
        try:
            chunk = self.sock.recv(1 << 20)
        except socket.timeout:
            raise socket.timeout("deadline passed; received %r" % self.buffer[:500])
        except ConnectionResetError:
            chunk = b""
        if not chunk:
            raise ConnectionClosed("closed; received %r" % self.buffer[:500])
        self.buffer += chunk

    def read_until(self, terminator, timeout=None):
        """Bytes up to and including the first `terminator` (bytes or str)."""
        if isinstance(terminator, str):
            terminator = terminator.encode()
        deadline = time.monotonic() + (timeout or self.timeout)
        start = 0
        while True:
            i = self.buffer.find(terminator, start)
            if i >= 0:
                end = i + len(terminator)
                out, self.buffer = self.buffer[:end], self.buffer[end:]
                return out
            start = max(0, len(self.buffer) - len(terminator) + 1)
            self._fill(deadline)

    def read_exact(self, n, timeout=None):
        deadline = time.monotonic() + (timeout or self.timeout)
        while len(self.buffer) < n:
            self._fill(deadline)
        out, self.buffer = self.buffer[:n], self.buffer[n:]
        return out

    def read_line(self, timeout=None):
        """One reply line including its "\\r\\n"."""
        return self.read_until(b"\r\n", timeout)

    def request(self, data, terminator=b"\r\n", timeout=None):
        """Sends `data`, returns the reply up to `terminator`."""
        self.send(data)
        return self.read_until(terminator, timeout)

    def read_eof(self, timeout=None):
        """Waits for the server to close; returns what came before the close.
        Raises socket.timeout if it does not close within the deadline."""
        deadline = time.monotonic() + (timeout or self.timeout)
        while True:
            try:
                self._fill(deadline)
            except ConnectionClosed:
                out, self.buffer = self.buffer, b""
                return out

    def read_value(self, timeout=None):
        """Reads one "VALUE key flags bytes [cas]\\r\\n<data>\\r\\n" block or the
        terminating "END\\r\\n". Returns (header fields list, data) or None at END."""
        line = self.read_line(timeout)
        if line == b"END\r\n":
            return None
        fields = line.split()
        if not fields or fields[0] != b"VALUE":
            raise AssertionError("expected VALUE or END, got %r" % line)
        data = self.read_exact(int(fields[3]) + 2, timeout)
        if data[-2:] != b"\r\n":
            raise AssertionError("value not followed by CRLF: %r" % data[-10:])
        return fields, data[:-2]

    def get_values(self, command, timeout=None):
        """Sends a get-family command line; returns {key: (fields, data)}."""
        if isinstance(command, str):
            command = command.encode()
        self.send(command if command.endswith(b"\r\n") else command + b"\r\n")
        out = {}
        while True:
            block = self.read_value(timeout)
            if block is None:
                return out
            out[block[0][1].decode()] = block


def read_stats(conn, arg=None):
    """Sends `stats [arg]` on RawConn `conn`; returns {name: value string}."""
    conn.send("stats %s\r\n" % arg if arg else "stats\r\n")
    text = conn.read_until(b"END\r\n").decode()
    out = {}
    for line in text.split("\r\n"):
        parts = line.split(" ", 2)
        if len(parts) == 3 and parts[0] == "STAT":
            out[parts[1]] = parts[2]
    return out


def stats(server, arg=None):
    """`stats [arg]` of `server` over a fresh connection, as a dict."""
    with server.connect() as conn:
        return read_stats(conn, arg)


def poll_until(predicate, timeout, interval=0.05):
    """Calls predicate() until it returns truthy or `timeout` seconds pass;
    returns its last value. For waiting on server-side time (expiry, delayed
    flush), not for synchronising with the server."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value or time.monotonic() >= deadline:
            return value
        time.sleep(interval)


class ServerTestCase(unittest.TestCase):
    """Starts one server per test class (args in SERVER_ARGS), stops it after.
    Tests use distinct keys, so sharing the server is safe."""

    SERVER_ARGS = ()

    @classmethod
    def setUpClass(cls):
        cls.server = Server(cls.SERVER_ARGS).start()

    @classmethod
    def tearDownClass(cls):
        # A server that died during the tests shows it here.
        was_alive = cls.server.alive()
        code = cls.server.stop()
        if not was_alive:
            raise AssertionError("server exited during the tests with %s; stderr:\n%s" %
                                 (code, cls.server.stderr_text()))

    def conn(self):
        c = self.server.connect()
        self.addCleanup(c.close)
        return c

    def client(self, **kwargs):
        c = self.server.pymemcache(**kwargs)
        self.addCleanup(c.close)
        return c
