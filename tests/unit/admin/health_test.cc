// The /health document (core/admin/health.h) of a node without a twin: what
// twincache-check reads (status, reason, role, maintenance, replication,
// memory), from a real store and server state.
#include <gtest/gtest.h>

#include <string>

#include "core/admin/health.h"
#include "core/base/clock.h"
#include "core/config/settings.h"
#include "core/protocol/server_state.h"
#include "core/replication/repl_state.h"
#include "core/store/store.h"

namespace twincache {
namespace {

constexpr int64_t kStartMillis = 1'700'000'000'000;  // 2023-11-14, unix ms

class HealthTest : public ::testing::Test {
 protected:
  HealthTest() : clock_(kStartMillis), store_(Options(&clock_)), state_(Settings(), &store_, &clock_) {}

  static StoreOptions Options(Clock* clock) {
    StoreOptions options;
    options.limit_bytes = 1 << 20;
    options.shard_bits = 2;
    options.clock = clock;
    return options;
  }

  ManualClock clock_;
  Store store_;
  ServerState state_;
};

TEST_F(HealthTest, AServingNodeWithoutTwinIsOk) {
  uint64_t cas = 0;
  ASSERT_EQ(store_.StoreItem(StoreMode::kSet, "k", "value", 0, 0, WriteOptions(), &cas),
            StoreStatus::kStored);
  const nlohmann::json report = HealthReport(&state_, nullptr);
  EXPECT_TRUE(IsHealthy(report)) << report.dump();
  EXPECT_FALSE(report.contains("reason"));
  EXPECT_EQ(report.at("role"), "UNKNOWN");
  EXPECT_EQ(report.at("maintenance"), false);
  const nlohmann::json& replication = report.at("replication");
  EXPECT_EQ(replication.at("configured"), false);
  EXPECT_EQ(replication.at("state"), Name(ReplState::kNone));
  EXPECT_EQ(replication.at("initial_sync"), Name(InitialSync::kNone));
  EXPECT_EQ(report.at("memory").at("limit_bytes"), 1 << 20);
  EXPECT_GT(report.at("memory").at("used_bytes").get<uint64_t>(), 0u);
  EXPECT_EQ(report.at("items"), 1);
  EXPECT_EQ(report.at("version"), kTwincacheVersion);
  EXPECT_EQ(report.at("protocol_version"), kProtocolVersion);
}

TEST_F(HealthTest, NotAcceptingConnectionsIsUnhealthyWithAReason) {
  state_.accepting_connections = false;
  const nlohmann::json report = HealthReport(&state_, nullptr);
  EXPECT_FALSE(IsHealthy(report));
  EXPECT_EQ(report.at("status"), "unhealthy");
  EXPECT_EQ(report.at("reason"), "not accepting connections");
}

TEST_F(HealthTest, RoleAndMaintenanceAreReportedNotJudged) {
  state_.maintenance = true;
  RoleReport role;
  role.role = "MASTER";
  role.seq = 42;
  RoleReport previous;
  ASSERT_TRUE(state_.role.Update(role, &previous));
  const nlohmann::json report = HealthReport(&state_, nullptr);
  EXPECT_TRUE(IsHealthy(report));
  EXPECT_EQ(report.at("maintenance"), true);
  EXPECT_EQ(report.at("role"), "MASTER");
  EXPECT_EQ(report.at("role_seq"), 42);
}

TEST(IsHealthyTest, OnlyStatusOkIsHealthy) {
  EXPECT_TRUE(IsHealthy(nlohmann::json{{"status", "ok"}}));
  EXPECT_FALSE(IsHealthy(nlohmann::json{{"status", "unhealthy"}}));
  EXPECT_FALSE(IsHealthy(nlohmann::json::object()));
}

}  // namespace
}  // namespace twincache
