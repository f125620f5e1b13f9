#include "healthcheck/check.h"

#include <nlohmann/json.hpp>

#include <charconv>
#include <cstdio>
#include <filesystem>
#include <map>
#include <system_error>

#include "core/auth/ascii_auth.h"
#include "core/protocol/stat_lines.h"
#include "healthcheck/deadline.h"
#include "healthcheck/probes.h"

namespace twincache {
namespace {

uint64_t ToUint(std::string_view text) {
  uint64_t value = 0;
  std::from_chars(text.data(), text.data() + text.size(), value);
  return value;
}

std::string FormatPercent(double percent) {
  char text[32];
  std::snprintf(text, sizeof(text), "%.1f%%", percent);
  return text;
}

// The twin has every write of this node and this node has the twin's data:
// the VIP can move without losing a write or serving a half-synced cache.
bool PeerCaughtUp(const DaemonHealth& health) {
  return health.repl_configured && health.repl_state == ReplState::kConnected && health.lag_records == 0 &&
         health.initial_sync == InitialSync::kDone;
}

// What the daemon spelled, by repl_state.h: an unknown link state is no
// link; an unknown initial sync is not done (the check fails closed).
ReplState ReplStateOf(std::string_view text) { return ParseReplState(text).value_or(ReplState::kNone); }
InitialSync InitialSyncOf(std::string_view text) {
  return ParseInitialSync(text).value_or(InitialSync::kPending);
}

}  // namespace

bool HealthFromStats(std::string_view reply, DaemonHealth* health, std::string* error) {
  auto stats = ParseStatLines(reply);
  if (stats.find("pid") == stats.end()) {
    *error = "stats reply without STAT pid";
    return false;
  }
  *health = DaemonHealth();
  auto get = [&stats](std::string_view name) -> std::string {
    auto it = stats.find(name);
    return it == stats.end() ? std::string() : it->second;
  };
  uint64_t limit = ToUint(get("limit_maxbytes"));
  if (limit > 0) {
    health->memory_known = true;
    health->memory_percent = 100.0 * static_cast<double>(ToUint(get("bytes"))) / static_cast<double>(limit);
  }
  health->maintenance = get("maintenance") == "1";
  std::string repl_state = get("repl_state");
  if (!repl_state.empty()) {
    health->repl_configured = true;
    health->repl_state = ReplStateOf(repl_state);
    health->initial_sync = InitialSyncOf(get("repl_initial_sync"));
    health->lag_records = ToUint(get("repl_lag_records"));
  }
  return true;
}

bool HealthFromJson(int http_status, std::string_view body, DaemonHealth* health, std::string* error) {
  if (http_status != 200 && http_status != 503) {
    *error = "admin endpoint answered HTTP " + std::to_string(http_status) + " to GET /health";
    return false;
  }
  nlohmann::json json = nlohmann::json::parse(body, nullptr, /*allow_exceptions=*/false);
  if (!json.is_object()) {
    *error = "bad /health body (HTTP " + std::to_string(http_status) + "): not a JSON object";
    return false;
  }
  *health = DaemonHealth();
  try {
    std::string status = json.value("status", std::string());
    health->serving_ok = http_status == 200 && status == "ok";
    if (!health->serving_ok) {
      health->unhealthy_reason = json.value("reason", std::string());
      if (health->unhealthy_reason.empty()) {
        health->unhealthy_reason = "daemon unhealthy (HTTP " + std::to_string(http_status) + ")";
      }
    }
    health->maintenance = json.value("maintenance", false);
    if (json.contains("replication")) {
      const nlohmann::json& repl = json.at("replication");
      health->repl_configured = repl.value("configured", false);
      health->repl_state = ReplStateOf(repl.value("state", std::string(Name(ReplState::kNone))));
      health->initial_sync = InitialSyncOf(repl.value("initial_sync", std::string(Name(InitialSync::kNone))));
      health->lag_records = repl.value("lag_records", uint64_t{0});
    }
    if (json.contains("memory") && json.at("memory").contains("percent")) {
      health->memory_known = true;
      health->memory_percent = json.at("memory").at("percent").get<double>();
    }
  } catch (const nlohmann::json::exception& e) {
    *error = std::string("bad /health body: ") + e.what();
    return false;
  }
  return true;
}

Verdict Evaluate(const CheckOptions& options, const DaemonHealth& health, bool maintenance_file_exists) {
  const bool sync_required = options.require_sync == RequireSync::kOn ||
                             (options.require_sync == RequireSync::kAuto && health.repl_configured);
  if (!health.serving_ok) {
    // The daemon's /health also fails during the initial sync; only
    // --require-sync off overrides that one reason.
    bool only_sync =
        health.unhealthy_reason == kInitialSyncPendingReason && health.initial_sync == InitialSync::kPending;
    if (!(only_sync && options.require_sync == RequireSync::kOff)) {
      return {false, health.unhealthy_reason};
    }
  }
  if (options.max_memory_percent > 0 && health.memory_known &&
      health.memory_percent > options.max_memory_percent) {
    return {false, "memory " + FormatPercent(health.memory_percent) + " of the limit, above " +
                       FormatPercent(options.max_memory_percent)};
  }
  if (sync_required) {
    if (!health.repl_configured) {
      return {false, "replication not configured (--require-sync on)"};
    }
    if (health.initial_sync != InitialSync::kDone) {
      return {false, std::string(kInitialSyncPendingReason)};
    }
  }
  if (maintenance_file_exists || health.maintenance) {
    if (PeerCaughtUp(health)) {
      return {false, "maintenance: the peer is connected and caught up"};
    }
    std::string state = health.repl_configured ? "repl_state=" + std::string(Name(health.repl_state)) +
                                                     " lag_records=" + std::to_string(health.lag_records) +
                                                     " initial_sync=" + std::string(Name(health.initial_sync))
                                               : "no peer configured";
    return {true, "maintenance: waiting for the peer to catch up (" + state + ")"};
  }
  return {true, ""};
}

Verdict RunCheck(const CheckOptions& options) {
  const Deadline deadline(options.timeout_ms);
  std::string reply;
  std::string error;
  DaemonHealth health;
  CheckCredentials credentials;
  if (!options.auth_file.empty()) {
    std::vector<AsciiAuthEntry> entries;
    if (!LoadAuthFile(options.auth_file, &entries, &error)) {
      return {false, "--auth-file: " + error};
    }
    if (entries.empty()) {
      return {false, "--auth-file: no user in " + options.auth_file};
    }
    credentials = {entries[0].user, entries[0].password};
  }
  if (!FetchStats(options.host, options.port, deadline, &reply, &error, options.tls, credentials) ||
      !HealthFromStats(reply, &health, &error)) {
    return {false, error};
  }
  if (options.admin_enabled) {
    int status = 0;
    std::string body;
    if (!FetchHealth(options.admin_host, options.admin_port, deadline, &status, &body, &error) ||
        !HealthFromJson(status, body, &health, &error)) {
      return {false, error};
    }
  }
  std::error_code ignored;  // an unreadable path counts as no file
  bool maintenance_file =
      !options.maintenance_file.empty() && std::filesystem::exists(options.maintenance_file, ignored);
  return Evaluate(options, health, maintenance_file);
}

}  // namespace twincache
