#!/usr/bin/python3
"""System test: keys sharded over two twincache pairs, each with real
keepalived 2.2.7 and its own VIP in network namespaces, survive a failover
inside a pair, through twemproxy (Debian's nutcracker 0.5.0) and through
pylibmc's client-side ketama.

One segment (netns.Topology), a client namespace and two pairs built by
cluster.Pair with the shipped templates (multicast VRRP, --repl-ack sync):

    pair1  A1 192.0.2.1 (150)  B1 192.0.2.2 (100)  VIP 192.0.2.100  VRID 51
    pair2  A2 192.0.2.3 (150)  B2 192.0.2.4 (100)  VIP 192.0.2.200  VRID 52
    client 192.0.2.10: nutcracker on 127.0.0.1:22121 with the pool
           keepalived/twincache-twemproxy-config renders (pair1, pair2 on
           the VIPs), and shard_client.py.

Phase "nutcracker", then phase "pylibmc ketama" (over the two VIPs), each:
  1. the client writes 10,000 keys; every key is on exactly one pair and on
     both twins of it, each pair's share within +-15 %;
  2. a client loop (shard_client.py loop, every 20 ms: a multi-get of the
     writes acknowledged in the last 2 s plus a preloaded key, then a set)
     runs; kill -9 the daemon holding pair 1's VIP: the VIP moves to its
     twin, the first tick without error or miss comes within 3 s (measured
     and printed), no acknowledged write is lost, and every preloaded key
     reads back through the same client;
  3. the killed daemon is restarted: it resyncs and its keepalived comes
     back BACKUP; the VIP stays where it went;
  4. 2 and 3 again with the host of pair 1's master dying right after an
     advert (no RST: nutcracker's timeout and the twin's master-down timer
     count), and rebooting.
Pair 2 is untouched throughout.

Exit 0 on success, 1 on failure (with the logs' tails), 77 (skipped) where
namespaces cannot be created or nutcracker is missing. Everything is removed
on exit (also on failure or SIGTERM); every wait is a poll with a deadline.
Env: TCSYS_KEEP_LOGS=DIR copies the pairs' logs there.
"""

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.parse

import cluster
import netns

HERE = os.path.dirname(os.path.abspath(__file__))
SHARD_CLIENT = os.path.join(HERE, "shard_client.py")
TWEMPROXY_GENERATOR = os.path.join(cluster.SOURCE, "keepalived", "twincache-twemproxy-config")
NUTCRACKER = shutil.which("nutcracker") or "/usr/sbin/nutcracker"
PAIRS = (("pair1", "192.0.2.100", (("a1", "192.0.2.1", 150), ("b1", "192.0.2.2", 100)), 51),
         ("pair2", "192.0.2.200", (("a2", "192.0.2.3", 150), ("b2", "192.0.2.4", 100)), 52))
PROXY = ("127.0.0.1", 22121)  # in the client namespace
PROXY_STATS_PORT = 22222
KEYS = 10000
SHARE_TOLERANCE = 0.15
# Deadlines in seconds.
START = 30
FAILOVER = 20
TRANSITION = 20
# The target: the first good client op through the proxy (or the ketama
# client) within this long after the kill. Asserted unless the programs run
# under sanitizers (TWINCACHE_SANITIZED=1; the figures are still printed).
FAILOVER_TARGET = 3.0
SANITIZED = os.environ.get("TWINCACHE_SANITIZED", "") not in ("", "0")
# Loop ticks (20 ms each) in a row without error or miss that end a failover.
SETTLE_TICKS = 25
# Good ticks before the fault.
WARM_TICKS = 50
EXIT_SKIPPED = 77


class Failure(Exception):
    pass


class Missing(Exception):
    """nutcracker is not installed here: the test is skipped."""


def expect(condition, message):
    if not condition:
        raise Failure(message)


def say(text):
    print(text, flush=True)


class Shards:
    """The topology, both pairs and nutcracker."""

    def __init__(self):
        self.topology = None
        self.pairs = {}
        self.run_dir = None
        self.nutcracker = None
        self.nutcracker_log = None

    def up(self):
        netns.probe()
        if not os.access(NUTCRACKER, os.X_OK):
            raise Missing("%s is missing (apt-get install nutcracker)" % NUTCRACKER)
        hosts = {name: address for _, _, nodes, _ in PAIRS for name, address, _ in nodes}
        self.topology = netns.Topology(hosts | {"c": cluster.CLIENT_ADDRESS})
        for name, vip, nodes, router_id in PAIRS:
            self.pairs[name] = cluster.Pair(daemon_args=["--repl-ack", "sync"], vip=vip, nodes=nodes,
                                            router_id=router_id, topology=self.topology)
        for name in netns.sweep():
            print("system: removed a crashed run's leftover %s" % name, flush=True)
        self.topology.create()
        for pair in self.pairs.values():
            pair.up()
        self.run_dir = tempfile.mkdtemp(prefix=self.topology.tag + "-", dir="/run")
        os.chmod(self.run_dir, 0o755)

    def start(self):
        for pair in self.pairs.values():
            pair.start(START)
        conf = os.path.join(self.run_dir, "nutcracker.yml")
        args = [cluster.PYTHON, TWEMPROXY_GENERATOR, "--listen", "%s:%d" % PROXY, "--out", conf]
        for name, vip, _, _ in PAIRS:
            args += ["--pair", "%s=%s:%d" % (name, vip, cluster.PORT)]
        r = subprocess.run(args, capture_output=True, text=True, timeout=30)
        expect(r.returncode == 0, "twincache-twemproxy-config failed: %s" % r.stderr)
        r = subprocess.run([NUTCRACKER, "-t", "-c", conf], capture_output=True, text=True, timeout=30)
        expect(r.returncode == 0, "nutcracker -t: %s" % (r.stdout + r.stderr))
        self.nutcracker_log = os.path.join(self.run_dir, "nutcracker.log")
        self.nutcracker = subprocess.Popen(
            ["ip", "netns", "exec", self.topology.netns("c"), NUTCRACKER, "-c", conf, "-s", str(PROXY_STATS_PORT),
             "-a", "127.0.0.1", "-v", "6", "-o", self.nutcracker_log, "-p",
             os.path.join(self.run_dir, "nutcracker.pid")],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        executor = netns.Executor(self.topology.netns("c"))
        try:
            netns.poll(lambda: executor.run(proxy_answers), START,
                       what="nutcracker in the client namespace to answer `version`")
        finally:
            executor.close()

    def client(self, target, *args, stdin=None, timeout=60):
        """Runs shard_client.py once in the client namespace; its last JSON line."""
        r = subprocess.run(["ip", "netns", "exec", self.topology.netns("c"), cluster.PYTHON, SHARD_CLIENT, target,
                            *args], input=stdin, capture_output=True, text=True, timeout=timeout)
        lines = [json.loads(line) for line in r.stdout.splitlines() if line.startswith("{")]
        if not lines:
            raise RuntimeError("shard_client.py %s failed (exit %d): %s" % (" ".join(args), r.returncode,
                                                                            r.stderr.strip()))
        return lines[-1]

    def dump_logs(self):
        for pair in self.pairs.values():
            pair.dump_logs()
        if self.nutcracker_log and os.path.exists(self.nutcracker_log):
            with open(self.nutcracker_log, errors="replace") as f:
                tail = f.readlines()[-40:]
            print("---- %s (last %d lines)" % (self.nutcracker_log, len(tail)))
            sys.stdout.write("".join(tail))
            sys.stdout.flush()

    def down(self):
        if self.nutcracker is not None:
            cluster.stop_process(self.nutcracker)
            self.nutcracker = None
        for pair in self.pairs.values():
            pair.down()
        if self.topology is not None:
            self.topology.destroy()
            self.topology = None
        if self.run_dir is not None:
            shutil.rmtree(self.run_dir, ignore_errors=True)
            self.run_dir = None


def proxy_answers():
    try:
        with socket.create_connection(PROXY, timeout=1.0) as s:
            s.sendall(b"version\r\n")
            return s.recv(100).startswith(b"VERSION ")
    except OSError:
        return False


def replicated(src, dst):
    """Waits until `src` has no unacknowledged write and `dst` holds at
    least as many items."""
    def done():
        s, d = src.try_stats(), dst.try_stats()
        return s and d and s.get("repl_lag_records") == "0" and int(d["curr_items"]) >= int(s["curr_items"])
    netns.poll(done, 15, what="replication %s -> %s to catch up" % (src.label(), dst.label()))


def wait_state(node, state, after, timeout=TRANSITION):
    """Waits until `node`'s notify log has `state` in a line after the first
    `after` lines; returns the number of lines up to it."""
    def found():
        states = [line[2] for line in node.notify_states()]
        return next((i + 1 for i in range(after, len(states)) if states[i] == state), None)
    return netns.poll(found, timeout, what=lambda: "%s's notify log to show %s after line %d (has %s)" % (
        node.label(), state, after, [line[2] for line in node.notify_states()]))


class Run:
    def __init__(self, shards):
        self.shards = shards
        self.results = []

    def spread(self, phase, prefix):
        """Checks that every PREFIX key is on exactly one pair and on both of
        its twins; returns {pair: keys held} and asserts the shares."""
        held = {}
        for name, pair in self.shards.pairs.items():
            a, b = pair.nodes.values()
            replicated(a, b)
            replicated(b, a)
            keys = []
            for node in (a, b):
                keys.append({urllib.parse.unquote(k) for k in node.metadump() if k.startswith(prefix + "%3A")})
            expect(keys[0] == keys[1], "%s %s: the twins hold different keys: %d vs %d" % (
                phase, name, len(keys[0]), len(keys[1])))
            held[name] = keys[0]
        (n1, k1), (n2, k2) = held.items()
        expect(not k1 & k2, "%s: %d keys on both pairs" % (phase, len(k1 & k2)))
        everything = set("%s:%05d" % (prefix, i) for i in range(KEYS))
        expect(k1 | k2 == everything, "%s: %d keys on no pair" % (phase, len(everything - k1 - k2)))
        shares = {name: len(keys) for name, keys in held.items()}
        say("%s: %d keys spread %s (each on both twins of its pair)" % (phase, KEYS, shares))
        for name, count in shares.items():
            expect(abs(count - KEYS / 2) <= SHARE_TOLERANCE * KEYS / 2,
                   "%s: %s holds %d of %d keys (not within %.0f %% of half)" % (
                       phase, name, count, KEYS, SHARE_TOLERANCE * 100))
        return shares

    def phase(self, label, target, prefix):
        """Writes and checks the spread, then runs the client loop through
        both faults of pair 1's master: kill -9 of its daemon, then its host
        dying."""
        pair = self.shards.pairs["pair1"]
        written = self.shards.client(target, "write", prefix, str(KEYS))
        expect(written["failed"] == 0, "%s: writes failed: %s" % (label, written))
        say("%s: client wrote %d keys in %.2f s" % (label, KEYS, written["seconds"]))
        shares = self.spread(label, prefix)
        loop = cluster.ClientLoop(pair, prefix, KEYS,
                                  argv=[cluster.PYTHON, SHARD_CLIENT, target, "loop", prefix, str(KEYS)])
        pair.loops.append(loop)
        for fault in (KillDaemon(), HostDies()):
            self.failover(label, target, prefix, loop, fault, shares)
        loop.stop()
        pair.loops.remove(loop)

    def failover(self, label, target, prefix, loop, fault, shares):
        pair = self.shards.pairs["pair1"]
        # A second of good ticks first, so writes to both pairs are acknowledged before the fault.
        warm_from = time.monotonic()
        netns.poll(lambda: sum(1 for line in loop.since(warm_from) if line["ok"] and not line.get("miss")) >=
                   WARM_TICKS, START, what="%d good ticks of the client loop" % WARM_TICKS)
        holder_name = pair.vip_holders()
        expect(len(holder_name) == 1, "%s: pair1's VIP on %s" % (label, holder_name))
        holder = pair.node(holder_name[0])
        twin = next(n for n in pair.nodes.values() if n is not holder)
        seen, twin_seen = len(holder.notify_states()), len(twin.notify_states())
        what = "%s %s (holding pair1's VIP)" % (fault.name, holder.label())
        t0 = fault.inject(pair, holder)
        moved = pair.wait_vip_on(twin.name, FAILOVER)
        wait_state(twin, "MASTER", twin_seen)
        seen = fault.settled(holder, seen)

        def quiet():
            lines = loop.since(moved)[-SETTLE_TICKS:]
            return len(lines) == SETTLE_TICKS and all(line["ok"] and not line.get("miss") for line in lines)
        netns.poll(quiet, FAILOVER, what="%d quiet ticks of the client loop after: %s" % (SETTLE_TICKS, what))
        # The failover, as the client sees it, ends with the last tick that
        # failed or missed a key (acknowledged, or preloaded) after the fault:
        # the first good op is the tick after it. A tick that failed only
        # on pair 2 would count too (none should).
        window = loop.since(t0)
        bad = [line for line in window if not line["ok"] or line.get("miss")]
        first = next(line for line in window if not bad or line["t"] > bad[-1]["t"])
        if os.environ.get("TCSYS_TRACE"):
            for line in window:
                if line["t"] <= first["t"] + 0.1:
                    say("  tick %+.3f %s" % (line["t"] - t0, {k: v for k, v in line.items() if k != "t"}))
        errors = [line for line in bad if not line["ok"]]
        missed_ticks = [line for line in bad if line.get("miss")]
        acked_in_window = sum(1 for line in window if "set" in line and line["t"] <= first["t"])
        acked = [line["set"] for line in loop.since(0) if "set" in line]
        result = self.shards.client(target, "verify-keys", stdin="\n".join(acked))
        lost = result["missing"] + result["wrong"]
        move_s, op_s = moved - t0, first["t"] - t0
        say("%s: %s: VIP on %s after %.2f s; first good client op %.2f s after the fault; %d ticks with errors, %d "
            "with misses before it (%d writes acknowledged meanwhile); %s" % (
                label, what, twin.label(), move_s, op_s, len(errors), len(missed_ticks), acked_in_window,
                (errors[0]["err"][:120] if errors else "no error")))
        say("%s: acknowledged writes so far %d, lost %d %s" % (label, len(acked), lost,
                                                               result["examples"] if lost else ""))
        self.results.append((label, fault.name, holder.label(), move_s, op_s, len(errors), len(missed_ticks),
                             len(acked), lost, shares))
        if not SANITIZED:
            expect(op_s <= FAILOVER_TARGET, "%s: %s: first good op %.2f s after the fault (target %.1f s)" % (
                label, what, op_s, FAILOVER_TARGET))
        expect(lost == 0, "%s: %d acknowledged writes lost: %s" % (label, lost, result["examples"]))
        result = self.shards.client(target, "verify", prefix, str(KEYS))
        expect(result["missing"] == 0 and result["wrong"] == 0, "%s: preloaded keys lost: %s" % (label, result))
        say("%s: all %d preloaded keys read back after the failover" % (label, KEYS))
        # The node comes back: it resyncs from its twin and rejoins as BACKUP.
        t1 = time.monotonic()
        fault.recover(holder)
        wait_state(holder, "BACKUP", seen)
        replicated(twin, holder)
        netns.poll(lambda: holder.role() == "BACKUP", 5, what="%s's daemon to report BACKUP" % holder.label())
        expect(pair.vip_holders() == [twin.name], "%s: VIP on %s after %s came back" % (
            label, pair.vip_holders(), holder.label()))
        say("%s: %s back, resynced and BACKUP %.2f s later; VIP stays on %s" % (
            label, holder.label(), time.monotonic() - t1, twin.label()))

    def summary(self):
        say("\nfaults of pair1's master (--repl-ack sync): VIP moved / first good op; ticks with errors / misses "
            "before it; acknowledged writes so far, lost; key spread")
        for label, fault, node, move_s, op_s, errors, misses, acked, lost, shares in self.results:
            say("  %-15s %-22s %-3s %.2f s / %.2f s; %3d / %3d; %5d, %d lost; %s" % (
                label, fault, node, move_s, op_s, errors, misses, acked, lost, shares))


class KillDaemon:
    """kill -9 of the master's daemon: keepalived sees the process go and
    the twin takes the VIP; the daemon is started again."""

    name = "kill -9 twincached on"

    def inject(self, pair, node):
        t0 = time.monotonic()
        node.signal_daemon(signal.SIGKILL)
        return t0

    def settled(self, node, seen):
        """Waits for the node's side of the failover; returns the notify
        line count after which its BACKUP is awaited."""
        fault = wait_state(node, "FAULT", seen)
        node.daemon.wait(timeout=5)
        return fault

    def recover(self, node):
        node.start_daemon()


class HostDies:
    """The master's host dies right after one of its adverts (cluster.Node.die:
    everything on it SIGKILLed, its cable pulled): no RST reaches the client,
    so nutcracker's timeout and the twin's master-down timer both count. It
    comes back as after a reboot."""

    name = "host dies:"

    def inject(self, pair, node):
        with pair.topology.advert_watch(node.name, node.address) as adverts:
            t0 = adverts.next(5)
            node.die()
        return t0

    def settled(self, node, seen):
        return len(node.notify_states())  # a dead host notifies nothing

    def recover(self, node):
        node.reboot()


def main():
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # ctest's timeout: still clean up
    shards = Shards()
    started = time.monotonic()
    try:
        try:
            shards.up()
        except (netns.Unavailable, Missing) as e:
            say("\n" + "*" * 78 + "\n*** SKIPPED: twincache shards system test (two pairs + keepalived + nutcracker "
                "in network namespaces)\n*** %s\n" % e + "*" * 78)
            return EXIT_SKIPPED
        run = Run(shards)
        try:
            shards.start()
            say("setup: two pairs up (VIPs %s), nutcracker in the client namespace on %s:%d" % (
                ", ".join(vip for _, vip, _, _ in PAIRS), *PROXY))
            run.phase("nutcracker", "proxy=%s:%d" % PROXY, "nc")
            run.phase("pylibmc ketama", "ketama=" + ",".join("%s:%d" % (vip, cluster.PORT) for _, vip, _, _ in PAIRS),
                      "kt")
        except (Failure, TimeoutError, RuntimeError, OSError, subprocess.SubprocessError) as e:
            say("\nFAILED: %s" % e)
            if run.results:
                run.summary()
            shards.dump_logs()
            return 1
        run.summary()
        say("shards system test passed in %.0f s" % (time.monotonic() - started))
        return 0
    finally:
        shards.down()


if __name__ == "__main__":
    sys.exit(main())
