"""Network namespaces for the two-node system test and demo: a switch, two
nodes and a client, all on one 192.0.2.0/24 segment (RFC 5737 documentation
addresses), with nothing added to the root namespace.

    tcsys-PID-sw   bridge br0, ports a0 b0 c0
    tcsys-PID-a    eth0 192.0.2.1/24   (node A)
    tcsys-PID-b    eth0 192.0.2.2/24   (node B)
    tcsys-PID-c    eth0 192.0.2.10/24  (client)

Each node's eth0 is one end of a veth pair whose other end is a port of br0
in the switch namespace (created there directly: `ip -n SW link add a0 type
veth peer name eth0 netns NODE`). PID is the owning test process, so runs
never share names and a later run can tell a crashed run's leftovers (owner
gone) from a live one's; `sweep()` removes the former.

Sockets of this process reach a namespace through `Executor`: a thread that
entered it with setns(2) (network namespaces are per thread), so polls cost
no process start. Everything is bounded; nothing here sleeps to synchronise.
"""

import concurrent.futures
import ctypes
import os
import re
import signal
import socket
import subprocess
import time

PREFIX = "tcsys-"
NETNS_DIR = "/run/netns"
SUBNET_PREFIX = 24
CLONE_NEWNET = 0x40000000
# Seconds an `ip` command may take.
IP_TIMEOUT = 10


class Unavailable(Exception):
    """Namespaces cannot be created here (not root, no CAP_NET_ADMIN, no ip)."""


def ip(*args, check=True):
    """Runs `ip ARGS`; returns its stdout. Raises RuntimeError with stderr on failure when `check`."""
    result = subprocess.run(["ip", *args], capture_output=True, text=True, timeout=IP_TIMEOUT)
    if check and result.returncode != 0:
        raise RuntimeError("ip %s: %s" % (" ".join(args), result.stderr.strip()))
    return result.stdout


def probe():
    """Raises Unavailable unless this process can create a network namespace
    with a bridge and a veth pair in it (the whole topology's ingredients)."""
    if os.geteuid() != 0:
        raise Unavailable("not root (euid %d)" % os.geteuid())
    name = "%s%d-probe" % (PREFIX, os.getpid())
    try:
        ip("netns", "add", name)
    except (OSError, RuntimeError, subprocess.TimeoutExpired) as e:
        raise Unavailable("cannot create a network namespace: %s" % e)
    try:
        ip("-n", name, "link", "add", "br0", "type", "bridge")
        ip("-n", name, "link", "add", "v0", "type", "veth", "peer", "name", "v1")
    except (RuntimeError, subprocess.TimeoutExpired) as e:
        raise Unavailable("cannot create a bridge and veth pair in a namespace: %s" % e)
    finally:
        ip("netns", "del", name, check=False)


def _owner_alive(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _stale(name):
    """True for a name of ours whose owner process is gone."""
    m = re.match(r"^%s(\d+)-" % re.escape(PREFIX), name)
    return bool(m) and int(m.group(1)) != os.getpid() and not _owner_alive(int(m.group(1)))


def kill_pids(pids, sig=signal.SIGKILL):
    for pid in pids:
        try:
            os.kill(pid, sig)
        except ProcessLookupError:
            pass


def namespace_pids(name):
    """PIDs of processes whose network namespace is `name` (`ip netns pids`)."""
    out = ip("netns", "pids", name, check=False)
    return [int(p) for p in out.split() if p.isdigit()]


def remove_namespace(name):
    """SIGKILLs every process in namespace `name`, then deletes it (its veth
    ends and bridge go with it)."""
    kill_pids(namespace_pids(name))
    ip("netns", "del", name, check=False)


def sweep(run_dirs_parent="/run"):
    """Removes what a crashed earlier run left behind: namespaces named
    tcsys-PID-* whose PID is no longer alive, with their processes, and the
    processes recorded in pid files of that run's /run/tcsys-PID-* directory
    (keepalived's parent stays in the root namespace), then the directory.
    Returns the names removed."""
    removed = []
    if os.path.isdir(NETNS_DIR):
        for name in sorted(os.listdir(NETNS_DIR)):
            if _stale(name):
                remove_namespace(name)
                removed.append(name)
    for name in sorted(os.listdir(run_dirs_parent)):
        path = os.path.join(run_dirs_parent, name)
        if not _stale(name) or not os.path.isdir(path):
            continue
        for root, _, files in os.walk(path):
            for f in files:
                if f.endswith(".pid"):
                    kill_pids(_pid_from_file(os.path.join(root, f), path))
        subprocess.run(["rm", "-rf", "--one-file-system", path], timeout=IP_TIMEOUT, check=False)
        removed.append(path)
    return removed


def _pid_from_file(pidfile, run_dir):
    """The pid in `pidfile` if that process still mentions `run_dir` on its
    command line (so a recycled pid is never killed)."""
    try:
        with open(pidfile) as f:
            pid = int(f.read().split()[0])
        with open("/proc/%d/cmdline" % pid, "rb") as f:
            cmdline = f.read().decode(errors="replace")
    except (OSError, ValueError, IndexError):
        return []
    return [pid] if run_dir in cmdline else []


class Topology:
    """The switch, node and client namespaces of one run. `create()` builds
    them; `destroy()` removes them and every process left inside (idempotent,
    safe after a partial create)."""

    def __init__(self, hosts):
        """`hosts` maps a short host name ("a", "b", "c") to its address on
        the segment."""
        self.tag = "%s%d" % (PREFIX, os.getpid())
        self.switch = self.tag + "-sw"
        self.hosts = dict(hosts)
        self.created = []

    def netns(self, host):
        return "%s-%s" % (self.tag, host)

    def create(self):
        self._add(self.switch)
        ip("-n", self.switch, "link", "add", "br0", "type", "bridge")
        ip("-n", self.switch, "link", "set", "br0", "up")
        for host, address in self.hosts.items():
            ns = self.netns(host)
            self._add(ns)
            port = host + "0"
            ip("-n", self.switch, "link", "add", port, "type", "veth", "peer", "name", "eth0", "netns", ns)
            ip("-n", self.switch, "link", "set", port, "master", "br0", "up")
            ip("-n", ns, "link", "set", "lo", "up")
            ip("-n", ns, "addr", "add", "%s/%d" % (address, SUBNET_PREFIX), "dev", "eth0")
            ip("-n", ns, "link", "set", "eth0", "up")

    def _add(self, name):
        ip("netns", "add", name)
        self.created.append(name)

    def destroy(self):
        for name in reversed(self.created):
            remove_namespace(name)
        self.created = []

    def ip_in(self, host, *args, check=True):
        """`ip ARGS` inside `host`'s namespace."""
        return ip("-n", self.netns(host), *args, check=check)

    def port(self, host):
        """The bridge port (in the switch namespace) of `host`'s eth0."""
        return host + "0"

    def cut(self, host):
        """Partitions `host`: its port leaves the bridge while both veth ends
        stay up (the node sees its link up, nothing reaches it)."""
        ip("-n", self.switch, "link", "set", self.port(host), "nomaster")

    def heal(self, host):
        """Puts `host`'s port back on the bridge (STP is off: it forwards at once)."""
        ip("-n", self.switch, "link", "set", self.port(host), "master", "br0", "up")

    def unplug(self, host):
        """Pulls `host`'s cable: its bridge port goes down (the node loses carrier)."""
        ip("-n", self.switch, "link", "set", self.port(host), "down")

    def plug(self, host):
        ip("-n", self.switch, "link", "set", self.port(host), "up")

    def advert_watch(self, host, source):
        """An AdvertWatch on `host`'s bridge port for VRRP adverts from `source`."""
        return AdvertWatch(self, host, source)

    def addresses(self, host, dev="eth0"):
        """IPv4 addresses (without prefix) on `dev` in `host`'s namespace."""
        out = ip("-n", self.netns(host), "-4", "-o", "addr", "show", "dev", dev, check=False)
        return re.findall(r"\binet (\d+\.\d+\.\d+\.\d+)/", out)


# A packet socket on a bridge port must listen to every protocol: one bound
# to ETH_P_IP is served after the bridge has taken the frame, i.e. never.
ETH_P_ALL = 0x0003
ETHERTYPE_IPV4 = b"\x08\x00"
IPPROTO_VRRP = 112


class AdvertWatch:
    """Sees VRRP adverts (IP protocol 112, multicast or unicast) that `source`
    sends through its bridge port, from a packet socket opened in the switch
    namespace at construction: `next(timeout)` returns the time.monotonic()
    at which the next one arrived, for faults timed right after an advert.
    Close it (or use `with`)."""

    def __init__(self, topology, host, source):
        self.source = socket.inet_aton(source)
        executor = Executor(topology.switch)
        try:
            self.sock = executor.run(self._open, topology.port(host))
        finally:
            executor.close()

    @staticmethod
    def _open(port):
        sock = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(ETH_P_ALL))
        sock.bind((port, 0))  # 0: keep the protocol given to socket()
        return sock

    def next(self, timeout):
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError("no VRRP advert from %s within %.1fs" % (socket.inet_ntoa(self.source), timeout))
            self.sock.settimeout(left)
            try:
                frame = self.sock.recv(2048)
            except socket.timeout:
                continue
            # Ethernet header (14 bytes, type at 12), then IPv4: protocol at 9, source at 12.
            if (len(frame) >= 34 and frame[12:14] == ETHERTYPE_IPV4 and frame[23] == IPPROTO_VRRP and
                    frame[26:30] == self.source):
                return time.monotonic()

    def close(self):
        self.sock.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


_libc = ctypes.CDLL(None, use_errno=True)


def _enter(path):
    fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    try:
        if _libc.setns(fd, CLONE_NEWNET) != 0:
            err = ctypes.get_errno()
            raise OSError(err, "setns(%s): %s" % (path, os.strerror(err)))
    finally:
        os.close(fd)


class Executor:
    """Runs callables on one thread inside a network namespace: sockets they
    open belong to that namespace. `run(fn, *args, timeout=)` returns fn's
    result or raises what it raised (or TimeoutError)."""

    def __init__(self, netns_name):
        self._pool = concurrent.futures.ThreadPoolExecutor(
            max_workers=1, thread_name_prefix=netns_name, initializer=_enter,
            initargs=(os.path.join(NETNS_DIR, netns_name),))

    def run(self, fn, *args, timeout=10):
        return self._pool.submit(fn, *args).result(timeout=timeout)

    def close(self):
        self._pool.shutdown(wait=False, cancel_futures=True)


def poll(predicate, timeout, interval=0.05, what="condition"):
    """Calls predicate() every `interval` s until it returns a true value,
    which is returned; raises TimeoutError naming `what` (a string, or a
    callable giving one then, to describe the state at the deadline) after
    `timeout` s."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() >= deadline:
            raise TimeoutError("timed out after %.1fs waiting for %s" % (timeout, what() if callable(what) else what))
        time.sleep(interval)
