// twincache-check's logic (healthcheck/check.h, check_options.h) and its
// probes' deadlines against real loopback sockets that never answer.
#include <gtest/gtest.h>

#include <chrono>
#include <string>
#include <string_view>
#include <vector>

#include "healthcheck/check.h"
#include "healthcheck/check_options.h"
#include "healthcheck/deadline.h"
#include "healthcheck/probes.h"
#include "tests/unit/testing/loopback_peers.h"

namespace twincache {
namespace {

constexpr char kStatsReply[] =
    "STAT pid 42\r\nSTAT uptime 10\r\nSTAT bytes 512\r\nSTAT limit_maxbytes 1024\r\n"
    "STAT maintenance 0\r\nEND\r\n";

constexpr char kReplStatsReply[] =
    "STAT pid 42\r\nSTAT bytes 0\r\nSTAT limit_maxbytes 1024\r\nSTAT maintenance 1\r\n"
    "STAT repl_state syncing\r\nSTAT repl_lag_records 7\r\nSTAT repl_initial_sync pending\r\nEND\r\n";

constexpr char kHealthyJson[] = R"({"status":"ok","role":"MASTER","role_seq":3,"maintenance":false,
  "replication":{"configured":true,"state":"connected","initial_sync":"done","lag_records":0,
                 "lag_ms":0,"peer":"10.0.0.2:11212"},
  "memory":{"used_bytes":10,"limit_bytes":100,"percent":10.0},"items":1,"uptime_s":5,
  "version":"0.1.0","protocol_version":"1.6.21"})";

TEST(HealthFromStatsTest, ReadsMemoryAndNoReplication) {
  DaemonHealth health;
  std::string error;
  ASSERT_TRUE(HealthFromStats(kStatsReply, &health, &error)) << error;
  EXPECT_TRUE(health.serving_ok);
  EXPECT_TRUE(health.memory_known);
  EXPECT_DOUBLE_EQ(health.memory_percent, 50.0);
  EXPECT_FALSE(health.maintenance);
  EXPECT_FALSE(health.repl_configured);
  EXPECT_EQ(health.initial_sync, InitialSync::kNone);
}

TEST(HealthFromStatsTest, ReadsReplicationAndMaintenance) {
  DaemonHealth health;
  std::string error;
  ASSERT_TRUE(HealthFromStats(kReplStatsReply, &health, &error)) << error;
  EXPECT_TRUE(health.maintenance);
  EXPECT_TRUE(health.repl_configured);
  EXPECT_EQ(health.repl_state, ReplState::kSyncing);
  EXPECT_EQ(health.initial_sync, InitialSync::kPending);
  EXPECT_EQ(health.lag_records, 7u);
}

TEST(HealthFromStatsTest, RejectsAReplyWithoutPid) {
  DaemonHealth health;
  std::string error;
  EXPECT_FALSE(HealthFromStats("END\r\n", &health, &error));
  EXPECT_EQ(error, "stats reply without STAT pid");
}

TEST(HealthFromJsonTest, ReadsAHealthyBody) {
  DaemonHealth health;
  std::string error;
  ASSERT_TRUE(HealthFromJson(200, kHealthyJson, &health, &error)) << error;
  EXPECT_TRUE(health.serving_ok);
  EXPECT_TRUE(health.repl_configured);
  EXPECT_EQ(health.repl_state, ReplState::kConnected);
  EXPECT_EQ(health.initial_sync, InitialSync::kDone);
  EXPECT_EQ(health.lag_records, 0u);
  EXPECT_TRUE(health.memory_known);
  EXPECT_DOUBLE_EQ(health.memory_percent, 10.0);
}

TEST(HealthFromJsonTest, Reads503WithItsReason) {
  DaemonHealth health;
  std::string error;
  ASSERT_TRUE(HealthFromJson(
      503,
      R"({"status":"unhealthy","reason":"initial sync pending","replication":{"initial_sync":"pending"}})",
      &health, &error));
  EXPECT_FALSE(health.serving_ok);
  EXPECT_EQ(health.unhealthy_reason, "initial sync pending");
  EXPECT_EQ(health.initial_sync, InitialSync::kPending);
}

TEST(HealthFromJsonTest, A503WithoutReasonStillFails) {
  DaemonHealth health;
  std::string error;
  ASSERT_TRUE(HealthFromJson(503, R"({"status":"ok"})", &health, &error));
  EXPECT_FALSE(health.serving_ok);
  EXPECT_EQ(health.unhealthy_reason, "daemon unhealthy (HTTP 503)");
}

TEST(HealthFromJsonTest, RejectsOtherStatusesAndBadBodies) {
  DaemonHealth health;
  std::string error;
  EXPECT_FALSE(HealthFromJson(404, "not found", &health, &error));
  EXPECT_EQ(error, "admin endpoint answered HTTP 404 to GET /health");
  EXPECT_FALSE(HealthFromJson(200, "{not json", &health, &error));
  EXPECT_EQ(error, "bad /health body (HTTP 200): not a JSON object");
  EXPECT_FALSE(HealthFromJson(200, R"({"status":"ok","memory":{"percent":"high"}})", &health, &error));
  EXPECT_TRUE(error.starts_with("bad /health body: ")) << error;
}

TEST(ReplStateTest, OneSpellingBothWays) {
  for (ReplState state : {ReplState::kConnecting, ReplState::kSyncing, ReplState::kConnected,
                          ReplState::kDisconnected, ReplState::kNone}) {
    EXPECT_EQ(ParseReplState(Name(state)), state);
  }
  for (InitialSync sync : {InitialSync::kNone, InitialSync::kPending, InitialSync::kDone}) {
    EXPECT_EQ(ParseInitialSync(Name(sync)), sync);
  }
  EXPECT_EQ(Name(InitialSync::kPending), "pending");
  EXPECT_EQ(Name(ReplState::kConnected), "connected");
  EXPECT_FALSE(ParseReplState("Connected"));
  EXPECT_FALSE(ParseInitialSync(""));
}

TEST(HealthFromStatsTest, UnknownSpellingsFailClosed) {
  DaemonHealth health;
  std::string error;
  ASSERT_TRUE(HealthFromStats(
      "STAT pid 1\r\nSTAT repl_state linking\r\nSTAT repl_initial_sync almost\r\nEND\r\n", &health, &error));
  EXPECT_EQ(health.repl_state, ReplState::kNone);
  EXPECT_EQ(health.initial_sync, InitialSync::kPending);
  EXPECT_FALSE(Evaluate(CheckOptions(), health, false).healthy);
}

// `state` and `initial_sync` as the daemon spells them (repl_state.h).
DaemonHealth Replicating(std::string_view state, std::string_view initial_sync, uint64_t lag_records) {
  DaemonHealth health;
  health.repl_configured = true;
  health.repl_state = ParseReplState(state).value();
  health.initial_sync = ParseInitialSync(initial_sync).value();
  health.lag_records = lag_records;
  return health;
}

TEST(EvaluateTest, HealthyDaemonPassesSilently) {
  Verdict verdict = Evaluate(CheckOptions(), DaemonHealth(), false);
  EXPECT_TRUE(verdict.healthy);
  EXPECT_EQ(verdict.reason, "");
}

TEST(EvaluateTest, DaemonsOwnVerdictFails) {
  DaemonHealth health;
  health.serving_ok = false;
  health.unhealthy_reason = "not accepting connections";
  Verdict verdict = Evaluate(CheckOptions(), health, false);
  EXPECT_FALSE(verdict.healthy);
  EXPECT_EQ(verdict.reason, "not accepting connections");
}

TEST(EvaluateTest, MemoryAboveTheLimitFails) {
  CheckOptions options;
  DaemonHealth health;
  health.memory_known = true;
  health.memory_percent = 100.0;
  EXPECT_TRUE(Evaluate(options, health, false).healthy);  // off by default: a full evicting cache is normal
  options.max_memory_percent = 95;
  health.memory_percent = 95.0;
  EXPECT_TRUE(Evaluate(options, health, false).healthy);  // at the limit is fine
  health.memory_percent = 97.3;
  Verdict verdict = Evaluate(options, health, false);
  EXPECT_FALSE(verdict.healthy);
  EXPECT_EQ(verdict.reason, "memory 97.3% of the limit, above 95.0%");
  options.max_memory_percent = 0;  // off
  EXPECT_TRUE(Evaluate(options, health, false).healthy);
}

TEST(EvaluateTest, InitialSyncRequiredWhenReplicating) {
  CheckOptions options;
  Verdict verdict = Evaluate(options, Replicating("syncing", "pending", 0), false);
  EXPECT_FALSE(verdict.healthy);
  EXPECT_EQ(verdict.reason, "initial sync pending");
  EXPECT_TRUE(Evaluate(options, Replicating("connected", "done", 3), false).healthy);
  options.require_sync = RequireSync::kOff;
  EXPECT_TRUE(Evaluate(options, Replicating("syncing", "pending", 0), false).healthy);
}

TEST(EvaluateTest, RequireSyncOffOverridesOnlyTheSyncReason) {
  CheckOptions options;
  options.require_sync = RequireSync::kOff;
  DaemonHealth health = Replicating("syncing", "pending", 0);
  health.serving_ok = false;
  health.unhealthy_reason = "initial sync pending";
  EXPECT_TRUE(Evaluate(options, health, false).healthy);
  health.unhealthy_reason = "not accepting connections";
  EXPECT_FALSE(Evaluate(options, health, false).healthy);
}

TEST(EvaluateTest, RequireSyncOnWithoutPeerFails) {
  CheckOptions options;
  options.require_sync = RequireSync::kOn;
  Verdict verdict = Evaluate(options, DaemonHealth(), false);
  EXPECT_FALSE(verdict.healthy);
  EXPECT_EQ(verdict.reason, "replication not configured (--require-sync on)");
}

TEST(EvaluateTest, MaintenanceWithoutPeerWaits) {
  Verdict verdict = Evaluate(CheckOptions(), DaemonHealth(), true);
  EXPECT_TRUE(verdict.healthy);
  EXPECT_EQ(verdict.reason, "maintenance: waiting for the peer to catch up (no peer configured)");
}

TEST(EvaluateTest, MaintenanceWaitsForLagToDrain) {
  DaemonHealth health = Replicating("connected", "done", 5);
  health.maintenance = true;  // from the daemon, no file
  Verdict verdict = Evaluate(CheckOptions(), health, false);
  EXPECT_TRUE(verdict.healthy);
  EXPECT_EQ(verdict.reason,
            "maintenance: waiting for the peer to catch up (repl_state=connected lag_records=5 "
            "initial_sync=done)");
  EXPECT_TRUE(Evaluate(CheckOptions(), Replicating("disconnected", "done", 0), true).healthy);
}

TEST(EvaluateTest, MaintenanceFailsOnceThePeerCaughtUp) {
  Verdict verdict = Evaluate(CheckOptions(), Replicating("connected", "done", 0), true);
  EXPECT_FALSE(verdict.healthy);
  EXPECT_EQ(verdict.reason, "maintenance: the peer is connected and caught up");
}

ParseOutcome Parse(std::vector<const char*> args, CheckOptions* options) {
  args.insert(args.begin(), "twincache-check");
  return ParseCheckOptions(static_cast<int>(args.size()), args.data(), options);
}

TEST(ParseCheckOptionsTest, Defaults) {
  CheckOptions options;
  ParseOutcome outcome = Parse({}, &options);
  ASSERT_TRUE(outcome.ok) << outcome.message;
  EXPECT_EQ(options.host, "127.0.0.1");
  EXPECT_EQ(options.port, 11211);
  EXPECT_TRUE(options.admin_enabled);
  EXPECT_EQ(options.admin_host, "127.0.0.1");
  EXPECT_EQ(options.admin_port, 11213);
  EXPECT_EQ(options.timeout_ms, 300);
  EXPECT_EQ(options.max_memory_percent, 0);
  EXPECT_EQ(options.require_sync, RequireSync::kAuto);
  EXPECT_EQ(options.maintenance_file, "/etc/twincache/maintenance");
  EXPECT_FALSE(options.quiet);
}

TEST(ParseCheckOptionsTest, AllOptions) {
  CheckOptions options;
  ParseOutcome outcome =
      Parse({"--host", "::1", "--port", "2000", "--admin", "[::1]:2001", "--timeout-ms", "250",
             "--max-memory-percent", "0", "--require-sync", "off", "--maintenance-file", "/tmp/m", "-q"},
            &options);
  ASSERT_TRUE(outcome.ok) << outcome.message;
  EXPECT_EQ(options.host, "::1");
  EXPECT_EQ(options.port, 2000);
  EXPECT_EQ(options.admin_host, "::1");
  EXPECT_EQ(options.admin_port, 2001);
  EXPECT_EQ(options.timeout_ms, 250);
  EXPECT_EQ(options.max_memory_percent, 0);
  EXPECT_EQ(options.require_sync, RequireSync::kOff);
  EXPECT_EQ(options.maintenance_file, "/tmp/m");
  EXPECT_TRUE(options.quiet);
}

TEST(ParseCheckOptionsTest, TlsAndAuthFile) {
  CheckOptions options;
  ParseOutcome out =
      Parse({"--tls", "--tls-ca", "/etc/twincache/tls/ca.pem", "--tls-name", "cache-a.example", "--tls-cert",
             "c.pem", "--tls-key", "k.pem", "--auth-file", "/etc/twincache/users"},
            &options);
  ASSERT_TRUE(out.ok) << out.message;
  EXPECT_TRUE(options.tls.enabled);
  EXPECT_TRUE(options.tls.verify);
  EXPECT_EQ(options.tls.ca_file, "/etc/twincache/tls/ca.pem");
  EXPECT_EQ(options.tls.server_name, "cache-a.example");
  EXPECT_EQ(options.tls.cert_file, "c.pem");
  EXPECT_EQ(options.tls.key_file, "k.pem");
  EXPECT_EQ(options.auth_file, "/etc/twincache/users");
  CheckOptions insecure;
  ASSERT_TRUE(Parse({"--tls", "--tls-insecure"}, &insecure).ok);
  EXPECT_FALSE(insecure.tls.verify);
  CheckOptions plain;
  ASSERT_TRUE(Parse({}, &plain).ok);
  EXPECT_FALSE(plain.tls.enabled);
  for (const char* option : {"--tls-insecure", "--tls-ca=x", "--tls-name=x", "--tls-cert=x", "--tls-key=x"}) {
    CheckOptions refused;
    out = Parse({option}, &refused);
    EXPECT_FALSE(out.ok) << option;
    EXPECT_EQ(out.exit_code, kCheckExitUsage) << option;
  }
}

TEST(ParseCheckOptionsTest, AdminOffAndAdminWithoutPort) {
  CheckOptions options;
  ASSERT_TRUE(Parse({"--admin", "off"}, &options).ok);
  EXPECT_FALSE(options.admin_enabled);
  CheckOptions other;
  ASSERT_TRUE(Parse({"--admin", "10.0.0.1"}, &other).ok);
  EXPECT_EQ(other.admin_host, "10.0.0.1");
  EXPECT_EQ(other.admin_port, 11213);
}

TEST(ParseCheckOptionsTest, BadUsageExitsTwo) {
  for (std::vector<const char*> args : {std::vector<const char*>{"--require-sync", "maybe"},
                                        {"--timeout-ms", "0"},
                                        {"--max-memory-percent", "101"},
                                        {"--admin", "x:notaport"},
                                        {"--port", "0"},
                                        {"--bogus"}}) {
    CheckOptions options;
    ParseOutcome outcome = Parse(args, &options);
    EXPECT_FALSE(outcome.ok) << args[0];
    EXPECT_FALSE(outcome.exit_now) << args[0];
    EXPECT_EQ(outcome.exit_code, kCheckExitUsage) << args[0];
    EXPECT_FALSE(outcome.message.empty()) << args[0];
  }
}

TEST(ParseCheckOptionsTest, VersionExitsZero) {
  CheckOptions options;
  ParseOutcome outcome = Parse({"--version"}, &options);
  EXPECT_TRUE(outcome.exit_now);
  EXPECT_EQ(outcome.exit_code, 0);
  EXPECT_EQ(outcome.message, "twincache-check 0.1.0");
}

using testing::SilentListener;

constexpr int kBudgetMs = 200;
// Slack for scheduling on a loaded two-core machine.
constexpr auto kSlack = std::chrono::milliseconds(150);

template <typename Probe>
std::chrono::milliseconds TimeProbe(Probe probe) {
  auto start = std::chrono::steady_clock::now();
  probe();
  return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - start);
}

TEST(ProbeDeadlineTest, StatsFromASilentListenerEndsAtTheDeadline) {
  SilentListener listener(16);
  std::string reply;
  std::string error;
  bool ok = true;
  auto elapsed =
      TimeProbe([&] { ok = FetchStats("127.0.0.1", listener.port(), Deadline(kBudgetMs), &reply, &error); });
  EXPECT_FALSE(ok);
  EXPECT_EQ(error, "no answer from 127.0.0.1:" + std::to_string(listener.port()) + " within 200 ms");
  EXPECT_GE(elapsed, std::chrono::milliseconds(kBudgetMs - 1));
  EXPECT_LT(elapsed, std::chrono::milliseconds(kBudgetMs) + kSlack);
}

TEST(ProbeDeadlineTest, ConnectToAFullBacklogEndsAtTheDeadline) {
  SilentListener listener(0);
  listener.FillBacklog(3);
  std::string reply;
  std::string error;
  bool ok = true;
  auto elapsed =
      TimeProbe([&] { ok = FetchStats("127.0.0.1", listener.port(), Deadline(kBudgetMs), &reply, &error); });
  EXPECT_FALSE(ok);
  EXPECT_EQ(error, "no answer from 127.0.0.1:" + std::to_string(listener.port()) + " within 200 ms");
  EXPECT_LT(elapsed, std::chrono::milliseconds(kBudgetMs) + kSlack);
}

TEST(ProbeDeadlineTest, HealthFromASilentListenerEndsAtTheDeadline) {
  SilentListener listener(16);
  int status = 0;
  std::string body;
  std::string error;
  bool ok = true;
  auto elapsed = TimeProbe(
      [&] { ok = FetchHealth("127.0.0.1", listener.port(), Deadline(kBudgetMs), &status, &body, &error); });
  EXPECT_FALSE(ok);
  EXPECT_EQ(error, "no answer from admin 127.0.0.1:" + std::to_string(listener.port()) + " within 200 ms");
  EXPECT_GE(elapsed, std::chrono::milliseconds(kBudgetMs - 1));
  EXPECT_LT(elapsed, std::chrono::milliseconds(kBudgetMs) + kSlack);
}

TEST(ProbeDeadlineTest, HealthFromAFullBacklogEndsAtTheDeadline) {
  SilentListener listener(0);
  listener.FillBacklog(3);
  int status = 0;
  std::string body;
  std::string error;
  bool ok = true;
  auto elapsed = TimeProbe(
      [&] { ok = FetchHealth("127.0.0.1", listener.port(), Deadline(kBudgetMs), &status, &body, &error); });
  EXPECT_FALSE(ok);
  EXPECT_EQ(error, "no answer from admin 127.0.0.1:" + std::to_string(listener.port()) + " within 200 ms");
  EXPECT_LT(elapsed, std::chrono::milliseconds(kBudgetMs) + kSlack);
}

TEST(ProbeDeadlineTest, HealthFromADribblingPeerEndsAtTheDeadline) {
  // A header line every 10 ms: every read is quick, the response never ends.
  std::string endless = "HTTP/1.1 200 OK\r\n";
  for (int i = 0; i < 1000; ++i) {
    endless += "X: y\r\n";
  }
  testing::ScriptedPeer peer({endless, std::chrono::milliseconds(10), 6});
  int status = 0;
  std::string body;
  std::string error;
  bool ok = true;
  auto elapsed = TimeProbe(
      [&] { ok = FetchHealth("127.0.0.1", peer.port(), Deadline(kBudgetMs), &status, &body, &error); });
  EXPECT_FALSE(ok);
  EXPECT_EQ(error, "no answer from admin 127.0.0.1:" + std::to_string(peer.port()) + " within 200 ms");
  EXPECT_GE(elapsed, std::chrono::milliseconds(kBudgetMs - 1));
  EXPECT_LT(elapsed, std::chrono::milliseconds(kBudgetMs) + kSlack);
}

TEST(ProbeDeadlineTest, HealthReadsAnyStatusAndTheBody) {
  testing::ScriptedPeer peer({"HTTP/1.1 503 Service Unavailable\r\nContent-Length: 2\r\n\r\n{}"});
  int status = 0;
  std::string body;
  std::string error;
  ASSERT_TRUE(FetchHealth("127.0.0.1", peer.port(), Deadline(kBudgetMs), &status, &body, &error)) << error;
  EXPECT_EQ(status, 503);
  EXPECT_EQ(body, "{}");
  EXPECT_TRUE(peer.LastRequest().starts_with("GET /health HTTP/1.1\r\n")) << peer.LastRequest();
}

TEST(ProbeDeadlineTest, HealthCutShortSaysSo) {
  testing::ScriptedPeer peer({"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n{"});
  int status = 0;
  std::string body;
  std::string error;
  EXPECT_FALSE(FetchHealth("127.0.0.1", peer.port(), Deadline(kBudgetMs), &status, &body, &error));
  EXPECT_EQ(error, "no /health from admin 127.0.0.1:" + std::to_string(peer.port()) +
                       ": connection closed before a complete response");
}

TEST(ProbeDeadlineTest, ClosedPortFailsAtOnce) {
  uint16_t port;
  {
    SilentListener listener(1);
    port = listener.port();
  }  // closed: connecting is refused
  std::string reply;
  std::string error;
  EXPECT_FALSE(FetchStats("127.0.0.1", port, Deadline(kBudgetMs), &reply, &error));
  EXPECT_EQ(error, "cannot connect to 127.0.0.1:" + std::to_string(port) + ": Connection refused");
  int status = 0;
  EXPECT_FALSE(FetchHealth("127.0.0.1", port, Deadline(kBudgetMs), &status, &reply, &error));
  EXPECT_EQ(error, "no /health from admin 127.0.0.1:" + std::to_string(port) + ": cannot connect");
}

}  // namespace
}  // namespace twincache
