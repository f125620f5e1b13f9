// Request: one parsed client command of the memcached text protocol.
//
// The parser (parser.h) fills a Request from the connection's input buffer;
// the handler (handler.h) executes it. Every string_view points into that
// input buffer and is valid until the connection consumes the bytes, which it
// does only after the handler returns. A Request is reused across commands of
// a connection (Clear() keeps vector capacity) so parsing does not allocate.
#ifndef TWINCACHE_CORE_PROTOCOL_REQUEST_H_
#define TWINCACHE_CORE_PROTOCOL_REQUEST_H_

#include <cstdint>
#include <string_view>
#include <vector>

namespace twincache {

/// Commands of memcached protocol.txt that twincached understands.
enum class Command : uint8_t {
  // "Retrieval command", "Get And Touch"
  kGet,
  kGets,
  kGat,
  kGats,
  // "Storage commands"
  kSet,
  kAdd,
  kReplace,
  kAppend,
  kPrepend,
  kCas,
  // "Increment/Decrement", "Deletion", "Touch"
  kIncr,
  kDecr,
  kDelete,
  kTouch,
  // "Other commands", "Statistics"
  kFlushAll,
  kVersion,
  kVerbosity,
  kQuit,
  kStats,
  // "cache_memlimit", "lru_crawler metadump"
  kCacheMemlimit,
  kLruCrawler,
  // "Meta Get", "Meta Set", "Meta Delete", "Meta Arithmetic", "Meta No-Op", "Meta Debug"
  kMetaGet,
  kMetaSet,
  kMetaDelete,
  kMetaArithmetic,
  kMetaNoop,
  kMetaDebug,
  // "shutdown" (Other commands; last, so the values above stay as they were)
  kShutdown,
  // memcached's TLS "refresh_certs" (proto_text.c process_refresh_certs_command)
  kRefreshCerts,
};

/// One meta flag: a single character and its optional token (e.g. 'T' "30").
struct MetaFlag {
  char code = 0;
  std::string_view token;
};

/// A parsed command. Which fields are set depends on `command`; the rest keep
/// their Clear() values.
struct Request {
  Command command = Command::kGet;
  std::vector<std::string_view> keys;  ///< retrieval: 1..n keys; others: keys[0]; meta: keys[0] as sent
  uint32_t flags = 0;                  ///< client flags (storage commands)
  int64_t exptime = 0;                 ///< exptime as the client sent it (storage, touch, gat/gats)
  uint64_t cas_unique = 0;             ///< cas command
  uint64_t delta = 0;                  ///< incr/decr amount
  int64_t delay = 0;                   ///< flush_all delay in seconds (0 = now)
  bool noreply = false;                ///< "noreply" was the last token
  std::string_view data;               ///< storage value without the trailing "\r\n"
  bool too_large = false;              ///< storage value over -I: `data` is empty, bytes are swallowed
  std::vector<std::string_view>
      args;  ///< stats / verbosity / lru_crawler / cache_memlimit / shutdown arguments
  std::vector<MetaFlag> meta_flags;  ///< meta commands' flags in the order sent

  /// Resets every field to its default, keeping the vectors' capacity.
  void Clear() {
    command = Command::kGet;
    keys.clear();
    flags = 0;
    exptime = 0;
    cas_unique = 0;
    delta = 0;
    delay = 0;
    noreply = false;
    data = {};
    too_large = false;
    args.clear();
    meta_flags.clear();
  }
};

/// True when `request` may change the store and so make a replication record
/// (store.h SetObserver lists them): storage commands, incr/decr, delete,
/// touch, gat/gats, flush_all, ms, md, ma, and mg with a 'T' (touch) or 'N'
/// (vivify on miss) flag. A
/// connection in --repl-ack sync holds the replies of a batch with such a
/// request until the twin's ack (ack_waiter.h). Pure.
inline bool MayWrite(const Request& request) {
  switch (request.command) {
    case Command::kSet:
    case Command::kAdd:
    case Command::kReplace:
    case Command::kAppend:
    case Command::kPrepend:
    case Command::kCas:
    case Command::kIncr:
    case Command::kDecr:
    case Command::kDelete:
    case Command::kTouch:
    case Command::kGat:
    case Command::kGats:
    case Command::kFlushAll:
    case Command::kMetaSet:
    case Command::kMetaDelete:
    case Command::kMetaArithmetic:
      return true;
    case Command::kMetaGet:
      for (const MetaFlag& flag : request.meta_flags) {
        if (flag.code == 'T' || flag.code == 'N') {
          return true;
        }
      }
      return false;
    default:
      return false;
  }
}

}  // namespace twincache

#endif  // TWINCACHE_CORE_PROTOCOL_REQUEST_H_
