// The one reader of `stats` replies (core/protocol/stat_lines.h).
#include <gtest/gtest.h>

#include "core/protocol/stat_lines.h"

namespace twincache {
namespace {

TEST(ParseStatLinesTest, NamesAndValuesOfStatLinesOnly) {
  const auto stats = ParseStatLines(
      "STAT pid 42\r\nSTAT version 1.6.21\r\nSTAT repl_last_error peer closed the link\r\nSTAT novalue\r\n"
      "ERROR\r\nEND\r\n");
  ASSERT_EQ(stats.size(), 3u);
  EXPECT_EQ(stats.at("pid"), "42");
  EXPECT_EQ(stats.at("repl_last_error"), "peer closed the link");  // values may hold spaces
  EXPECT_EQ(stats.find("novalue"), stats.end());
  EXPECT_NE(stats.find(std::string_view("version")), stats.end());  // string_view lookups
}

TEST(ParseStatLinesTest, BareNewlinesAndEmptyReplies) {
  EXPECT_EQ(ParseStatLines("STAT a 1\nSTAT b 2").size(), 2u);
  EXPECT_TRUE(ParseStatLines("").empty());
  EXPECT_TRUE(ParseStatLines("END\r\n").empty());
  EXPECT_EQ(ParseStatLines("STAT a 1\r\nSTAT a 2\r\n").at("a"), "1");  // the first value stays
}

}  // namespace
}  // namespace twincache
