#!/usr/bin/env python3
"""Starts the packaged twincached inside a package-test root and talks to it.

  daemon_probe.py --root ROOT --user twincache --port P --admin-port A -- PROGRAM [ARG...]

Runs PROGRAM (a path inside ROOT) chrooted into ROOT as USER, as
twincached.service would: NOTIFY_SOCKET names an abstract unix datagram socket
bound here (abstract names belong to the network namespace, which the root
shares, so no file needs to exist inside it). Then, each step bounded:
  1. READY=1 arrives (sd_notify) within 15 s;
  2. memcached set/get/version on 127.0.0.1:P;
  3. GET /health on 127.0.0.1:A answers 200 with a JSON body;
  4. the packaged twincache-check, run in ROOT, exits 0;
  5. SIGTERM: STOPPING=1 arrives and the daemon exits 0 within 10 s.
The daemon gets SIGKILL if this script dies (PR_SET_PDEATHSIG, set after the
identity change, which would clear it), and is killed on any failure.
Exit 0 when every step passed, 1 otherwise.
"""

import argparse
import ctypes
import json
import os
import select
import signal
import socket
import subprocess
import sys
import time
import urllib.request

PR_SET_PDEATHSIG = 1


def passwd_entry(root, user):
    """(uid, gid) of `user` in ROOT's /etc/passwd (not the host's)."""
    with open(os.path.join(root, "etc/passwd")) as f:
        for line in f:
            fields = line.rstrip("\n").split(":")
            if fields[0] == user:
                return int(fields[2]), int(fields[3])
    raise SystemExit("no user %s in %s/etc/passwd" % (user, root))


def become(root, uid, gid):
    """preexec_fn: chroot, drop to uid/gid, then ask for SIGKILL when the parent dies."""
    libc = ctypes.CDLL(None, use_errno=True)

    def child():
        os.chroot(root)
        os.chdir("/")
        os.setgroups([])
        os.setgid(gid)
        os.setuid(uid)
        libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL)

    return child


def wait_for_notify(sock, daemon, state, deadline_s):
    """Returns the first datagram holding `state` (e.g. READY=1), or raises.

    A daemon that has exited may still have datagrams queued (STOPPING=1 is
    sent just before a clean exit): those are read before its exit counts."""
    end = time.monotonic() + deadline_s
    while time.monotonic() < end:
        exited = daemon.poll() is not None
        timeout = 0 if exited else min(0.5, max(0.0, end - time.monotonic()))
        ready, _, _ = select.select([sock], [], [], timeout)
        if ready:
            message = sock.recv(4096).decode()
            print("probe: notify: %r" % message, flush=True)
            if state in message.split("\n"):
                return message
        elif exited:
            raise AssertionError("twincached exited with %d before %s" % (daemon.returncode, state))
    raise AssertionError("no %s within %d s" % (state, deadline_s))


def memcached_round_trip(port):
    with socket.create_connection(("127.0.0.1", port), timeout=5) as conn:
        conn.sendall(b"set pkgtest 0 0 5\r\nhello\r\nget pkgtest\r\nversion\r\n")
        expected_end = b"\r\nVERSION "
        reply = b""
        while expected_end not in reply or not reply.endswith(b"\r\n"):
            chunk = conn.recv(4096)
            if not chunk:
                break
            reply += chunk
    print("probe: memcached reply %r" % reply, flush=True)
    if not reply.startswith(b"STORED\r\nVALUE pkgtest 0 5\r\nhello\r\nEND\r\nVERSION "):
        raise AssertionError("unexpected memcached reply %r" % reply)


def health(admin_port):
    with urllib.request.urlopen("http://127.0.0.1:%d/health" % admin_port, timeout=5) as response:
        body = response.read().decode()
        print("probe: /health %d %s" % (response.status, body), flush=True)
        if response.status != 200:
            raise AssertionError("/health answered %d" % response.status)
        json.loads(body)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--root", required=True)
    parser.add_argument("--user", default="twincache")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--admin-port", type=int, required=True)
    parser.add_argument("command", nargs="+")
    args = parser.parse_args()
    uid, gid = passwd_entry(args.root, args.user)

    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    name = "twincache-pkgtest-%d" % os.getpid()
    sock.bind("\0" + name)
    env = {"PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "NOTIFY_SOCKET": "@" + name}
    print("probe: starting %s in %s as %s (uid %d)" % (" ".join(args.command), args.root, args.user, uid), flush=True)
    daemon = subprocess.Popen(args.command, env=env, preexec_fn=become(args.root, uid, gid))
    try:
        wait_for_notify(sock, daemon, "READY=1", 15)
        if os.stat("/proc/%d" % daemon.pid).st_uid != uid:
            raise AssertionError("twincached does not run as %s" % args.user)
        memcached_round_trip(args.port)
        health(args.admin_port)
        check = subprocess.run(["chroot", args.root, "/usr/libexec/twincache/twincache-check", "--port",
                                str(args.port), "--admin", "127.0.0.1:%d" % args.admin_port, "--verbose", "--quiet"],
                               capture_output=True, text=True, timeout=10)
        print("probe: twincache-check exit %d: %s%s" % (check.returncode, check.stdout, check.stderr), flush=True)
        if check.returncode != 0:
            raise AssertionError("twincache-check failed")
        daemon.send_signal(signal.SIGTERM)
        wait_for_notify(sock, daemon, "STOPPING=1", 10)
        code = daemon.wait(timeout=10)
        if code != 0:
            raise AssertionError("twincached exited %d after SIGTERM" % code)
        print("probe: ok: READY=1, memcached, /health, twincache-check, STOPPING=1, exit 0", flush=True)
        return 0
    except (AssertionError, OSError, subprocess.SubprocessError, ValueError) as e:
        print("probe: FAIL: %s" % e, file=sys.stderr, flush=True)
        return 1
    finally:
        if daemon.poll() is None:
            daemon.kill()
            daemon.wait()
        sock.close()


if __name__ == "__main__":
    sys.exit(main())
