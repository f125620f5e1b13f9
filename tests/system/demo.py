#!/usr/bin/python3
"""README command 1's two-node demo (scripts/demo.sh runs it as root): the
system test's topology (cluster.py) without the assertions.

  node A 192.0.2.1 and node B 192.0.2.2, each with twincached (replicating to
  the other) and keepalived (templates rendered by
  twincache-keepalived-config), a client at 192.0.2.10, VIP 192.0.2.100,
  all in network namespaces on a private bridge.

It shows the VIP on A, writes 10,000 keys through the VIP, kills A's daemon
with SIGKILL, shows the VIP on B and reads every key back through it, then
removes everything. Exit 0 when the keys survived, 1 when not, 77 when
network namespaces cannot be created here (demo.sh then runs the loopback
pair instead).
"""

import signal
import subprocess
import sys
import time

import cluster
import netns

KEYS = 10000
PREFIX = "demo"
TIMEOUT = 30
EXIT_UNAVAILABLE = 77


def say(text):
    print("demo: " + text, flush=True)


def show(pair, host):
    out = netns.ip("-n", pair.topology.netns(host), "-4", "-br", "addr", "show", "dev", "eth0")
    say("  ip -n %s -4 -br addr show dev eth0: %s" % (pair.topology.netns(host), out.strip()))


def demo(pair):
    a, b = pair.node("a"), pair.node("b")
    say("starting twincached and keepalived on node A (%s, priority 150) and node B (%s, priority 100)" % (
        a.address, b.address))
    pair.start(TIMEOUT)
    say("VIP %s is on node A; A's daemon reports role %s, B's %s" % (cluster.VIP, a.role(), b.role()))
    show(pair, "a")
    written = pair.client("write", PREFIX, KEYS)
    say("client %s wrote %d keys through %s:%d in %.2f s (%d failed)" % (
        cluster.CLIENT_ADDRESS, KEYS, cluster.VIP, cluster.PORT, written["seconds"], written["failed"]))
    netns.poll(lambda: int((b.try_stats() or {}).get("curr_items", 0)) >= KEYS, TIMEOUT,
               what="B to have every key")
    say("node B has them too (replication): curr_items %s" % b.stats()["curr_items"])
    say("kill -9 twincached on node A (pid %d)" % a.daemon.pid)
    t0 = time.monotonic()
    a.signal_daemon(signal.SIGKILL)
    moved = pair.wait_vip_on("b", TIMEOUT)
    netns.poll(lambda: b.role() == "MASTER", 5, what="B's daemon to report MASTER")
    say("VIP moved to node B %.2f s later; B's daemon reports role MASTER" % (moved - t0))
    show(pair, "b")
    verified = pair.client("verify", PREFIX, KEYS)
    intact = KEYS - verified["missing"] - verified["wrong"]
    say("client read %d/%d keys back through the VIP, now served by node B" % (intact, KEYS))
    for node in (a, b):
        say("notify log of node %s:" % node.label())
        for line in node.notify_states():
            say("  " + " ".join(line))
    return 0 if intact == KEYS else 1


def main():
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    pair = cluster.Pair()
    try:
        pair.up()
    except netns.Unavailable as e:
        say("network namespaces unavailable (%s)" % e)
        return EXIT_UNAVAILABLE
    try:
        return demo(pair)
    except (TimeoutError, RuntimeError, OSError, subprocess.SubprocessError) as e:
        say("FAILED: %s" % e)
        pair.dump_logs(20)
        return 1
    finally:
        say("removing the namespaces, processes and files of the demo")
        pair.down()


if __name__ == "__main__":
    sys.exit(main())
