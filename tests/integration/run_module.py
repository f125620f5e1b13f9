#!/usr/bin/python3
"""Runs one integration test module as `python3 -m unittest -v MODULE` does,
but tells ctest when nothing ran: exit 77 (ctest's SKIP_RETURN_CODE, so the
test shows as skipped, not passed) when every test of the module was
skipped; 1 on any failure or error; 0 when at least one test ran and all
passed. Usage: run_module.py MODULE (from tests/integration)."""

import sys
import unittest

EXIT_SKIPPED = 77


def main(argv):
    if len(argv) != 1:
        print(__doc__, file=sys.stderr)
        return 2
    suite = unittest.defaultTestLoader.loadTestsFromName(argv[0])
    result = unittest.TextTestRunner(verbosity=2).run(suite)
    if not result.wasSuccessful():
        return 1
    if result.testsRun > 0 and len(result.skipped) == result.testsRun:
        print("run_module: every test of %s was skipped" % argv[0])
        return EXIT_SKIPPED
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
