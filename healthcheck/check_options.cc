#include "healthcheck/check_options.h"

#include "core/config/command_line.h"

#include <map>
#include <string>

namespace twincache {

ParseOutcome ParseCheckOptions(int argc, const char* const* argv, CheckOptions* options) {
  ParseOutcome outcome;
  outcome.exit_code = kCheckExitUsage;
  CLI::App app{
      "twincache-check: keepalived track_script for twincached.\n"
      "Exit 0 healthy, 1 unhealthy (reason on stderr and syslog), 2 bad usage."};
  app.set_version_flag("--version", VersionLine("twincache-check"));
  std::string admin = "127.0.0.1:11213";
  std::string require_sync = "auto";
  app.add_option("--host", options->host, "the daemon's memcached address (127.0.0.1)");
  app.add_option("--port", options->port, "the daemon's memcached port (11211)");
  app.add_option("--admin", admin, "the daemon's admin endpoint HOST:PORT, or off (127.0.0.1:11213)");
  app.add_option("--timeout-ms", options->timeout_ms, "deadline for the whole check in ms (300)")
      ->check(CLI::Range(1, 60000));
  app.add_option(
         "--max-memory-percent", options->max_memory_percent,
         "fail when items fill more than this share of -m; for -M (no eviction) setups, where a "
         "full cache refuses writes; 0 = no check, the default: an evicting cache runs full by design")
      ->check(CLI::Range(0.0, 100.0));
  app.add_option("--require-sync", require_sync,
                 "fail until the initial sync from the twin is done: auto (when a peer is configured), "
                 "on, off (auto)")
      ->check(CLI::IsMember({"auto", "on", "off"}));
  app.add_option("--maintenance-file", options->maintenance_file,
                 "planned switchover while this file exists (/etc/twincache/maintenance)");
  app.add_option("--track-file", options->track_file,
                 "after the verdict write 0 (healthy) or 1 to this keepalived track_file, or off (" +
                     std::string(kDefaultTrackFile) + ")");
  app.add_flag("--tls", options->tls.enabled,
               "speak TLS to the memcached port (a twincached -Z listener without notls:)");
  app.add_option(
      "--tls-ca", options->tls.ca_file,
      "with --tls: verify the daemon's certificate against these CAs (PEM; default: the system's)");
  bool tls_insecure = false;
  app.add_flag("--tls-insecure", tls_insecure, "with --tls: do not verify the daemon's certificate");
  app.add_option("--tls-name", options->tls.server_name,
                 "with --tls: the name the daemon's certificate must carry (default: --host)");
  app.add_option("--tls-cert", options->tls.cert_file,
                 "with --tls: client certificate, for -o ssl_verify_mode=2 (PEM)");
  app.add_option("--tls-key", options->tls.key_file, "with --tls: the client certificate's key (PEM)");
  app.add_option("--auth-file", options->auth_file,
                 "the daemon's -Y file: authenticate as its first user before `stats` (ASCII auth)");
  app.add_flag("-q,--quiet", options->quiet, "do not log to syslog");
  app.add_flag("-v,--verbose", options->verbose, "print the outcome on stdout also when healthy");
  outcome = ParseCommandLine(app, argc, argv, kCheckExitUsage);
  if (!outcome.ok) {
    return outcome;
  }
  outcome.ok = false;  // until every value is checked
  outcome.exit_code = kCheckExitUsage;
  const std::map<std::string, RequireSync> modes = {
      {"auto", RequireSync::kAuto}, {"on", RequireSync::kOn}, {"off", RequireSync::kOff}};
  options->require_sync = modes.at(require_sync);
  options->admin_enabled = admin != "off";
  if (options->admin_enabled) {
    uint16_t port = options->admin_port;  // "--admin HOST" keeps the default port
    if (!SplitHostPort(admin, &options->admin_host, &port) || port == 0) {
      outcome.message = "bad --admin (HOST:PORT or off): " + admin;
      return outcome;
    }
    options->admin_port = port;
  }
  if (options->track_file == "off") {
    options->track_file.clear();
  } else if (options->track_file.empty() || options->track_file.back() == '/') {
    outcome.message = "bad --track-file (a file, or off): '" + options->track_file + "'";
    return outcome;
  }
  options->tls.verify = !tls_insecure;
  const bool tls_details = !options->tls.ca_file.empty() || tls_insecure ||
                           !options->tls.server_name.empty() || !options->tls.cert_file.empty() ||
                           !options->tls.key_file.empty();
  if (tls_details && !options->tls.enabled) {
    outcome.message = "--tls-ca, --tls-insecure, --tls-name, --tls-cert and --tls-key need --tls";
    return outcome;
  }
  if (options->port == 0) {
    outcome.message = "bad --port: 0";
    return outcome;
  }
  outcome.exit_code = 0;
  outcome.ok = true;
  return outcome;
}

}  // namespace twincache
