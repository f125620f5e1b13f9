// twincache-notify's pure functions (keepalived/notify.h) and the fork
// sequence's clock arithmetic (keepalived/fork_sequence.h).
#include <unistd.h>

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "keepalived/fork_sequence.h"
#include "keepalived/notify.h"

namespace twincache {
namespace {

using notify::HookArguments;
using notify::InsertionPoint;
using notify::Transition;

TEST(ParseTransitionTest, GenericAndSingleStateForms) {
  std::string error;
  HookArguments generic;
  generic.positionals = {"INSTANCE", "VI_1", "MASTER", "150"};
  auto t = notify::ParseTransition(generic, &error);
  ASSERT_TRUE(t) << error;
  EXPECT_EQ(t->name, "VI_1");
  EXPECT_EQ(t->state, "MASTER");
  EXPECT_EQ(t->priority, 150);

  HookArguments single;
  single.positionals = {"FAULT"};
  t = notify::ParseTransition(single, &error);
  ASSERT_TRUE(t) << error;
  EXPECT_EQ(t->name, "-");
  EXPECT_FALSE(t->priority);

  for (const std::vector<std::string>& bad : std::vector<std::vector<std::string>>{
           {"PROMOTED"}, {"INSTANCE", "VI_1", "MASTER", "256"}, {"VRRP", "VI_1", "MASTER", "1"}, {}}) {
    HookArguments args;
    args.positionals = bad;
    EXPECT_FALSE(notify::ParseTransition(args, &error)) << bad.size();
    EXPECT_FALSE(error.empty());
  }
}

TEST(LogLineTest, TimeNameStatePrioritySeq) {
  Transition t;
  t.name = "VI_1";
  t.state = "BACKUP";
  t.priority = 100;
  timespec at{1'795'000'000, 123'456'789};  // 2026-11-18T11:06:40.123Z
  EXPECT_EQ(notify::LogLine(at, t, 1234560012345),
            "2026-11-18T11:06:40.123Z VI_1 BACKUP 100 1234560012345\n");
  t.priority.reset();
  EXPECT_EQ(notify::LogLine(at, t, 7), "2026-11-18T11:06:40.123Z VI_1 BACKUP - 7\n");
}

TEST(InsertionPointTest, AfterOlderLinesBeforeLaterOnes) {
  const std::string tail =
      "2026-11-18T09:46:40.120Z VI_1 FAULT 150 100\n"
      "2026-11-18T09:46:40.130Z VI_1 MASTER 150 300\n";
  EXPECT_EQ(InsertionPoint(tail, 400), tail.size());           // the newest: append
  EXPECT_EQ(InsertionPoint(tail, 200), tail.find("2026", 1));  // between the two
  EXPECT_EQ(InsertionPoint(tail, 50), 0u);                     // before both
  EXPECT_EQ(InsertionPoint("", 5), 0u);
}

TEST(InsertionPointTest, LinesWithoutSeqCountAsOlder) {
  const std::string tail = "2026-11-18T09:46:40.120Z VI_1 FAULT 150\nbroken\n";  // 4 fields: old
  EXPECT_EQ(InsertionPoint(tail, 1), tail.size());
  // A line still being written (no newline yet) is left where it is.
  EXPECT_EQ(InsertionPoint("2026-11-18T09:46:40.120Z VI_1 MASTER 150 900", 1), 44u);
}

TEST(ForkRealtimeTest, SubtractsTheTimeSinceTheFork) {
  long hz = sysconf(_SC_CLK_TCK);
  ASSERT_GT(hz, 0);
  // Forked at tick 1000 (10 s at 100 Hz); now 12.5 s since boot, realtime 100.0 s.
  const uint64_t seq = SequenceNumber(10 * static_cast<uint64_t>(hz), 4242);
  timespec fork = ForkRealtime(seq, timespec{100, 0}, timespec{12, 500'000'000});
  EXPECT_EQ(fork.tv_sec, 97);
  EXPECT_EQ(fork.tv_nsec, 500'000'000);
  // A later fork never gets an earlier time.
  timespec later = ForkRealtime(seq + 1, timespec{100, 0}, timespec{12, 500'000'000});
  EXPECT_EQ(later.tv_sec * 1'000'000'000L + later.tv_nsec, fork.tv_sec * 1'000'000'000L + fork.tv_nsec);
}

}  // namespace
}  // namespace twincache
