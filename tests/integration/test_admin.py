"""The HTTP admin endpoint: /health, /stats, /metrics, /role, /maintenance.

Real daemons on loopback, real HTTP (urllib). The endpoint must report facts
(health, counters, the VRRP role keepalived last reported) and change no data.
"""

import subprocess
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


if __name__ == "__main__":
    unittest.main()
