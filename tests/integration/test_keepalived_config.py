"""The keepalived.conf templates, rendered by twincache-keepalived-config and
checked by the real keepalived (`keepalived -t -f FILE`, Debian's 2.2.7).

keepalived's script security (enable_script_security) disables a script run
as root unless the program and every directory on its path are root-owned and
not group/world-writable. So the configs point at copies of the built
twincache-check and twincache-notify in a directory made here under /run
(root-owned, 0755) and removed afterwards. Needs root and keepalived; skips
loudly without them.

`keepalived -t` exit codes (keepalived-notes.md): 0 clean, 5 config error,
6 security warning. It exits 0 for a config file that does not exist, and it
does not report an insecure notify program (it silently drops it at start),
so the test checks both itself. Nor does it report a track_file whose
directory is missing (keepalived drops it at start): the generator warns.
"""

import os
import re
import shutil
import stat
import subprocess
import sys
import tempfile
import unittest

import harness
from harness import build_program
from test_notify import NOTIFY

GENERATOR = os.path.join(harness.HERE, "..", "..", "keepalived", "twincache-keepalived-config")
CHECK = build_program("healthcheck", "twincache-check", "TWINCACHE_CHECK")
KEEPALIVED = shutil.which("keepalived") or "/usr/sbin/keepalived"
# Output of `keepalived -t` that means a setting was dropped or rejected.
COMPLAINTS = ("warning", "disabling", "insecure", "unsafe", "not found", "unknown", "error", "missing",
              "security", "ignoring")
# The pair as the seeds run it (documentation addresses, RFC 5737).
VIP = "192.0.2.100/24"
NODE_A = {"self": "192.0.2.1", "peer": "192.0.2.2", "priority": "150"}
NODE_B = {"self": "192.0.2.2", "peer": "192.0.2.1", "priority": "100"}
# The default track file of the generator, twincache-check and twincache-notify.
DEFAULT_TRACK_FILE = "/run/twincache-vrrp/vrrp.state"
TRACK_FILE_BLOCK = 'track_file twincache_state {\n  file "%s"\n  weight 0\n  init_file 1 overwrite\n}\n'


def loud_skip(reason):
    print("\n*** SKIPPING keepalived config tests: %s ***" % reason, file=sys.stderr)
    raise unittest.SkipTest(reason)


def interface():
    """A non-loopback interface of this host: `keepalived -t` only checks that
    it exists (it touches nothing)."""
    names = sorted(n for n in os.listdir("/sys/class/net") if n != "lo")
    return "eth0" if "eth0" in names else (names[0] if names else None)


def insecure_parts(path):
    """The parts of `path` keepalived's script security rejects (lib/notify.c
    check_security): not root-owned, or a file or non-sticky directory that a
    non-root group or the world can write."""
    bad = []
    parts = os.path.abspath(path).split("/")
    for i in range(1, len(parts) + 1):
        part = "/".join(parts[:i]) or "/"
        st = os.stat(part)
        writable = (st.st_gid != 0 and st.st_mode & stat.S_IWGRP) or st.st_mode & stat.S_IWOTH
        sticky_dir = stat.S_ISDIR(st.st_mode) and st.st_mode & stat.S_ISVTX
        if st.st_uid != 0 or (writable and not sticky_dir):
            bad.append(part)
    return bad


def run_generator(*args):
    return subprocess.run([sys.executable, GENERATOR, *args], capture_output=True, text=True, timeout=30)


class KeepalivedConfigTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        if os.geteuid() != 0:
            loud_skip("not root: keepalived's script security needs root-owned programs")
        if not os.access(KEEPALIVED, os.X_OK):
            loud_skip("keepalived is not installed (apt-get install keepalived)")
        cls.interface = interface()
        if cls.interface is None:
            loud_skip("no non-loopback network interface for keepalived -t to find")
        for program in (NOTIFY, CHECK):
            if not os.path.exists(program):
                raise AssertionError("%s is not built" % program)
        cls.libexec = cls.make_libexec(0o755)
        cls.out = tempfile.mkdtemp(prefix="twincache-keepalived-conf-")

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.libexec, True)
        shutil.rmtree(cls.out, True)

    @classmethod
    def make_libexec(cls, mode):
        """A directory under /run with copies of the two programs, mode `mode`."""
        path = tempfile.mkdtemp(prefix="twincache-libexec-", dir="/run")
        os.chmod(path, mode)
        for program in (CHECK, NOTIFY):
            target = os.path.join(path, os.path.basename(program))
            shutil.copyfile(program, target)
            os.chmod(target, 0o755)
        return path

    def render(self, name, node, unicast, libexec=None, extra=()):
        path = os.path.join(self.out, name + ".conf")
        args = ["--vip", VIP, "--interface", self.interface, "--self", node["self"], "--peer", node["peer"],
                "--priority", node["priority"], "--libexec-dir", libexec or self.libexec, "--out", path,
                *extra]
        if unicast:
            args.append("--unicast")
        result = run_generator(*args)
        self.assertEqual(result.returncode, 0, result.stderr)
        with open(path) as f:
            text = f.read()
        self.assertNotRegex(text, r"@[A-Z_]+@")
        return path, text

    def keepalived_test(self, path):
        self.assertTrue(os.path.isfile(path), "keepalived -t passes a missing file")
        result = subprocess.run([KEEPALIVED, "-t", "-f", path], capture_output=True, text=True, timeout=30)
        return result.returncode, result.stdout + result.stderr

    def assert_clean(self, path, text):
        code, output = self.keepalived_test(path)
        self.assertEqual(code, 0, output)
        complaints = [line for line in output.splitlines() if any(c in line.lower() for c in COMPLAINTS)]
        self.assertEqual(complaints, [], output)
        for program in ("twincache-check", "twincache-notify"):
            full = os.path.join(self.libexec, program)
            self.assertIn('"%s' % full, text)
            self.assertEqual(insecure_parts(full), [], "keepalived would disable %s" % full)

    def test_every_template_variant_passes_keepalived_t(self):
        for unicast in (False, True):
            for name, node in (("a", NODE_A), ("b", NODE_B)):
                with self.subTest(node=name, unicast=unicast):
                    path, text = self.render("node-%s-%s" % (name, "unicast" if unicast else "multicast"),
                                             node, unicast)
                    self.assert_clean(path, text)
                    self.assertIn("priority %s\n" % node["priority"], text)
                    self.assertIn("state BACKUP\n  nopreempt\n", text)
                    self.assertIn("script_user root\n", text)
                    self.assertIn("track_process {\n    twincached\n  }", text)
                    self.assertIn(TRACK_FILE_BLOCK % DEFAULT_TRACK_FILE, text)
                    self.assertIn("  track_file {\n    twincache_state\n  }\n", text)
                    self.assertNotIn("--track-file", text)  # the programs' default
                    self.assertEqual("unicast_peer {\n    %s\n  }" % node["peer"] in text, unicast)
                    self.assertEqual("mcast_src_ip %s\n" % node["self"] in text, not unicast)

    def test_node_configs_differ_only_in_priority_and_addresses(self):
        _, a = self.render("diff-a", NODE_A, True)
        _, b = self.render("diff-b", NODE_B, True)
        changed = [(x, y) for x, y in zip(a.splitlines(), b.splitlines()) if x != y]
        self.assertEqual(changed, [("  unicast_src_ip 192.0.2.1", "  unicast_src_ip 192.0.2.2"),
                                   ("    192.0.2.2", "    192.0.2.1"),
                                   ("  priority 150", "  priority 100")])

    def test_program_arguments_and_tracked_command_line(self):
        path, text = self.render("args", NODE_A, False, extra=[
            "--check-args", "--timeout-ms 500", "--notify-args", "--log-file /var/log/twincache/notify-a.log",
            "--track-process", "/usr/bin/twincached --admin-listen 127.0.0.1:11213", "--router-id", "77"])
        self.assert_clean(path, text)
        self.assertIn('twincache-check --timeout-ms 500"', text)
        self.assertIn('twincache-notify --log-file /var/log/twincache/notify-a.log"', text)
        self.assertIn("process /usr/bin/twincached --admin-listen 127.0.0.1:11213\n  param_match partial", text)
        self.assertIn("virtual_router_id 77\n", text)

    def test_own_track_file_goes_to_keepalived_and_both_programs(self):
        track = os.path.join(self.out, "node-a", "vrrp.state")
        path, text = self.render("track", NODE_A, True, extra=[
            "--track-file", track, "--check-args", "--timeout-ms 500", "--notify-args", "--log-file /tmp/n.log"])
        self.assert_clean(path, text)
        self.assertIn(TRACK_FILE_BLOCK % track, text)
        self.assertIn('twincache-check --track-file %s --timeout-ms 500"' % track, text)
        self.assertIn('twincache-notify --track-file %s --log-file /tmp/n.log"' % track, text)
        self.assertFalse(os.path.exists(track), "keepalived -t must not initialise the track file")

    def test_world_writable_program_directory_is_rejected(self):
        # Proves this test would catch an insecure install: keepalived drops
        # the track script and says so with a non-zero exit.
        unsafe = self.make_libexec(0o777)
        try:
            path, _ = self.render("unsafe", NODE_A, False, libexec=unsafe)
            code, output = self.keepalived_test(path)
            self.assertNotEqual(code, 0, output)
            self.assertIn("insecure", output)
            self.assertEqual(insecure_parts(os.path.join(unsafe, "twincache-notify")), [unsafe])
        finally:
            shutil.rmtree(unsafe, True)

    def test_missing_check_program_is_rejected(self):
        # At start-up a missing check is reported (at run time it would count
        # as a pass, hence vrrp_track_process).
        empty = tempfile.mkdtemp(prefix="twincache-libexec-", dir="/run")
        try:
            os.chmod(empty, 0o755)
            path, _ = self.render("missing", NODE_A, False, libexec=empty)
            code, output = self.keepalived_test(path)
            self.assertNotEqual(code, 0, output)
            self.assertIn("not found", output)
        finally:
            shutil.rmtree(empty, True)


class GeneratorTest(unittest.TestCase):
    """The generator's own checks; no keepalived or root needed."""

    BASE = ["--vip", VIP, "--interface", "eth0", "--self", "192.0.2.1", "--priority", "150"]

    def test_renders_to_stdout(self):
        result = run_generator(*self.BASE)
        self.assertEqual(result.returncode, 0, result.stderr)
        self.assertIn("vrrp_instance VI_1 {", result.stdout)
        self.assertIn('script "/usr/libexec/twincache/twincache-check"', result.stdout)
        self.assertIn('notify "/usr/libexec/twincache/twincache-notify"', result.stdout)
        self.assertIn("process twincached\n", result.stdout)
        self.assertNotIn("param_match", result.stdout)

    def test_rejects_bad_flags(self):
        for extra in (["--priority", "255"], ["--priority", "0"], ["--unicast"], ["--self", "192.0.2.300"],
                      ["--vip", "vip"], ["--interface", "eth0 x"], ["--router-id", "256"],
                      ["--peer", "192.0.2.1"], ["--notify-args", 'a"b'], ["--libexec-dir", "relative"],
                      ["--track-file", "relative"], ["--track-file", "/run/x/"], ["--track-file", '/run/a"b'],
                      ["--track-file", "/run/a b"]):
            with self.subTest(extra=extra):
                result = run_generator(*self.BASE, *extra)
                self.assertEqual(result.returncode, 2, result.stdout)
                self.assertIn("error", result.stderr)

    def test_missing_track_file_directory_is_warned_about(self):
        result = run_generator(*self.BASE, "--track-file", "/nonexistent-twincache/vrrp.state")
        self.assertEqual(result.returncode, 0, result.stderr)
        self.assertIn("warning: /nonexistent-twincache does not exist here", result.stderr)
        self.assertIn('file "/nonexistent-twincache/vrrp.state"', result.stdout)

    def test_default_track_file_is_the_programs_default(self):
        # The generator passes --track-file only when it differs from this.
        for program in (CHECK, NOTIFY):
            with self.subTest(program=os.path.basename(program)):
                result = subprocess.run([program, "--help"], capture_output=True, text=True, timeout=10)
                self.assertEqual(result.returncode, 0, result.stderr)
                self.assertRegex(result.stdout, r"--track-file[^\n]*\n?[^\n]*%s" % re.escape(DEFAULT_TRACK_FILE))
        result = run_generator(*self.BASE)
        self.assertIn(TRACK_FILE_BLOCK % DEFAULT_TRACK_FILE, result.stdout)


if __name__ == "__main__":
    unittest.main()
