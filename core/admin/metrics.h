// Metrics: the `stats` counters in Prometheus text format for GET /metrics.
//
// Names follow prometheus/memcached_exporter where it has one
// (memcached_current_items, memcached_commands_total{command,status}, ...),
// so existing dashboards work; twincache's own figures (VRRP role,
// replication) are twincache_*.
#ifndef TWINCACHE_CORE_ADMIN_METRICS_H_
#define TWINCACHE_CORE_ADMIN_METRICS_H_

#include <string>

#include "core/base/stat_list.h"

namespace twincache {

/// Renders Prometheus text exposition (version 0.0.4) from the general stats
/// report `stats` (stats_report.h CollectStats, StatsGroup::kGeneral). Stats it
/// does not know are left out. Pure function.
std::string RenderMetrics(const StatList& stats);

}  // namespace twincache

#endif  // TWINCACHE_CORE_ADMIN_METRICS_H_
