#include "core/protocol/stats_report.h"

#include <sys/resource.h>
#include <unistd.h>

#include <bitset>
#include <charconv>
#include <cstdint>
#include <optional>
#include <utility>
#include <vector>

#include "core/config/settings.h"
#include "core/protocol/meta_commands.h"
#include "core/protocol/text_tokens.h"

namespace twincache {
namespace {

constexpr size_t kScanChunk = 1024;                             // items per Store::Scan call
constexpr size_t kCachedumpMaxBytes = size_t{2} * 1024 * 1024;  // memcached item_cachedump's memlimit
// Class ids are below this (memcached's MAX_NUMBER_OF_SLAB_CLASSES is 64, but
// twincached's finer classes number about 125 at -I 1m and 185 at -I 1g).
constexpr uint32_t kMaxSlabClasses = 256;
constexpr uint32_t kMaxCrawlerSleepUs = 1000000;

// "seconds.micros" with six digits, as memcached's "%ld.%06ld".
std::string FormatRusage(const timeval& time) {
  std::string out;
  AppendInt(&out, time.tv_sec);
  out.push_back('.');
  char digits[20];
  const auto [end, ec] = std::to_chars(digits, digits + sizeof(digits), static_cast<int64_t>(time.tv_usec));
  const size_t length = end - digits;
  if (length < 6) {
    out.append(6 - length, '0');
  }
  out.append(digits, length);
  return out;
}

// memcached.c server_stats + get_stats(NULL), minus what has no meaning here
// (libevent, reserved_fds, response/read buffers, hash table, slab mover, LRU
// maintainer, logger), then twincached's own lines: version, VRRP role, and
// the lines of state->extra_stats (replication).
void CollectGeneralStats(ServerState* state, StatList* out) {
  const int64_t now_ms = state->clock->NowMillis();
  const StatTotals totals = state->stats.Totals();
  const StoreStats store = state->store->GetStats();
  rusage usage{};
  getrusage(RUSAGE_SELF, &usage);

  AddStat(out, "pid", static_cast<uint64_t>(getpid()));
  AddStat(out, "uptime", static_cast<uint64_t>((now_ms - state->started_at_ms) / 1000));
  AddStat(out, "time", static_cast<uint64_t>(now_ms / 1000));
  AddStat(out, "version", kProtocolVersion);
  AddStat(out, "pointer_size", 8 * sizeof(void*));
  AddStat(out, "rusage_user", FormatRusage(usage.ru_utime));
  AddStat(out, "rusage_system", FormatRusage(usage.ru_stime));
  const uint64_t curr_connections = state->curr_connections.load(std::memory_order_relaxed);
  AddStat(out, "max_connections", state->max_connections.load(std::memory_order_relaxed));
  AddStat(out, "curr_connections", curr_connections);
  AddStat(out, "total_connections", state->total_connections.load(std::memory_order_relaxed));
  AddStat(out, "rejected_connections", state->rejected_connections.load(std::memory_order_relaxed));
  AddStat(out, "connection_structures", curr_connections);
  for (size_t i = 0; i < totals.size(); ++i) {
    const auto stat = static_cast<Stat>(i);
    AddStat(out, StatName(stat), totals[i]);
    if (stat == Stat::kGetMisses) {
      AddStat(out, "get_expired", store.get_expired);
      AddStat(out, "get_flushed", store.get_flushed);
    }
  }
  AddStat(out, "limit_maxbytes", store.limit_maxbytes);
  AddStat(out, "accepting_conns", state->accepting_connections.load(std::memory_order_relaxed) ? 1 : 0);
  AddStat(out, "threads", state->settings.threads);
  AddStat(out, "bytes", store.bytes);
  AddStat(out, "curr_items", store.curr_items);
  AddStat(out, "total_items", store.total_items);
  AddStat(out, "expired_unfetched", store.expired_unfetched);
  AddStat(out, "evicted_unfetched", store.evicted_unfetched);
  AddStat(out, "evictions", store.evictions);
  AddStat(out, "reclaimed", store.reclaimed);
  if (state->tls_stats) {
    state->tls_stats(out);  // with -Z, memcached's TLS lines (server_stats)
  }
  AddStat(out, "twincache_version", kTwincacheVersion);
  const RoleReport role = state->role.Get();
  AddStat(out, "role", role.role);
  AddStat(out, "role_seq", role.seq);
  AddStat(out, "maintenance", state->maintenance.load(std::memory_order_relaxed) ? "1" : "0");
  if (state->extra_stats) {
    state->extra_stats(out);
  }
}

// memcached.c process_stat_settings' TLS lines (a TLS build's, as Debian's
// memcached): the C strings it prints with %s show "(null)" when unset,
// ssl_verify_mode is the SSL_VERIFY_* bits of memcached's 0..3 (0, 1, 3, 7)
// and ssl_keyformat SSL_FILETYPE_PEM (1), the only format read here.
void AppendTlsSettings(const Settings& settings, StatList* out) {
  constexpr uint64_t kVerifyBits[] = {0, 1, 3, 7};
  constexpr uint64_t kSslWbufSize = uint64_t{16} * 1024;  // memcached's default; no such buffer here
  const auto text_or_null = [](const std::string& text, std::string_view null) {
    return text.empty() ? null : std::string_view(text);
  };
  AddStat(out, "ssl_enabled", settings.ssl_enabled ? "yes" : "no");
  AddStat(out, "ssl_chain_cert", text_or_null(settings.ssl_chain_cert, "(null)"));
  AddStat(out, "ssl_key", text_or_null(settings.ssl_key, "(null)"));
  AddStat(out, "ssl_verify_mode", kVerifyBits[settings.ssl_verify_mode & 3]);
  AddStat(out, "ssl_keyformat", uint64_t{1});
  AddStat(out, "ssl_ciphers", text_or_null(settings.ssl_ciphers, "NULL"));
  AddStat(out, "ssl_ca_cert", text_or_null(settings.ssl_ca_cert, "NULL"));
  AddStat(out, "ssl_wbuf_size", kSslWbufSize);
  AddStat(out, "ssl_session_cache", settings.ssl_session_cache ? "yes" : "no");
  AddStat(out, "ssl_kernel_tls", "no");
  AddStat(out, "ssl_min_version", SslVersionName(settings.ssl_min_version));
}

// memcached.c process_stat_settings, for the settings twincached has.
void CollectSettingsStats(ServerState* state, StatList* out) {
  const Settings& settings = state->settings;
  AddStat(out, "maxbytes", state->store->GetStats().limit_maxbytes);
  AddStat(out, "maxconns", state->max_connections.load(std::memory_order_relaxed));
  AddStat(out, "tcpport", settings.port);
  AddStat(out, "udpport", static_cast<uint64_t>(settings.udp_port));
  AddStat(out, "inter",
          settings.listen.empty() ? std::string_view("NULL") : std::string_view(settings.listen));
  AddStat(out, "verbosity", static_cast<uint64_t>(state->verbosity.load(std::memory_order_relaxed)));
  AddStat(out, "evictions", settings.no_evict ? "off" : "on");
  AddStat(out, "domain_socket", "NULL");
  AddStat(out, "shutdown_command", settings.shutdown_command ? "yes" : "no");
  AddStat(out, "num_threads", settings.threads);
  AddStat(out, "num_threads_per_udp", settings.threads);
  AddStat(out, "stat_key_prefix", ":");
  AddStat(out, "detail_enabled", "no");
  AddStat(out, "cas_enabled", "yes");
  AddStat(out, "tcp_backlog", static_cast<uint64_t>(settings.backlog));
  AddStat(out, "binding_protocol", BindingProtocolName(settings.protocol));
  AddStat(out, "auth_enabled_sasl", settings.sasl ? "yes" : "no");
  AddStat(out, "auth_enabled_ascii",
          settings.auth_file.empty() ? std::string_view("no") : std::string_view(settings.auth_file));
  AddStat(out, "item_size_max", settings.item_size_max);
  AddStat(out, "maxconns_fast", "yes");
  AddStat(out, "lru_crawler", "yes");
  AddStat(out, "flush_enabled", "yes");
  AddStat(out, "dump_enabled", "yes");
  AddStat(out, "idle_timeout", static_cast<uint64_t>(state->idle_timeout_s.load(std::memory_order_relaxed)));
  AppendTlsSettings(settings, out);
}

// Appends "<prefix><id>:<name>" with `value` (memcached's APPEND_NUM_FMT_STAT).
void AddClassStat(StatList* out, std::string_view prefix, int id, std::string_view name, uint64_t value) {
  std::string full(prefix);
  AppendInt(&full, id);
  full.push_back(':');
  full.append(name);
  AddStat(out, full, value);
}

// memcached items.c do_item_stats: the classes holding items, in its order
// of the counters the store keeps; nothing for an empty cache. Left out:
// the segmented LRU's lines (number_hot/warm/cold, age_hot/warm, moves_*,
// hits_to_*: CLOCK has one ring per class), age (the oldest item's access
// time would take a walk over every slot of the class), mem_requested,
// evicted_nonzero, evicted_time, and the crawler's and tail repair counters.
void CollectItemsStats(ServerState* state, StatList* out) {
  const SlabStats slabs = state->store->GetSlabStats();
  for (const SlabClassStats& cls : slabs.classes) {
    if (cls.number == 0) {
      continue;
    }
    AddClassStat(out, "items:", cls.id, "number", cls.number);
    AddClassStat(out, "items:", cls.id, "evicted", cls.evicted);
    AddClassStat(out, "items:", cls.id, "outofmemory", cls.outofmemory);
    AddClassStat(out, "items:", cls.id, "reclaimed", cls.reclaimed);
    AddClassStat(out, "items:", cls.id, "expired_unfetched", cls.expired_unfetched);
    AddClassStat(out, "items:", cls.id, "evicted_unfetched", cls.evicted_unfetched);
  }
}

// memcached slabs.c do_slabs_stats: the classes holding pages, then the
// totals (alone for an empty cache). The per-command lines (get_hits,
// cmd_set, ...) are left out: see SlabClassStats.
void CollectSlabsStats(ServerState* state, StatList* out) {
  const SlabStats slabs = state->store->GetSlabStats();
  uint64_t active_slabs = 0;
  for (const SlabClassStats& cls : slabs.classes) {
    if (cls.total_pages == 0) {
      continue;
    }
    ++active_slabs;
    AddClassStat(out, "", cls.id, "chunk_size", cls.chunk_size);
    AddClassStat(out, "", cls.id, "chunks_per_page", cls.chunks_per_page);
    AddClassStat(out, "", cls.id, "total_pages", cls.total_pages);
    AddClassStat(out, "", cls.id, "total_chunks", cls.total_chunks);
    AddClassStat(out, "", cls.id, "used_chunks", cls.used_chunks);
    AddClassStat(out, "", cls.id, "free_chunks", cls.free_chunks);
    AddClassStat(out, "", cls.id, "free_chunks_end", cls.free_chunks_end);
  }
  AddStat(out, "active_slabs", active_slabs);
  AddStat(out, "total_malloced", slabs.total_malloced);
}

// "STAT <name> <value>\r\n" per stat, then "END" (memcached APPEND_STAT).
void RenderStatLines(const StatList& list, std::string* out) {
  for (const StatLine& line : list) {
    out->append("STAT ");
    out->append(line.name);
    out->push_back(' ');
    AppendLine(line.value, out);
  }
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
  {
    const size_t start = out->size();
    uint32_t shown = 0;
    ScanAll(state->store, [&](const ItemView& item) {
      if (static_cast<uint32_t>(item.slab_class) != slab_class) {
        return true;
      }
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

// Class ids named by a `lru_crawler` argument.
using ClassSet = std::bitset<kMaxSlabClasses>;

// A `lru_crawler` class argument: "all", "hash" or a comma-separated list of
// class ids 1..kMaxSlabClasses-1 (memcached proto_text.c
// process_lru_crawler_command). Sets *named to the classes it names.
bool ParseCrawlerClasses(std::string_view classes, ClassSet* named) {
  if (classes == "all" || classes == "hash") {
    named->set();
    return true;
  }
  named->reset();
  while (true) {
    const size_t comma = classes.find(',');
    uint32_t id = 0;
    if (!ParseUint32(classes.substr(0, comma), &id) || id < 1 || id >= kMaxSlabClasses) {
      return false;
    }
    named->set(id);
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
  out->append(" cls=");
  AppendInt(out, item.slab_class);
  out->append(" size=");
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
  ClassSet named;
  if (!ParseCrawlerClasses(classes, &named)) {
    AppendLine("BADCLASS invalid class id", out);
    return;
  }
  const bool metadump = subcommand == "metadump";
  if (named.any()) {
    ScanAll(state->store, [metadump, &named, out](const ItemView& item) {
      if (!named.test(static_cast<size_t>(item.slab_class))) {
        return true;
      }
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

std::optional<StatsGroup> ParseStatsGroup(std::string_view name) {
  static constexpr std::pair<std::string_view, StatsGroup> kGroups[] = {
      {"", StatsGroup::kGeneral},    {"settings", StatsGroup::kSettings}, {"items", StatsGroup::kItems},
      {"slabs", StatsGroup::kSlabs}, {"sizes", StatsGroup::kSizes},       {"conns", StatsGroup::kConns},
  };
  for (const auto& [group_name, group] : kGroups) {
    if (name == group_name) {
      return group;
    }
  }
  return std::nullopt;
}

void CollectStats(StatsGroup group, ServerState* state, StatList* out) {
  switch (group) {
    case StatsGroup::kGeneral:
      CollectGeneralStats(state, out);
      break;
    case StatsGroup::kSettings:
      CollectSettingsStats(state, out);
      break;
    case StatsGroup::kItems:
      CollectItemsStats(state, out);
      break;
    case StatsGroup::kSlabs:
      CollectSlabsStats(state, out);
      break;
    case StatsGroup::kSizes:
      AddStat(out, "sizes_status", "disabled");
      break;
    case StatsGroup::kConns:
      break;
  }
}

void ResetStats(ServerState* state) {
  state->stats.Reset();
  state->store->ResetStats();
}

void HandleStats(const Request& request, ServerState* state, std::string* out) {
  const std::string_view subcommand = request.args.empty() ? std::string_view() : request.args[0];
  if (const std::optional<StatsGroup> group = ParseStatsGroup(subcommand)) {
    StatList list;
    CollectStats(*group, state, &list);
    RenderStatLines(list, out);
  } else if (subcommand == "reset") {
    ResetStats(state);
    AppendLine("RESET", out);
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
  ClassSet named;
  if (args.size() == 2 && (subcommand == "metadump" || subcommand == "mgdump")) {
    AppendDump(subcommand, args[1], state, out);
  } else if (args.size() == 2 && subcommand == "crawl") {
    AppendLine(ParseCrawlerClasses(args[1], &named) ? "OK" : "BADCLASS invalid class id", out);
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
