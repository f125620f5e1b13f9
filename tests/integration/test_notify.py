"""twincache-notify, keepalived's notify hook, against the real twincached.

Runs the built hook (env TWINCACHE_NOTIFY, else keepalived/twincache-notify
in the build directory that holds TWINCACHED) the way keepalived does: the
generic form `[options] INSTANCE NAME STATE PRIORITY` and the notify_master
form with one state. Checks the notify log line, that 20 racing hooks leave
20 whole lines and the daemon with the role of the hook started last, that
the hook exits 0 within 1 s when the daemon is down, SIGSTOPped or behind a
full accept queue, and that it keeps trying a daemon whose admin port opens
late. FAULT and STOP mark the track file not ready ("1"), first thing;
other states leave it alone (every hook here has a track file of its
test's own). Everything is bounded; nothing sleeps to synchronise.
"""

import os
import re
import shutil
import signal
import socket
import stat
import subprocess
import tempfile
import time
import unittest

import harness
from harness import AdminServer, build_program, twincache_only

# Every hook must be gone within this (keepalived gives the STOP hook 1 s).
HOOK_LIMIT_S = 1.0
LOG_LINE = re.compile(r"^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z) (\S+) (MASTER|BACKUP|FAULT|STOP|DELETED) "
                      r"(\d+|-) ([1-9]\d*)$")
PID_SLOTS = 10**7  # SEQ = starttime_ticks * 10^7 + pid (keepalived/fork_sequence.h)
NOTIFY = build_program("keepalived", "twincache-notify", "TWINCACHE_NOTIFY")


class HookCase(unittest.TestCase):
    def setUp(self):
        if not os.path.exists(NOTIFY):
            self.fail("%s is not built (cmake --build BUILD --target twincache-notify)" % NOTIFY)
        self.dir = tempfile.mkdtemp(prefix="twincache-notify-")
        self.addCleanup(shutil.rmtree, self.dir, True)
        # A directory the hook must create, as on a fresh node.
        self.log = os.path.join(self.dir, "var", "log", "notify.log")
        # The track file, also in a directory the hook creates.
        self.track_file = os.path.join(self.dir, "run", "vrrp.state")

    def hook_argv(self, *args, admin="off"):
        """The hook's command line; it writes self.track_file unless `args`
        give a --track-file."""
        track = [] if "--track-file" in args else ["--track-file", self.track_file]
        return [NOTIFY, "--log-file", self.log, "--admin", admin, *track, *args]

    def run_hook(self, *args, admin="off"):
        """Runs the hook to completion; returns (exit code, stderr, seconds)."""
        start = time.monotonic()
        p = subprocess.run(self.hook_argv(*args, admin=admin), capture_output=True, text=True, timeout=10)
        return p.returncode, p.stderr, time.monotonic() - start

    def log_lines(self):
        with open(self.log) as f:
            text = f.read()
        self.assertTrue(text.endswith("\n"), repr(text[-100:]))
        return text.splitlines()


class ArgumentFormsTest(HookCase):
    def test_generic_form_after_configured_options(self):
        before = time.time()
        code, err, _ = self.run_hook("INSTANCE", "VI_1", "MASTER", "150")
        self.assertEqual((code, err), (0, ""))
        [line] = self.log_lines()
        m = LOG_LINE.match(line)
        self.assertIsNotNone(m, line)
        self.assertEqual(m.groups()[1:4], ("VI_1", "MASTER", "150"))
        logged = time.mktime(time.strptime(m.group(1)[:19], "%Y-%m-%dT%H:%M:%S")) - time.timezone
        self.assertLess(abs(logged - before), 5, "log time is UTC and now: %s" % line)

    def test_group_form(self):
        code, _, _ = self.run_hook("GROUP", "VG_1", "FAULT", "0")
        self.assertEqual(code, 0)
        self.assertRegex(self.log_lines()[0], r"Z VG_1 FAULT 0 \d+$")

    def test_single_state_forms(self):
        self.assertEqual(self.run_hook("BACKUP")[0], 0)  # notify_backup ".../twincache-notify BACKUP"
        self.assertEqual(self.run_hook("--state", "FAULT")[0], 0)
        self.assertEqual(self.run_hook("--instance", "VI_1", "--priority", "100", "MASTER")[0], 0)
        lines = self.log_lines()
        self.assertRegex(lines[0], r"Z - BACKUP - \d+$")
        self.assertRegex(lines[1], r"Z - FAULT - \d+$")
        self.assertRegex(lines[2], r"Z VI_1 MASTER 100 \d+$")
        for line in lines:
            self.assertRegex(line, LOG_LINE)

    def test_every_state(self):
        for state in ("MASTER", "BACKUP", "FAULT", "STOP", "DELETED"):
            self.assertEqual(self.run_hook("INSTANCE", "VI_1", state, "100")[0], 0)
        self.assertEqual([line.split()[2] for line in self.log_lines()],
                         ["MASTER", "BACKUP", "FAULT", "STOP", "DELETED"])

    def test_bad_arguments_exit_2_and_log_nothing(self):
        for args in (["PROMOTED"], ["INSTANCE", "VI_1", "MASTER", "256"], ["INSTANCE", "VI_1", "MASTER"],
                     ["VRRP", "VI_1", "MASTER", "150"], ["MASTER", "--state", "BACKUP"],
                     ["--priority", "150", "INSTANCE", "VI_1", "MASTER", "150"], [],
                     ["--track-file", "", "FAULT"], ["--track-file", self.dir + "/", "FAULT"]):
            code, err, _ = self.run_hook(*args)
            self.assertEqual(code, 2, args)
            self.assertNotEqual(err.strip(), "", args)
        self.assertFalse(os.path.exists(self.log))

    def test_unwritable_log_still_exits_0(self):
        self.log = "/proc/twincache-no-such-dir/notify.log"
        code, err, _ = self.run_hook("INSTANCE", "VI_1", "MASTER", "150")
        self.assertEqual(code, 0)
        self.assertIn("cannot create directory", err)


class DaemonTest(HookCase):
    @twincache_only
    def test_posts_role_and_seq_to_daemon(self):
        with AdminServer() as srv:
            self.assertEqual(srv.health()["role"], "UNKNOWN")
            p = subprocess.Popen(self.hook_argv("INSTANCE", "VI_1", "MASTER", "150", admin=srv.admin),
                                 stderr=subprocess.PIPE, text=True)
            _, err = p.communicate(timeout=10)
            self.assertEqual((p.returncode, err), (0, ""))
            health = srv.health()
            self.assertEqual(health["role"], "MASTER")
            self.assertEqual(health["role_seq"] % PID_SLOTS, p.pid, "SEQ ends with the hook's pid")
            ticks = health["role_seq"] // PID_SLOTS
            with open("/proc/self/stat") as f:  # our own start, in ticks since boot
                own_start = int(f.read().rsplit(")", 1)[1].split()[19])
            self.assertLessEqual(own_start, ticks, "SEQ starts with the hook's start time")
            self.assertIn("role=MASTER", srv.stderr_text())
            # A later hook wins; the single-state form reaches the daemon too.
            self.assertEqual(self.run_hook("BACKUP", admin=srv.admin)[:2], (0, ""))
            self.assertEqual(srv.health()["role"], "BACKUP")

    @twincache_only
    def test_racing_hooks_end_with_last_started_role(self):
        # keepalived forks hooks without waiting; 20 are started here as fast
        # as fork allows, MASTER/BACKUP alternating. Repeated so out-of-order
        # arrivals are likely; a round whose pids wrapped (pid_max) is retried,
        # as the SEQ rule documents that limit.
        with AdminServer() as srv:
            rounds = 0
            for attempt in range(3):
                before = len(self.log_lines()) if os.path.exists(self.log) else 0
                states = ["MASTER" if i % 2 == 0 else "BACKUP" for i in range(20)]
                if attempt % 2:
                    states.reverse()
                procs = [subprocess.Popen(self.hook_argv("INSTANCE", "VI_1", state, "150", admin=srv.admin),
                                          stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
                         for state in states]
                errors = [p.communicate(timeout=10)[1] for p in procs]
                self.assertEqual([p.returncode for p in procs], [0] * 20, errors)
                self.assertEqual(errors, [""] * 20, "\n".join(errors))
                lines = self.log_lines()[before:]
                self.assertEqual(len(lines), 20, "one whole line per hook")
                for line in lines:
                    self.assertRegex(line, LOG_LINE)
                self.assertEqual(sorted(line.split()[2] for line in lines), sorted(states))
                pids = [p.pid for p in procs]
                if pids != sorted(pids):
                    print("\nNOTE: pids wrapped during the round (%s); retrying" % pids)
                    continue
                # The log lists them in the order they were forked, with
                # times in that order, whichever finished first.
                self.assertEqual([line.split()[2] for line in lines], states, "log lines out of fork order")
                self.assertEqual([int(line.split()[4]) % PID_SLOTS for line in lines], [p.pid for p in procs])
                times = [line.split()[0] for line in lines]
                self.assertEqual(times, sorted(times))
                health = srv.health()
                self.assertEqual(health["role"], states[-1], "the hook started last wins")
                self.assertEqual(health["role_seq"] % PID_SLOTS, pids[-1])
                rounds += 1
            self.assertGreater(rounds, 0, "every round's pids wrapped")
            ignored = srv.stderr_text().count("role_update_ignored")
            print("\nracing hooks: %d rounds of 20; %d posts arrived after a newer one and were ignored"
                  % (rounds, ignored))


class TokenTest(HookCase):
    """The hook sends the daemon's admin token from --token-file."""

    def token_file(self, text):
        path = os.path.join(self.dir, "admin.token")
        with open(path, "w") as f:
            f.write(text)
        os.chmod(path, 0o640)
        return path

    @twincache_only
    def test_token_file_sets_the_role_of_a_daemon_that_requires_it(self):
        token = "notify-token-5d8e2a91c7b34f06"
        path = self.token_file(token + "\n")
        with AdminServer(["--admin-token-file", path]) as srv:
            code, err, _ = self.run_hook("--token-file", path, "INSTANCE", "VI_1", "MASTER", "150",
                                         admin=srv.admin)
            self.assertEqual((code, err), (0, ""))
            self.assertEqual(srv.health()["role"], "MASTER")
            # Without the token the daemon refuses: the hook says so, exits 0,
            # and the role stays.
            code, err, _ = self.run_hook("--token-file", "off", "BACKUP", admin=srv.admin)
            self.assertEqual(code, 0)
            self.assertIn("answered 401", err)
            self.assertEqual(srv.health()["role"], "MASTER")
            self.assertIn("event=admin_refused path=/role", srv.stderr_text())
            # A token file that cannot be read is named; the role stays.
            code, err, _ = self.run_hook("--token-file", os.path.join(self.dir, "missing"), "FAULT",
                                         admin=srv.admin)
            self.assertEqual(code, 0)
            self.assertIn("cannot read admin token file", err)
            self.assertEqual(srv.health()["role"], "MASTER")


class TrackFileTest(HookCase):
    """FAULT and STOP hold keepalived's instance in FAULT through the track
    file until twincache-check passes again."""

    def track_text(self):
        """The file's state as keepalived reads it ("0\n" ready, "1\n" not),
        after checking that the writer's SEQ follows it."""
        with open(self.track_file) as f:
            content = f.read()
        self.assertRegex(content, r"^[01] [0-9]+\n$")
        return content.split()[0] + "\n"

    def mark_ready(self, seq=1):
        """What a passing check forked with fork sequence `seq` leaves
        ("0 SEQ\n", replaced whole); the default, 1, is older than any hook."""
        os.makedirs(os.path.dirname(self.track_file), exist_ok=True)
        with open(self.track_file + ".new", "w") as f:
            f.write("0 %d\n" % seq)
        os.replace(self.track_file + ".new", self.track_file)

    def test_fault_and_stop_mark_not_ready(self):
        for state in ("FAULT", "STOP"):
            with self.subTest(state=state):
                self.mark_ready()
                self.assertEqual(self.run_hook("INSTANCE", "VI_1", state, "150")[:2], (0, ""))
                self.assertEqual(self.track_text(), "1\n")
                self.assertEqual(os.listdir(os.path.dirname(self.track_file)), ["vrrp.state"])
        self.assertEqual(self.run_hook("--state", "FAULT")[:2], (0, ""))  # notify_fault form
        self.assertEqual(self.track_text(), "1\n")

    def test_ready_of_a_check_forked_later_stands(self):
        """A FAULT hook that keepalived forked before a check which then found
        the node ready (at every keepalived start) must not undo that verdict:
        the node would flap BACKUP -> FAULT. SEQ 10^19 - 1 stands for a check
        forked after this hook (a SEQ from the far future, below 2^64)."""
        later = 10 ** 19 - 1
        self.mark_ready(seq=later)
        before = os.stat(self.track_file).st_ino
        code, err, _ = self.run_hook("INSTANCE", "VI_1", "FAULT", "150")
        self.assertEqual(code, 0)
        self.assertIn("marked ready by a check forked later", err)
        with open(self.track_file) as f:
            self.assertEqual(f.read(), "0 %d\n" % later)
        self.assertEqual(os.stat(self.track_file).st_ino, before)

    def test_init_file_without_seq_counts_as_oldest(self):
        """keepalived's own init_file writes "1\n" (no SEQ); a hook leaves a
        not-ready as it is, and the SEQ-less text reads as not ready."""
        os.makedirs(os.path.dirname(self.track_file), exist_ok=True)
        with open(self.track_file, "w") as f:
            f.write("1\n")
        self.assertEqual(self.run_hook("INSTANCE", "VI_1", "FAULT", "150")[:2], (0, ""))
        with open(self.track_file) as f:
            self.assertEqual(f.read(), "1\n")

    def test_other_states_leave_the_file_alone(self):
        self.mark_ready()
        before = os.stat(self.track_file).st_ino
        for state in ("MASTER", "BACKUP", "DELETED"):
            self.assertEqual(self.run_hook("INSTANCE", "VI_1", state, "150")[:2], (0, ""))
        self.assertEqual(self.track_text(), "0\n")
        self.assertEqual(os.stat(self.track_file).st_ino, before)

    def test_missing_directory_is_created(self):
        self.assertEqual(self.run_hook("INSTANCE", "VI_1", "FAULT", "150")[:2], (0, ""))
        self.assertEqual(self.track_text(), "1\n")
        self.assertEqual(stat.S_IMODE(os.stat(os.path.dirname(self.track_file)).st_mode), 0o755)
        self.assertEqual(stat.S_IMODE(os.stat(self.track_file).st_mode), 0o644)

    def test_off_writes_nothing(self):
        self.assertEqual(self.run_hook("--track-file", "off", "INSTANCE", "VI_1", "FAULT", "150")[:2], (0, ""))
        self.assertFalse(os.path.exists(os.path.dirname(self.track_file)))

    @twincache_only
    def test_written_before_the_daemon_is_told(self):
        # A SIGSTOPped daemon holds the hook for a read timeout (hundreds of
        # ms); the file says "not ready" long before the hook is done.
        self.mark_ready()
        with AdminServer() as srv:
            os.kill(srv.pid, signal.SIGSTOP)
            try:
                p = subprocess.Popen(self.hook_argv("INSTANCE", "VI_1", "FAULT", "150", admin=srv.admin),
                                     stderr=subprocess.PIPE, text=True)
                marked_or_done = harness.poll_until(
                    lambda: self.track_text() == "1\n" or p.poll() is not None, 5, interval=0.01)
                marked_while_running = marked_or_done and p.poll() is None
                _, err = p.communicate(timeout=10)
            finally:
                os.kill(srv.pid, signal.SIGCONT)
        self.assertEqual(p.returncode, 0, err)
        self.assertEqual(self.track_text(), "1\n")
        self.assertTrue(marked_while_running, "the track file was written only after the daemon timed out")


class DeadlineTest(HookCase):
    def assert_quick_exit_0(self, admin):
        code, err, seconds = self.run_hook("INSTANCE", "VI_1", "MASTER", "150", admin=admin)
        self.assertEqual(code, 0, err)
        self.assertLess(seconds, HOOK_LIMIT_S)
        self.assertIn("daemon not told", err)
        self.assertRegex(self.log_lines()[-1], r"Z VI_1 MASTER 150 \d+$")
        return seconds

    def test_daemon_down(self):
        seconds = self.assert_quick_exit_0("127.0.0.1:%d" % harness.free_port())
        print("\nhook with the daemon down: %.3f s" % seconds)

    @twincache_only
    def test_daemon_sigstopped(self):
        with AdminServer() as srv:
            os.kill(srv.pid, signal.SIGSTOP)
            try:
                seconds = self.assert_quick_exit_0(srv.admin)
            finally:
                os.kill(srv.pid, signal.SIGCONT)
        print("\nhook with the daemon SIGSTOPped: %.3f s" % seconds)

    @twincache_only
    def test_daemon_that_starts_late_is_told(self):
        # keepalived runs the hook as soon as a restarted daemon's process
        # appears, before its admin port is open: refused connects are
        # retried (every 50 ms) within the hook's deadline.
        srv = AdminServer()  # its admin port chosen, nothing listening yet
        self.addCleanup(srv.stop)
        start = time.monotonic()
        p = subprocess.Popen(self.hook_argv("INSTANCE", "VI_1", "BACKUP", "100", admin=srv.admin),
                             stderr=subprocess.PIPE, text=True)
        time.sleep(0.2)  # the scenario: the daemon comes up 200 ms after the hook started
        self.assertIsNone(p.poll(), "the hook gave up on a refused connection")
        srv.start()
        _, err = p.communicate(timeout=10)
        seconds = time.monotonic() - start
        self.assertEqual((p.returncode, err), (0, ""))
        self.assertLess(seconds, HOOK_LIMIT_S)
        self.assertEqual(srv.health()["role"], "BACKUP")
        print("\nhook with the daemon's admin port opening after 200 ms: told after %.3f s" % seconds)

    def test_full_accept_queue(self):
        # A listener that never accepts, its queue filled: further SYNs are
        # dropped, as behind a black hole, and only the connect timeout helps.
        with socket.socket() as listener:
            listener.bind(("127.0.0.1", 0))
            listener.listen(0)
            fillers = []
            try:
                for _ in range(8):
                    s = socket.socket()
                    s.setblocking(False)
                    s.connect_ex(listener.getsockname())
                    fillers.append(s)
                seconds = self.assert_quick_exit_0("127.0.0.1:%d" % listener.getsockname()[1])
            finally:
                for s in fillers:
                    s.close()
        print("\nhook with a full accept queue: %.3f s" % seconds)


if __name__ == "__main__":
    unittest.main()
