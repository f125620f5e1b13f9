"""twincache-check, keepalived's track_script program, against the real twincached.

Runs the built check (env TWINCACHE_CHECK, else healthcheck/twincache-check in
the build directory that holds TWINCACHED) as keepalived does and checks its
exit status (0 healthy, 1 unhealthy, 2 bad usage), its one-line reason on
stderr, and its time: it must end within --timeout-ms (+ CHECK_SLACK_S) when
the daemon is SIGSTOPped, when the port is a black hole (a listener that never
accepts, or one whose accept queue is full so SYNs are dropped), and with 20
copies running at once. Then the verdicts: memory over --max-memory-percent,
a replicating node in initial sync, and the planned switchover (maintenance
file or POST /maintenance: pass while the peer is not caught up, fail once it
is). The memcached-protocol part also runs against the reference memcached
with --admin off. Every check runs with -q (no syslog) except the syslog test,
and writes its verdict to a track file of its test's own (--track-file; the
default is the host's keepalived state). The track file tests check that
file: "0" or "1" after each verdict, also when out of time, whole after 20
racing checks, and a "not ready" that twincache-notify writes while a check
runs is not overwritten by that check's pass (keepalived/track_file.h).
"""

import os
import shutil
import signal
import socket
import stat
import subprocess
import tempfile
import threading
import time
import unittest

import harness
import pair

TIMEOUT_MS = 300  # the check's default --timeout-ms
# How long past its deadline a check may take to be gone: process start,
# scheduling on a busy two-core machine.
CHECK_SLACK_S = 0.2
# The same for 20 copies started at once.
CONCURRENT_SLACK_S = 0.4
CONCURRENT_CHECKS = 20
# Runs of a timed check before its time counts as too slow (see assert_unhealthy).
TIMING_ATTEMPTS = 3


CHECK = harness.build_program("healthcheck", "twincache-check", "TWINCACHE_CHECK")
NOTIFY = harness.build_program("keepalived", "twincache-notify", "TWINCACHE_NOTIFY")


class CheckedServer(harness.AdminServer):
    """An AdminServer and the check's flags for it (admin off where it has
    none: the reference memcached)."""

    def admin_choices(self):
        """The check's --admin flags to try: this server's endpoint (when it
        has one) and off (facts from `stats`)."""
        return ([["--admin", self.admin]] if self.admin else []) + [["--admin", "off"]]

    def check_args(self):
        """The check's flags for this server."""
        return ["--port", str(self.port), "--admin", self.admin or "off"]


class SilentListener:
    """A loopback listener that never accepts or answers. The kernel completes
    handshakes into its accept queue, as for a SIGSTOPped daemon; after
    fill_backlog() the queue is full and new SYNs are dropped: a black hole."""

    def __init__(self, backlog=16):
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(backlog)
        self.port = self.sock.getsockname()[1]
        self.fillers = []

    def fill_backlog(self, connections=3):
        for _ in range(connections):
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            s.setblocking(False)
            s.connect_ex(("127.0.0.1", self.port))
            self.fillers.append(s)

    def close(self):
        for s in self.fillers:
            s.close()
        self.sock.close()


class DribblingServer:
    """A loopback server that answers every connection with `reply`, one byte
    every `pace_s` (20 ms): a peer too slow for the deadline but never silent
    long enough for a per-read timeout. `.accepted` is set once a client
    came. `with DribblingServer(b"...") as srv: srv.port`."""

    def __init__(self, reply, pace_s=0.02):
        self.reply = reply
        self.pace_s = pace_s
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.port = self.sock.getsockname()[1]
        self.stopping = threading.Event()
        self.accepted = threading.Event()
        self.thread = threading.Thread(target=self._serve, daemon=True)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.stopping.set()
        self.sock.close()
        self.thread.join(5)

    def _serve(self):
        try:
            conn, _ = self.sock.accept()
        except OSError:
            return  # closed before a client came
        self.accepted.set()
        with conn:
            for i in range(len(self.reply)):
                if self.stopping.wait(self.pace_s):  # the pace of the dribble, not synchronisation
                    return
                try:
                    conn.sendall(self.reply[i:i + 1])
                except OSError:
                    return  # the check gave up


class CheckCase(unittest.TestCase):
    def setUp(self):
        if not os.path.exists(CHECK):
            self.fail("%s is not built (cmake --build BUILD --target twincache-check)" % CHECK)
        self.dir = tempfile.mkdtemp(prefix="twincache-check-")
        self.addCleanup(shutil.rmtree, self.dir, True)
        # A maintenance file that does not exist unless a test creates it, so
        # a real /etc/twincache/maintenance on this machine changes nothing.
        self.maintenance_file = os.path.join(self.dir, "maintenance")
        # The track file, in a directory the check creates.
        self.track_dir = os.path.join(self.dir, "run")
        self.track_file = os.path.join(self.track_dir, "vrrp.state")

    def run_check(self, *args, quiet=True):
        """Runs the check to completion; returns (exit code, stdout, stderr, seconds).
        It writes self.track_file unless `args` give a --track-file."""
        track = [] if "--track-file" in args else ["--track-file", self.track_file]
        command = [CHECK, "--maintenance-file", self.maintenance_file, *track, *args]
        if quiet:
            command.append("-q")
        start = time.monotonic()
        p = subprocess.run(command, capture_output=True, text=True, timeout=30)
        return p.returncode, p.stdout, p.stderr, time.monotonic() - start

    def assert_healthy(self, *args):
        code, out, err, seconds = self.run_check(*args)
        self.assertEqual((code, out, err), (0, "", ""), "check %s" % (args,))
        return seconds

    def assert_unhealthy(self, reason, *args, limit_s=None):
        """Expects exit 1 with the one line "twincache-check: REASON..." and,
        if `limit_s` is given, a run within `limit_s` seconds: timing runs are
        repeated up to TIMING_ATTEMPTS times, as other work on the machine can
        delay a process start (a check that overruns its deadline overruns
        every time). Returns the seconds of the fastest run."""
        times = []
        for _ in range(TIMING_ATTEMPTS if limit_s is not None else 1):
            code, out, err, seconds = self.run_check(*args)
            self.assertEqual(code, 1, "check %s: stdout %r stderr %r" % (args, out, err))
            self.assertEqual(out, "")
            self.assertTrue(err.startswith("twincache-check: " + reason), err)
            self.assertEqual(err.count("\n"), 1, err)
            times.append(seconds)
            if limit_s is None or seconds < limit_s:
                break
        else:
            self.fail("check %s took %s s, limit %.3f s" % (args, ["%.3f" % t for t in times], limit_s))
        return min(times)

    def assert_track_file(self, text):
        """The track file says `text` ("0\n" ready, "1\n" not) followed by
        the writer's SEQ ("0 SEQ\n", keepalived/track_file.h), mode 0644,
        and no temporary file is left beside it."""
        with open(self.track_file) as f:
            content = f.read()
        self.assertRegex(content, r"^[01] [1-9][0-9]*\n$")
        self.assertEqual(content.split()[0] + "\n", text)
        self.assertEqual(stat.S_IMODE(os.stat(self.track_file).st_mode), 0o644)
        self.assertEqual(os.listdir(self.track_dir), ["vrrp.state"])

    def maintenance_on(self):
        with open(self.maintenance_file, "w") as f:
            f.write("planned switchover\n")


class UsageTest(CheckCase):
    def test_version(self):
        code, out, err, _ = self.run_check("--version")
        self.assertEqual((code, out, err), (0, "twincache-check 0.1.0\n", ""))

    def test_bad_usage_exits_2(self):
        for args in (["--require-sync", "maybe"], ["--timeout-ms", "0"], ["--admin", "x:y"], ["--bogus"],
                     ["--track-file", ""], ["--track-file", self.dir + "/"]):
            code, out, err, _ = self.run_check(*args)
            self.assertEqual(code, 2, args)
            self.assertTrue(err.startswith("twincache-check: "), err)


class ProtocolCheckTest(CheckCase):
    """The memcached round trip and the deadline (also against memcached)."""

    def test_healthy_daemon_passes_quickly(self):
        with CheckedServer() as srv:
            seconds = self.assert_healthy(*srv.check_args())
            self.assertLess(seconds, TIMEOUT_MS / 1000)
            self.assert_healthy("--port", str(srv.port), "--admin", "off")
            code, out, err, _ = self.run_check(*srv.check_args(), "-v")
            self.assertEqual((code, out, err), (0, "twincache-check: ok\n", ""))

    def test_stopped_daemon_fails_at_once(self):
        srv = CheckedServer().start()
        port = srv.port
        srv.stop()
        self.assert_unhealthy("cannot connect to 127.0.0.1:%d: Connection refused" % port,
                              "--port", str(port), "--admin", "off", limit_s=TIMEOUT_MS / 1000)

    def test_sigstopped_daemon_fails_within_the_deadline(self):
        with CheckedServer() as srv:
            os.kill(srv.pid, signal.SIGSTOP)
            try:
                for args in (srv.check_args(), ["--port", str(srv.port), "--admin", "off"]):
                    seconds = self.assert_unhealthy(
                        "no answer from 127.0.0.1:%d within %d ms" % (srv.port, TIMEOUT_MS), *args,
                        limit_s=TIMEOUT_MS / 1000 + CHECK_SLACK_S)
                    self.assertGreaterEqual(seconds, TIMEOUT_MS / 1000)
                    print("SIGSTOPped daemon: check failed after %.0f ms (timeout %d ms)" %
                          (seconds * 1000, TIMEOUT_MS))
            finally:
                os.kill(srv.pid, signal.SIGCONT)

    def test_black_hole_fails_within_the_deadline(self):
        for fill in (False, True):
            listener = SilentListener(backlog=0 if fill else 16)
            self.addCleanup(listener.close)
            if fill:
                listener.fill_backlog()
            seconds = self.assert_unhealthy(
                "no answer from 127.0.0.1:%d within 300 ms" % listener.port,
                "--port", str(listener.port), "--admin", "off", "--timeout-ms", "300",
                limit_s=0.3 + CHECK_SLACK_S)
            print("black hole (%s): check failed after %.0f ms (timeout 300 ms)" %
                  ("SYNs dropped" if fill else "never accepts", seconds * 1000))

    def test_concurrent_checks_all_return_in_time(self):
        with CheckedServer() as srv:
            results = self.run_concurrently(srv.check_args())
            self.assertEqual([r[0] for r in results], [0] * CONCURRENT_CHECKS, results)
            self.assert_track_file("0\n")
            os.kill(srv.pid, signal.SIGSTOP)
            try:
                slowest_runs = []
                for _ in range(TIMING_ATTEMPTS):
                    results = self.run_concurrently(srv.check_args())
                    self.assertEqual([r[0] for r in results], [1] * CONCURRENT_CHECKS, results)
                    self.assert_track_file("1\n")
                    slowest_runs.append(max(r[1] for r in results))
                    if slowest_runs[-1] < TIMEOUT_MS / 1000 + CONCURRENT_SLACK_S:
                        break
            finally:
                os.kill(srv.pid, signal.SIGCONT)
            print("%d concurrent checks of a SIGSTOPped daemon: slowest %s ms (timeout %d ms)" %
                  (CONCURRENT_CHECKS, ["%.0f" % (t * 1000) for t in slowest_runs], TIMEOUT_MS))
            self.assertLess(min(slowest_runs), TIMEOUT_MS / 1000 + CONCURRENT_SLACK_S)

    def run_concurrently(self, args):
        """Starts CONCURRENT_CHECKS checks at once; [(exit code, seconds)]."""
        results = [None] * CONCURRENT_CHECKS

        def one(i):
            code, _, _, seconds = self.run_check(*args)
            results[i] = (code, seconds)

        threads = [threading.Thread(target=one, args=(i,)) for i in range(CONCURRENT_CHECKS)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(60)
        return results

    def test_memory_over_the_limit_fails(self):
        with CheckedServer(["-m", "2"]) as srv:
            with srv.connect() as conn:
                value = b"x" * 50000
                for i in range(30):
                    self.assertEqual(conn.request(b"set check_mem_%d 0 0 %d\r\n%s\r\n" %
                                                  (i, len(value), value)), b"STORED\r\n")
                used = harness.read_stats(conn)
            percent = 100.0 * int(used["bytes"]) / int(used["limit_maxbytes"])
            self.assertGreater(percent, 50)
            for admin in srv.admin_choices():
                self.assert_unhealthy("memory ", "--port", str(srv.port), *admin,
                                      "--max-memory-percent", "50")
                self.assert_healthy("--port", str(srv.port), *admin, "--max-memory-percent", "0")

    def test_missing_admin_endpoint_fails(self):
        with CheckedServer() as srv:
            closed = harness.free_port()
            self.assert_unhealthy("no /health from admin 127.0.0.1:%d: cannot connect" % closed,
                                  "--port", str(srv.port), "--admin", "127.0.0.1:%d" % closed)

    def test_maintenance_without_peer_passes(self):
        with CheckedServer() as srv:
            self.maintenance_on()
            for admin in srv.admin_choices():
                code, out, err, _ = self.run_check("--port", str(srv.port), *admin)
                self.assertEqual((code, out), (0, ""))
                self.assertEqual(err, "twincache-check: maintenance: waiting for the peer to catch up "
                                      "(no peer configured)\n")

    def test_dribbling_peer_is_cut_at_the_deadline(self):
        # Each byte comes within any per-read timeout, the answer never ends.
        with DribblingServer(b"STAT pid 1\r\n" * 1000) as memcached:
            self.assert_unhealthy("no answer from 127.0.0.1:%d within 300 ms" % memcached.port,
                                  "--port", str(memcached.port), "--admin", "off", "--timeout-ms", "300",
                                  limit_s=0.3 + CHECK_SLACK_S)
        # The same for the admin endpoint's HTTP: the deadline bounds the
        # whole exchange, not each read.
        with CheckedServer() as srv, DribblingServer(b"HTTP/1.1 200 OK\r\n" + b"X: y\r\n" * 1000) as admin:
            self.assert_unhealthy("no answer from admin 127.0.0.1:%d within 300 ms" % admin.port,
                                  "--port", str(srv.port), "--admin", "127.0.0.1:%d" % admin.port,
                                  "--timeout-ms", "300", limit_s=0.3 + CHECK_SLACK_S)

    def test_syslog_does_not_hold_the_check(self):
        with CheckedServer() as srv:
            code, _, err, _ = self.run_check(*srv.check_args(), quiet=False)
            self.assertEqual((code, err), (0, ""))
        code, _, err, seconds = self.run_check("--port", str(srv.port), "--admin", "off", quiet=False)
        self.assertEqual(code, 1, err)
        self.assertLess(seconds, TIMEOUT_MS / 1000)


class TrackFileTest(CheckCase):
    """The verdict in the track file keepalived watches (weight 0: "1" holds
    the instance in FAULT)."""

    def test_each_verdict_replaces_the_file(self):
        srv = CheckedServer().start()
        self.addCleanup(srv.stop)
        self.assert_healthy(*srv.check_args())
        self.assert_track_file("0\n")
        self.assertEqual(stat.S_IMODE(os.stat(self.track_dir).st_mode), 0o755)
        before = os.stat(self.track_file).st_ino
        self.assert_healthy(*srv.check_args())  # unchanged: left as it is
        self.assertEqual(os.stat(self.track_file).st_ino, before)
        port = srv.port
        srv.stop()
        self.assert_unhealthy("cannot connect", "--port", str(port), "--admin", "off")
        self.assert_track_file("1\n")
        with CheckedServer() as again:
            self.assert_healthy(*again.check_args())
        self.assert_track_file("0\n")

    def test_off_writes_nothing(self):
        with CheckedServer() as srv:
            self.assert_healthy(*srv.check_args(), "--track-file", "off")
        self.assertFalse(os.path.exists(self.track_dir))

    def test_racing_checks_leave_a_whole_file(self):
        # Passing and failing checks at once, as keepalived 2.2.7 can start
        # them: whoever wins, the file is one whole value, with no debris.
        with CheckedServer() as srv:
            closed = harness.free_port()
            verdicts = [srv.check_args() if i % 2 else ["--port", str(closed), "--admin", "off"]
                        for i in range(CONCURRENT_CHECKS)]
            for _ in range(3):
                results = [None] * CONCURRENT_CHECKS

                def one(i):
                    results[i] = self.run_check(*verdicts[i])[0]

                threads = [threading.Thread(target=one, args=(i,)) for i in range(CONCURRENT_CHECKS)]
                for t in threads:
                    t.start()
                for t in threads:
                    t.join(60)
                self.assertEqual(results, [1 if i % 2 == 0 else 0 for i in range(CONCURRENT_CHECKS)])
                with open(self.track_file) as f:
                    self.assertRegex(f.read(), r"^[01] [0-9]+\n$")
                self.assertEqual(os.listdir(self.track_dir), ["vrrp.state"])

    def test_not_ready_written_during_a_check_wins(self):
        # The daemon dies after the check saw it healthy: keepalived's FAULT
        # hook marks the file not ready while the check is still reading
        # /health (dribbled here so that it surely is). The check's pass must
        # not undo that, or the node would leave FAULT as soon as the process
        # is back (track_file.h).
        health = b'{"status":"ok","maintenance":false}'
        reply = (b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: %d\r\n"
                 b"Connection: close\r\n\r\n%s" % (len(health), health))
        with CheckedServer() as srv, DribblingServer(reply, pace_s=0.005) as admin:
            self.assert_healthy("--port", str(srv.port), "--admin", "off")
            self.assert_track_file("0\n")
            check = subprocess.Popen(
                [CHECK, "-q", "--maintenance-file", self.maintenance_file, "--track-file", self.track_file,
                 "--port", str(srv.port), "--admin", "127.0.0.1:%d" % admin.port, "--timeout-ms", "5000"],
                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
            self.assertTrue(admin.accepted.wait(5), "the check never asked for /health")
            hook = subprocess.run(
                [NOTIFY, "--admin", "off", "--log-file", os.path.join(self.dir, "notify.log"),
                 "--track-file", self.track_file, "INSTANCE", "VI_1", "FAULT", "150"],
                capture_output=True, text=True, timeout=10)
            self.assertEqual((hook.returncode, hook.stderr), (0, ""))
            self.assert_track_file("1\n")
            out, err = check.communicate(timeout=10)
        self.assertEqual((check.returncode, out), (0, ""), err)
        self.assertEqual(err, "twincache-check: track file: %s was marked not ready during the check; "
                              "left as it is\n" % self.track_file)
        self.assert_track_file("1\n")

    def test_deadline_failure_marks_not_ready(self):
        # Out of time on a response that never ends.
        with CheckedServer() as srv, DribblingServer(b"HTTP/1.1 200 OK\r\n" + b"X: y\r\n" * 1000) as admin:
            self.assert_healthy("--port", str(srv.port), "--admin", "off")
            self.assert_track_file("0\n")
            self.assert_unhealthy("no answer from admin 127.0.0.1:%d within 300 ms" % admin.port,
                                  "--port", str(srv.port), "--admin", "127.0.0.1:%d" % admin.port,
                                  "--timeout-ms", "300")
        self.assert_track_file("1\n")


@harness.twincache_only
class AdminCheckTest(CheckCase):
    """The /health verdicts and the planned switchover."""

    def test_admin_black_hole_fails_within_the_deadline(self):
        listener = SilentListener()
        self.addCleanup(listener.close)
        with CheckedServer() as srv:
            self.assert_unhealthy("no answer from admin 127.0.0.1:%d within %d ms" % (listener.port, TIMEOUT_MS),
                                  "--port", str(srv.port), "--admin", "127.0.0.1:%d" % listener.port,
                                  limit_s=TIMEOUT_MS / 1000 + CHECK_SLACK_S)

    def test_maintenance_by_admin_call_without_peer_passes(self):
        with CheckedServer() as srv:
            self.assertEqual(harness.http_json(srv.admin, "/maintenance", {"enabled": True})[1],
                             {"maintenance": True})
            code, _, err, _ = self.run_check(*srv.check_args())
            self.assertEqual(code, 0, err)
            self.assertIn("maintenance: waiting for the peer to catch up", err)

    def test_initial_sync_pending_fails(self):
        # A twin that never answers: the node stays in its initial sync.
        listen_port, dead_port = pair.free_ports(2)
        with CheckedServer(["-x", "127.0.0.1", "-X", "%d:%d" % (listen_port, dead_port),
                            "--repl-initial-sync-timeout", "600"]) as srv:
            self.assert_unhealthy("initial sync pending", *srv.check_args())
            self.assert_unhealthy("initial sync pending", "--port", str(srv.port), "--admin", "off")
            self.assert_healthy(*srv.check_args(), "--require-sync", "off")
            self.assert_healthy("--port", str(srv.port), "--admin", "off", "--require-sync", "off")


@harness.twincache_only
class SwitchoverTest(CheckCase):
    """A linked pair: the node in maintenance fails only once its twin is
    connected and caught up."""

    def test_maintenance_fails_once_the_peer_caught_up(self):
        admin_a, admin_b = ("127.0.0.1:%d" % port for port in pair.free_ports(2))
        with pair.Pair(a_args=["--admin-listen", admin_a], b_args=["--admin-listen", admin_b],
                       proxied=True) as nodes:
            nodes.wait_connected()
            args_a = ["--port", str(nodes.a.port), "--admin", admin_a]
            harness.wait_health(admin_a)
            # Writes on A that B has not acknowledged: A waits in maintenance.
            nodes.stall()
            with nodes.a.connect() as conn:
                for i in range(10):
                    self.assertEqual(conn.request("set switch_%d 0 0 1\r\nv\r\n" % i), b"STORED\r\n")
            self.assertTrue(harness.poll_until(lambda: nodes.a.stats().get("repl_lag_records") != "0", 5),
                            nodes.describe())
            self.assert_healthy(*args_a)
            self.maintenance_on()
            code, _, err, _ = self.run_check(*args_a)
            self.assertEqual(code, 0, err)
            self.assertIn("maintenance: waiting for the peer to catch up (repl_state=", err)
            # B catches up: now A's check fails and keepalived would move the VIP.
            nodes.restore()
            nodes.wait_quiet()
            self.assert_unhealthy("maintenance: the peer is connected and caught up", *args_a)
            os.remove(self.maintenance_file)  # B is not in maintenance (one machine, one file)
            self.assert_healthy("--port", str(nodes.b.port), "--admin", admin_b)


if __name__ == "__main__":
    unittest.main()
