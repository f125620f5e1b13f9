#include "core/admin/metrics.h"

#include <string_view>

#include "core/replication/repl_state.h"

namespace twincache {
namespace {

struct Gauge {
  const char* stat;
  const char* metric;
  const char* type;  // "gauge" or "counter"
  const char* help;
};

// memcached_exporter's names for memcached's stats (exporter.go).
constexpr Gauge kPlain[] = {
    {"uptime", "memcached_uptime_seconds", "counter", "Seconds the server has been up."},
    {"time", "memcached_time_seconds", "gauge", "Current UNIX time according to the server."},
    {"curr_items", "memcached_current_items", "gauge", "Current number of items stored."},
    {"total_items", "memcached_items_total", "counter", "Items stored since the server started."},
    {"bytes", "memcached_current_bytes", "gauge", "Current bytes used to store items."},
    {"limit_maxbytes", "memcached_limit_bytes", "gauge", "Bytes the server may use for items."},
    {"evictions", "memcached_items_evicted_total", "counter", "Items evicted to free memory."},
    {"reclaimed", "memcached_items_reclaimed_total", "counter", "Expired items whose memory was reused."},
    {"curr_connections", "memcached_current_connections", "gauge", "Current open client connections."},
    {"total_connections", "memcached_connections_total", "counter", "Client connections opened."},
    {"rejected_connections", "memcached_connections_rejected_total", "counter",
     "Connections refused at the -c limit."},
    {"max_connections", "memcached_max_connections", "gauge", "The -c connection limit."},
    {"bytes_read", "memcached_read_bytes_total", "counter", "Bytes read from clients."},
    {"bytes_written", "memcached_written_bytes_total", "counter", "Bytes written to clients."},
    {"rusage_user", "memcached_process_user_cpu_seconds_total", "counter", "User CPU time."},
    {"rusage_system", "memcached_process_system_cpu_seconds_total", "counter", "System CPU time."},
    {"repl_lag_records", "twincache_repl_lag_records", "gauge",
     "Own writes not yet acknowledged by the twin."},
    {"repl_lag_ms", "twincache_repl_lag_milliseconds", "gauge", "Age of the oldest unacknowledged write."},
    {"repl_offset", "twincache_repl_offset", "gauge", "Records this node's stream has produced."},
    {"repl_applied_offset", "twincache_repl_applied_offset", "gauge",
     "Records of the twin's stream applied."},
    {"repl_full_syncs", "twincache_repl_full_syncs_total", "counter", "Full syncs sent to the twin."},
    {"repl_partial_syncs", "twincache_repl_partial_syncs_total", "counter",
     "Partial syncs sent to the twin."},
    {"repl_conflicts", "twincache_repl_conflicts_total", "counter",
     "Replicated writes that lost to newer ones."},
    {"repl_apply_errors", "twincache_repl_apply_errors_total", "counter",
     "The twin's writes this node could not store (too large, out of memory)."},
    {"repl_degraded_writes", "twincache_repl_degraded_writes_total", "counter",
     "Sync-ack writes answered without the twin's ack."},
    {"repl_tombstones", "twincache_repl_tombstones", "gauge", "Deleted keys remembered against late writes."},
};

// memcached_commands_total{command, status} (exporter.go), from these stats.
struct Command {
  const char* stat;
  const char* command;
  const char* status;
};
constexpr Command kCommands[] = {
    {"get_hits", "get", "hit"},      {"get_misses", "get", "miss"},    {"cmd_set", "set", "hit"},
    {"cmd_flush", "flush", "hit"},   {"touch_hits", "touch", "hit"},   {"touch_misses", "touch", "miss"},
    {"incr_hits", "incr", "hit"},    {"incr_misses", "incr", "miss"},  {"decr_hits", "decr", "hit"},
    {"decr_misses", "decr", "miss"}, {"delete_hits", "delete", "hit"}, {"delete_misses", "delete", "miss"},
    {"cas_hits", "cas", "hit"},      {"cas_misses", "cas", "miss"},    {"cas_badval", "cas", "badval"},
};

void Header(std::string* out, std::string_view metric, std::string_view type, std::string_view help) {
  out->append("# HELP ").append(metric).append(" ").append(help).append("\n");
  out->append("# TYPE ").append(metric).append(" ").append(type).append("\n");
}

}  // namespace

std::string RenderMetrics(const StatList& stats) {
  std::string out;
  Header(&out, "memcached_up", "gauge", "Whether the server answered.");
  out.append("memcached_up 1\n");
  if (const std::string* value = FindStat(stats, "version")) {
    Header(&out, "memcached_version", "gauge", "The protocol version the server reports.");
    out.append("memcached_version{version=\"").append(*value).append("\"} 1\n");
  }
  for (const Gauge& gauge : kPlain) {
    const std::string* value = FindStat(stats, gauge.stat);
    if (value == nullptr) {
      continue;
    }
    Header(&out, gauge.metric, gauge.type, gauge.help);
    out.append(gauge.metric).append(" ").append(*value).append("\n");
  }
  Header(&out, "memcached_commands_total", "counter", "Commands by command and outcome.");
  for (const Command& command : kCommands) {
    const std::string* value = FindStat(stats, command.stat);
    if (value == nullptr) {
      continue;
    }
    out.append("memcached_commands_total{command=\"").append(command.command).append("\",status=\"");
    out.append(command.status).append("\"} ").append(*value).append("\n");
  }
  if (const std::string* value = FindStat(stats, "role")) {
    Header(&out, "twincache_vrrp_role", "gauge",
           "The VRRP role keepalived last reported (1 for the current).");
    for (const char* role : {"MASTER", "BACKUP", "FAULT", "STOP", "UNKNOWN"}) {
      out.append("twincache_vrrp_role{role=\"").append(role).append("\"} ");
      out.append(*value == role ? "1\n" : "0\n");
    }
  }
  if (const std::string* value = FindStat(stats, "repl_initial_sync")) {
    Header(&out, "twincache_repl_initial_sync_done", "gauge", "1 once this node holds its twin's data.");
    out.append("twincache_repl_initial_sync_done ")
        .append(*value == Name(InitialSync::kDone) ? "1\n" : "0\n");
  }
  if (const std::string* value = FindStat(stats, "repl_state")) {
    Header(&out, "twincache_repl_connected", "gauge", "1 while the replication link is up and streaming.");
    out.append("twincache_repl_connected ").append(*value == Name(ReplState::kConnected) ? "1\n" : "0\n");
  }
  return out;
}

}  // namespace twincache
