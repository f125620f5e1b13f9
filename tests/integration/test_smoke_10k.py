"""Smoke test (also the README demo): 10,000 keys stored and read back.

Uses pymemcache's set_many/get_many the way an application would.
"""

import unittest

from harness import ServerTestCase, read_stats

KEYS = 10000
CHUNK = 500


class Smoke10kTest(ServerTestCase):

    def test_store_and_read_back_10k_keys(self):
        mc = self.client(default_noreply=False)
        items = {"smoke:%05d" % i: ("value-%d-" % i).encode() * 4 for i in range(KEYS)}
        keys = list(items)
        for start in range(0, KEYS, CHUNK):
            failed = mc.set_many({k: items[k] for k in keys[start:start + CHUNK]})
            self.assertEqual(failed, [])
        got = {}
        for start in range(0, KEYS, CHUNK):
            got.update(mc.get_many(keys[start:start + CHUNK]))
        self.assertEqual(len(got), KEYS)
        self.assertEqual(got, items)
        stats = read_stats(self.conn())
        self.assertGreaterEqual(int(stats["curr_items"]), KEYS)
        self.assertEqual(int(stats["evictions"]), 0)
        print("stored and read back %d keys; curr_items=%s bytes=%s" %
              (KEYS, stats["curr_items"], stats["bytes"]))


if __name__ == "__main__":
    unittest.main()
