"""The HTTP admin endpoint: /health, /stats, /metrics, /role, /maintenance.

Real daemons on loopback, real HTTP (urllib). The endpoint must report facts
(health, counters, the VRRP role keepalived last reported) and change no data.
"""

import os
import signal
import subprocess
import tempfile
import unittest

import harness
from harness import AdminServer, Server, free_port, http_json, poll_until, read_stats, twincache_only

TIMEOUT = 5


@twincache_only
class StandaloneAdminTest(unittest.TestCase):

    @classmethod
    def setUpClass(cls):
        cls.server = AdminServer(["-m", "8"]).start()

    @classmethod
    def tearDownClass(cls):
        cls.server.stop()

    def test_health_of_a_standalone_node(self):
        status, health = http_json(self.server.admin_port, "/health")
        self.assertEqual(status, 200, health)
        self.assertEqual(health["status"], "ok")
        self.assertNotIn("reason", health)
        self.assertEqual(health["replication"]["configured"], False)
        self.assertEqual(health["memory"]["limit_bytes"], 8 * 1024 * 1024)
        self.assertEqual(health["version"], "0.1.0")
        self.assertEqual(health["protocol_version"], "1.6.21")
        self.assertEqual(health["role"], "UNKNOWN")
        for field in ("items", "uptime_s", "maintenance", "role_seq"):
            self.assertIn(field, health)

    def test_stats_and_metrics_say_what_the_text_protocol_says(self):
        with self.server.connect() as c:
            self.assertEqual(c.request(b"set metric-key 0 0 1\r\nv\r\n"), b"STORED\r\n")
            c.request(b"get metric-key\r\n", b"END\r\n")
            text_stats = read_stats(c)
        status, stats = http_json(self.server.admin_port, "/stats")
        self.assertEqual(status, 200)
        self.assertEqual(stats["pid"], text_stats["pid"])
        self.assertEqual(stats["version"], "1.6.21")
        self.assertGreaterEqual(int(stats["get_hits"]), 1)
        self.assertEqual(set(text_stats) - {"rusage_user", "rusage_system"} - set(stats), set())
        status, metrics = http_json(self.server.admin_port, "/metrics")
        self.assertEqual(status, 200)
        lines = dict(line.rsplit(" ", 1) for line in metrics.splitlines() if line and line[0] != "#")
        self.assertEqual(lines["memcached_up"], "1")
        self.assertGreaterEqual(int(lines['memcached_commands_total{command="get",status="hit"}']), 1)
        self.assertGreaterEqual(int(lines["memcached_current_items"]), 1)
        self.assertEqual(lines["memcached_limit_bytes"], str(8 * 1024 * 1024))
        self.assertIn('twincache_vrrp_role{role="UNKNOWN"}', lines)

    def test_role_newest_sequence_wins(self):
        port = self.server.admin_port
        status, reply = http_json(port, "/role", {"role": "MASTER", "instance": "VI_1", "priority": 150,
                                                  "seq": 1000})
        self.assertEqual((status, reply), (200, {"role": "MASTER", "applied": True}))
        status, reply = http_json(port, "/role", {"role": "BACKUP", "instance": "VI_1", "priority": 100,
                                                  "seq": 999})
        self.assertEqual((status, reply), (200, {"role": "MASTER", "applied": False}))
        with self.server.connect() as c:
            stats = read_stats(c)
        self.assertEqual((stats["role"], stats["role_seq"]), ("MASTER", "1000"))
        self.assertEqual(http_json(port, "/health")[1]["role"], "MASTER")
        self.assertTrue(poll_until(lambda: "event=role_changed" in self.server.stderr_text(), TIMEOUT))
        self.assertIn("event=role_update_ignored", self.server.stderr_text())

    def test_bad_role_requests_are_refused(self):
        port = self.server.admin_port
        for body in (b"not json", {"role": "LEADER", "seq": 5}, {"role": "MASTER"},
                     {"role": "MASTER", "seq": -1}, {"seq": 7},
                     {"role": "MASTER", "seq": 8, "instance": 5}, {"role": "MASTER", "seq": 8, "priority": "high"}):
            status, reply = http_json(port, "/role", body)
            self.assertEqual(status, 400, body)
            self.assertIn("error", reply)
        self.assertEqual(http_json(port, "/health")[0], 200)  # still serving
        self.assertEqual(http_json(port, "/nothing-here")[0], 404)

    def test_maintenance_is_reported_not_judged(self):
        port = self.server.admin_port
        self.assertEqual(http_json(port, "/maintenance", {"enabled": True}), (200, {"maintenance": True}))
        status, health = http_json(port, "/health")
        self.assertEqual((status, health["maintenance"]), (200, True))
        with self.server.connect() as c:
            self.assertEqual(read_stats(c)["maintenance"], "1")
        self.assertEqual(http_json(port, "/maintenance", {"enabled": False}), (200, {"maintenance": False}))
        self.assertEqual(http_json(port, "/maintenance", {"enabled": "yes"})[0], 400)


@twincache_only
class ReplicatingHealthTest(unittest.TestCase):

    def test_unhealthy_until_initial_sync_is_done(self):
        peer_client, peer_repl, own_repl = free_port(), free_port(), free_port()
        node = AdminServer(["-x", "127.0.0.1", "-X", "%d:%d" % (own_repl, peer_repl),
                            "--repl-initial-sync-timeout", "600"])
        with node:
            status, health = http_json(node.admin_port, "/health")
            self.assertEqual(status, 503, health)
            self.assertEqual(health["reason"], "initial sync pending")
            self.assertEqual(health["replication"]["initial_sync"], "pending")
            peer = Server(["-x", "127.0.0.1", "-X", "%d:%d" % (peer_repl, own_repl)], port=peer_client)
            with peer:
                self.assertTrue(poll_until(lambda: http_json(node.admin_port, "/health")[0] == 200, 10),
                                node.stderr_text())
                health = http_json(node.admin_port, "/health")[1]
                self.assertEqual(health["replication"]["state"], "connected")
                self.assertEqual(health["replication"]["initial_sync"], "done")


@twincache_only
class AdminPortTest(unittest.TestCase):

    def test_busy_admin_port_fails_with_the_address(self):
        with AdminServer() as first:
            args = harness.base_args(free_port(), admin=False) + [
                "--admin-listen", "127.0.0.1:%d" % first.admin_port]
            result = subprocess.run(args, capture_output=True, text=True, timeout=10,
                                    stdin=subprocess.DEVNULL)
            self.assertNotEqual(result.returncode, 0)
            self.assertIn("127.0.0.1:%d" % first.admin_port, result.stderr)

    def test_admin_can_be_switched_off(self):
        with Server(["--admin-listen", "off"]) as srv, srv.connect() as c:
            self.assertEqual(c.request(b"version\r\n"), b"VERSION 1.6.21\r\n")


@twincache_only
class AdminTokenTest(unittest.TestCase):
    """--admin-token-file: POST /role and /maintenance need `Authorization:
    Bearer TOKEN`; without it (401) or with another token (403) they change
    nothing and are logged; GETs stay open; SIGHUP re-reads the file."""

    TOKEN = "tok-3fb1c0a6d2e94b7a8c5d1e2f3a4b5c6d"

    def setUp(self):
        fd, self.token_file = tempfile.mkstemp(prefix="twincache-admin-token-")
        self.addCleanup(os.unlink, self.token_file)
        with os.fdopen(fd, "w") as f:
            f.write(self.TOKEN + "\n")
        os.chmod(self.token_file, 0o640)
        self.server = AdminServer(["--admin-token-file", self.token_file]).start()
        self.addCleanup(self.server.stop)

    def post(self, path, body, token=None, scheme="Bearer"):
        headers = {} if token is None else {"Authorization": "%s %s" % (scheme, token)}
        return http_json(self.server.admin_port, path, body, headers=headers)

    def refused_lines(self):
        return [line for line in self.server.stderr_text().splitlines() if "event=admin_refused" in line]

    def test_unauthenticated_posts_change_nothing_and_are_logged(self):
        role = {"role": "MASTER", "instance": "VI_1", "priority": 150, "seq": 1}
        status, reply = self.post("/role", role)
        self.assertEqual(status, 401, reply)
        self.assertEqual(self.post("/role", role, token="wrong-token-0123456789")[0], 403)
        self.assertEqual(self.post("/role", role, token=self.TOKEN, scheme="Basic")[0], 401)
        self.assertEqual(self.post("/maintenance", {"enabled": True})[0], 401)
        self.assertEqual(self.post("/maintenance", {"enabled": True}, token=self.TOKEN[:-1])[0], 403)
        health = self.server.health()  # GETs need no token
        self.assertEqual((health["role"], health["maintenance"]), ("UNKNOWN", False))
        self.assertTrue(poll_until(lambda: len(self.refused_lines()) == 5, TIMEOUT), self.server.stderr_text())
        lines = self.refused_lines()
        self.assertRegex(lines[0], r"level=warning event=admin_refused path=/role peer=127\.0\.0\.1:\d+ "
                                   r"reason=\"no credentials\"")
        self.assertIn('reason="wrong token"', lines[1])
        self.assertNotIn(self.TOKEN, self.server.stderr_text())
        self.assertNotIn("event=role_changed", self.server.stderr_text())
        self.assertNotIn("admin_unauthenticated", self.server.stderr_text())
        for path in ("/health", "/stats", "/metrics"):
            self.assertEqual(http_json(self.server.admin_port, path)[0], 200, path)

    def test_token_accepted_and_reloaded_on_sighup(self):
        role = {"role": "MASTER", "instance": "VI_1", "priority": 150, "seq": 7}
        self.assertEqual(self.post("/role", role, token=self.TOKEN), (200, {"role": "MASTER", "applied": True}))
        self.assertEqual(self.post("/maintenance", {"enabled": True}, token=self.TOKEN, scheme="bearer")[0], 200)
        self.assertEqual(self.server.health()["maintenance"], True)
        new_token = "new-" + self.TOKEN
        with open(self.token_file, "w") as f:
            f.write(new_token + "\n")
        self.server.proc.send_signal(signal.SIGHUP)
        self.assertTrue(poll_until(lambda: "admin_token" in self.server.stderr_text(), TIMEOUT),
                        self.server.stderr_text())
        self.assertEqual(self.post("/maintenance", {"enabled": False}, token=self.TOKEN)[0], 403)
        self.assertEqual(self.post("/maintenance", {"enabled": False}, token=new_token)[0], 200)
        self.assertEqual(self.server.health()["maintenance"], False)


@twincache_only
class AdminTokenStartTest(unittest.TestCase):

    def test_unreadable_token_file_stops_the_start(self):
        missing = os.path.join(tempfile.gettempdir(), "twincache-no-such-token-%d" % os.getpid())
        p = subprocess.run([harness.twincached_binary(), "-p", str(free_port()), "-l", "127.0.0.1",
                            "--admin-listen", "127.0.0.1:%d" % free_port(), "--admin-token-file", missing],
                           capture_output=True, text=True, timeout=60)
        self.assertEqual(p.returncode, 71, p.stderr)
        self.assertRegex(p.stderr, r"event=startup_failed reason=\"cannot read admin token file ")

    def test_without_token_file_posts_open_with_a_warning(self):
        with AdminServer() as server:
            self.assertRegex(server.stderr_text(), r"level=warning event=admin_unauthenticated ")
            status, _ = http_json(server.admin_port, "/maintenance", {"enabled": False})
            self.assertEqual(status, 200)


if __name__ == "__main__":
    unittest.main()
