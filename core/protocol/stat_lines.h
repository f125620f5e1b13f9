// The one reader of a `stats` reply's lines, for programs that get the reply
// over the text protocol from another process (twincache-check). Inside the
// daemon stats are a StatList (core/base/stat_list.h) and nothing re-parses
// them. Header-only, so healthcheck/ needs no library for it.
#ifndef TWINCACHE_CORE_PROTOCOL_STAT_LINES_H_
#define TWINCACHE_CORE_PROTOCOL_STAT_LINES_H_

#include <functional>
#include <map>
#include <string>
#include <string_view>

namespace twincache {

/// name -> value of every "STAT <name> <value>" line of `reply` (lines end
/// "\r\n" as memcached sends them, or "\n"); other lines (END, errors) are
/// skipped, as are STAT lines without a value. A name given twice keeps its
/// first value. The map takes string_view keys for lookups. Pure; reentrant.
/// Source: memcached protocol.txt, "General-purpose statistics".
inline std::map<std::string, std::string, std::less<>> ParseStatLines(std::string_view reply) {
  std::map<std::string, std::string, std::less<>> stats;
  while (!reply.empty()) {
    const size_t eol = reply.find('\n');
    std::string_view line = reply.substr(0, eol);
    reply = eol == std::string_view::npos ? std::string_view() : reply.substr(eol + 1);
    if (!line.empty() && line.back() == '\r') {
      line.remove_suffix(1);
    }
    if (!line.starts_with("STAT ")) {
      continue;
    }
    line.remove_prefix(5);
    const size_t space = line.find(' ');
    if (space == std::string_view::npos) {
      continue;
    }
    stats.emplace(std::string(line.substr(0, space)), std::string(line.substr(space + 1)));
  }
  return stats;
}

}  // namespace twincache

#endif  // TWINCACHE_CORE_PROTOCOL_STAT_LINES_H_
