// Reloader (core/server/reload.h): a real config file is rewritten between
// reloads and the running state (store limit, connection limit, log level,
// idle timeout) is checked; what needs a restart is named and kept; a file
// that cannot be parsed changes nothing; hooks run and their failures are
// reported.
#include "core/server/reload.h"

#include <gtest/gtest.h>

#include <unistd.h>

#include <cstdio>
#include <fstream>
#include <string>
#include <vector>

#include "core/base/clock.h"
#include "core/base/log.h"
#include "core/config/settings.h"
#include "core/protocol/server_state.h"
#include "core/store/store.h"

namespace twincache {
namespace {

using Names = std::vector<std::string>;

class ReloadTest : public testing::Test {
 protected:
  // One file per test process: ctest runs the tests of this file in parallel.
  ReloadTest() : path_(testing::TempDir() + "/reload_test." + std::to_string(getpid()) + ".conf") {
    WriteConfig("memory-limit = 64\nconn-limit = 100\n");
    args_ = {"twincached", "--config", path_, "-p", "22122"};
    std::vector<const char*> argv;
    for (const std::string& arg : args_) {
      argv.push_back(arg.c_str());
    }
    const ParseOutcome parsed = ParseSettings(static_cast<int>(argv.size()), argv.data(), &settings_);
    EXPECT_TRUE(parsed.ok) << parsed.message;
    StoreOptions options;
    options.limit_bytes = settings_.memory_limit_mb << 20;
    options.clock = &clock_;
    store_ = std::make_unique<Store>(options);
    state_ = std::make_unique<ServerState>(settings_, store_.get(), &clock_);
  }

  ~ReloadTest() override {
    std::remove(path_.c_str());
    SetLogLevel(LogLevel::kInfo);
  }

  void WriteConfig(const std::string& text) {
    std::ofstream f(path_);
    f << text;
  }

  Reloader MakeReloader(std::vector<ReloadHook> hooks = {}, FitConnections fit = {}) {
    return Reloader(args_, settings_, state_.get(), std::move(hooks), std::move(fit));
  }

  const std::string path_;
  std::vector<std::string> args_;
  Settings settings_;
  ManualClock clock_{1'700'000'000'000};
  std::unique_ptr<Store> store_;
  std::unique_ptr<ServerState> state_;
};

TEST_F(ReloadTest, UnchangedFileReloadsNothing) {
  Reloader reloader = MakeReloader();
  const ReloadOutcome outcome = reloader.Reload();
  EXPECT_TRUE(outcome.parsed);
  EXPECT_EQ(outcome.reloaded, Names{});
  EXPECT_EQ(outcome.restart_needed, Names{});
  EXPECT_EQ(outcome.failed, Names{});
  EXPECT_EQ(reloader.running(), settings_);
}

TEST_F(ReloadTest, AppliesWhatMayChangeWhileServing) {
  Reloader reloader = MakeReloader();
  WriteConfig("memory-limit = 128\nconn-limit = 7\nverbose = 2\nidle_timeout = 30\nmodern = true\n");
  const ReloadOutcome outcome = reloader.Reload();
  EXPECT_TRUE(outcome.parsed) << outcome.error;
  EXPECT_EQ(outcome.reloaded, (Names{"memory-limit", "conn-limit", "verbose", "idle_timeout"}));
  EXPECT_EQ(outcome.restart_needed, Names{});
  EXPECT_EQ(store_->GetStats().limit_maxbytes, 128u << 20);
  EXPECT_EQ(state_->max_connections.load(), 7u);
  EXPECT_EQ(state_->verbosity.load(), 2);
  EXPECT_TRUE(LogEnabled(LogLevel::kDebug));
  EXPECT_EQ(state_->idle_timeout_s.load(), 30);
  EXPECT_EQ(reloader.running().memory_limit_mb, 128u);
  EXPECT_EQ(reloader.running().extended_ignored, Names{"modern"});
}

TEST_F(ReloadTest, ARuntimeChangeSurvivesAReloadThatDidNotTouchIt) {
  Reloader reloader = MakeReloader();
  store_->SetLimit(32u << 20);  // `cache_memlimit 32`
  WriteConfig("memory-limit = 64\nconn-limit = 200\n");
  const ReloadOutcome outcome = reloader.Reload();
  EXPECT_EQ(outcome.reloaded, Names{"conn-limit"});
  EXPECT_EQ(store_->GetStats().limit_maxbytes, 32u << 20);
}

TEST_F(ReloadTest, RestartSettingsAreNamedAndKeepTheirRunningValue) {
  Reloader reloader = MakeReloader();
  WriteConfig(
      "memory-limit = 64\nconn-limit = 100\nthreads = 2\nlisten = \"127.0.0.2\"\npeer = \"10.0.0.2\"\n"
      "repl-port = \"11300\"\n");
  ReloadOutcome outcome = reloader.Reload();
  EXPECT_EQ(outcome.reloaded, Names{});
  EXPECT_EQ(outcome.restart_needed, (Names{"listen", "threads", "peer", "repl-port"}));
  EXPECT_EQ(reloader.running().threads, settings_.threads);
  // Still different from what runs: named again.
  outcome = reloader.Reload();
  EXPECT_EQ(outcome.restart_needed, (Names{"listen", "threads", "peer", "repl-port"}));
  // The command line wins over the file here too: -p 22122 stays.
  WriteConfig("memory-limit = 64\nconn-limit = 100\nport = 1234\n");
  outcome = reloader.Reload();
  EXPECT_EQ(outcome.restart_needed, Names{});
}

TEST_F(ReloadTest, ABadFileChangesNothing) {
  Reloader reloader = MakeReloader();
  for (const char* text : {"memory-limit = 128\nbogus = 1\n", "memory-limit = 128\n-o = 1\n",
                           "memory-limit = 1\nmax-item-size = \"1m\"\n",
                           "memory-limit = 128\nidle_timeout = -4\n", "memory-limit = 128\nmodern = 3\n"}) {
    WriteConfig(text);
    const ReloadOutcome outcome = reloader.Reload();
    EXPECT_FALSE(outcome.parsed) << text;
    EXPECT_FALSE(outcome.error.empty()) << text;
    EXPECT_EQ(store_->GetStats().limit_maxbytes, 64u << 20) << text;
  }
  std::remove(path_.c_str());
  const ReloadOutcome missing = reloader.Reload();
  EXPECT_FALSE(missing.parsed);
  EXPECT_EQ(reloader.running(), settings_);
}

TEST_F(ReloadTest, ConnectionLimitThatDoesNotFitIsNotApplied) {
  std::vector<size_t> asked;
  Reloader reloader = MakeReloader({}, [&asked](size_t max_connections, std::string* error) {
    asked.push_back(max_connections);
    if (max_connections > 1000) {
      *error = "cannot raise the open files limit";
      return false;
    }
    return true;
  });
  WriteConfig("memory-limit = 64\nconn-limit = 5000\n");
  ReloadOutcome outcome = reloader.Reload();
  EXPECT_EQ(outcome.failed, Names{"conn-limit: cannot raise the open files limit"});
  EXPECT_EQ(state_->max_connections.load(), 100u);
  WriteConfig("memory-limit = 64\nconn-limit = 500\n");
  outcome = reloader.Reload();
  EXPECT_EQ(outcome.reloaded, Names{"conn-limit"});
  EXPECT_EQ(state_->max_connections.load(), 500u);
  EXPECT_EQ(asked, (std::vector<size_t>{5000, 500}));
}

TEST_F(ReloadTest, HooksRunInOrderAndFailuresAreReported) {
  std::vector<std::string> calls;
  std::vector<ReloadHook> hooks;
  hooks.push_back({"auth_file", [&calls](std::string*) {
                     calls.push_back("auth_file");
                     return true;
                   }});
  hooks.push_back({"tls_certificates", [&calls](std::string* error) {
                     calls.push_back("tls_certificates");
                     *error = "key does not match the certificate";
                     return false;
                   }});
  Reloader reloader = MakeReloader(std::move(hooks));
  const ReloadOutcome outcome = reloader.Reload();
  EXPECT_EQ(calls, (Names{"auth_file", "tls_certificates"}));
  EXPECT_EQ(outcome.hooks, Names{"auth_file"});
  EXPECT_EQ(outcome.failed, Names{"tls_certificates: key does not match the certificate"});
  // A file that cannot be read runs no hook.
  WriteConfig("bogus = 1\n");
  calls.clear();
  reloader.Reload();
  EXPECT_EQ(calls, Names{});
}

}  // namespace
}  // namespace twincache
