"""The memcached binary protocol on raw sockets: every opcode twincached
serves, byte for byte as memcached 1.6.18's proto_bin.c answers it.

Each request is built by hand (clients.binary_request, or HEADER for
malformed ones) and each response read and compared field by field: status
and error message, opaque echoed, cas returned and checked, quiet opcodes
silent on success (a Noop after them proves it), GetQ/GetKQ/GATQ silent on a
miss, errors always sent. Malformed packets (bad magic, inconsistent
lengths, a key over 250 bytes, wrong extras) get memcached's answer and close.
A value over -I is answered before it is even sent, so the server cannot be
buffering it. -B ascii|binary|auto and stats settings' binding_protocol are
checked too, and, with a replication pair, that binary writes reach the twin
(also under --repl-ack sync). Real client libraries are in
test_binary_clients.py.

Everything here also runs against Debian's memcached (TWINCACHE_REFERENCE=1)
except what is marked @twincache_only: the replication tests, and what
twincached deliberately does differently (documented at each test).
"""

import socket
import struct
import unittest

from clients import HEADER, REQUEST_MAGIC, RESPONSE_MAGIC, binary_request, read_binary_response
from harness import (ConnectionClosed, Server, ServerTestCase, poll_until, read_stats,
                     twincache_only)
from pair import PairTestCase, item

# memcached protocol_binary.h "Command opcodes".
GET, SET, ADD, REPLACE, DELETE, INCREMENT, DECREMENT, QUIT, FLUSH = range(0x00, 0x09)
GETQ, NOOP, VERSION, GETK, GETKQ, APPEND, PREPEND, STAT = range(0x09, 0x11)
SETQ, ADDQ, REPLACEQ, DELETEQ, INCREMENTQ, DECREMENTQ, QUITQ, FLUSHQ = range(0x11, 0x19)
APPENDQ, PREPENDQ, VERBOSITY, TOUCH, GAT, GATQ = range(0x19, 0x1F)
SASL_LIST_MECHS, SASL_AUTH, SASL_STEP, GATK, GATKQ = range(0x20, 0x25)

# "Response status" and memcached's message for each (write_bin_error).
SUCCESS = 0x00
KEY_ENOENT = 0x01
KEY_EEXISTS = 0x02
E2BIG = 0x03
EINVAL = 0x04
NOT_STORED = 0x05
DELTA_BADVAL = 0x06
UNKNOWN_COMMAND = 0x81
MESSAGES = {
    KEY_ENOENT: b"Not found",
    KEY_EEXISTS: b"Data exists for key.",
    E2BIG: b"Too large.",
    EINVAL: b"Invalid arguments",
    NOT_STORED: b"Not stored.",
    DELTA_BADVAL: b"Non-numeric server-side value for incr or decr",
    UNKNOWN_COMMAND: b"Unknown command",
}

NO_AUTO_CREATE = 0xFFFFFFFF  # Increment/Decrement expiration: fail on a miss
ITEM_SIZE_MAX = 1 << 20  # -I of the harness's default configuration
# Seconds allowed for an expiry or a delayed flush to show.
EXPIRY_TIMEOUT = 5.0


def storage_extras(flags=0, exptime=0):
    return struct.pack(">II", flags, exptime)


def arithmetic_extras(delta, initial=0, exptime=0):
    return struct.pack(">QQI", delta, initial, exptime)


def expiration_extras(exptime):
    return struct.pack(">I", exptime)


def raw_header(opcode, keylen=0, extlen=0, bodylen=0, opaque=0, magic=REQUEST_MAGIC):
    """A header whose lengths need not match what follows it."""
    return HEADER.pack(magic, opcode, keylen, extlen, 0, 0, bodylen, opaque, 0)


def flags_of(response):
    return struct.unpack(">I", response.extras)[0]


def counter_of(response):
    return struct.unpack(">Q", response.value)[0]


class BinaryTestCase(ServerTestCase):
    """Helpers over a raw connection: one request, one response."""

    def call(self, conn, opcode, key=b"", extras=b"", value=b"", opaque=0, cas=0):
        conn.send(binary_request(opcode, key, extras, value, opaque, cas))
        return read_binary_response(conn)

    def set(self, conn, key, value, flags=0, exptime=0):
        """A Set that must succeed; returns the cas unique."""
        response = self.call(conn, SET, key, storage_extras(flags, exptime), value)
        self.assertEqual(response.status, SUCCESS, response)
        return response.cas

    def value(self, conn, key):
        """The value of `key` by a Get, or None on a miss."""
        response = self.call(conn, GET, key)
        return response.value if response.status == SUCCESS else None

    def assert_response(self, response, opcode, status=SUCCESS, value=b"", key=b"", extras=b"",
                        opaque=0):
        self.assertEqual((response.magic, response.opcode, response.status, response.key,
                          response.extras, response.value, response.opaque),
                         (RESPONSE_MAGIC, opcode, status, key, extras, value, opaque), response)

    def assert_error(self, response, opcode, status, opaque=0):
        """memcached's error response: status, its message, no extras or key, cas 0."""
        self.assert_response(response, opcode, status, MESSAGES[status], opaque=opaque)
        self.assertEqual(response.cas, 0, response)

    def assert_silent(self, conn, *requests):
        """Sends `requests` then a Noop; the Noop's response must come first."""
        conn.send(b"".join(requests) + binary_request(NOOP, opaque=0xC0FFEE))
        self.assert_response(read_binary_response(conn), NOOP, opaque=0xC0FFEE)

    def assert_closed_silently(self, conn):
        self.assertEqual(conn.read_eof(), b"")


class BinaryCommandsTest(BinaryTestCase):

    def test_get_family_hit_and_miss(self):
        c = self.conn()
        self.assert_error(self.call(c, GET, b"bin-g", opaque=0xA1B2C3D4), GET, KEY_ENOENT,
                          opaque=0xA1B2C3D4)
        # GetK's miss carries the key and no message.
        self.assert_response(self.call(c, GETK, b"bin-g", opaque=2), GETK, KEY_ENOENT, key=b"bin-g",
                             opaque=2)
        self.assert_silent(c, binary_request(GETQ, b"bin-g"), binary_request(GETKQ, b"bin-g"))
        cas = self.set(c, b"bin-g", b"hello", flags=0xDEADBEEF)
        for opcode, key in ((GET, b""), (GETQ, b""), (GETK, b"bin-g"), (GETKQ, b"bin-g")):
            response = self.call(c, opcode, b"bin-g", opaque=opcode + 100)
            self.assert_response(response, opcode, value=b"hello", key=key,
                                 extras=struct.pack(">I", 0xDEADBEEF), opaque=opcode + 100)
            self.assertEqual(response.cas, cas)

    def test_pipelined_getkq_ended_by_noop(self):
        c = self.conn()
        for i in (0, 2, 4):
            self.set(c, b"bin-p%d" % i, b"v%d" % i)
        c.send(b"".join(binary_request(GETKQ, b"bin-p%d" % i, opaque=i) for i in range(6)) +
               binary_request(NOOP, opaque=99))
        got = [read_binary_response(c) for _ in range(4)]
        self.assertEqual([(r.opcode, r.status, r.key, r.value, r.opaque) for r in got],
                         [(GETKQ, SUCCESS, b"bin-p0", b"v0", 0), (GETKQ, SUCCESS, b"bin-p2", b"v2", 2),
                          (GETKQ, SUCCESS, b"bin-p4", b"v4", 4), (NOOP, SUCCESS, b"", b"", 99)])

    def test_binary_safe_keys_and_values(self):
        c = self.conn()
        key = b"bin key\r\n\x00\xff"
        value = bytes(range(256)) + b"\r\nEND\r\n"
        self.set(c, key, value, flags=7)
        response = self.call(c, GETK, key)
        self.assertEqual((response.key, response.value, flags_of(response)), (key, value, 7))
        # An empty value is a value.
        self.set(c, b"bin-empty", b"")
        self.assertEqual(self.value(c, b"bin-empty"), b"")

    def test_set_add_replace_and_quiet_forms(self):
        c = self.conn()
        self.assert_silent(c, binary_request(SETQ, b"bin-s", storage_extras(3), b"one"))
        self.assertEqual(self.value(c, b"bin-s"), b"one")
        self.assert_error(self.call(c, ADD, b"bin-s", storage_extras(), b"x", opaque=5), ADD,
                          KEY_EEXISTS, opaque=5)
        # Quiet forms send their errors.
        self.assert_error(self.call(c, ADDQ, b"bin-s", storage_extras(), b"x"), ADDQ, KEY_EEXISTS)
        self.assert_error(self.call(c, REPLACE, b"bin-s-missing", storage_extras(), b"x"), REPLACE,
                          KEY_ENOENT)
        self.assert_error(self.call(c, REPLACEQ, b"bin-s-missing", storage_extras(), b"x"), REPLACEQ,
                          KEY_ENOENT)
        response = self.call(c, ADD, b"bin-s2", storage_extras(9), b"added")
        self.assert_response(response, ADD)
        self.assertNotEqual(response.cas, 0)
        self.assert_silent(c, binary_request(ADDQ, b"bin-s3", storage_extras(), b"a"),
                           binary_request(REPLACEQ, b"bin-s3", storage_extras(4), b"replaced"))
        response = self.call(c, GET, b"bin-s3")
        self.assertEqual((response.value, flags_of(response)), (b"replaced", 4))

    def test_cas(self):
        c = self.conn()
        cas = self.set(c, b"bin-c", b"one")
        self.assertEqual(self.call(c, GET, b"bin-c").cas, cas)
        self.assert_error(self.call(c, SET, b"bin-c", storage_extras(), b"x", cas=cas + 1), SET,
                          KEY_EEXISTS)
        self.assert_error(self.call(c, SET, b"bin-c-missing", storage_extras(), b"x", cas=cas), SET,
                          KEY_ENOENT)
        response = self.call(c, REPLACE, b"bin-c", storage_extras(), b"two", cas=cas)
        self.assert_response(response, REPLACE)
        self.assertNotEqual(response.cas, cas)
        # A cas makes an Add a cas command too (process_bin_update's NREAD_CAS).
        self.assert_error(self.call(c, ADD, b"bin-c", storage_extras(), b"x", cas=cas), ADD,
                          KEY_EEXISTS)
        response = self.call(c, ADD, b"bin-c", storage_extras(), b"three", cas=response.cas)
        self.assert_response(response, ADD)
        self.assertEqual(self.call(c, GET, b"bin-c").cas, response.cas)
        self.assert_silent(c, binary_request(SETQ, b"bin-c", storage_extras(), b"four",
                                             cas=response.cas))
        self.assertEqual(self.value(c, b"bin-c"), b"four")

    def test_append_prepend(self):
        c = self.conn()
        cas = self.set(c, b"bin-a", b"mid", flags=77)
        response = self.call(c, APPEND, b"bin-a", value=b">>")
        self.assert_response(response, APPEND)
        self.assert_error(self.call(c, PREPEND, b"bin-a", value=b"<<", cas=cas), PREPEND, KEY_EEXISTS)
        self.assert_response(self.call(c, PREPEND, b"bin-a", value=b"<<", cas=response.cas), PREPEND)
        self.assert_silent(c, binary_request(APPENDQ, b"bin-a", value=b"!"),
                           binary_request(PREPENDQ, b"bin-a", value=b"^"))
        response = self.call(c, GET, b"bin-a")
        self.assertEqual((response.value, flags_of(response)), (b"^<<mid>>!", 77))
        self.assert_error(self.call(c, APPEND, b"bin-a-missing", value=b"x"), APPEND, NOT_STORED)
        self.assert_error(self.call(c, PREPENDQ, b"bin-a-missing", value=b"x"), PREPENDQ, NOT_STORED)

    def test_delete(self):
        c = self.conn()
        cas = self.set(c, b"bin-d", b"v")
        self.assert_error(self.call(c, DELETE, b"bin-d", cas=cas + 1), DELETE, KEY_EEXISTS)
        response = self.call(c, DELETE, b"bin-d", cas=cas, opaque=3)
        self.assert_response(response, DELETE, opaque=3)
        self.assertEqual(response.cas, 0)
        self.assert_error(self.call(c, DELETE, b"bin-d"), DELETE, KEY_ENOENT)
        self.set(c, b"bin-d", b"v")
        self.assert_silent(c, binary_request(DELETEQ, b"bin-d"))
        self.assertIsNone(self.value(c, b"bin-d"))
        self.assert_error(self.call(c, DELETEQ, b"bin-d"), DELETEQ, KEY_ENOENT)

    def test_increment_decrement(self):
        c = self.conn()
        self.assert_error(self.call(c, INCREMENT, b"bin-n", arithmetic_extras(1, 5, NO_AUTO_CREATE)),
                          INCREMENT, KEY_ENOENT)
        # A miss creates the item with the initial value; the delta is not applied.
        response = self.call(c, INCREMENT, b"bin-n", arithmetic_extras(1, 10), opaque=4)
        self.assertEqual((response.status, counter_of(response), response.opaque), (SUCCESS, 10, 4))
        got = self.call(c, GET, b"bin-n")
        self.assertEqual((got.value, flags_of(got), got.cas), (b"10", 0, response.cas))
        response = self.call(c, INCREMENT, b"bin-n", arithmetic_extras(5))
        self.assertEqual(counter_of(response), 15)
        self.assertEqual(self.call(c, GET, b"bin-n").cas, response.cas)
        self.assertEqual(counter_of(self.call(c, DECREMENT, b"bin-n", arithmetic_extras(100))), 0)
        self.assertEqual(counter_of(self.call(c, DECREMENT, b"bin-n2", arithmetic_extras(1, 7))), 7)
        self.set(c, b"bin-n3", b"18446744073709551615")
        response = self.call(c, INCREMENT, b"bin-n3", arithmetic_extras(2))
        self.assertEqual(counter_of(response), 1)  # wraps at 2^64
        self.assert_error(self.call(c, INCREMENT, b"bin-n3", arithmetic_extras(1), cas=response.cas + 1),
                          INCREMENT, KEY_EEXISTS)
        self.assertEqual(counter_of(self.call(c, INCREMENT, b"bin-n3", arithmetic_extras(1),
                                              cas=response.cas)), 2)
        self.set(c, b"bin-n4", b"abc")
        self.assert_error(self.call(c, DECREMENTQ, b"bin-n4", arithmetic_extras(1)), DECREMENTQ,
                          DELTA_BADVAL)
        self.assert_silent(c, binary_request(INCREMENTQ, b"bin-n3", arithmetic_extras(1)),
                           binary_request(INCREMENTQ, b"bin-n5", arithmetic_extras(1, 3)))
        self.assertEqual(self.value(c, b"bin-n5"), b"3")
        self.assert_error(self.call(c, DECREMENTQ, b"bin-n6", arithmetic_extras(1, 0, NO_AUTO_CREATE)),
                          DECREMENTQ, KEY_ENOENT)

    def test_auto_created_counter_takes_the_expiration(self):
        c = self.conn()
        self.assertEqual(self.call(c, INCREMENT, b"bin-ne", arithmetic_extras(1, 1, 1)).status, SUCCESS)
        self.assertTrue(poll_until(lambda: self.value(c, b"bin-ne") is None, EXPIRY_TIMEOUT))

    def test_touch_and_gat(self):
        c = self.conn()
        cas = self.set(c, b"bin-t", b"value", flags=12)
        # Touch answers the flags and the cas, no value.
        response = self.call(c, TOUCH, b"bin-t", expiration_extras(100), opaque=2)
        self.assert_response(response, TOUCH, extras=struct.pack(">I", 12), opaque=2)
        self.assertEqual(response.cas, cas)
        for opcode, key in ((GAT, b""), (GATQ, b""), (GATK, b"bin-t"), (GATKQ, b"bin-t")):
            response = self.call(c, opcode, b"bin-t", expiration_extras(100), opaque=opcode)
            self.assert_response(response, opcode, value=b"value", key=key,
                                 extras=struct.pack(">I", 12), opaque=opcode)
            self.assertEqual(response.cas, cas)
        self.assert_error(self.call(c, TOUCH, b"bin-t-missing", expiration_extras(1)), TOUCH,
                          KEY_ENOENT)
        self.assert_error(self.call(c, GAT, b"bin-t-missing", expiration_extras(1)), GAT, KEY_ENOENT)
        self.assert_response(self.call(c, GATK, b"bin-t-missing", expiration_extras(1)), GATK,
                             KEY_ENOENT, key=b"bin-t-missing")
        self.assert_silent(c, binary_request(GATQ, b"bin-t-missing", expiration_extras(1)),
                           binary_request(GATKQ, b"bin-t-missing", expiration_extras(1)))
        # The new expiration applies: one second, then gone.
        self.assertEqual(self.call(c, GAT, b"bin-t", expiration_extras(1)).status, SUCCESS)
        self.assertTrue(poll_until(lambda: self.value(c, b"bin-t") is None, EXPIRY_TIMEOUT))

    def test_noop_version(self):
        c = self.conn()
        self.assert_response(self.call(c, NOOP, opaque=1), NOOP, opaque=1)
        response = self.call(c, VERSION, opaque=2)
        self.assertEqual((response.status, response.opaque), (SUCCESS, 2))
        self.assertRegex(response.value, rb"^1\.6\.\d+$")

    def test_quit_and_quitq(self):
        c = self.conn()
        c.send(binary_request(QUIT, opaque=9) + binary_request(NOOP))
        self.assert_response(read_binary_response(c), QUIT, opaque=9)
        self.assert_closed_silently(c)
        c = self.conn()
        c.send(binary_request(QUITQ) + binary_request(NOOP))
        self.assert_closed_silently(c)

    def test_sasl_opcodes_without_sasl_are_unknown(self):
        c = self.conn()
        self.assert_error(self.call(c, SASL_LIST_MECHS, opaque=1), SASL_LIST_MECHS, UNKNOWN_COMMAND,
                          opaque=1)
        # The mechanism's data is swallowed: the next request is answered.
        self.assert_error(self.call(c, SASL_AUTH, b"PLAIN", value=b"\x00u\x00p", opaque=2),
                          SASL_AUTH, UNKNOWN_COMMAND, opaque=2)
        self.assert_error(self.call(c, SASL_STEP, b"PLAIN", value=b"more"), SASL_STEP,
                          UNKNOWN_COMMAND)
        self.assert_response(self.call(c, NOOP, opaque=3), NOOP, opaque=3)

    def test_unknown_opcodes(self):
        # memcached 1.6 serves no Verbosity; both answer Unknown command. (No
        # body here: after one memcached swallows extlen + keylen bytes of
        # the next packet and holds the answer back until they come, see
        # test_unknown_opcode_body_swallowed.)
        for opcode in (VERBOSITY, 0x40, 0xFF):
            c = self.conn()
            self.assert_error(self.call(c, opcode, opaque=opcode), opcode, UNKNOWN_COMMAND,
                              opaque=opcode)

    @twincache_only
    def test_unknown_opcode_body_swallowed(self):
        # memcached swallows bodylen bytes after the extras and key it has
        # already read, eating the start of the next packet; twincached
        # swallows the rest of the body only, so the next packet is served.
        c = self.conn()
        c.send(binary_request(0x40, b"key", b"1234", b"value", opaque=1) +
               binary_request(VERBOSITY, extras=expiration_extras(1), opaque=2) +
               binary_request(NOOP, opaque=3))
        self.assert_error(read_binary_response(c), 0x40, UNKNOWN_COMMAND, opaque=1)
        self.assert_error(read_binary_response(c), VERBOSITY, UNKNOWN_COMMAND, opaque=2)
        self.assert_response(read_binary_response(c), NOOP, opaque=3)

    def test_value_over_item_size_max(self):
        c = self.conn()
        self.set(c, b"bin-big", b"old")
        big = b"x" * ITEM_SIZE_MAX
        self.assert_error(self.call(c, SET, b"bin-big", storage_extras(), big, opaque=7), SET, E2BIG,
                          opaque=7)
        # The failed Set dropped the old value; the connection goes on.
        self.assertIsNone(self.value(c, b"bin-big"))
        self.set(c, b"bin-big", b"old")
        self.assert_error(self.call(c, SETQ, b"bin-big", storage_extras(), big), SETQ, E2BIG)
        self.assertIsNone(self.value(c, b"bin-big"))
        self.set(c, b"bin-big", b"old")
        self.assert_error(self.call(c, ADD, b"bin-big", storage_extras(), big), ADD, E2BIG)
        self.assert_error(self.call(c, APPEND, b"bin-big", value=big), APPEND, E2BIG)
        self.assertEqual(self.value(c, b"bin-big"), b"old")
        # Just under the limit is stored.
        fits = b"y" * (ITEM_SIZE_MAX - 1024)
        self.set(c, b"bin-big", fits)
        self.assertEqual(self.value(c, b"bin-big"), fits)

    @twincache_only
    def test_value_over_item_size_max_is_answered_before_it_arrives(self):
        # The answer comes from the header, extras and key alone: the value is
        # swallowed as it arrives, never buffered. (memcached answers once it
        # has swallowed the value, or sooner, depending on timing.)
        c = self.conn()
        request = binary_request(SET, b"bin-big2", storage_extras(), b"x" * (4 << 20), opaque=7)
        c.send(request[:24 + 8 + 8])
        self.assert_error(read_binary_response(c), SET, E2BIG, opaque=7)
        c.send(request[24 + 8 + 8:])
        self.assert_response(self.call(c, NOOP, opaque=8), NOOP, opaque=8)

    def test_stat(self):
        c = self.conn()
        self.set(c, b"bin-stat", b"1")

        def report(group):
            c.send(binary_request(STAT, group, opaque=0x5747))
            stats = {}
            while True:
                response = read_binary_response(c)
                self.assertEqual((response.opcode, response.status, response.opaque, response.cas),
                                 (STAT, SUCCESS, 0x5747, 0), response)
                if not response.key:
                    self.assertEqual(response.value, b"")
                    return stats
                stats[response.key] = response.value

        general = report(b"")
        for name in (b"pid", b"uptime", b"curr_items", b"cmd_get", b"get_hits", b"cmd_set",
                     b"bytes_read", b"bytes_written"):
            self.assertRegex(general[name], rb"^\d+$", name)
        settings = report(b"settings")
        self.assertEqual(settings[b"binding_protocol"], b"auto-negotiate")
        self.assertEqual(settings[b"item_size_max"], str(ITEM_SIZE_MAX).encode())
        self.assertTrue([name for name in report(b"items") if name.endswith(b":number")])
        self.assertIn(b"total_malloced", report(b"slabs"))
        self.assertEqual(report(b"sizes"), {b"sizes_status": b"disabled"})
        self.assertEqual(report(b"detail dump"), {b"detailed": b"END\r\n"})
        self.assertEqual(report(b"detail on"), {})
        self.assertEqual(report(b"detail off"), {})
        for group in (b"conns", b"cachedump 1 0", b"detail", b"no-such-group"):
            self.assert_error(self.call(c, STAT, group, opaque=1), STAT, KEY_ENOENT, opaque=1)

    def test_stat_reset(self):
        c = self.conn()
        self.call(c, GET, b"bin-reset")
        self.assertEqual(report_one(self, c, b"reset"), [])
        self.assertEqual(int(read_stats(self.conn())["get_misses"]), 0)


def report_one(test, conn, group):
    """The (key, value) packets of a Stat of `group` before its terminator."""
    conn.send(binary_request(STAT, group))
    out = []
    while True:
        response = read_binary_response(conn)
        test.assertEqual(response.status, SUCCESS, response)
        if not response.key:
            return out
        out.append((response.key, response.value))


class BinaryFlushTest(BinaryTestCase):
    """Flush on a server of its own: memcached's delayed flush_all also drops
    items stored within a second of its time (one-second clock), which would
    reach into other tests."""

    def test_flush(self):
        c = self.conn()
        self.set(c, b"bin-f", b"1")
        self.assert_response(self.call(c, FLUSH, opaque=6), FLUSH, opaque=6)
        self.assertIsNone(self.value(c, b"bin-f"))
        self.set(c, b"bin-f", b"1")
        self.assert_silent(c, binary_request(FLUSHQ, extras=expiration_extras(0)))
        self.assertIsNone(self.value(c, b"bin-f"))
        # With a delay: still there at first, gone within a few seconds.
        self.set(c, b"bin-f", b"1")
        self.assert_response(self.call(c, FLUSH, extras=expiration_extras(3)), FLUSH)
        self.assertEqual(self.value(c, b"bin-f"), b"1")
        self.assertTrue(poll_until(lambda: self.value(c, b"bin-f") is None, EXPIRY_TIMEOUT))


class BinaryCountersTest(BinaryTestCase):
    """The binary path counts in the same stats as memcached's: hits and
    misses, cmd_set for every storage command that got an item, touches."""

    def test_counters(self):
        c, text = self.conn(), self.conn()
        before = read_stats(text)
        self.set(c, b"bin-k1", b"1")
        self.call(c, ADD, b"bin-k1", storage_extras(), b"x")  # Data exists: still a cmd_set
        self.call(c, SET, b"bin-k2", storage_extras(), b"x" * ITEM_SIZE_MAX)  # too large: none
        self.call(c, GET, b"bin-k1")
        self.call(c, GETK, b"bin-missing")
        c.send(binary_request(GETQ, b"bin-missing"))
        self.call(c, TOUCH, b"bin-k1", expiration_extras(0))
        self.call(c, GAT, b"bin-missing", expiration_extras(0))
        self.call(c, INCREMENT, b"bin-k1", arithmetic_extras(1))
        self.call(c, INCREMENT, b"bin-k3", arithmetic_extras(1, 0))  # created: no hit, no miss
        self.call(c, DECREMENT, b"bin-k4", arithmetic_extras(1, 0, NO_AUTO_CREATE))
        self.call(c, DELETE, b"bin-k1")
        self.call(c, DELETE, b"bin-k1")
        self.call(c, SET, b"bin-k3", storage_extras(), b"x", cas=1)  # cas mismatch
        after = read_stats(text)
        delta = {name: int(after[name]) - int(before[name])
                 for name in ("cmd_get", "get_hits", "get_misses", "cmd_set", "cmd_touch",
                              "touch_hits", "touch_misses", "incr_hits", "incr_misses",
                              "decr_hits", "decr_misses", "delete_hits", "delete_misses",
                              "cas_badval", "cas_misses", "cas_hits")}
        self.assertEqual(delta, {"cmd_get": 3, "get_hits": 1, "get_misses": 2, "cmd_set": 3,
                                 "cmd_touch": 2, "touch_hits": 1, "touch_misses": 1,
                                 "incr_hits": 1, "incr_misses": 0, "decr_hits": 0,
                                 "decr_misses": 1, "delete_hits": 1, "delete_misses": 1,
                                 "cas_badval": 1, "cas_misses": 0, "cas_hits": 0})


class MalformedPacketsTest(BinaryTestCase):
    """What memcached closes the connection on, and what it says first."""

    def test_bad_magic_after_binary_closes_without_reply(self):
        c = self.conn()
        self.assert_response(self.call(c, NOOP), NOOP)
        c.send(raw_header(NOOP, magic=0x81))
        self.assert_closed_silently(c)
        # A text command on a connection that started binary: once 24 bytes
        # are in, a bad magic too.
        c = self.conn()
        self.assert_response(self.call(c, NOOP), NOOP)
        c.send(b"get bin-text-after-binary-key\r\n")
        self.assert_closed_silently(c)

    def test_lengths_beyond_the_body_close(self):
        c = self.conn()
        c.send(raw_header(GET, keylen=3, bodylen=2, opaque=5) + b"abc")
        self.assert_error(read_binary_response(c), GET, UNKNOWN_COMMAND, opaque=5)
        self.assert_closed_silently(c)
        c = self.conn()
        c.send(raw_header(SET, keylen=1, extlen=8, bodylen=8) + storage_extras() + b"k")
        self.assert_error(read_binary_response(c), SET, UNKNOWN_COMMAND)
        self.assert_closed_silently(c)

    def test_key_over_250_bytes_closes(self):
        c = self.conn()
        self.assert_response(self.call(c, GETK, b"k" * 250), GETK, KEY_ENOENT, key=b"k" * 250)
        c.send(binary_request(GET, b"k" * 251, opaque=8))
        self.assert_error(read_binary_response(c), GET, EINVAL, opaque=8)
        self.assert_closed_silently(c)

    def test_wrong_shapes_close(self):
        for request, opcode in ((binary_request(GET, b"k", extras=b"1234"), GET),
                                (binary_request(GET), GET),
                                (binary_request(SET, b"k", value=b"v"), SET),
                                (binary_request(INCREMENT, b"k", extras=b"1234"), INCREMENT),
                                (binary_request(DELETE, b"k", value=b"v"), DELETE),
                                (binary_request(NOOP, value=b"v"), NOOP),
                                (binary_request(VERSION, b"k"), VERSION),
                                (binary_request(QUIT, extras=b"1234"), QUIT),
                                (binary_request(FLUSH, b"k"), FLUSH),
                                (binary_request(TOUCH, b"k"), TOUCH),
                                (binary_request(APPEND, b"k", extras=b"1234", value=b"v"), APPEND),
                                (binary_request(STAT, extras=b"1234"), STAT)):
            c = self.conn()
            c.send(request)
            self.assert_error(read_binary_response(c), opcode, EINVAL)
            self.assert_closed_silently(c)

    def test_huge_body_announced_for_a_get_is_refused_at_once(self):
        # A 4 GB body after a 1-byte key: refused on the header and key.
        c = self.conn()
        c.send(raw_header(GET, keylen=1, bodylen=0xFFFFFFFF) + b"k")
        self.assert_error(read_binary_response(c), GET, EINVAL)
        self.assert_closed_silently(c)


class AsciiProtocolTest(BinaryTestCase):
    """-B ascii: binary packets are read as text."""

    SERVER_ARGS = ("-B", "ascii")

    def test_binary_packet_is_text(self):
        c = self.conn()
        c.send(binary_request(VERSION) + b"\r\n")
        self.assertEqual(c.read_line(), b"ERROR\r\n")
        self.assertEqual(read_stats(c, "settings")["binding_protocol"], "ascii")


class BinaryOnlyProtocolTest(BinaryTestCase):
    """-B binary: text is a bad magic; stats settings says binary."""

    SERVER_ARGS = ("-B", "binary")

    def test_text_closes_without_reply(self):
        c = self.conn()
        c.send(b"get some-key-to-make-24-bytes\r\n")
        self.assert_closed_silently(c)
        c = self.conn()
        self.assertEqual(dict(report_one(self, c, b"settings"))[b"binding_protocol"], b"binary")
        self.assert_response(self.call(c, NOOP), NOOP)

    def test_short_text_gets_no_reply(self):
        # Under 24 bytes the server still waits for a header.
        c = self.conn()
        c.send(b"version\r\n")
        with self.assertRaises(socket.timeout):
            c.read_exact(1, timeout=0.5)


class AutoProtocolTest(BinaryTestCase):
    """-B auto (the default): each connection's first byte decides."""

    def test_text_and_binary_side_by_side(self):
        text, binary = self.conn(), self.conn()
        self.assertEqual(read_stats(text, "settings")["binding_protocol"], "auto-negotiate")
        self.set(binary, b"bin-side", b"from binary", flags=5)
        self.assertEqual(text.get_values("get bin-side")["bin-side"][0][2], b"5")
        self.assertEqual(text.request("set bin-side2 6 0 9\r\nfrom text\r\n"), b"STORED\r\n")
        response = self.call(binary, GET, b"bin-side2")
        self.assertEqual((response.value, flags_of(response)), (b"from text", 6))
        # A connection stays with its protocol.
        self.assertEqual(text.request("version\r\n")[:8], b"VERSION ")

    def test_first_byte_other_than_0x80_is_text(self):
        c = self.conn()
        c.send(raw_header(GET, magic=0x81) + b"\r\n")
        self.assertEqual(c.read_line(), b"ERROR\r\n")


@twincache_only
class BinaryReplicationTest(PairTestCase):
    """Binary writes on one twin reach the other, where text reads them."""

    def bin_call(self, conn, opcode, key=b"", extras=b"", value=b"", cas=0):
        conn.send(binary_request(opcode, key, extras, value, cas=cas))
        return read_binary_response(conn)

    def test_binary_writes_replicate(self):
        a, b = self.pair.nodes
        ca = self.conn(a)
        response = self.bin_call(ca, SET, b"bin-r1", storage_extras(17), b"from binary")
        self.assertEqual(response.status, SUCCESS, response)
        # Same value, flags and cas unique (the version) on the twin.
        self.assertEqual(self.wait_item(b, "bin-r1", b"from binary"), (17, response.cas, b"from binary"))
        self.assertEqual(self.bin_call(ca, APPEND, b"bin-r1", value=b"!").status, SUCCESS)
        self.wait_item(b, "bin-r1", b"from binary!")
        self.assertEqual(counter_of(self.bin_call(ca, INCREMENT, b"bin-r2", arithmetic_extras(1, 41))), 41)
        self.assertEqual(counter_of(self.bin_call(ca, INCREMENT, b"bin-r2", arithmetic_extras(1))), 42)
        self.wait_item(b, "bin-r2", b"42")
        ca.send(binary_request(SETQ, b"bin-r3", storage_extras(), b"quiet") +
                binary_request(DELETEQ, b"bin-r1") + binary_request(NOOP))
        self.assertEqual(read_binary_response(ca).opcode, NOOP)
        self.wait_item(b, "bin-r3", b"quiet")
        self.wait_item(b, "bin-r1", None)
        # And the other way: binary on B, text read on A.
        cb = self.conn(b)
        self.assertEqual(self.bin_call(cb, SET, b"bin-r4", storage_extras(3), b"from B").status, SUCCESS)
        self.wait_item(a, "bin-r4", b"from B")


@twincache_only
class BinarySyncAckTest(PairTestCase):
    """--repl-ack sync: a binary write is answered once the twin applied it,
    quiet ones included (the Noop after them waits with them)."""

    PAIR_ARGS = ("--repl-ack", "sync", "--repl-ack-timeout-ms", "5000")

    def test_reply_means_the_twin_has_it(self):
        a, b = self.pair.nodes
        ca = self.conn(a)
        for i in range(20):
            key = b"bin-sync-%d" % i
            ca.send(binary_request(SET, key, storage_extras(), b"v%d" % i))
            self.assertEqual(read_binary_response(ca).status, SUCCESS)
            self.assertEqual(item(b, key.decode())[2], b"v%d" % i)
        ca.send(b"".join(binary_request(SETQ, b"bin-syncq-%d" % i, storage_extras(), b"q")
                         for i in range(50)) + binary_request(NOOP))
        self.assertEqual(read_binary_response(ca).opcode, NOOP)
        self.assertEqual(len(b.values(["bin-syncq-%d" % i for i in range(50)])), 50)
        self.assertEqual(int(a.stats()["repl_degraded_writes"]), 0)


if __name__ == "__main__":
    unittest.main()
