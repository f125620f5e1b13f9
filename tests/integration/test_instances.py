"""Several twincached instances on one host, as memcached and repcached users
run them: started with only -p different, each must run and serve, and each
gets its own admin endpoint (127.0.0.1 and the client port + 2, so 11211
keeps 11213). No --admin-listen is given here, on purpose."""

import socket
import subprocess
import tempfile
import time
import unittest

from harness import START_TIMEOUT, STOP_TIMEOUT, base_args, free_port, http_json, twincache_only, RawConn


def port_with_admin_free():
    """A free port P whose P + 2 is free too (a few tries; the kernel hands
    out ports at random)."""
    for _ in range(50):
        port = free_port()
        if port > 65533:
            continue
        with socket.socket() as probe:
            try:
                probe.bind(("127.0.0.1", port + 2))
            except OSError:
                continue
        return port
    raise RuntimeError("no free port P with P + 2 free")


@twincache_only
class SeveralInstancesTest(unittest.TestCase):
    def start(self, port):
        log = tempfile.TemporaryFile()
        proc = subprocess.Popen(base_args(port, admin=False) + ["-m", "16", "-t", "1"],
                                stdin=subprocess.DEVNULL, stdout=log, stderr=log)
        self.addCleanup(self.stop, proc, log)
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                log.seek(0)
                self.fail("instance on %d exited %d: %s" % (port, proc.returncode, log.read().decode()))
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                    return proc
            except OSError:
                time.sleep(0.01)  # polling interval, not synchronisation
        self.fail("instance on %d did not accept within %.0f s" % (port, START_TIMEOUT))

    @staticmethod
    def stop(proc, log):
        proc.terminate()
        try:
            proc.wait(STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        log.close()

    def test_two_instances_with_only_the_port_different(self):
        first = port_with_admin_free()
        second = port_with_admin_free()
        while second in (first, first + 2, first - 2):
            second = port_with_admin_free()
        procs = [self.start(first), self.start(second)]
        for port, value in ((first, b"one"), (second, b"two")):
            with RawConn(port) as c:
                self.assertEqual(c.request(b"set which 0 0 3\r\n" + value + b"\r\n"), b"STORED\r\n")
        for port, value in ((first, b"one"), (second, b"two")):
            with RawConn(port) as c:
                self.assertEqual(c.request(b"get which\r\n", b"END\r\n"),
                                 b"VALUE which 0 3\r\n" + value + b"\r\nEND\r\n")
            status, stats = http_json(port + 2, "/stats")
            self.assertEqual(status, 200)
            self.assertEqual(stats["curr_items"], "1")
        self.assertTrue(all(p.poll() is None for p in procs))


if __name__ == "__main__":
    unittest.main()
