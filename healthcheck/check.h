// twincache-check: keepalived's track_script program for a twincached node.
//
// keepalived runs it every `interval`; exit 0 keeps (or lets) the node hold the
// VIP, anything else counts as a failure (keepalived.conf(5), vrrp_script).
// One run, within one deadline (--timeout-ms, see deadline.h):
//  1. a memcached round trip on the client port: `stats` must come back with
//     its STAT lines and END — a daemon that is down, hung or SIGSTOPped fails;
//  2. GET /health on the admin endpoint (unless --admin off; then the same
//     facts are read from that `stats` reply): the daemon's own verdict (503 +
//     reason), memory use against --max-memory-percent, and the initial sync
//     from the twin (required by default when replication is configured);
//  3. planned switchover: while the maintenance file exists or the daemon is
//     in maintenance (POST /maintenance), the check keeps passing until the
//     twin is connected and caught up (replication connected, no unacknowledged
//     records, initial sync done) and only then fails, so keepalived moves the
//     VIP to a twin that already has every write.
// The reason for a failure (and the maintenance wait) is one line on stderr
// and in syslog; see main.cc for exit codes. After the verdict main.cc
// writes it to the track file keepalived watches (--track-file, see
// keepalived/track_file.h): "0" healthy, "1" unhealthy.
#ifndef TWINCACHE_HEALTHCHECK_CHECK_H_
#define TWINCACHE_HEALTHCHECK_CHECK_H_

#include <cstdint>
#include <string>
#include <string_view>

#include "core/replication/repl_state.h"
#include "keepalived/track_file.h"

namespace twincache {

/// --require-sync: whether an unfinished initial sync from the twin fails the
/// check. kAuto: only when the daemon has a peer configured. kOn: always, and a
/// daemon without a peer fails ("replication not configured"). kOff: never.
enum class RequireSync { kAuto, kOn, kOff };

/// How the memcached probe speaks TLS to a daemon whose checked listener is
/// TLS-only (twincached -Z without a notls: listener on --host). Off by
/// default: the packaged setup keeps 127.0.0.1 in clear (-l notls:127.0.0.1).
struct CheckTls {
  bool enabled = false;     ///< --tls
  std::string ca_file;      ///< --tls-ca FILE: CAs the daemon's certificate is verified against;
                            ///< "" = the system's default CA store
  bool verify = true;       ///< false with --tls-insecure: no certificate or name verification
  std::string server_name;  ///< --tls-name: the name the certificate must carry; "" = --host
  std::string cert_file;    ///< --tls-cert: client certificate (ssl_verify_mode 2 or 3); "" = none
  std::string key_file;     ///< --tls-key: its key; "" = in cert_file
};

/// The user the memcached probe authenticates as when the daemon runs with
/// -Y (ASCII auth); empty user: no authentication.
struct CheckCredentials {
  std::string user;
  std::string password;
};

/// The command line of twincache-check (check_options.h parses it).
struct CheckOptions {
  std::string host = "127.0.0.1";        ///< --host: the daemon's memcached address
  uint16_t port = 11211;                 ///< --port
  bool admin_enabled = true;             ///< false: --admin off (no HTTP; facts from `stats`)
  std::string admin_host = "127.0.0.1";  ///< --admin HOST:PORT: the daemon's --admin-listen
  uint16_t admin_port = 11213;
  int timeout_ms = 300;                                         ///< --timeout-ms: the whole run's deadline
  double max_memory_percent = 0;                                ///< --max-memory-percent; 0 = no memory check
  RequireSync require_sync = RequireSync::kAuto;                ///< --require-sync
  std::string maintenance_file = "/etc/twincache/maintenance";  ///< --maintenance-file
  bool quiet = false;                                           ///< -q: no syslog
  bool verbose = false;                                         ///< -v: say "ok" on stdout when healthy
  std::string track_file = kDefaultTrackFile;                   ///< --track-file; "" = off (track_file.h)
  CheckTls tls;                                                 ///< --tls and its options
  std::string auth_file;  ///< --auth-file: the daemon's -Y file; the check authenticates as its first user
};

/// What the daemon says about itself, from GET /health or from `stats`.
struct DaemonHealth {
  bool serving_ok = true;                         ///< /health: HTTP 200 and "status":"ok"
  std::string unhealthy_reason;                   ///< /health "reason" when !serving_ok
  bool maintenance = false;                       ///< /health "maintenance", stats `maintenance 1`
  bool repl_configured = false;                   ///< a peer is configured (stats: any repl_state line)
  ReplState repl_state = ReplState::kNone;        ///< the link; an unknown spelling reads as kNone
  InitialSync initial_sync = InitialSync::kNone;  ///< an unknown spelling reads as kPending (fails closed)
  uint64_t lag_records = 0;                       ///< writes not yet acknowledged by the twin
  bool memory_known = false;                      ///< false when the source gave no memory figures
  double memory_percent = 0;                      ///< memory used / limit * 100
};

/// Reads a `stats` reply ("STAT name value\r\n"... "END\r\n") into *health:
/// memory percent = bytes / limit_maxbytes, replication from repl_state,
/// repl_initial_sync and repl_lag_records (present only with a peer),
/// maintenance from `maintenance`. False with *error when the reply has no
/// `STAT pid` line (not a memcached stats reply). Thread safety: reentrant.
bool HealthFromStats(std::string_view reply, DaemonHealth* health, std::string* error);

/// Reads GET /health's answer (the admin endpoint's JSON, core/admin/health.h) into
/// *health. HTTP 200 and 503 carry the body; any other status, or a body that
/// is not a JSON object with the documented field types, is false with
/// *error ("admin endpoint answered HTTP 404", "bad /health body: ...").
/// Thread safety: reentrant.
bool HealthFromJson(int http_status, std::string_view body, DaemonHealth* health, std::string* error);

/// The outcome of one check. `reason` is the line to report: why the node is
/// unhealthy, or for a healthy node a note worth logging (the maintenance
/// wait), or empty.
struct Verdict {
  bool healthy = true;
  std::string reason;
};

/// Applies the rules of check.h's header comment to what the daemon reported,
/// in this order: the daemon's own unhealthy verdict (an "initial sync
/// pending" one is ignored under --require-sync off), memory above the limit,
/// the initial sync requirement, then maintenance (`maintenance_file_exists`
/// or health.maintenance). Pure; thread safety: reentrant.
Verdict Evaluate(const CheckOptions& options, const DaemonHealth& health, bool maintenance_file_exists);

/// Runs the whole check against the local daemon within options.timeout_ms:
/// FetchStats (as the first user of --auth-file when given; a file that
/// cannot be read or has no user fails the check), then FetchHealth (unless
/// --admin off), then Evaluate. Never
/// blocks past the deadline except in name resolution of a --host/--admin
/// given as a name (use addresses). Thread safety: reentrant.
Verdict RunCheck(const CheckOptions& options);

}  // namespace twincache

#endif  // TWINCACHE_HEALTHCHECK_CHECK_H_
