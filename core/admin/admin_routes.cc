#include "core/admin/admin_routes.h"

#include <nlohmann/json.hpp>
#include <optional>

#include "core/admin/admin_token.h"
#include "core/admin/health.h"
#include "core/admin/metrics.h"
#include "core/base/log.h"
#include "core/protocol/server_state.h"
#include "core/protocol/stats_report.h"

namespace twincache {
namespace {

constexpr int kOk = 200;
constexpr int kBadRequest = 400;
constexpr int kUnauthorized = 401;
constexpr int kForbidden = 403;
constexpr int kNotFound = 404;
constexpr int kMethodNotAllowed = 405;
constexpr int kServiceUnavailable = 503;

// The general stats, the same list the text protocol's `stats` renders.
StatList GeneralStats(ServerState* state) {
  StatList stats;
  CollectStats(StatsGroup::kGeneral, state, &stats);
  return stats;
}

// /stats: one JSON object of name → value strings (the first of a name wins).
nlohmann::json StatsJson(const StatList& stats) {
  nlohmann::json object = nlohmann::json::object();
  for (const StatLine& line : stats) {
    object.emplace(line.name, line.value);
  }
  return object;
}

AdminResponse Json(int status, const nlohmann::json& body) {
  return AdminResponse{status, "application/json", body.dump() + "\n", "", ""};
}

AdminResponse Role(std::string_view request_body, ServerState* state) {
  nlohmann::json body = nlohmann::json::parse(request_body, nullptr, /*allow_exceptions=*/false);
  RoleReport report;
  if (!body.is_object() || !body.contains("role") || !body["role"].is_string() || !body.contains("seq") ||
      !body["seq"].is_number_unsigned() || (body.contains("instance") && !body["instance"].is_string()) ||
      (body.contains("priority") && !body["priority"].is_number_integer()) ||
      !RoleState::IsValidRole(report.role = body["role"].get<std::string>())) {
    return AdminError(
        kBadRequest,
        "want {\"role\": MASTER|BACKUP|FAULT|STOP, \"seq\": N, \"instance\": NAME, \"priority\": N}");
  }
  report.seq = body["seq"].get<uint64_t>();
  report.instance = body.value("instance", "");
  report.priority = body.value("priority", 0);
  report.at_ms = state->clock->NowMillis();
  RoleReport previous;
  const bool applied = state->role.Update(report, &previous);
  Log(LogLevel::kInfo, applied ? "role_changed" : "role_update_ignored",
      {{"role", report.role},
       {"previous", previous.role},
       {"seq", std::to_string(report.seq)},
       {"current_seq", std::to_string(previous.seq)},
       {"instance", report.instance},
       {"priority", std::to_string(report.priority)}});
  return Json(kOk, {{"role", state->role.Get().role}, {"applied", applied}});
}

AdminResponse Maintenance(std::string_view request_body, ServerState* state) {
  nlohmann::json body = nlohmann::json::parse(request_body, nullptr, /*allow_exceptions=*/false);
  if (!body.is_object() || !body.contains("enabled") || !body["enabled"].is_boolean()) {
    return AdminError(kBadRequest, "want {\"enabled\": true|false}");
  }
  const bool enabled = body["enabled"].get<bool>();
  state->maintenance.store(enabled);
  Log(LogLevel::kInfo, "maintenance", {{"enabled", enabled ? "true" : "false"}});
  return Json(kOk, {{"maintenance", enabled}});
}

// A POST that changes the daemon's state, checked against `token`: nullopt
// when it may go on, else the refusal (logged).
std::optional<AdminResponse> RefuseUnauthenticated(const AdminRequest& request, std::string_view path,
                                                   const AdminToken* token) {
  if (token == nullptr) {
    return std::nullopt;
  }
  const AdminAuth auth = token->Check(request.authorization);
  if (auth == AdminAuth::kOk) {
    return std::nullopt;
  }
  const bool missing = auth == AdminAuth::kMissing;
  Log(LogLevel::kWarning, "admin_refused",
      {{"path", std::string(path)},
       {"peer", std::string(request.peer)},
       {"reason", missing ? "no credentials" : "wrong token"}});
  AdminResponse response =
      AdminError(missing ? kUnauthorized : kForbidden,
                 missing ? "credentials required (Authorization: Bearer TOKEN)" : "wrong token");
  if (missing) {
    response.www_authenticate = "Bearer realm=\"twincache-admin\"";
  }
  return response;
}

}  // namespace

AdminResponse AdminError(int status, std::string_view message) { return Json(status, {{"error", message}}); }

AdminResponse RouteAdminRequest(const AdminRequest& request, ServerState* state, const Replicator* replicator,
                                const AdminToken* token) {
  const std::string_view path = request.target.substr(0, request.target.find('?'));
  const bool get = request.method == "GET";
  const bool post = request.method == "POST";
  std::string allow = "GET";
  if (path == "/health") {
    if (get) {
      nlohmann::json report = HealthReport(state, replicator);
      return Json(IsHealthy(report) ? kOk : kServiceUnavailable, report);
    }
  } else if (path == "/stats") {
    if (get) {
      return Json(kOk, StatsJson(GeneralStats(state)));
    }
  } else if (path == "/metrics") {
    if (get) {
      return AdminResponse{kOk, "text/plain; version=0.0.4", RenderMetrics(GeneralStats(state)), "", ""};
    }
  } else if (path == "/role" || path == "/maintenance") {
    allow = "POST";
    if (post) {
      if (std::optional<AdminResponse> refused = RefuseUnauthenticated(request, path, token)) {
        return *refused;
      }
      return path == "/role" ? Role(request.body, state) : Maintenance(request.body, state);
    }
  } else {
    return AdminError(kNotFound, "no such endpoint");
  }
  AdminResponse response = AdminError(kMethodNotAllowed, "method not allowed");
  response.allow = allow;
  return response;
}

}  // namespace twincache
