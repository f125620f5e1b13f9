// GET /metrics' renderer (core/admin/metrics.h): memcached_exporter's names
// for the memcached figures, twincache_* for the VRRP role and replication.
#include <gtest/gtest.h>

#include <string>

#include "core/admin/metrics.h"
#include "core/replication/repl_state.h"

namespace twincache {
namespace {

bool Has(const std::string& text, const std::string& line) {
  return text.find("\n" + line + "\n") != std::string::npos || text.rfind(line + "\n", 0) == 0;
}

TEST(RenderMetricsTest, ExporterNamesWithHelpAndType) {
  const std::string text = RenderMetrics({{"curr_items", "7"}, {"total_connections", "3"}, {"bogus", "1"}});
  EXPECT_TRUE(Has(text, "memcached_current_items 7")) << text;
  EXPECT_TRUE(Has(text, "memcached_connections_total 3")) << text;
  EXPECT_NE(text.find("# TYPE memcached_current_items gauge"), std::string::npos);
  EXPECT_NE(text.find("# HELP memcached_connections_total "), std::string::npos);
  EXPECT_EQ(text.find("bogus"), std::string::npos) << "unknown stats are left out";
}

TEST(RenderMetricsTest, ReplicationFiguresFollowTheStatesSpelling) {
  StatList stats = {{"repl_state", std::string(Name(ReplState::kConnected))},
                    {"repl_initial_sync", std::string(Name(InitialSync::kDone))},
                    {"repl_apply_errors", "2"}};
  std::string text = RenderMetrics(stats);
  EXPECT_TRUE(Has(text, "twincache_repl_connected 1")) << text;
  EXPECT_TRUE(Has(text, "twincache_repl_initial_sync_done 1")) << text;
  EXPECT_TRUE(Has(text, "twincache_repl_apply_errors_total 2")) << text;
  stats[0].value = Name(ReplState::kDisconnected);
  stats[1].value = Name(InitialSync::kPending);
  text = RenderMetrics(stats);
  EXPECT_TRUE(Has(text, "twincache_repl_connected 0")) << text;
  EXPECT_TRUE(Has(text, "twincache_repl_initial_sync_done 0")) << text;
}

TEST(RenderMetricsTest, NoReplicationNoReplicationFigures) {
  const std::string text = RenderMetrics({{"curr_items", "0"}});
  EXPECT_EQ(text.find("twincache_repl_"), std::string::npos) << text;
}

}  // namespace
}  // namespace twincache
