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

#include "core/auth/ascii_auth.h"
#include "core/base/clock.h"
#include "core/base/stat_list.h"
#include "core/config/settings.h"
#include "core/protocol/role.h"
#include "core/protocol/stats.h"
#include "core/store/store.h"

namespace twincache {

/// How the server is asked to stop: memcached.c's stop_main_loop values.
enum class StopMode {
  kNormal,    ///< SIGTERM, SIGINT, `shutdown` (EXIT_NORMALLY)
  kGraceful,  ///< SIGUSR1, `shutdown graceful` (GRACE_STOP): twincached also lets the twin catch up
};

/// "normal" or "graceful", for log lines. Pure.
inline const char* StopModeName(StopMode mode) { return mode == StopMode::kGraceful ? "graceful" : "normal"; }

/// Shared server-wide state. Thread safety: fields are either immutable after
/// construction or atomic; StatsRegistry and Store are thread safe.
struct ServerState {
  ServerState(const Settings& s, Store* st, Clock* c)
      : settings(s),
        store(st),
        clock(c),
        stats(s.threads),
        started_at_ms(c->NowMillis()),
        max_connections(s.max_connections),
        idle_timeout_s(s.idle_timeout_s) {}

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

  // The settings a SIGHUP may change while serving (core/server/reload.h);
  // read these, not `settings`.
  std::atomic<size_t> max_connections;  ///< -c
  std::atomic<int64_t> idle_timeout_s;  ///< -o idle_timeout, seconds; 0 = never

  /// Asks the server to stop, as SIGTERM (kNormal) or SIGUSR1 (kGraceful)
  /// would: the `shutdown` command calls it. Set before the server starts
  /// (empty in tests that need no stop); safe to call from any thread.
  std::function<void(StopMode)> request_stop;

  /// Appends the stats of modules below the protocol (replication's repl_*)
  /// to the general report; set before the server starts, called from worker
  /// and admin threads, so it must be thread safe.
  std::function<void(StatList*)> extra_stats;

  // Client TLS and ASCII auth (memcached -Z, -Y); all set before the server
  // starts, and empty or null when not configured.

  /// Reloads the TLS certificates for new connections (`refresh_certs`,
  /// SIGHUP): false with memcached's one-line *error. Thread safe.
  std::function<bool(std::string* error)> refresh_certs;

  /// Appends the TLS lines of `stats` (tls_context.h AppendStats). Thread safe.
  std::function<void(StatList*)> tls_stats;

  /// -Y: the users a connection must authenticate as before any command
  /// (ascii_auth.h); nullptr without -Y. Thread safe.
  const AsciiAuthTable* ascii_auth = nullptr;
};

}  // namespace twincache

#endif  // TWINCACHE_CORE_PROTOCOL_SERVER_STATE_H_
