// Handler: executes parsed Requests against the Store and writes the replies.
//
// The handler is the memcached protocol's semantics: it maps each command of
// memcached protocol.txt (text and meta) to Store calls, counts them in the
// calling thread's ThreadStats, and appends the exact reply bytes to the
// connection's output buffer. It holds no per-connection state, so one
// Handler serves all connections and threads.
#ifndef TWINCACHE_CORE_PROTOCOL_HANDLER_H_
#define TWINCACHE_CORE_PROTOCOL_HANDLER_H_

#include <string>

#include "core/protocol/request.h"
#include "core/protocol/server_state.h"
#include "core/protocol/stats.h"

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

}  // namespace twincache

#endif  // TWINCACHE_CORE_PROTOCOL_HANDLER_H_
