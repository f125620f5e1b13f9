// Unit tests for BinaryHandler (core/protocol/binary_handler.h): request
// packets go through ParseBinaryRequest and Handle, as a connection does, and
// the response packets are compared field by field with what memcached 1.6's
// proto_bin.c sends (checked against Debian's memcached 1.6.18). Time comes
// from a ManualClock; nothing sleeps.
#include "core/protocol/binary_handler.h"

#include <gtest/gtest.h>

#include <stdlib.h>

#include <algorithm>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "core/auth/sasl.h"
#include "core/config/settings.h"
#include "core/protocol/binary_parser.h"
#include "core/protocol/server_state.h"
#include "core/store/item.h"
#include "core/store/store.h"
#include "tests/unit/protocol/binary_packets.h"
#include "tests/unit/testing/temp_dir.h"

namespace twincache {
namespace {

using testing_binary::ArithmeticExtras;
using testing_binary::ExpirationExtras;
using testing_binary::GetBe;
using testing_binary::Packet;
using testing_binary::Response;
using testing_binary::StorageExtras;

constexpr int64_t kStartMillis = 1'700'000'000'000;  // 2023-11-14, unix ms
constexpr size_t kItemSizeMax = 1024;                // -I, so "too large" is cheap to send

constexpr uint16_t kSuccess = 0x00;
constexpr uint16_t kKeyNotFound = 0x01;
constexpr uint16_t kKeyExists = 0x02;
constexpr uint16_t kTooLarge = 0x03;
constexpr uint16_t kInvalidArguments = 0x04;
constexpr uint16_t kNotStored = 0x05;
constexpr uint16_t kDeltaBadValue = 0x06;
constexpr uint16_t kAuthError = 0x20;
constexpr uint16_t kAuthContinue = 0x21;
constexpr uint16_t kUnknownCommand = 0x81;

Settings TestSettings() {
  Settings settings;
  settings.item_size_max = kItemSizeMax;
  settings.threads = 1;
  return settings;
}

StoreOptions TestStoreOptions(Clock* clock) {
  StoreOptions options;
  options.item_size_max = kItemSizeMax;
  options.shard_bits = 2;
  options.clock = clock;
  return options;
}

// libsasl2 configured once for the process as memcached -S would be:
// SASL_CONF_PATH's memcached.conf offers PLAIN and MEMCACHED_SASL_PWDB holds
// alice's password. The directory goes when the process exits.
struct SaslWorld {
  SaslWorld() {
    if (dir.empty()) {
      error = "mkdtemp failed";
      return;
    }
    std::ofstream(dir / "memcached.conf") << "mech_list: plain\n";
    std::ofstream(dir / "pwdb") << "alice:secret\n";
    SaslOptions options;
    options.conf_path = dir.string();
    options.pwdb_path = (dir / "pwdb").string();
    SaslInitInfo info;
    ok = InitSasl(options, &info, &error);
  }
  testing::TempDir temp{"twincache-binary-sasl"};
  std::filesystem::path dir = temp.path();
  bool ok = false;
  std::string error;
};

const SaslWorld& World() {
  static const SaslWorld world;
  return world;
}

// PLAIN's client data: authzid NUL authcid NUL password (RFC 4616).
std::string Plain(const std::string& user, const std::string& password) {
  return std::string(1, '\0') + user + std::string(1, '\0') + password;
}

class BinaryHandlerTest : public ::testing::Test {
 protected:
  BinaryHandlerTest()
      : clock_(kStartMillis),
        store_(TestStoreOptions(&clock_)),
        state_(TestSettings(), &store_, &clock_),
        handler_(&state_) {
    limits_.item_size_max = kItemSizeMax;
  }

  // Feeds the packets through ParseBinaryRequest and Handle as
  // core/server/connection.cc does and returns the responses. Stops after a
  // packet that closes the connection (closed_).
  std::vector<Response> Run(const std::vector<Packet>& packets) {
    std::string input;
    for (const Packet& packet : packets) {
      input += packet.Bytes();
    }
    std::string out;
    std::string_view rest = input;
    BinaryRequest request;
    while (!closed_) {
      const BinaryParseResult result = ParseBinaryRequest(rest, limits_, &request);
      if (result.status == BinaryParseStatus::kNeedMore) {
        break;
      }
      if (result.status == BinaryParseStatus::kError) {
        if (!result.silent) {
          AppendBinaryError(request, result.error, &out);
        }
        closed_ = result.close;
      } else if (handler_.Handle(request, &session_, state_.stats.ForThread(0), &out) ==
                 HandleOutcome::kClose) {
        closed_ = true;
      }
      rest.remove_prefix(result.consumed);
      EXPECT_LE(result.swallow, rest.size());  // the tests send every swallowed byte
      rest.remove_prefix(std::min(result.swallow, rest.size()));
    }
    if (!closed_) {
      EXPECT_TRUE(rest.empty()) << "unparsed bytes: " << rest.size();
    }
    bool complete = false;
    std::vector<Response> responses = testing_binary::Responses(out, &complete);
    EXPECT_TRUE(complete);
    for (const Response& r : responses) {
      EXPECT_EQ(r.magic, kBinaryResponseMagic);
      EXPECT_EQ(r.datatype, 0);
    }
    return responses;
  }

  // The one response to `packet`.
  Response One(const Packet& packet) {
    const std::vector<Response> responses = Run({packet});
    EXPECT_EQ(responses.size(), 1u);
    return responses.empty() ? Response{} : responses[0];
  }

  // Sets `key` to `value` with a Set; returns the cas unique.
  uint64_t Set(const std::string& key, const std::string& value, uint32_t flags = 0, uint32_t exptime = 0) {
    const Response r = One({BinaryOpcode::kSet, key, StorageExtras(flags, exptime), value});
    EXPECT_EQ(r.status, kSuccess);
    return r.cas;
  }

  // The value of `key` by a Get, or "<miss>".
  std::string Value(const std::string& key) {
    const Response r = One({BinaryOpcode::kGet, key});
    return r.status == kSuccess ? r.value : "<miss>";
  }

  uint64_t Counter(Stat stat) { return state_.stats.Totals()[static_cast<size_t>(stat)]; }

  static void ExpectError(const Response& r, BinaryOpcode opcode, uint16_t status, std::string_view message,
                          uint32_t opaque = 0) {
    EXPECT_EQ(r.opcode, static_cast<uint8_t>(opcode));
    EXPECT_EQ(r.status, status);
    EXPECT_EQ(r.value, message);
    EXPECT_EQ(r.extras, "");
    EXPECT_EQ(r.key, "");
    EXPECT_EQ(r.cas, 0u);
    EXPECT_EQ(r.opaque, opaque);
  }

  ManualClock clock_;
  Store store_;
  ServerState state_;
  BinaryHandler handler_;
  ParserLimits limits_;
  BinarySession session_;
  bool closed_ = false;
};

TEST_F(BinaryHandlerTest, GetMissAndHit) {
  ExpectError(One({BinaryOpcode::kGet, "k", "", "", 0xa1b2c3d4}), BinaryOpcode::kGet, kKeyNotFound,
              "Not found", 0xa1b2c3d4);
  // GetK's miss carries the key and no message (write_bin_miss_response).
  const Response getk = One({BinaryOpcode::kGetK, "k", "", "", 7});
  EXPECT_EQ(getk.status, kKeyNotFound);
  EXPECT_EQ(getk.key, "k");
  EXPECT_EQ(getk.value, "");
  EXPECT_EQ(getk.opaque, 7u);
  EXPECT_TRUE(Run({{BinaryOpcode::kGetQ, "k"}, {BinaryOpcode::kGetKQ, "k"}}).empty());

  const uint64_t cas = Set("k", "hello", 0xdeadbeef);
  EXPECT_NE(cas, 0u);
  for (BinaryOpcode opcode : {BinaryOpcode::kGet, BinaryOpcode::kGetQ}) {
    const Response r = One({opcode, "k", "", "", 9});
    EXPECT_EQ(r.opcode, static_cast<uint8_t>(opcode));
    EXPECT_EQ(r.status, kSuccess);
    EXPECT_EQ(GetBe(r.extras, 0, 4), 0xdeadbeefu);
    EXPECT_EQ(r.extras.size(), 4u);
    EXPECT_EQ(r.key, "");
    EXPECT_EQ(r.value, "hello");
    EXPECT_EQ(r.cas, cas);
    EXPECT_EQ(r.opaque, 9u);
  }
  for (BinaryOpcode opcode : {BinaryOpcode::kGetK, BinaryOpcode::kGetKQ}) {
    const Response r = One({opcode, "k"});
    EXPECT_EQ(r.key, "k");
    EXPECT_EQ(r.value, "hello");
    EXPECT_EQ(r.cas, cas);
  }
}

TEST_F(BinaryHandlerTest, KeysAndValuesAreBinarySafe) {
  const std::string key("a b\r\n\0\x80", 7);
  const std::string value("\0\r\nEND\r\n\xff", 9);
  Set(key, value);
  EXPECT_EQ(Value(key), value);
  EXPECT_EQ(One({BinaryOpcode::kGetK, key}).key, key);
}

TEST_F(BinaryHandlerTest, PipelinedGetKQEndedByNoop) {
  Set("a", "1");
  Set("c", "3");
  const std::vector<Response> responses = Run({{BinaryOpcode::kGetKQ, "a", "", "", 1},
                                               {BinaryOpcode::kGetKQ, "b", "", "", 2},
                                               {BinaryOpcode::kGetKQ, "c", "", "", 3},
                                               {BinaryOpcode::kNoop, "", "", "", 4}});
  ASSERT_EQ(responses.size(), 3u);
  EXPECT_EQ(responses[0].key, "a");
  EXPECT_EQ(responses[0].opaque, 1u);
  EXPECT_EQ(responses[1].key, "c");
  EXPECT_EQ(responses[1].value, "3");
  EXPECT_EQ(responses[1].opaque, 3u);
  EXPECT_EQ(responses[2].opcode, static_cast<uint8_t>(BinaryOpcode::kNoop));
  EXPECT_EQ(responses[2].status, kSuccess);
  EXPECT_EQ(responses[2].opaque, 4u);
  EXPECT_EQ(Counter(Stat::kCmdGet), 3u);
  EXPECT_EQ(Counter(Stat::kGetHits), 2u);
  EXPECT_EQ(Counter(Stat::kGetMisses), 1u);
}

TEST_F(BinaryHandlerTest, QuietStorageIsSilentButItsErrorsAreSent) {
  EXPECT_TRUE(Run({{BinaryOpcode::kSetQ, "k", StorageExtras(0, 0), "v"}}).empty());
  EXPECT_EQ(Value("k"), "v");
  ExpectError(One({BinaryOpcode::kAddQ, "k", StorageExtras(0, 0), "v", 5}), BinaryOpcode::kAddQ, kKeyExists,
              "Data exists for key.", 5);
  ExpectError(One({BinaryOpcode::kReplaceQ, "nope", StorageExtras(0, 0), "v"}), BinaryOpcode::kReplaceQ,
              kKeyNotFound, "Not found");
  ExpectError(One({BinaryOpcode::kAppendQ, "nope", "", "v"}), BinaryOpcode::kAppendQ, kNotStored,
              "Not stored.");
  EXPECT_TRUE(Run({{BinaryOpcode::kAppendQ, "k", "", "w"}, {BinaryOpcode::kPrependQ, "k", "", "u"}}).empty());
  EXPECT_EQ(Value("k"), "uvw");
}

TEST_F(BinaryHandlerTest, AddReplaceAndCas) {
  const uint64_t first = Set("k", "one", 3);
  ExpectError(One({BinaryOpcode::kAdd, "k", StorageExtras(0, 0), "x"}), BinaryOpcode::kAdd, kKeyExists,
              "Data exists for key.");
  ExpectError(One({BinaryOpcode::kReplace, "missing", StorageExtras(0, 0), "x"}), BinaryOpcode::kReplace,
              kKeyNotFound, "Not found");
  // A cas makes set, add and replace a cas command (process_bin_update's NREAD_CAS).
  ExpectError(One({BinaryOpcode::kSet, "k", StorageExtras(0, 0), "x", 0, first + 1}), BinaryOpcode::kSet,
              kKeyExists, "Data exists for key.");
  ExpectError(One({BinaryOpcode::kSet, "missing", StorageExtras(0, 0), "x", 0, first}), BinaryOpcode::kSet,
              kKeyNotFound, "Not found");
  const Response replaced = One({BinaryOpcode::kReplace, "k", StorageExtras(4, 0), "two", 0, first});
  EXPECT_EQ(replaced.status, kSuccess);
  EXPECT_GT(replaced.cas, first);
  const Response added = One({BinaryOpcode::kAdd, "k", StorageExtras(5, 0), "three", 0, replaced.cas});
  EXPECT_EQ(added.status, kSuccess);
  const Response get = One({BinaryOpcode::kGet, "k"});
  EXPECT_EQ(get.value, "three");
  EXPECT_EQ(GetBe(get.extras, 0, 4), 5u);
  EXPECT_EQ(get.cas, added.cas);
  EXPECT_EQ(Counter(Stat::kCmdSet), 7u);
  EXPECT_EQ(Counter(Stat::kCasHits), 2u);
  EXPECT_EQ(Counter(Stat::kCasBadval), 1u);
  EXPECT_EQ(Counter(Stat::kCasMisses), 1u);
}

TEST_F(BinaryHandlerTest, AppendAndPrependKeepFlagsAndCompareCas) {
  const uint64_t cas = Set("k", "mid", 77, 0);
  const Response appended = One({BinaryOpcode::kAppend, "k", "", ">>"});
  EXPECT_EQ(appended.status, kSuccess);
  EXPECT_GT(appended.cas, cas);
  ExpectError(One({BinaryOpcode::kPrepend, "k", "", "<<", 0, cas}), BinaryOpcode::kPrepend, kKeyExists,
              "Data exists for key.");
  EXPECT_EQ(One({BinaryOpcode::kPrepend, "k", "", "<<", 0, appended.cas}).status, kSuccess);
  const Response get = One({BinaryOpcode::kGet, "k"});
  EXPECT_EQ(get.value, "<<mid>>");
  EXPECT_EQ(GetBe(get.extras, 0, 4), 77u);
  ExpectError(One({BinaryOpcode::kPrepend, "missing", "", "x"}), BinaryOpcode::kPrepend, kNotStored,
              "Not stored.");
}

TEST_F(BinaryHandlerTest, TooLargeValues) {
  Set("k", "old");
  const std::string big(kItemSizeMax, 'x');
  // A Set over -I drops the old value too, so no reader sees stale data.
  ExpectError(One({BinaryOpcode::kSet, "k", StorageExtras(0, 0), big, 3}), BinaryOpcode::kSet, kTooLarge,
              "Too large.", 3);
  EXPECT_EQ(Value("k"), "<miss>");
  Set("k", "old");
  ExpectError(One({BinaryOpcode::kSetQ, "k", StorageExtras(0, 0), big}), BinaryOpcode::kSetQ, kTooLarge,
              "Too large.");
  EXPECT_EQ(Value("k"), "<miss>");
  Set("k", "old");
  ExpectError(One({BinaryOpcode::kAdd, "k", StorageExtras(0, 0), big}), BinaryOpcode::kAdd, kTooLarge,
              "Too large.");
  ExpectError(One({BinaryOpcode::kAppend, "k", "", big}), BinaryOpcode::kAppend, kTooLarge, "Too large.");
  EXPECT_EQ(Value("k"), "old");
  // A joined value over -I is "Not stored." (do_store_item's allocation).
  const std::string fits(kItemSizeMax - MemcachedItemSize(1, 0), 'y');
  ASSERT_TRUE(ItemFits(1, fits.size(), kItemSizeMax));
  ExpectError(One({BinaryOpcode::kAppend, "k", "", fits}), BinaryOpcode::kAppend, kNotStored, "Not stored.");
  EXPECT_EQ(Value("k"), "old");
  // The next packet after a swallowed value is served.
  const std::vector<Response> responses =
      Run({{BinaryOpcode::kSet, "k2", StorageExtras(0, 0), big}, {BinaryOpcode::kNoop, "", "", "", 8}});
  ASSERT_EQ(responses.size(), 2u);
  EXPECT_EQ(responses[1].opaque, 8u);
}

TEST_F(BinaryHandlerTest, Delete) {
  const uint64_t cas = Set("k", "v");
  ExpectError(One({BinaryOpcode::kDelete, "k", "", "", 0, cas + 1}), BinaryOpcode::kDelete, kKeyExists,
              "Data exists for key.");
  const Response deleted = One({BinaryOpcode::kDelete, "k", "", "", 0, cas});
  EXPECT_EQ(deleted.status, kSuccess);
  EXPECT_EQ(deleted.cas, 0u);
  ExpectError(One({BinaryOpcode::kDelete, "k"}), BinaryOpcode::kDelete, kKeyNotFound, "Not found");
  Set("k", "v");
  EXPECT_TRUE(Run({{BinaryOpcode::kDeleteQ, "k"}}).empty());
  ExpectError(One({BinaryOpcode::kDeleteQ, "k"}), BinaryOpcode::kDeleteQ, kKeyNotFound, "Not found");
  EXPECT_EQ(Counter(Stat::kDeleteHits), 2u);
  EXPECT_EQ(Counter(Stat::kDeleteMisses), 2u);
}

TEST_F(BinaryHandlerTest, IncrementAndDecrement) {
  // Expiration 0xffffffff: no auto-create, a miss.
  ExpectError(One({BinaryOpcode::kIncrement, "n", ArithmeticExtras(1, 5, kBinaryNoAutoCreate)}),
              BinaryOpcode::kIncrement, kKeyNotFound, "Not found");
  EXPECT_EQ(Counter(Stat::kIncrMisses), 1u);
  // Otherwise the initial value is stored (and returned), delta not applied.
  Response r = One({BinaryOpcode::kIncrement, "n", ArithmeticExtras(1, 10, 0), "", 4});
  EXPECT_EQ(r.status, kSuccess);
  EXPECT_EQ(r.value.size(), 8u);
  EXPECT_EQ(GetBe(r.value, 0, 8), 10u);
  EXPECT_EQ(r.opaque, 4u);
  const Response stored = One({BinaryOpcode::kGet, "n"});
  EXPECT_EQ(stored.value, "10");
  EXPECT_EQ(GetBe(stored.extras, 0, 4), 0u);
  EXPECT_EQ(stored.cas, r.cas);
  // Creating counts neither a hit nor a miss nor a set.
  EXPECT_EQ(Counter(Stat::kIncrHits), 0u);
  EXPECT_EQ(Counter(Stat::kIncrMisses), 1u);
  EXPECT_EQ(Counter(Stat::kCmdSet), 0u);
  r = One({BinaryOpcode::kIncrement, "n", ArithmeticExtras(5, 0, 0)});
  EXPECT_EQ(GetBe(r.value, 0, 8), 15u);
  EXPECT_EQ(One({BinaryOpcode::kGet, "n"}).cas, r.cas);
  r = One({BinaryOpcode::kDecrement, "n", ArithmeticExtras(100, 0, 0)});
  EXPECT_EQ(GetBe(r.value, 0, 8), 0u);  // decr floors at 0
  r = One({BinaryOpcode::kDecrement, "d", ArithmeticExtras(100, 7, 0)});
  EXPECT_EQ(GetBe(r.value, 0, 8), 7u);
  Set("w", "18446744073709551615");
  r = One({BinaryOpcode::kIncrement, "w", ArithmeticExtras(2, 0, 0)});
  EXPECT_EQ(GetBe(r.value, 0, 8), 1u);  // incr wraps at 2^64
  // cas compared.
  ExpectError(One({BinaryOpcode::kIncrement, "w", ArithmeticExtras(1, 0, 0), "", 0, r.cas + 1}),
              BinaryOpcode::kIncrement, kKeyExists, "Data exists for key.");
  EXPECT_EQ(One({BinaryOpcode::kIncrement, "w", ArithmeticExtras(1, 0, 0), "", 0, r.cas}).status, kSuccess);
  Set("s", "abc");
  ExpectError(One({BinaryOpcode::kDecrementQ, "s", ArithmeticExtras(1, 0, 0)}), BinaryOpcode::kDecrementQ,
              kDeltaBadValue, "Non-numeric server-side value for incr or decr");
  EXPECT_TRUE(Run({{BinaryOpcode::kIncrementQ, "w", ArithmeticExtras(1, 0, 0)},
                   {BinaryOpcode::kIncrementQ, "q", ArithmeticExtras(1, 3, 0)}})
                  .empty());
  EXPECT_EQ(Value("w"), "3");
  EXPECT_EQ(Value("q"), "3");
  EXPECT_EQ(Counter(Stat::kIncrHits), 4u);
  EXPECT_EQ(Counter(Stat::kDecrHits), 1u);
  EXPECT_EQ(Counter(Stat::kIncrMisses), 1u);
  EXPECT_EQ(Counter(Stat::kDecrMisses), 0u);
}

TEST_F(BinaryHandlerTest, AutoCreatedCounterTakesTheExpiration) {
  EXPECT_EQ(One({BinaryOpcode::kIncrement, "n", ArithmeticExtras(1, 1, 10)}).status, kSuccess);
  clock_.Advance(9'000);
  EXPECT_EQ(Value("n"), "1");
  clock_.Advance(1'000);
  EXPECT_EQ(Value("n"), "<miss>");
}

TEST_F(BinaryHandlerTest, TouchAndGat) {
  const uint64_t cas = Set("k", "value", 12, 5);
  // Touch answers the flags (as extras) and the cas, no value.
  Response r = One({BinaryOpcode::kTouch, "k", ExpirationExtras(100), "", 2});
  EXPECT_EQ(r.status, kSuccess);
  EXPECT_EQ(GetBe(r.extras, 0, 4), 12u);
  EXPECT_EQ(r.extras.size(), 4u);
  EXPECT_EQ(r.key, "");
  EXPECT_EQ(r.value, "");
  EXPECT_EQ(r.cas, cas);
  clock_.Advance(50'000);
  r = One({BinaryOpcode::kGat, "k", ExpirationExtras(10)});
  EXPECT_EQ(r.value, "value");
  EXPECT_EQ(r.key, "");
  EXPECT_EQ(r.cas, cas);
  r = One({BinaryOpcode::kGatK, "k", ExpirationExtras(10)});
  EXPECT_EQ(r.key, "k");
  EXPECT_EQ(r.value, "value");
  r = One({BinaryOpcode::kGatKQ, "k", ExpirationExtras(10)});
  EXPECT_EQ(r.key, "k");
  EXPECT_EQ(One({BinaryOpcode::kGatQ, "k", ExpirationExtras(10)}).value, "value");
  clock_.Advance(10'000);
  EXPECT_EQ(Value("k"), "<miss>");
  // Misses.
  ExpectError(One({BinaryOpcode::kTouch, "k", ExpirationExtras(1)}), BinaryOpcode::kTouch, kKeyNotFound,
              "Not found");
  ExpectError(One({BinaryOpcode::kGat, "k", ExpirationExtras(1)}), BinaryOpcode::kGat, kKeyNotFound,
              "Not found");
  r = One({BinaryOpcode::kGatK, "k", ExpirationExtras(1)});
  EXPECT_EQ(r.status, kKeyNotFound);
  EXPECT_EQ(r.key, "k");
  EXPECT_TRUE(
      Run({{BinaryOpcode::kGatQ, "k", ExpirationExtras(1)}, {BinaryOpcode::kGatKQ, "k", ExpirationExtras(1)}})
          .empty());
  EXPECT_EQ(Counter(Stat::kCmdTouch), 10u);
  EXPECT_EQ(Counter(Stat::kTouchHits), 5u);
  EXPECT_EQ(Counter(Stat::kTouchMisses), 5u);
  EXPECT_EQ(Counter(Stat::kCmdGet), 1u);
}

TEST_F(BinaryHandlerTest, Flush) {
  Set("a", "1");
  Response r = One({BinaryOpcode::kFlush, "", "", "", 6});
  EXPECT_EQ(r.status, kSuccess);
  EXPECT_EQ(r.opaque, 6u);
  EXPECT_EQ(Value("a"), "<miss>");
  Set("a", "1");
  EXPECT_TRUE(Run({{BinaryOpcode::kFlushQ}}).empty());
  EXPECT_EQ(Value("a"), "<miss>");
  // With a delay in the extras.
  Set("a", "1");
  EXPECT_EQ(One({BinaryOpcode::kFlush, "", ExpirationExtras(2)}).status, kSuccess);
  EXPECT_EQ(Value("a"), "1");
  clock_.Advance(1'999);
  EXPECT_EQ(Value("a"), "1");
  clock_.Advance(2);
  EXPECT_EQ(Value("a"), "<miss>");
  EXPECT_EQ(Counter(Stat::kCmdFlush), 3u);
}

TEST_F(BinaryHandlerTest, NoopVersionAndQuit) {
  const Response version = One({BinaryOpcode::kVersion, "", "", "", 3});
  EXPECT_EQ(version.status, kSuccess);
  EXPECT_EQ(version.value, kProtocolVersion);
  EXPECT_EQ(version.opaque, 3u);
  EXPECT_EQ(One({BinaryOpcode::kNoop}).status, kSuccess);
  const std::vector<Response> quit = Run({{BinaryOpcode::kQuit, "", "", "", 9}, {BinaryOpcode::kNoop}});
  ASSERT_EQ(quit.size(), 1u);
  EXPECT_EQ(quit[0].opcode, static_cast<uint8_t>(BinaryOpcode::kQuit));
  EXPECT_EQ(quit[0].opaque, 9u);
  EXPECT_TRUE(closed_);
  closed_ = false;
  EXPECT_TRUE(Run({{BinaryOpcode::kQuitQ}, {BinaryOpcode::kNoop}}).empty());
  EXPECT_TRUE(closed_);
}

TEST_F(BinaryHandlerTest, UnknownOpcodesAnswerUnknownCommandAndGoOn) {
  const std::vector<Response> responses = Run({{BinaryOpcode::kVerbosity, "", ExpirationExtras(1), "", 1},
                                               {static_cast<BinaryOpcode>(0x40), "key", "", "value", 2},
                                               {BinaryOpcode::kNoop, "", "", "", 3}});
  ASSERT_EQ(responses.size(), 3u);
  ExpectError(responses[0], BinaryOpcode::kVerbosity, kUnknownCommand, "Unknown command", 1);
  ExpectError(responses[1], static_cast<BinaryOpcode>(0x40), kUnknownCommand, "Unknown command", 2);
  EXPECT_EQ(responses[2].opaque, 3u);
  EXPECT_FALSE(closed_);
}

TEST_F(BinaryHandlerTest, MalformedPacketsAnswerAndClose) {
  const std::vector<Response> responses =
      Run({{BinaryOpcode::kGet, "k", "1234", "", 5}, {BinaryOpcode::kNoop}});
  ASSERT_EQ(responses.size(), 1u);
  ExpectError(responses[0], BinaryOpcode::kGet, kInvalidArguments, "Invalid arguments", 5);
  EXPECT_TRUE(closed_);
}

TEST_F(BinaryHandlerTest, SaslWithoutASessionIsUnknownCommand) {
  const std::vector<Response> responses =
      Run({{BinaryOpcode::kSaslListMechs, "", "", "", 1},
           {BinaryOpcode::kSaslAuth, "PLAIN", "", std::string("\0u\0p", 4), 2},
           {BinaryOpcode::kSaslStep, "PLAIN", "", "x", 3},
           {BinaryOpcode::kGet, "k", "", "", 4}});
  ASSERT_EQ(responses.size(), 4u);
  ExpectError(responses[0], BinaryOpcode::kSaslListMechs, kUnknownCommand, "Unknown command", 1);
  ExpectError(responses[1], BinaryOpcode::kSaslAuth, kUnknownCommand, "Unknown command", 2);
  ExpectError(responses[2], BinaryOpcode::kSaslStep, kUnknownCommand, "Unknown command", 3);
  EXPECT_EQ(responses[3].status, kKeyNotFound);
}

TEST_F(BinaryHandlerTest, SaslSessionGatesOtherOpcodes) {
  ASSERT_TRUE(World().ok) << World().error;
  SaslSession sasl;
  session_.sasl = &sasl;
  EXPECT_EQ(One({BinaryOpcode::kVersion}).status, kSuccess);
  const Response mechanisms = One({BinaryOpcode::kSaslListMechs, "", "", "", 2});
  EXPECT_EQ(mechanisms.status, kSuccess);
  EXPECT_EQ(mechanisms.value, "PLAIN");
  EXPECT_EQ(mechanisms.opaque, 2u);
  ExpectError(One({BinaryOpcode::kSaslAuth, "PLAIN", "", Plain("alice", "wrong"), 3}),
              BinaryOpcode::kSaslAuth, kAuthError, "Auth failure.", 3);
  // A mechanism name over 32 bytes is refused before libsasl2 sees it.
  ExpectError(One({BinaryOpcode::kSaslAuth, std::string(33, 'P'), "", Plain("alice", "secret")}),
              BinaryOpcode::kSaslAuth, kInvalidArguments, "Invalid arguments");
  EXPECT_FALSE(closed_);
  // Not authenticated: any other opcode fails and closes.
  ExpectError(One({BinaryOpcode::kGet, "k", "", "", 6}), BinaryOpcode::kGet, kAuthError, "Auth failure.", 6);
  EXPECT_TRUE(closed_);
  closed_ = false;
  // PLAIN without data asks for it.
  const Response more = One({BinaryOpcode::kSaslAuth, "PLAIN"});
  EXPECT_EQ(more.status, kAuthContinue);
  const Response ok = One({BinaryOpcode::kSaslStep, "PLAIN", "", Plain("alice", "secret"), 7});
  EXPECT_EQ(ok.status, kSuccess);
  EXPECT_EQ(ok.value, "Authenticated");
  EXPECT_EQ(ok.opaque, 7u);
  EXPECT_TRUE(sasl.authenticated());
  EXPECT_EQ(One({BinaryOpcode::kGet, "k"}).status, kKeyNotFound);
  EXPECT_FALSE(closed_);
  // auth_cmds: the refused Auth and the accepted Step (not the continue, not
  // the over-long name); auth_errors: the refused one.
  EXPECT_EQ(state_.stats.ForThread(0)->Get(Stat::kAuthCmds), 2u);
  EXPECT_EQ(state_.stats.ForThread(0)->Get(Stat::kAuthErrors), 1u);
}

// The Stat report for `group`: (name, value) pairs, checking that every
// packet is a success echoing the opaque and that the report ends with one
// empty packet.
std::vector<std::pair<std::string, std::string>> StatReport(const std::vector<Response>& responses) {
  std::vector<std::pair<std::string, std::string>> stats;
  EXPECT_FALSE(responses.empty());
  for (size_t i = 0; i < responses.size(); ++i) {
    const Response& r = responses[i];
    EXPECT_EQ(r.opcode, static_cast<uint8_t>(BinaryOpcode::kStat));
    EXPECT_EQ(r.status, kSuccess);
    EXPECT_EQ(r.opaque, 0x5747u);
    EXPECT_EQ(r.cas, 0u);
    EXPECT_EQ(r.extras, "");
    if (i + 1 == responses.size()) {
      EXPECT_EQ(r.key, "");
      EXPECT_EQ(r.value, "");
    } else {
      EXPECT_NE(r.key, "");
      stats.emplace_back(r.key, r.value);
    }
  }
  return stats;
}

TEST_F(BinaryHandlerTest, StatGroups) {
  Set("a", "1");
  One({BinaryOpcode::kGet, "a"});
  auto stat = [this](const std::string& group) {
    return StatReport(Run({{BinaryOpcode::kStat, group, "", "", 0x5747}}));
  };
  auto find = [](const std::vector<std::pair<std::string, std::string>>& stats, const std::string& name) {
    for (const auto& [key, value] : stats) {
      if (key == name) {
        return value;
      }
    }
    return std::string("<none>");
  };
  const auto general = stat("");
  ASSERT_FALSE(general.empty());
  EXPECT_EQ(general[0].first, "pid");
  EXPECT_EQ(find(general, "cmd_get"), "1");
  EXPECT_EQ(find(general, "get_hits"), "1");
  EXPECT_EQ(find(general, "cmd_set"), "1");
  EXPECT_EQ(find(general, "curr_items"), "1");
  EXPECT_EQ(find(general, "twincache_version"), kTwincacheVersion);
  const auto settings = stat("settings");
  EXPECT_EQ(find(settings, "binding_protocol"), "auto-negotiate");
  EXPECT_EQ(find(settings, "item_size_max"), std::to_string(kItemSizeMax));
  EXPECT_EQ(stat("settings and more"), settings);  // "settings" is a prefix, as memcached's strncmp
  EXPECT_EQ(find(stat("items"), "items:1:number"), "1");
  EXPECT_EQ(find(stat("slabs"), "active_slabs"), "1");
  EXPECT_EQ(find(stat("sizes"), "sizes_status"), "disabled");
  const std::vector<std::pair<std::string, std::string>> dump = {{"detailed", "END\r\n"}};
  EXPECT_EQ(stat("detail dump"), dump);
  EXPECT_TRUE(stat("detail on").empty());
  EXPECT_TRUE(stat("detail off").empty());
  // reset: only the terminator; the counters start again.
  EXPECT_TRUE(stat("reset").empty());
  EXPECT_EQ(find(stat(""), "cmd_get"), "0");
  EXPECT_EQ(find(stat(""), "curr_items"), "1");
  for (const std::string group :
       {"conns", "cachedump 1 0", "detail", "detail x", "items ", "bogus", "sizes_enable"}) {
    SCOPED_TRACE(group);
    ExpectError(One({BinaryOpcode::kStat, group, "", "", 3}), BinaryOpcode::kStat, kKeyNotFound, "Not found",
                3);
  }
}

TEST_F(BinaryHandlerTest, StatSettingsShowsTheBindingProtocol) {
  Settings settings = TestSettings();
  settings.protocol = BindingProtocol::kBinary;
  ServerState state(settings, &store_, &clock_);
  BinaryHandler handler(&state);
  BinaryRequest request;
  const std::string packet = Packet{BinaryOpcode::kStat, "settings"}.Bytes();
  ASSERT_EQ(ParseBinaryRequest(packet, limits_, &request).status, BinaryParseStatus::kRequest);
  std::string out;
  handler.Handle(request, &session_, state.stats.ForThread(0), &out);
  bool found = false;
  for (const Response& r : testing_binary::Responses(out)) {
    if (r.key == "binding_protocol") {
      EXPECT_EQ(r.value, "binary");
      found = true;
    }
  }
  EXPECT_TRUE(found);
}

TEST_F(BinaryHandlerTest, BinaryAndTextShareTheStore) {
  // What a binary Set stores is what the text protocol reads, flags included.
  Set("shared", "data", 42);
  std::vector<std::string> seen;
  EXPECT_TRUE(store_.Get("shared", ReadOptions{}, [&](const ItemView& item) {
    seen.push_back(std::string(item.value));
    EXPECT_EQ(item.flags, 42u);
  }));
  EXPECT_EQ(seen, std::vector<std::string>{"data"});
}

}  // namespace
}  // namespace twincache
