// Tests for ParseBinaryRequest(): every opcode's shape and error as memcached
// 1.6's proto_bin.c, values over -I swallowed rather than buffered, and
// incremental parsing at every byte boundary.
#include "core/protocol/binary_parser.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cstdint>
#include <string>
#include <vector>

#include "core/store/item.h"
#include "tests/unit/protocol/binary_packets.h"

namespace twincache {
namespace {

using testing_binary::ArithmeticExtras;
using testing_binary::ExpirationExtras;
using testing_binary::Packet;
using testing_binary::StorageExtras;

// Renders a result and the request it filled, with every view shown as its
// offset in `buffer` and its bytes, so two parses compare as strings.
std::string Describe(std::string_view buffer, const BinaryParseResult& result, const BinaryRequest& request) {
  auto view = [&](std::string_view v) {
    if (v.empty()) {
      return std::string("-");
    }
    return std::to_string(v.data() - buffer.data()) + ":" + std::string(v);
  };
  std::string out = "status=" + std::to_string(static_cast<int>(result.status)) +
                    " consumed=" + std::to_string(result.consumed) +
                    " swallow=" + std::to_string(result.swallow) +
                    " error=" + std::to_string(static_cast<int>(result.error)) +
                    " silent=" + std::to_string(result.silent) + " close=" + std::to_string(result.close) +
                    " opcode=" + std::to_string(static_cast<int>(request.opcode)) +
                    " opaque=" + std::to_string(request.opaque);
  if (result.status != BinaryParseStatus::kRequest) {
    return out;
  }
  return out + " cas=" + std::to_string(request.cas) + " extras=" + view(request.extras) +
         " key=" + view(request.key) + " value=" + view(request.value) +
         " flags=" + std::to_string(request.flags) + " exptime=" + std::to_string(request.exptime) +
         " delta=" + std::to_string(request.delta) + " initial=" + std::to_string(request.initial) +
         " too_large=" + std::to_string(request.too_large);
}

// Parses `stream` as a connection would, with only the first `available[i]`
// bytes present at step i: parse until kNeedMore, drop consumed bytes, skip
// swallowed ones, stop after a closing error. Returns every result.
std::vector<std::string> Drive(std::string_view stream, const std::vector<size_t>& available,
                               const ParserLimits& limits) {
  std::vector<std::string> results;
  BinaryRequest request;
  size_t offset = 0;
  size_t swallow = 0;
  for (size_t end : available) {
    for (;;) {
      const size_t skip = std::min(swallow, end - offset);
      offset += skip;
      swallow -= skip;
      if (swallow > 0) {
        break;
      }
      const std::string_view input = stream.substr(offset, end - offset);
      const BinaryParseResult result = ParseBinaryRequest(input, limits, &request);
      EXPECT_LE(result.consumed, input.size());
      if (result.status == BinaryParseStatus::kNeedMore) {
        EXPECT_EQ(result.consumed, 0u);
        break;
      }
      EXPECT_GT(result.consumed, 0u);
      results.push_back(Describe(stream, result, request));
      if (result.close) {
        return results;
      }
      offset += result.consumed;
      swallow = result.swallow;
    }
  }
  return results;
}

// Feeding `stream` one byte at a time, and in two pieces split at every byte
// boundary, yields exactly the results of parsing it whole.
void ExpectIncrementalSame(std::string_view stream, const ParserLimits& limits = {}) {
  const std::vector<std::string> whole = Drive(stream, {stream.size()}, limits);
  ASSERT_FALSE(whole.empty());
  std::vector<size_t> byte_by_byte;
  for (size_t i = 0; i <= stream.size(); ++i) {
    byte_by_byte.push_back(i);
  }
  EXPECT_EQ(Drive(stream, byte_by_byte, limits), whole);
  for (size_t split = 0; split <= stream.size(); ++split) {
    ASSERT_EQ(Drive(stream, {split, stream.size()}, limits), whole) << "split at " << split;
  }
}

class BinaryParserTest : public testing::Test {
 protected:
  BinaryParseResult Parse(std::string_view input) { return ParseBinaryRequest(input, limits_, &request_); }

  // Parses `packet` (one complete request) and expects kRequest consuming
  // `consumed` bytes (all of it by default).
  const BinaryRequest& Ok(const Packet& packet, size_t consumed = 0) {
    input_ = packet.Bytes();
    const BinaryParseResult result = Parse(input_);
    EXPECT_EQ(result.status, BinaryParseStatus::kRequest);
    EXPECT_EQ(result.consumed, consumed == 0 ? input_.size() : consumed);
    EXPECT_EQ(result.swallow, 0u);
    return request_;
  }

  // Parses `packet` and expects a closing kError with `error`, after the
  // header, extras and key.
  void Closes(const Packet& packet, BinaryStatus error) {
    input_ = packet.Bytes();
    const BinaryParseResult result = Parse(input_);
    EXPECT_EQ(result.status, BinaryParseStatus::kError);
    EXPECT_EQ(result.error, error);
    EXPECT_TRUE(result.close);
    EXPECT_FALSE(result.silent);
    EXPECT_EQ(result.consumed, kBinaryHeaderSize + packet.extras.size() + packet.key.size());
    EXPECT_EQ(request_.opcode, packet.opcode);
    EXPECT_EQ(request_.opaque, packet.opaque);
  }

  ParserLimits limits_;
  BinaryRequest request_;
  std::string input_;
};

TEST_F(BinaryParserTest, NeedsTheWholeHeaderFirst) {
  const std::string packet = Packet{BinaryOpcode::kNoop}.Bytes();
  for (size_t n = 0; n < kBinaryHeaderSize; ++n) {
    EXPECT_EQ(Parse(std::string_view(packet).substr(0, n)).status, BinaryParseStatus::kNeedMore) << n;
  }
  EXPECT_EQ(Parse(packet).status, BinaryParseStatus::kRequest);
}

TEST_F(BinaryParserTest, Get) {
  const BinaryRequest& r = Ok({BinaryOpcode::kGet, "foo", "", "", 0xdeadbeef, 0x0102030405060708});
  EXPECT_EQ(r.opcode, BinaryOpcode::kGet);
  EXPECT_EQ(r.key, "foo");
  EXPECT_EQ(r.key.data(), input_.data() + kBinaryHeaderSize);
  EXPECT_EQ(r.opaque, 0xdeadbeefu);
  EXPECT_EQ(r.cas, 0x0102030405060708u);
  EXPECT_TRUE(r.extras.empty());
  EXPECT_TRUE(r.value.empty());
  for (BinaryOpcode opcode : {BinaryOpcode::kGetQ, BinaryOpcode::kGetK, BinaryOpcode::kGetKQ}) {
    EXPECT_EQ(Ok({opcode, "k"}).opcode, opcode);
  }
}

TEST_F(BinaryParserTest, KeysAreAnyBytesUpTo250) {
  const std::string key = std::string("a b\r\n\0\x80", 7) + std::string(243, 'k');
  ASSERT_EQ(key.size(), kKeyMaxLength);
  EXPECT_EQ(Ok({BinaryOpcode::kGet, key}).key, key);
  Closes({BinaryOpcode::kGet, key + "x", "", "", 7}, BinaryStatus::kInvalidArguments);
  // The check applies to every opcode, before the opcode is looked at.
  Closes({static_cast<BinaryOpcode>(0x40), std::string(300, 'k')}, BinaryStatus::kInvalidArguments);
}

TEST_F(BinaryParserTest, SetFamilyDecodesFlagsAndExptime) {
  for (BinaryOpcode opcode : {BinaryOpcode::kSet, BinaryOpcode::kAdd, BinaryOpcode::kReplace,
                              BinaryOpcode::kSetQ, BinaryOpcode::kAddQ, BinaryOpcode::kReplaceQ}) {
    const BinaryRequest& r = Ok({opcode, "key", StorageExtras(0xcafebabe, 0xfffffffe), "the value", 1, 99});
    EXPECT_EQ(r.opcode, opcode);
    EXPECT_EQ(r.key, "key");
    EXPECT_EQ(r.value, "the value");
    EXPECT_EQ(r.value.data(), input_.data() + kBinaryHeaderSize + 8 + 3);
    EXPECT_EQ(r.flags, 0xcafebabeu);
    EXPECT_EQ(r.exptime, 0xfffffffeu);
    EXPECT_EQ(r.cas, 99u);
    EXPECT_FALSE(r.too_large);
  }
  // An empty value is a value.
  EXPECT_EQ(Ok({BinaryOpcode::kSet, "k", StorageExtras(0, 0)}).value, "");
}

TEST_F(BinaryParserTest, AppendPrependAndSaslCarryAValue) {
  for (BinaryOpcode opcode : {BinaryOpcode::kAppend, BinaryOpcode::kPrepend, BinaryOpcode::kAppendQ,
                              BinaryOpcode::kPrependQ, BinaryOpcode::kSaslAuth, BinaryOpcode::kSaslStep}) {
    const BinaryRequest& r = Ok({opcode, "key", "", "tail"});
    EXPECT_EQ(r.key, "key");
    EXPECT_EQ(r.value, "tail");
  }
}

TEST_F(BinaryParserTest, ArithmeticDecodesDeltaInitialAndExptime) {
  for (BinaryOpcode opcode : {BinaryOpcode::kIncrement, BinaryOpcode::kDecrement, BinaryOpcode::kIncrementQ,
                              BinaryOpcode::kDecrementQ}) {
    const BinaryRequest& r =
        Ok({opcode, "n", ArithmeticExtras(0x1122334455667788, 0xffffffffffffffff, kBinaryNoAutoCreate)});
    EXPECT_EQ(r.delta, 0x1122334455667788u);
    EXPECT_EQ(r.initial, 0xffffffffffffffffu);
    EXPECT_EQ(r.exptime, kBinaryNoAutoCreate);
  }
}

TEST_F(BinaryParserTest, TouchGatAndFlushDecodeTheExpiration) {
  for (BinaryOpcode opcode : {BinaryOpcode::kTouch, BinaryOpcode::kGat, BinaryOpcode::kGatQ,
                              BinaryOpcode::kGatK, BinaryOpcode::kGatKQ}) {
    const BinaryRequest& r = Ok({opcode, "k", ExpirationExtras(3600)});
    EXPECT_EQ(r.key, "k");
    EXPECT_EQ(r.exptime, 3600u);
  }
  EXPECT_EQ(Ok({BinaryOpcode::kFlush, "", ExpirationExtras(10)}).exptime, 10u);
  EXPECT_EQ(Ok({BinaryOpcode::kFlushQ}).exptime, 0u);
}

TEST_F(BinaryParserTest, CommandsWithoutBody) {
  for (BinaryOpcode opcode : {BinaryOpcode::kNoop, BinaryOpcode::kVersion, BinaryOpcode::kQuit,
                              BinaryOpcode::kQuitQ, BinaryOpcode::kSaslListMechs}) {
    EXPECT_EQ(Ok({opcode}).opcode, opcode);
  }
  EXPECT_EQ(Ok({BinaryOpcode::kStat}).key, "");
  EXPECT_EQ(Ok({BinaryOpcode::kStat, "settings"}).key, "settings");
  EXPECT_EQ(Ok({BinaryOpcode::kDelete, "k"}).key, "k");
  EXPECT_EQ(Ok({BinaryOpcode::kDeleteQ, "k", "", "", 0, 5}).cas, 5u);
}

TEST_F(BinaryParserTest, WaitsForExtrasKeyAndValue) {
  const std::string packet = Packet{BinaryOpcode::kSet, "key", StorageExtras(1, 2), "value"}.Bytes();
  for (size_t n = 0; n < packet.size(); ++n) {
    EXPECT_EQ(Parse(std::string_view(packet).substr(0, n)).status, BinaryParseStatus::kNeedMore) << n;
  }
  // Bytes after the packet are the next packet's.
  const std::string two = packet + Packet{BinaryOpcode::kNoop}.Bytes();
  const BinaryParseResult result = Parse(two);
  EXPECT_EQ(result.status, BinaryParseStatus::kRequest);
  EXPECT_EQ(result.consumed, packet.size());
}

TEST_F(BinaryParserTest, BadMagicClosesSilently) {
  for (uint8_t magic : {0x00, 0x81, 0x7f, 0xff}) {
    Packet packet{BinaryOpcode::kNoop};
    packet.magic = magic;
    const std::string bytes = packet.Bytes();
    EXPECT_EQ(Parse(std::string_view(bytes).substr(0, 23)).status, BinaryParseStatus::kNeedMore);
    const BinaryParseResult result = Parse(bytes);
    EXPECT_EQ(result.status, BinaryParseStatus::kError);
    EXPECT_TRUE(result.silent);
    EXPECT_TRUE(result.close);
    EXPECT_EQ(result.consumed, kBinaryHeaderSize);
  }
  // A text command on a binary connection is a bad magic once 24 bytes are in.
  const BinaryParseResult result = Parse("get some_key_of_this_size\r\n");
  EXPECT_EQ(result.status, BinaryParseStatus::kError);
  EXPECT_TRUE(result.silent);
}

TEST_F(BinaryParserTest, LengthsLongerThanTheBodyAreUnknownCommand) {
  Packet packet{BinaryOpcode::kGet, "abc", "", "", 3};
  packet.bodylen = 2;
  // memcached waits for the key before it compares the lengths.
  const std::string bytes = packet.Bytes();
  EXPECT_EQ(Parse(std::string_view(bytes).substr(0, 26)).status, BinaryParseStatus::kNeedMore);
  Closes(packet, BinaryStatus::kUnknownCommand);
  Packet extras{BinaryOpcode::kSet, "k", StorageExtras(0, 0)};
  extras.bodylen = 8;
  Closes(extras, BinaryStatus::kUnknownCommand);
}

TEST_F(BinaryParserTest, ShapesMemcachedRefusesAreInvalidArguments) {
  auto with_bodylen = [](Packet packet, uint32_t bodylen) {
    packet.bodylen = bodylen;
    return packet;
  };
  const std::vector<Packet> bad = {
      {BinaryOpcode::kGet},                                  // no key
      {BinaryOpcode::kGet, "k", "1234"},                     // extras
      with_bodylen({BinaryOpcode::kGetK, "k"}, 0xffffffff),  // a body after the key
      {BinaryOpcode::kGetQ, "k", "", "v"},                   // a value
      {BinaryOpcode::kSet, "k", "1234", "v"},                // 4 bytes of extras
      {BinaryOpcode::kSet, "k", "", "v"},                    // none
      {BinaryOpcode::kSetQ, "", StorageExtras(0, 0), "v"},   // no key
      {BinaryOpcode::kAdd, "k", StorageExtras(0, 0) + "x"},  // 9 bytes of extras
      {BinaryOpcode::kDelete},                               // no key
      {BinaryOpcode::kDelete, "k", "", "v"},                 // a value
      {BinaryOpcode::kDeleteQ, "k", "1234"},                 // extras
      {BinaryOpcode::kIncrement, "k", ArithmeticExtras(1, 0, 0).substr(0, 16)},
      {BinaryOpcode::kDecrement, "", ArithmeticExtras(1, 0, 0)},
      {BinaryOpcode::kIncrementQ, "k", ArithmeticExtras(1, 0, 0), "v"},
      {BinaryOpcode::kAppend, "k", "1234", "v"},  // extras
      {BinaryOpcode::kPrependQ, "", "", "v"},     // no key
      {BinaryOpcode::kNoop, "k"},
      {BinaryOpcode::kNoop, "", "", "v"},
      {BinaryOpcode::kVersion, "", "1234"},
      {BinaryOpcode::kQuit, "k"},
      {BinaryOpcode::kQuitQ, "", "", "v"},
      {BinaryOpcode::kFlush, "k"},
      {BinaryOpcode::kFlush, "", StorageExtras(0, 0)},
      {BinaryOpcode::kFlushQ, "", ExpirationExtras(1), "v"},
      {BinaryOpcode::kStat, "", "1234"},
      {BinaryOpcode::kTouch, "k"},                    // no extras
      {BinaryOpcode::kGat, "", ExpirationExtras(1)},  // no key
      {BinaryOpcode::kGatKQ, "k", StorageExtras(0, 0)},
      {BinaryOpcode::kSaslListMechs, "PLAIN"},
      {BinaryOpcode::kSaslAuth, "", "", "data"},  // no mechanism
      {BinaryOpcode::kSaslStep, "PLAIN", "1234"},
  };
  for (size_t i = 0; i < bad.size(); ++i) {
    SCOPED_TRACE(testing::Message() << "packet " << i);
    Closes(bad[i], BinaryStatus::kInvalidArguments);
  }
}

TEST_F(BinaryParserTest, UnknownOpcodesSwallowTheirBodyWithoutClosing) {
  for (uint8_t opcode : {0x1b, 0x1f, 0x25, 0x30, 0x40, 0xff}) {
    SCOPED_TRACE(testing::Message() << "opcode " << int{opcode});
    const Packet packet{static_cast<BinaryOpcode>(opcode), "key", "1234", std::string(5000, 'v'), 42};
    input_ = packet.Bytes();
    // The value is not waited for.
    const BinaryParseResult result = Parse(std::string_view(input_).substr(0, kBinaryHeaderSize + 7));
    EXPECT_EQ(result.status, BinaryParseStatus::kError);
    EXPECT_EQ(result.error, BinaryStatus::kUnknownCommand);
    EXPECT_FALSE(result.close);
    EXPECT_FALSE(result.silent);
    EXPECT_EQ(result.consumed, kBinaryHeaderSize + 7);
    EXPECT_EQ(result.swallow, 5000u);
    EXPECT_EQ(static_cast<uint8_t>(request_.opcode), opcode);
    EXPECT_EQ(request_.opaque, 42u);
  }
}

TEST_F(BinaryParserTest, ValuesOverTheItemSizeLimitAreSwallowed) {
  limits_.item_size_max = 1024;
  const size_t fits = 1024 - MemcachedItemSize(3, 0);
  ASSERT_TRUE(ItemFits(3, fits, 1024));
  EXPECT_EQ(Ok({BinaryOpcode::kSet, "key", StorageExtras(0, 0), std::string(fits, 'v')}).value.size(), fits);
  for (BinaryOpcode opcode :
       {BinaryOpcode::kSet, BinaryOpcode::kSetQ, BinaryOpcode::kAdd, BinaryOpcode::kReplaceQ,
        BinaryOpcode::kAppend, BinaryOpcode::kPrependQ, BinaryOpcode::kSaslAuth}) {
    SCOPED_TRACE(testing::Message() << "opcode " << static_cast<int>(opcode));
    const bool storage = LoudOpcode(opcode) == BinaryOpcode::kSet ||
                         LoudOpcode(opcode) == BinaryOpcode::kAdd ||
                         LoudOpcode(opcode) == BinaryOpcode::kReplace;
    const Packet packet{opcode, "key", storage ? StorageExtras(7, 0) : "", std::string(fits + 1, 'v')};
    input_ = packet.Bytes();
    const size_t head = kBinaryHeaderSize + packet.extras.size() + 3;
    // Decided from the header, extras and key: the value is never buffered.
    const BinaryParseResult result = Parse(std::string_view(input_).substr(0, head));
    EXPECT_EQ(result.status, BinaryParseStatus::kRequest);
    EXPECT_EQ(result.consumed, head);
    EXPECT_EQ(result.swallow, fits + 1);
    EXPECT_TRUE(request_.too_large);
    EXPECT_EQ(request_.key, "key");
    EXPECT_TRUE(request_.value.empty());
    if (storage) {
      EXPECT_EQ(request_.flags, 7u);
    }
  }
  // A 4 GB announcement is swallowed the same way.
  Packet huge{BinaryOpcode::kSet, "key", StorageExtras(0, 0)};
  huge.bodylen = 0xffffffff;
  input_ = huge.Bytes();
  const BinaryParseResult result = Parse(input_);
  EXPECT_EQ(result.status, BinaryParseStatus::kRequest);
  EXPECT_EQ(result.swallow, 0xffffffffu - 11);
}

TEST_F(BinaryParserTest, StatTouchAndGatReadNoFurtherThanTheKey) {
  // memcached checks only extlen (and a key) for these and reads no more,
  // so what follows the key is parsed as the next packet.
  Packet stat{BinaryOpcode::kStat, "items"};
  stat.bodylen = 5 + kBinaryHeaderSize;
  std::string stream = stat.Bytes() + Packet{BinaryOpcode::kNoop, "", "", "", 9}.Bytes();
  BinaryParseResult result = Parse(stream);
  EXPECT_EQ(result.status, BinaryParseStatus::kRequest);
  EXPECT_EQ(result.consumed, kBinaryHeaderSize + 5);
  result = Parse(std::string_view(stream).substr(result.consumed));
  EXPECT_EQ(result.status, BinaryParseStatus::kRequest);
  EXPECT_EQ(request_.opcode, BinaryOpcode::kNoop);
  EXPECT_EQ(request_.opaque, 9u);
  Packet touch{BinaryOpcode::kTouch, "k", ExpirationExtras(5)};
  touch.bodylen = 100;
  input_ = touch.Bytes();
  result = Parse(input_);
  EXPECT_EQ(result.status, BinaryParseStatus::kRequest);
  EXPECT_EQ(result.consumed, input_.size());
}

TEST_F(BinaryParserTest, IncrementalParsingMatchesWholeParsing) {
  limits_.item_size_max = 1024;
  std::string stream;
  stream += Packet{BinaryOpcode::kSetQ, "a", StorageExtras(1, 2), "hello", 1}.Bytes();
  stream += Packet{BinaryOpcode::kGetKQ, "a", "", "", 2}.Bytes();
  stream += Packet{BinaryOpcode::kIncrement, "n", ArithmeticExtras(1, 5, 0), "", 3}.Bytes();
  stream += Packet{BinaryOpcode::kSet, "big", StorageExtras(0, 0), std::string(2000, 'x'), 4}.Bytes();
  stream += Packet{static_cast<BinaryOpcode>(0x1b), "", ExpirationExtras(1), "", 5}.Bytes();
  stream += Packet{BinaryOpcode::kAppend, "a", "", "++", 6}.Bytes();
  stream += Packet{BinaryOpcode::kGat, "a", ExpirationExtras(60), "", 7}.Bytes();
  stream += Packet{BinaryOpcode::kStat, "settings", "", "", 8}.Bytes();
  stream += Packet{BinaryOpcode::kFlushQ, "", ExpirationExtras(0), "", 9}.Bytes();
  stream += Packet{BinaryOpcode::kNoop, "", "", "", 10}.Bytes();
  ExpectIncrementalSame(stream, limits_);
  // Ending in an error that closes.
  Packet bad{BinaryOpcode::kGet, "k", "1234"};
  ExpectIncrementalSame(
      Packet{BinaryOpcode::kNoop}.Bytes() + bad.Bytes() + Packet{BinaryOpcode::kNoop}.Bytes(), limits_);
  Packet magic{BinaryOpcode::kNoop};
  magic.magic = 0x81;
  ExpectIncrementalSame(Packet{BinaryOpcode::kVersion}.Bytes() + magic.Bytes(), limits_);
}

}  // namespace
}  // namespace twincache
