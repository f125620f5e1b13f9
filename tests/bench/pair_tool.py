"""Helpers of tests/bench/pair.sh that are easier in Python than in bash.

  pair_tool.py stats PORT NAME...           prints `stats` values NAME... (one a line)
  pair_tool.py wait PORT NAME VALUE SECONDS  polls `stats` until NAME is VALUE; exit 1 on timeout
  pair_tool.py load PORT COUNT SIZE [KEYLEN] stores COUNT items fs0000000... (KEYLEN bytes, default 9)
                                             of SIZE-byte values with pipelined noreply sets; prints
                                             the seconds taken
  pair_tool.py lag PORT_A PORT_B SECONDS     replication lag A -> B for SECONDS; prints a report

All servers are on 127.0.0.1. Every network wait is bounded.
"""

import socket
import sys
import multiprocessing
import time

TIMEOUT = 60.0


def connect(port):
    s = socket.create_connection(("127.0.0.1", port), timeout=TIMEOUT)
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return s


def read_until(sock, mark, buffer=b""):
    """Returns (bytes up to and including the first `mark`, the rest)."""
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
        if len(parts) == 3 and parts[0] == "STAT":
            out[parts[1]] = parts[2]
    return out


def load(port, count, size, key_length=9):
    filler = b"x" * max(0, size - 8)
    key_format = b"fs%%0%dd" % max(7, key_length - 2)
    started = time.monotonic()
    with connect(port) as s:
        batch = []
        for i in range(count):
            batch.append(b"set %s 0 0 %d noreply\r\n%08d%s\r\n" % (key_format % i, size, i, filler))
            if len(batch) == 5000:
                s.sendall(b"".join(batch))
                batch = []
        # `version` as the fence: every server answers it, after the sets before it.
        batch.append(b"version\r\n")
        s.sendall(b"".join(batch))
        reply, _ = read_until(s, b"\r\n")
        if not reply.startswith(b"VERSION "):
            raise SystemExit("load: the server answered %r" % reply[:200])
    print("%.2f" % (time.monotonic() - started))


def percentile(values, p):
    values = sorted(values)
    if not values:
        return float("nan")
    return values[min(len(values) - 1, int(round(p / 100.0 * (len(values) - 1))))]


def sample_lag(ports, stop, samples):
    """Puts `stats` repl_lag_ms of each port on `samples` every 100 ms until
    `stop` is set, then None."""
    while not stop.is_set():
        for port in ports:
            value = stats(port).get("repl_lag_ms")
            if value is not None:
                samples.put(int(value))
        stop.wait(0.1)
    samples.put(None)


def lag(port_a, port_b, seconds):
    """Two measurements for `seconds`:
    - probe: set a unique value on A; from A's STORED until B's `mg` returns
      it (polling B back to back, so the resolution is one mg round trip);
    - sampled: `stats` repl_lag_ms of A and B every 100 ms (the daemon's own
      estimate)."""
    # The sampler runs in a process of its own: as a thread it would hold the
    # GIL while it parses `stats`, and the probe thread, woken by B's reply,
    # would wait for it (up to sys.getswitchinterval(), 5 ms): that, not the
    # daemons, was the 3-4 ms p99 of an idle pair.
    stop = multiprocessing.Event()
    samples = multiprocessing.Queue()
    sampler = multiprocessing.Process(target=sample_lag, args=((port_a, port_b), stop, samples), daemon=True)
    sampler.start()
    probes = []
    timeouts = 0
    deadline = time.monotonic() + seconds
    with connect(port_a) as a, connect(port_b) as b:
        i = 0
        while time.monotonic() < deadline:
            key = b"lagprobe%d" % (i % 100)
            value = b"%d" % i
            a.sendall(b"set %s 0 0 %d\r\n%s\r\n" % (key, len(value), value))
            reply, _ = read_until(a, b"\r\n")
            if reply != b"STORED\r\n":
                raise SystemExit("lag: set answered %r" % reply)
            stored = time.monotonic()
            expected = b"VA %d\r\n%s\r\n" % (len(value), value)
            while True:
                b.sendall(b"mg %s v\r\n" % key)
                line, rest = read_until(b, b"\r\n")
                if line.startswith(b"VA"):
                    data, rest = read_until(b, b"\r\n", rest)
                    line += data
                if line == expected:
                    probes.append(time.monotonic() - stored)
                    break
                if time.monotonic() - stored > 10:
                    timeouts += 1
                    break
            i += 1
            time.sleep(0.005)  # pacing: about 200 probes a second
    stop.set()
    sampled = []
    while True:  # the sampler's values, until its end marker (None)
        value = samples.get(timeout=10)
        if value is None:
            break
        sampled.append(value)
    sampler.join(5)
    ms = [p * 1000 for p in probes]
    print("probe (set on A -> visible on B, %d probes, %d timed out): p50 %.3f ms  p99 %.3f ms  "
          "max %.3f ms" % (len(ms), timeouts, percentile(ms, 50), percentile(ms, 99),
                           max(ms) if ms else float("nan")))
    print("sampled stats repl_lag_ms of A and B every 100 ms (%d samples): p50 %s ms  p99 %s ms  "
          "max %s ms" % (len(sampled), percentile(sampled, 50), percentile(sampled, 99),
                         max(sampled) if sampled else "n/a"))


def main(argv):
    if len(argv) >= 3 and argv[0] == "stats":
        values = stats(int(argv[1]))
        for name in argv[2:]:
            print(values.get(name, "n/a"))
    elif len(argv) == 5 and argv[0] == "wait":
        port, name, value, seconds = int(argv[1]), argv[2], argv[3], float(argv[4])
        deadline = time.monotonic() + seconds
        while stats(port).get(name) != value:
            if time.monotonic() > deadline:
                sys.exit("wait: %s of port %d is not %s after %.0fs" % (name, port, value, seconds))
            time.sleep(0.005)  # polling interval: small beside a full sync's ~0.3 s
    elif len(argv) in (4, 5) and argv[0] == "load":
        load(*(int(x) for x in argv[1:]))
    elif len(argv) == 4 and argv[0] == "lag":
        lag(int(argv[1]), int(argv[2]), float(argv[3]))
    else:
        sys.exit(__doc__)


if __name__ == "__main__":
    main(sys.argv[1:])
