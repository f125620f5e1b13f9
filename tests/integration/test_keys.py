"""Which bytes a key may hold, as memcached 1.6.18 decides by default.

memcached splits a text command line at spaces and ends it at "\\n" (a "\\r"
right before it is dropped); every other byte, control characters included,
may be part of a key of up to 250 bytes (proto_text.c tokenize_command and
the KEY_MAX_LENGTH checks). protocol.txt says keys must not include control
characters, but memcached does not enforce it and clients (memcaslap's binary
key prefix, hashed keys) rely on that.
"""

import unittest

from harness import ServerTestCase

CONTROL_BYTES = bytes(range(1, 10)) + bytes(range(11, 32)) + b"\x7f"  # all but NUL, \n and space
HIGH_BYTES = bytes(range(0x80, 0x100, 0x11))


class ControlCharacterKeysTest(ServerTestCase):

    def assert_round_trip(self, key, value=b"v", flags=0):
        c = self.conn()
        self.assertEqual(c.request(b"set %s %d 0 %d\r\n%s\r\n" % (key, flags, len(value), value)),
                         b"STORED\r\n", key)
        self.assertEqual(c.request(b"get " + key + b"\r\n", b"END\r\n"),
                         b"VALUE %s %d %d\r\n%s\r\nEND\r\n" % (key, flags, len(value), value), key)

    def test_key_with_control_bytes(self):
        self.assert_round_trip(b"\x10\x10k")
        self.assert_round_trip(b"k\x01\x1f\t\x7f\xffz", b"ab", flags=5)

    def test_every_control_byte_in_one_key(self):
        self.assert_round_trip(CONTROL_BYTES)
        self.assert_round_trip(b"hi" + HIGH_BYTES)
        # A "\r" inside the key (not right before "\n") is part of it.
        self.assert_round_trip(b"a\rb")

    def test_other_commands_see_the_same_key(self):
        key = b"ctl\x10\x1b"
        c = self.conn()
        self.assertEqual(c.request(b"set " + key + b" 0 0 1\r\n7\r\n"), b"STORED\r\n")
        self.assertEqual(c.request(b"incr " + key + b" 2\r\n"), b"9\r\n")
        self.assertEqual(c.request(b"append " + key + b" 0 0 1\r\n0\r\n"), b"STORED\r\n")
        self.assertEqual(c.request(b"mg " + key + b" v\r\n", b"90\r\n"), b"VA 2\r\n90\r\n")
        self.assertEqual(c.request(b"touch " + key + b" 100\r\n"), b"TOUCHED\r\n")
        self.assertEqual(c.request(b"delete " + key + b"\r\n"), b"DELETED\r\n")
        self.assertEqual(c.request(b"get " + key + b"\r\n"), b"END\r\n")

    def test_length_limit_counts_control_bytes(self):
        c = self.conn()
        self.assert_round_trip(b"\x01" * 250)
        self.assertEqual(c.request(b"set " + b"\x01" * 251 + b" 0 0 1\r\n"),
                         b"CLIENT_ERROR bad command line format\r\n")


if __name__ == "__main__":
    unittest.main()
