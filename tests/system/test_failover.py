#!/usr/bin/python3
"""System test: a twincache pair with real keepalived 2.2.7 in
network namespaces keeps applications' data on VIP:11211 through failures.

Topology, daemons and configs: cluster.py (node A priority 150, node B 100,
shipped templates via twincache-keepalived-config, multicast VRRP unless
env TCSYS_UNICAST=1). A client namespace runs vip_client.py: once to write
or verify keys, and as a loop doing get/set on the VIP every 20 ms with
200 ms timeouts, whose lines say which daemon (pid) served each tick.

Steps (each fault at its worst phase; every failover reports the time to
the VIP move and to the first client op served by the new node, client
errors, acknowledged writes missed and lost, and asserts the targets below):
  1. the client writes 10,000 keys through the VIP; the VIP is on A and A's
     daemon reports MASTER (B: BACKUP);
  2. kill -9 twincached on A: the VIP moves to B; all 10,000 keys read back;
     A's FAULT notify marked its track file not ready ("1");
  3. restart twincached on A: it resyncs from B (full copy, throttled to
     1 MB/s on both daemons with --repl-sync-rate so the window can be
     watched), A's twincache-check fails while the sync is pending and A's
     track file says not ready all that time, keepalived on A leaves FAULT
     only once the sync is done (a BACKUP node takes the VIP as soon as the
     master fails), A's daemon reports BACKUP, and A does not take the VIP
     back (nopreempt);
  4. SIGSTOP twincached on B right after its check passed: the next check
     times out, the VIP moves to A, keys intact; SIGCONT; nothing lost;
  5. stop keepalived on the master (A): the VIP moves in about a second;
     keepalived on A is started again;
  6. planned switchovers: (a) POST /maintenance on B, (b) the maintenance
     file on A; the VIP moves each time with no client miss on keys written
     before;
  8. host death of the master (B) right after its advert (cable pulled,
     keepalived and daemon SIGKILLed): A takes over after the master-down
     timer; B reboots, resyncs, comes back BACKUP without a flap;
  9. partition of the master (A) right after its advert (its bridge port
     leaves the bridge, its link stays up) for 3 s: B takes the VIP and the
     writes; on the heal A takes the VIP back; clients are served again
     within 1 s, acknowledged writes are invisible for at most 0.5 s after
     it, none is lost, the twins converge (same keys and cas uniques);
  7. each notify.log lists every transition keepalived logged, in order,
     and each daemon's role matches who holds the VIP.
--repl-ack sync (env TCSYS_ACK=sync): no acknowledged write may be missed
after any failover but the heal; async: the last writes before a kill or a
host death may be lost (the documented loss window).

Exit 0 on success, 1 on failure (with the logs' tails), 77 (skipped) where
namespaces cannot be created (not root, no CAP_NET_ADMIN).
Everything created (namespaces, bridge, veths, processes, /run/tcsys-*) is
removed on exit, also on failure or SIGTERM; a crashed run's leftovers are
swept at the next start. Every wait is a poll with a deadline.
Env: TCSYS_KEEP_LOGS=DIR copies the logs there before cleaning up;
TCSYS_UNICAST=1 renders the unicast template; TCSYS_ACK=sync runs both
daemons with --repl-ack sync; TCSYS_TEMPLATES=DIR takes the
templates from DIR (e.g. the installed /usr/share/twincache/keepalived).
"""

import calendar
import collections
import os
import signal
import subprocess
import sys
import time

import cluster
import netns

PRELOAD = 10000
PRELOAD_PREFIX = "sys"
# Deadlines in seconds. keepalived (templates): VRRPv3 advert_int 0.3 (a
# silent master is replaced after ~1.1 s on B), check interval 1 with a
# 300 ms deadline, fall 1, rise 1.
START = 30
FAILOVER = 20
TRANSITION = 20
# The failover targets: every fault, at its worst phase, gives the first good
# client op through the VIP within FAILOVER_TARGET s; after a partition heals
# the clients are served again within HEAL_TARGET s and an acknowledged
# write is invisible for at most STALE_TARGET s. Asserted unless the daemon
# and programs run under sanitizers (TWINCACHE_SANITIZED=1: slower binaries;
# the figures are still printed).
FAILOVER_TARGET = 2.0
HEAL_TARGET = 1.0
STALE_TARGET = 0.5
SANITIZED = os.environ.get("TWINCACHE_SANITIZED", "") not in ("", "0")
# How long the partition of step 9 lasts: well past the failover, so the
# isolated master's twin serves (and takes writes) for a while.
PARTITION_S = 3.0
# Loop ticks (20 ms each) in a row without error or miss that end a failover.
SETTLE_TICKS = 25
# Exit status for "could not run here" (ctest SKIP_RETURN_CODE).
EXIT_SKIPPED = 77
# How long a node that came back must leave the VIP where it is (several
# advert intervals: without nopreempt A would take it back within one).
NOPREEMPT_WATCH = 5.0
# Full sync throttle (MB/s) on both daemons: the ~1 MB resync of step 3
# takes about a second instead of a few ms.
SYNC_RATE_MBPS = "1"


class Failure(Exception):
    pass


def expect(condition, message):
    if not condition:
        raise Failure(message)


def say(text):
    print(text, flush=True)


class Run:
    def __init__(self, pair, sync):
        self.pair = pair
        self.sync = sync  # --repl-ack sync: no acknowledged write may be missed
        self.a = pair.node("a")
        self.b = pair.node("b")
        self.loop = None
        # Per node: the states we waited for, and how many notify lines we
        # have consumed.
        self.expected = {"a": [], "b": []}
        self.seen = {"a": 0, "b": 0}
        # (step, what, s to the VIP move, s to the first op on the new node, client errors, misses)
        self.results = []

    # --- waiting ------------------------------------------------------------

    def transition(self, node, state, timeout=TRANSITION):
        """Waits until `node`'s notify log gains a line with `state` after
        the ones already consumed; returns that line (time, name, state,
        priority)."""
        def found():
            states = [line[2] for line in node.notify_states()]
            for i in range(self.seen[node.name], len(states)):
                if states[i] == state:
                    return i + 1
            return None
        index = netns.poll(found, timeout, interval=0.05,
                           what=lambda: "%s's notify log to show %s after line %d (has %s)" % (
                               node.label(), state, self.seen[node.name], [s[2] for s in node.notify_states()]))
        self.seen[node.name] = index
        self.expected[node.name].append(state)
        return node.notify_states()[index - 1]

    def role_is(self, node, role, timeout=5):
        netns.poll(lambda: node.role() == role, timeout,
                   what=lambda: "%s's daemon to report role %s (reports %s)" % (node.label(), role, node.role()))

    def first_op_on(self, pid, t0, timeout=FAILOVER):
        """The first loop line after t0 served by daemon `pid`."""
        def found():
            return next((line for line in self.loop.since(t0) if line["ok"] and line["pid"] == pid), None)
        return netns.poll(found, timeout, what="a client operation on the VIP served by pid %d" % pid)

    # --- reporting ----------------------------------------------------------

    def client_errors(self, t0, t1):
        lines = [line for line in self.loop.since(t0) if line["t"] <= t1]
        errors = [line for line in lines if not line["ok"]]
        kinds = collections.Counter(line["err"].split(":")[0] for line in errors)
        misses = [key for line in lines for key in line.get("miss", [])]
        span = errors[-1]["t"] - errors[0]["t"] if errors else 0.0
        return errors, kinds, misses, span

    def report_failover(self, step, what, t0, moved_at, first_op, allow_misses, allow_lost=None):
        """Prints and records one failover: fault at t0, VIP seen moved at
        `moved_at`, `first_op` the first client op the new node served.
        Client errors count until 0.5 s after that op. Misses are reads of
        acknowledged (or preloaded) keys that came back missing; the stale
        window runs from t0 to the last tick with a miss (the loop reads the
        writes of the last 2 s every tick). Lost: keys acknowledged from 3 s
        before the fault on, still missing through the VIP now (call once
        the twins have caught up). Fails when the first good op took longer
        than FAILOVER_TARGET (unless sanitized), on misses unless
        `allow_misses`, on lost keys unless `allow_lost` (default: as
        allow_misses)."""
        errors, kinds, _, span = self.client_errors(t0, first_op["t"] + 0.5)
        misses, _, stale_s = self.stale_window(t0)
        self.settle()
        lost, lost_examples = self.lost(t0 - 3.0)
        move_s = moved_at - t0
        op_s = first_op["t"] - t0
        kinds_text = describe_kinds(kinds)
        say("step %s %s: VIP moved %.2f s after the fault; first client op served by the new node %.2f s "
            "after; client errors %d over %.2f s (%s); acknowledged keys missed %d (stale until %.2f s), "
            "lost %d" % (step, what, move_s, op_s, len(errors), span, kinds_text, len(misses), stale_s, lost))
        self.results.append((step, what, move_s, op_s, len(errors), len(misses), lost, stale_s))
        if not SANITIZED:
            expect(op_s <= FAILOVER_TARGET, "step %s: first client op after %.2f s (target %.1f s)" % (
                step, op_s, FAILOVER_TARGET))
        if not allow_misses:
            expect(not misses, "step %s: client missed keys written before: %s" % (step, misses[:10]))
        if not (allow_misses if allow_lost is None else allow_lost):
            expect(not lost, "step %s: %d acknowledged writes lost: %s" % (step, lost, lost_examples))

    def stale_window(self, t0):
        """(sorted keys, first s, last s after t0): the acknowledged (or
        preloaded) keys the loop read back missing since t0, and when the
        first and the last tick with a miss ended (0.0 when none)."""
        missed = [line for line in self.loop.since(t0) if line.get("miss")]
        if not missed:
            return [], 0.0, 0.0
        return (sorted({key for line in missed for key in line["miss"]}), missed[0]["t"] - t0,
                missed[-1]["t"] - t0)

    def settle(self):
        """Waits until the loop has served SETTLE_TICKS ticks in a row without
        an error or a miss: the failover and its stale window are over (a
        lost key leaves the loop's read-back after 2 s)."""
        def quiet():
            lines = self.loop.since(0)[-SETTLE_TICKS:]
            return len(lines) == SETTLE_TICKS and all(line["ok"] and not line.get("miss") for line in lines)
        netns.poll(quiet, 15, what="the client loop to run %d ticks without errors or misses" % SETTLE_TICKS)

    def converged(self, step, master, other):
        """Checks that both twins hold the same items with the same cas
        uniques (versions); returns how many. The loop keeps writing on the
        master, so what it wrote after the master was last seen caught up is
        left out."""
        last = max(line["set"] for line in self.loop.since(0) if "set" in line)
        self.replicated(other, master)
        self.replicated(master, other)
        dumps = [{k: v for k, v in node.metadump().items()
                  if not k.startswith("live%3A") or int(k[len("live%3A"):]) <= last} for node in (master, other)]
        differ = sorted(set(dumps[0].items()) ^ set(dumps[1].items()))
        expect(not differ, "step %s: the twins differ: %d vs %d items, e.g. %s" % (
            step, len(dumps[0]), len(dumps[1]), differ[:3]))
        return len(dumps[0])

    def lost(self, since):
        """(how many, up to 5 of them): live keys the loop had acknowledged
        since `since` that are not readable through the VIP now."""
        keys = ["live:%d" % line["set"] for line in self.loop.since(since) if "set" in line]
        if not keys:
            return 0, []
        result = self.pair.verify_keys(keys)
        return result["missing"] + result["wrong"], result["examples"]

    def verify_keys(self, step, prefix=PRELOAD_PREFIX, count=PRELOAD):
        result = self.pair.client("verify", prefix, count)
        say("step %s: read back %d/%d %s keys through the VIP (missing %d, wrong %d)" % (
            step, count - result["missing"] - result["wrong"], count, prefix, result["missing"],
            result["wrong"]))
        expect(result["missing"] == 0 and result["wrong"] == 0,
               "step %s: keys lost or damaged: %s" % (step, result))

    def replicated(self, src, dst):
        """Waits until `src` has no unacknowledged writes and `dst` holds at
        least as many items (async replication has caught up)."""
        def done():
            s, d = src.try_stats(), dst.try_stats()
            return (s and d and s.get("repl_lag_records") == "0" and
                    int(d["curr_items"]) >= int(s["curr_items"]))
        netns.poll(done, 15, what="replication %s -> %s to catch up" % (src.label(), dst.label()))

    # --- the steps ----------------------------------------------------------

    def setup(self):
        a, b = self.a, self.b
        self.pair.start(START, "--repl-sync-rate", SYNC_RATE_MBPS)
        self.transition(a, "BACKUP")
        self.transition(a, "MASTER")
        self.transition(b, "BACKUP")
        # A starting node goes FAULT (track file not ready) -> BACKUP once its
        # check passes, and never back: no flap.
        for node, states in ((a, ["FAULT", "BACKUP", "MASTER"]), (b, ["FAULT", "BACKUP"])):
            notified = [line[2] for line in node.notify_states()]
            expect(notified == states, "setup: %s's transitions %s, expected %s" % (node.label(), notified, states))
        say("setup: pair up (%s VRRP, --repl-ack %s); VIP on A, B BACKUP; no flap at start" % (
            "unicast" if self.pair.unicast else "multicast", "sync" if self.sync else "async"))

    def step1(self):
        result = self.pair.client("write", PRELOAD_PREFIX, PRELOAD)
        expect(result["failed"] == 0, "step 1: writes failed: %s" % result)
        say("step 1: client wrote %d keys through the VIP in %.2f s" % (PRELOAD, result["seconds"]))
        expect(self.pair.vip_holders() == ["a"], "step 1: VIP on %s, not A" % self.pair.vip_holders())
        self.role_is(self.a, "MASTER")
        self.role_is(self.b, "BACKUP")
        self.replicated(self.a, self.b)
        say("step 1: VIP on A, A's daemon reports MASTER, B's BACKUP; B has all %d keys" % PRELOAD)
        self.loop = self.pair.start_loop(PRELOAD_PREFIX, PRELOAD)
        self.first_op_on(self.a.daemon.pid, 0)

    def step2(self):
        a, b = self.a, self.b
        t0 = time.monotonic()
        a.signal_daemon(signal.SIGKILL)
        moved = self.pair.wait_vip_on("b", FAILOVER)
        first = self.first_op_on(b.daemon.pid, t0)
        self.transition(a, "FAULT")
        self.transition(b, "MASTER")
        netns.poll(lambda: a.track_state() == "1", 5,
                   what=lambda: "A's track file to say not ready (says %r)" % a.track_state())
        # Writes A acknowledged but had not yet shipped die with it (async);
        # with sync-ack every acknowledged write is on B.
        a.daemon.wait(timeout=5)
        self.report_failover(2, "kill -9 twincached on A", t0, moved, first, allow_misses=not self.sync)
        self.verify_keys(2)
        self.role_is(b, "MASTER")

    def step3(self):
        a, b = self.a, self.b
        t0 = time.monotonic()
        a.start_daemon("--repl-sync-rate", SYNC_RATE_MBPS)
        # Run A's check as keepalived does, next to `stats`: a check that ends
        # while stats still says pending ran entirely during the sync and must
        # have failed.
        # Its track file (which the probe here does not write) is read just
        # before `stats`: one that said ready before stats said pending let
        # keepalived out of FAULT too early.
        samples = []

        def synced_and_passing():
            code, reason = a.check()
            track = a.track_state()
            s = a.try_stats()
            samples.append((code, reason, s.get("repl_initial_sync") if s else None, track))
            return code == 0
        netns.poll(synced_and_passing, START, interval=0.02, what="A's check to pass after the restart")
        pending = [x for x in samples if x[2] == "pending"]
        wrong = [x for x in pending if x[0] == 0]
        ready_early = [x for x in pending if x[3] != "1"]
        say("step 3: A restarted; its check ran %d times before passing: %d failed (%s), %d of them while "
            "its initial sync was pending; passed %.2f s after the restart" % (
                len(samples), len(samples) - 1, "; ".join(sorted({x[1] for x in samples if x[0]})),
                len(pending), time.monotonic() - t0))
        expect(not wrong, "step 3: A's check passed while the initial sync was pending: %s" % wrong)
        expect(not ready_early, "step 3: A's track file did not say not ready while the initial sync was "
               "pending: %s" % ready_early)
        expect(pending, "step 3: never saw A's initial sync pending (sync too fast to observe)")
        expect(samples[-1][2] == "done", "step 3: A's check passed with sync %s" % samples[-1][2])
        backup = self.transition(a, "BACKUP")
        synced = a.initial_sync_times()[-1]
        say("step 3: A's initial sync done at %s, keepalived on A left FAULT (BACKUP) at %s" % (synced, backup[0]))
        # A BACKUP node may take the VIP the moment the master fails, so it
        # must not be one before its data is complete. The notify log's time
        # is when keepalived forked the hook, rounded down to the 10 ms clock
        # tick: one tick of slack.
        expect(iso_ms(backup[0]) >= iso_ms(synced) - 10,
               "step 3: keepalived on A left FAULT (BACKUP at %s) before A's initial sync was done (%s): had B "
               "failed then, the VIP would have gone to a half-synced node" % (backup[0], synced))
        watch_end = time.monotonic() + NOPREEMPT_WATCH
        while time.monotonic() < watch_end:  # a bounded observation window, not a synchronisation
            expect(self.pair.vip_holders() == ["b"], "step 3: VIP left B: now on %s" % self.pair.vip_holders())
            expect(a.last_notified_state() == "BACKUP", "step 3: A went %s" % a.last_notified_state())
            time.sleep(0.1)
        self.role_is(a, "BACKUP")
        self.replicated(b, a)
        errors, _, misses, _ = self.client_errors(t0, time.monotonic())
        say("step 3: A BACKUP with all data (%s items), VIP stays on B for %.0f s (nopreempt); "
            "client errors %d%s, misses %s" % (
                a.stats()["curr_items"], NOPREEMPT_WATCH, len(errors),
                "".join(" [+%.2f s %s]" % (e["t"] - t0, e["err"]) for e in errors[:3]), misses or "none"))
        expect(not errors and not misses, "step 3: the client saw errors/misses while A came back")

    def step4(self):
        a, b = self.a, self.b
        # The worst phase: the daemon hangs right after a passing check, so
        # the next check (a whole interval later) must run into its deadline.
        b.wait_check_done()
        t0 = time.monotonic()
        b.signal_daemon(signal.SIGSTOP)
        try:
            moved = self.pair.wait_vip_on("a", FAILOVER)
            first = self.first_op_on(a.daemon.pid, t0)
            self.transition(b, "FAULT")
            self.transition(a, "MASTER")
            # Async: writes B acknowledged but had not shipped wait in the
            # stopped process (not lost: checked after SIGCONT).
            self.report_failover(4, "SIGSTOP twincached on B (after a check)", t0, moved, first,
                                 allow_misses=not self.sync)
            self.verify_keys(4)
        finally:
            b.signal_daemon(signal.SIGCONT)
        self.transition(b, "BACKUP")
        self.role_is(a, "MASTER")
        self.role_is(b, "BACKUP")
        self.replicated(b, a)
        self.replicated(a, b)
        lost, examples = self.lost(t0 - 3.0)
        expect(lost == 0, "step 4: %d acknowledged writes lost after B continued: %s" % (lost, examples))
        items = self.converged(4, a, b)
        say("step 4: B continued, BACKUP again and caught up (no acknowledged write lost; twins converged, %d "
            "items); VIP stays on A" % items)

    def step5(self):
        a, b = self.a, self.b
        t0 = time.monotonic()
        a.signal_keepalived(signal.SIGTERM)
        moved = self.pair.wait_vip_on("b", FAILOVER)
        first = self.first_op_on(b.daemon.pid, t0)
        status = a.stop_keepalived()
        say("step 5: keepalived on A exited %s %.2f s after SIGTERM" % (status, time.monotonic() - t0))
        expect(status == 0, "step 5: keepalived on A exited %s" % status)
        self.transition(a, "STOP")
        self.transition(b, "MASTER")
        self.report_failover(5, "stop keepalived on the master (A)", t0, moved, first, allow_misses=False)
        expect(moved - t0 < 3.0, "step 5: VIP took %.2f s to move (priority-0 advert expected)" % (moved - t0))
        self.role_is(b, "MASTER")
        a.start_keepalived()
        self.transition(a, "BACKUP")
        self.role_is(a, "BACKUP")
        expect(self.pair.vip_holders() == ["b"], "step 5: VIP moved back to A on keepalived restart")
        say("step 5: keepalived on A started again: A BACKUP, VIP stays on B")

    def switchover(self, step, master, backup, how, start, end):
        prefix = "pre%s" % step
        written = self.pair.client("write", prefix, 1000)
        expect(written["failed"] == 0, "step %s: writes failed: %s" % (step, written))
        t0 = time.monotonic()
        start()
        moved = self.pair.wait_vip_on(backup.name, FAILOVER)
        first = self.first_op_on(backup.daemon.pid, t0)
        self.transition(master, "FAULT")
        self.transition(backup, "MASTER")
        self.report_failover(step, "planned switchover %s -> %s (%s)" % (master.label(), backup.label(), how),
                             t0, moved, first, allow_misses=False)
        self.verify_keys(step, prefix, 1000)
        self.verify_keys(step)
        end()
        self.transition(master, "BACKUP")
        self.role_is(master, "BACKUP")
        self.role_is(backup, "MASTER")
        say("step %s: maintenance off on %s: BACKUP again" % (step, master.label()))

    def step6(self):
        a, b = self.a, self.b

        def maintenance(node, enabled):
            status, body = node.admin("POST", "/maintenance", {"enabled": enabled})
            expect(status == 200 and body.get("maintenance") is enabled,
                   "POST /maintenance on %s: %s %s" % (node.label(), status, body))

        # Without the admin token a POST is refused and changes nothing.
        holders = self.pair.vip_holders()
        status, body = b.admin("POST", "/maintenance", {"enabled": True}, authenticated=False)
        expect(status == 401 and b.admin("GET", "/health")[1].get("maintenance") is not True,
               "step 6: an unauthenticated POST /maintenance on B answered %s %s" % (status, body))
        expect(self.pair.vip_holders() == holders, "step 6: the VIP moved after a refused POST")
        say("step 6: an unauthenticated POST /maintenance is refused (401); the VIP stays on %s" %
            "".join(holders).upper())
        self.switchover("6a", b, a, "POST /maintenance on B",
                        lambda: maintenance(b, True), lambda: maintenance(b, False))

        def touch():
            with open(a.maintenance_file, "w"):
                pass
        self.switchover("6b", a, b, "maintenance file on A", touch, lambda: os.unlink(a.maintenance_file))

    def step8(self):
        """Host death of the master (B) right after one of its adverts: A
        must wait out the master-down timer (3 adverts + skew). Then B comes
        back as after a reboot: empty, resyncs, BACKUP, and never flaps."""
        a, b = self.a, self.b
        expect(self.pair.vip_holders() == ["b"], "step 8: VIP on %s, not B" % self.pair.vip_holders())
        with self.pair.topology.advert_watch("b", b.address) as adverts:
            t0 = adverts.next(5)
            b.die()
        moved = self.pair.wait_vip_on("a", FAILOVER)
        first = self.first_op_on(a.daemon.pid, t0)
        self.transition(a, "MASTER")
        # Async: what B acknowledged and had not shipped died with it.
        self.report_failover(8, "host B dies (after an advert)", t0, moved, first, allow_misses=not self.sync)
        self.verify_keys(8)
        t1 = time.monotonic()
        b.reboot()
        self.transition(b, "FAULT")
        self.transition(b, "BACKUP")
        self.replicated(a, b)
        expect(self.pair.vip_holders() == ["a"], "step 8: VIP left A when B came back")
        since = [line[2] for line in b.notify_states()[self.seen["b"] - 2:]]
        expect(since == ["FAULT", "BACKUP"], "step 8: B's transitions after the reboot: %s" % since)
        say("step 8: B rebooted, resynced and BACKUP %.2f s later (FAULT -> BACKUP, no flap; twins converged, %d "
            "items); VIP stays on A" % (time.monotonic() - t1, self.converged(8, a, b)))

    def step9(self):
        """A partition of the master (A) right after one of its adverts: its
        port leaves the bridge, its link stays up. B takes the VIP and the
        clients' writes; A stays MASTER alone. When the partition heals the
        two masters resolve by priority: A takes the VIP back (with
        higher_prio_send_advert the clients follow at once), and B's
        partition-time writes reach A once the replication link redials."""
        a, b = self.a, self.b
        expect(self.pair.vip_holders() == ["a"], "step 9: VIP on %s, not A" % self.pair.vip_holders())
        with self.pair.topology.advert_watch("a", a.address) as adverts:
            t0 = adverts.next(5)
            self.pair.topology.cut("a")
        moved = self.pair.wait_vip_holders(["a", "b"], FAILOVER)  # isolated A keeps it too
        first = self.first_op_on(b.daemon.pid, t0)
        self.transition(b, "MASTER")
        # Async: what A acknowledged and had not shipped is cut off until the
        # heal (not lost: checked after it).
        self.report_failover(9, "partition: A's port leaves the bridge (after an advert)", t0, moved, first,
                             allow_misses=not self.sync, allow_lost=True)
        expect("a" in self.pair.vip_holders(), "step 9: isolated A dropped the VIP (it should stay MASTER)")
        time.sleep(max(0.0, t0 + PARTITION_S - time.monotonic()))  # the partition's length, not a wait for state
        heal = time.monotonic()
        self.pair.topology.heal("a")
        self.pair.wait_vip_on("a", FAILOVER)
        back = self.first_op_on(a.daemon.pid, heal)
        self.transition(b, "BACKUP")
        self.settle()
        errors, kinds, _, span = self.client_errors(heal, time.monotonic())
        misses, first_stale, stale_s = self.stale_window(heal)
        self.replicated(b, a)
        self.replicated(a, b)
        lost, examples = self.lost(t0 - 3.0)
        back_s = back["t"] - heal
        say("step 9 heal: clients served by A again %.2f s after the heal; client errors %d over %.2f s (%s); "
            "acknowledged keys missed %d, from %.2f s to %.2f s after the heal (stale window %.2f s); lost %d" % (
                back_s, len(errors), span, describe_kinds(kinds), len(misses), first_stale, stale_s,
                stale_s - first_stale, lost))
        self.results.append(("9h", "partition heals: A takes the VIP back", None, back_s, len(errors),
                             len(misses), lost, stale_s))
        expect(lost == 0, "step 9: %d acknowledged writes lost after the heal: %s" % (lost, examples))
        if not SANITIZED:
            expect(back_s <= HEAL_TARGET, "step 9: clients back %.2f s after the heal (target %.1f s)" % (
                back_s, HEAL_TARGET))
            expect(stale_s <= STALE_TARGET, "step 9: acknowledged writes invisible until %.2f s after the heal "
                   "(target %.1f s)" % (stale_s, STALE_TARGET))
        items = self.converged(9, a, b)
        self.role_is(a, "MASTER")
        self.role_is(b, "BACKUP")
        say("step 9: the twins converged (%d items, same keys and cas uniques); VIP on A" % items)

    def step7(self):
        for node in (self.a, self.b):
            lines = node.notify_states()
            notified = [line[2] for line in lines]
            logged = node.keepalived_states()
            say("step 7: %s notify.log: %s" % (node.label(), " ".join(notified)))
            expect(notified == logged,
                   "step 7: %s's notify log %s differs from the transitions keepalived logged %s" % (
                       node.label(), notified, logged))
            expect(is_subsequence(self.expected[node.name], notified),
                   "step 7: %s's transitions %s lack, in this order, the ones the steps waited for: %s" % (
                       node.label(), notified, self.expected[node.name]))
            times = [line[0] for line in lines]
            expect(times == sorted(times), "step 7: %s's notify log is out of time order" % node.label())
            expect(all(len(line) == 5 and line[1] == "VI_1" and line[3].isdigit() and line[4].isdigit()
                       for line in lines),
                   "step 7: %s's notify log lines malformed: %s" % (node.label(), lines))
        holders = self.pair.vip_holders()
        expect(len(holders) == 1, "step 7: VIP holders %s" % holders)
        for node in (self.a, self.b):
            self.role_is(node, "MASTER" if node.name == holders[0] else "BACKUP")
        say("step 7: every transition is in both notify logs in order; VIP on %s, its daemon MASTER, the "
            "other BACKUP" % holders[0].upper())

    def summary(self):
        say("\n%s VRRP, --repl-ack %s: fault -> VIP moved / first good client op; client errors; acknowledged "
            "keys missed; lost; stale until" % ("unicast" if self.pair.unicast else "multicast",
                                               "sync" if self.sync else "async"))
        for step, what, move_s, op_s, errors, misses, lost, stale_s in self.results:
            say("  step %-3s %-58s %s / %5.2f s, %3d errors, %3d missed, %d lost, stale %.2f s" % (
                step, what, "  -   " if move_s is None else "%4.2f s" % move_s, op_s, errors, misses, lost,
                stale_s))


def describe_kinds(kinds):
    """"TimeoutError x8, ConnectionResetError x1" from a Counter of error kinds."""
    return ", ".join("%s x%d" % kv for kv in kinds.most_common()) or "none"


def iso_ms(text):
    """Milliseconds since the epoch of an ISO-8601 UTC time with ms
    ("2026-11-30T04:22:27.224Z"), as the notify and daemon logs write it."""
    seconds = calendar.timegm(time.strptime(text[:19], "%Y-%m-%dT%H:%M:%S"))
    return seconds * 1000 + int(text[20:23])


def is_subsequence(needles, haystack):
    it = iter(haystack)
    return all(any(x == y for y in it) for x in needles)


def main():
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # ctest's timeout: still clean up
    sync = os.environ.get("TCSYS_ACK", "async") == "sync"
    pair = cluster.Pair(unicast=os.environ.get("TCSYS_UNICAST", "") not in ("", "0"),
                        templates=os.environ.get("TCSYS_TEMPLATES") or None,
                        daemon_args=["--repl-ack", "sync"] if sync else [])
    started = time.monotonic()
    try:
        try:
            pair.up()
        except netns.Unavailable as e:
            say("\n" + "*" * 78 + "\n*** SKIPPED: twincache system test (two nodes + keepalived in network "
                "namespaces)\n*** cannot create network namespaces here: %s\n*** run as root with "
                "CAP_NET_ADMIN to run it\n" % e + "*" * 78)
            return EXIT_SKIPPED
        run = Run(pair, sync)
        try:
            for step in (run.setup, run.step1, run.step2, run.step3, run.step4, run.step5, run.step6,
                         run.step8, run.step9, run.step7):
                step()
        except (Failure, TimeoutError, RuntimeError, OSError, subprocess.SubprocessError) as e:
            say("\nFAILED: %s" % e)
            if run.results:
                run.summary()
            pair.dump_logs()
            return 1
        run.summary()
        say("system test passed in %.0f s" % (time.monotonic() - started))
        return 0
    finally:
        pair.down()


if __name__ == "__main__":
    sys.exit(main())
