"""A write the twin's store cannot hold is counted and logged, never dropped
silently (docs/replication.md, "Writes a twin cannot store").

Node A takes items up to 1 MB (-I 1m), node B only up to 64 KB (-I 64k): a
256 KB value set on A is refused by B's store. B counts it in
repl_apply_errors (stats; /metrics has it as twincache_repl_apply_errors_total), logs one repl_apply_error line with
the key's length, the value's size and the reason, and no longer serves the
older value it held for that key (as memcached frees the old item when a set
fails). The link stays up and later writes keep flowing.
"""

import unittest

from pair import PairTestCase, item, set_value

BIG = 256 * 1024


class RefusedWriteTest(PairTestCase):
    PAIR_B_ARGS = ("-I", "64k")

    def test_refused_write_is_counted_logged_and_not_served_stale(self):
        a, b = self.pair.nodes
        ca = self.conn(a)
        set_value(ca, "big", b"old value")
        self.wait_item(b, "big", b"old value")
        before = b.stat_int("repl_apply_errors")
        set_value(ca, "big", b"x" * BIG)
        set_value(ca, "after", b"still flowing")
        self.wait_item(b, "after", b"still flowing")
        self.assertEqual(b.stat_int("repl_apply_errors"), before + 1)
        self.assertIsNone(item(b, "big"), "B still serves the value A overwrote")
        self.assertEqual(item(a, "big")[2], b"x" * BIG)
        self.assertIsNotNone(b.wait_log(r"event=repl_apply_error .*reason=\"too large\" key_bytes=3 "
                                        r"value_bytes=%d " % BIG), b.log_tail())
        self.assertEqual(b.stats()["repl_state"], "connected")
        self.assertEqual(a.stat_int("repl_apply_errors"), 0)


if __name__ == "__main__":
    unittest.main()
