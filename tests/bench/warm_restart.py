#!/usr/bin/python3
"""Warm restart benchmark (not a test): how fast twincached saves and loads its
memory file (-e), and how long a node of a pair takes from restart to ready
after being down under writes, warm (memory file, partial sync) against cold
(no file, full sync), side by side.

Usage: tests/bench/warm_restart.py [path/to/twincached]
  The binary defaults to $TWINCACHED, then build/daemon/twincached.
  WARM_ITEMS (default 1000000)    items of WARM_VALUE_SIZE (default 100) bytes
  WARM_DOWN_SECONDS (default 10)  how long the node stays down under writes

1. Save and load: a standalone node (-m 2048) holds WARM_ITEMS items; SIGTERM
   writes the file, a start loads it. The daemon logs both with their times
   (event=memory_file_saved, event=warm_start); MB/s are of item data (key +
   value bytes) and of file bytes.
2. Restart to ready: a pair A <-> B, WARM_ITEMS items loaded on A and synced
   to B. B stops, stays down WARM_DOWN_SECONDS while a writer keeps setting
   keys on A, then starts; the time from B's start until B reports
   repl_initial_sync done (what keeps it off the VIP) is measured. Warm: B
   stopped with SIGTERM (writes its file). Cold: B killed with SIGKILL (no
   file). Each is run once; B's item count at ready is shown.

Prints a report on stdout. Every wait is bounded.
"""

import os
import re
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
TIMEOUT = 120.0
KEY_FORMAT = b"wr%08d"  # 10-byte keys


def binary():
    if len(sys.argv) > 1:
        return os.path.abspath(sys.argv[1])
    return os.path.abspath(os.environ.get("TWINCACHED",
                                          os.path.join(HERE, "..", "..", "build", "daemon", "twincached")))


def free_ports(count):
    socks = []
    try:
        for _ in range(count):
            s = socket.socket()
            s.bind(("127.0.0.1", 0))
            socks.append(s)
        return [s.getsockname()[1] for s in socks]
    finally:
        for s in socks:
            s.close()


def connect(port):
    deadline = time.monotonic() + TIMEOUT
    while True:
        try:
            s = socket.create_connection(("127.0.0.1", port), timeout=TIMEOUT)
            s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            return s
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.01)


def read_until(sock, mark, buffer=b""):
    while mark not in buffer:
        chunk = sock.recv(1 << 16)
        if not chunk:
            raise ConnectionError("closed by the server")
        buffer += chunk
    i = buffer.index(mark) + len(mark)
    return buffer[:i], buffer[i:]


def stats(port):
    with connect(port) as s:
        s.sendall(b"stats\r\n")
        text, _ = read_until(s, b"END\r\n")
    out = {}
    for line in text.decode().split("\r\n"):
        parts = line.split(" ", 2)
        if len(parts) == 3:
            out[parts[1]] = parts[2]
    return out


def load(port, count, size):
    value = b"v" * size
    with connect(port) as s:
        batch = []
        for i in range(count):
            batch.append(b"set %s 0 0 %d noreply\r\n%s\r\n" % (KEY_FORMAT % i, size, value))
            if len(batch) == 5000:
                s.sendall(b"".join(batch))
                batch = []
        batch.append(b"mn\r\n")
        s.sendall(b"".join(batch))
        read_until(s, b"MN\r\n")


def poll(predicate, what, timeout=TIMEOUT, interval=0.01):
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise RuntimeError("timed out waiting for " + what)
        time.sleep(interval)


class Node:
    def __init__(self, name, args, port):
        self.name = name
        self.args = args
        self.port = port
        self.proc = None
        self.log_path = None

    def start(self):
        fd, self.log_path = tempfile.mkstemp(prefix="warm-bench-%s-" % self.name, suffix=".log")
        started = time.monotonic()
        self.proc = subprocess.Popen([binary(), "-p", str(self.port), "-l", "127.0.0.1"] + self.args,
                                     stdin=subprocess.DEVNULL, stdout=fd, stderr=fd)
        os.close(fd)
        return started

    def log(self):
        with open(self.log_path, errors="replace") as f:
            return f.read()

    def wait_log(self, pattern):
        regex = re.compile(pattern)
        return poll(lambda: regex.search(self.log()), pattern)

    def stop(self, sig=signal.SIGTERM):
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(sig)
            self.proc.wait(TIMEOUT)
        return self.log()

    def cleanup(self):
        self.stop(signal.SIGKILL)
        if self.log_path:
            os.unlink(self.log_path)


def field(match_text, name):
    return int(re.search(r"\b%s=(\d+)" % name, match_text).group(1))


def save_and_load(items, size, directory):
    (port,) = free_ports(1)
    path = os.path.join(directory, "standalone.state")
    node = Node("standalone", ["-m", "2048", "-e", path, "--admin-listen", "off"], port)
    try:
        node.start()
        load(port, items, size)
        node.stop()
        saved = node.wait_log(r"event=memory_file_saved .*").group(0)
        node.start()
        loaded = node.wait_log(r"event=warm_start .*").group(0)
        poll(lambda: stats(port)["curr_items"] == str(items), "all items loaded")
    finally:
        node.cleanup()
    data = items * (len(KEY_FORMAT % 0) + size)
    print("1. memory file, %d items of %d bytes (%.1f MB of item data)" % (items, size, data / 1e6))
    for what, line in (("save", saved), ("load", loaded)):
        ms = max(field(line, "ms"), 1)
        print("   %-4s %6d ms  %7.0f MB/s of item data  %7.0f MB/s of file (%d bytes)" %
              (what, ms, data / 1e3 / ms, field(line, "file_bytes") / 1e3 / ms, field(line, "file_bytes")))


class Writer(threading.Thread):
    """Sets keys wdNNN on `port` back to back (one at a time) until stopped."""

    def __init__(self, port):
        super().__init__(daemon=True)
        self.port = port
        self.count = 0
        self.stopping = threading.Event()

    def run(self):
        with connect(self.port) as s:
            rest = b""
            while not self.stopping.is_set():
                s.sendall(b"set wd%d 0 0 5\r\nvalue\r\n" % self.count)
                _, rest = read_until(s, b"\r\n", rest)
                self.count += 1

    def stop(self):
        self.stopping.set()
        self.join(TIMEOUT)
        return self.count


def restart_to_ready(items, size, down_s, directory):
    port_a, port_b, repl_a, repl_b = free_ports(4)
    common = ["-m", "2048", "--admin-listen", "off", "-x", "127.0.0.1"]
    a = Node("A", common + ["-X", "%d:%d" % (repl_a, repl_b), "-e", os.path.join(directory, "a.state")],
             port_a)
    b = Node("B", common + ["-X", "%d:%d" % (repl_b, repl_a), "-e", os.path.join(directory, "b.state")],
             port_b)
    results = {}
    try:
        a.start()
        b.start()
        poll(lambda: stats(port_b)["repl_initial_sync"] == "done", "B's first sync")
        load(port_a, items, size)
        poll(lambda: int(stats(port_b)["curr_items"]) >= items, "B holds the load", interval=0.1)
        for mode in ("warm", "cold"):
            writer = Writer(port_a)
            writer.start()
            full_before = int(stats(port_a)["repl_full_syncs"])
            b.stop(signal.SIGTERM if mode == "warm" else signal.SIGKILL)
            stopped_writes = writer.count
            time.sleep(down_s)  # the downtime being measured, not a synchronisation
            missed = writer.count - stopped_writes
            started = b.start()
            poll(lambda: stats(port_b)["repl_initial_sync"] == "done", "B ready", interval=0.005)
            ready_s = time.monotonic() - started
            st = stats(port_b)
            writer.stop()
            line = b.wait_log(r"event=(warm_start|cold_start) .*").group(0)
            results[mode] = {
                "ready_s": ready_s,
                "items": int(st["curr_items"]),
                "missed": missed,
                "full": int(stats(port_a)["repl_full_syncs"]) - full_before,
                "load_ms": field(line, "ms") if mode == "warm" else 0,
            }
    finally:
        a.cleanup()
        b.cleanup()
    print("2. restart to ready (repl_initial_sync done) of node B, %d items, down %d s "
          "under writes on A" % (items, down_s))
    print("   %-5s %9s %12s %15s %12s %14s" % ("", "ready", "file load", "writes missed", "items at",
                                              "A sent"))
    for mode in ("warm", "cold"):
        r = results[mode]
        print("   %-5s %8.2fs %10d ms %15d %12d %14s" %
              (mode, r["ready_s"], r["load_ms"], r["missed"], r["items"],
               "full sync" if r["full"] else "partial sync"))


def main():
    items = int(os.environ.get("WARM_ITEMS", "1000000"))
    size = int(os.environ.get("WARM_VALUE_SIZE", "100"))
    down_s = float(os.environ.get("WARM_DOWN_SECONDS", "10"))
    print("twincached: %s" % binary())
    print("load average: %s" % open("/proc/loadavg").read().strip())
    with tempfile.TemporaryDirectory(prefix="warm-bench-") as directory:
        save_and_load(items, size, directory)
        restart_to_ready(items, size, down_s, directory)


if __name__ == "__main__":
    main()
