#include "core/server/reload.h"

#include <algorithm>
#include <array>
#include <string_view>
#include <utility>

#include "core/base/log.h"

namespace twincache {
namespace {

// A setting a reload compares, by the name an operator writes in the file.
struct Field {
  std::string_view name;
  bool (*differs)(const Settings&, const Settings&);
};

template <auto Member>
bool Differs(const Settings& a, const Settings& b) {
  return a.*Member != b.*Member;
}

// Every Settings field an operator sets, by its long option (or -o key)
// name. extended_ignored is left out: those keys have no effect to apply.
// A field missing here still shows as "other" (Settings::operator==).
constexpr std::array kFields = {
    Field{"port", &Differs<&Settings::port>},
    Field{"listen", &Differs<&Settings::listen>},
    Field{"memory-limit", &Differs<&Settings::memory_limit_mb>},
    Field{"conn-limit", &Differs<&Settings::max_connections>},
    Field{"threads", &Differs<&Settings::threads>},
    Field{"user", &Differs<&Settings::user>},
    Field{"daemon", &Differs<&Settings::daemonize>},
    Field{"pidfile", &Differs<&Settings::pid_file>},
    Field{"verbose", &Differs<&Settings::verbosity>},
    Field{"udp-port", &Differs<&Settings::udp_port>},
    Field{"max-item-size", &Differs<&Settings::item_size_max>},
    Field{"disable-evictions", &Differs<&Settings::no_evict>},
    Field{"listen-backlog", &Differs<&Settings::backlog>},
    Field{"strict-keys", &Differs<&Settings::strict_keys>},
    Field{"enable-sasl", &Differs<&Settings::sasl>},
    Field{"protocol", &Differs<&Settings::protocol>},
    Field{"config", &Differs<&Settings::config_file>},
    Field{"admin-listen", &Differs<&Settings::admin_listen>},
    Field{"enable-shutdown", &Differs<&Settings::shutdown_command>},
    Field{"idle_timeout", &Differs<&Settings::idle_timeout_s>},
    Field{"memory-file", &Differs<&Settings::memory_file>},
    Field{"peer", &Differs<&Settings::peer_host>},
    Field{"repl-port", &Differs<&Settings::repl_listen_port>},
    Field{"repl-port", &Differs<&Settings::repl_connect_port>},
    Field{"repl-listen", &Differs<&Settings::repl_listen>},
    Field{"repl-secret-file", &Differs<&Settings::repl_secret_file>},
    Field{"repl-ack", &Differs<&Settings::repl_ack_sync>},
    Field{"repl-ack-timeout-ms", &Differs<&Settings::repl_ack_timeout_ms>},
    Field{"repl-backlog-size", &Differs<&Settings::repl_backlog_size>},
    Field{"repl-sync-rate", &Differs<&Settings::repl_sync_rate_mbps>},
    Field{"repl-tombstone-ttl", &Differs<&Settings::repl_tombstone_ttl_s>},
    Field{"repl-initial-sync-timeout", &Differs<&Settings::repl_initial_sync_timeout_s>},
    // Client TLS and ASCII auth: the files' contents reload (reload hooks);
    // which files, and whether TLS is on, need a restart.
    Field{"enable-ssl", &Differs<&Settings::ssl_enabled>},
    Field{"ssl_chain_cert", &Differs<&Settings::ssl_chain_cert>},
    Field{"ssl_key", &Differs<&Settings::ssl_key>},
    Field{"ssl_ca_cert", &Differs<&Settings::ssl_ca_cert>},
    Field{"ssl_verify_mode", &Differs<&Settings::ssl_verify_mode>},
    Field{"ssl_min_version", &Differs<&Settings::ssl_min_version>},
    Field{"ssl_ciphers", &Differs<&Settings::ssl_ciphers>},
    Field{"ssl_session_cache", &Differs<&Settings::ssl_session_cache>},
    Field{"auth-file", &Differs<&Settings::auth_file>},
    // Admin endpoint credentials: the file's name needs a restart; its
    // content is re-read by the admin_token hook (daemon/main.cc).
    Field{"admin-token-file", &Differs<&Settings::admin_token_file>},
};

void AddOnce(std::vector<std::string>* names, std::string_view name) {
  if (std::find(names->begin(), names->end(), name) == names->end()) {
    names->emplace_back(name);
  }
}

}  // namespace

Reloader::Reloader(std::vector<std::string> args, const Settings& running, ServerState* state,
                   std::vector<ReloadHook> hooks, FitConnections fit_connections)
    : args_(std::move(args)),
      running_(running),
      state_(state),
      hooks_(std::move(hooks)),
      fit_connections_(std::move(fit_connections)) {}

ReloadOutcome Reloader::Reload() {
  ReloadOutcome outcome;
  std::vector<const char*> argv;
  argv.reserve(args_.size());
  for (const std::string& arg : args_) {
    argv.push_back(arg.c_str());
  }
  Settings fresh;
  const ParseOutcome parsed = ParseSettings(static_cast<int>(argv.size()), argv.data(), &fresh);
  if (!parsed.ok) {
    // --help or --version cannot be in a command line that started a server.
    outcome.error = parsed.exit_now ? "the command line asks for --help or --version" : parsed.message;
    Log(LogLevel::kWarning, "reload_failed",
        {{"config", running_.config_file.empty() ? "none" : running_.config_file},
         {"reason", outcome.error},
         {"hint", "nothing was changed; the server runs on as it was"}});
    return outcome;
  }
  outcome.parsed = true;
  Apply(fresh, &outcome);
  for (const ReloadHook& hook : hooks_) {
    std::string error;
    if (hook.reload(&error)) {
      outcome.hooks.push_back(hook.name);
    } else {
      outcome.failed.push_back(hook.name + ": " + error);
    }
  }
  Log(outcome.failed.empty() ? LogLevel::kInfo : LogLevel::kWarning, "reload",
      {{"config", running_.config_file.empty() ? "none" : running_.config_file},
       {"reloaded", LogList(outcome.reloaded)},
       {"restart_needed", LogList(outcome.restart_needed)},
       {"hooks", LogList(outcome.hooks)},
       {"failed", LogList(outcome.failed)}});
  return outcome;
}

// Applies what changed since the last reload and may change while serving;
// names the rest.
void Reloader::Apply(const Settings& fresh, ReloadOutcome* outcome) {
  Settings next = running_;
  if (fresh.memory_limit_mb != running_.memory_limit_mb) {
    state_->store->SetLimit(fresh.memory_limit_mb << 20);
    next.memory_limit_mb = fresh.memory_limit_mb;
    outcome->reloaded.emplace_back("memory-limit");
  }
  if (fresh.max_connections != running_.max_connections) {
    std::string error;
    if (!fit_connections_ || fit_connections_(fresh.max_connections, &error)) {
      state_->max_connections.store(fresh.max_connections, std::memory_order_relaxed);
      next.max_connections = fresh.max_connections;
      outcome->reloaded.emplace_back("conn-limit");
    } else {
      outcome->failed.push_back("conn-limit: " + error);
    }
  }
  if (fresh.verbosity != running_.verbosity) {
    // As `verbosity N` (handler.cc): level 2 and above turn on debug lines.
    state_->verbosity.store(fresh.verbosity, std::memory_order_relaxed);
    SetLogLevel(fresh.verbosity >= 2 ? LogLevel::kDebug : LogLevel::kInfo);
    next.verbosity = fresh.verbosity;
    outcome->reloaded.emplace_back("verbose");
  }
  if (fresh.idle_timeout_s != running_.idle_timeout_s) {
    state_->idle_timeout_s.store(fresh.idle_timeout_s, std::memory_order_relaxed);
    next.idle_timeout_s = fresh.idle_timeout_s;
    outcome->reloaded.emplace_back("idle_timeout");
  }
  next.extended_ignored = fresh.extended_ignored;
  for (const Field& field : kFields) {
    if (field.differs(next, fresh)) {
      AddOnce(&outcome->restart_needed, field.name);
    }
  }
  if (outcome->restart_needed.empty() && !(next == fresh)) {
    outcome->restart_needed.emplace_back("other");
  }
  running_ = std::move(next);
}

}  // namespace twincache
