"""More than one pair: keys sharded over twincache pairs by twemproxy
(Debian's nutcracker 0.5.0) with the pool twincache-twemproxy-config
renders, and by client-side ketama (pylibmc).

Two replicating pairs on loopback (pair.py). nutcracker is started here on
free ports with the generated pool over the pairs' node A (on loopback the
stand-in for each pair's VIP). 10,000 keys go through it: every key reads
back through it, is held by exactly one pair and by both twins of that pair
(replication is awaited by polling the pairs' offsets, pair.wait_quiet), and
each pair holds its share within +-15 %. Then the same with pylibmc's
libketama-compatible ring over the two pairs directly, and php-memcached with
OPT_LIBKETAMA_COMPATIBLE placing keys where pylibmc looks for them (the
settings README "More than one pair" gives).

Without nutcracker the proxy tests are skipped (shown as skipped); the
generator's tests need only python3 (and nutcracker for `nutcracker -t`).
"""

import os
import shutil
import socket
import stat
import subprocess
import sys
import tempfile
import unittest

import clients
import harness
from harness import twincache_only
from pair import Pair, free_ports

GENERATOR = os.path.join(harness.HERE, "..", "..", "keepalived", "twincache-twemproxy-config")
NUTCRACKER = shutil.which("nutcracker") or "/usr/sbin/nutcracker"
KEYS = 10000
BATCH = 500
# Each of the two pairs holds half the keys, within this fraction.
SHARE_TOLERANCE = 0.15
PAIR_NAMES = ("pair1", "pair2")
# Node A's client port of each pair for the pylibmc test, tried in order:
# libmemcached's ketama hashes "host:port", so the ring, and with it each
# pair's share of the keys, depends on the ports. Each candidate was measured
# with these keys (ketama:00000..09999) to split them within 5 % of half.
KETAMA_PORTS = ((21811, 21812), (25811, 25812), (31811, 31812), (41811, 41812))
# Seconds nutcracker may take to start answering.
START_TIMEOUT = 10.0
PHP_KEYS = 2000
# php-memcached over the two pairs (ports in argv) with the libketama-compatible
# ring and the settings README "More than one pair" gives; stores
# php:00000.. with value_of()'s values.
PHP_KETAMA = r"""
$m = new Memcached();
$m->setOption(Memcached::OPT_LIBKETAMA_COMPATIBLE, true);
$m->setOption(Memcached::OPT_REMOVE_FAILED_SERVERS, false);
$m->setOption(Memcached::OPT_RETRY_TIMEOUT, 0);
$m->setOption(Memcached::OPT_CONNECT_TIMEOUT, 200);    // ms
$m->setOption(Memcached::OPT_SEND_TIMEOUT, 400000);    // us
$m->setOption(Memcached::OPT_RECV_TIMEOUT, 400000);    // us
$m->setOption(Memcached::OPT_COMPRESSION, false);
$m->addServers([["127.0.0.1", (int)$argv[1]], ["127.0.0.1", (int)$argv[2]]]);
$items = [];
for ($i = 0; $i < %d; $i++) {
    $key = sprintf("php:%%05d", $i);
    $items[$key] = "v:" . $key . ":" . str_repeat("x", 40);
}
check("setMulti", $m->setMulti($items), $m->getResultMessage());
done();
""" % PHP_KEYS
# sysexits.h EX_USAGE: the generator's exit code for a bad option.
EXIT_USAGE = 64


def run_generator(*args):
    return subprocess.run([sys.executable, GENERATOR, *args], capture_output=True, text=True, timeout=30)


def have_nutcracker():
    return os.access(NUTCRACKER, os.X_OK)


def value_of(key):
    """The value stored under `key`: derived from it, so any reader can check it."""
    return ("v:%s:%s" % (key, "x" * 40)).encode()


def keys_of(prefix):
    return ["%s:%05d" % (prefix, i) for i in range(KEYS)]


class GeneratorTest(unittest.TestCase):
    """twincache-twemproxy-config's output and its argument checks."""

    def setUp(self):
        self.out = tempfile.mkdtemp(prefix="twincache-twemproxy-conf-")
        self.addCleanup(shutil.rmtree, self.out, True)

    def render(self, *args):
        path = os.path.join(self.out, "nutcracker.yml")
        result = run_generator("--listen", "127.0.0.1:22121", *args, "--out", path)
        self.assertEqual(result.returncode, 0, result.stderr)
        with open(path) as f:
            return path, f.read()

    def test_output_passes_nutcracker_t(self):
        if not have_nutcracker():
            self.skipTest("nutcracker is not installed (apt-get install nutcracker)")
        for pairs in (["a=192.0.2.100:11211"],
                      ["pair1=192.0.2.100:11211", "pair2=192.0.2.200:11211", "pair3=cache3.example.org:11311"]):
            with self.subTest(pairs=pairs):
                path, _ = self.render(*[x for p in pairs for x in ("--pair", p)])
                result = subprocess.run([NUTCRACKER, "-t", "-c", path], capture_output=True, text=True,
                                        timeout=30)
                self.assertEqual(result.returncode, 0, result.stdout + result.stderr)
                self.assertIn("syntax is ok", result.stdout + result.stderr)

    def test_pool_settings_each_with_its_reason(self):
        path, text = self.render("--pair", "pair1=192.0.2.100:11211", "--pair", "pair2=192.0.2.200:11211",
                                 "--timeout-ms", "250", "--server-connections", "2")
        lines = text.splitlines()
        self.assertIn("twincache:", lines)
        for setting in ("  listen: 127.0.0.1:22121", "  distribution: ketama", "  hash: fnv1a_64",
                        "  auto_eject_hosts: false", "  timeout: 250", "  server_connections: 2",
                        "  server_retry_timeout: 2000", "  preconnect: true", "  servers:"):
            self.assertIn(setting, lines)
        # Every setting of the pool follows a comment giving its reason.
        for i, line in enumerate(lines):
            if line.startswith("  ") and not line.startswith("  #") and not line.startswith("   -"):
                self.assertTrue(lines[i - 1].startswith("  #"), "no comment before %r" % line)
        # Servers by name: the ring hashes the names, so an address may change.
        self.assertEqual([line for line in lines if line.startswith("   - ")],
                         ["   - 192.0.2.100:11211:1 pair1", "   - 192.0.2.200:11211:1 pair2"])
        self.assertEqual(stat.S_IMODE(os.stat(path).st_mode), 0o644)

    def test_only_the_address_changes_when_a_vip_moves(self):
        _, before = self.render("--pair", "pair1=192.0.2.100:11211", "--pair", "pair2=192.0.2.200:11211")
        _, after = self.render("--pair", "pair1=198.51.100.7:11211", "--pair", "pair2=192.0.2.200:11211")
        changed = [(x, y) for x, y in zip(before.splitlines(), after.splitlines()) if x != y]
        self.assertEqual(changed, [("   - 192.0.2.100:11211:1 pair1", "   - 198.51.100.7:11211:1 pair1")])

    def test_bad_arguments_exit_64_and_write_nothing(self):
        cases = {
            "pair without =": ["--pair", "pair1"],
            "pair without a name": ["--pair", "=192.0.2.1:11211"],
            "pair without a port": ["--pair", "p=192.0.2.1"],
            "port 0": ["--pair", "p=192.0.2.1:0"],
            "port too big": ["--pair", "p=192.0.2.1:70000"],
            "name with a space": ["--pair", "p q=192.0.2.1:11211"],
            "name with a colon": ["--pair", "p:q=192.0.2.1:11211"],
            "bad host": ["--pair", "p=bad_host!:11211"],
            "IPv6": ["--pair", "p=[2001:db8::1]:11211"],
            "same name twice": ["--pair", "p=192.0.2.1:11211", "--pair", "p=192.0.2.2:11211"],
            "same address twice": ["--pair", "p=192.0.2.1:11211", "--pair", "q=192.0.2.1:11211"],
            "no pair": [],
            "timeout 0": ["--pair", "p=192.0.2.1:11211", "--timeout-ms", "0"],
            "no server connection": ["--pair", "p=192.0.2.1:11211", "--server-connections", "0"],
            "bad listen": ["--pair", "p=192.0.2.1:11211", "--listen", "nowhere"],
            "bad pool name": ["--pair", "p=192.0.2.1:11211", "--pool", "a b"],
            "unknown option": ["--pair", "p=192.0.2.1:11211", "--eject"],
        }
        path = os.path.join(self.out, "never.yml")
        for what, args in cases.items():
            with self.subTest(what):
                listen = [] if "--listen" in args else ["--listen", "127.0.0.1:22121"]
                result = run_generator(*listen, *args, "--out", path)
                self.assertEqual(result.returncode, EXIT_USAGE, result.stderr)
                self.assertIn("error:", result.stderr)
                self.assertEqual(result.stdout, "")
                self.assertFalse(os.path.exists(path))
        result = run_generator("--pair", "p=192.0.2.1:11211")
        self.assertEqual(result.returncode, EXIT_USAGE, "--listen is required")


class Nutcracker:
    """nutcracker on free loopback ports with the pool rendered for `pairs`
    ({name: (host, port)}); its log in a temporary directory."""

    def __init__(self, pairs):
        self.dir = tempfile.mkdtemp(prefix="twincache-nutcracker-")
        self.conf = os.path.join(self.dir, "nutcracker.yml")
        self.log = os.path.join(self.dir, "nutcracker.log")
        self.proc = None
        self.pairs = pairs

    def start(self):
        last_error = None
        for _ in range(3):  # a port taken meanwhile: try others
            self.port, stats_port = free_ports(2)
            args = ["--listen", "127.0.0.1:%d" % self.port, "--out", self.conf]
            for name, (host, port) in self.pairs.items():
                args += ["--pair", "%s=%s:%d" % (name, host, port)]
            result = run_generator(*args)
            if result.returncode != 0:
                raise AssertionError("twincache-twemproxy-config failed: %s" % result.stderr)
            self.proc = subprocess.Popen([NUTCRACKER, "-c", self.conf, "-s", str(stats_port), "-a", "127.0.0.1",
                                          "-o", self.log], stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                         stderr=subprocess.DEVNULL)
            if harness.poll_until(self._answers, START_TIMEOUT):
                return self
            last_error = "nutcracker did not answer on %d within %.0fs: %s" % (self.port, START_TIMEOUT,
                                                                              self.log_tail())
            self.stop()
        raise AssertionError(last_error)

    def _answers(self):
        if self.proc.poll() is not None:
            return True  # exited: start() sees it below
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=1.0) as s:
                s.sendall(b"version\r\n")
                return s.recv(100).startswith(b"VERSION ")
        except OSError:
            return False

    def running(self):
        return self.proc is not None and self.proc.poll() is None

    def log_tail(self, lines=20):
        try:
            with open(self.log, errors="replace") as f:
                return "".join(f.readlines()[-lines:])
        except OSError:
            return "(no log)"

    def stop(self):
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(harness.STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(harness.STOP_TIMEOUT)

    def close(self):
        self.stop()
        shutil.rmtree(self.dir, True)


@twincache_only
class ShardsTest(unittest.TestCase):
    """Two pairs; keys spread over them by nutcracker and by pylibmc's ketama."""

    @classmethod
    def setUpClass(cls):
        if not have_nutcracker():
            print("\n*** SKIPPING twemproxy tests: nutcracker is not installed (apt-get install nutcracker) ***",
                  file=sys.stderr)
            raise unittest.SkipTest("nutcracker is not installed")
        cls.pairs = {}
        errors = []
        for ports in KETAMA_PORTS:
            pairs = {}
            try:
                for name, port in zip(PAIR_NAMES, ports):
                    pairs[name] = Pair(a_port=port).start()
                break
            except RuntimeError as e:  # a candidate port is taken here: the next one
                errors.append(str(e).splitlines()[0])
                for p in pairs.values():
                    p.stop()
        else:
            raise AssertionError("no candidate ports for the pairs were free: %s" % errors)
        cls.pairs = pairs
        cls.proxy = None
        try:
            for p in cls.pairs.values():
                p.wait_connected()
            cls.proxy = Nutcracker({name: ("127.0.0.1", p.a.port) for name, p in cls.pairs.items()}).start()
        except BaseException:
            cls.tearDownClass()
            raise

    @classmethod
    def tearDownClass(cls):
        dead = [(name, n.name) for name, p in cls.pairs.items() for n in p.nodes if not n.alive()]
        proxy_died = cls.proxy is not None and not cls.proxy.running()
        tail = cls.proxy.log_tail() if proxy_died else ""
        if cls.proxy is not None:
            cls.proxy.close()
        for p in cls.pairs.values():
            p.stop()
        if dead or proxy_died:
            raise AssertionError("died during the tests: nodes %s, nutcracker %s\n%s" % (dead, proxy_died, tail))

    def proxy_client(self):
        from pymemcache.client.base import Client
        c = Client(("127.0.0.1", self.proxy.port), connect_timeout=5, timeout=5)
        self.addCleanup(c.close)
        return c

    def assert_sharded(self, keys, how):
        """Each key on exactly one pair, on both its twins with the right
        value, and each pair's share within SHARE_TOLERANCE of 1/2. Returns
        {pair name: keys held}."""
        held = {}
        for name, p in self.pairs.items():
            p.wait_quiet()  # polls until each twin applied all the other wrote
            on_a, on_b = p.a.values(keys), p.b.values(keys)
            self.assertEqual(sorted(on_a), sorted(on_b), "%s: the twins hold different keys" % name)
            wrong = [k for k, (_, _, value) in on_a.items() if value != value_of(k) or on_b[k][2] != value]
            self.assertEqual(wrong[:10], [], "%s: wrong values" % name)
            held[name] = set(on_a)
        first, second = (held[name] for name in PAIR_NAMES)
        self.assertEqual(sorted(first & second)[:10], [], "keys on both pairs")
        self.assertEqual(sorted(set(keys) - first - second)[:10], [], "keys on no pair")
        shares = {name: len(held[name]) for name in PAIR_NAMES}
        print("\n%s: %d keys, per pair %s (each on both twins)" % (how, len(keys), shares), file=sys.stderr)
        for name, count in shares.items():
            self.assertLessEqual(abs(count - len(keys) / 2), SHARE_TOLERANCE * len(keys) / 2,
                                 "%s holds %d of %d keys (%s)" % (name, count, len(keys), shares))
        return held

    def test_keys_through_nutcracker(self):
        keys = keys_of("proxy")
        c = self.proxy_client()
        for i in range(0, KEYS, BATCH):
            failed = c.set_many({k: value_of(k) for k in keys[i:i + BATCH]}, noreply=False)
            self.assertEqual(failed, [], "sets through nutcracker failed")
        found = {}
        for i in range(0, KEYS, BATCH):
            found.update(c.get_many(keys[i:i + BATCH]))
        self.assertEqual([k for k in keys if found.get(k) != value_of(k)][:10], [],
                         "keys not read back through nutcracker")
        self.assert_sharded(keys, "nutcracker (ketama over pair names)")
        # gets/cas work through the proxy: a key's cas unique comes from its one pair.
        value, cas = c.gets(keys[0])
        self.assertEqual(value, value_of(keys[0]))
        self.assertTrue(c.cas(keys[0], b"changed", cas))
        self.assertEqual(c.get(keys[0]), b"changed")
        c.set(keys[0], value_of(keys[0]), noreply=False)

    def test_unsupported_commands_close_the_connection(self):
        # What README "More than one pair" says nutcracker does not carry: it
        # answers nothing and closes the client's connection.
        for command in (b"stats\r\n", b"stats items\r\n", b"flush_all\r\n", b"mg proxy:00001 v\r\n",
                        b"ms proxy:00001 1\r\nx\r\n", b"mn\r\n", b"gat 0 proxy:00001\r\n",
                        b"gats 0 proxy:00001\r\n", b"verbosity 1\r\n", b"lru_crawler metadump all\r\n",
                        b"\x80\x0b" + b"\x00" * 22):
            with self.subTest(command=command[:12]):
                with socket.create_connection(("127.0.0.1", self.proxy.port), timeout=5) as s:
                    s.sendall(command)
                    self.assertEqual(s.recv(100), b"", "nutcracker answered %r" % command)
        self.assertTrue(self.proxy.running())

    def test_pylibmc_ketama_over_the_pairs(self):
        keys = keys_of("ketama")
        servers = ["127.0.0.1:%d" % self.pairs[name].a.port for name in PAIR_NAMES]
        c = self.ketama_client()
        self.addCleanup(c.disconnect_all)
        for i in range(0, KEYS, BATCH):
            failed = c.set_multi({k: value_of(k) for k in keys[i:i + BATCH]})
            self.assertEqual(failed, [], "pylibmc set_multi failed")
        found = {}
        for i in range(0, KEYS, BATCH):
            found.update(c.get_multi(keys[i:i + BATCH]))
        self.assertEqual([k for k in keys if found.get(k) != value_of(k)][:10], [],
                         "keys not read back with pylibmc")
        self.assert_sharded(keys, "pylibmc ketama_weighted over %s" % servers)

    def ketama_client(self):
        """pylibmc with the settings README "More than one pair" gives: the
        libketama-compatible ring (ketama_weighted: MD5, as php-memcached's
        OPT_LIBKETAMA_COMPATIBLE), and a pair that fails for a moment is
        never removed from it and is retried at the next request."""
        import pylibmc
        servers = ["127.0.0.1:%d" % self.pairs[name].a.port for name in PAIR_NAMES]
        c = pylibmc.Client(servers, behaviors={"ketama_weighted": True, "remove_failed": 0, "retry_timeout": 0,
                                               "connect_timeout": 200, "send_timeout": 400000,
                                               "receive_timeout": 400000})
        self.addCleanup(c.disconnect_all)
        return c

    def test_php_memcached_shares_the_ring_with_pylibmc(self):
        if not os.access(clients.PHP, os.X_OK):
            self.skipTest("php is not installed (apt-get install php-cli php-memcached)")
        result = clients.run_php(PHP_KETAMA, *[self.pairs[name].a.port for name in PAIR_NAMES])
        clients.assert_script_ok(self, result)
        keys = keys_of("php")[:PHP_KEYS]
        found = self.ketama_client().get_multi(keys)
        self.assertEqual([k for k in keys if found.get(k) != value_of(k)][:10], [],
                         "pylibmc does not find php-memcached's keys where it placed them")
        self.assert_sharded(keys, "php-memcached OPT_LIBKETAMA_COMPATIBLE")


if __name__ == "__main__":
    unittest.main()
