// core/base: the clock seam and the logfmt log line (one write per event).
#include <fcntl.h>
#include <stdlib.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <fstream>
#include <functional>
#include <regex>
#include <string>

#include "core/base/clock.h"
#include "core/base/log.h"

namespace twincache {
namespace {

TEST(ClockTest, ManualClockMovesOnlyWhenTold) {
  ManualClock clock(1'700'000'000'123);
  EXPECT_EQ(clock.NowMillis(), 1'700'000'000'123);
  EXPECT_EQ(clock.NowSeconds(), 1'700'000'000);
  clock.Advance(877);
  EXPECT_EQ(clock.NowSeconds(), 1'700'000'001);
  clock.Set(5);
  EXPECT_EQ(clock.NowMillis(), 5);
}

TEST(ClockTest, SystemClockIsUnixMilliseconds) {
  SystemClock clock;
  const int64_t now = clock.NowMillis();
  EXPECT_GT(now, 1'700'000'000'000);  // after 2023-11-14
  EXPECT_LE(now, clock.NowMillis());
}

// What `fn` writes to stderr (fd 2), through a temporary file.
std::string CaptureStderr(const std::function<void()>& fn) {
  char path[] = "/tmp/base_test.XXXXXX";
  int fd = mkstemp(path);
  EXPECT_GE(fd, 0);
  int saved = dup(STDERR_FILENO);
  dup2(fd, STDERR_FILENO);
  fn();
  dup2(saved, STDERR_FILENO);
  close(saved);
  close(fd);
  std::ifstream in(path);
  std::string text((std::istreambuf_iterator<char>(in)), {});
  unlink(path);
  return text;
}

TEST(LogTest, OneLogfmtLinePerEventWithQuotedValues) {
  SetLogProgram("base_test");
  SetLogLevel(LogLevel::kInfo);
  const std::string text = CaptureStderr([] {
    Log(LogLevel::kWarning, "repl_link_dropped",
        {{"peer", "10.0.0.2:11212"}, {"reason", "peer closed the link"}});
  });
  EXPECT_TRUE(
      std::regex_match(text, std::regex(R"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z base_test level=warning )"
                                        R"(event=repl_link_dropped peer=10\.0\.0\.2:11212 )"
                                        R"(reason="peer closed the link"\n)")))
      << text;
}

TEST(LogTest, LinesBelowTheLevelAreDropped) {
  SetLogLevel(LogLevel::kWarning);
  EXPECT_FALSE(LogEnabled(LogLevel::kInfo));
  EXPECT_TRUE(LogEnabled(LogLevel::kError));
  EXPECT_EQ(CaptureStderr([] { Log(LogLevel::kInfo, "listening"); }), "");
  SetLogLevel(LogLevel::kInfo);
}

TEST(LogTest, LogListJoinsWithCommasOrSaysNone) {
  EXPECT_EQ(LogList({}), "none");
  EXPECT_EQ(LogList({"modern"}), "modern");
  EXPECT_EQ(LogList({"memory-limit", "conn-limit"}), "memory-limit,conn-limit");
}

}  // namespace
}  // namespace twincache
