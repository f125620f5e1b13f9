"""The operator's-guide command line and the classic health probe, as is.

    twincached -d -m 2048 -p 11211 -u memcached -c 2048 -P /run/twincache/twincached.pid
    echo stats | nc 127.0.0.1 11211 | grep pid

The line daemonizes, writes the pid file (creating /run/twincache), raises
the descriptor limit for -c 2048 and gives up root for the user memcached,
which the test creates if missing. Needs root and a free port 11211.
"""

import os
import pwd
import shutil
import signal
import socket
import subprocess
import unittest

import harness
from harness import poll_until, twincache_only

PID_DIR = "/run/twincache"
PID_FILE = PID_DIR + "/twincached.pid"
GUIDE_LINE = ["-d", "-m", "2048", "-p", "11211", "-u", "memcached", "-c", "2048", "-P", PID_FILE]


def port_free(port):
    with socket.socket() as s:
        try:
            s.bind(("0.0.0.0", port))
            return True
        except OSError:
            return False


def stats_answer(port):
    """True when `stats` on 127.0.0.1:port answers with its pid line."""
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1) as s:
            s.sendall(b"stats\r\n")
            return b"STAT pid " in s.recv(4096)
    except OSError:
        return False


def read_pid():
    try:
        with open(PID_FILE) as f:
            return int(f.read().strip() or 0)
    except (OSError, ValueError):
        return 0


def alive(pid):
    try:
        os.kill(pid, 0)
        return True
    except ProcessLookupError:
        return False


@twincache_only
class OperatorGuideLineTest(unittest.TestCase):

    def setUp(self):
        if os.geteuid() != 0:
            self.skipTest("needs root: -u and /run/twincache")
        if not port_free(11211):
            self.skipTest("port 11211 is in use on this machine")
        try:
            pwd.getpwnam("memcached")
        except KeyError:
            subprocess.run(["useradd", "--system", "--no-create-home", "--shell", "/usr/sbin/nologin",
                            "memcached"], check=True, timeout=30)
        shutil.rmtree(PID_DIR, ignore_errors=True)
        self.pid = 0

    def tearDown(self):
        if self.pid and alive(self.pid):
            os.kill(self.pid, signal.SIGKILL)
        shutil.rmtree(PID_DIR, ignore_errors=True)

    def test_guide_line_and_classic_probe(self):
        result = subprocess.run([harness.server_binary()] + GUIDE_LINE, capture_output=True, text=True,
                                timeout=10, stdin=subprocess.DEVNULL)
        self.assertEqual(result.returncode, 0, result.stderr)  # the foreground parent exits at once
        self.assertTrue(poll_until(read_pid, 10), "no pid file " + PID_FILE)
        self.pid = read_pid()
        self.assertTrue(alive(self.pid))
        # The pid file is written before -u gives up root (memcached's order);
        # a stats answer means the server loop runs, after the switch.
        self.assertTrue(poll_until(lambda: stats_answer(11211), 10), "no stats answer on 11211")
        with open("/proc/%d/status" % self.pid) as f:
            uid_line = next(line for line in f if line.startswith("Uid:"))
        self.assertEqual(int(uid_line.split()[1]), pwd.getpwnam("memcached").pw_uid)
        with open("/proc/%d/limits" % self.pid) as f:
            nofile = next(line for line in f if line.startswith("Max open files"))
        self.assertGreaterEqual(int(nofile.split()[3]), 2048)

        # The probe exactly as check_mem.sh runs it. Plain nc never exits by
        # itself (it does not close its side at stdin EOF; memcached behaves
        # the same), so the outer timeout ends it; grep prints what came.
        probe = subprocess.run("echo stats | timeout 3 nc 127.0.0.1 11211 | grep pid", shell=True,
                               capture_output=True, text=True, timeout=10)
        self.assertEqual(probe.stdout.strip(), "STAT pid %d" % self.pid)

        os.kill(self.pid, signal.SIGTERM)
        self.assertTrue(poll_until(lambda: not alive(self.pid), 10), "did not stop on SIGTERM")
        self.assertFalse(os.path.exists(PID_FILE), "pid file left behind")


if __name__ == "__main__":
    unittest.main()
