#include "core/admin/health.h"

#include "core/config/settings.h"

namespace twincache {

nlohmann::json HealthReport(ServerState* state, const Replicator* replicator) {
  nlohmann::json report;
  const StoreStats store = state->store->GetStats();
  const RoleReport role = state->role.Get();
  std::string reason;
  if (!state->accepting_connections.load()) {
    reason = "not accepting connections";
  }

  nlohmann::json replication = {{"configured", replicator != nullptr}};
  if (replicator != nullptr) {
    const ReplicationStatus status = replicator->Status();
    replication["state"] = Name(status.state);
    replication["initial_sync"] = Name(status.initial_sync);
    replication["lag_records"] = status.lag_records;
    replication["lag_ms"] = status.lag_ms;
    replication["peer"] = status.peer;
    if (reason.empty() && status.initial_sync != InitialSync::kDone) {
      reason = kInitialSyncPendingReason;
    }
  } else {
    replication["state"] = Name(ReplState::kNone);
    replication["initial_sync"] = Name(InitialSync::kNone);
    replication["lag_records"] = 0;
    replication["lag_ms"] = 0;
    replication["peer"] = "";
  }

  report["status"] = reason.empty() ? "ok" : "unhealthy";
  if (!reason.empty()) {
    report["reason"] = reason;
  }
  report["role"] = role.role;
  report["role_seq"] = role.seq;
  report["maintenance"] = state->maintenance.load();
  report["replication"] = std::move(replication);
  const double percent =
      store.limit_maxbytes == 0 ? 0.0 : 100.0 * static_cast<double>(store.bytes) / store.limit_maxbytes;
  report["memory"] = {
      {"used_bytes", store.bytes}, {"limit_bytes", store.limit_maxbytes}, {"percent", percent}};
  report["items"] = store.curr_items;
  report["uptime_s"] = (state->clock->NowMillis() - state->started_at_ms) / 1000;
  report["version"] = kTwincacheVersion;
  report["protocol_version"] = kProtocolVersion;
  return report;
}

bool IsHealthy(const nlohmann::json& report) { return report.value("status", "") == "ok"; }

}  // namespace twincache
