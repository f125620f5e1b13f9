// Unit tests for Handler (core/protocol/handler.h), the meta commands
// (core/protocol/meta_commands.h) and the stats reports (core/protocol/stats_report.h): raw
// protocol bytes go through ParseRequest and Handle, as a connection does, and
// the bytes that would be sent are compared exactly with memcached 1.6's
// replies. Time comes from a ManualClock; nothing sleeps.
#include "core/protocol/handler.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <cstdint>
#include <cstdlib>
#include <map>
#include <new>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "core/base/log.h"
#include "core/config/settings.h"
#include "core/protocol/meta_commands.h"
#include "core/protocol/parser.h"
#include "core/protocol/server_state.h"
#include "core/protocol/stats_report.h"
#include "core/store/store.h"

// Counts every allocation through the (replaced) global operator new, so a
// test can check that serving a read allocates nothing beyond the output
// buffer's capacity. GCC 12 misreads the replaced pair once it inlines them
// into the standard containers, hence the pragma.
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic ignored "-Wmismatched-new-delete"
#endif
std::atomic<size_t> g_allocations{0};

void* operator new(size_t size) {
  g_allocations.fetch_add(1, std::memory_order_relaxed);
  if (void* block = std::malloc(size == 0 ? 1 : size)) {
    return block;
  }
  throw std::bad_alloc();
}
void operator delete(void* block) noexcept { std::free(block); }
void operator delete(void* block, size_t /*size*/) noexcept { std::free(block); }

namespace twincache {
namespace {

constexpr int64_t kStartMillis = 1'700'000'000'000;  // 2023-11-14, unix ms
constexpr int64_t kStartSeconds = kStartMillis / 1000;
constexpr size_t kItemSizeMax = 1024;  // -I for these tests, so "too large" is cheap to send

Settings TestSettings() {
  Settings settings;
  settings.item_size_max = kItemSizeMax;
  settings.threads = 2;
  return settings;
}

StoreOptions TestStoreOptions(Clock* clock) {
  StoreOptions options;
  options.item_size_max = kItemSizeMax;
  options.shard_bits = 2;
  options.clock = clock;
  return options;
}

class HandlerTest : public ::testing::Test {
 protected:
  HandlerTest() : HandlerTest(TestSettings()) {}
  explicit HandlerTest(const Settings& settings)
      : clock_(kStartMillis),
        store_(TestStoreOptions(&clock_)),
        state_(settings, &store_, &clock_),
        handler_(&state_) {
    limits_.item_size_max = kItemSizeMax;
  }

  // Feeds `input` through ParseRequest and Handle as core/server/connection.cc does
  // and returns every byte that would be sent. All of `input` must be used.
  std::string Run(std::string_view input) {
    std::string out;
    Request request;
    while (true) {
      const ParseResult result = ParseRequest(input, limits_, &request);
      if (result.status == ParseStatus::kNeedMore) {
        break;
      }
      if (result.status == ParseStatus::kError) {
        if (!result.noreply) {
          out.append(result.error).append("\r\n");
        }
      } else if (handler_.Handle(request, state_.stats.ForThread(0), &out) == HandleOutcome::kClose) {
        closed_ = true;
      }
      input.remove_prefix(result.consumed);
      // A too large value is swallowed; the tests always send all of it.
      EXPECT_LE(result.swallow, input.size());
      input.remove_prefix(std::min(result.swallow, input.size()));
      if (closed_) {
        break;
      }
    }
    EXPECT_TRUE(input.empty()) << "unparsed: " << input;
    return out;
  }

  // The `stats` reply as name → value.
  std::map<std::string, std::string> Stats(std::string_view command = "stats\r\n") {
    std::map<std::string, std::string> stats;
    for (const auto& [name, value] : StatLines(command)) {
      stats[name] = value;
    }
    return stats;
  }

  // The `stats` reply as (name, value) lines in order; checks the END.
  std::vector<std::pair<std::string, std::string>> StatLines(std::string_view command) {
    const std::string reply = Run(command);
    std::vector<std::pair<std::string, std::string>> lines;
    size_t pos = 0;
    while (pos < reply.size()) {
      const size_t end = reply.find("\r\n", pos);
      const std::string line = reply.substr(pos, end - pos);
      pos = end + 2;
      if (line == "END") {
        EXPECT_EQ(pos, reply.size());
        return lines;
      }
      EXPECT_EQ(line.substr(0, 5), "STAT ") << line;
      const size_t space = line.find(' ', 5);
      lines.emplace_back(line.substr(5, space - 5), line.substr(space + 1));
    }
    ADD_FAILURE() << "no END in " << reply;
    return lines;
  }

  uint64_t Counter(const std::string& name) { return std::stoull(Stats().at(name)); }

  // A field of `me <key>` ("cas", "size", ...). me neither bumps nor marks
  // the item fetched, so calling this does not change what a test checks
  // (except cmd_meta).
  std::string MeField(std::string_view key, std::string_view field) {
    const std::string reply = Run("me " + std::string(key) + "\r\n");
    const size_t name = reply.find(" " + std::string(field) + "=");
    EXPECT_NE(name, std::string::npos) << reply;
    const size_t start = name + field.size() + 2;
    return reply.substr(start, reply.find_first_of(" \r", start) - start);
  }
  std::string CasOf(std::string_view key) { return MeField(key, "cas"); }
  std::string SizeOf(std::string_view key) { return MeField(key, "size"); }

  ManualClock clock_;
  Store store_;
  ServerState state_;
  Handler handler_;
  ParserLimits limits_;
  bool closed_ = false;
};

// ---------------------------------------------------------------------------
// Text commands.

TEST_F(HandlerTest, VersionAndQuit) {
  EXPECT_EQ(Run("version\r\n"), "VERSION 1.6.21\r\n");
  EXPECT_EQ(Run("quit\r\n"), "");
  EXPECT_TRUE(closed_);
}

TEST_F(HandlerTest, ShutdownNeedsEnableShutdown) {
  std::vector<StopMode> stops;
  state_.request_stop = [&stops](StopMode mode) { stops.push_back(mode); };
  for (const char* line :
       {"shutdown\r\n", "shutdown graceful\r\n", "shutdown now\r\n", "shutdown noreply\r\n"}) {
    EXPECT_EQ(Run(line), "ERROR: shutdown not enabled\r\n") << line;
    EXPECT_FALSE(closed_) << line;
  }
  EXPECT_TRUE(stops.empty());
}

class ShutdownEnabledTest : public HandlerTest {
 protected:
  ShutdownEnabledTest() : HandlerTest(EnableShutdown()) {
    state_.request_stop = [this](StopMode mode) { stops_.push_back(mode); };
  }
  static Settings EnableShutdown() {
    Settings settings = TestSettings();
    settings.shutdown_command = true;
    return settings;
  }
  std::vector<StopMode> stops_;
};

TEST_F(ShutdownEnabledTest, StopsAndClosesWithoutReply) {
  EXPECT_EQ(Stats("stats settings\r\n").at("shutdown_command"), "yes");
  for (const char* line : {"shutdown now\r\n", "shutdown graceful x\r\n", "shutdown noreply\r\n"}) {
    EXPECT_EQ(Run(line), "CLIENT_ERROR invalid shutdown mode\r\n") << line;
  }
  EXPECT_TRUE(stops_.empty());
  EXPECT_EQ(Run("shutdown\r\n"), "");
  EXPECT_TRUE(closed_);
  closed_ = false;
  EXPECT_EQ(Run("shutdown graceful\r\n"), "");
  EXPECT_TRUE(closed_);
  EXPECT_EQ(stops_, (std::vector<StopMode>{StopMode::kNormal, StopMode::kGraceful}));
}

TEST_F(HandlerTest, SetThenGet) {
  EXPECT_EQ(Run("set k 5 0 3\r\nabc\r\n"), "STORED\r\n");
  EXPECT_EQ(Run("get k\r\n"), "VALUE k 5 3\r\nabc\r\nEND\r\n");
  EXPECT_EQ(Run("get nope\r\n"), "END\r\n");
  EXPECT_EQ(Run("set e 0 0 0\r\n\r\n"), "STORED\r\n");
  EXPECT_EQ(Run("get k nope e k\r\n"),
            "VALUE k 5 3\r\nabc\r\nVALUE e 0 0\r\n\r\nVALUE k 5 3\r\nabc\r\nEND\r\n");
  EXPECT_EQ(Run("set big 4294967295 0 2\r\n\r\n\r\n"), "STORED\r\n");
  EXPECT_EQ(Run("get big\r\n"), "VALUE big 4294967295 2\r\n\r\n\r\nEND\r\n");
}

TEST_F(HandlerTest, GetsShowsCasAndCasFlow) {
  EXPECT_EQ(Run("set k 0 0 1\r\na\r\n"), "STORED\r\n");
  const std::string cas = CasOf("k");
  EXPECT_EQ(Run("gets k\r\n"), "VALUE k 0 1 " + cas + "\r\na\r\nEND\r\n");
  EXPECT_EQ(Run("cas k 7 0 1 " + cas + "\r\nb\r\n"), "STORED\r\n");
  EXPECT_EQ(Run("get k\r\n"), "VALUE k 7 1\r\nb\r\nEND\r\n");
  EXPECT_NE(CasOf("k"), cas);
  EXPECT_EQ(Run("cas k 0 0 1 " + cas + "\r\nc\r\n"), "EXISTS\r\n");
  EXPECT_EQ(Run("cas nope 0 0 1 1\r\nc\r\n"), "NOT_FOUND\r\n");
  EXPECT_EQ(Run("cas k 0 0 1 0\r\nc\r\n"), "EXISTS\r\n");
  const auto stats = Stats();
  EXPECT_EQ(stats.at("cas_hits"), "1");
  EXPECT_EQ(stats.at("cas_badval"), "2");
  EXPECT_EQ(stats.at("cas_misses"), "1");
  EXPECT_EQ(stats.at("cmd_set"), "5");
}

TEST_F(HandlerTest, AddReplaceAppendPrepend) {
  EXPECT_EQ(Run("add k 1 0 1\r\na\r\n"), "STORED\r\n");
  EXPECT_EQ(Run("add k 2 0 1\r\nb\r\n"), "NOT_STORED\r\n");
  EXPECT_EQ(Run("replace nope 0 0 1\r\nb\r\n"), "NOT_STORED\r\n");
  EXPECT_EQ(Run("replace k 3 0 1\r\nc\r\n"), "STORED\r\n");
  EXPECT_EQ(Run("append k 9 0 2\r\nde\r\n"), "STORED\r\n");
  EXPECT_EQ(Run("prepend k 9 0 2\r\nab\r\n"), "STORED\r\n");
  EXPECT_EQ(Run("append nope 0 0 1\r\nx\r\n"), "NOT_STORED\r\n");
  EXPECT_EQ(Run("prepend nope 0 0 1\r\nx\r\n"), "NOT_STORED\r\n");
  EXPECT_EQ(Run("get k\r\n"), "VALUE k 3 5\r\nabcde\r\nEND\r\n");  // append keeps the flags
  EXPECT_EQ(Counter("cmd_set"), 8u);
}

TEST_F(HandlerTest, TooLargeValueIsRefusedAndSetDropsTheOldValue) {
  const std::string big(kItemSizeMax, 'x');
  EXPECT_EQ(Run("set k 0 0 1\r\na\r\n"), "STORED\r\n");
  EXPECT_EQ(Run("add k 0 0 " + std::to_string(big.size()) + "\r\n" + big + "\r\n"),
            "SERVER_ERROR object too large for cache\r\n");
  EXPECT_EQ(Run("get k\r\n"), "VALUE k 0 1\r\na\r\nEND\r\n");  // only set deletes
  EXPECT_EQ(Run("set k 0 0 " + std::to_string(big.size()) + "\r\n" + big + "\r\n"),
            "SERVER_ERROR object too large for cache\r\n");
  EXPECT_EQ(Run("get k\r\n"), "END\r\n");
  EXPECT_EQ(Run("set k 0 0 " + std::to_string(big.size()) + " noreply\r\n" + big + "\r\n"), "");
  // An append that would grow the item past the limit is NOT_STORED, as
  // memcached's do_store_item answers when the joined item cannot be made.
  const std::string half(kItemSizeMax / 2, 'y');
  EXPECT_EQ(Run("set h 0 0 " + std::to_string(half.size()) + "\r\n" + half + "\r\n"), "STORED\r\n");
  EXPECT_EQ(Run("append h 0 0 " + std::to_string(half.size()) + "\r\n" + half + "\r\n"), "NOT_STORED\r\n");
  EXPECT_EQ(Run("ms h " + std::to_string(half.size()) + " MP\r\n" + half + "\r\n"), "NS\r\n");
  EXPECT_EQ(Counter("cmd_set"), 4u);  // memcached counts every item it could allocate
}

TEST_F(HandlerTest, NoreplySuppressesRepliesAndErrors) {
  EXPECT_EQ(Run("set k 0 0 1 noreply\r\na\r\n"
                "add k 0 0 1 noreply\r\nb\r\n"
                "append k 0 0 1 noreply\r\nc\r\n"
                "incr k 1 noreply\r\n"
                "touch k 10 noreply\r\n"
                "delete nope noreply\r\n"
                "verbosity 1 noreply\r\n"
                "cache_memlimit 2 noreply\r\n"
                "flush_all 100 noreply\r\n"
                "set n 0 0 1 noreply\r\n5\r\n"
                "incr n 3 noreply\r\n"
                "get k n\r\n"),
            "VALUE k 0 2\r\nac\r\nVALUE n 0 1\r\n8\r\nEND\r\n");
  EXPECT_EQ(Run("delete k noreply\r\nget k\r\n"), "END\r\n");
  EXPECT_EQ(state_.verbosity.load(), 1);
}

TEST_F(HandlerTest, IncrDecr) {
  EXPECT_EQ(Run("incr n 1\r\n"), "NOT_FOUND\r\n");
  EXPECT_EQ(Run("decr n 1\r\n"), "NOT_FOUND\r\n");
  EXPECT_EQ(Run("set n 3 0 2\r\n10\r\n"), "STORED\r\n");
  EXPECT_EQ(Run("incr n 5\r\n"), "15\r\n");
  EXPECT_EQ(Run("decr n 20\r\n"), "0\r\n");
  EXPECT_EQ(Run("set n 0 0 20\r\n18446744073709551615\r\n"), "STORED\r\n");
  EXPECT_EQ(Run("incr n 2\r\n"), "1\r\n");  // wraps at 2^64
  EXPECT_EQ(Run("set s 0 0 3\r\nabc\r\n"), "STORED\r\n");
  EXPECT_EQ(Run("incr s 1\r\n"), "CLIENT_ERROR cannot increment or decrement non-numeric value\r\n");
  EXPECT_EQ(Run("incr n abc\r\n"), "CLIENT_ERROR invalid numeric delta argument\r\n");
  const auto stats = Stats();
  EXPECT_EQ(stats.at("incr_misses"), "1");
  EXPECT_EQ(stats.at("decr_misses"), "1");
  EXPECT_EQ(stats.at("incr_hits"), "2");
  EXPECT_EQ(stats.at("decr_hits"), "1");
}

TEST_F(HandlerTest, DeleteAndTouch) {
  EXPECT_EQ(Run("delete k\r\n"), "NOT_FOUND\r\n");
  EXPECT_EQ(Run("set k 0 10 1\r\na\r\n"), "STORED\r\n");
  EXPECT_EQ(Run("touch k 100\r\n"), "TOUCHED\r\n");
  clock_.Advance(50'000);
  EXPECT_EQ(Run("get k\r\n"), "VALUE k 0 1\r\na\r\nEND\r\n");  // would have expired at 10 s
  clock_.Advance(51'000);
  EXPECT_EQ(Run("get k\r\n"), "END\r\n");
  EXPECT_EQ(Run("touch k 100\r\n"), "NOT_FOUND\r\n");
  EXPECT_EQ(Run("set k 0 0 1\r\na\r\n"), "STORED\r\n");
  EXPECT_EQ(Run("delete k\r\n"), "DELETED\r\n");
  EXPECT_EQ(Run("delete k 0\r\n"), "NOT_FOUND\r\n");
  const auto stats = Stats();
  EXPECT_EQ(stats.at("delete_hits"), "1");
  EXPECT_EQ(stats.at("delete_misses"), "2");
  EXPECT_EQ(stats.at("cmd_touch"), "2");
  EXPECT_EQ(stats.at("touch_hits"), "1");
  EXPECT_EQ(stats.at("touch_misses"), "1");
  EXPECT_EQ(stats.at("get_expired"), "1");
}

TEST_F(HandlerTest, GatAndGatsTouchAndCountAsTouches) {
  EXPECT_EQ(Run("set k 2 10 1\r\na\r\n"), "STORED\r\n");
  EXPECT_EQ(Run("gat 100 k nope\r\n"), "VALUE k 2 1\r\na\r\nEND\r\n");
  clock_.Advance(50'000);
  const std::string cas = CasOf("k");
  EXPECT_EQ(Run("gats 0 k\r\n"), "VALUE k 2 1 " + cas + "\r\na\r\nEND\r\n");
  clock_.Advance(1'000'000);
  EXPECT_EQ(Run("get k\r\n"), "VALUE k 2 1\r\na\r\nEND\r\n");  // gats 0: never expires
  EXPECT_EQ(Run("gat -1 k\r\n"), "VALUE k 2 1\r\na\r\nEND\r\n");
  EXPECT_EQ(Run("get k\r\n"), "END\r\n");  // a negative exptime expires at once
  const auto stats = Stats();
  EXPECT_EQ(stats.at("cmd_touch"), "4");
  EXPECT_EQ(stats.at("touch_hits"), "3");
  EXPECT_EQ(stats.at("touch_misses"), "1");
  EXPECT_EQ(stats.at("cmd_get"), "2");
  EXPECT_EQ(stats.at("get_hits"), "1");
  EXPECT_EQ(stats.at("get_misses"), "1");
}

TEST_F(HandlerTest, FlushAllNow) {
  EXPECT_EQ(Run("set a 0 0 1\r\n1\r\nset b 0 0 1\r\n2\r\n"), "STORED\r\nSTORED\r\n");
  EXPECT_EQ(Run("flush_all\r\n"), "OK\r\n");
  EXPECT_EQ(Run("get a b\r\n"), "END\r\n");
  EXPECT_EQ(Run("set a 0 0 1\r\n3\r\n"), "STORED\r\n");
  EXPECT_EQ(Run("get a\r\n"), "VALUE a 0 1\r\n3\r\nEND\r\n");
  EXPECT_EQ(Run("flush_all 0\r\n"), "OK\r\n");
  EXPECT_EQ(Run("get a\r\n"), "END\r\n");
  EXPECT_EQ(Counter("cmd_flush"), 2u);
}

TEST_F(HandlerTest, FlushAllWithDelay) {
  EXPECT_EQ(Run("set a 0 0 1\r\n1\r\n"), "STORED\r\n");
  EXPECT_EQ(Run("flush_all 10\r\n"), "OK\r\n");
  clock_.Advance(9'000);
  EXPECT_EQ(Run("get a\r\n"), "VALUE a 0 1\r\n1\r\nEND\r\n");
  clock_.Advance(1'001);
  EXPECT_EQ(Run("get a\r\n"), "END\r\n");
  EXPECT_EQ(Stats().at("get_flushed"), "1");
}

TEST_F(HandlerTest, FlushAllDelayOver30DaysIsAUnixTime) {
  EXPECT_EQ(Run("set a 0 0 1\r\n1\r\n"), "STORED\r\n");
  EXPECT_EQ(Run("flush_all " + std::to_string(kStartSeconds + 100) + "\r\n"), "OK\r\n");
  clock_.Advance(99'000);
  EXPECT_EQ(Run("get a\r\n"), "VALUE a 0 1\r\n1\r\nEND\r\n");
  clock_.Advance(1'001);
  EXPECT_EQ(Run("get a\r\n"), "END\r\n");
}

TEST_F(HandlerTest, ExpiryFollowsTheClock) {
  EXPECT_EQ(Run("set a 0 5 1\r\n1\r\nset b 0 -1 1\r\n2\r\n"), "STORED\r\nSTORED\r\n");
  EXPECT_EQ(Run("set c 0 " + std::to_string(kStartSeconds + 20) + " 1\r\n3\r\n"), "STORED\r\n");
  EXPECT_EQ(Run("get a b c\r\n"), "VALUE a 0 1\r\n1\r\nVALUE c 0 1\r\n3\r\nEND\r\n");
  clock_.Advance(5'000);
  EXPECT_EQ(Run("get a b c\r\n"), "VALUE c 0 1\r\n3\r\nEND\r\n");
  clock_.Advance(15'000);
  EXPECT_EQ(Run("get c\r\n"), "END\r\n");
}

TEST_F(HandlerTest, VerbosityAndCacheMemlimit) {
  EXPECT_EQ(Run("verbosity 1\r\n"), "OK\r\n");
  EXPECT_EQ(state_.verbosity.load(), 1);
  EXPECT_EQ(Run("verbosity 9\r\n"), "OK\r\n");
  EXPECT_EQ(state_.verbosity.load(), 2);
  EXPECT_EQ(Run("cache_memlimit 100\r\n"), "OK\r\n");
  EXPECT_EQ(Stats().at("limit_maxbytes"), std::to_string(100u << 20));
  EXPECT_EQ(Run("cache_memlimit 7\r\n"), "MEMLIMIT_TOO_SMALL cannot set maxbytes to less than 8m\r\n");
  EXPECT_EQ(Run("cache_memlimit 1000000001\r\n"),
            "MEMLIMIT_ADJUST_FAILED input value is megabytes not bytes\r\n");
  EXPECT_EQ(Run("cache_memlimit x\r\n"), "ERROR\r\n");
  EXPECT_EQ(Stats("stats settings\r\n").at("verbosity"), "2");
}

// `verbosity N` switches debug logging as -v/-vv do at start.
TEST_F(HandlerTest, VerbositySetsTheLogLevel) {
  EXPECT_EQ(Run("verbosity 2\r\n"), "OK\r\n");
  EXPECT_TRUE(LogEnabled(LogLevel::kDebug));
  EXPECT_EQ(Run("verbosity 1\r\n"), "OK\r\n");
  EXPECT_FALSE(LogEnabled(LogLevel::kDebug));
  EXPECT_TRUE(LogEnabled(LogLevel::kInfo));
  EXPECT_EQ(Run("verbosity 9 noreply\r\n"), "");
  EXPECT_TRUE(LogEnabled(LogLevel::kDebug));
  EXPECT_EQ(Run("verbosity 0\r\n"), "OK\r\n");
  EXPECT_FALSE(LogEnabled(LogLevel::kDebug));
  SetLogLevel(LogLevel::kInfo);  // the default, whatever failed above
}

// The parser and the handler read numbers alike (core/protocol/text_tokens.h): "-0" is
// 0, as memcached's safe_strtoul/safe_strtoull read it.
TEST_F(HandlerTest, MinusZeroIsZeroAsInMemcached) {
  EXPECT_EQ(Run("verbosity 1\r\n"), "OK\r\n");
  EXPECT_EQ(Run("verbosity -0\r\n"), "OK\r\n");
  EXPECT_EQ(state_.verbosity.load(), 0);
  EXPECT_EQ(Run("cache_memlimit -0\r\n"), "MEMLIMIT_TOO_SMALL cannot set maxbytes to less than 8m\r\n");
  EXPECT_EQ(Run("ms k 1 F-0\r\nx\r\n"), "HD\r\n");
  EXPECT_EQ(Run("mg k v f\r\n"), "VA 1 f0\r\nx\r\n");
  EXPECT_EQ(Run("set n 0 0 1\r\n5\r\n"), "STORED\r\n");
  EXPECT_EQ(Run("ma n D-0 v\r\n"), "VA 1\r\n5\r\n");
  EXPECT_EQ(Run("ma n D-1\r\n"), "CLIENT_ERROR invalid or duplicate flag\r\n");
  EXPECT_EQ(Run("stats cachedump -0 -0\r\n"), "END\r\n");
  SetLogLevel(LogLevel::kInfo);
}

TEST_F(HandlerTest, CountersAfterASequence) {
  Run("set a 0 0 1\r\n1\r\nset b 0 0 1\r\n2\r\n"
      "get a b c\r\nget a\r\ngets d\r\n"
      "delete a\r\ndelete a\r\n"
      "incr b 1\r\ndecr b 1\r\nincr z 1\r\n"
      "touch b 0\r\ntouch z 0\r\n"
      "mg b v\r\nmg z v\r\nmn\r\n");
  const auto stats = Stats();
  EXPECT_EQ(stats.at("cmd_get"), "7");
  EXPECT_EQ(stats.at("get_hits"), "4");
  EXPECT_EQ(stats.at("get_misses"), "3");
  EXPECT_EQ(stats.at("cmd_set"), "2");
  EXPECT_EQ(stats.at("delete_hits"), "1");
  EXPECT_EQ(stats.at("delete_misses"), "1");
  EXPECT_EQ(stats.at("incr_hits"), "1");
  EXPECT_EQ(stats.at("incr_misses"), "1");
  EXPECT_EQ(stats.at("decr_hits"), "1");
  EXPECT_EQ(stats.at("cmd_touch"), "2");
  EXPECT_EQ(stats.at("touch_hits"), "1");
  EXPECT_EQ(stats.at("touch_misses"), "1");
  EXPECT_EQ(stats.at("cmd_meta"), "3");
  EXPECT_EQ(stats.at("curr_items"), "1");
  EXPECT_EQ(stats.at("total_items"), "4");  // 2 sets, incr and decr store new items
}

// ---------------------------------------------------------------------------
// stats and lru_crawler.

TEST_F(HandlerTest, StatsNamesInMemcachedOrder) {
  state_.extra_stats = [](StatList* lines) { AddStat(lines, "repl_state", "connected"); };
  std::vector<std::string> names;
  for (const auto& [name, value] : StatLines("stats\r\n")) {
    names.push_back(name);
  }
  const std::vector<std::string> expected = {"pid",
                                             "uptime",
                                             "time",
                                             "version",
                                             "pointer_size",
                                             "rusage_user",
                                             "rusage_system",
                                             "max_connections",
                                             "curr_connections",
                                             "total_connections",
                                             "rejected_connections",
                                             "connection_structures",
                                             "cmd_get",
                                             "cmd_set",
                                             "cmd_flush",
                                             "cmd_touch",
                                             "cmd_meta",
                                             "get_hits",
                                             "get_misses",
                                             "get_expired",
                                             "get_flushed",
                                             "delete_misses",
                                             "delete_hits",
                                             "incr_misses",
                                             "incr_hits",
                                             "decr_misses",
                                             "decr_hits",
                                             "cas_misses",
                                             "cas_hits",
                                             "cas_badval",
                                             "touch_hits",
                                             "touch_misses",
                                             "auth_cmds",
                                             "auth_errors",
                                             "bytes_read",
                                             "bytes_written",
                                             "limit_maxbytes",
                                             "accepting_conns",
                                             "threads",
                                             "bytes",
                                             "curr_items",
                                             "total_items",
                                             "expired_unfetched",
                                             "evicted_unfetched",
                                             "evictions",
                                             "reclaimed",
                                             "twincache_version",
                                             "role",
                                             "role_seq",
                                             "maintenance",
                                             "repl_state"};
  EXPECT_EQ(names, expected);
}

TEST_F(HandlerTest, StatsValues) {
  clock_.Advance(42'500);
  state_.curr_connections = 3;
  state_.total_connections = 7;
  auto stats = Stats();
  EXPECT_EQ(stats.at("uptime"), "42");
  EXPECT_EQ(stats.at("time"), std::to_string(kStartSeconds + 42));
  EXPECT_EQ(stats.at("version"), "1.6.21");
  EXPECT_EQ(stats.at("pointer_size"), "64");
  EXPECT_EQ(stats.at("curr_connections"), "3");
  EXPECT_EQ(stats.at("total_connections"), "7");
  EXPECT_EQ(stats.at("max_connections"), "1024");
  EXPECT_EQ(stats.at("threads"), "2");
  EXPECT_EQ(stats.at("accepting_conns"), "1");
  EXPECT_EQ(stats.at("limit_maxbytes"), std::to_string(64u << 20));
  EXPECT_EQ(stats.at("twincache_version"), kTwincacheVersion);
  const std::string rusage = stats.at("rusage_user");
  ASSERT_NE(rusage.find('.'), std::string::npos);
  EXPECT_EQ(rusage.size() - rusage.find('.') - 1, 6u);  // "%ld.%06ld"
  Run("set a 0 0 3\r\nabc\r\n");
  stats = Stats();
  EXPECT_EQ(stats.at("curr_items"), "1");
  EXPECT_EQ(stats.at("bytes"), SizeOf("a"));
}

TEST_F(HandlerTest, StatsReset) {
  Run("set a 0 0 1\r\n1\r\nget a\r\nget b\r\nflush_all\r\n");
  ASSERT_EQ(Counter("cmd_get"), 2u);
  EXPECT_EQ(Run("stats reset\r\n"), "RESET\r\n");
  const auto stats = Stats();
  for (const char* name : {"cmd_get", "get_hits", "get_misses", "cmd_set", "cmd_flush", "total_items"}) {
    EXPECT_EQ(stats.at(name), "0") << name;
  }
  Run("get a\r\n");
  EXPECT_EQ(Counter("cmd_get"), 1u);
}

TEST_F(HandlerTest, StatsSettings) {
  const auto settings = Stats("stats settings\r\n");
  EXPECT_EQ(settings.at("maxbytes"), std::to_string(64u << 20));
  EXPECT_EQ(settings.at("maxconns"), "1024");
  EXPECT_EQ(settings.at("tcpport"), "11211");
  EXPECT_EQ(settings.at("udpport"), "0");
  EXPECT_EQ(settings.at("inter"), "NULL");
  EXPECT_EQ(settings.at("evictions"), "on");
  EXPECT_EQ(settings.at("num_threads"), "2");
  EXPECT_EQ(settings.at("cas_enabled"), "yes");
  EXPECT_EQ(settings.at("tcp_backlog"), "1024");
  EXPECT_EQ(settings.at("item_size_max"), std::to_string(kItemSizeMax));
  EXPECT_EQ(settings.at("shutdown_command"), "no");
  EXPECT_EQ(settings.at("idle_timeout"), "0");
  // What a SIGHUP may change is read from the running values.
  state_.max_connections = 77;
  state_.idle_timeout_s = 30;
  const auto reloaded = Stats("stats settings\r\n");
  EXPECT_EQ(reloaded.at("maxconns"), "77");
  EXPECT_EQ(reloaded.at("idle_timeout"), "30");
  EXPECT_EQ(Stats().at("max_connections"), "77");
}

TEST_F(HandlerTest, OtherStatsSubcommands) {
  EXPECT_EQ(Run("stats items\r\n"), "END\r\n");
  EXPECT_EQ(Run("stats slabs\r\n"), "STAT active_slabs 0\r\nSTAT total_malloced 0\r\nEND\r\n");
  EXPECT_EQ(Run("stats sizes\r\n"), "STAT sizes_status disabled\r\nEND\r\n");
  EXPECT_EQ(Run("stats conns\r\n"), "END\r\n");
  EXPECT_EQ(Run("stats detail dump\r\n"), "END\r\n");
  EXPECT_EQ(Run("stats detail on\r\n"), "OK\r\n");
  EXPECT_EQ(Run("stats detail\r\n"), "CLIENT_ERROR usage: stats detail on|off|dump\r\n");
  EXPECT_EQ(Run("stats bogus\r\n"), "ERROR\r\n");
  Run("set a 0 0 3\r\nabc\r\n");
  // The smallest class (id 1) holds "a"; its one page is carved one slot at a time.
  EXPECT_EQ(Run("stats items\r\n"),
            "STAT items:1:number 1\r\nSTAT items:1:evicted 0\r\nSTAT items:1:outofmemory 0\r\n"
            "STAT items:1:reclaimed 0\r\nSTAT items:1:expired_unfetched 0\r\n"
            "STAT items:1:evicted_unfetched 0\r\nEND\r\n");
  constexpr uint64_t kPage = uint64_t{1} << 20;
  const std::string per_page = std::to_string(kPage / std::stoull(SizeOf("a")));
  const std::string free = std::to_string(std::stoull(per_page) - 1);
  EXPECT_EQ(Run("stats slabs\r\n"), "STAT 1:chunk_size " + SizeOf("a") + "\r\nSTAT 1:chunks_per_page " +
                                        per_page + "\r\nSTAT 1:total_pages 1\r\nSTAT 1:total_chunks " +
                                        per_page + "\r\nSTAT 1:used_chunks 1\r\nSTAT 1:free_chunks " + free +
                                        "\r\nSTAT 1:free_chunks_end " + free +
                                        "\r\nSTAT active_slabs 1\r\nSTAT total_malloced " +
                                        std::to_string(kPage) + "\r\nEND\r\n");
}

TEST_F(HandlerTest, StatsCachedump) {
  Run("set a 0 0 3\r\nabc\r\nset b 0 100 1\r\nx\r\n");
  const std::string a_line = "ITEM a [3 b; 0 s]\r\n";
  const std::string b_line = "ITEM b [1 b; " + std::to_string(kStartSeconds + 100) + " s]\r\n";
  const std::string all = Run("stats cachedump 1 0\r\n");
  EXPECT_TRUE(all == a_line + b_line + "END\r\n" || all == b_line + a_line + "END\r\n") << all;
  const std::string one = Run("stats cachedump 1 1\r\n");
  EXPECT_TRUE(one == a_line + "END\r\n" || one == b_line + "END\r\n") << one;
  EXPECT_EQ(Run("stats cachedump 2 0\r\n"), "END\r\n");
  // An item of another class is listed under its own class only.
  Run("set wide 0 0 500\r\n" + std::string(500, 'w') + "\r\n");
  const std::string wide_class = MeField("wide", "cls");
  EXPECT_GT(std::stoi(wide_class), 2);
  EXPECT_EQ(Run("stats cachedump " + wide_class + " 0\r\n"), "ITEM wide [500 b; 0 s]\r\nEND\r\n");
  EXPECT_EQ(Run("stats cachedump 1 0\r\n"), all);
  EXPECT_EQ(Run("stats cachedump 255 0\r\n"), "END\r\n");
  EXPECT_EQ(Run("stats cachedump 256 0\r\n"), "CLIENT_ERROR Illegal slab id\r\n");
  EXPECT_EQ(Run("stats cachedump x 0\r\n"), "CLIENT_ERROR bad command line format\r\n");
  EXPECT_EQ(Run("stats cachedump 1\r\n"), "CLIENT_ERROR bad command line\r\n");
}

TEST_F(HandlerTest, LruCrawlerMetadump) {
  EXPECT_EQ(Run("lru_crawler metadump all\r\n"), "END\r\n");
  Run("set a:b%c 0 100 3\r\nabc\r\n");
  Run("get a:b%c\r\n");
  clock_.Advance(5'000);
  Run("set plain 0 0 1\r\nx\r\n");
  Run("set gone 0 1 1\r\nx\r\n");
  clock_.Advance(1'000);
  // Both items are in the second class (a 48-byte slot), as me says.
  const std::string cls = MeField("plain", "cls");
  ASSERT_EQ(cls, "2");
  ASSERT_EQ(MeField("a:b%c", "cls"), cls);
  const std::string first = "key=a%3Ab%25c exp=" + std::to_string(kStartSeconds + 100) +
                            " la=" + std::to_string(kStartSeconds) + " cas=" + CasOf("a:b%c") +
                            " fetch=yes cls=" + cls + " size=" + SizeOf("a:b%c") + "\n";
  const std::string second = "key=plain exp=-1 la=" + std::to_string(kStartSeconds + 5) +
                             " cas=" + CasOf("plain") + " fetch=no cls=" + cls + " size=" + SizeOf("plain") +
                             "\n";
  for (const std::string classes : {"all", "hash", "2", "3,2", "255,2"}) {
    const std::string dump = Run("lru_crawler metadump " + classes + "\r\n");
    EXPECT_TRUE(dump == first + second + "END\r\n" || dump == second + first + "END\r\n") << dump;
  }
  EXPECT_EQ(Run("lru_crawler metadump 1\r\n"), "END\r\n");
  EXPECT_EQ(Run("lru_crawler metadump 1,3\r\n"), "END\r\n");
  EXPECT_EQ(Run("lru_crawler metadump 256\r\n"), "BADCLASS invalid class id\r\n");
  EXPECT_EQ(Run("lru_crawler metadump 0\r\n"), "BADCLASS invalid class id\r\n");
  EXPECT_EQ(Run("lru_crawler metadump 1,x\r\n"), "BADCLASS invalid class id\r\n");
}

TEST_F(HandlerTest, LruCrawlerMgdumpAndOtherSubcommands) {
  Run("set plain 0 0 1\r\nx\r\n");
  Run("ms AAEC 1 b\r\nx\r\n");  // binary key 00 01 02
  const std::string dump = Run("lru_crawler mgdump hash\r\n");
  EXPECT_TRUE(dump == "mg plain\r\nmg AAEC b\r\nEN\r\n" || dump == "mg AAEC b\r\nmg plain\r\nEN\r\n") << dump;
  EXPECT_EQ(Run("lru_crawler crawl all\r\n"), "OK\r\n");
  EXPECT_EQ(Run("lru_crawler crawl 99\r\n"), "OK\r\n");  // twincached's classes pass memcached's 63
  EXPECT_EQ(Run("lru_crawler crawl 256\r\n"), "BADCLASS invalid class id\r\n");
  EXPECT_EQ(Run("lru_crawler tocrawl 100\r\n"), "OK\r\n");
  EXPECT_EQ(Run("lru_crawler tocrawl x\r\n"), "CLIENT_ERROR bad command line format\r\n");
  EXPECT_EQ(Run("lru_crawler sleep 100\r\n"), "OK\r\n");
  EXPECT_EQ(Run("lru_crawler sleep 1000001\r\n"), "CLIENT_ERROR sleep must be one second or less\r\n");
  EXPECT_EQ(Run("lru_crawler enable\r\n"), "OK\r\n");
  EXPECT_EQ(Run("lru_crawler disable\r\n"), "OK\r\n");
  EXPECT_EQ(Run("lru_crawler metadump\r\n"), "ERROR\r\n");
  EXPECT_EQ(Run("lru_crawler bogus\r\n"), "ERROR\r\n");
  EXPECT_EQ(Run("lru_crawler\r\n"), "ERROR\r\n");
}

TEST(UriEncodeTest, EncodesLikeMemcached) {
  std::string out;
  AppendUriEncoded("az-._~09 %:\x01\xff", &out);
  EXPECT_EQ(out, "az-._~09%20%25%3A%01%FF");
}

// ---------------------------------------------------------------------------
// Meta commands.

TEST_F(HandlerTest, MetaNoopAndDebug) {
  EXPECT_EQ(Run("mn\r\n"), "MN\r\n");
  EXPECT_EQ(Run("me k\r\n"), "EN\r\n");
  Run("set k 0 100 3\r\nabc\r\n");
  clock_.Advance(7'000);
  EXPECT_EQ(Run("me k\r\n"),
            "ME k exp=93 la=7 cas=" + CasOf("k") + " fetch=no cls=1 size=" + SizeOf("k") +
                "\r\n");  // 40 bytes: class 1
  Run("get k\r\n");
  EXPECT_EQ(Run("me k\r\n"),
            "ME k exp=93 la=0 cas=" + CasOf("k") + " fetch=yes cls=1 size=" + SizeOf("k") + "\r\n");
  EXPECT_EQ(Run("me aw== b\r\n").substr(0, 16), "ME aw== exp=93 l");  // "k" in base64
  EXPECT_EQ(Run("me a=== b\r\n"), "CLIENT_ERROR bad command line format\r\n");
}

TEST_F(HandlerTest, MetaGetFlags) {
  EXPECT_EQ(Run("mg k v\r\n"), "EN\r\n");
  EXPECT_EQ(Run("mg k v q\r\n"), "");
  EXPECT_EQ(Run("mg k v k O123\r\n"), "EN kk O123\r\n");
  Run("set k 5 100 3\r\nabc\r\n");
  const std::string cas = CasOf("k");
  clock_.Advance(4'000);
  EXPECT_EQ(Run("mg k\r\n"), "HD\r\n");
  EXPECT_EQ(Run("mg k s v f t c k Oxy q\r\n"), "VA 3 s3 f5 t96 c" + cas + " kk Oxy\r\nabc\r\n");
  EXPECT_EQ(Run("mg k O1 k c\r\n"), "HD O1 kk c" + cas + "\r\n");  // request order
  EXPECT_EQ(Run("mg k v T0 t\r\n"), "VA 3 t-1\r\nabc\r\n");
  Run("set n 0 0 1\r\n1\r\n");
  EXPECT_EQ(Run("mg n t\r\n"), "HD t-1\r\n");
  EXPECT_EQ(Run("mg n P/x Lfoo\r\n"), "HD\r\n");  // proxy hints are ignored
}

TEST_F(HandlerTest, MetaGetHitAndLastAccessBeforeThisFetch) {
  Run("set k 0 0 1\r\na\r\n");
  clock_.Advance(3'000);
  EXPECT_EQ(Run("mg k h l\r\n"), "HD h0 l3\r\n");
  clock_.Advance(2'000);
  EXPECT_EQ(Run("mg k h l u\r\n"), "HD h1 l2\r\n");
  clock_.Advance(2'000);
  EXPECT_EQ(Run("mg k h l\r\n"), "HD h1 l4\r\n");  // 'u' did not bump the access time
}

TEST_F(HandlerTest, MetaGetTouchesWithT) {
  Run("set k 0 10 1\r\na\r\n");
  EXPECT_EQ(Run("mg k T100 t v\r\n"), "VA 1 t100\r\na\r\n");
  clock_.Advance(60'000);
  EXPECT_EQ(Run("mg k t\r\n"), "HD t40\r\n");
  clock_.Advance(41'000);
  EXPECT_EQ(Run("mg k t\r\n"), "EN\r\n");
  EXPECT_EQ(Run("mg k T10\r\n"), "EN\r\n");
  const auto stats = Stats();
  EXPECT_EQ(stats.at("cmd_touch"), "1");  // hits with T count as touches ...
  EXPECT_EQ(stats.at("touch_hits"), "1");
  EXPECT_EQ(stats.at("cmd_get"), "3");  // ... everything else, misses with T too, as gets
  EXPECT_EQ(stats.at("get_hits"), "1");
  EXPECT_EQ(stats.at("get_misses"), "2");
  EXPECT_EQ(stats.at("cmd_meta"), "4");
}

TEST_F(HandlerTest, MetaGetVivifyAndRecache) {
  EXPECT_EQ(Run("mg k N30 s t v\r\n"), "VA 0 s0 t30 W\r\n\r\n");
  EXPECT_EQ(Run("mg k N30 s t v\r\n"), "VA 0 s0 t30 Z\r\n\r\n");  // the token is out
  EXPECT_EQ(Run("mg k N30 c\r\n"), "HD c" + CasOf("k") + " Z\r\n");
  Run("set r 0 10 1\r\na\r\n");
  EXPECT_EQ(Run("mg r R5\r\n"), "HD\r\n");
  EXPECT_EQ(Run("mg r R30\r\n"), "HD W\r\n");
  EXPECT_EQ(Run("mg r R30\r\n"), "HD Z\r\n");  // one winner
  Run("set r 0 10 1\r\nb\r\n");                // a store clears the token
  EXPECT_EQ(Run("mg r R30 v\r\n"), "VA 1 W\r\nb\r\n");
  Run("set forever 0 0 1\r\na\r\n");
  EXPECT_EQ(Run("mg forever R30\r\n"), "HD\r\n");
  EXPECT_EQ(Run("mg e N30 E12345 c\r\n"), "HD c12345 W\r\n");
}

// memcached applies mg's T and N where they stand in the request.
// ma too; and a vivifying ma answers even with q and counts no hit or miss.
TEST_F(HandlerTest, MetaArithmeticTtlOrderAndVivify) {
  EXPECT_EQ(Run("ma tt N30 t T60\r\n"), "HD t30\r\n");
  EXPECT_EQ(Run("ma tt t T90\r\n"), "HD t60\r\n");
  EXPECT_EQ(Run("mg tt t v\r\n"), "VA 1 t90\r\n1\r\n");
  EXPECT_EQ(Run("ma tq N0 q\r\n"), "HD\r\n");
  EXPECT_EQ(Run("ma tq q\r\n"), "");
  const auto stats = Stats();
  EXPECT_EQ(stats.at("incr_hits"), "2");
  EXPECT_EQ(stats.at("incr_misses"), "0");
}

TEST_F(HandlerTest, MetaGetFlagsBeforeTSeeTheOldTtl) {
  Run("set k 0 100 1\r\na\r\n");
  EXPECT_EQ(Run("mg k t R30 T10\r\n"), "HD t100\r\n");  // R saw 100: no win
  EXPECT_EQ(Run("mg k R30 t\r\n"), "HD t10 W\r\n");
  Run("set k 0 100 1\r\na\r\n");
  EXPECT_EQ(Run("mg k T10 R30 t\r\n"), "HD t10 W\r\n");
  EXPECT_EQ(Run("mg v t N30\r\n"), "HD t-1 W\r\n");  // the new item before N applies
  EXPECT_EQ(Run("mg v t\r\n"), "HD t30 Z\r\n");
  EXPECT_EQ(Run("mg w N30 t T60\r\n"), "HD t30 W\r\n");
  EXPECT_EQ(Run("mg w t\r\n"), "HD t60 Z\r\n");
}

TEST_F(HandlerTest, MetaGetBase64Key) {
  // "AAEC" is the three bytes 00 01 02; "Zm9v" is "foo".
  EXPECT_EQ(Run("ms Zm9v 2 b\r\nhi\r\n"), "HD\r\n");
  EXPECT_EQ(Run("get foo\r\n"), "VALUE foo 0 2\r\nhi\r\nEND\r\n");
  EXPECT_EQ(Run("mg Zm9v b k v\r\n"), "VA 2 kZm9v b\r\nhi\r\n");
  EXPECT_EQ(Run("mg AAEC b k\r\n"), "EN kAAEC b\r\n");
  EXPECT_EQ(Run("mg AAEC b k O9\r\n"), "EN kAAEC b O9\r\n");
  EXPECT_EQ(Run("ms AAEC 1 b k\r\nx\r\n"), "HD kAAEC b\r\n");
  EXPECT_EQ(Run("mg AAEC b v\r\n"), "VA 1\r\nx\r\n");
  EXPECT_EQ(Run("mg AAE b v\r\n"), "CLIENT_ERROR error decoding key\r\n");
  EXPECT_EQ(Run("mg A*EC b v\r\n"), "CLIENT_ERROR error decoding key\r\n");
}

TEST_F(HandlerTest, MetaFlagErrors) {
  EXPECT_EQ(Run("mg k v v\r\n"), "CLIENT_ERROR duplicate flag\r\n");
  EXPECT_EQ(Run("mg k v Y\r\n"), "CLIENT_ERROR invalid flag\r\n");
  EXPECT_EQ(Run("mg k T\r\n"), "CLIENT_ERROR bad token in command line format\r\n");
  EXPECT_EQ(Run("mg k Tx q\r\n"), "CLIENT_ERROR bad token in command line format\r\n");  // errors ignore q
  EXPECT_EQ(Run("mg k N1x\r\n"), "CLIENT_ERROR bad token in command line format\r\n");
  EXPECT_EQ(Run("mg k O" + std::string(32, 'x') + "\r\n"), "CLIENT_ERROR opaque token too long\r\n");
  EXPECT_EQ(Run("mg k O" + std::string(31, 'x') + "\r\n"), "EN O" + std::string(31, 'x') + "\r\n");
  EXPECT_EQ(Run("ms k 1 Fx\r\na\r\n"), "CLIENT_ERROR bad command line format\r\n");
  EXPECT_EQ(Run("ms k 1 MX\r\na\r\n"), "CLIENT_ERROR invalid mode for ms M token\r\n");
  EXPECT_EQ(Run("ms k 1 MSS\r\na\r\n"), "CLIENT_ERROR incorrect length for M token\r\n");
  EXPECT_EQ(Run("ms k 1 Cx\r\na\r\n"), "CLIENT_ERROR bad token in command line format\r\n");
  EXPECT_EQ(Run("md k q q\r\n"), "CLIENT_ERROR invalid or duplicate flag\r\n");
  EXPECT_EQ(Run("ma k Dx\r\n"), "CLIENT_ERROR invalid or duplicate flag\r\n");
  EXPECT_EQ(Run("ma k MX\r\n"), "CLIENT_ERROR invalid mode for ma M token\r\n");
  EXPECT_EQ(Run("get k\r\n"), "END\r\n");  // nothing was stored by the failed ms
}

TEST_F(HandlerTest, MetaSetModesAndFlags) {
  EXPECT_EQ(Run("ms k 3 T100 F7\r\nabc\r\n"), "HD\r\n");
  EXPECT_EQ(Run("mg k v f t\r\n"), "VA 3 f7 t100\r\nabc\r\n");
  EXPECT_EQ(Run("ms k 1 q\r\nx\r\n"), "");
  EXPECT_EQ(Run("ms k 1 q ME\r\ny\r\n"), "NS\r\n");  // q hides only HD
  EXPECT_EQ(Run("ms n 1 MR\r\nx\r\n"), "NS\r\n");
  EXPECT_EQ(Run("ms k 2 MA s O5 k\r\nyz\r\n"), "HD s3 O5 kk\r\n");
  EXPECT_EQ(Run("ms k 2 MP\r\nab\r\n"), "HD\r\n");
  EXPECT_EQ(Run("get k\r\n"), "VALUE k 0 5\r\nabxyz\r\nEND\r\n");  // F/T of ms replaced them; append keeps
  EXPECT_EQ(Run("ms a 1 MA\r\nx\r\n"), "NS\r\n");
  EXPECT_EQ(Run("ms a 1 MA N50\r\nx\r\n"), "HD\r\n");  // append with N vivifies
  EXPECT_EQ(Run("mg a v t\r\n"), "VA 1 t50\r\nx\r\n");
  EXPECT_EQ(Run("ms e 1 ME\r\nx\r\n"), "HD\r\n");
  EXPECT_EQ(Run("ms e 2 MS s\r\nzz\r\n"), "HD s2\r\n");
  EXPECT_EQ(Run("ms e 1 I\r\nq\r\n"), "HD\r\n");
}

TEST_F(HandlerTest, MetaSetCas) {
  EXPECT_EQ(Run("ms k 1 C1\r\na\r\n"), "NF\r\n");
  const std::string set_reply = Run("ms k 1 c\r\na\r\n");
  ASSERT_EQ(set_reply.substr(0, 4), "HD c");
  const std::string cas = set_reply.substr(4, set_reply.size() - 6);
  EXPECT_EQ(cas, CasOf("k"));
  EXPECT_EQ(Run("ms k 1 C" + cas + " c\r\nb\r\n").substr(0, 4), "HD c");
  EXPECT_EQ(Run("ms k 1 C" + cas + " c\r\nc\r\n"), "EX c0\r\n");
  EXPECT_EQ(Run("ms k 1 MA C" + cas + "\r\nc\r\n"), "EX\r\n");
  EXPECT_EQ(Run("ms k 1 ME C" + cas + "\r\nc\r\n"), "NS\r\n");  // add ignores C
  EXPECT_EQ(Run("ms k 1 E777 c\r\nd\r\n"), "HD c777\r\n");
  EXPECT_EQ(Run("ms k 1 MR C777\r\ne\r\n"), "HD\r\n");
  EXPECT_EQ(Run("get k\r\n"), "VALUE k 0 1\r\ne\r\nEND\r\n");
  const auto stats = Stats();
  EXPECT_EQ(stats.at("cas_misses"), "1");
  EXPECT_EQ(stats.at("cas_hits"), "2");
  EXPECT_EQ(stats.at("cas_badval"), "1");
  EXPECT_EQ(stats.at("cmd_set"), "8");
}

TEST_F(HandlerTest, MetaSetTooLarge) {
  Run("set k 0 0 1\r\na\r\n");
  const std::string big(kItemSizeMax, 'x');
  EXPECT_EQ(Run("ms k " + std::to_string(big.size()) + " q ME\r\n" + big + "\r\n"),
            "SERVER_ERROR object too large for cache\r\n");
  EXPECT_EQ(Run("get k\r\n"), "END\r\n");  // ms drops the old value in every mode
}

TEST_F(HandlerTest, MetaDelete) {
  EXPECT_EQ(Run("md k\r\n"), "NF\r\n");
  EXPECT_EQ(Run("md k q O1 k\r\n"), "NF O1 kk\r\n");
  Run("set k 0 0 1\r\na\r\n");
  EXPECT_EQ(Run("md k C1\r\n"), "EX\r\n");
  EXPECT_EQ(Run("md k C0\r\n"), "EX\r\n");
  EXPECT_EQ(Run("md k C" + CasOf("k") + " O1\r\n"), "HD O1\r\n");
  EXPECT_EQ(Run("get k\r\n"), "END\r\n");
  Run("set k 0 0 1\r\na\r\n");
  EXPECT_EQ(Run("md k q\r\n"), "");
  Run("set k 0 0 1\r\na\r\n");
  EXPECT_EQ(Run("md k I\r\n"), "HD\r\n");  // invalidate: marked stale, not deleted
  EXPECT_EQ(Run("mg k v\r\n"), "VA 1 X W\r\na\r\n");
  EXPECT_EQ(Run("mg k\r\n"), "HD Z X\r\n");
  Run("set b 0 0 1\r\nZ\r\n");
  EXPECT_EQ(Run("md Yg== b k\r\n"), "HD kYg== b\r\n");
  const auto stats = Stats();
  EXPECT_EQ(stats.at("delete_hits"), "3");  // a stale mark is no delete hit
  EXPECT_EQ(stats.at("delete_misses"), "4");
}

TEST_F(HandlerTest, MetaInvalidateAndStaleSet) {
  EXPECT_EQ(Run("md k I\r\n"), "NF\r\n");
  Run("set k 3 100 1\r\na\r\n");
  const std::string cas = CasOf("k");
  EXPECT_EQ(Run("md k I C1 O7\r\n"), "EX O7\r\n");
  EXPECT_EQ(Run("md k I T30 q\r\n"), "");
  EXPECT_NE(CasOf("k"), cas);  // a stale mark bumps the cas
  EXPECT_EQ(Run("mg k t f v\r\n"), "VA 1 t30 f3 X W\r\na\r\n");
  // ms I: a cas older than the item's stores anyway, stale, keeping the TTL
  // and the token that is out.
  clock_.Advance(10'000);
  EXPECT_EQ(Run("ms k 1 I C" + cas + " T999\r\nb\r\n"), "HD\r\n");
  EXPECT_EQ(Run("mg k t v\r\n"), "VA 1 t20 Z X\r\nb\r\n");
  // A greater cas is EX; the item's own cas stores a fresh item.
  EXPECT_EQ(Run("ms k 1 I C" + std::to_string(std::stoull(CasOf("k")) + 1) + "\r\nc\r\n"), "EX\r\n");
  EXPECT_EQ(Run("ms k 1 I C" + CasOf("k") + "\r\nd\r\n"), "HD\r\n");
  EXPECT_EQ(Run("mg k v\r\n"), "VA 1\r\nd\r\n");
  EXPECT_EQ(Run("ms k 1 I\r\ne\r\n"), "HD\r\n");  // without C, I is ignored
  EXPECT_EQ(Run("mg k v\r\n"), "VA 1\r\ne\r\n");
  // md x I (later protocol.txt): the emptied item is stale.
  EXPECT_EQ(Run("md k x I\r\n"), "HD\r\n");
  EXPECT_EQ(Run("mg k v\r\n"), "VA 0 X W\r\n\r\n");
  const auto stats = Stats();
  EXPECT_EQ(stats.at("cas_hits"), "2");
  EXPECT_EQ(stats.at("cas_badval"), "1");
  EXPECT_EQ(stats.at("delete_hits"), "0");    // stale marks are neither hits ...
  EXPECT_EQ(stats.at("delete_misses"), "2");  // ... nor misses; NF and EX are
}

TEST_F(HandlerTest, MetaDeleteRemoveValue) {
  EXPECT_EQ(Run("md k x\r\n"), "NF\r\n");
  Run("set k 5 0 3\r\nabc\r\n");
  const std::string cas = CasOf("k");
  EXPECT_EQ(Run("md k x C1\r\n"), "EX\r\n");
  EXPECT_EQ(Run("md k x T30 F3\r\n"), "HD\r\n");
  EXPECT_EQ(Run("mg k v f t\r\n"), "VA 0 f3 t30\r\n\r\n");
  EXPECT_NE(CasOf("k"), cas);
}

TEST_F(HandlerTest, MetaArithmetic) {
  EXPECT_EQ(Run("ma n\r\n"), "NF\r\n");
  EXPECT_EQ(Run("ma n q O1 k\r\n"), "NF O1 kn\r\n");
  EXPECT_EQ(Run("ma n N0 J10 v\r\n"), "VA 2\r\n10\r\n");
  EXPECT_EQ(Run("ma n v\r\n"), "VA 2\r\n11\r\n");
  EXPECT_EQ(Run("ma n\r\n"), "HD\r\n");
  EXPECT_EQ(Run("ma n q\r\n"), "");
  EXPECT_EQ(Run("ma n q v\r\n"), "");  // memcached skips the VA too
  EXPECT_EQ(Run("ma n MD D20 v t\r\n"), "VA 1 t-1\r\n0\r\n");
  EXPECT_EQ(Run("ma n M+ D5 T100 t v k\r\n"), "VA 1 t100 kn\r\n5\r\n");
  clock_.Advance(10'000);
  EXPECT_EQ(Run("ma n M- t\r\n"), "HD t90\r\n");
  const std::string cas = CasOf("n");
  EXPECT_EQ(Run("ma n C1\r\n"), "EX\r\n");
  EXPECT_EQ(Run("ma n C" + cas + " c\r\n").substr(0, 4), "HD c");
  EXPECT_NE(CasOf("n"), cas);
  EXPECT_EQ(Run("mg n v\r\n"), "VA 1\r\n5\r\n");
  Run("set s 0 0 1\r\nx\r\n");
  EXPECT_EQ(Run("ma s\r\n"), "CLIENT_ERROR cannot increment or decrement non-numeric value\r\n");
  EXPECT_EQ(Run("ma AAEC b N0 J7 v k\r\n"), "VA 1 kAAEC b\r\n7\r\n");
  const auto stats = Stats();
  EXPECT_EQ(stats.at("incr_misses"), "2");
  EXPECT_EQ(stats.at("incr_hits"), "6");  // not the two vivified creates (memcached)
  EXPECT_EQ(stats.at("decr_hits"), "2");
}

TEST_F(HandlerTest, MetaPipelineWithQuietModeAndNoop) {
  Run("set a 0 0 1\r\n1\r\n");
  EXPECT_EQ(Run("mg a v q k\r\nmg b v q k\r\nms c 1 q\r\n3\r\nmd d q\r\nmn\r\n"),
            "VA 1 ka\r\n1\r\nNF\r\nMN\r\n");
}

TEST_F(HandlerTest, ReadsAllocateNothingBeyondTheOutputBuffer) {
  // The touch moves `a` to a slot with room for its exptime_version (the
  // store allocates that once per item, and a slab page once per class).
  Run("set a 5 0 3\r\nabc\r\nset b 0 0 1\r\nx\r\ntouch a 0\r\n");
  for (const char* command : {"get a\r\n", "get a b nope a\r\n", "gets a\r\n", "gat 0 a nope\r\n",
                              "mg a s v f t c k Oop\r\n", "mg nope v k\r\n", "mg YQ== b k v\r\n", "mn\r\n"}) {
    Request request;
    ASSERT_EQ(ParseRequest(command, limits_, &request).status, ParseStatus::kRequest) << command;
    std::string out;
    out.reserve(4096);
    const size_t before = g_allocations.load();
    handler_.Handle(request, state_.stats.ForThread(0), &out);
    EXPECT_EQ(g_allocations.load(), before) << command;
    EXPECT_FALSE(out.empty()) << command;
  }
}

// ---------------------------------------------------------------------------
// Base64.

TEST(Base64Test, RoundTrips) {
  for (const std::string& text : {std::string("f"), std::string("fo"), std::string("foo"),
                                  std::string("foob"), std::string("\x00\xff\x10 \r\n", 6)}) {
    std::string encoded;
    AppendBase64(text, &encoded);
    char decoded[64];
    size_t length = 0;
    ASSERT_TRUE(DecodeBase64(encoded, decoded, sizeof(decoded), &length)) << encoded;
    EXPECT_EQ(std::string(decoded, length), text);
  }
  std::string encoded;
  AppendBase64("foobar", &encoded);
  EXPECT_EQ(encoded, "Zm9vYmFy");
}

TEST(Base64Test, RejectsMalformedInput) {
  char decoded[64];
  size_t length = 0;
  for (const char* bad : {"", "Zm9", "Zm9v=", "Z=9v", "Zm=v", "Zm9v====", "Zm 9", "=Zm9"}) {
    EXPECT_FALSE(DecodeBase64(bad, decoded, sizeof(decoded), &length)) << bad;
  }
  EXPECT_FALSE(DecodeBase64("Zm9vYmFy", decoded, 5, &length));  // does not fit
  EXPECT_TRUE(DecodeBase64("Zm8=", decoded, sizeof(decoded), &length));
  EXPECT_EQ(std::string(decoded, length), "fo");
}

}  // namespace
}  // namespace twincache
