// Tests for the replication frame codec against docs/replication.md "Wire format".
#include "core/replication/repl_frame.h"

#include <gtest/gtest.h>

#include <functional>
#include <string>
#include <string_view>
#include <vector>

namespace twincache {
namespace {

using namespace std::string_literals;

constexpr size_t kMaxFrame = MaxFrameFor(1u << 20);

ReplId MakeReplId(uint8_t seed) {
  ReplId id;
  for (size_t i = 0; i < id.size(); ++i) id[i] = static_cast<uint8_t>(seed + i * 17);
  return id;
}

Hello MakeHello() {
  Hello h;
  h.node_id = 0x8877665544332211u;
  h.replid = MakeReplId(1);
  h.offset = 0x0102030405060708u;
  h.peer_replid = MakeReplId(0x90);
  h.peer_offset = 0xfffffffffffffffeu;
  h.flags = 0x01 | kHelloFlagHasSecret;  // reserved bit 0 travels as it is
  for (size_t i = 0; i < h.nonce.size(); ++i) h.nonce[i] = static_cast<uint8_t>(0xff - i);
  return h;
}

Record MakeSet(std::string_view key, std::string_view value) {
  Record r;
  r.kind = RecordKind::kSet;
  r.hlc = 0x0000018c12345678u;
  r.origin = 0xdeadbeefcafef00du;
  r.key = key;
  r.value = value;
  r.flags = 0xfedcba98u;
  r.exptime = 1700000000;
  r.exptime_version = r.hlc;
  return r;
}

Record MakeDelete(std::string_view key) {
  Record r;
  r.kind = RecordKind::kDelete;
  r.hlc = 42;
  r.origin = 7;
  r.key = key;
  return r;
}

Record MakeTouch(std::string_view key, std::string_view value) {
  Record r = MakeSet(key, value);
  r.kind = RecordKind::kTouch;
  r.exptime = -1;
  r.exptime_version = r.hlc + 5;
  return r;
}

// A SET or TOUCH with item bits (Record::stale, Record::win_token_sent).
Record WithBits(Record r, bool stale, bool win_token_sent) {
  r.stale = stale;
  r.win_token_sent = win_token_sent;
  return r;
}

Record MakeFlush() {
  Record r;
  r.kind = RecordKind::kFlush;
  r.hlc = 0x8000000000000001u;
  r.origin = 3;
  r.at_ms = -1234567890123;
  return r;
}

void ExpectSameRecord(const Record& a, const Record& b) {
  EXPECT_EQ(a.kind, b.kind);
  EXPECT_EQ(a.hlc, b.hlc);
  EXPECT_EQ(a.origin, b.origin);
  EXPECT_EQ(a.key, b.key);
  EXPECT_EQ(a.value, b.value);
  EXPECT_EQ(a.flags, b.flags);
  EXPECT_EQ(a.exptime, b.exptime);
  EXPECT_EQ(a.exptime_version, b.exptime_version);
  EXPECT_EQ(a.at_ms, b.at_ms);
  EXPECT_EQ(a.stale, b.stale);
  EXPECT_EQ(a.win_token_sent, b.win_token_sent);
}

// The fields a record of `kind` carries; the others as a fresh Record.
Record Carried(Record r) {
  Record out;
  out.kind = r.kind;
  out.hlc = r.hlc;
  out.origin = r.origin;
  if (r.kind == RecordKind::kFlush) {
    out.at_ms = r.at_ms;
    return out;
  }
  out.key = r.key;
  if (r.kind == RecordKind::kDelete) return out;
  out.value = r.value;
  out.flags = r.flags;
  out.exptime = r.exptime;
  out.exptime_version = r.exptime_version;
  out.stale = r.stale;
  out.win_token_sent = r.win_token_sent;
  return out;
}

// Decodes `bytes`, which must be exactly one frame.
Frame DecodeWhole(const std::string& bytes, size_t max_frame = kMaxFrame) {
  Frame frame;
  const DecodeResult result = DecodeFrame(bytes, max_frame, &frame);
  EXPECT_EQ(result.status, DecodeStatus::kFrame) << result.reason();
  EXPECT_EQ(result.consumed, bytes.size());
  EXPECT_TRUE(result.reason().empty());
  return frame;
}

std::string ExpectMalformed(const std::string& bytes, size_t max_frame = kMaxFrame) {
  Frame frame;
  const DecodeResult result = DecodeFrame(bytes, max_frame, &frame);
  EXPECT_EQ(result.status, DecodeStatus::kMalformed);
  EXPECT_EQ(result.consumed, 0u);
  return std::string(result.reason());
}

// A frame from its type byte and payload, with the right length.
std::string RawFrame(uint8_t type, const std::string& payload) {
  const uint32_t length = static_cast<uint32_t>(payload.size() + 1);
  std::string out;
  out.push_back(static_cast<char>(length >> 24));
  out.push_back(static_cast<char>(length >> 16));
  out.push_back(static_cast<char>(length >> 8));
  out.push_back(static_cast<char>(length));
  out.push_back(static_cast<char>(type));
  return out + payload;
}

std::string Be64(uint64_t v) {
  std::string out;
  for (int shift = 56; shift >= 0; shift -= 8) out.push_back(static_cast<char>(v >> shift));
  return out;
}

// One encoded frame of every type and record kind.
std::vector<std::string> AllFrames() {
  static const std::string value = "v\0\xff\r\n"s;
  std::vector<std::string> frames;
  std::string out;
  AppendHello(MakeHello(), &out);
  frames.push_back(out);
  out.clear();
  Auth auth;
  auth.mac.fill(0xa5);
  AppendAuth(auth, &out);
  frames.push_back(out);
  out.clear();
  AppendFullBegin(FullBegin{MakeReplId(3), 99, 12345}, &out);
  frames.push_back(out);
  out.clear();
  AppendFullEnd(FullEnd{12344}, &out);
  frames.push_back(out);
  out.clear();
  AppendRecord(1, MakeSet("key", value), &out);
  frames.push_back(out);
  out.clear();
  AppendRecord(2, MakeDelete("key"), &out);
  frames.push_back(out);
  out.clear();
  AppendRecord(3, MakeTouch("key", value), &out);
  frames.push_back(out);
  out.clear();
  AppendRecord(4, MakeFlush(), &out);
  frames.push_back(out);
  out.clear();
  AppendSnapshot(MakeSet("k", ""), &out);
  frames.push_back(out);
  out.clear();
  AppendSnapshot(MakeDelete("k"), &out);
  frames.push_back(out);
  out.clear();
  AppendAck(Ack{77}, &out);
  frames.push_back(out);
  out.clear();
  AppendPing(Ping{-5, 6}, &out);
  frames.push_back(out);
  out.clear();
  AppendPartialBegin(PartialBegin{MakeReplId(9), 101}, &out);
  frames.push_back(out);
  out.clear();
  AppendError("replication id mismatch", &out);
  frames.push_back(out);
  return frames;
}

TEST(ReplFrameTest, AckBytesAreBigEndian) {
  std::string out;
  AppendAck(Ack{0x0102030405060708u}, &out);
  EXPECT_EQ(out, "\x00\x00\x00\x09\x07\x01\x02\x03\x04\x05\x06\x07\x08"s);
}

TEST(ReplFrameTest, HelloLayout) {
  std::string out = "prefix";
  const Hello h = MakeHello();
  AppendHello(h, &out);
  ASSERT_EQ(out.size(), 6 + 4 + 1 + 91u);
  const std::string_view frame = std::string_view(out).substr(6);
  EXPECT_EQ(frame.substr(0, 7), "\x00\x00\x00\x5c\x01\x00\x01"s);  // length 92, HELLO, version 1
  EXPECT_EQ(frame.substr(7, 8), Be64(h.node_id));
  EXPECT_EQ(frame.substr(15, 16), std::string(h.replid.begin(), h.replid.end()));
  EXPECT_EQ(frame.substr(31, 8), Be64(h.offset));
  EXPECT_EQ(frame.substr(39, 16), std::string(h.peer_replid.begin(), h.peer_replid.end()));
  EXPECT_EQ(frame.substr(55, 8), Be64(h.peer_offset));
  EXPECT_EQ(frame[63], '\x03');
  EXPECT_EQ(frame.substr(64), std::string(h.nonce.begin(), h.nonce.end()));
}

TEST(ReplFrameTest, RecordSetLayout) {
  std::string out;
  Record r = MakeSet("ab", "xyz");
  r.hlc = 1;
  r.origin = 2;
  r.flags = 3;
  r.exptime = -2;
  r.exptime_version = 4;
  AppendRecord(5, r, &out);
  const std::string expected = "\x00\x00\x00\x38\x05"s + Be64(5) + "\x01"s + Be64(1) + Be64(2) +
                               "\x02"
                               "ab" +
                               "\x00\x00\x00\x03"s + Be64(static_cast<uint64_t>(-2)) + Be64(4) +
                               "\x00\x00\x00\x03"
                               "xyz"s;
  EXPECT_EQ(out, expected);
}

TEST(ReplFrameTest, DeleteAndFlushLayout) {
  std::string out;
  AppendSnapshot(MakeDelete("k"), &out);
  EXPECT_EQ(out, "\x00\x00\x00\x14\x06\x02"s + Be64(42) + Be64(7) + "\x01k");
  out.clear();
  Record flush = MakeFlush();
  flush.at_ms = 1700000000123;
  AppendRecord(9, flush, &out);
  EXPECT_EQ(out,
            "\x00\x00\x00\x22\x05"s + Be64(9) + "\x04" + Be64(flush.hlc) + Be64(3) + Be64(1700000000123));
}

// docs/replication.md "Wire format": the item bits of SET and TOUCH ride in
// the kind byte (0x80 stale, 0x40 win token sent); nothing else changes.
TEST(ReplFrameTest, RecordItemBitsLayout) {
  Record r = MakeSet("ab", "xyz");
  r.hlc = 1;
  r.origin = 2;
  r.flags = 3;
  r.exptime = -2;
  r.exptime_version = 4;
  const std::string after_kind = Be64(1) + Be64(2) +
                                 "\x02"
                                 "ab" +
                                 "\x00\x00\x00\x03"s + Be64(static_cast<uint64_t>(-2)) + Be64(4) +
                                 "\x00\x00\x00\x03"
                                 "xyz"s;
  const struct {
    RecordKind kind;
    bool stale;
    bool win_token_sent;
    char kind_byte;
  } cases[] = {
      {RecordKind::kSet, true, false, '\x81'},  {RecordKind::kSet, false, true, '\x41'},
      {RecordKind::kSet, true, true, '\xc1'},   {RecordKind::kTouch, true, false, '\x83'},
      {RecordKind::kTouch, true, true, '\xc3'},
  };
  for (const auto& c : cases) {
    r.kind = c.kind;
    r.stale = c.stale;
    r.win_token_sent = c.win_token_sent;
    std::string out;
    AppendRecord(5, r, &out);
    EXPECT_EQ(out, "\x00\x00\x00\x38\x05"s + Be64(5) + c.kind_byte + after_kind);
    out.clear();
    if (c.kind == RecordKind::kSet) {
      AppendSnapshot(r, &out);
      EXPECT_EQ(out, "\x00\x00\x00\x30\x06"s + c.kind_byte + after_kind);
    }
  }
  // DELETE and FLUSH carry no item: their bits are never encoded.
  Record del = WithBits(MakeDelete("k"), true, true);
  del.kind = RecordKind::kDelete;
  std::string out;
  AppendSnapshot(del, &out);
  EXPECT_EQ(out, "\x00\x00\x00\x14\x06\x02"s + Be64(42) + Be64(7) + "\x01k");
}

TEST(ReplFrameTest, ItemBitsOnDeleteOrFlushAndUnknownBitsAreMalformed) {
  const std::string tail = Be64(1) + Be64(1) + "\x01k"s;
  EXPECT_EQ(ExpectMalformed(RawFrame(5, Be64(1) + "\x82"s + tail)), "bad record kind 130");
  EXPECT_EQ(ExpectMalformed(RawFrame(6, "\x42"s + tail)), "bad record kind 66");
  EXPECT_EQ(ExpectMalformed(RawFrame(5, Be64(1) + "\x84"s + Be64(1) + Be64(1) + Be64(5))),
            "bad record kind 132");
  EXPECT_EQ(ExpectMalformed(RawFrame(5, Be64(1) + "\x21"s + tail)), "bad record kind 33");
  std::string touch;
  AppendRecord(1, WithBits(MakeTouch("k", "v"), true, false), &touch);
  EXPECT_EQ(ExpectMalformed(RawFrame(6, touch.substr(13))), "bad SNAPSHOT record kind 131");
}

// For a peer without kHelloFlagItemBits the sender clears the bits in place:
// the frames become exactly those of the records without them.
TEST(ReplFrameTest, ClearRecordItemBitsLeavesFramesOfAnEarlierBuild) {
  EXPECT_EQ(kHelloFlagItemBits, 4);
  EXPECT_EQ(kHelloFlagItemBits & kHelloFlagHasSecret, 0);
  const Record stale_set = WithBits(MakeSet("key", "value"), true, true);
  const Record stale_touch = WithBits(MakeTouch("key", "value"), true, false);
  std::string with_bits;
  std::string without_bits;
  const auto both = [&](const std::function<void(bool, std::string*)>& append) {
    append(true, &with_bits);
    append(false, &without_bits);
  };
  both([&](bool bits, std::string* out) {
    AppendRecord(1, bits ? stale_set : Carried(MakeSet("key", "value")), out);
  });
  both([&](bool, std::string* out) { AppendPing(Ping{-1, 0x8181818181818181u}, out); });
  both([&](bool bits, std::string* out) {
    AppendRecord(2, bits ? stale_touch : MakeTouch("key", "value"), out);
  });
  both([&](bool bits, std::string* out) { AppendSnapshot(bits ? stale_set : MakeSet("key", "value"), out); });
  both([&](bool, std::string* out) { AppendRecord(3, MakeDelete("key"), out); });
  both([&](bool, std::string* out) { AppendRecord(4, MakeFlush(), out); });
  ASSERT_NE(with_bits, without_bits);
  ClearRecordItemBits(with_bits.data(), with_bits.size());
  EXPECT_EQ(with_bits, without_bits);
  ClearRecordItemBits(with_bits.data(), 0);  // nothing to walk
  EXPECT_EQ(with_bits, without_bits);
}

TEST(ReplFrameTest, ErrorLayout) {
  std::string out;
  AppendError("no", &out);
  EXPECT_EQ(out, "\x00\x00\x00\x05\x0a\x00\x02no"s);
}

TEST(ReplFrameTest, RoundTripsFixedFrames) {
  std::string out;
  const Hello h = MakeHello();
  AppendHello(h, &out);
  Frame f = DecodeWhole(out);
  EXPECT_EQ(f.type, FrameType::kHello);
  EXPECT_EQ(f.hello.protocol_version, 1);
  EXPECT_EQ(f.hello.node_id, h.node_id);
  EXPECT_EQ(f.hello.replid, h.replid);
  EXPECT_EQ(f.hello.offset, h.offset);
  EXPECT_EQ(f.hello.peer_replid, h.peer_replid);
  EXPECT_EQ(f.hello.peer_offset, h.peer_offset);
  EXPECT_EQ(f.hello.flags, h.flags);
  EXPECT_EQ(f.hello.nonce, h.nonce);

  out.clear();
  Auth auth;
  for (size_t i = 0; i < auth.mac.size(); ++i) auth.mac[i] = static_cast<uint8_t>(i * 7);
  AppendAuth(auth, &out);
  f = DecodeWhole(out);
  EXPECT_EQ(f.type, FrameType::kAuth);
  EXPECT_EQ(f.auth.mac, auth.mac);

  out.clear();
  AppendFullBegin(FullBegin{MakeReplId(5), 0xffffffffffffffffu, 3}, &out);
  f = DecodeWhole(out);
  EXPECT_EQ(f.type, FrameType::kFullBegin);
  EXPECT_EQ(f.full_begin.replid, MakeReplId(5));
  EXPECT_EQ(f.full_begin.start_offset, 0xffffffffffffffffu);
  EXPECT_EQ(f.full_begin.item_estimate, 3u);

  out.clear();
  AppendFullEnd(FullEnd{1u << 31}, &out);
  f = DecodeWhole(out);
  EXPECT_EQ(f.type, FrameType::kFullEnd);
  EXPECT_EQ(f.full_end.items_sent, 1u << 31);

  out.clear();
  AppendAck(Ack{0}, &out);
  f = DecodeWhole(out);
  EXPECT_EQ(f.type, FrameType::kAck);
  EXPECT_EQ(f.ack.applied_offset, 0u);

  out.clear();
  AppendPing(Ping{-1, 0x8000000000000000u}, &out);
  f = DecodeWhole(out);
  EXPECT_EQ(f.type, FrameType::kPing);
  EXPECT_EQ(f.ping.sender_time_ms, -1);
  EXPECT_EQ(f.ping.sender_offset, 0x8000000000000000u);

  out.clear();
  AppendPartialBegin(PartialBegin{MakeReplId(0xf0), 17}, &out);
  f = DecodeWhole(out);
  EXPECT_EQ(f.type, FrameType::kPartialBegin);
  EXPECT_EQ(f.partial_begin.replid, MakeReplId(0xf0));
  EXPECT_EQ(f.partial_begin.from_offset, 17u);
}

TEST(ReplFrameTest, RoundTripsErrorReasons) {
  for (const std::string& reason : {""s, "replication id mismatch"s, "bin\0\xff"s}) {
    std::string out;
    AppendError(reason, &out);
    const Frame f = DecodeWhole(out);
    EXPECT_EQ(f.type, FrameType::kError);
    EXPECT_EQ(f.error_reason, reason);
  }
  const std::string long_reason(70000, 'r');
  std::string out;
  AppendError(long_reason, &out);
  const Frame f = DecodeWhole(out);
  EXPECT_EQ(f.error_reason, long_reason.substr(0, 65535));
}

TEST(ReplFrameTest, RoundTripsEveryRecordKind) {
  const std::string binary_key = "k\0\x01\xff \r\n"s;
  const std::string binary_value = "\0\r\nEND\r\n\xff\xfe"s;
  const std::string max_key(250, '\xfe');
  const std::string big_value((1u << 20) - 300, 'b');
  const std::vector<Record> records = {
      MakeSet("k", "v"),
      MakeSet(binary_key, binary_value),
      MakeSet("empty", ""),
      MakeSet(max_key, "x"),
      MakeSet(max_key, big_value),
      MakeDelete(binary_key),
      MakeDelete(max_key),
      MakeTouch(binary_key, binary_value),
      MakeTouch("t", ""),
      MakeFlush(),
      WithBits(MakeSet("k", "v"), true, false),
      WithBits(MakeSet("k", ""), false, true),
      WithBits(MakeSet("k", "v"), true, true),
      WithBits(MakeTouch("t", "v"), true, true),
  };
  for (const Record& r : records) {
    std::string out;
    AppendRecord(0xabcdef0123456789u, r, &out);
    Frame f = DecodeWhole(out);
    EXPECT_EQ(f.type, FrameType::kRecord);
    EXPECT_EQ(f.record_offset, 0xabcdef0123456789u);
    ExpectSameRecord(f.record, Carried(r));
    if (r.kind == RecordKind::kSet || r.kind == RecordKind::kDelete) {
      out.clear();
      AppendSnapshot(r, &out);
      f = DecodeWhole(out);
      EXPECT_EQ(f.type, FrameType::kSnapshot);
      ExpectSameRecord(f.record, Carried(r));
    }
  }
}

TEST(ReplFrameTest, DecodedViewsPointIntoInput) {
  std::string out;
  AppendRecord(1, MakeSet("key", "value"), &out);
  Frame f = DecodeWhole(out);
  EXPECT_EQ(f.record.key.data(), out.data() + 4 + 1 + 8 + 17 + 1);
  EXPECT_EQ(f.record.value.data(), out.data() + out.size() - 5);
}

TEST(ReplFrameTest, RecordFieldsOfAnotherKindAreReset) {
  std::string set;
  AppendRecord(1, MakeSet("key", "value"), &set);
  std::string del;
  AppendRecord(2, MakeDelete("key"), &del);
  Frame f;
  ASSERT_EQ(DecodeFrame(set, kMaxFrame, &f).status, DecodeStatus::kFrame);
  ASSERT_EQ(DecodeFrame(del, kMaxFrame, &f).status, DecodeStatus::kFrame);
  ExpectSameRecord(f.record, MakeDelete("key"));
}

TEST(ReplFrameTest, SetRecordFrameOffsetPatchesTheOffset) {
  std::string out;
  AppendRecord(0, MakeDelete("k"), &out);
  SetRecordFrameOffset(0x1122334455667788u, out.data());
  const Frame f = DecodeWhole(out);
  EXPECT_EQ(f.record_offset, 0x1122334455667788u);
  ExpectSameRecord(f.record, MakeDelete("k"));
}

TEST(ReplFrameTest, MaxFrameFitsTheLargestItem) {
  EXPECT_EQ(MaxFrameFor(1u << 20), (1u << 20) + 4096);
  // A value as large as -I itself (more than the store accepts) still fits.
  const std::string value(1u << 20, 'v');
  std::string out;
  AppendRecord(1, MakeSet(std::string(250, 'k'), value), &out);
  EXPECT_LE(out.size() - 4, kMaxFrame);
  DecodeWhole(out);
}

TEST(ReplFrameTest, LengthAtMaxFrameIsAccepted) {
  std::string out;
  AppendRecord(1, MakeSet("k", "12345"), &out);
  DecodeWhole(out, out.size() - 4);
  EXPECT_EQ(ExpectMalformed(out, out.size() - 5), "frame too large " + std::to_string(out.size() - 4));
}

TEST(ReplFrameTest, OtherProtocolVersionIsNotMalformed) {
  // Version 2 with a longer payload: only the version is decoded.
  Frame f = DecodeWhole(RawFrame(1, "\x00\x02"s + std::string(200, 'x')));
  EXPECT_EQ(f.type, FrameType::kHello);
  EXPECT_EQ(f.hello.protocol_version, 2);
  EXPECT_EQ(f.hello.node_id, 0u);
  EXPECT_EQ(f.hello.replid, ReplId{});
  f = DecodeWhole(RawFrame(1, "\x00\x00"s));
  EXPECT_EQ(f.hello.protocol_version, 0);
  // Version 1 must have exactly the v1 layout.
  EXPECT_EQ(ExpectMalformed(RawFrame(1, "\x00\x01"s)), "truncated HELLO");
}

TEST(ReplFrameTest, UnknownHelloFlagsAreKept) {
  Hello h = MakeHello();
  h.flags = 0xfc;
  std::string out;
  AppendHello(h, &out);
  EXPECT_EQ(DecodeWhole(out).hello.flags, 0xfc);
}

TEST(ReplFrameTest, TooLargeIsMalformedBeforeTheFrameArrives) {
  EXPECT_EQ(ExpectMalformed("\x00\x11\x00\x01"s), "frame too large 1114113");
  EXPECT_EQ(ExpectMalformed("\xff\xff\xff\xff"s), "frame too large 4294967295");
  EXPECT_EQ(ExpectMalformed("\x00\x00\x00\x00"s), "empty frame");
}

TEST(ReplFrameTest, UnknownTypesAreMalformed) {
  EXPECT_EQ(ExpectMalformed(RawFrame(0, "")), "unknown frame type 0");
  EXPECT_EQ(ExpectMalformed(RawFrame(11, "abc")), "unknown frame type 11");
  EXPECT_EQ(ExpectMalformed(RawFrame(255, "")), "unknown frame type 255");
}

TEST(ReplFrameTest, FixedFramesOfTheWrongSizeAreMalformed) {
  for (const std::string& frame : AllFrames()) {
    const uint8_t type = static_cast<uint8_t>(frame[4]);
    if (type == 5 || type == 6 || type == 10) continue;  // variable size: below
    const std::string payload = frame.substr(5);
    const std::string name(FrameTypeName(static_cast<FrameType>(type)));
    EXPECT_EQ(ExpectMalformed(RawFrame(type, payload.substr(0, payload.size() - 1))), "truncated " + name);
    EXPECT_EQ(ExpectMalformed(RawFrame(type, "")), "truncated " + name);
    EXPECT_EQ(ExpectMalformed(RawFrame(type, payload + "x")), "trailing bytes after " + name);
  }
}

TEST(ReplFrameTest, RecordsOfTheWrongSizeAreMalformed) {
  for (const std::string& frame : AllFrames()) {
    const uint8_t type = static_cast<uint8_t>(frame[4]);
    if (type != 5 && type != 6) continue;
    const std::string payload = frame.substr(5);
    const std::string name(FrameTypeName(static_cast<FrameType>(type)));
    // Every cut that does not end in the value is "truncated".
    for (size_t cut = 0; cut < payload.size(); ++cut) {
      const std::string reason = ExpectMalformed(RawFrame(type, payload.substr(0, cut)));
      EXPECT_TRUE(reason == "truncated " + name || reason.starts_with("value length exceeds frame"))
          << reason << " at " << cut;
    }
    EXPECT_EQ(ExpectMalformed(RawFrame(type, payload + "x")), "trailing bytes after " + name);
  }
}

TEST(ReplFrameTest, BadKeyLengthsAreMalformed) {
  const std::string head = Be64(1) + "\x02"s + Be64(1) + Be64(1);  // RECORD offset 1, DELETE
  EXPECT_EQ(ExpectMalformed(RawFrame(5, head + "\x00"s)), "bad key length 0");
  EXPECT_EQ(ExpectMalformed(RawFrame(5, head + "\xfb"s + std::string(251, 'k'))), "bad key length 251");
  EXPECT_EQ(ExpectMalformed(RawFrame(5, head + "\xff"s + std::string(255, 'k'))), "bad key length 255");
  const std::string set_head = "\x01"s + Be64(1) + Be64(1);  // SNAPSHOT, SET
  EXPECT_EQ(ExpectMalformed(RawFrame(6, set_head + "\x00"s)), "bad key length 0");
}

TEST(ReplFrameTest, ValueLengthMustMatchTheFrame) {
  std::string out;
  AppendSnapshot(MakeSet("k", "abc"), &out);
  std::string payload = out.substr(5);
  const size_t len_at = payload.size() - 3 - 4;
  payload[len_at + 3] = 4;  // value_len 4, 3 bytes follow
  EXPECT_EQ(ExpectMalformed(RawFrame(6, payload)), "value length exceeds frame 4");
  payload[len_at + 3] = 2;  // value_len 2, 3 bytes follow
  EXPECT_EQ(ExpectMalformed(RawFrame(6, payload)), "trailing bytes after SNAPSHOT");
  payload[len_at] = '\xff';  // value_len far past max_frame
  EXPECT_EQ(ExpectMalformed(RawFrame(6, payload)), "value length exceeds frame 4278190082");
}

TEST(ReplFrameTest, BadRecordKindsAreMalformed) {
  const std::string tail = Be64(1) + Be64(1) + "\x01k"s;
  EXPECT_EQ(ExpectMalformed(RawFrame(5, Be64(1) + "\x00"s + tail)), "bad record kind 0");
  EXPECT_EQ(ExpectMalformed(RawFrame(5, Be64(1) + "\x05"s + tail)), "bad record kind 5");
  EXPECT_EQ(ExpectMalformed(RawFrame(6, "\xff"s + tail)), "bad record kind 255");
}

TEST(ReplFrameTest, SnapshotIsOnlySetOrDelete) {
  std::string touch;
  AppendRecord(1, MakeTouch("k", "v"), &touch);
  EXPECT_EQ(ExpectMalformed(RawFrame(6, touch.substr(13))), "bad SNAPSHOT record kind 3");
  std::string flush;
  AppendRecord(1, MakeFlush(), &flush);
  EXPECT_EQ(ExpectMalformed(RawFrame(6, flush.substr(13))), "bad SNAPSHOT record kind 4");
}

TEST(ReplFrameTest, ErrorReasonMustMatchTheFrame) {
  EXPECT_EQ(ExpectMalformed(RawFrame(10, "")), "truncated ERROR");
  EXPECT_EQ(ExpectMalformed(RawFrame(10, "\x00"s)), "truncated ERROR");
  EXPECT_EQ(ExpectMalformed(RawFrame(10,
                                     "\x00\x05"
                                     "abcd"s)),
            "truncated ERROR");
  EXPECT_EQ(ExpectMalformed(RawFrame(10,
                                     "\x00\x03"
                                     "abcd"s)),
            "trailing bytes after ERROR");
}

TEST(ReplFrameTest, EverySplitNeedsMoreUntilWhole) {
  for (const std::string& frame : AllFrames()) {
    const Frame whole = DecodeWhole(frame);
    std::string buffer;
    for (size_t i = 0; i < frame.size(); ++i) {
      Frame f;
      const DecodeResult result = DecodeFrame(buffer, kMaxFrame, &f);
      ASSERT_EQ(result.status, DecodeStatus::kNeedMore) << "type " << int{frame[4]} << " at " << i;
      EXPECT_EQ(result.consumed, 0u);
      buffer.push_back(frame[i]);
    }
    Frame f;
    const DecodeResult result = DecodeFrame(buffer, kMaxFrame, &f);
    ASSERT_EQ(result.status, DecodeStatus::kFrame);
    EXPECT_EQ(result.consumed, frame.size());
    EXPECT_EQ(f.type, whole.type);
    // Same bytes re-encode from the split decode.
    std::string again;
    switch (f.type) {
      case FrameType::kHello:
        AppendHello(f.hello, &again);
        break;
      case FrameType::kAuth:
        AppendAuth(f.auth, &again);
        break;
      case FrameType::kFullBegin:
        AppendFullBegin(f.full_begin, &again);
        break;
      case FrameType::kFullEnd:
        AppendFullEnd(f.full_end, &again);
        break;
      case FrameType::kRecord:
        AppendRecord(f.record_offset, f.record, &again);
        break;
      case FrameType::kSnapshot:
        AppendSnapshot(f.record, &again);
        break;
      case FrameType::kAck:
        AppendAck(f.ack, &again);
        break;
      case FrameType::kPing:
        AppendPing(f.ping, &again);
        break;
      case FrameType::kPartialBegin:
        AppendPartialBegin(f.partial_begin, &again);
        break;
      case FrameType::kError:
        AppendError(f.error_reason, &again);
        break;
    }
    EXPECT_EQ(again, frame);
  }
}

TEST(ReplFrameTest, PipelinedFramesWalkTheBufferExactly) {
  const std::vector<std::string> frames = AllFrames();
  std::string buffer;
  for (const std::string& frame : frames) buffer += frame;
  std::string_view input(buffer);
  for (const std::string& frame : frames) {
    Frame f;
    const DecodeResult result = DecodeFrame(input, kMaxFrame, &f);
    ASSERT_EQ(result.status, DecodeStatus::kFrame) << result.reason();
    ASSERT_EQ(result.consumed, frame.size());
    EXPECT_EQ(static_cast<uint8_t>(f.type), static_cast<uint8_t>(frame[4]));
    input.remove_prefix(result.consumed);
  }
  EXPECT_TRUE(input.empty());
  Frame f;
  EXPECT_EQ(DecodeFrame(input, kMaxFrame, &f).status, DecodeStatus::kNeedMore);
}

TEST(ReplFrameTest, FrameTypeNames) {
  EXPECT_EQ(FrameTypeName(FrameType::kHello), "HELLO");
  EXPECT_EQ(FrameTypeName(FrameType::kFullBegin), "FULL_BEGIN");
  EXPECT_EQ(FrameTypeName(FrameType::kPartialBegin), "PARTIAL_BEGIN");
  EXPECT_EQ(FrameTypeName(FrameType::kError), "ERROR");
}

}  // namespace
}  // namespace twincache
