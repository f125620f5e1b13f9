// Handler: executes parsed Requests against the Store and writes the replies.
//
// The handler is the memcached protocol's semantics: it maps each command of
// memcached protocol.txt (text and meta) to Store calls, counts them in the
// calling thread's ThreadStats, and appends the exact reply bytes to the
// connection's output buffer. It holds no per-connection state, so one
// Handler serves all connections and threads.
#ifndef TWINCACHE_CORE_PROTOCOL_HANDLER_H_
#define TWINCACHE_CORE_PROTOCOL_HANDLER_H_

#include <cstdint>
#include <string>
#include <string_view>

#include "core/protocol/request.h"
#include "core/protocol/server_state.h"
#include "core/protocol/stats.h"
#include "core/store/store.h"

namespace twincache {

/// What the connection does after a request.
enum class HandleOutcome {
  kContinue,  ///< keep reading
  kClose,     ///< `quit`, `shutdown`: close after writing what is buffered
};

class Handler {
 public:
  explicit Handler(ServerState* state) : state_(state) {}

  /// Executes `request` and appends its reply (nothing for noreply / meta q
  /// hits) to `*out`. Counts the command in `*stats` (the calling thread's).
  /// Thread safety: safe from any thread; each thread passes its own stats.
  HandleOutcome Handle(const Request& request, ThreadStats* stats, std::string* out);

 private:
  ServerState* state_;
};

/// One storage command of either protocol (text, binary), as memcached's
/// process_update_command / process_bin_update and do_store_item: stores
/// `value` under `key` (`client_exptime` as the client sent it, see
/// AbsoluteExptime; `compare_cas` as WriteOptions::compare_cas), turns an
/// append/prepend whose joined item cannot be allocated (kTooLarge,
/// kOutOfMemory) into kNotStored as memcached's NOT_STORED, and counts the
/// outcome (CountStoreOutcome). On kStored *cas_out (if not null) is the new
/// cas unique. Deleting the old item after a failed set is the caller's, as
/// the protocols differ on which commands do it.
/// Thread safety: safe from any thread; each thread passes its own stats.
StoreStatus StoreAndCount(StoreMode mode, std::string_view key, std::string_view value, uint32_t flags,
                          int64_t client_exptime, uint64_t compare_cas, ServerState* state,
                          ThreadStats* stats, uint64_t* cas_out);

/// flush_all of either protocol (process_flush_all_command,
/// process_bin_flush): `delay_s` of 0 or less flushes now, up to 30 days is
/// relative and more is a unix time, as memcached's realtime(). Counts
/// cmd_flush. Thread safety: safe from any thread.
void FlushAllAfter(int64_t delay_s, ServerState* state, ThreadStats* stats);

}  // namespace twincache

#endif  // TWINCACHE_CORE_PROTOCOL_HANDLER_H_
