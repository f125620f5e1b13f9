// Reload: what SIGHUP does to a running twincached.
//
// memcached 1.6 survives SIGHUP and re-reads its -Y auth file then
// (memcached.c sighup_handler; clock_handler calls authfile_load). twincached
// re-reads its whole configuration, the command line it was started with and
// the --config file, and applies what can change without dropping a client
// or the replication link:
//  - memory-limit (-m): the store's limit, as `cache_memlimit` sets it
//    (items over a lower limit are evicted by later writes);
//  - conn-limit (-c): checked for every new connection from then on (the
//    open-files limit is raised first where the process may);
//  - verbose (-v): the log level and `stats settings` verbosity, as
//    `verbosity N`;
//  - idle_timeout (-o): connections are checked against the new value from
//    their next check on (a connection accepted while it was 0 is not
//    checked).
// Each is applied only when the re-read value differs from the one last
// applied, so a `verbosity` or `cache_memlimit` command's change survives a
// reload that did not touch that setting. Every other setting that differs
// needs a restart: the log line names it and it keeps its running value (a
// later reload names it again). Then each ReloadHook runs: what the daemon
// re-reads besides its settings (daemon/reload_hooks.h lists them).
//
// One log line says what happened: `event=reload` with `reloaded=`,
// `restart_needed=`, `hooks=` and, at level warning, `failed=`. A
// configuration that cannot be read, parsed or validated changes nothing
// (`event=reload_failed reason=...`): the daemon serves on as it was.
#ifndef TWINCACHE_CORE_SERVER_RELOAD_H_
#define TWINCACHE_CORE_SERVER_RELOAD_H_

#include <cstddef>
#include <functional>
#include <string>
#include <vector>

#include "core/config/settings.h"
#include "core/protocol/server_state.h"

namespace twincache {

/// Something SIGHUP re-reads besides the settings (e.g. memcached's -Y auth
/// file, TLS certificates).
struct ReloadHook {
  std::string name;  ///< for the log line, e.g. "tls_certificates"
  /// Re-reads it; false with a one-line *error, the old state kept. Runs on
  /// the server's accepting thread, so it must not block for long.
  std::function<bool(std::string* error)> reload;
};

/// What one Reload() did.
struct ReloadOutcome {
  bool parsed = false;                      ///< false: nothing was changed
  std::string error;                        ///< why the configuration could not be re-read
  std::vector<std::string> reloaded;        ///< settings applied, by long option / -o key name
  std::vector<std::string> restart_needed;  ///< settings that differ and need a restart
  std::vector<std::string> hooks;           ///< hooks that reloaded
  std::vector<std::string> failed;          ///< "NAME: reason" of settings and hooks not applied
};

/// Raises the open-files limit so `max_connections` clients fit (the
/// daemon's RaiseFileLimit); false with a one-line *error.
using FitConnections = std::function<bool(size_t max_connections, std::string* error)>;

/// Re-reads and applies the configuration (see the file comment).
/// Thread safety: Reload() from one thread at a time (the server's accepting
/// thread); what it changes in ServerState is atomic or thread safe.
class Reloader {
 public:
  /// `args`: the command line as started (args[0] the program name), parsed
  /// again with ParseSettings at each reload. `running`: the settings it
  /// started with. `fit_connections` may be empty (no limit to raise).
  Reloader(std::vector<std::string> args, const Settings& running, ServerState* state,
           std::vector<ReloadHook> hooks, FitConnections fit_connections);

  /// Re-reads, applies, runs the hooks and logs one line. Never exits.
  ReloadOutcome Reload();

  /// The settings as last applied (restart-needed ones at their running value).
  const Settings& running() const { return running_; }

 private:
  void Apply(const Settings& fresh, ReloadOutcome* outcome);

  const std::vector<std::string> args_;
  Settings running_;
  ServerState* const state_;
  const std::vector<ReloadHook> hooks_;
  const FitConnections fit_connections_;
};

}  // namespace twincache

#endif  // TWINCACHE_CORE_SERVER_RELOAD_H_
