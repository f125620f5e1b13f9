"""A twincache pair with keepalived in network namespaces, as the system test
and the README demo run it: two nodes (A 192.0.2.1, priority 150; B
192.0.2.2, priority 100) and a client (192.0.2.10) on one bridge
(netns.Topology), VIP 192.0.2.100/24.

In each node namespace:
- twincached, replicating to the other node (`-x PEER`), serving every
  address of the node (so also the VIP once keepalived adds it), admin
  endpoint on the node's own loopback 127.0.0.1:11213;
- keepalived 2.2.7 with the shipped template rendered by
  keepalived/twincache-keepalived-config (multicast by default, unicast with
  `unicast=True`), started as `keepalived --namespace NS` and not under
  `ip netns exec`: the kernel's process-events connector that
  vrrp_track_process needs exists only in the initial network namespace.

Facts this relies on (keepalived-notes.md, keepalived/README.md):
- both nodes share one PID namespace, so each node's vrrp_track_process
  names its own daemon by command-line prefix (`TWINCACHED -x PEER`, which
  differs between the nodes), not by the bare process name;
- script security: twincache-check and twincache-notify are copied into a
  root-owned 0755 directory under /run (made with mkdtemp, then chmod), and
  the configs point there with --libexec-dir;
- each node has its own notify log, maintenance file, track file (the
  generator's --track-file: keepalived holds the instance in FAULT while it
  says 1) and pid files in its own directory of the run directory, which
  exists before keepalived starts (keepalived drops a track file whose
  directory is missing).

Binaries come from env TWINCACHED, TWINCACHE_CHECK, TWINCACHE_NOTIFY, else
build/ in the source tree.
"""

import atexit
import json
import os
import re
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request

import netns

HERE = os.path.dirname(os.path.abspath(__file__))
SOURCE = os.path.abspath(os.path.join(HERE, "..", ".."))
GENERATOR = os.path.join(SOURCE, "keepalived", "twincache-keepalived-config")
VIP_CLIENT = os.path.join(HERE, "vip_client.py")
PYTHON = "/usr/bin/python3"  # Debian's, which has python3-pymemcache
KEEPALIVED = shutil.which("keepalived") or "/usr/sbin/keepalived"

VIP = "192.0.2.100"
VIP_PREFIX = 24
CLIENT_ADDRESS = "192.0.2.10"
NODES = (("a", "192.0.2.1", 150), ("b", "192.0.2.2", 100))
PORT = 11211
ADMIN = "127.0.0.1:11213"
# Seconds to wait for a process to exit after SIGTERM before SIGKILL.
STOP_TIMEOUT = 10


def binary(env_var, subdir, name):
    default = os.path.join(SOURCE, "build", subdir, name)
    return os.path.abspath(os.environ.get(env_var) or default)


TWINCACHED = binary("TWINCACHED", "daemon", "twincached")
CHECK = binary("TWINCACHE_CHECK", "healthcheck", "twincache-check")
NOTIFY = binary("TWINCACHE_NOTIFY", "keepalived", "twincache-notify")


def stop_process(proc, sig=signal.SIGTERM, timeout=STOP_TIMEOUT):
    """Sends `sig` to `proc` (a Popen), waits up to `timeout` s, then SIGKILLs
    it. Returns its exit status. Never raises for a process already gone."""
    if proc is None:
        return None
    if proc.poll() is None:
        try:
            proc.send_signal(sig)
            return proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
        except ProcessLookupError:
            pass
    return proc.wait(timeout=timeout)


def memcached_stats(host, port, timeout=1.0):
    """`stats` over the memcached text protocol as {name: value}; raises
    OSError/TimeoutError when the daemon does not answer within `timeout`."""
    with socket.create_connection((host, port), timeout=timeout) as s:
        return stats_over(s, timeout)


def stats_over(sock, timeout=1.0):
    """`stats` on an open connection, as {name: value}."""
    sock.sendall(b"stats\r\n")
    return _parse_stats(_read_until(sock, b"END\r\n", timeout))


def _read_until(sock, end, timeout):
    data = b""
    deadline = time.monotonic() + timeout
    while not data.endswith(end):
        sock.settimeout(max(0.01, deadline - time.monotonic()))
        chunk = sock.recv(65536)
        if not chunk:
            raise OSError("connection closed mid-reply")
        data += chunk
    return data


def _parse_stats(data):
    stats = {}
    for line in data.decode().split("\r\n"):
        parts = line.split(" ", 2)
        if len(parts) == 3 and parts[0] == "STAT":
            stats[parts[1]] = parts[2]
    return stats


def memcached_metadump(host, port, timeout=10.0):
    """{key: cas} from `lru_crawler metadump all` (memcached's format:
    `key=K exp=.. la=.. cas=C ...` lines, then END)."""
    with socket.create_connection((host, port), timeout=timeout) as s:
        s.sendall(b"lru_crawler metadump all\r\n")
        data = _read_until(s, b"END\r\n", timeout)
    items = {}
    for line in data.decode(errors="replace").splitlines():  # item lines end "\n", END "\r\n"
        fields = dict(f.split("=", 1) for f in line.split(" ") if "=" in f)
        if "key" in fields:
            items[fields["key"]] = fields.get("cas")
    return items


def _pid_from_file(path):
    """[the pid in `path`], or [] when it has none."""
    try:
        with open(path) as f:
            return [int(f.read().split()[0])]
    except (OSError, ValueError, IndexError):
        return []


def http(method, url, body=None, timeout=2.0, token=None):
    """(status, parsed JSON body) of an HTTP request, with `token` as its
    Bearer credentials when given; 4xx and 5xx bodies too."""
    data = None if body is None else json.dumps(body).encode()
    headers = {"Content-Type": "application/json"}
    if token is not None:
        headers["Authorization"] = "Bearer " + token
    req = urllib.request.Request(url, data=data, method=method, headers=headers)
    try:
        with urllib.request.urlopen(req, timeout=timeout) as resp:
            return resp.status, json.loads(resp.read() or b"null")
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read() or b"null")


class Node:
    """One node: its namespace, twincached and keepalived."""

    def __init__(self, pair, name, address, peer, priority):
        self.pair = pair
        self.name = name
        self.address = address
        self.peer = peer
        self.priority = priority
        self.netns = pair.topology.netns(name)
        self.dir = os.path.join(pair.run_dir, name)
        os.mkdir(self.dir, 0o755)
        self.conf = os.path.join(self.dir, "keepalived.conf")
        self.notify_log = os.path.join(self.dir, "notify.log")
        self.maintenance_file = os.path.join(self.dir, "maintenance")
        self.track_file = os.path.join(self.dir, "vrrp.state")
        self.daemon_log = os.path.join(self.dir, "twincached.log")
        self.keepalived_log = os.path.join(self.dir, "keepalived.log")
        # The admin token, as the packages make it (0640; the daemon and the
        # notify hook run as root here): POSTs to the admin endpoint need it.
        self.admin_token = secrets.token_urlsafe(32)
        self.admin_token_file = os.path.join(self.dir, "admin.token")
        fd = os.open(self.admin_token_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o640)
        with os.fdopen(fd, "w") as f:
            f.write(self.admin_token + "\n")
        self.executor = None
        self.daemon = None
        self.keepalived = None
        self.dead_pids = []  # keepalived's VRRP process killed by die()

    def label(self):
        return self.name.upper()

    # --- twincached ---------------------------------------------------------

    def daemon_argv(self):
        """The daemon's command line. Its first three words (path, -x, the
        peer's address) differ between the nodes: keepalived's
        vrrp_track_process matches them as a prefix (track_process_spec)."""
        return [TWINCACHED, "-x", self.peer, "-p", str(PORT), "-m", "64", "--admin-listen", ADMIN,
                "--admin-token-file", self.admin_token_file, "-v", *self.pair.daemon_args]

    def track_process_spec(self):
        return " ".join(self.daemon_argv()[:3])

    def start_daemon(self, *extra):
        with open(self.daemon_log, "ab") as log:
            self.daemon = subprocess.Popen(["ip", "netns", "exec", self.netns, *self.daemon_argv(), *extra],
                                           stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT)
        return self.daemon.pid  # `ip netns exec` execs the program: same pid

    def stats(self):
        return self.in_netns(memcached_stats, "127.0.0.1", PORT)

    def try_stats(self):
        try:
            return self.stats()
        except (OSError, TimeoutError):
            return None

    def wait_serving(self, timeout, synced=True):
        """Polls until the daemon answers `stats` (and, with `synced`, reports
        repl_initial_sync done); returns the stats."""
        def ready():
            s = self.try_stats()
            return s if s and (not synced or s.get("repl_initial_sync") == "done") else None
        return netns.poll(ready, timeout, what="twincached on %s serving%s" % (
            self.label(), " and synced" if synced else ""))

    def admin(self, method, path, body=None, authenticated=True):
        """(status, JSON body) of a request to this node's admin endpoint,
        with its admin token unless `authenticated` is False."""
        return self.in_netns(http, method, "http://%s%s" % (ADMIN, path), body, 2.0,
                             self.admin_token if authenticated else None)

    def role(self):
        s = self.try_stats()
        return s.get("role") if s else None

    def signal_daemon(self, sig):
        self.daemon.send_signal(sig)

    def stop_daemon(self):
        if self.daemon is not None:
            if self.daemon.poll() is None:
                self.daemon.send_signal(signal.SIGCONT)  # a SIGSTOPped daemon must see the SIGTERM
            stop_process(self.daemon)
            self.daemon = None

    def wait_check_done(self, timeout=5):
        """Returns right after keepalived's next run of this node's check has
        finished (the worst phase for a fault the check must see: the next
        run is a whole interval away). A check is seen by its `stats`
        connection (total_connections grows; this poll reuses one
        connection), then its process is awaited."""
        def open_poller():
            return socket.create_connection(("127.0.0.1", PORT), timeout=1.0)
        conn = self.in_netns(open_poller)
        try:
            def connections():
                return int(stats_over(conn)["total_connections"])
            before = connections()
            netns.poll(lambda: connections() > before, timeout, interval=0.002,
                       what="%s's check to connect to its daemon" % self.label())
            netns.poll(lambda: not self.check_pids(), timeout, interval=0.002,
                       what="%s's check to finish" % self.label())
        finally:
            conn.close()

    def check_pids(self):
        """PIDs of this node's twincache-check processes now running."""
        needle = self.maintenance_file.encode()
        pids = []
        for entry in os.listdir("/proc"):
            if not entry.isdigit():
                continue
            try:
                with open("/proc/%s/cmdline" % entry, "rb") as f:
                    cmdline = f.read()
            except OSError:
                continue
            if b"twincache-check" in cmdline and needle in cmdline:
                pids.append(int(entry))
        return pids

    def check(self, timeout=5):
        """Runs this node's twincache-check as keepalived does, but without
        writing the track file (an observer must not let keepalived out of
        FAULT); (exit code, its stderr line)."""
        r = subprocess.run(["ip", "netns", "exec", self.netns, *self.check_argv()],
                           capture_output=True, text=True, timeout=timeout)
        return r.returncode, r.stderr.strip()

    def check_argv(self):
        return [os.path.join(self.pair.libexec, "twincache-check"), "-q", "--maintenance-file",
                self.maintenance_file, "--track-file", "off"]

    def track_state(self):
        """The track file's state as keepalived reads it, its leading number
        ("0" ready, "1" not; the writer's SEQ follows it), or None."""
        try:
            with open(self.track_file) as f:
                words = f.read().split()
        except FileNotFoundError:
            return None
        return words[0] if words else ""

    # --- keepalived ---------------------------------------------------------

    def render_config(self):
        args = [PYTHON, GENERATOR, "--vip", "%s/%d" % (self.pair.vip, VIP_PREFIX), "--interface", "eth0",
                "--self", self.address, "--peer", self.peer, "--priority", str(self.priority),
                "--libexec-dir", self.pair.libexec,
                "--check-args", "--maintenance-file " + self.maintenance_file,
                "--notify-args", "--log-file %s --token-file %s" % (self.notify_log, self.admin_token_file),
                "--track-process", self.track_process_spec(), "--track-file", self.track_file,
                "--out", self.conf]
        if self.pair.unicast:
            args.append("--unicast")
        if self.pair.router_id is not None:
            args += ["--router-id", str(self.pair.router_id)]
        if self.pair.templates:
            args += ["--templates", self.pair.templates]
        r = subprocess.run(args, capture_output=True, text=True, timeout=30)
        if r.returncode != 0:
            raise RuntimeError("twincache-keepalived-config failed: %s" % r.stderr.strip())
        # The shipped config must pass keepalived's own test (0 = clean).
        r = subprocess.run(["ip", "netns", "exec", self.netns, KEEPALIVED, "-t", "-f", self.conf],
                           capture_output=True, text=True, timeout=30)
        if r.returncode != 0:
            raise RuntimeError("keepalived -t -f %s exited %d: %s" % (self.conf, r.returncode,
                                                                        (r.stdout + r.stderr).strip()))

    def start_keepalived(self):
        argv = [KEEPALIVED, "--namespace", self.netns, "--dont-fork", "--log-console", "--log-detail",
                "--no-syslog", "--vrrp", "--use-file", self.conf,
                "--pid", os.path.join(self.dir, "keepalived.pid"),
                "--vrrp_pid", os.path.join(self.dir, "vrrp.pid"),
                "--checkers_pid", os.path.join(self.dir, "checkers.pid")]
        with open(self.keepalived_log, "ab") as log:
            self.keepalived = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=log,
                                               stderr=subprocess.STDOUT)

    def signal_keepalived(self, sig=signal.SIGTERM):
        """Sends `sig` to keepalived without waiting (stop_keepalived waits)."""
        self.keepalived.send_signal(sig)

    def stop_keepalived(self):
        if self.keepalived is not None:
            status = stop_process(self.keepalived)
            self.keepalived = None
            return status
        return None

    def die(self):
        """The host dies as when its power fails: everything on it stops at
        once, silently (SIGKILL: no priority-0 advert, no STOP hook), and its
        cable goes dead. Everything in the node's namespace (keepalived's
        VRRP process, the daemon, any check or hook) is killed first, then
        keepalived's parent (which would restart its VRRP process), then the
        cable is pulled: pulled first, keepalived would see the carrier go
        and enter FAULT in the moment before its death."""
        self.dead_pids = _pid_from_file(os.path.join(self.dir, "vrrp.pid"))
        netns.kill_pids(self.dead_pids + netns.namespace_pids(self.netns) + [self.keepalived.pid])
        self.pair.topology.unplug(self.name)
        # A dead host holds no address: drop the VIP keepalived left on the
        # (now unreachable) interface, so vip_holders() sees the survivor alone.
        self.pair.topology.ip_in(self.name, "addr", "del", "%s/%d" % (self.pair.vip, VIP_PREFIX), "dev", "eth0",
                                 check=False)

    def reboot(self):
        """After die(): reaps the killed processes, then the host comes back
        as after a reboot (cable in), and twincached and keepalived start."""
        self.keepalived.wait(timeout=STOP_TIMEOUT)
        self.keepalived = None
        self.daemon.wait(timeout=STOP_TIMEOUT)
        netns.poll(lambda: not any(os.path.exists("/proc/%d" % pid) for pid in self.dead_pids), STOP_TIMEOUT,
                   what="keepalived's VRRP process on %s to be gone" % self.label())
        self.pair.topology.plug(self.name)
        self.start_daemon()
        self.start_keepalived()

    def metadump(self):
        """{key: cas} of every item (`lru_crawler metadump all`)."""
        return self.in_netns(memcached_metadump, "127.0.0.1", PORT)

    def has_vip(self):
        return self.pair.vip in self.pair.topology.addresses(self.name)

    def initial_sync_times(self):
        """The times (ISO-8601 UTC text, as in the notify log) at which the
        daemon's log says its initial sync finished, oldest first."""
        try:
            with open(self.daemon_log, errors="replace") as f:
                return [line.split()[0] for line in f if "event=repl_initial_sync_done" in line]
        except FileNotFoundError:
            return []

    def notify_states(self):
        """[(time, instance, state, priority, seq)] from this node's notify log."""
        try:
            with open(self.notify_log) as f:
                return [tuple(line.split()) for line in f if line.strip()]
        except FileNotFoundError:
            return []

    def last_notified_state(self):
        states = self.notify_states()
        return states[-1][2] if states else None

    def keepalived_states(self):
        """The states keepalived's own log says the instance entered, in order."""
        try:
            with open(self.keepalived_log, errors="replace") as f:
                text = f.read()
        except FileNotFoundError:
            return []
        # "Stopping" (alone on its line) starts a shutdown: the STOP notify.
        # An instance that starts in FAULT (the track file says 1) logs
        # "(VI_1) entering FAULT state", in lower case, and notifies FAULT.
        pattern = r"\(VI_1\) Entering (\w+) STATE|\(VI_1\) entering (FAULT) state$|: Stopping$"
        return [m.group(1) or m.group(2) or "STOP" for m in re.finditer(pattern, text, re.MULTILINE)]

    # --- plumbing -----------------------------------------------------------

    def in_netns(self, fn, *args):
        if self.executor is None:
            self.executor = netns.Executor(self.netns)
        return self.executor.run(fn, *args)

    def close(self):
        self.stop_keepalived()
        self.stop_daemon()
        if self.executor is not None:
            self.executor.close()
            self.executor = None


class ClientLoop:
    """vip_client.py loop in the client namespace; its JSON lines collected."""

    def __init__(self, pair, prefix, count, argv=None):
        """`argv`: the client program and its arguments, run in the client
        namespace instead of vip_client.py's loop on the pair's VIP; it
        prints the same JSON lines and ends at stdin EOF or SIGTERM."""
        self.lines = []
        self.lock = threading.Lock()
        if argv is None:
            argv = [PYTHON, VIP_CLIENT, "loop", pair.vip, str(PORT), prefix, str(count), "--interval-ms", "20",
                    "--timeout-ms", "200"]
        self.proc = subprocess.Popen(["ip", "netns", "exec", pair.topology.netns(pair.client_host), *argv],
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()

    def _read(self):
        for line in self.proc.stdout:
            try:
                obj = json.loads(line)
            except ValueError:
                continue
            with self.lock:
                self.lines.append(obj)

    def since(self, t0):
        with self.lock:
            return [line for line in self.lines if line["t"] >= t0]

    def stop(self):
        if self.proc.poll() is None:
            try:
                self.proc.stdin.close()
            except OSError:
                pass
            stop_process(self.proc, signal.SIGTERM, timeout=5)
        self.reader.join(timeout=5)


class Pair:
    """The whole set-up. `up()` raises netns.Unavailable when namespaces
    cannot be made here; `down()` removes everything (also registered with
    atexit, and safe to call twice)."""

    def __init__(self, unicast=False, templates=None, daemon_args=(), vip=VIP, nodes=NODES, router_id=None,
                 topology=None):
        """`templates`: a template directory instead of the generator's
        default (e.g. the installed /usr/share/twincache/keepalived);
        `daemon_args`: added to every twincached start (e.g. --repl-ack sync).
        For more than one pair on one segment (test_shards.py): `vip`, the
        two `nodes` ((name, address, priority), the first wins the first
        election), keepalived's `router_id` (virtual_router_id; None: the
        generator's default) and a netns.Topology made by the caller, which
        holds these nodes and a client "c" and which the caller creates and
        destroys (up() and down() leave it alone)."""
        self.unicast = unicast
        self.templates = templates
        self.daemon_args = list(daemon_args)
        self.vip = vip
        self.node_specs = tuple(nodes)
        self.router_id = router_id
        self.owns_topology = topology is None
        self.client_host = "c"
        self.topology = topology
        self.run_dir = None
        self.libexec = None
        self.nodes = {}
        self.loops = []
        self._down = False

    def up(self):
        netns.probe()
        for name in netns.sweep():
            print("system: removed a crashed run's leftover %s" % name, flush=True)
        for path in (TWINCACHED, CHECK, NOTIFY, GENERATOR, KEEPALIVED):
            if not os.access(path, os.X_OK):
                raise FileNotFoundError("%s is missing (build first; keepalived: apt-get install keepalived)"
                                        % path)
        atexit.register(self.down)
        if self.owns_topology:
            self.topology = netns.Topology({name: address for name, address, _ in self.node_specs} |
                                           {self.client_host: CLIENT_ADDRESS})
        self.run_dir = tempfile.mkdtemp(prefix=self.topology.tag + "-", dir="/run")
        os.chmod(self.run_dir, 0o755)
        self.libexec = os.path.join(self.run_dir, "libexec")
        os.mkdir(self.libexec, 0o755)
        for program in (CHECK, NOTIFY):
            target = os.path.join(self.libexec, os.path.basename(program))
            shutil.copyfile(program, target)
            os.chmod(target, 0o755)
        if self.owns_topology:
            self.topology.create()
        (a, a_ip, a_prio), (b, b_ip, b_prio) = self.node_specs
        self.nodes = {a: Node(self, a, a_ip, b_ip, a_prio), b: Node(self, b, b_ip, a_ip, b_prio)}
        for node in self.nodes.values():
            node.render_config()

    def node(self, name):
        return self.nodes[name]

    def start(self, timeout, *daemon_args):
        """Starts both daemons (with `daemon_args`) and waits for their initial
        sync with each other; then keepalived on A, until A is MASTER with
        the VIP, then on B, until B is BACKUP: A always wins the first
        election. Raises TimeoutError after `timeout` s for any of these."""
        (first, _, _), (second, _, _) = self.node_specs
        a, b = self.nodes[first], self.nodes[second]
        a.start_daemon(*daemon_args)
        b.start_daemon(*daemon_args)
        a.wait_serving(timeout)
        b.wait_serving(timeout)
        a.start_keepalived()
        netns.poll(lambda: a.last_notified_state() == "MASTER", timeout, what="node A to become MASTER")
        self.wait_vip_on(first, timeout)
        b.start_keepalived()
        netns.poll(lambda: b.last_notified_state() == "BACKUP", timeout, what="node B to become BACKUP")

    def vip_holders(self):
        return [n.name for n in self.nodes.values() if n.has_vip()]

    def wait_vip_on(self, name, timeout):
        """Polls until the VIP is on node `name` and only there; returns when
        (time.monotonic()) it was seen."""
        return self.wait_vip_holders([name], timeout)

    def wait_vip_holders(self, names, timeout):
        """Polls until exactly the nodes `names` hold the VIP; returns when
        (time.monotonic()) that was seen."""
        want = sorted(names)
        netns.poll(lambda: self.vip_holders() == want, timeout, interval=0.02,
                   what=lambda: "the VIP on %s (now on %s)" % ("+".join(want).upper(), self.vip_holders() or "none"))
        return time.monotonic()

    def client(self, mode, prefix, count, timeout=60):
        """Runs vip_client.py MODE once in the client namespace; its JSON."""
        r = subprocess.run(["ip", "netns", "exec", self.topology.netns(self.client_host), PYTHON, VIP_CLIENT, mode,
                            self.vip, str(PORT), prefix, str(count)], capture_output=True, text=True, timeout=timeout)
        lines = [json.loads(line) for line in r.stdout.splitlines() if line.startswith("{")]
        if not lines:
            raise RuntimeError("vip_client.py %s failed (exit %d): %s" % (mode, r.returncode, r.stderr.strip()))
        return lines[-1]

    def verify_keys(self, keys, timeout=60):
        """Reads `keys` back through the VIP; vip_client.py's "verified" JSON."""
        r = subprocess.run(["ip", "netns", "exec", self.topology.netns(self.client_host), PYTHON, VIP_CLIENT,
                            "verify-keys", self.vip, str(PORT)], input="\n".join(keys), capture_output=True,
                           text=True, timeout=timeout)
        lines = [json.loads(line) for line in r.stdout.splitlines() if line.startswith("{")]
        if not lines:
            raise RuntimeError("vip_client.py verify-keys failed (exit %d): %s" % (r.returncode, r.stderr.strip()))
        return lines[-1]

    def start_loop(self, prefix, count):
        loop = ClientLoop(self, prefix, count)
        self.loops.append(loop)
        return loop

    def logs(self):
        """Paths of every log of the run, for a report after a failure."""
        out = []
        for node in self.nodes.values():
            out += [node.keepalived_log, node.daemon_log, node.notify_log, node.track_file]
        return out

    def dump_logs(self, lines=40):
        """Prints the last `lines` lines of every log of the run."""
        for path in self.logs():
            try:
                with open(path, errors="replace") as f:
                    tail = f.readlines()[-lines:]
            except OSError:
                continue
            print("---- %s (last %d lines)" % (path, len(tail)))
            sys.stdout.write("".join(tail))
        sys.stdout.flush()

    def down(self):
        if self._down:
            return
        self._down = True
        for loop in self.loops:
            loop.stop()
        for node in self.nodes.values():
            node.close()
        if self.topology is not None and self.owns_topology:
            self.topology.destroy()
        if self.run_dir is not None and os.environ.get("TCSYS_KEEP_LOGS"):
            keep = os.environ["TCSYS_KEEP_LOGS"]
            os.makedirs(keep, exist_ok=True)
            for path in self.logs():
                if os.path.exists(path):
                    shutil.copy(path, os.path.join(keep, "%s-%s" % (os.path.basename(os.path.dirname(path)),
                                                                    os.path.basename(path))))
        if self.run_dir is not None:
            shutil.rmtree(self.run_dir, ignore_errors=True)
