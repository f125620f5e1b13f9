"""Per-class slab and item statistics (memcached protocol.txt, "Slab
statistics" and "Item statistics"), as memcached-tool and monitoring plugins
read them:

- an empty server prints only the totals of `stats slabs` (active_slabs 0,
  total_malloced 0) and nothing for `stats items`;
- items of two very different sizes make two classes, each with its
  `<id>:chunk_size ...` and `items:<id>:number ...` lines: ids and chunk sizes
  ascend together, total_chunks = total_pages * chunks_per_page, used +
  free = total, used_chunks >= number, every class with items has pages, and
  the per-class item counts add up to curr_items;
- a delete gives its chunk back at once;
- evictions are counted in the class that evicted, adding up to `evictions`;
- the binary protocol's Stat "slabs" and "items" give the same stats.

Runs against Debian's memcached 1.6.18 too (TWINCACHE_REFERENCE=1); what only
twincached does (its exact set of lines) is @twincache_only.
"""

import re
import unittest

import harness
from clients import binary_request, read_binary_response
from harness import Server, read_stats, twincache_only

STAT = 0x10  # memcached protocol_binary.h, "Command opcodes": Stat
SUCCESS = 0x00

# The per-class lines memcached 1.6 prints and twincached prints too.
SLAB_FIELDS = {"chunk_size", "chunks_per_page", "total_pages", "total_chunks", "used_chunks",
               "free_chunks", "free_chunks_end"}
ITEM_FIELDS = {"number", "evicted", "evicted_unfetched", "expired_unfetched", "reclaimed",
               "outofmemory"}

SMALL_VALUE = b"0123456789"
BIG_VALUE = b"b" * 100000
SMALL_COUNT = 20
BIG_COUNT = 3
# Values of the eviction test and how many of them fill a 2 MiB cache twice.
EVICT_VALUE = b"e" * 1000
EVICT_COUNT = 5000
# Requests sent before their replies are read.
PIPELINE = 200


def per_class(report, prefix=""):
    """{class id: {field: int}} of the "<prefix><id>:<field>" stats of `report`,
    and the other stats as {name: value}."""
    classes = {}
    totals = {}
    pattern = re.compile(r"^%s(\d+):(\w+)$" % re.escape(prefix))
    for name, value in report.items():
        match = pattern.match(name)
        if match:
            classes.setdefault(int(match.group(1)), {})[match.group(2)] = int(value)
        else:
            totals[name] = value
    return classes, totals


def set_many(conn, keys, value):
    """Stores `value` under every key of `keys`, PIPELINE requests at a time."""
    keys = list(keys)
    for start in range(0, len(keys), PIPELINE):
        batch = keys[start:start + PIPELINE]
        conn.send(b"".join(b"set %s 0 0 %d\r\n%s\r\n" % (key, len(value), value) for key in batch))
        for key in batch:
            reply = conn.read_line()
            if reply != b"STORED\r\n":
                raise AssertionError("set %r: %r" % (key, reply))


def binary_report(test, conn, group):
    """The stats of the binary Stat `group`, as {name: value string}."""
    conn.send(binary_request(STAT, group))
    out = {}
    while True:
        response = read_binary_response(conn)
        test.assertEqual(response.status, SUCCESS, response)
        if not response.key:
            return out
        out[response.key.decode()] = response.value.decode()


class SlabsServerTestCase(unittest.TestCase):
    """One fresh server per test: the figures depend on everything stored."""

    def setUp(self):
        self.server = Server(self.server_args()).start()
        self.addCleanup(self.server.stop)
        self.conn = self.server.connect()
        self.addCleanup(self.conn.close)

    def server_args(self):
        return []

    def store_two_sizes(self):
        set_many(self.conn, (b"small%03d" % i for i in range(SMALL_COUNT)), SMALL_VALUE)
        set_many(self.conn, (b"big%03d" % i for i in range(BIG_COUNT)), BIG_VALUE)

    def assert_consistent(self):
        """Checks what holds of every report of a quiet server; returns
        (slab classes, item classes, slab totals)."""
        slabs, slab_totals = per_class(read_stats(self.conn, "slabs"))
        items, item_totals = per_class(read_stats(self.conn, "items"), "items:")
        self.assertEqual(item_totals, {})
        self.assertEqual(set(slab_totals), {"active_slabs", "total_malloced"})
        self.assertEqual(int(slab_totals["active_slabs"]), len(slabs))
        previous_size = 0
        page_bytes = 0
        for cls in sorted(slabs):
            figures = slabs[cls]
            self.assertLessEqual(SLAB_FIELDS, set(figures), cls)
            self.assertGreater(figures["chunk_size"], previous_size, cls)  # ascending with the id
            previous_size = figures["chunk_size"]
            self.assertGreater(figures["total_pages"], 0, cls)
            self.assertEqual(figures["total_chunks"], figures["total_pages"] * figures["chunks_per_page"], cls)
            self.assertEqual(figures["used_chunks"] + figures["free_chunks"], figures["total_chunks"], cls)
            self.assertLessEqual(figures["free_chunks_end"], figures["free_chunks"], cls)
            page_bytes += figures["total_pages"] * figures["chunks_per_page"] * figures["chunk_size"]
        self.assertLessEqual(page_bytes, int(slab_totals["total_malloced"]))
        for cls, figures in items.items():
            self.assertLessEqual(ITEM_FIELDS, set(figures), cls)
            self.assertIn(cls, slabs)  # a class with items has pages
            self.assertGreater(figures["number"], 0, cls)  # classes without items are left out
            self.assertGreaterEqual(slabs[cls]["used_chunks"], figures["number"], cls)
            self.assertLessEqual(figures["evicted_unfetched"], figures["evicted"], cls)
        general = read_stats(self.conn)
        self.assertEqual(sum(figures["number"] for figures in items.values()), int(general["curr_items"]))
        self.assertEqual(sum(figures["evicted"] for figures in items.values()), int(general["evictions"]))
        return slabs, items, slab_totals


class StatsSlabsTest(SlabsServerTestCase):

    def test_empty_server_prints_only_the_totals(self):
        self.conn.send(b"stats slabs\r\n")
        self.assertEqual(self.conn.read_until(b"END\r\n"),
                         b"STAT active_slabs 0\r\nSTAT total_malloced 0\r\nEND\r\n")
        self.assertEqual(self.conn.request(b"stats items\r\n", b"END\r\n"), b"END\r\n")

    def test_two_sizes_make_two_classes(self):
        self.store_two_sizes()
        slabs, items, totals = self.assert_consistent()
        self.assertEqual(len(items), 2, items)
        small, big = sorted(items)
        self.assertEqual(items[small]["number"], SMALL_COUNT)
        self.assertEqual(items[big]["number"], BIG_COUNT)
        self.assertGreaterEqual(slabs[big]["chunk_size"], len(BIG_VALUE))
        self.assertLess(slabs[small]["chunk_size"], 200)
        self.assertEqual(int(totals["active_slabs"]), 2)
        self.assertGreaterEqual(int(totals["total_malloced"]), 2 << 20)

        # A delete frees its chunk at once; the class stays, with its page.
        self.assertEqual(self.conn.request(b"delete small000\r\n"), b"DELETED\r\n")
        slabs_after, items_after, _ = self.assert_consistent()
        self.assertEqual(items_after[small]["number"], SMALL_COUNT - 1)
        self.assertEqual(slabs_after[small]["used_chunks"], slabs[small]["used_chunks"] - 1)
        self.assertEqual(slabs_after[small]["total_pages"], slabs[small]["total_pages"])

    def test_binary_stat_gives_the_same_stats(self):
        self.store_two_sizes()
        for group in ("slabs", "items"):
            text = read_stats(self.conn, group)
            with self.server.connect() as binary:
                self.assertEqual(binary_report(self, binary, group.encode()), text, group)

    @twincache_only
    def test_exactly_the_documented_lines(self):
        # memcached prints more (the per-command counters of `stats slabs`,
        # its segmented LRU's lines in `stats items`); twincached these.
        self.store_two_sizes()
        slabs, items, totals = self.assert_consistent()
        for figures in slabs.values():
            self.assertEqual(set(figures), SLAB_FIELDS)
            self.assertEqual(figures["chunks_per_page"], (1 << 20) // figures["chunk_size"])
        for figures in items.values():
            self.assertEqual(set(figures), ITEM_FIELDS)
        self.assertEqual(int(totals["total_malloced"]), sum(f["total_pages"] for f in slabs.values()) << 20)


class StatsSlabsEvictionTest(SlabsServerTestCase):
    """A cache of 2 MiB that must evict."""

    def server_args(self):
        return ["-m", "2"]

    def test_evictions_are_counted_in_their_class(self):
        set_many(self.conn, (b"evict%05d" % i for i in range(EVICT_COUNT)), EVICT_VALUE)
        _, items, _ = self.assert_consistent()
        evicting = [cls for cls, figures in items.items() if figures["evicted"] > 0]
        self.assertEqual(len(evicting), 1, items)
        figures = items[evicting[0]]
        self.assertEqual(figures["evicted_unfetched"], figures["evicted"])  # none was read
        self.assertLess(figures["number"], EVICT_COUNT)


if __name__ == "__main__":
    unittest.main()
