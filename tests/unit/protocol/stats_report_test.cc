// Stats as a structure (core/protocol/stats_report.h): the groups' names,
// what each group holds, and that the text reply renders exactly the list
// CollectStats gives (what /stats, /metrics and binary Stat render too).
#include "core/protocol/stats_report.h"

#include <gtest/gtest.h>

#include <string>

#include "core/base/clock.h"
#include "core/config/settings.h"
#include "core/protocol/request.h"
#include "core/protocol/server_state.h"
#include "core/store/store.h"

namespace twincache {
namespace {

constexpr int64_t kStartMillis = 1'700'000'000'000;  // unix ms

class StatsReportTest : public ::testing::Test {
 protected:
  StatsReportTest() : clock_(kStartMillis), store_(Options(&clock_)), state_(Settings(), &store_, &clock_) {}

  static StoreOptions Options(Clock* clock) {
    StoreOptions options;
    options.shard_bits = 1;
    options.clock = clock;
    return options;
  }

  StatList Collect(StatsGroup group) {
    StatList list;
    CollectStats(group, &state_, &list);
    return list;
  }

  std::string Text(std::string_view subcommand) {
    Request request;
    request.command = Command::kStats;
    if (!subcommand.empty()) {
      request.args.push_back(subcommand);
    }
    std::string out;
    HandleStats(request, &state_, &out);
    return out;
  }

  ManualClock clock_;
  Store store_;
  ServerState state_;
};

TEST_F(StatsReportTest, GroupNames) {
  EXPECT_EQ(ParseStatsGroup(""), StatsGroup::kGeneral);
  EXPECT_EQ(ParseStatsGroup("settings"), StatsGroup::kSettings);
  EXPECT_EQ(ParseStatsGroup("items"), StatsGroup::kItems);
  EXPECT_EQ(ParseStatsGroup("slabs"), StatsGroup::kSlabs);
  EXPECT_EQ(ParseStatsGroup("sizes"), StatsGroup::kSizes);
  EXPECT_EQ(ParseStatsGroup("conns"), StatsGroup::kConns);
  EXPECT_FALSE(ParseStatsGroup("reset").has_value());
  EXPECT_FALSE(ParseStatsGroup("detail").has_value());
  EXPECT_FALSE(ParseStatsGroup("Settings").has_value());
}

TEST_F(StatsReportTest, TextReplyRendersTheCollectedList) {
  for (const char* group : {"settings", "items", "slabs", "sizes", "conns"}) {
    std::string expected;
    for (const StatLine& line : Collect(*ParseStatsGroup(group))) {
      expected += "STAT " + line.name + " " + line.value + "\r\n";
    }
    EXPECT_EQ(Text(group), expected + "END\r\n") << group;
  }
}

TEST_F(StatsReportTest, GeneralReportEndsWithRoleThenModulesBelow) {
  state_.extra_stats = [](StatList* out) { AddStat(out, "repl_state", "connected"); };
  RoleReport report;
  report.role = "MASTER";
  report.seq = 9;
  RoleReport previous;
  ASSERT_TRUE(state_.role.Update(report, &previous));
  const StatList list = Collect(StatsGroup::kGeneral);
  ASSERT_GE(list.size(), 5u);
  EXPECT_EQ(list[0].name, "pid");
  EXPECT_EQ(list[list.size() - 4].name, "role");
  EXPECT_EQ(list[list.size() - 4].value, "MASTER");
  EXPECT_EQ(*FindStat(list, "role_seq"), "9");
  EXPECT_EQ(*FindStat(list, "maintenance"), "0");
  EXPECT_EQ(list.back().name, "repl_state");
  EXPECT_EQ(FindStat(list, "no_such_stat"), nullptr);
}

TEST_F(StatsReportTest, ItemsGroupIsEmptyForAnEmptyCache) {
  EXPECT_TRUE(Collect(StatsGroup::kItems).empty());
  ASSERT_EQ(store_.StoreItem(StoreMode::kSet, "k", "v", 0, 0, WriteOptions(), nullptr), StoreStatus::kStored);
  const StatList items = Collect(StatsGroup::kItems);
  ASSERT_EQ(items.size(), 6u);
  EXPECT_EQ(items[0].name, "items:1:number");
  EXPECT_EQ(items[0].value, "1");
}

TEST_F(StatsReportTest, ResetZeroesCountersButNotItems) {
  ASSERT_EQ(store_.StoreItem(StoreMode::kSet, "k", "v", 0, 0, WriteOptions(), nullptr), StoreStatus::kStored);
  state_.stats.ForThread(0)->Add(Stat::kCmdGet);
  ASSERT_EQ(*FindStat(Collect(StatsGroup::kGeneral), "cmd_get"), "1");
  EXPECT_EQ(Text("reset"), "RESET\r\n");
  const StatList list = Collect(StatsGroup::kGeneral);
  EXPECT_EQ(*FindStat(list, "cmd_get"), "0");
  EXPECT_EQ(*FindStat(list, "curr_items"), "1");
}

TEST_F(StatsReportTest, UnknownSubcommandIsError) { EXPECT_EQ(Text("bogus"), "ERROR\r\n"); }

// MayWrite (request.h): which requests hold replies for the twin's ack.
TEST(MayWriteTest, WritesAndReads) {
  Request request;
  for (Command command :
       {Command::kSet, Command::kCas, Command::kIncr, Command::kDelete, Command::kTouch, Command::kGat,
        Command::kFlushAll, Command::kMetaSet, Command::kMetaDelete, Command::kMetaArithmetic}) {
    request.command = command;
    EXPECT_TRUE(MayWrite(request)) << static_cast<int>(command);
  }
  for (Command command : {Command::kGet, Command::kGets, Command::kStats, Command::kVersion,
                          Command::kMetaNoop, Command::kMetaDebug}) {
    request.command = command;
    EXPECT_FALSE(MayWrite(request)) << static_cast<int>(command);
  }
  request.command = Command::kMetaGet;
  request.meta_flags = {{'v', {}}, {'t', {}}};
  EXPECT_FALSE(MayWrite(request));
  request.meta_flags.push_back({'T', "30"});
  EXPECT_TRUE(MayWrite(request)) << "mg T touches the item";
  request.meta_flags = {{'v', {}}, {'N', "30"}};
  EXPECT_TRUE(MayWrite(request)) << "mg N creates the item on a miss";
}

}  // namespace
}  // namespace twincache
