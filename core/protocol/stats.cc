#include "core/protocol/stats.h"

#include <iterator>

namespace twincache {
namespace {

// memcached's names (memcached.c server_stats), in Stat's order.
constexpr std::string_view kStatNames[] = {
    "cmd_get",    "cmd_set",       "cmd_flush",   "cmd_touch",     "cmd_meta",   "get_hits",
    "get_misses", "delete_misses", "delete_hits", "incr_misses",   "incr_hits",  "decr_misses",
    "decr_hits",  "cas_misses",    "cas_hits",    "cas_badval",    "touch_hits", "touch_misses",
    "auth_cmds",  "auth_errors",   "bytes_read",  "bytes_written",
};
static_assert(std::size(kStatNames) == static_cast<size_t>(Stat::kCount), "one name per Stat");

}  // namespace

std::string_view StatName(Stat stat) { return kStatNames[static_cast<size_t>(stat)]; }

StatsRegistry::StatsRegistry(size_t threads) {
  threads_.reserve(threads);
  for (size_t i = 0; i < threads; ++i) {
    threads_.push_back(std::make_unique<ThreadStats>());
  }
}

StatTotals StatsRegistry::RawTotals() const {
  StatTotals totals{};
  for (const auto& thread : threads_) {
    for (size_t i = 0; i < totals.size(); ++i) {
      totals[i] += thread->Get(static_cast<Stat>(i));
    }
  }
  return totals;
}

// Both read the counters under mu_, so a Totals() never sees a baseline newer
// than its own counter reads (the difference cannot wrap below zero).
StatTotals StatsRegistry::Totals() const {
  std::lock_guard<std::mutex> lock(mu_);
  StatTotals totals = RawTotals();
  for (size_t i = 0; i < totals.size(); ++i) {
    totals[i] -= baseline_[i];
  }
  return totals;
}

void StatsRegistry::Reset() {
  std::lock_guard<std::mutex> lock(mu_);
  baseline_ = RawTotals();
}

}  // namespace twincache
