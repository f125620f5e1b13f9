#include "core/protocol/stats_report.h"

#include <sys/resource.h>
#include <unistd.h>

#include <charconv>
#include <cstdint>
#include <utility>
#include <vector>

#include "core/config/settings.h"
#include "core/protocol/meta_commands.h"
#include "core/protocol/text_tokens.h"

namespace twincache {
namespace {

constexpr size_t kScanChunk = 1024;                             // items per Store::Scan call
constexpr size_t kCachedumpMaxBytes = size_t{2} * 1024 * 1024;  // memcached item_cachedump's memlimit
constexpr uint32_t kMaxSlabClasses = 64;                        // memcached MAX_NUMBER_OF_SLAB_CLASSES
constexpr uint32_t kItemClass = 1;                              // the class every item is reported in
constexpr uint32_t kMaxCrawlerSleepUs = 1000000;

// "STAT <name> ", the start of every stats line (memcached APPEND_STAT).
void AppendStatName(std::string_view name, std::string* out) {
  out->append("STAT ");
  out->append(name);
  out->push_back(' ');
}

void AppendStat(std::string_view name, std::string_view value, std::string* out) {
  AppendStatName(name, out);
  AppendLine(value, out);
}

void AppendStat(std::string_view name, uint64_t value, std::string* out) {
  AppendStatName(name, out);
  AppendUint(out, value);
  out->append("\r\n");
}

// "seconds.micros" with six digits, as memcached's "%ld.%06ld".
void AppendRusage(std::string_view name, const timeval& time, std::string* out) {
  AppendStatName(name, out);
  AppendInt(out, time.tv_sec);
  out->push_back('.');
  char digits[20];
  const auto [end, ec] = std::to_chars(digits, digits + sizeof(digits), static_cast<int64_t>(time.tv_usec));
  const size_t length = end - digits;
  if (length < 6) {
    out->append(6 - length, '0');
  }
  out->append(digits, length);
  out->append("\r\n");
}

// memcached.c server_stats + get_stats(NULL), minus what has no meaning here
// (libevent, reserved_fds, response/read buffers, hash table, slab mover, LRU
// maintainer, logger), then twincached's own lines.
void AppendGeneralStats(ServerState* state, std::string* out) {
  const int64_t now_ms = state->clock->NowMillis();
  const StatTotals totals = state->stats.Totals();
  const StoreStats store = state->store->GetStats();
  rusage usage{};
  getrusage(RUSAGE_SELF, &usage);

  AppendStat("pid", static_cast<uint64_t>(getpid()), out);
  AppendStat("uptime", static_cast<uint64_t>((now_ms - state->started_at_ms) / 1000), out);
  AppendStat("time", static_cast<uint64_t>(now_ms / 1000), out);
  AppendStat("version", kProtocolVersion, out);
  AppendStat("pointer_size", 8 * sizeof(void*), out);
  AppendRusage("rusage_user", usage.ru_utime, out);
  AppendRusage("rusage_system", usage.ru_stime, out);
  const uint64_t curr_connections = state->curr_connections.load(std::memory_order_relaxed);
  AppendStat("max_connections", state->settings.max_connections, out);
  AppendStat("curr_connections", curr_connections, out);
  AppendStat("total_connections", state->total_connections.load(std::memory_order_relaxed), out);
  AppendStat("rejected_connections", state->rejected_connections.load(std::memory_order_relaxed), out);
  AppendStat("connection_structures", curr_connections, out);
  for (size_t i = 0; i < totals.size(); ++i) {
    const auto stat = static_cast<Stat>(i);
    AppendStat(StatName(stat), totals[i], out);
    if (stat == Stat::kGetMisses) {
      AppendStat("get_expired", store.get_expired, out);
      AppendStat("get_flushed", store.get_flushed, out);
    }
  }
  AppendStat("limit_maxbytes", store.limit_maxbytes, out);
  AppendStat("accepting_conns", state->accepting_connections.load(std::memory_order_relaxed) ? 1 : 0, out);
  AppendStat("threads", state->settings.threads, out);
  AppendStat("bytes", store.bytes, out);
  AppendStat("curr_items", store.curr_items, out);
  AppendStat("total_items", store.total_items, out);
  AppendStat("expired_unfetched", store.expired_unfetched, out);
  AppendStat("evicted_unfetched", store.evicted_unfetched, out);
  AppendStat("evictions", store.evictions, out);
  AppendStat("reclaimed", store.reclaimed, out);
  AppendStat("twincache_version", kTwincacheVersion, out);
  if (state->extra_stats) {
    std::vector<std::pair<std::string, std::string>> extra;
    state->extra_stats(&extra);
    for (const auto& [name, value] : extra) {
      AppendStat(name, value, out);
    }
  }
  AppendLine("END", out);
}

// memcached.c process_stat_settings, for the settings twincached has.
void AppendSettingsStats(ServerState* state, std::string* out) {
  const Settings& settings = state->settings;
  AppendStat("maxbytes", state->store->GetStats().limit_maxbytes, out);
  AppendStat("maxconns", settings.max_connections, out);
  AppendStat("tcpport", settings.port, out);
  AppendStat("udpport", static_cast<uint64_t>(settings.udp_port), out);
  AppendStat("inter", settings.listen.empty() ? std::string_view("NULL") : std::string_view(settings.listen),
             out);
  AppendStat("verbosity", static_cast<uint64_t>(state->verbosity.load(std::memory_order_relaxed)), out);
  AppendStat("evictions", settings.no_evict ? "off" : "on", out);
  AppendStat("domain_socket", "NULL", out);
  AppendStat("num_threads", settings.threads, out);
  AppendStat("num_threads_per_udp", settings.threads, out);
  AppendStat("stat_key_prefix", ":", out);
  AppendStat("detail_enabled", "no", out);
  AppendStat("cas_enabled", "yes", out);
  AppendStat("tcp_backlog", static_cast<uint64_t>(settings.backlog), out);
  AppendStat("binding_protocol", "ascii", out);
  AppendStat("auth_enabled_sasl", "no", out);
  AppendStat("auth_enabled_ascii", "no", out);
  AppendStat("item_size_max", settings.item_size_max, out);
  AppendStat("maxconns_fast", "yes", out);
  AppendStat("lru_crawler", "yes", out);
  AppendStat("flush_enabled", "yes", out);
  AppendStat("dump_enabled", "yes", out);
  AppendLine("END", out);
}

void AppendItemsStats(ServerState* state, std::string* out) {
  const StoreStats store = state->store->GetStats();
  if (store.curr_items > 0) {
    AppendStat("items:1:number", store.curr_items, out);
    AppendStat("items:1:evicted", store.evictions, out);
    AppendStat("items:1:evicted_unfetched", store.evicted_unfetched, out);
    AppendStat("items:1:expired_unfetched", store.expired_unfetched, out);
    AppendStat("items:1:reclaimed", store.reclaimed, out);
  }
  AppendLine("END", out);
}

void AppendSlabsStats(ServerState* state, std::string* out) {
  const StoreStats store = state->store->GetStats();
  AppendStat("active_slabs", store.curr_items > 0 ? 1 : 0, out);
  AppendStat("total_malloced", store.bytes, out);
  AppendLine("END", out);
}

void AppendDetail(const Request& request, std::string* out) {
  const std::string_view mode = request.args.size() >= 2 ? request.args[1] : std::string_view();
  if (mode == "on" || mode == "off") {
    AppendLine("OK", out);
  } else if (mode == "dump") {
    AppendLine("END", out);
  } else {
    AppendLine("CLIENT_ERROR usage: stats detail on|off|dump", out);
  }
}

// Visits every live item, kScanChunk at a time, until `fn` returns false or
// the store is done.
template <typename Fn>
void ScanAll(Store* store, Fn fn) {
  ScanCursor cursor;
  bool more = true;
  const std::function<void(const ItemView&)> visit = [&more, &fn](const ItemView& item) {
    if (more) {
      more = fn(item);
    }
  };
  while (more && !cursor.done()) {
    store->Scan(&cursor, kScanChunk, visit);
  }
}

// memcached items.c item_cachedump.
void AppendCachedump(const Request& request, ServerState* state, std::string* out) {
  uint32_t slab_class = 0;
  uint32_t limit = 0;
  if (request.args.size() < 3) {
    AppendLine("CLIENT_ERROR bad command line", out);
    return;
  }
  if (!ParseUint32(request.args[1], &slab_class) || !ParseUint32(request.args[2], &limit)) {
    AppendLine("CLIENT_ERROR bad command line format", out);
    return;
  }
  if (slab_class >= kMaxSlabClasses) {
    AppendLine("CLIENT_ERROR Illegal slab id", out);
    return;
  }
  if (slab_class == kItemClass) {
    const size_t start = out->size();
    uint32_t shown = 0;
    ScanAll(state->store, [&](const ItemView& item) {
      if (limit != 0 && shown >= limit) {
        return false;
      }
      const size_t before = out->size();
      out->append("ITEM ");
      out->append(item.key);
      out->append(" [");
      AppendUint(out, item.value.size());
      out->append(" b; ");
      AppendInt(out, item.exptime);
      out->append(" s]\r\n");
      if (out->size() - start + 5 > kCachedumpMaxBytes) {
        out->resize(before);
        return false;
      }
      ++shown;
      return true;
    });
  }
  AppendLine("END", out);
}

// A `lru_crawler` class argument: "all", "hash" or a comma-separated list of
// class ids 1..63. Sets *includes_items when class 1 (or every class) is named.
bool ParseCrawlerClasses(std::string_view classes, bool* includes_items) {
  if (classes == "all" || classes == "hash") {
    *includes_items = true;
    return true;
  }
  *includes_items = false;
  while (true) {
    const size_t comma = classes.find(',');
    uint32_t id = 0;
    if (!ParseUint32(classes.substr(0, comma), &id) || id < 1 || id >= kMaxSlabClasses) {
      return false;
    }
    if (id == kItemClass) {
      *includes_items = true;
    }
    if (comma == std::string_view::npos) {
      return true;
    }
    classes.remove_prefix(comma + 1);
  }
}

void AppendMetadumpLine(const ItemView& item, std::string* out) {
  out->append("key=");
  AppendUriEncoded(item.key, out);
  out->append(" exp=");
  AppendInt(out, item.exptime == 0 ? -1 : item.exptime);
  out->append(" la=");
  AppendInt(out, item.last_access);
  out->append(" cas=");
  AppendUint(out, item.cas);
  out->append(item.fetched ? " fetch=yes" : " fetch=no");
  out->append(" cls=1 size=");
  AppendUint(out, item.size);
  out->push_back('\n');  // crawler.c ends item lines with "\n", only END with "\r\n"
}

// A key that the text protocol can carry as a token.
bool IsTextKey(std::string_view key) {
  for (const char c : key) {
    const auto byte = static_cast<unsigned char>(c);
    if (byte <= ' ' || byte == 0x7f) {
      return false;
    }
  }
  return true;
}

void AppendMgdumpLine(const ItemView& item, std::string* out) {
  out->append("mg ");
  if (IsTextKey(item.key)) {
    AppendLine(item.key, out);
    return;
  }
  AppendBase64(item.key, out);
  out->append(" b\r\n");
}

void AppendDump(std::string_view subcommand, std::string_view classes, ServerState* state, std::string* out) {
  bool includes_items = false;
  if (!ParseCrawlerClasses(classes, &includes_items)) {
    AppendLine("BADCLASS invalid class id", out);
    return;
  }
  const bool metadump = subcommand == "metadump";
  if (includes_items) {
    ScanAll(state->store, [metadump, out](const ItemView& item) {
      if (metadump) {
        AppendMetadumpLine(item, out);
      } else {
        AppendMgdumpLine(item, out);
      }
      return true;
    });
  }
  AppendLine(metadump ? "END" : "EN", out);
}

}  // namespace

void HandleStats(const Request& request, ServerState* state, std::string* out) {
  if (request.args.empty()) {
    AppendGeneralStats(state, out);
    return;
  }
  const std::string_view subcommand = request.args[0];
  if (subcommand == "reset") {
    state->stats.Reset();
    state->store->ResetStats();
    AppendLine("RESET", out);
  } else if (subcommand == "settings") {
    AppendSettingsStats(state, out);
  } else if (subcommand == "items") {
    AppendItemsStats(state, out);
  } else if (subcommand == "slabs") {
    AppendSlabsStats(state, out);
  } else if (subcommand == "sizes") {
    AppendStat("sizes_status", "disabled", out);
    AppendLine("END", out);
  } else if (subcommand == "conns") {
    AppendLine("END", out);
  } else if (subcommand == "detail") {
    AppendDetail(request, out);
  } else if (subcommand == "cachedump") {
    AppendCachedump(request, state, out);
  } else {
    AppendLine("ERROR", out);
  }
}

void HandleLruCrawler(const Request& request, ServerState* state, std::string* out) {
  const std::vector<std::string_view>& args = request.args;
  const std::string_view subcommand = args.empty() ? std::string_view() : args[0];
  uint32_t number = 0;
  bool includes_items = false;
  if (args.size() == 2 && (subcommand == "metadump" || subcommand == "mgdump")) {
    AppendDump(subcommand, args[1], state, out);
  } else if (args.size() == 2 && subcommand == "crawl") {
    AppendLine(ParseCrawlerClasses(args[1], &includes_items) ? "OK" : "BADCLASS invalid class id", out);
  } else if (args.size() == 2 && subcommand == "tocrawl") {
    AppendLine(ParseUint32(args[1], &number) ? "OK" : "CLIENT_ERROR bad command line format", out);
  } else if (args.size() == 2 && subcommand == "sleep") {
    if (!ParseUint32(args[1], &number)) {
      AppendLine("CLIENT_ERROR bad command line format", out);
    } else if (number > kMaxCrawlerSleepUs) {
      AppendLine("CLIENT_ERROR sleep must be one second or less", out);
    } else {
      AppendLine("OK", out);
    }
  } else if (args.size() == 1 && (subcommand == "enable" || subcommand == "disable")) {
    AppendLine("OK", out);
  } else {
    AppendLine("ERROR", out);
  }
}

void AppendUriEncoded(std::string_view in, std::string* out) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  for (const char c : in) {
    const auto byte = static_cast<unsigned char>(c);
    const bool plain = (byte >= '0' && byte <= '9') || (byte >= 'A' && byte <= 'Z') ||
                       (byte >= 'a' && byte <= 'z') || byte == '-' || byte == '.' || byte == '_' ||
                       byte == '~';
    if (plain) {
      out->push_back(c);
    } else {
      const char escaped[3] = {'%', kHex[byte >> 4], kHex[byte & 15]};
      out->append(escaped, 3);
    }
  }
}

}  // namespace twincache
