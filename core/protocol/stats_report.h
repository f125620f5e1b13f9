// Stats report: the replies of `stats [<subcommand>]` and `lru_crawler ...`.
//
// These are the administrative reports of memcached's protocol.txt
// ("Statistics", "General-purpose statistics", "Settings statistics",
// "LRU_Crawler"): `STAT <name> <value>` lines in memcached's names and order
// (memcached.c server_stats, get_stats, process_stat_settings), and the item
// dumps memcached's crawler.c writes. `stats slabs` and `stats items` report
// the store's slab classes (Store::GetSlabStats), numbered from 1 as
// memcached's, and the item dumps (cachedump, metadump) name and select items
// by the same ids (ItemView::slab_class). twincached's classes are finer
// than memcached's, so ids run up to about 125 at -I 1m (memcached's stop at
// 63); ids up to 255 are accepted.
#ifndef TWINCACHE_CORE_PROTOCOL_STATS_REPORT_H_
#define TWINCACHE_CORE_PROTOCOL_STATS_REPORT_H_

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "core/base/stat_list.h"
#include "core/protocol/request.h"
#include "core/protocol/server_state.h"

namespace twincache {

/// The groups of stats a report can ask for: `stats`, `stats settings`, ...
/// (memcached protocol.txt "Statistics"; binary Stat takes the same names).
enum class StatsGroup : uint8_t {
  kGeneral,   ///< "": memcached's general statistics plus twincached's own
  kSettings,  ///< "settings"
  kItems,     ///< "items"
  kSlabs,     ///< "slabs"
  kSizes,     ///< "sizes"
  kConns,     ///< "conns"
};

/// The group called `name` ("" for the general one), or nullopt for names
/// that are not a group (reset, detail, cachedump, unknown). Pure.
std::optional<StatsGroup> ParseStatsGroup(std::string_view name);

/// Appends the stats of `group` to `*out`, in memcached's names and order:
///   kGeneral   memcached.c server_stats + get_stats(NULL), then
///              twincache_version, role, role_seq, maintenance and the stats
///              of state->extra_stats (replication's repl_*);
///   kSettings  process_stat_settings for the settings twincached has;
///   kItems     items.c do_item_stats: per class holding items,
///              items:<id>:number/evicted/outofmemory/reclaimed/
///              expired_unfetched/evicted_unfetched (nothing when the cache
///              is empty);
///   kSlabs     slabs.c do_slabs_stats: per class holding pages,
///              <id>:chunk_size/chunks_per_page/total_pages/total_chunks/
///              used_chunks/free_chunks/free_chunks_end, then active_slabs
///              (classes with pages) and total_malloced (bytes of pages);
///   kSizes     sizes_status disabled (memcached without -o track_sizes);
///   kConns     nothing (no per-connection report).
/// Thread safety: safe from any thread.
void CollectStats(StatsGroup group, ServerState* state, StatList* out);

/// `stats reset`: zeroes every thread's counters (StatsRegistry::Reset) and
/// the Store's (Store::ResetStats). Thread safety: safe from any thread.
void ResetStats(ServerState* state);

/// Answers `stats` with request.args as its subcommand, appending to `*out`:
///   a group    (none, settings, items, slabs, sizes, conns) CollectStats
///              rendered as "STAT <name> <value>" lines, then "END";
///   reset      StatsRegistry::Reset() and Store::ResetStats(), "RESET";
///   detail     on|off → "OK" (prefix stats are not kept), dump → "END";
///   cachedump  <class> <limit>: "ITEM <key> [<bytes> b; <exptime> s]" lines
///              of the items of that class, at most 2 MB, as memcached items.c
///              item_cachedump ("CLIENT_ERROR Illegal slab id" from id 256);
///   anything else: "ERROR", as memcached.
/// Thread safety: safe from any thread.
void HandleStats(const Request& request, ServerState* state, std::string* out);

/// Answers `lru_crawler` with request.args, as memcached's
/// process_lru_crawler_command: `metadump <all|hash|classes>` writes one
/// "key=<uri-encoded key> exp=<unix time or -1> la=<unix time> cas=<cas>
/// fetch=<yes|no> cls=<class id> size=<bytes>\n" line per live item of the
/// classes named ("all", "hash" or ids 1..255, comma-separated) (crawler.c
/// crawler_metadump_eval) and "END"; `mgdump` writes "mg <key>" lines
/// ("mg <base64 key> b" for keys with spaces or control bytes) and "EN";
/// crawl, tocrawl, sleep, enable and disable validate their argument and
/// answer "OK" (expired items are reclaimed by the server's timer instead);
/// anything else is "ERROR". The whole dump is built in `*out` by walking the
/// Store with Scan() in chunks, one shard lock at a time.
/// Thread safety: safe from any thread.
void HandleLruCrawler(const Request& request, ServerState* state, std::string* out);

/// Appends `in` URI-encoded as memcached's util.c uriencode: alphanumerics and
/// "-._~" as they are, every other byte as %XX (upper-case hex).
void AppendUriEncoded(std::string_view in, std::string* out);

}  // namespace twincache

#endif  // TWINCACHE_CORE_PROTOCOL_STATS_REPORT_H_
