// Metrics: the `stats` counters in Prometheus text format for GET /metrics.
//
// Names follow prometheus/memcached_exporter where it has one
// (memcached_current_items, memcached_commands_total{command,status}, ...),
// so existing dashboards work; twincache's own figures (VRRP role,
// replication) are twincache_*.
#ifndef TWINCACHE_CORE_ADMIN_METRICS_H_
#define TWINCACHE_CORE_ADMIN_METRICS_H_

#include <map>
#include <string>

namespace twincache {

/// Renders Prometheus text exposition (version 0.0.4) from the `stats` lines
/// `stats` (name → value, as the text protocol gives them). Stats it does not
/// know are left out. Pure function.
std::string RenderMetrics(const std::map<std::string, std::string>& stats);

}  // namespace twincache

#endif  // TWINCACHE_CORE_ADMIN_METRICS_H_
