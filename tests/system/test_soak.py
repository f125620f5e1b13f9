#!/usr/bin/python3
"""No false failover: the master keeps the VIP for SOAK seconds
(env TCSYS_SOAK_SECONDS, default 300, at most 300) while its CPU is
saturated: memcaslap (libmemcached-tools) drives the VIP from the client
namespace with as many connections as it can serve, and CPU hogs run beside
the daemon in the master's namespace, one per core. Sub-second adverts
(advert_int 0.3), a 1 s check interval and the check's 300 ms deadline must
not move the VIP.

Same pair as test_failover.py (cluster.py: shipped multicast template, A
priority 150 the master, B 100).

Reloads during the soak, as operators and logrotate send them: at a fifth,
two fifths, three and four fifths of it, SIGHUP reaches A's daemon, B's
daemon, keepalived on A (its reload) and keepalived on B, in that order. Each
daemon logs its reload and keeps its pid; each keepalived logs its reload.

Passes when, for the whole soak: the VIP is on A alone at every poll (every
100 ms), neither notify log gains a line, keepalived on A never logs a
failed check, and every reload above was logged by the process that got it
(which is still the same process). Prints the load (memcaslap's ops/s, the machine's CPU busy
share) so a pass can be told from an idle machine. Exit 0 pass, 1 fail,
77 skipped (no namespaces). Everything is bounded: the load and the hogs
end by themselves at the soak's end, and are killed on any exit.
"""

import os
import re
import shutil
import signal
import subprocess
import sys
import time

import cluster
import netns

START = 30
SOAK_MAX_S = 300
SOAK_S = min(SOAK_MAX_S, float(os.environ.get("TCSYS_SOAK_SECONDS", SOAK_MAX_S)))
MEMCASLAP = shutil.which("memcaslap") or "/usr/bin/memcaslap"
EXIT_SKIPPED = 77
# keepalived 2.2.7 logs this once a SIGHUP's reload is done (seen in its log here).
KEEPALIVED_RELOADED = "Reload complete"
HOG = "import time\nend = time.monotonic() + %f\nwhile time.monotonic() < end:\n    pass\n"


def say(text):
    print(text, flush=True)


def cpu_busy():
    """(busy, total) jiffies of all CPUs from /proc/stat."""
    with open("/proc/stat") as f:
        fields = [int(x) for x in f.readline().split()[1:]]
    idle = fields[3] + fields[4]
    return sum(fields) - idle, sum(fields)


def count_in(path, needle):
    """How many times `needle` occurs in the file at `path` (0 if it is missing)."""
    try:
        with open(path, errors="replace") as f:
            return f.read().count(needle)
    except FileNotFoundError:
        return 0


def reloads(nodes):
    """(what, signal it, the log it shows in, the line that says it reloaded):
    both daemons, then keepalived on both nodes."""
    daemons = [("%s's twincached" % n.label(), lambda n=n: n.signal_daemon(signal.SIGHUP), n.daemon_log,
                "event=reload ") for n in nodes]
    keepaliveds = [("keepalived on %s" % n.label(), lambda n=n: n.signal_keepalived(signal.SIGHUP),
                    n.keepalived_log, KEEPALIVED_RELOADED) for n in nodes]
    return daemons + keepaliveds


def main():
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    pair = cluster.Pair()
    procs = []
    try:
        try:
            pair.up()
        except netns.Unavailable as e:
            say("*** SKIPPED: soak test: cannot create network namespaces here: %s" % e)
            return EXIT_SKIPPED
        a, b = pair.node("a"), pair.node("b")
        pair.start(START)
        netns.poll(lambda: pair.vip_holders() == ["a"], START, what="the VIP on A")
        lines_before = {n.name: len(n.notify_states()) for n in (a, b)}
        with open(a.keepalived_log, errors="replace") as f:
            log_offset = len(f.read())
        load = subprocess.Popen(
            ["ip", "netns", "exec", pair.topology.netns("c"), MEMCASLAP, "-s", "%s:%d" % (cluster.VIP, cluster.PORT),
             "-T", "2", "-c", "64", "-t", "%ds" % int(SOAK_S)],
            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        procs.append(load)
        for _ in range(os.cpu_count() or 2):
            procs.append(subprocess.Popen(["ip", "netns", "exec", a.netns, sys.executable, "-c", HOG % SOAK_S]))
        busy0, total0 = cpu_busy()
        start = time.monotonic()
        say("soak: %.0f s of memcaslap (-T 2 -c 64) on the VIP and %d CPU hogs beside A's daemon" % (
            SOAK_S, len(procs) - 1))
        pids = {n.name: n.daemon.pid for n in (a, b)}
        pending = reloads((a, b))  # sent one at a time across the soak
        sent = []  # (what, log, line, count before)
        moved = None
        while time.monotonic() - start < SOAK_S:  # a bounded observation window
            holders = pair.vip_holders()
            if holders != ["a"]:
                moved = (time.monotonic() - start, holders)
                break
            if pending and time.monotonic() - start >= SOAK_S * (len(sent) + 1) / (len(pending) + len(sent) + 1):
                what, send, log, line = pending.pop(0)
                sent.append((what, log, line, count_in(log, line)))
                send()
                say("soak: SIGHUP to %s at %.0f s" % (what, time.monotonic() - start))
            time.sleep(0.1)
        busy1, total1 = cpu_busy()
        out, _ = load.communicate(timeout=60)
        ops = re.findall(r"^Run time: .*Ops: (\d+) .*TPS: (\d+)", out, re.MULTILINE)
        with open(a.keepalived_log, errors="replace") as f:
            failed_checks = f.read()[log_offset:].count("VRRP_Script(check_mem) failed")
        new_lines = {n.name: [line[2] for line in n.notify_states()[lines_before[n.name]:]] for n in (a, b)}
        say("soak: CPU busy %.0f%% over %.0f s; memcaslap %s" % (
            100.0 * (busy1 - busy0) / max(1, total1 - total0), time.monotonic() - start,
            "ops %s, TPS %s" % ops[-1] if ops else "printed no total: " + out.strip()[-300:]))
        say("soak: A's failed checks %d; new transitions A %s, B %s; VIP %s" % (
            failed_checks, new_lines["a"], new_lines["b"],
            "stayed on A" if moved is None else "moved after %.1f s to %s" % moved))
        unlogged = [what for what, log, line, before in sent if count_in(log, line) <= before]
        replaced = [n.label() for n in (a, b) if n.daemon.pid != pids[n.name] or n.daemon.poll() is not None]
        say("soak: %d SIGHUPs sent, every one logged as a reload: %s; daemons kept their pids: %s" % (
            len(sent), "yes" if not unlogged else "no, not by " + ", ".join(unlogged),
            "yes" if not replaced else "no: " + ", ".join(replaced)))
        if moved is None and (len(sent) != 4 or unlogged or replaced):
            say("FAILED: a reload was not sent, not logged, or ended a daemon")
            pair.dump_logs()
            return 1
        if moved is not None or failed_checks or new_lines["a"] or new_lines["b"]:
            say("FAILED: a false failover (or a failed check) under load")
            pair.dump_logs()
            return 1
        if not ops:
            say("FAILED: memcaslap did not run")
            return 1
        say("soak test passed: no false failover in %.0f s under load" % SOAK_S)
        return 0
    finally:
        for p in procs:
            cluster.stop_process(p, signal.SIGKILL, timeout=5)
        pair.down()


if __name__ == "__main__":
    sys.exit(main())
