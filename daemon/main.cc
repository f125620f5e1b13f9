// twincached: the memcached-compatible cache daemon. Parses memcached's flags,
// does the Unix chores in memcached's order and runs the server; everything
// else lives in the core library. Signals: SIGTERM/SIGINT stop, SIGUSR1 stops
// gracefully (SIGTERM too with -e, which then saves the cache for a warm
// restart: core/store/snapshot.h), SIGHUP reloads (core/server/server.h,
// core/server/reload.h).
#include <pthread.h>
#include <systemd/sd-daemon.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <future>
#include <memory>
#include <string>
#include <vector>

#include "core/admin/admin_server.h"
#include "core/admin/admin_token.h"
#include "core/auth/ascii_auth.h"
#include "core/auth/sasl.h"
#include "core/base/clock.h"
#include "core/base/log.h"
#include "core/config/settings.h"
#include "core/net/listener.h"
#include "core/net/tls_context.h"
#include "core/protocol/handler.h"
#include "core/protocol/server_state.h"
#include "core/replication/repl_auth.h"
#include "core/replication/replication.h"
#include "core/server/reload.h"
#include "core/server/server.h"
#include "core/store/snapshot.h"
#include "core/store/store.h"
#include "daemon/process.h"
#include "daemon/reload_hooks.h"

namespace twincache {
namespace {

constexpr int kExitFailure = 71;  // EX_OSERR, as memcached exits when it cannot bind
// How long a graceful stop waits for the twin to apply this node's last writes.
constexpr auto kGracefulTwinWait = std::chrono::seconds(5);

int Fail(std::string_view event, const std::string& reason, int code) {
  Log(LogLevel::kError, event, {{"reason", reason}});
  return code;
}

// Sends `state` (newline-separated KEY=VALUE assignments) to the service manager; a failure is
// logged and otherwise ignored: systemd times the start out by itself.
void Notify(const std::string& state) {
  if (int rc = sd_notify(0, state.c_str()); rc < 0) {
    Log(LogLevel::kWarning, "sd_notify_failed", {{"state", state}, {"errno", std::to_string(-rc)}});
  }
}

// A graceful stop (SIGUSR1, `shutdown graceful`) of a node with a twin: once
// no client is served any more, waits up to kGracefulTwinWait until the twin
// has applied every write of this node (ack_waiter.h), so a planned stop
// loses none even with --repl-ack async. memcached's graceful stop keeps its
// cache for a warm restart (-e); twincached's lives on in the twin.
void WaitForTwin(Replicator* replicator) {
  const uint64_t offset = replicator->StreamOffset();
  bool caught_up = offset == 0;
  if (!caught_up) {
    auto acked = std::make_shared<std::promise<bool>>();
    std::future<bool> result = acked->get_future();
    replicator->WaitForAck(offset, [acked](bool ok) { acked->set_value(ok); });
    caught_up = result.wait_for(kGracefulTwinWait) == std::future_status::ready && result.get();
  }
  Log(caught_up ? LogLevel::kInfo : LogLevel::kWarning, "graceful_stop",
      {{"twin", caught_up ? "caught_up" : "behind"}, {"offset", std::to_string(offset)}});
}

// The identity a warm restart file is written under and must match at load
// (snapshot.h): the client port and the twin. Another instance on this host,
// or the twin's file copied here, differs in one of them.
std::string NodeIdentity(const Settings& settings) {
  return "port=" + std::to_string(settings.port) + " peer=" +
         (settings.peer_host.empty() ? "none" : JoinHostPort(settings.peer_host, settings.repl_connect_port));
}

// MB/s of `bytes` in `ms` (at least 1 ms), for the warm restart log lines.
std::string MegabytesPerSecond(uint64_t bytes, int64_t ms) {
  return std::to_string(bytes / 1000 / static_cast<uint64_t>(std::max<int64_t>(ms, 1)));
}

// Loads the warm restart file into a new store, or makes an empty one (a cold
// start) when there is none or it is refused; each outcome is one log line.
// *meta gets the file's node and replication identity when it was loaded.
// With a twin, a file saved longer ago than the tombstone TTL is refused: the
// twin may have forgotten deletes made since, and a full sync merging the
// file's items would bring those keys back (docs/replication.md, "Warm restart").
std::unique_ptr<Store> OpenStore(const std::string& memory_file, const std::string& identity,
                                 StoreOptions options, SnapshotMeta* meta, bool* warm) {
  *warm = false;
  SnapshotFile file;
  std::string error;
  const int64_t started_ms = SystemClock::Default()->NowMillis();
  SnapshotFile::OpenStatus status = SnapshotFile::OpenStatus::kAbsent;
  if (!memory_file.empty()) {
    status = file.Open(memory_file, identity, &error);
  }
  if (status == SnapshotFile::OpenStatus::kAbsent) {
    if (!memory_file.empty()) {
      Log(LogLevel::kInfo, "cold_start", {{"path", memory_file}, {"reason", "no memory file"}});
    }
    return std::make_unique<Store>(options);
  }
  if (status == SnapshotFile::OpenStatus::kRefused) {
    Log(LogLevel::kWarning, "memory_file_refused", {{"path", memory_file}, {"reason", error}});
    return std::make_unique<Store>(options);
  }
  const int64_t age_s = (started_ms - file.meta().saved_at_ms) / 1000;
  if (options.keep_tombstones && age_s > options.tombstone_ttl_s) {
    Log(LogLevel::kWarning, "memory_file_refused",
        {{"path", memory_file},
         {"reason", "saved " + std::to_string(age_s) + " s ago, longer than the tombstone TTL (" +
                        std::to_string(options.tombstone_ttl_s) + " s): deletes since may be forgotten"}});
    return std::make_unique<Store>(options);
  }
  *meta = file.meta();
  options.node_id = meta->node_id;
  auto store = std::make_unique<Store>(options);
  SnapshotCounts counts;
  file.LoadInto(store.get(), &counts);
  const int64_t ms = SystemClock::Default()->NowMillis() - started_ms;
  *warm = true;
  Log(LogLevel::kInfo, "warm_start",
      {{"path", memory_file},
       {"items", std::to_string(counts.items)},
       {"tombstones", std::to_string(counts.tombstones)},
       {"dropped", std::to_string(counts.dropped)},
       {"not_loaded", std::to_string(counts.not_fitting)},
       {"file_bytes", std::to_string(counts.file_bytes)},
       {"ms", std::to_string(ms)},
       {"mb_per_s", MegabytesPerSecond(counts.file_bytes, ms)},
       {"down_ms", std::to_string(started_ms - meta->saved_at_ms)}});
  if (counts.not_fitting > 0) {
    Log(LogLevel::kWarning, "memory_file_partly_loaded",
        {{"path", memory_file},
         {"not_loaded", std::to_string(counts.not_fitting)},
         {"reason", "over the memory limit (-m) or the item size limit (-I)"}});
  }
  return store;
}

// Writes the warm restart file after clients and replication have stopped.
void SaveStore(const std::string& memory_file, Store* store, const SnapshotMeta& meta) {
  const int64_t started_ms = SystemClock::Default()->NowMillis();
  SnapshotCounts counts;
  std::string error;
  if (!SaveSnapshot(memory_file, store, meta, &counts, &error)) {
    Log(LogLevel::kError, "memory_file_save_failed", {{"path", memory_file}, {"reason", error}});
    return;
  }
  const int64_t ms = SystemClock::Default()->NowMillis() - started_ms;
  Log(LogLevel::kInfo, "memory_file_saved",
      {{"path", memory_file},
       {"items", std::to_string(counts.items)},
       {"tombstones", std::to_string(counts.tombstones)},
       {"file_bytes", std::to_string(counts.file_bytes)},
       {"ms", std::to_string(ms)},
       {"mb_per_s", MegabytesPerSecond(counts.file_bytes, ms)},
       {"offset", std::to_string(meta.stream.offset)},
       {"applied", std::to_string(meta.stream.applied_offset)}});
}

int Main(int argc, char** argv) {
  Settings settings;
  ParseOutcome parsed = ParseSettings(argc, argv, &settings);
  if (parsed.exit_now) {
    std::fprintf(stdout, "%s\n", parsed.message.c_str());
    return parsed.exit_code;
  }
  if (!parsed.ok) {
    std::fprintf(stderr, "twincached: %s\n", parsed.message.c_str());
    return parsed.exit_code;
  }
  SetLogLevel(settings.verbosity >= 2 ? LogLevel::kDebug : LogLevel::kInfo);
  // Until the server handles SIGHUP (its default action ends the process),
  // a reload sent while starting is dropped, as memcached -d ignores it.
  std::signal(SIGHUP, SIG_IGN);
  if (!settings.extended_ignored.empty()) {
    Log(LogLevel::kWarning, "extended_options_ignored",
        {{"keys", LogList(settings.extended_ignored)},
         {"reason", "memcached -o options for internals twincached does not have; no effect"}});
  }

  std::string error;
  std::vector<ListenSocket> listeners;
  if (!BindListeners(settings.listen, settings.port, settings.backlog, &listeners, &error)) {
    return Fail("startup_failed", error, kExitFailure);
  }
  AdminServer admin;
  const bool admin_on = settings.admin_listen != "off";
  if (admin_on && !admin.Bind(settings.admin_listen, &error)) {
    return Fail("startup_failed", error, kExitFailure);
  }
  // The admin token is read at start, before privileges drop (root may read
  // a file the -u user cannot), and again on SIGHUP as the running user
  // (under systemd User=twincache, through the file's group).
  std::unique_ptr<AdminToken> admin_token;
  if (admin_on && !settings.admin_token_file.empty()) {
    admin_token = std::make_unique<AdminToken>();
    if (!admin_token->Load(settings.admin_token_file, &error)) {
      return Fail("startup_failed", error, kExitFailure);
    }
  }
  const bool replicating = !settings.peer_host.empty();
  std::vector<ListenSocket> repl_listeners;
  std::string secret;
  if (replicating) {
    std::string repl_address = settings.repl_listen;
    if (repl_address.empty()) {
      repl_address = settings.listen.substr(0, settings.listen.find(','));
    }
    if (!BindListeners(repl_address, settings.repl_listen_port, settings.backlog, &repl_listeners, &error)) {
      return Fail("startup_failed", error, kExitFailure);
    }
    if (!settings.repl_secret_file.empty() && !ReadSecretFile(settings.repl_secret_file, &secret, &error)) {
      return Fail("startup_failed", error, kExitFailure);
    }
  }
  if (!RaiseFileLimit(settings.max_connections, &error)) {
    return Fail("startup_failed", error, kExitFailure);
  }
  // -d changes to "/": a relative -e path means the directory it was given in.
  std::string memory_file;
  if (!settings.memory_file.empty()) {
    std::error_code path_ec;
    memory_file = std::filesystem::absolute(settings.memory_file, path_ec).string();
    if (path_ec) {
      return Fail("startup_failed", "bad memory file path " + settings.memory_file + ": " + path_ec.message(),
                  kExitUsage);
    }
  }
  if (settings.daemonize && !Daemonize(settings.verbosity > 0, &error)) {
    return Fail("startup_failed", error, kExitFailure);
  }
  if (!settings.pid_file.empty() && !WritePidFile(settings.pid_file, settings.user, &error)) {
    return Fail("startup_failed", error, kExitFailure);
  }
  if (!DropPrivileges(settings.user, &error)) {
    return Fail("startup_failed", error, 67);  // EX_NOUSER
  }
  if (geteuid() == 0) {
    Log(LogLevel::kWarning, "running_as_root", {{"hint", "use -u USER"}});
  }
  // SASL after the switch to -u's user, whose files libsasl2 reads, and
  // before any thread starts (memcached.c main: init_sasl after setuid).
  if (settings.sasl) {
    SaslInitInfo sasl;
    if (!InitSasl(SaslOptionsFromEnvironment(settings.verbosity), &sasl, &error)) {
      return Fail("startup_failed", error, kExitFailure);  // "SASL: ..." already
    }
    Log(LogLevel::kInfo, "sasl_ready",
        {{"library", sasl.library},
         {"mechanisms", sasl.mechanisms},
         {"conf_path", sasl.conf_path},
         {"realm", sasl.realm}});
  }
  std::signal(SIGPIPE, SIG_IGN);
  // Client TLS and the ASCII auth file, read as -u's user (which reads them
  // again on refresh_certs and SIGHUP). A certificate that does not load
  // stops the start as memcached's ssl_init (EX_USAGE), an auth file that
  // does not as its authfile_load (EXIT_FAILURE).
  std::unique_ptr<TlsContext> tls;
  if (settings.ssl_enabled) {
    tls = std::make_unique<TlsContext>(TlsOptionsFromSettings(settings));
    if (!tls->Load(&error)) {
      return Fail("startup_failed", error, kExitUsage);
    }
  }
  std::unique_ptr<AsciiAuthTable> ascii_auth;
  if (!settings.auth_file.empty()) {
    ascii_auth = std::make_unique<AsciiAuthTable>();
    if (!ascii_auth->Load(settings.auth_file, &error)) {
      return Fail("startup_failed", "auth file: " + error, EXIT_FAILURE);
    }
    Log(LogLevel::kInfo, "ascii_auth_ready",
        {{"auth_file", settings.auth_file}, {"users", std::to_string(ascii_auth->size())}});
  }
  // A stop asked for while the memory file loads waits for the server's
  // handlers (blocked signals stay pending), so it is graceful and saves
  // what was loaded rather than ending the process with the file consumed.
  sigset_t stop_signals;
  sigemptyset(&stop_signals);
  for (int signo : {SIGTERM, SIGINT, SIGUSR1}) {
    sigaddset(&stop_signals, signo);
  }
  pthread_sigmask(SIG_BLOCK, &stop_signals, nullptr);

  StoreOptions store_options;
  store_options.limit_bytes = settings.memory_limit_mb << 20;
  store_options.item_size_max = settings.item_size_max;
  store_options.evict_to_free = !settings.no_evict;
  store_options.node_id = RandomNodeId();
  store_options.keep_tombstones = replicating;
  store_options.tombstone_ttl_s = settings.repl_tombstone_ttl_s;
  const std::string identity = NodeIdentity(settings);
  SnapshotMeta saved;
  bool warm = false;
  std::unique_ptr<Store> store_owner = OpenStore(memory_file, identity, store_options, &saved, &warm);
  Store& store = *store_owner;
  ServerState state(settings, &store, SystemClock::Default());
  state.verbosity = settings.verbosity;

  std::unique_ptr<Replicator> replicator;
  if (replicating) {
    ReplicationOptions repl;
    repl.peer_host = settings.peer_host;
    repl.connect_port = settings.repl_connect_port;
    repl.secret = secret;
    repl.ack_sync = settings.repl_ack_sync;
    repl.ack_timeout_ms = settings.repl_ack_timeout_ms;
    repl.backlog_bytes = settings.repl_backlog_size;
    repl.sync_rate_bytes_per_s = settings.repl_sync_rate_mbps * 1000 * 1000;
    repl.initial_sync_timeout_ms = settings.repl_initial_sync_timeout_s * 1000;
    repl.item_size_max = settings.item_size_max;
    repl.node_id = store.options().node_id;
    replicator = std::make_unique<Replicator>(repl, &store, SystemClock::Default(), repl_listeners);
    if (!replicator->tls_error().empty()) {  // fail closed: never a clear link where a secret is set
      return Fail("startup_failed", replicator->tls_error(), kExitFailure);
    }
    if (warm) {
      replicator->Resume(saved.stream);
    }
    store.SetObserver(replicator.get());
  }
  if (replicator != nullptr) {
    state.extra_stats = [r = replicator.get()](StatList* out) { r->AppendStats(out); };
  }
  state.ascii_auth = ascii_auth.get();
  if (tls != nullptr) {
    state.refresh_certs = [&tls](std::string* reason) { return tls->Load(reason); };
    state.tls_stats = [&tls, &state](StatList* out) { tls->AppendStats(state.clock->NowMillis(), out); };
  }
  Handler handler(&state);
  Server server(&state, &handler, listeners, settings.repl_ack_sync ? replicator.get() : nullptr);
  server.SetTls(tls.get());
  pthread_sigmask(SIG_UNBLOCK, &stop_signals, nullptr);  // the server's signal_set handles them now
  state.request_stop = [&server](StopMode mode) {
    Log(LogLevel::kInfo, "shutdown", {{"reason", "shutdown command"}, {"mode", StopModeName(mode)}});
    server.Stop(mode);
  };
  std::vector<ReloadHook> reload_hooks = ReloadHooks(settings, &state, ascii_auth.get());
  if (admin_token != nullptr) {
    reload_hooks.push_back({"admin_token", [token = admin_token.get()](std::string* hook_error) {
                              return token->Reload(hook_error);
                            }});
  }
  Reloader reloader(std::vector<std::string>(argv, argv + argc), settings, &state, std::move(reload_hooks),
                    RaiseFileLimit);
  server.SetReloadHandler([&reloader] { reloader.Reload(); });
  Log(LogLevel::kInfo, "starting",
      {{"version", kTwincacheVersion},
       {"pid", std::to_string(getpid())},
       {"memory_limit_mb", std::to_string(settings.memory_limit_mb)},
       {"max_connections", std::to_string(settings.max_connections)},
       {"item_size_max", std::to_string(settings.item_size_max)},
       {"evictions", settings.no_evict ? "off" : "on"}});
  if (replicator) {
    replicator->Start();
  }
  if (admin_on) {
    if (admin_token == nullptr) {
      Log(LogLevel::kWarning, "admin_unauthenticated",
          {{"reason", "no --admin-token-file: any local user may POST /role and /maintenance"}});
    }
    admin.Start(&state, replicator.get(), admin_token.get());
  }
  // Type=notify readiness for twincached.service (sd_notify(3), systemd.service(5)): the client
  // port is bound and listening, and the replication start decision is made (Start() returns at
  // once; the link and the initial sync proceed in the background, as /health reports). Without
  // NOTIFY_SOCKET in the environment sd_notify does nothing, so -d and the tests are unaffected.
  Notify("READY=1\nSTATUS=Accepting clients on port " + std::to_string(settings.port));
  const StopMode stop_mode = server.Run();
  Notify("STOPPING=1");
  if (stop_mode == StopMode::kGraceful && replicator != nullptr) {
    WaitForTwin(replicator.get());
  }
  admin.Stop();
  if (replicator) {
    replicator->Stop();
  }
  // A graceful stop (SIGUSR1, `shutdown graceful`, SIGTERM with -e) keeps
  // the cache for the next start: clients and the link are stopped, so the
  // store and the stream identity no longer change.
  if (!memory_file.empty() && stop_mode == StopMode::kGraceful) {
    SnapshotMeta meta;
    meta.node_id = store.options().node_id;
    meta.identity = identity;
    if (replicator) {
      meta.stream = replicator->Identity();
    }
    SaveStore(memory_file, &store, meta);
  }
  if (!settings.pid_file.empty()) {
    unlink(settings.pid_file.c_str());
  }
  Log(LogLevel::kInfo, "stopped", {{"pid", std::to_string(getpid())}});
  return 0;
}

}  // namespace
}  // namespace twincache

int main(int argc, char** argv) { return twincache::Main(argc, argv); }
