// StatList: a stats report as a structure, the one form every renderer takes.
//
// The text protocol's `stats` (STAT lines), the binary protocol's Stat
// (one packet per stat), the admin endpoint's /stats (JSON) and /metrics
// (Prometheus) all render the same list, so none of them parses another's
// text. Values are kept as memcached prints them ("0.123456" for rusage, "yes",
// "MASTER"), since that spelling is what each renderer shows. Header-only and
// in base/ because stats come from every layer (store, protocol, replication).
#ifndef TWINCACHE_CORE_BASE_STAT_LIST_H_
#define TWINCACHE_CORE_BASE_STAT_LIST_H_

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace twincache {

/// One stat: its memcached name (e.g. "curr_items") and its value as memcached
/// prints it. Source: memcached protocol.txt, "General-purpose statistics".
struct StatLine {
  std::string name;
  std::string value;
};

/// The stats of one report, in the order memcached prints them. Not thread
/// safe: each report builds its own.
using StatList = std::vector<StatLine>;

/// Appends `name` with a decimal `value`.
inline void AddStat(StatList* list, std::string_view name, uint64_t value) {
  list->push_back({std::string(name), std::to_string(value)});
}

/// Appends `name` with `value` as given.
inline void AddStat(StatList* list, std::string_view name, std::string_view value) {
  list->push_back({std::string(name), std::string(value)});
}

/// Keeps literals off the integer overload.
inline void AddStat(StatList* list, std::string_view name, const char* value) {
  AddStat(list, name, std::string_view(value));
}

/// The value of the first stat called `name`, or nullptr. Linear: reports
/// hold a few dozen stats.
inline const std::string* FindStat(const StatList& list, std::string_view name) {
  for (const StatLine& line : list) {
    if (line.name == name) {
      return &line.value;
    }
  }
  return nullptr;
}

}  // namespace twincache

#endif  // TWINCACHE_CORE_BASE_STAT_LIST_H_
