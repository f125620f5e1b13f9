// Tests for ParseRequest(): every command form and error line of memcached
// 1.6's proto_text.c, incremental parsing at every byte boundary, and
// pipelined input.
#include "core/protocol/parser.h"

#include <gtest/gtest.h>

#include <cstdint>
#include <string>
#include <vector>

#include "core/protocol/text_tokens.h"
#include "core/store/item.h"

namespace twincache {
namespace {

using namespace std::string_literals;

constexpr std::string_view kBadFormat = "CLIENT_ERROR bad command line format";

// Renders a result and the request it filled, with every view shown as its
// offset in `buffer` and its bytes, so two parses compare as strings.
std::string Describe(std::string_view buffer, const ParseResult& result, const Request& request) {
  auto view = [&](std::string_view v) {
    if (v.data() == nullptr) return "null"s;
    return std::to_string(v.data() - buffer.data()) + ":" + std::string(v);
  };
  std::string out = "status=" + std::to_string(static_cast<int>(result.status)) +
                    " consumed=" + std::to_string(result.consumed) +
                    " swallow=" + std::to_string(result.swallow) + " error=" + std::string(result.error) +
                    " close=" + std::to_string(result.close) + " noreply=" + std::to_string(result.noreply);
  if (result.status != ParseStatus::kRequest) return out;
  out += " command=" + std::to_string(static_cast<int>(request.command)) + " keys=[";
  for (std::string_view key : request.keys) out += view(key) + ",";
  out += "] flags=" + std::to_string(request.flags) + " exptime=" + std::to_string(request.exptime) +
         " cas=" + std::to_string(request.cas_unique) + " delta=" + std::to_string(request.delta) +
         " delay=" + std::to_string(request.delay) + " noreply=" + std::to_string(request.noreply) +
         " data=" + (request.data.empty() ? "" : view(request.data)) +
         " too_large=" + std::to_string(request.too_large) + " args=[";
  for (std::string_view arg : request.args) out += view(arg) + ",";
  out += "] meta=[";
  for (const MetaFlag& flag : request.meta_flags) out += std::string(1, flag.code) + view(flag.token) + ",";
  return out + "]";
}

// Parses `stream` as a connection would, with only the first `available[i]`
// bytes present at step i: parse until kNeedMore, drop consumed bytes, skip
// swallowed ones, stop after a closing error. Returns every result.
std::vector<std::string> Drive(std::string_view stream, const std::vector<size_t>& available,
                               const ParserLimits& limits) {
  std::vector<std::string> results;
  Request request;
  size_t offset = 0;
  size_t swallow = 0;
  for (size_t end : available) {
    for (;;) {
      const size_t skip = std::min(swallow, end - offset);
      offset += skip;
      swallow -= skip;
      if (swallow > 0) break;
      const std::string_view input = stream.substr(offset, end - offset);
      const ParseResult result = ParseRequest(input, limits, &request);
      EXPECT_LE(result.consumed, input.size());
      if (result.status == ParseStatus::kNeedMore) {
        EXPECT_EQ(result.consumed, 0u);
        break;
      }
      EXPECT_GT(result.consumed, 0u);
      results.push_back(Describe(stream, result, request));
      if (result.close) return results;
      offset += result.consumed;
      swallow = result.swallow;
    }
  }
  return results;
}

// Checks that feeding `stream` one byte at a time, and in two pieces split at
// every byte boundary, yields exactly the results of parsing it whole.
void ExpectIncrementalSame(std::string_view stream, const ParserLimits& limits = {}) {
  SCOPED_TRACE(testing::Message() << "stream: " << testing::PrintToString(std::string(stream)));
  const std::vector<std::string> whole = Drive(stream, {stream.size()}, limits);
  ASSERT_FALSE(whole.empty());
  std::vector<size_t> byte_by_byte;
  for (size_t i = 0; i <= stream.size(); ++i) byte_by_byte.push_back(i);
  EXPECT_EQ(Drive(stream, byte_by_byte, limits), whole);
  for (size_t split = 0; split <= stream.size(); ++split) {
    ASSERT_EQ(Drive(stream, {split, stream.size()}, limits), whole) << "split at " << split;
  }
}

class ParserTest : public testing::Test {
 protected:
  ParseResult Parse(std::string_view input) { return ParseRequest(input, limits_, &request_); }

  // Parses `line` (which must be one complete command) and expects kRequest
  // consuming all of it.
  const Request& Ok(std::string_view input) {
    const ParseResult result = Parse(input);
    EXPECT_EQ(result.status, ParseStatus::kRequest) << input << " -> " << result.error;
    EXPECT_EQ(result.consumed, input.size()) << input;
    EXPECT_EQ(result.swallow, 0u) << input;
    return request_;
  }

  // Parses `input` and expects kError `error` consuming `consumed` bytes
  // (all of input by default) without closing.
  void Fails(std::string_view input, std::string_view error, bool noreply = false, size_t consumed = 0) {
    const ParseResult result = Parse(input);
    EXPECT_EQ(result.status, ParseStatus::kError) << input;
    EXPECT_EQ(result.error, error) << input;
    EXPECT_EQ(result.consumed, consumed == 0 ? input.size() : consumed) << input;
    EXPECT_EQ(result.swallow, 0u) << input;
    EXPECT_FALSE(result.close) << input;
    EXPECT_EQ(result.noreply, noreply) << input;
  }

  ParserLimits limits_;
  Request request_;
};

std::vector<std::string> Keys(const Request& request) {
  return std::vector<std::string>(request.keys.begin(), request.keys.end());
}
std::vector<std::string> Args(const Request& request) {
  return std::vector<std::string>(request.args.begin(), request.args.end());
}
std::string Flags(const Request& request) {
  std::string out;
  for (const MetaFlag& flag : request.meta_flags)
    out += std::string(1, flag.code) + std::string(flag.token) + ",";
  return out;
}

// ---- Lines and retrieval -------------------------------------------------

TEST_F(ParserTest, NeedsMoreUntilNewline) {
  EXPECT_EQ(Parse("").status, ParseStatus::kNeedMore);
  EXPECT_EQ(Parse("get foo").status, ParseStatus::kNeedMore);
  EXPECT_EQ(Parse("get foo\r").status, ParseStatus::kNeedMore);
  EXPECT_EQ(Parse("get foo\r").consumed, 0u);
}

TEST_F(ParserTest, GetOneKey) {
  const Request& r = Ok("get foo\r\n");
  EXPECT_EQ(r.command, Command::kGet);
  EXPECT_EQ(Keys(r), std::vector<std::string>{"foo"});
  EXPECT_FALSE(r.noreply);
}

TEST_F(ParserTest, BareNewlineEndsALine) {
  EXPECT_EQ(Keys(Ok("get foo\n")), std::vector<std::string>{"foo"});
}

TEST_F(ParserTest, GetManyKeysAndSpaces) {
  EXPECT_EQ(Keys(Ok("  get   a  b c   \r\n")), (std::vector<std::string>{"a", "b", "c"}));
  std::string line = "get";
  std::vector<std::string> expected;
  for (int i = 0; i < 300; ++i) {
    expected.push_back("key" + std::to_string(i));
    line += " " + expected.back();
  }
  EXPECT_EQ(Keys(Ok(line + "\r\n")), expected);
}

TEST_F(ParserTest, RetrievalCommands) {
  EXPECT_EQ(Ok("gets a b\r\n").command, Command::kGets);
  EXPECT_EQ(Ok("bget a\r\n").command, Command::kGet);  // memcached's legacy alias

  const Request& gat = Ok("gat 30 a b\r\n");
  EXPECT_EQ(gat.command, Command::kGat);
  EXPECT_EQ(gat.exptime, 30);
  EXPECT_EQ(Keys(gat), (std::vector<std::string>{"a", "b"}));

  const Request& gats = Ok("gats -1 a\r\n");
  EXPECT_EQ(gats.command, Command::kGats);
  EXPECT_EQ(gats.exptime, -1);
  EXPECT_EQ(Keys(gats), std::vector<std::string>{"a"});
}

TEST_F(ParserTest, GetNeedsAKey) {
  Fails("get\r\n", "ERROR");
  Fails("gets    \r\n", "ERROR");
  Fails("gat\r\n", "ERROR");
  Fails("getx a\r\n", "ERROR");
}

TEST_F(ParserTest, GatWithoutKeysIsAnEmptyRequest) {
  // memcached's process_get_command answers "gat 10" with just "END".
  const Request& r = Ok("gat 10\r\n");
  EXPECT_EQ(r.command, Command::kGat);
  EXPECT_TRUE(r.keys.empty());
}

TEST_F(ParserTest, HttpRequestLinesCloseWithoutReply) {
  for (const std::string line : {"GET / HTTP/1.0\r\n", "PUT /x HTTP/1.1\r\n", "HTTP/1.1\r\n",
                                 "flush / HTTP/1.0\r\n", "mzz / HTTP/1.0\r\n", "GET\t/ HTTP/1.0\n"}) {
    const ParseResult result = Parse(line);
    EXPECT_EQ(result.status, ParseStatus::kError) << line;
    EXPECT_TRUE(result.close) << line;
    EXPECT_TRUE(result.noreply) << line << ": nothing is sent";
    EXPECT_EQ(result.consumed, line.size()) << line;
  }
  // Families answer their unknown words; lowercase http/ and short commands too.
  for (const std::string line : {"gx / HTTP/1.0\r\n", "mz / HTTP/1.0\r\n", "GET / http/1.0\r\n",
                                 "x HTTP/1.0\r\n", "GET / HTTP/1.0 x\r\n"}) {
    Fails(line, "ERROR");
  }
  EXPECT_EQ(Keys(Ok("get / HTTP/1.0\r\n")), (std::vector<std::string>{"/", "HTTP/1.0"}));
}

TEST_F(ParserTest, GatBadExptime) {
  Fails("gat abc a\r\n", "CLIENT_ERROR invalid exptime argument");
  Fails("gats 1x a\r\n", "CLIENT_ERROR invalid exptime argument");
}

TEST_F(ParserTest, KeyLength) {
  const std::string longest(kKeyMaxLength, 'k');
  EXPECT_EQ(Keys(Ok("get " + longest + "\r\n")), std::vector<std::string>{longest});
  Fails("get a " + longest + "k\r\n", kBadFormat);
  Fails("set " + longest + "k 0 0 1\r\n", kBadFormat);
  Fails("delete " + longest + "k\r\n", kBadFormat);
  Fails("mg " + longest + "k v\r\n", kBadFormat);
}

TEST_F(ParserTest, KeyControlCharactersWithStrictKeys) {
  // --strict-keys (protocol.txt's rule). Tokens split on ' ' only
  // (tokenize_command), so these reach the key check.
  limits_.strict_keys = true;
  Fails("get a\tb\r\n", kBadFormat);
  Fails("get ok a\x01\r\n", kBadFormat);
  Fails("get a\x7f\r\n", kBadFormat);
  Fails("get a\r\r\n", kBadFormat);
  Fails("get a\0b\r\n"s, kBadFormat);
  Fails("touch a\tb 10\r\n", kBadFormat);
  Fails("incr a\tb 1\r\n", kBadFormat);
  EXPECT_EQ(Keys(Ok("get caf\xc3\xa9 ~!\r\n")), (std::vector<std::string>{"caf\xc3\xa9", "~!"}));
}

TEST(ParserDefaultKeysTest, ControlCharactersPassLengthStillChecked) {
  // The default is memcached's own rule (length only): clients such as
  // memcaslap send keys that start with 0x10 bytes.
  ParserLimits limits;
  Request request;
  std::string set = "set \x10\x10k\x01 0 0 1\r\nv\r\n";
  ParseResult result = ParseRequest(set, limits, &request);
  ASSERT_EQ(result.status, ParseStatus::kRequest);
  EXPECT_EQ(request.keys[0], "\x10\x10k\x01");
  EXPECT_EQ(result.consumed, set.size());
  std::string get = "get a\tb\r\n";
  ASSERT_EQ(ParseRequest(get, limits, &request).status, ParseStatus::kRequest);
  EXPECT_EQ(request.keys[0], "a\tb");
  std::string too_long = "get " + std::string(kKeyMaxLength + 1, '\x10') + "\r\n";
  result = ParseRequest(too_long, limits, &request);
  EXPECT_EQ(result.status, ParseStatus::kError);
  EXPECT_EQ(result.error, "CLIENT_ERROR bad command line format");
}

TEST_F(ParserTest, UnknownAndEmptyLines) {
  Fails("\r\n", "ERROR");
  Fails("\n", "ERROR");
  Fails("   \r\n", "ERROR");
  Fails("g\r\n", "ERROR");
  Fails("GET a\r\n", "ERROR");
  Fails("shutdowns\r\n", "ERROR");
  Fails("bogus a b c\r\n", "ERROR");
  Fails("sets a 0 0 1\r\n", "ERROR");
}

// ---- Storage -------------------------------------------------------------

TEST_F(ParserTest, SetAndFriends) {
  const std::pair<std::string, Command> commands[] = {{"set", Command::kSet},
                                                      {"add", Command::kAdd},
                                                      {"replace", Command::kReplace},
                                                      {"append", Command::kAppend},
                                                      {"prepend", Command::kPrepend}};
  for (const auto& [name, command] : commands) {
    const std::string input = name + " key 42 100 5\r\nhello\r\n";
    const Request& r = Ok(input);
    EXPECT_EQ(r.command, command) << name;
    EXPECT_EQ(Keys(r), std::vector<std::string>{"key"});
    EXPECT_EQ(r.flags, 42u);
    EXPECT_EQ(r.exptime, 100);
    EXPECT_EQ(r.data, "hello");
    EXPECT_EQ(r.data.data(), input.data() + input.find("hello"));
    EXPECT_FALSE(r.noreply);
    EXPECT_FALSE(r.too_large);
  }
}

TEST_F(ParserTest, SetNoreplyAndLimits) {
  const Request& r = Ok("set k 4294967295 -1 3 noreply\r\nabc\r\n");
  EXPECT_TRUE(r.noreply);
  EXPECT_EQ(r.flags, 4294967295u);
  EXPECT_EQ(r.exptime, -1);
  EXPECT_EQ(r.data, "abc");
}

TEST_F(ParserTest, SetBinaryValue) {
  const std::string value = "a\r\nb\0\n\r\n"s;
  const std::string input = "set k 0 0 " + std::to_string(value.size()) + "\r\n" + value + "\r\n";
  EXPECT_EQ(Ok(input).data, value);
}

TEST_F(ParserTest, SetEmptyValue) {
  const Request& r = Ok("set k 0 0 0\r\n\r\n");
  EXPECT_TRUE(r.data.empty());
  EXPECT_FALSE(r.too_large);
}

TEST_F(ParserTest, SetWaitsForTheDataBlock) {
  EXPECT_EQ(Parse("set k 0 0 5\r\n").status, ParseStatus::kNeedMore);
  EXPECT_EQ(Parse("set k 0 0 5\r\nhello").status, ParseStatus::kNeedMore);
  EXPECT_EQ(Parse("set k 0 0 5\r\nhello\r").status, ParseStatus::kNeedMore);
}

TEST_F(ParserTest, Cas) {
  const Request& r = Ok("cas k 1 2 3 18446744073709551615\r\nxyz\r\n");
  EXPECT_EQ(r.command, Command::kCas);
  EXPECT_EQ(r.cas_unique, 18446744073709551615u);
  EXPECT_EQ(r.data, "xyz");
  EXPECT_FALSE(r.noreply);
  EXPECT_TRUE(Ok("cas k 1 2 3 7 noreply\r\nxyz\r\n").noreply);
  Fails("cas k 1 2 3\r\n", "ERROR");
  Fails("cas k 1 2 3 abc\r\n", kBadFormat);
  Fails("cas k 1 2 3 18446744073709551616\r\n", kBadFormat);
  // memcached reads "noreply" as the missing cas unique, and then stays silent.
  Fails("cas k 1 2 3 noreply\r\n", kBadFormat, true);
}

TEST_F(ParserTest, StorageWrongTokenCountIsError) {
  // WANT_TOKENS_OR in process_command_ascii: "ERROR", even with noreply.
  Fails("set k 0 0\r\n", "ERROR");
  Fails("set k 0 0 1 noreply extra\r\n", "ERROR");
  Fails("set\r\n", "ERROR");
  Fails("add k 0 0 1 2 3\r\n", "ERROR");
  Fails("cas k 0 0 1 2 noreply x\r\n", "ERROR");
}

TEST_F(ParserTest, StorageExtraTokenIsIgnoredAsMemcachedDoes) {
  // set_noreply_maybe only looks for "noreply"; another 6th token is ignored.
  const Request& r = Ok("set k 0 0 1 please\r\nx\r\n");
  EXPECT_FALSE(r.noreply);
  EXPECT_EQ(r.data, "x");
}

TEST_F(ParserTest, StorageBadNumbers) {
  const std::string bad_lines[] = {"set k x 0 1\r\n",          "set k 0 x 1\r\n",
                                   "set k 0 0 x\r\n",          "set k 4294967296 0 1\r\n",
                                   "set k -1 0 1\r\n",         "set k 0 0 -1\r\n",
                                   "set k 0 0 2147483646\r\n", "set k 0 0 1x\r\n",
                                   "set k 0 0 +\r\n",          "set k 0 99999999999999999999 1\r\n",
                                   "set k 1.5 0 1\r\n",        "set k 0 0 1\t\r\n"};
  for (const std::string& line : bad_lines) {
    // No swallowing: memcached answers and reads the next line as a command.
    Fails(line + "x\r\n", kBadFormat, false, line.size());
  }
}

TEST_F(ParserTest, StorageSignsAsStrtol) {
  const Request& r = Ok("set k +7 +10 +1\r\nx\r\n");
  EXPECT_EQ(r.flags, 7u);
  EXPECT_EQ(r.exptime, 10);
  EXPECT_EQ(Ok("set k -0 0 1\r\nx\r\n").flags, 0u);
}

// ---- Decimal tokens (core/protocol/text_tokens.h), shared with the handler ---------

TEST(TextTokensTest, UnsignedFollowsSafeStrtoull) {
  uint64_t u64 = 7;
  EXPECT_TRUE(ParseUint64("0", &u64));
  EXPECT_EQ(u64, 0u);
  EXPECT_TRUE(ParseUint64("+42", &u64));
  EXPECT_EQ(u64, 42u);
  EXPECT_TRUE(ParseUint64("18446744073709551615", &u64));
  EXPECT_EQ(u64, UINT64_MAX);
  // strtoull reads "-0" as 0 and safe_strtoull lets it through; every other
  // negative number wraps to a value it refuses.
  u64 = 7;
  EXPECT_TRUE(ParseUint64("-0", &u64));
  EXPECT_EQ(u64, 0u);
  for (const char* bad : {"", "+", "-", "-1", "-00001", "+-1", "-+0", "--0", "18446744073709551616",
                          "99999999999999999999", "1x", " 1", "1 ", "\t1", "0x10", "1.0"}) {
    u64 = 7;
    EXPECT_FALSE(ParseUint64(bad, &u64)) << bad;
    EXPECT_EQ(u64, 7u) << bad;  // untouched on failure
  }
  uint32_t u32 = 7;
  EXPECT_TRUE(ParseUint32("4294967295", &u32));
  EXPECT_EQ(u32, UINT32_MAX);
  EXPECT_TRUE(ParseUint32("-0", &u32));
  EXPECT_EQ(u32, 0u);
  EXPECT_FALSE(ParseUint32("4294967296", &u32));
  EXPECT_FALSE(ParseUint32("-1", &u32));
  EXPECT_EQ(u32, 0u);
}

TEST(TextTokensTest, SignedFollowsSafeStrtol) {
  int64_t i64 = 7;
  EXPECT_TRUE(ParseInt64("-0", &i64));
  EXPECT_EQ(i64, 0);
  EXPECT_TRUE(ParseInt64("+5", &i64));
  EXPECT_EQ(i64, 5);
  EXPECT_TRUE(ParseInt64("-9223372036854775808", &i64));
  EXPECT_EQ(i64, INT64_MIN);
  EXPECT_TRUE(ParseInt64("9223372036854775807", &i64));
  EXPECT_EQ(i64, INT64_MAX);
  for (const char* bad : {"", "+", "-", "+-5", "-+5", "5-", "1x", "9223372036854775808",
                          "-9223372036854775809", "-18446744073709551616"}) {
    i64 = 7;
    EXPECT_FALSE(ParseInt64(bad, &i64)) << bad;
    EXPECT_EQ(i64, 7) << bad;
  }
  int32_t i32 = 7;
  EXPECT_TRUE(ParseInt32("-2147483648", &i32));
  EXPECT_EQ(i32, INT32_MIN);
  EXPECT_TRUE(ParseInt32("2147483647", &i32));
  EXPECT_EQ(i32, INT32_MAX);
  EXPECT_FALSE(ParseInt32("2147483648", &i32));
  EXPECT_FALSE(ParseInt32("-2147483649", &i32));
  EXPECT_EQ(i32, INT32_MAX);
}

TEST_F(ParserTest, MinusZeroIsZeroForEveryUnsignedNumber) {
  EXPECT_EQ(Ok("incr k -0\r\n").delta, 0u);
  EXPECT_EQ(Ok("cas k 0 0 1 -0\r\nx\r\n").cas_unique, 0u);
  EXPECT_EQ(Args(Ok("verbosity -0\r\n")), std::vector<std::string>{"-0"});
  EXPECT_EQ(Args(Ok("cache_memlimit -0\r\n")), std::vector<std::string>{"-0"});
  Fails("incr k -1\r\n", "CLIENT_ERROR invalid numeric delta argument");
  Fails("verbosity -1\r\n", kBadFormat);
  Fails("cache_memlimit -1\r\n", "ERROR");
}

TEST_F(ParserTest, StorageErrorWithNoreplyIsSilent) {
  Fails("set k 0 0 -1 noreply\r\n", kBadFormat, true);
  Fails("set " + std::string(kKeyMaxLength + 1, 'k') + " 0 0 1 noreply\r\n", kBadFormat, true);
}

TEST_F(ParserTest, BadDataChunk) {
  Fails("set k 0 0 3\r\nabcd\r\n", "CLIENT_ERROR bad data chunk", false, 13 + 3 + 2);
  Fails("set k 0 0 3\r\nabc\n\r\n", "CLIENT_ERROR bad data chunk", false, 13 + 3 + 2);
  Fails("set k 0 0 3 noreply\r\nabc\n\n", "CLIENT_ERROR bad data chunk", true);
  // Line + bytes + 2 are consumed; the rest is the next command, as in memcached.
  const ParseResult result = Parse("set k 0 0 1\r\nab\r\n");
  EXPECT_EQ(result.error, "CLIENT_ERROR bad data chunk");
  EXPECT_EQ(result.consumed, 16u);
  Fails("\n", "ERROR");
}

TEST_F(ParserTest, TooLargeValueIsSwallowed) {
  limits_.item_size_max = 1024;
  const size_t fits = 1024 - MemcachedItemSize(1, 0);
  ASSERT_TRUE(ItemFits(1, fits, limits_.item_size_max));
  ASSERT_FALSE(ItemFits(1, fits + 1, limits_.item_size_max));

  const std::string line = "set k 0 0 " + std::to_string(fits + 1) + " noreply\r\n";
  ParseResult result = Parse(line);  // decided before any of the value arrives
  EXPECT_EQ(result.status, ParseStatus::kRequest);
  EXPECT_EQ(result.consumed, line.size());
  EXPECT_EQ(result.swallow, fits + 3);
  EXPECT_TRUE(request_.too_large);
  EXPECT_TRUE(request_.data.empty());
  EXPECT_TRUE(request_.noreply);
  EXPECT_EQ(request_.command, Command::kSet);
  EXPECT_EQ(Keys(request_), std::vector<std::string>{"k"});

  const std::string fitting = "set k 0 0 " + std::to_string(fits) + "\r\n" + std::string(fits, 'v') + "\r\n";
  EXPECT_EQ(Ok(fitting).data.size(), fits);
  EXPECT_FALSE(request_.too_large);
}

// ---- Other classic commands ------------------------------------------------

TEST_F(ParserTest, IncrDecr) {
  const Request& r = Ok("incr n 18446744073709551615\r\n");
  EXPECT_EQ(r.command, Command::kIncr);
  EXPECT_EQ(r.delta, 18446744073709551615u);
  EXPECT_EQ(Keys(r), std::vector<std::string>{"n"});
  const Request& d = Ok("decr n 5 noreply\r\n");
  EXPECT_EQ(d.command, Command::kDecr);
  EXPECT_EQ(d.delta, 5u);
  EXPECT_TRUE(d.noreply);

  Fails("incr n abc\r\n", "CLIENT_ERROR invalid numeric delta argument");
  Fails("incr n -1\r\n", "CLIENT_ERROR invalid numeric delta argument");
  Fails("decr n 18446744073709551616\r\n", "CLIENT_ERROR invalid numeric delta argument");
  Fails("incr n x noreply\r\n", "CLIENT_ERROR invalid numeric delta argument", true);
  Fails("incr n\r\n", "ERROR");
  Fails("incr n 1 noreply x\r\n", "ERROR");
}

TEST_F(ParserTest, Delete) {
  const Request& r = Ok("delete k\r\n");
  EXPECT_EQ(r.command, Command::kDelete);
  EXPECT_EQ(Keys(r), std::vector<std::string>{"k"});
  EXPECT_FALSE(r.noreply);
  EXPECT_TRUE(Ok("delete k noreply\r\n").noreply);
  EXPECT_FALSE(Ok("delete k 0\r\n").noreply);  // legacy hold time "0"
  EXPECT_TRUE(Ok("delete k 0 noreply\r\n").noreply);

  const std::string usage = "CLIENT_ERROR bad command line format.  Usage: delete <key> [noreply]";
  Fails("delete k 10\r\n", usage);
  Fails("delete k 0 0\r\n", usage);
  Fails("delete k noreply 0\r\n", usage);
  Fails("delete k 1 noreply\r\n", usage, true);
  Fails("delete\r\n", "ERROR");
  Fails("delete a b c d\r\n", "ERROR");
}

TEST_F(ParserTest, Touch) {
  const Request& r = Ok("touch k 300\r\n");
  EXPECT_EQ(r.command, Command::kTouch);
  EXPECT_EQ(r.exptime, 300);
  EXPECT_EQ(Keys(r), std::vector<std::string>{"k"});
  EXPECT_TRUE(Ok("touch k 0 noreply\r\n").noreply);
  Fails("touch k soon\r\n", "CLIENT_ERROR invalid exptime argument");
  Fails("touch k\r\n", "ERROR");
  Fails("touch k 1 noreply x\r\n", "ERROR");
}

TEST_F(ParserTest, FlushAll) {
  EXPECT_EQ(Ok("flush_all\r\n").command, Command::kFlushAll);
  EXPECT_EQ(request_.delay, 0);
  EXPECT_EQ(Ok("flush_all 60\r\n").delay, 60);
  EXPECT_TRUE(Ok("flush_all noreply\r\n").noreply);
  EXPECT_EQ(request_.delay, 0);
  EXPECT_EQ(Ok("flush_all 5 noreply\r\n").delay, 5);
  EXPECT_TRUE(request_.noreply);
  Fails("flush_all soon\r\n", "CLIENT_ERROR invalid exptime argument");
  Fails("flush_all noreply 5\r\n", "CLIENT_ERROR invalid exptime argument");
  Fails("flush_all x noreply\r\n", "CLIENT_ERROR invalid exptime argument", true);
  Fails("flush_all 1 2 3\r\n", "ERROR");
}

TEST_F(ParserTest, VersionQuitVerbosity) {
  EXPECT_EQ(Ok("version\r\n").command, Command::kVersion);
  EXPECT_EQ(Ok("quit\r\n").command, Command::kQuit);
  const Request& r = Ok("verbosity 1\r\n");
  EXPECT_EQ(r.command, Command::kVerbosity);
  EXPECT_EQ(Args(r), std::vector<std::string>{"1"});
  EXPECT_TRUE(Ok("verbosity 2 noreply\r\n").noreply);
  Fails("verbosity\r\n", "ERROR");
  Fails("verbosity x\r\n", kBadFormat);
  Fails("verbosity noreply\r\n", kBadFormat, true);
  Fails("verbosity 1 2 3\r\n", "ERROR");
}

TEST_F(ParserTest, StatsAndLruCrawlerKeepTheirArguments) {
  EXPECT_EQ(Ok("stats\r\n").command, Command::kStats);
  EXPECT_TRUE(request_.args.empty());
  EXPECT_EQ(Args(Ok("stats settings\r\n")), std::vector<std::string>{"settings"});
  std::vector<std::string> many;
  std::string line = "stats";
  for (int i = 0; i < 30; ++i) {
    many.push_back(std::to_string(i));
    line += " " + many.back();
  }
  EXPECT_EQ(Args(Ok(line + "\r\n")), many);

  const Request& crawler = Ok("lru_crawler metadump all\r\n");
  EXPECT_EQ(crawler.command, Command::kLruCrawler);
  EXPECT_EQ(Args(crawler), (std::vector<std::string>{"metadump", "all"}));
}

TEST_F(ParserTest, ShutdownKeepsItsArguments) {
  EXPECT_EQ(Ok("shutdown\r\n").command, Command::kShutdown);
  EXPECT_TRUE(request_.args.empty());
  const Request& graceful = Ok("shutdown graceful\r\n");
  EXPECT_EQ(graceful.command, Command::kShutdown);
  EXPECT_EQ(Args(graceful), std::vector<std::string>{"graceful"});
  // memcached's process_shutdown_command never reads "noreply": its error
  // line is sent.
  const Request& noreply = Ok("shutdown noreply\r\n");
  EXPECT_FALSE(noreply.noreply);
  EXPECT_EQ(Args(noreply), std::vector<std::string>{"noreply"});
  EXPECT_EQ(Args(Ok("shutdown graceful now\n")), (std::vector<std::string>{"graceful", "now"}));
  Fails("shutdownx\r\n", "ERROR");
}

TEST_F(ParserTest, CacheMemlimit) {
  const Request& r = Ok("cache_memlimit 100\r\n");
  EXPECT_EQ(r.command, Command::kCacheMemlimit);
  EXPECT_EQ(Args(r), std::vector<std::string>{"100"});
  EXPECT_TRUE(Ok("cache_memlimit 100 noreply\r\n").noreply);
  Fails("cache_memlimit lots\r\n", "ERROR");  // process_memlimit_command
  Fails("cache_memlimit\r\n", "ERROR");
}

// ---- Meta commands -----------------------------------------------------------

TEST_F(ParserTest, MetaGet) {
  const Request& r = Ok("mg foo T30 Oabc q v k\r\n");
  EXPECT_EQ(r.command, Command::kMetaGet);
  EXPECT_EQ(Keys(r), std::vector<std::string>{"foo"});
  EXPECT_EQ(Flags(r), "T30,Oabc,q,v,k,");
  EXPECT_FALSE(r.noreply);  // q is the handler's to interpret
  EXPECT_EQ(Flags(Ok("mg foo\r\n")), "");
}

TEST_F(ParserTest, MetaBase64KeyIsKeptAsSent) {
  const Request& r = Ok("mg Zm9vYmFy= b v\r\n");
  EXPECT_EQ(Keys(r), std::vector<std::string>{"Zm9vYmFy="});
  EXPECT_EQ(Flags(r), "b,v,");
}

TEST_F(ParserTest, MetaSet) {
  const std::string input = "ms foo 5 T60 F7 I\r\nhe\r\no\r\n";
  const Request& r = Ok(input);
  EXPECT_EQ(r.command, Command::kMetaSet);
  EXPECT_EQ(Keys(r), std::vector<std::string>{"foo"});
  EXPECT_EQ(r.data, "he\r\no");
  EXPECT_EQ(Flags(r), "T60,F7,I,");
  EXPECT_EQ(Ok("ms foo 0\r\n\r\n").data, "");
}

TEST_F(ParserTest, MetaSetErrors) {
  Fails("ms\r\n", "ERROR");
  Fails("ms foo\r\n", kBadFormat);
  // A bad datalen swallows nothing: the block is read as the next command.
  Fails("ms foo bar\r\nabc\r\n", kBadFormat, false, 12);
  Fails("ms foo -1\r\n", kBadFormat);
  Fails("ms foo 2147483646 T1\r\n", kBadFormat);
  // Meta errors are sent even with q (out_errstring).
  Fails("ms foo 3 q\r\nabcd\r\n", "CLIENT_ERROR bad data chunk", false, 12 + 3 + 2);
}

TEST_F(ParserTest, MetaSetTooLarge) {
  limits_.item_size_max = 256;
  const std::string line = "ms foo 1000 q T1\r\n";
  const ParseResult result = Parse(line);
  EXPECT_EQ(result.status, ParseStatus::kRequest);
  EXPECT_EQ(result.consumed, line.size());
  EXPECT_EQ(result.swallow, 1002u);
  EXPECT_TRUE(request_.too_large);
  EXPECT_EQ(request_.command, Command::kMetaSet);
  EXPECT_EQ(Flags(request_), "q,T1,");
}

TEST_F(ParserTest, MetaDeleteArithmeticNoopDebug) {
  const Request& md = Ok("md foo q C12\r\n");
  EXPECT_EQ(md.command, Command::kMetaDelete);
  EXPECT_EQ(Flags(md), "q,C12,");
  const Request& ma = Ok("ma n D5 MI N0 J10 v\r\n");
  EXPECT_EQ(ma.command, Command::kMetaArithmetic);
  EXPECT_EQ(Flags(ma), "D5,MI,N0,J10,v,");
  EXPECT_EQ(Ok("mn\r\n").command, Command::kMetaNoop);
  EXPECT_EQ(Ok("mn extra\r\n").command, Command::kMetaNoop);
  const Request& me = Ok("me foo\r\n");
  EXPECT_EQ(me.command, Command::kMetaDebug);
  EXPECT_EQ(Keys(me), std::vector<std::string>{"foo"});
  EXPECT_EQ(Flags(Ok("me Zm9v b\r\n")), "b,");
}

TEST_F(ParserTest, MetaErrors) {
  Fails("mg\r\n", "ERROR");
  Fails("md\r\n", "ERROR");
  Fails("ma\r\n", "ERROR");
  Fails("me\r\n", kBadFormat);  // process_meta_command
  Fails("mx foo\r\n", "ERROR");
  Fails("mget foo\r\n", "ERROR");
  Fails("m\r\n", "ERROR");
  Fails("mg " + std::string(kKeyMaxLength + 1, 'k') + " v\r\n", kBadFormat);
}

TEST_F(ParserTest, MetaFlagCountLimit) {
  // memcached refuses ntokens > 20, counting a terminal token: mg takes up to
  // 17 flags, ms (with its datalen) up to 16.
  auto line = [](std::string head, int flags) {
    for (int i = 0; i < flags; ++i) head += " O" + std::to_string(i);
    return head + "\r\n";
  };
  EXPECT_EQ(Ok(line("mg k", 17)).meta_flags.size(), 17u);
  Fails(line("mg k", 18), "CLIENT_ERROR options flags are too long");
  Fails(line("md k", 18), "CLIENT_ERROR options flags too long");
  Fails(line("ma k", 100), "CLIENT_ERROR options flags too long");
  EXPECT_EQ(Ok(line("ms k 1", 16) + "x\r\n").meta_flags.size(), 16u);
  const std::string too_many = line("ms k 1", 17);
  Fails(too_many + "x\r\n", "CLIENT_ERROR options flags too long", false, too_many.size());
}

// ---- Long lines ------------------------------------------------------------------

TEST_F(ParserTest, LineTooLongCloses) {
  limits_.max_line = 64;
  limits_.max_get_line = 256;
  const std::string junk(64, 'x');
  EXPECT_EQ(Parse(junk).status, ParseStatus::kNeedMore);
  ParseResult result = Parse(junk + "x");
  EXPECT_EQ(result.status, ParseStatus::kError);
  EXPECT_EQ(result.error, "CLIENT_ERROR line too long");
  EXPECT_TRUE(result.close);
  EXPECT_EQ(result.consumed, 65u);
  // The same line complete: still too long, whatever the read sizes were.
  result = Parse(junk + "x\r\n");
  EXPECT_EQ(result.error, "CLIENT_ERROR line too long");
  EXPECT_TRUE(result.close);
  // Exactly at the limit (the "\r" counts) is fine.
  EXPECT_EQ(Parse(std::string(63, 'x') + "\r\n").error, "ERROR");
}

TEST_F(ParserTest, LongMultiGetMayReachMaxGetLine) {
  limits_.max_line = 64;
  limits_.max_get_line = 256;
  for (std::string command : {"get", "gets", " gat 0", "gats 0"}) {
    std::string line = command;
    while (line.size() < 256) line += " abcdefghi";
    line.resize(256);
    EXPECT_EQ(Parse(line).status, ParseStatus::kNeedMore) << command;
    EXPECT_GT(Ok(line + "\n").keys.size(), 20u) << command;
    const ParseResult result = Parse(line + "x");
    EXPECT_EQ(result.error, "CLIENT_ERROR line too long") << command;
    EXPECT_TRUE(result.close);
  }
  const ParseResult set_line = Parse("set " + std::string(100, 'k'));
  EXPECT_EQ(set_line.error, "CLIENT_ERROR line too long");
  EXPECT_TRUE(set_line.close);
}

// ---- Incremental and pipelined parsing --------------------------------------------

TEST(ParserIncrementalTest, EveryRequestSplitAnywhere) {
  const std::string binary = "\r\n\0\xff\n\r"s;
  const std::string streams[] = {
      "get foo\r\n",
      "get a b c d e f g h i j k\r\n",
      "gats 100 a b\r\n",
      "set k 1 2 5\r\nhe\r\no\r\n",
      "set k 0 0 " + std::to_string(binary.size()) + " noreply\r\n" + binary + "\r\n",
      "cas k 0 0 2 99\r\n\r\n\r\n",
      "append k 0 0 0\r\n\r\n",
      "incr k 5\n",
      "delete k 0 noreply\r\n",
      "touch k 10\r\n",
      "flush_all 10\r\n",
      "stats items\r\n",
      "mg foo v f t k Oopaque\r\n",
      "ms foo 4 T10 F3\r\n\r\n\r\n\r\n",
      "md foo q\r\nmn\r\n",
      "ma foo D10 MD\r\n",
      "me foo\r\n",
      "shutdown\r\n",
      "shutdown graceful\r\n",
      "shutdown graceful x\n",
  };
  for (const std::string& stream : streams) ExpectIncrementalSame(stream);
}

TEST(ParserIncrementalTest, ErrorsSplitAnywhere) {
  const std::string streams[] = {
      "bogus\r\n",
      "\r\n",
      "get\r\n",
      "set k 0 0 -1\r\nabc\r\n",
      "set k 0 0 3\r\nabcd\r\n",
      "set k 0 0 3 noreply\r\nabcdef\r\n",
      "incr k x\r\n",
      "delete k 5\r\n",
      "get " + std::string(251, 'k') + "\r\n",
      "mg k a b c d e f g h i j k l m n o p q r\r\n",  // 18 flags: one too many
      "ms k 3\r\nabc\rX",
  };
  for (const std::string& stream : streams) ExpectIncrementalSame(stream);
}

TEST(ParserIncrementalTest, LimitsSplitAnywhere) {
  ParserLimits limits;
  limits.max_line = 32;
  limits.max_get_line = 96;
  limits.item_size_max = 128;
  ExpectIncrementalSame("set k 0 0 500\r\n" + std::string(500, 'v') + "\r\nget k\r\n", limits);
  ExpectIncrementalSame("ms k 200 T1\r\n" + std::string(200, 'v') + "\r\nmn\r\n", limits);
  ExpectIncrementalSame("get a\r\n" + std::string(40, 'x') + "\r\n", limits);
  ExpectIncrementalSame("get" + std::string(40, ' ') + "a b c d e f g h i j k l m n o p\r\nmn\r\n", limits);
  ExpectIncrementalSame("gets" + std::string(100, ' ') + "a\r\n", limits);
}

TEST(ParserIncrementalTest, PipelineSplitAnywhere) {
  const std::string pipeline =
      "set a 0 0 3\r\nabc\r\n"
      "get a b\r\n"
      "bogus\r\n"
      "ms b 2 T0\r\n\r\n\r\n"
      "set c 0 0 1\r\nxy\r\n"  // bad data chunk, then "\r\n" is an empty line
      "incr n 1 noreply\r\n"
      "mg b v\r\n"
      "delete a\n"
      "shutdown bogus\r\n"
      "mn\r\n";
  ExpectIncrementalSame(pipeline);
}

TEST(ParserPipelineTest, ConsumedWalksTheBufferExactly) {
  const std::string pipeline =
      "get a\r\n"
      "set b 5 0 4\r\nda\nt\r\n"
      "bogus line\r\n"
      "gets a b c\r\n"
      "set c 0 0 2\r\nabc\r\n"
      "ms d 1\r\nx\r\n"
      "\r\n"
      "quit\r\n";
  // Command values: kGet 0, kGets 1, kSet 4, kQuit 17, kMetaSet 22. The bad
  // data chunk consumes "abc\r" (line + 2 + 2); the "\n" left is an empty line.
  const std::vector<std::string> expected = {
      "request 0",   "request 4",  "error ERROR", "request 1", "error CLIENT_ERROR bad data chunk",
      "error ERROR", "request 22", "error ERROR", "request 17"};
  const std::vector<size_t> expected_ends = {7, 26, 38, 50, 67, 68, 79, 81, 87};
  ASSERT_EQ(expected_ends.back(), pipeline.size());

  ParserLimits limits;
  Request request;
  std::vector<std::string> seen;
  std::vector<size_t> ends;
  size_t offset = 0;
  while (offset < pipeline.size()) {
    const ParseResult result = ParseRequest(std::string_view(pipeline).substr(offset), limits, &request);
    ASSERT_NE(result.status, ParseStatus::kNeedMore) << "at " << offset;
    ASSERT_GT(result.consumed, 0u);
    seen.push_back(result.status == ParseStatus::kRequest
                       ? "request " + std::to_string(static_cast<int>(request.command))
                       : "error " + std::string(result.error));
    offset += result.consumed;
    ends.push_back(offset);
  }
  EXPECT_EQ(offset, pipeline.size());
  EXPECT_EQ(seen, expected);
  EXPECT_EQ(ends, expected_ends);
}

TEST(ParserAllocationTest, WarmRequestIsReusedWithoutGrowing) {
  // The parser itself only makes string_views; its one source of allocation
  // is the Request's vectors, which must keep their buffers once warm.
  const std::string pipeline =
      "get a b c d e f g h i j k l m n o p q r s t u v w x y z\r\n"
      "set k 0 0 3 noreply\r\nabc\r\n"
      "mg k v t f c k Oxyz T30 N30 R10 s\r\n"
      "stats slabs one two three four five six seven eight\r\n"
      "bogus\r\n";
  ParserLimits limits;
  Request request;
  auto parse_all = [&] {
    size_t offset = 0;
    while (offset < pipeline.size()) {
      offset += ParseRequest(std::string_view(pipeline).substr(offset), limits, &request).consumed;
    }
  };
  parse_all();
  const void* keys = request.keys.data();
  const void* args = request.args.data();
  const void* meta_flags = request.meta_flags.data();
  for (int i = 0; i < 100; ++i) parse_all();
  EXPECT_EQ(request.keys.data(), keys);
  EXPECT_EQ(request.args.data(), args);
  EXPECT_EQ(request.meta_flags.data(), meta_flags);
}

}  // namespace
}  // namespace twincache

namespace twincache {
namespace {

// memcached -Y: proto_text.c try_read_command_asciiauth (1.6.18).
TEST(ParseAuthRequestTest, SetWithUserAndPassword) {
  const std::string input = "set anykey 0 0 12\r\nalice secret\r\nget";
  const AuthParseResult result = ParseAuthRequest(input, 16384);
  ASSERT_EQ(result.status, ParseStatus::kRequest);
  EXPECT_EQ(result.user, "alice");
  EXPECT_EQ(result.password, "secret");
  EXPECT_EQ(result.consumed, input.size() - 3);
}

TEST(ParseAuthRequestTest, NeedsTheWholeValue) {
  EXPECT_EQ(ParseAuthRequest("set k 0 0 12\r\nalice sec", 16384).status, ParseStatus::kNeedMore);
  EXPECT_EQ(ParseAuthRequest("set k 0 0", 16384).status, ParseStatus::kNeedMore);
}

TEST(ParseAuthRequestTest, AnythingButASetIsUnauthenticated) {
  for (const std::string line :
       {"get foo\r\n", "version\r\n", "set k 0 0\r\n", "set k 0 0 x\r\n", "add k 0 0 3\r\n", "\r\n"}) {
    const AuthParseResult result = ParseAuthRequest(line, 16384);
    ASSERT_EQ(result.status, ParseStatus::kError) << line;
    EXPECT_EQ(result.error, "CLIENT_ERROR unauthenticated") << line;
    EXPECT_EQ(result.consumed, line.size()) << line;
    EXPECT_FALSE(result.close);
  }
}

TEST(ParseAuthRequestTest, BadValues) {
  AuthParseResult result = ParseAuthRequest("set k 0 0 5\r\nalice\r\n", 16384);
  ASSERT_EQ(result.status, ParseStatus::kError);
  EXPECT_EQ(result.error, "CLIENT_ERROR bad authentication token format");
  EXPECT_EQ(result.consumed, 20u);
  result = ParseAuthRequest("set k 0 0 3\r\na bXY", 16384);
  ASSERT_EQ(result.status, ParseStatus::kError);
  EXPECT_EQ(result.error, "CLIENT_ERROR bad command line termination");
  EXPECT_EQ(result.consumed, 18u);
  result = ParseAuthRequest("set k 0 0 99999\r\n", 16384);
  ASSERT_EQ(result.status, ParseStatus::kError);
  EXPECT_EQ(result.error, "CLIENT_ERROR auth token too long");
  EXPECT_TRUE(result.close);
}

TEST(ParseAuthRequestTest, JunkWithoutNewlineCloses) {
  EXPECT_EQ(ParseAuthRequest(std::string(2048, 'x'), 16384).status, ParseStatus::kNeedMore);
  const AuthParseResult result = ParseAuthRequest(std::string(2049, 'x'), 16384);
  ASSERT_EQ(result.status, ParseStatus::kError);
  EXPECT_TRUE(result.close);
}

TEST(ParseRequestTest, RefreshCerts) {
  Request request;
  const ParseResult result = ParseRequest("refresh_certs\r\n", ParserLimits{}, &request);
  ASSERT_EQ(result.status, ParseStatus::kRequest);
  EXPECT_EQ(request.command, Command::kRefreshCerts);
}

}  // namespace
}  // namespace twincache
