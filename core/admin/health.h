// Health: whether this node should hold the VIP, as /health reports it.
//
// A node is healthy when it serves and, if it has a twin, has finished its
// initial sync (docs/replication.md): an empty or half-synced node must not
// take the VIP. Memory use, the VRRP role and maintenance are reported for
// twincache-check to judge, not judged here, so the HTTP answer stays a
// plain fact about the daemon.
#ifndef TWINCACHE_CORE_ADMIN_HEALTH_H_
#define TWINCACHE_CORE_ADMIN_HEALTH_H_

#include <nlohmann/json.hpp>

#include "core/protocol/server_state.h"
#include "core/replication/replication.h"

namespace twincache {

/// The /health document (JSON object; shape in docs and tests/integration/
/// test_admin.py): status "ok" or "unhealthy" (+ reason), role, role_seq,
/// maintenance, replication {configured, state, initial_sync, lag_records,
/// lag_ms, peer}, memory {used_bytes, limit_bytes, percent}, items, uptime_s,
/// version, protocol_version. `replicator` may be null (no twin).
/// Thread safety: safe from any thread.
nlohmann::json HealthReport(ServerState* state, const Replicator* replicator);

/// True when the report says "ok" (HTTP 200; else 503).
bool IsHealthy(const nlohmann::json& report);

}  // namespace twincache

#endif  // TWINCACHE_CORE_ADMIN_HEALTH_H_
