"""systemd/: the twincached unit, the keepalived drop-in, the sysusers.d,
tmpfiles.d and logrotate files, and twincached's Type=notify readiness.

Everything is checked with the real tools (Debian packages systemd and
logrotate, from scripts/install-deps.sh); nothing is mocked:

- The files as `cmake --install` lays them out (build/systemd/cmake_install.cmake
  into a temporary root) pass `systemd-analyze verify --root=ROOT`. systemd is
  not PID 1 here, so verify runs offline against that root, which also holds a
  copy of the host's /usr/lib/systemd/system (for sysinit.target, basic.target,
  keepalived.service …) and the programs the units execute (verify checks that
  ExecStart= is executable). `--man=no`: the man pages are the packages'.
- `systemd-analyze security --offline=true` rates the unit 2.0 or better.
- `systemd-sysusers --dry-run` and `systemd-tmpfiles --create` (tmpfiles has
  no --dry-run in systemd 252) against a temporary root; `logrotate` rotates
  notify.log with the packaged rules.
- The sd_notify protocol: twincached started with NOTIFY_SOCKET naming a unix
  datagram socket this test binds sends READY=1 from its main pid once the
  client port accepts, right away also with a replication peer configured (the
  start decision is made; the link and the initial sync follow in the
  background, as /health reports), and STOPPING=1 on SIGTERM.
- The unit really runs: a private systemd is booted as PID 1 of new pid, mount
  and cgroup namespaces that see only the units under test (see PrivateSystemd)
  and starts twincached.service with all its hardening, restarts it after a
  crash and stops it; `systemctl restart` keeps the cache through the
  packaged memory-file in StateDirectory=; `systemctl reload` (ExecReload=, SIGHUP) applies a
  changed config to the same process while a client stays connected;
  keepalived (ExecStart replaced by a stand-in) survives a cache restart.
  Needs root; skipped loudly otherwise.
"""

import os
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import unittest

import harness
from harness import base_args, free_port, http_json, poll_until, twincache_only, twincached_binary

REPO = os.path.abspath(os.path.join(harness.HERE, "..", ".."))
SYSTEMD_DIR = os.path.join(REPO, "systemd")
UNIT = os.path.join(SYSTEMD_DIR, "twincached.service")
DROP_IN = os.path.join(SYSTEMD_DIR, "keepalived.service.d", "twincache.conf")
SYSUSERS = os.path.join(SYSTEMD_DIR, "sysusers.d", "twincache.conf")
TMPFILES = os.path.join(SYSTEMD_DIR, "tmpfiles.d", "twincache.conf")
LOGROTATE = os.path.join(SYSTEMD_DIR, "twincache.logrotate")
# Where the packages put the units (systemd/CMakeLists.txt) and the programs.
UNIT_DIR = "usr/lib/systemd/system"
DAEMON_PATH = "/usr/sbin/twincached"
CONFIG_PATH = "/etc/twincache/twincached.conf"
# The packaged config's warm restart file, in the unit's StateDirectory.
MEMORY_FILE = "/var/lib/twincache/twincached.state"
# systemd-analyze security's "overall exposure" the unit must not exceed.
MAX_EXPOSURE = 2.0
# Seconds any one tool or systemctl call may take.
TOOL_TIMEOUT = 30


def require_tool(case, name):
    """Full path of `name`; skips `case` (with the reason) if it is missing."""
    path = shutil.which(name, path="/usr/sbin:/usr/bin:/sbin:/bin")
    if path is None:
        case.skipTest("SKIPPED: %s not installed (scripts/install-deps.sh installs it)" % name)
    return path


def run(args, **kwargs):
    """subprocess.run with text output captured, bounded by TOOL_TIMEOUT."""
    return subprocess.run(args, capture_output=True, text=True, timeout=TOOL_TIMEOUT, **kwargs)


def unit_entries(path):
    """[(section, key, value)] of a systemd unit file, in order, repeated keys
    kept (systemd.syntax(7): '#'/';' comments, '[Section]' headers, key=value)."""
    entries, section = [], None
    with open(path) as f:
        for raw in f:
            line = raw.strip()
            if not line or line[0] in "#;":
                continue
            if line.startswith("[") and line.endswith("]"):
                section = line[1:-1]
                continue
            key, _, value = line.partition("=")
            entries.append((section, key.strip(), value.strip()))
    return entries


def unit_values(path, section, key):
    """Every value of `key` in `section` of the unit file at `path`."""
    return [v for s, k, v in unit_entries(path) if s == section and k == key]


def copy_into_root(root, host_path, source=None):
    """Copies `source` (default: `host_path` on this host) to ROOT/`host_path`."""
    target = os.path.join(root, host_path.lstrip("/"))
    os.makedirs(os.path.dirname(target), exist_ok=True)
    shutil.copy2(source or host_path, target)


def cmake_install_systemd(destdir):
    """Runs the build's systemd/ install rules into `destdir` (prefix /usr),
    as the packages do."""
    build = os.path.dirname(os.path.dirname(twincached_binary()))
    script = os.path.join(build, "systemd", "cmake_install.cmake")
    if not os.path.exists(script):
        raise AssertionError("%s missing: configure the build (cmake -S . -B BUILD)" % script)
    result = run([shutil.which("cmake") or "cmake", "-DCMAKE_INSTALL_PREFIX=/usr", "-P", script],
                 env=dict(os.environ, DESTDIR=destdir))
    if result.returncode != 0:
        raise AssertionError("install rules failed: %s%s" % (result.stdout, result.stderr))


class UnitVerifyTest(unittest.TestCase):
    """systemd-analyze verify, offline, on the installed layout."""

    def setUp(self):
        self.analyze = require_tool(self, "systemd-analyze")
        self.root = tempfile.mkdtemp(prefix="twincache-systemd-root-")
        self.addCleanup(shutil.rmtree, self.root, True)
        units = os.path.join(self.root, UNIT_DIR)
        # The host's units give verify the targets twincached.service depends on
        # by default and keepalived.service for the drop-in.
        shutil.copytree("/usr/lib/systemd/system", units, symlinks=True)
        self.assertTrue(os.path.exists(os.path.join(units, "keepalived.service")),
                        "keepalived.service missing: scripts/install-deps.sh installs keepalived")
        cmake_install_systemd(self.root)
        # verify checks that every command a unit runs is executable in the root.
        copy_into_root(self.root, DAEMON_PATH, twincached_binary())
        for program in ("/usr/sbin/keepalived", "/bin/kill"):
            copy_into_root(self.root, program)

    def verify(self, *units):
        return run([self.analyze, "verify", "--root=" + self.root, "--man=no", *units])

    def test_units_verify_cleanly(self):
        result = self.verify("twincached.service", "keepalived.service")
        self.assertEqual(result.returncode, 0, result.stdout + result.stderr)
        # Warnings (unknown keys, bad values) leave the exit code 0: none allowed.
        self.assertEqual(result.stdout + result.stderr, "")

    def test_verify_reads_the_installed_drop_in(self):
        # A control: a bad line added to the installed drop-in must fail verify,
        # so the clean run above did read the drop-in from where it is installed.
        drop_in = os.path.join(self.root, UNIT_DIR, "keepalived.service.d", "twincache.conf")
        with open(drop_in, "a") as f:
            f.write("Requires=twincache-control-absent.service\n")
        result = self.verify("keepalived.service")
        self.assertNotEqual(result.returncode, 0)
        self.assertIn("twincache-control-absent.service", result.stdout + result.stderr)


class UnitSecurityTest(unittest.TestCase):

    def test_exposure_is_at_most_2_0(self):
        analyze = require_tool(self, "systemd-analyze")
        result = run([analyze, "security", "--offline=true", "--no-pager", UNIT])
        output = result.stdout + result.stderr
        match = re.search(r"Overall exposure level for twincached\.service: (\d+\.\d+)", output)
        self.assertIsNotNone(match, output)
        exposure = float(match.group(1))
        print("\nsystemd-analyze security --offline=true twincached.service: %.1f" % exposure)
        failed = [line for line in output.splitlines() if line.startswith("✗")]
        print("\n".join(failed))
        self.assertLessEqual(exposure, MAX_EXPOSURE, output)

    def test_unit_runs_the_packaged_daemon_as_the_specified_user(self):
        self.assertEqual(unit_values(UNIT, "Service", "Type"), ["notify"])
        self.assertEqual(unit_values(UNIT, "Service", "ExecStart"), [DAEMON_PATH + " --config " + CONFIG_PATH])
        self.assertEqual(unit_values(UNIT, "Service", "ExecReload"), ["/bin/kill -HUP $MAINPID"])
        self.assertEqual(unit_values(UNIT, "Service", "User"), ["twincache"])
        self.assertEqual(unit_values(UNIT, "Service", "Group"), ["twincache"])
        self.assertEqual(unit_values(UNIT, "Service", "Restart"), ["on-failure"])
        self.assertEqual(unit_values(UNIT, "Service", "CapabilityBoundingSet"), [""])
        # Room for twincached's default conn-limit and well beyond.
        self.assertGreater(int(unit_values(UNIT, "Service", "LimitNOFILE")[0]), 1024 + 64)
        with open(SYSUSERS) as f:
            self.assertRegex(f.read(), r"(?m)^u\s+twincache\s")


class DropInTest(unittest.TestCase):

    def test_orders_and_wants_but_never_binds(self):
        entries = unit_entries(DROP_IN)
        self.assertEqual(sorted(entries), [("Unit", "After", "twincached.service"),
                                           ("Unit", "Wants", "twincached.service")])
        for key in ("Requires", "Requisite", "BindsTo", "PartOf", "Upholds"):
            self.assertNotIn(key, [k for _, k, _ in entries])


class SysusersTmpfilesLogrotateTest(unittest.TestCase):

    def setUp(self):
        self.root = tempfile.mkdtemp(prefix="twincache-systemd-root-")
        self.addCleanup(shutil.rmtree, self.root, True)
        os.makedirs(os.path.join(self.root, "etc"))
        # The users and groups every Debian and Fedora system has (base-passwd, setup).
        with open(os.path.join(self.root, "etc", "passwd"), "w") as f:
            f.write("root:x:0:0:root:/root:/bin/sh\n")
        with open(os.path.join(self.root, "etc", "group"), "w") as f:
            f.write("root:x:0:\nadm:x:4:\n")

    def test_sysusers_would_create_the_user_and_group(self):
        sysusers = require_tool(self, "systemd-sysusers")
        result = run([sysusers, "--root=" + self.root, "--dry-run", SYSUSERS])
        self.assertEqual(result.returncode, 0, result.stderr)
        self.assertIn("Creating group 'twincache'", result.stderr)
        self.assertIn("Creating user 'twincache'", result.stderr)
        # And really does, idempotently (the packages may run it on every upgrade).
        for _ in range(2):
            result = run([sysusers, "--root=" + self.root, SYSUSERS])
            self.assertEqual(result.returncode, 0, result.stderr)
        with open(os.path.join(self.root, "etc", "passwd")) as f:
            self.assertRegex(f.read(), r"(?m)^twincache:x:\d+:\d+:[^:]*:/nonexistent:/usr/sbin/nologin$")

    def test_tmpfiles_creates_the_log_directory(self):
        tmpfiles = require_tool(self, "systemd-tmpfiles")
        result = run([tmpfiles, "--root=" + self.root, "--create", TMPFILES])
        self.assertEqual(result.returncode, 0, result.stderr)
        self.assertEqual(result.stderr, "")
        st = os.stat(os.path.join(self.root, "var", "log", "twincache"))
        self.assertEqual((oct(st.st_mode & 0o7777), st.st_uid, st.st_gid), ("0o750", 0, 4))

    def test_logrotate_rotates_notify_log(self):
        logrotate = require_tool(self, "logrotate")
        with open(LOGROTATE) as f:
            rules = f.read()
        self.assertIn("/var/log/twincache/notify.log {", rules)
        # The packaged rules, pointed at a notify.log in the temporary root.
        log_dir = os.path.join(self.root, "var", "log", "twincache")
        os.makedirs(log_dir, mode=0o750)
        config = os.path.join(self.root, "twincache.logrotate")
        with open(config, "w") as f:
            f.write(rules.replace("/var/log/twincache/", log_dir + "/"))
        log = os.path.join(log_dir, "notify.log")
        with open(log, "w") as f:
            f.write("2026-01-01T00:00:00.000Z VI_1 MASTER 150\n")
        state = os.path.join(self.root, "logrotate.state")
        dry = run([logrotate, "--debug", "--state", state, config])
        self.assertEqual(dry.returncode, 0, dry.stderr)
        self.assertNotIn("error", dry.stdout + dry.stderr)
        forced = run([logrotate, "--force", "--state", state, config])
        self.assertEqual(forced.returncode, 0, forced.stderr)
        self.assertTrue(os.path.exists(log + ".1.gz"), os.listdir(log_dir))
        st = os.stat(log)
        self.assertEqual((st.st_size, oct(st.st_mode & 0o777), st.st_gid), (0, "0o640", 4))


def accepts(port):
    """True if a TCP connection to 127.0.0.1:`port` is accepted."""
    try:
        socket.create_connection(("127.0.0.1", port), timeout=1).close()
        return True
    except OSError:
        return False


class NotifySocket:
    """A unix datagram socket standing in for systemd's notify socket: receives
    sd_notify messages with the sender's credentials (SO_PASSCRED)."""

    def __init__(self):
        self.dir = tempfile.mkdtemp(prefix="twincache-notify-socket-")
        self.path = os.path.join(self.dir, "notify")
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(self.path)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_PASSCRED, 1)

    def close(self):
        self.sock.close()
        shutil.rmtree(self.dir, True)

    def receive(self, timeout):
        """(assignments dict, sender pid) of the next message; socket.timeout
        if none arrives within `timeout` seconds."""
        self.sock.settimeout(timeout)
        data, ancillary, _, _ = self.sock.recvmsg(4096, socket.CMSG_SPACE(12))
        pid = None
        for level, kind, payload in ancillary:
            if level == socket.SOL_SOCKET and kind == socket.SCM_CREDENTIALS:
                pid = int.from_bytes(payload[0:4], "little")
        fields = dict(line.split("=", 1) for line in data.decode().split("\n") if line)
        return fields, pid


@twincache_only
class ReadinessNotificationTest(unittest.TestCase):
    """twincached's side of Type=notify, without systemd."""

    def setUp(self):
        self.notify = NotifySocket()
        self.addCleanup(self.notify.close)

    def start(self, extra_args):
        self.port = free_port()
        self.admin_port = free_port()
        args = base_args(self.port, admin=False) + ["--admin-listen", "127.0.0.1:%d" % self.admin_port]
        self.proc = subprocess.Popen(args + extra_args, env=dict(os.environ, NOTIFY_SOCKET=self.notify.path),
                                     stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                     stderr=subprocess.PIPE)
        self.addCleanup(self.reap)

    def reap(self):
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait(harness.STOP_TIMEOUT)
        self.proc.stderr.close()

    def expect_ready(self):
        """Waits for READY=1; at that moment the client port must accept."""
        try:
            fields, pid = self.notify.receive(harness.START_TIMEOUT)
        except socket.timeout:
            self.proc.kill()
            self.fail("no READY=1 within %ss: %s" % (harness.START_TIMEOUT, self.proc.stderr.read()))
        self.assertEqual(fields.get("READY"), "1", fields)
        # systemd's default NotifyAccess=main takes messages from the main pid only.
        self.assertEqual(pid, self.proc.pid)
        with harness.RawConn(self.port, timeout=1) as conn:
            self.assertTrue(conn.request("version\r\n").startswith(b"VERSION "))
        self.assertIn(str(self.port), fields.get("STATUS", ""))

    def expect_stopping_on_sigterm(self):
        self.proc.send_signal(signal.SIGTERM)
        fields, pid = self.notify.receive(harness.STOP_TIMEOUT)
        self.assertEqual((fields, pid), ({"STOPPING": "1"}, self.proc.pid))
        self.assertEqual(self.proc.wait(harness.STOP_TIMEOUT), 0)

    def test_ready_once_the_client_port_accepts_and_stopping_on_sigterm(self):
        self.start([])
        self.expect_ready()
        status, health = http_json(self.admin_port, "/health")
        self.assertEqual((status, health["status"]), (200, "ok"))
        self.expect_stopping_on_sigterm()

    def test_ready_right_away_with_a_peer_that_does_not_answer(self):
        # READY means "the replication start decision is made": the replication
        # port is bound and the link to the peer is being set up in the
        # background. It does not wait for the peer (a twin that is down must
        # not keep the other from starting) nor for the initial sync.
        repl_port, dead_peer_port = free_port(), free_port()
        started = time.monotonic()
        self.start(["--peer", "127.0.0.1:%d" % dead_peer_port, "--repl-port", str(repl_port)])
        self.expect_ready()
        self.assertLess(time.monotonic() - started, harness.START_TIMEOUT)
        self.assertTrue(accepts(repl_port))
        _, health = http_json(self.admin_port, "/health")
        self.assertTrue(health["replication"]["configured"], health)
        self.assertNotEqual(health["replication"]["state"], "connected", health)
        self.expect_stopping_on_sigterm()

    def test_an_unreachable_notify_socket_is_logged_and_ignored(self):
        # systemd times a start out by itself; the daemon only says so and serves.
        self.notify.close()
        self.start([])
        self.assertTrue(poll_until(lambda: accepts(self.port), harness.START_TIMEOUT))
        with harness.RawConn(self.port) as conn:
            self.assertTrue(conn.request("version\r\n").startswith(b"VERSION "))
        self.proc.send_signal(signal.SIGTERM)
        self.assertEqual(self.proc.wait(harness.STOP_TIMEOUT), 0)
        self.assertIn("event=sd_notify_failed", self.proc.stderr.read().decode())


class PrivateSystemd:
    """systemd as PID 1 of new pid, mount and cgroup namespaces, seeing only
    the units under test; twincached.service runs under it with all its
    hardening.

    Inside its mount namespace (private propagation: the host sees nothing):
    a tmpfs on /run; /usr/lib/systemd/system replaced by a directory with
    twincached.service, keepalived.service and the drop-in as installed, plus
    empty stand-ins for the targets they are ordered against; no generators;
    no host enablement (/etc/systemd/system empty); overlays on /usr/sbin (the
    built twincached at /usr/sbin/twincached) and /etc (the twincache user from
    our sysusers.d file, /etc/twincache/twincached.conf). Shares the host's
    network namespace, so the test reaches the daemon on 127.0.0.1. Its
    cgroups live under a fresh cgroup of ours, removed at the end.
    """

    # Units copied from the host: keepalived for the drop-in, journald (the
    # services' StandardOutput=journal) with its sockets.
    HOST_UNITS = ("keepalived.service", "systemd-journald.service", "systemd-journald.socket",
                  "systemd-journald-dev-log.socket")
    # Stand-ins for the targets those units are ordered against.
    TARGETS = ("sysinit", "sockets", "basic", "shutdown", "network-online", "network", "multi-user")

    def __init__(self, config_text):
        self.dir = tempfile.mkdtemp(prefix="twincache-private-systemd-")
        self.name = os.path.basename(self.dir)
        self.config_text = config_text
        self.proc = None
        self.pid = None  # systemd's pid, as this test's namespace numbers it
        self.log = None
        self.cgroups = []

    def _write(self, relative, text):
        path = os.path.join(self.dir, relative)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "w") as f:
            f.write(text)

    def _prepare(self):
        units = os.path.join(self.dir, "units")
        cmake_install_systemd(os.path.join(self.dir, "install"))
        shutil.copytree(os.path.join(self.dir, "install", UNIT_DIR), units)
        for host_unit in self.HOST_UNITS:
            shutil.copy2(os.path.join("/usr/lib/systemd/system", host_unit), units)
        for target in self.TARGETS:
            self._write("units/%s.target" % target, "[Unit]\nDescription=stand-in %s\n" % target)
        self._write("units/twincache-test.target", "[Unit]\nDescription=the test's boot target\n"
                    "Wants=systemd-journald.service\nAfter=systemd-journald.service\n")
        for empty in ("generators", "etc-systemd"):
            os.makedirs(os.path.join(self.dir, empty))
        for layer in ("sbin-upper", "sbin-work", "etc-upper", "etc-work"):
            os.makedirs(os.path.join(self.dir, layer))
        self._write("twincached.conf", self.config_text)
        shutil.copy2(twincached_binary(), os.path.join(self.dir, "sbin-upper", "twincached"))
        d = self.dir
        self._write("inner.sh", "\n".join([
            "set -eu",
            "mount -t tmpfs tmpfs /run",
            # StateDirectory= (the warm restart file) lands in the namespace's /var/lib, never the host's.
            "mount -t tmpfs tmpfs /var/lib",
            "mount -t overlay overlay -o lowerdir=/usr/sbin,upperdir=%s/sbin-upper,workdir=%s/sbin-work /usr/sbin"
            % (d, d),
            "mount -t overlay overlay -o lowerdir=/etc,upperdir=%s/etc-upper,workdir=%s/etc-work /etc" % (d, d),
            "mount --bind %s/units /usr/lib/systemd/system" % d,
            "mount --bind %s/generators /usr/lib/systemd/system-generators" % d,
            "mount --bind %s/etc-systemd /etc/systemd/system" % d,
            "systemd-sysusers %s" % SYSUSERS,
            "mkdir -p /etc/twincache /etc/keepalived",
            "cp %s/twincached.conf %s" % (d, CONFIG_PATH),
            "echo '# stand-in' > /etc/keepalived/keepalived.conf",
            # journald keeps the namespace's journal in its /run, never in the host's /var/log/journal.
            "mkdir -p /etc/systemd/journald.conf.d",
            "printf '[Journal]\\nStorage=volatile\\nReadKMsg=no\\n' "
            "> /etc/systemd/journald.conf.d/zz-test-volatile.conf",
            "exec env -i container=other PATH=/usr/sbin:/usr/bin:/sbin:/bin /lib/systemd/systemd --system "
            "--unit=twincache-test.target --show-status=no",
            ""]))

    def _enter_cgroups_script(self):
        """Shell lines moving the shell into a fresh cgroup of each hierarchy
        systemd uses (v1 name=systemd and v2 unified, or v2 alone), so that
        systemd's own cgroups land under them."""
        lines = []
        for hierarchy in ("/sys/fs/cgroup/systemd", "/sys/fs/cgroup/unified", "/sys/fs/cgroup"):
            if os.path.exists(os.path.join(hierarchy, "cgroup.procs")):
                path = os.path.join(hierarchy, self.name)
                os.mkdir(path)
                self.cgroups.append(path)
                lines.append("echo $$ > %s/cgroup.procs" % path)
        return lines

    def start(self):
        self._prepare()
        enter = self._enter_cgroups_script()
        self.log = open(os.path.join(self.dir, "console.log"), "w")
        self.proc = subprocess.Popen(
            ["bash", "-c", "\n".join(enter + [
                "exec unshare --pid --fork --mount --propagation private --cgroup --mount-proc bash %s/inner.sh"
                % self.dir])],
            stdin=subprocess.DEVNULL, stdout=self.log, stderr=subprocess.STDOUT)
        # systemd is unshare's child; it is up when systemctl says it is running.
        self.pid = poll_until(self._systemd_pid, harness.START_TIMEOUT)
        if not self.pid or not poll_until(lambda: self.systemctl("is-system-running").stdout.strip() in (
                "running", "degraded"), harness.START_TIMEOUT):
            raise AssertionError("private systemd did not come up: %s" % self.console())
        return self

    def _systemd_pid(self):
        if self.proc.poll() is not None:
            raise AssertionError("private systemd exited: %s" % self.console())
        try:
            with open("/proc/%d/task/%d/children" % (self.proc.pid, self.proc.pid)) as f:
                children = f.read().split()
        except FileNotFoundError:
            return None
        for child in children:
            try:
                with open("/proc/%s/comm" % child) as f:
                    if f.read().strip() == "systemd":
                        return int(child)
            except FileNotFoundError:
                continue
        return None

    def systemctl(self, *args):
        """Runs systemctl against the private systemd (in its namespaces)."""
        return run(["nsenter", "--target", str(self.pid), "--mount", "--pid", "systemctl", "--no-pager", *args])

    def show(self, unit, prop):
        return self.systemctl("show", unit, "--property=" + prop, "--value").stdout.strip()

    def console(self):
        """The end of the console output and of the namespace's journal."""
        with open(os.path.join(self.dir, "console.log"), errors="replace") as f:
            text = f.read()[-2000:]
        if self.pid:
            text += run(["nsenter", "--target", str(self.pid), "--mount", "--pid", "journalctl", "--no-pager",
                         "--lines=40", "--unit=twincached.service", "--unit=keepalived.service"]).stdout
        return text

    def journal(self, unit):
        """The namespace's journal of `unit`, message text only."""
        return run(["nsenter", "--target", str(self.pid), "--mount", "--pid", "journalctl", "--no-pager",
                    "--output=cat", "--unit=" + unit]).stdout

    def stop(self):
        if self.proc is not None:
            # Killing the namespace's PID 1 kills everything in it; the mounts
            # go with the mount namespace.
            if self.pid:
                os.kill(self.pid, signal.SIGKILL)
            self.proc.kill()
            self.proc.wait(harness.STOP_TIMEOUT)
        if self.log is not None:
            self.log.close()
        for path in reversed(self.cgroups):
            deadline = time.monotonic() + harness.STOP_TIMEOUT
            while os.path.exists(path):
                try:
                    for sub, _, _ in sorted(os.walk(path), key=lambda w: -w[0].count("/")):
                        os.rmdir(sub)
                except OSError:
                    if time.monotonic() > deadline:
                        raise
                    time.sleep(0.01)  # the killed processes are leaving the cgroup
        shutil.rmtree(self.dir, True)


@twincache_only
class UnitUnderSystemdTest(unittest.TestCase):
    """twincached.service, hardening and all, run by a real (private) systemd."""

    def setUp(self):
        if os.geteuid() != 0:
            self.skipTest("SKIPPED: booting a private systemd needs root")
        if harness.SANITIZED:
            # LeakSanitizer stops the world with ptrace, which the unit's
            # SystemCallFilter refuses: the plain build runs this test.
            self.skipTest("SKIPPED: the unit's seccomp filter stops LeakSanitizer in the sanitized build")
        for tool in ("unshare", "nsenter", "systemd-sysusers", "systemctl"):
            require_tool(self, tool)
        if not os.path.exists("/lib/systemd/systemd"):
            self.skipTest("SKIPPED: /lib/systemd/systemd missing (package systemd)")
        self.port, self.admin_port = free_port(), free_port()
        self.repl_port, self.dead_peer_port = free_port(), free_port()
        config = ("port = %d\nlisten = \"127.0.0.1\"\nadmin-listen = \"127.0.0.1:%d\"\n"
                  "peer = \"127.0.0.1:%d\"\nrepl-port = %d\n"
                  "memory-file = \"%s\"\n"
                  % (self.port, self.admin_port, self.dead_peer_port, self.repl_port, MEMORY_FILE))
        self.systemd = PrivateSystemd(config)
        self.addCleanup(self.systemd.stop)
        self.systemd.start()

    def start_unit(self, unit):
        result = self.systemd.systemctl("start", unit)
        self.assertEqual(result.returncode, 0, "%s%s\n%s" % (result.stdout, result.stderr, self.systemd.console()))

    def assert_serving(self):
        with harness.RawConn(self.port) as conn:
            self.assertEqual(conn.request("set k 0 0 1\r\nv\r\n"), b"STORED\r\n")
            self.assertEqual(conn.request("get k\r\n", b"END\r\n"), b"VALUE k 0 1\r\nv\r\nEND\r\n")

    def main_pid(self):
        return int(self.systemd.show("twincached.service", "MainPID"))

    def test_starts_hardened_restarts_after_a_crash_and_stops(self):
        # Type=notify: `systemctl start` returns once READY=1 came, and then
        # the client port must accept at once, the peer being down or not.
        self.start_unit("twincached.service")
        self.assert_serving()
        self.assertEqual(self.systemd.show("twincached.service", "StatusText"),
                         "Accepting clients on port %d" % self.port)
        daemon = self.host_pid_of_daemon()
        status = self.proc_status(daemon)
        self.assertEqual(status["Uid"].split()[0], self.twincache_uid(), status)
        self.assertEqual(status["CapEff"], "0000000000000000")
        self.assertEqual(status["CapBnd"], "0000000000000000")
        self.assertEqual(status["NoNewPrivs"], "1")
        self.assertEqual(status["Seccomp"], "2")
        _, health = http_json(self.admin_port, "/health")
        self.assertEqual(health["replication"]["configured"], True, health)

        # Restart=on-failure: a crash brings it back, with a new pid.
        crashed_pid = self.main_pid()
        os.kill(daemon, signal.SIGKILL)
        self.assertTrue(poll_until(lambda: self.systemd.show("twincached.service", "NRestarts") == "1",
                                   harness.START_TIMEOUT), self.systemd.systemctl("status", "twincached").stdout)
        self.assertTrue(poll_until(lambda: self.systemd.show("twincached.service", "ActiveState") == "active",
                                   harness.START_TIMEOUT))
        self.assertNotEqual(self.main_pid(), crashed_pid)
        self.assert_serving()

        result = self.systemd.systemctl("stop", "twincached.service")
        self.assertEqual(result.returncode, 0, result.stderr)
        self.assertEqual((self.systemd.show("twincached.service", "Result"),
                          self.systemd.show("twincached.service", "ExecMainStatus")), ("success", "0"))

    def test_restart_keeps_the_cache(self):
        # The unit's stop is SIGTERM, graceful with a memory-file: the cache
        # is written to the StateDirectory and the new process loads it.
        self.start_unit("twincached.service")
        self.assert_serving()
        pid = self.main_pid()
        result = self.systemd.systemctl("restart", "twincached.service")
        self.assertEqual(result.returncode, 0, "%s%s\n%s" % (result.stdout, result.stderr, self.systemd.console()))
        self.assertNotEqual(self.main_pid(), pid)
        with harness.RawConn(self.port) as conn:
            self.assertEqual(conn.request("get k\r\n", b"END\r\n"), b"VALUE k 0 1\r\nv\r\nEND\r\n",
                             self.systemd.console())
        journal = self.systemd.journal("twincached.service")
        self.assertRegex(journal, r"event=memory_file_saved path=%s items=1 " % re.escape(MEMORY_FILE))
        self.assertRegex(journal, r"event=warm_start path=%s items=1 " % re.escape(MEMORY_FILE))
        self.assertFalse(os.path.exists("/proc/%d/root%s" % (self.systemd.pid, MEMORY_FILE)),
                         "the file is consumed at load")

    def test_reload_applies_the_changed_config_to_the_same_process(self):
        self.start_unit("twincached.service")
        pid = self.main_pid()
        # The config as the unit reads it: the private systemd's /etc.
        config = "/proc/%d/root%s" % (self.systemd.pid, CONFIG_PATH)
        with open(config) as f:
            text = f.read()
        with harness.RawConn(self.port) as held:
            self.assertEqual(held.request("set before-reload 0 0 1\r\nv\r\n"), b"STORED\r\n")
            with open(config, "w") as f:
                f.write(text + "memory-limit = 96\nthreads = 2\n")
            result = self.systemd.systemctl("reload", "twincached.service")
            self.assertEqual(result.returncode, 0, "%s%s\n%s" % (result.stdout, result.stderr, self.systemd.console()))
            # systemd 252 returns once the signal is sent: the reload's effect is polled.
            self.assertTrue(poll_until(lambda: harness.read_stats(held, "settings")["maxbytes"] == str(96 << 20),
                                       harness.START_TIMEOUT), self.systemd.console())
            self.assertEqual(self.main_pid(), pid)
            self.assertEqual(self.systemd.show("twincached.service", "ActiveState"), "active")
            self.assertEqual(held.request("get before-reload\r\n", b"END\r\n"),
                             b"VALUE before-reload 0 1\r\nv\r\nEND\r\n")
        journal = self.systemd.journal("twincached.service")
        self.assertRegex(journal, r"event=reload config=%s reloaded=memory-limit restart_needed=threads "
                         r"hooks=none failed=none" % re.escape(CONFIG_PATH))
        self.assert_serving()

    def test_keepalived_wants_the_cache_but_survives_its_restart(self):
        # keepalived.service as Debian ships it, with our drop-in, and the
        # daemon replaced by a stand-in (no VRRP from a test).
        # /proc/PID/root: the private systemd's view of the file system.
        drop_in_dir = "/proc/%d/root/run/systemd/system/keepalived.service.d" % self.systemd.pid
        os.makedirs(drop_in_dir)
        with open(os.path.join(drop_in_dir, "zz-test-stand-in.conf"), "w") as f:
            f.write("[Service]\nType=simple\nExecStart=\nExecStart=/bin/sleep infinity\n")
        self.assertEqual(self.systemd.systemctl("daemon-reload").returncode, 0)
        self.assertIn("twincached.service", self.systemd.show("keepalived.service", "Wants").split())
        self.assertIn("twincached.service", self.systemd.show("keepalived.service", "After").split())
        for prop in ("Requires", "BindsTo", "PartOf", "Requisite"):
            self.assertNotIn("twincached", self.systemd.show("keepalived.service", prop))

        self.start_unit("keepalived.service")  # pulls in twincached (Wants=)
        self.assertEqual(self.systemd.show("twincached.service", "ActiveState"), "active")
        self.assert_serving()
        keepalived = self.systemd.show("keepalived.service", "MainPID")
        for verb in ("restart", "stop"):
            self.assertEqual(self.systemd.systemctl(verb, "twincached.service").returncode, 0)
            self.assertEqual(self.systemd.show("keepalived.service", "ActiveState"), "active", verb)
            self.assertEqual(self.systemd.show("keepalived.service", "MainPID"), keepalived, verb)

    def host_pid_of_daemon(self):
        """Pid (in our namespace) of the twincached that the private systemd runs."""
        for entry in os.listdir("/proc"):
            if not entry.isdigit():
                continue
            try:
                with open("/proc/%s/status" % entry) as f:
                    status = f.read()
                with open("/proc/%s/cmdline" % entry, "rb") as f:
                    cmdline = f.read()
            except OSError:
                continue
            ns_pids = re.search(r"NSpid:\s+(\d+)\s+(\d+)", status)
            if ns_pids and cmdline.startswith(DAEMON_PATH.encode()) and int(ns_pids.group(2)) == self.main_pid():
                return int(entry)
        raise AssertionError("twincached of the private systemd not found")

    @staticmethod
    def proc_status(pid):
        with open("/proc/%d/status" % pid) as f:
            return dict(line.rstrip("\n").split(":\t", 1) for line in f if ":\t" in line)

    def twincache_uid(self):
        with open(os.path.join(self.systemd.dir, "etc-upper", "passwd")) as f:
            return re.search(r"(?m)^twincache:x:(\d+):", f.read()).group(1)


if __name__ == "__main__":
    unittest.main()
