// ServerState: what the protocol handler needs to know about the running server.
//
// One ServerState lives for the process. It owns nothing with behaviour: it
// ties the Store, the per-thread stats and the connection counters together so
// that `stats`, `stats settings`, `verbosity` and `flush_all` can be answered
// from any worker thread. Replication and the admin endpoint read it too.
#ifndef TWINCACHE_CORE_PROTOCOL_SERVER_STATE_H_
#define TWINCACHE_CORE_PROTOCOL_SERVER_STATE_H_

#include <atomic>
#include <cstdint>
#include <functional>
#include <string>
#include <utility>
#include <vector>

#include "core/base/clock.h"
#include "core/base/stat_list.h"
#include "core/config/settings.h"
#include "core/protocol/role.h"
#include "core/protocol/stats.h"
#include "core/store/store.h"

namespace twincache {

/// Shared server-wide state. Thread safety: fields are either immutable after
/// construction or atomic; StatsRegistry and Store are thread safe.
struct ServerState {
  ServerState(const Settings& s, Store* st, Clock* c)
      : settings(s), store(st), clock(c), stats(s.threads), started_at_ms(c->NowMillis()) {}

  const Settings settings;
  Store* const store;
  Clock* const clock;
  StatsRegistry stats;
  const int64_t started_at_ms;

  std::atomic<int> verbosity{0};  ///< `verbosity N`, -v
  std::atomic<uint64_t> curr_connections{0};
  std::atomic<uint64_t> total_connections{0};
  std::atomic<uint64_t> rejected_connections{0};  ///< refused because of -c
  std::atomic<bool> accepting_connections{true};
  RoleState role;                        ///< keepalived's last reported VRRP role (role.h)
  std::atomic<bool> maintenance{false};  ///< planned switchover requested (POST /maintenance)

  /// Appends the stats of modules below the protocol (replication's repl_*)
  /// to the general report; set before the server starts, called from worker
  /// and admin threads, so it must be thread safe.
  std::function<void(StatList*)> extra_stats;
};

}  // namespace twincache

#endif  // TWINCACHE_CORE_PROTOCOL_SERVER_STATE_H_
