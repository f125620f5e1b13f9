#include "core/admin/admin_server.h"

#include <httplib.h>

#include <sys/socket.h>
#include <unistd.h>
#include <nlohmann/json.hpp>

#include "core/admin/health.h"
#include "core/admin/metrics.h"
#include "core/base/log.h"
#include "core/config/settings.h"
#include "core/net/listener.h"
#include "core/protocol/stats_report.h"

namespace twincache {
namespace {

constexpr size_t kAdminThreads = 2;
constexpr time_t kReadTimeoutSeconds = 2;
constexpr int kAdminBacklog = 128;

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

void ReplyJson(httplib::Response& response, int status, const nlohmann::json& body) {
  response.status = status;
  response.set_content(body.dump() + "\n", "application/json");
}

}  // namespace

AdminServer::AdminServer() : http_(std::make_unique<httplib::Server>()) {
  http_->new_task_queue = [] { return new httplib::ThreadPool(kAdminThreads); };
  http_->set_read_timeout(kReadTimeoutSeconds, 0);
  // httplib's default options add SO_REUSEPORT, which would let a second
  // daemon share a busy admin port silently; keep only SO_REUSEADDR, and
  // remember the socket to widen httplib's listen backlog of 5 (racing
  // notify hooks and checks would see dropped connections).
  http_->set_socket_options([this](int fd) {
    int yes = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &yes, sizeof(yes));
    listen_fd_ = fd;
  });
  Route();
}

AdminServer::~AdminServer() { Stop(); }

bool AdminServer::Bind(const std::string& address, std::string* error) {
  uint16_t port = 0;
  if (!SplitHostPort(address, &host_, &port) || address.back() == ']' ||
      address.find(':') == std::string::npos) {
    *error = "bad --admin-listen " + address + " (want HOST:PORT)";
    return false;
  }
  bool ok = port == 0 ? (port = static_cast<uint16_t>(http_->bind_to_any_port(host_))) != 0
                      : http_->bind_to_port(host_, port);
  if (!ok) {
    // httplib does not say why; binding the same address ourselves does.
    std::vector<ListenSocket> probe;
    std::string reason;
    if (BindListeners(host_, port, 1, &probe, &reason)) {
      for (const ListenSocket& socket : probe) close(socket.fd);
      reason = "cannot listen on " + address;
    }
    *error = reason + " (admin)";
    return false;
  }
  port_ = port;
  listen(listen_fd_, kAdminBacklog);  // on a listening socket this only changes the backlog
  return true;
}

void AdminServer::Start(ServerState* state, const Replicator* replicator) {
  state_ = state;
  replicator_ = replicator;
  Log(LogLevel::kInfo, "admin_listening", {{"addr", JoinHostPort(host_, port_)}});
  thread_ = std::thread([this] { http_->listen_after_bind(); });
}

void AdminServer::Stop() {
  if (!thread_.joinable()) return;
  http_->stop();
  thread_.join();
}

void AdminServer::Route() {
  http_->Get("/health", [this](const httplib::Request&, httplib::Response& response) {
    nlohmann::json report = HealthReport(state_, replicator_);
    ReplyJson(response, IsHealthy(report) ? 200 : 503, report);
  });
  http_->Get("/stats", [this](const httplib::Request&, httplib::Response& response) {
    ReplyJson(response, 200, StatsJson(GeneralStats(state_)));
  });
  http_->Get("/metrics", [this](const httplib::Request&, httplib::Response& response) {
    response.set_content(RenderMetrics(GeneralStats(state_)), "text/plain; version=0.0.4");
  });
  http_->Post("/role", [this](const httplib::Request& request, httplib::Response& response) {
    nlohmann::json body = nlohmann::json::parse(request.body, nullptr, /*allow_exceptions=*/false);
    RoleReport report;
    if (!body.is_object() || !body.contains("role") || !body["role"].is_string() || !body.contains("seq") ||
        !body["seq"].is_number_unsigned() ||
        !RoleState::IsValidRole(report.role = body["role"].get<std::string>())) {
      ReplyJson(response, 400, {{"error", "want {\"role\": MASTER|BACKUP|FAULT|STOP, \"seq\": N, ...}"}});
      return;
    }
    report.seq = body["seq"].get<uint64_t>();
    report.instance = body.value("instance", "");
    report.priority = body.value("priority", 0);
    report.at_ms = state_->clock->NowMillis();
    RoleReport previous;
    const bool applied = state_->role.Update(report, &previous);
    Log(LogLevel::kInfo, applied ? "role_changed" : "role_update_ignored",
        {{"role", report.role},
         {"previous", previous.role},
         {"seq", std::to_string(report.seq)},
         {"current_seq", std::to_string(previous.seq)},
         {"instance", report.instance},
         {"priority", std::to_string(report.priority)}});
    ReplyJson(response, 200, {{"role", state_->role.Get().role}, {"applied", applied}});
  });
  http_->Post("/maintenance", [this](const httplib::Request& request, httplib::Response& response) {
    nlohmann::json body = nlohmann::json::parse(request.body, nullptr, /*allow_exceptions=*/false);
    if (!body.is_object() || !body.contains("enabled") || !body["enabled"].is_boolean()) {
      ReplyJson(response, 400, {{"error", "want {\"enabled\": true|false}"}});
      return;
    }
    const bool enabled = body["enabled"].get<bool>();
    state_->maintenance.store(enabled);
    Log(LogLevel::kInfo, "maintenance", {{"enabled", enabled ? "true" : "false"}});
    ReplyJson(response, 200, {{"maintenance", enabled}});
  });
}

}  // namespace twincache
