"""libmemcached's conformance checker, memccapable, in ASCII mode.

memccapable -a runs 27 ASCII protocol cases (version, quit, verbosity, the
storage commands with and without noreply, get/gets/mget, flush, cas,
delete, incr/decr, append/prepend, stat) and prints "[pass]" or "[FAIL]".
"""

import shutil
import subprocess
import unittest

from harness import ServerTestCase

MEMCCAPABLE = shutil.which("memccapable") or "/usr/bin/memccapable"
ASCII_CASES = 27


class MemccapableTest(ServerTestCase):

    def test_all_ascii_cases_pass(self):
        result = subprocess.run(
            [MEMCCAPABLE, "-h", "127.0.0.1", "-p", str(self.server.port), "-a", "-t", "5"],
            capture_output=True, text=True, timeout=120, stdin=subprocess.DEVNULL)
        print(result.stdout)
        print(result.stderr)
        lines = result.stdout.splitlines()
        passed = [l for l in lines if l.rstrip().endswith("[pass]")]
        failed = [l for l in lines if "[FAIL]" in l]
        self.assertEqual(failed, [])
        self.assertEqual(len(passed), ASCII_CASES, result.stdout)
        self.assertEqual(result.returncode, 0, result.stdout + result.stderr)
        self.assertTrue(self.server.alive(), self.server.stderr_text())


if __name__ == "__main__":
    unittest.main()
