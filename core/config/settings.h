// Settings: twincached's configuration, from the command line and a config file.
//
// The flags are memcached's and repcached's (-p -l -m -c -t -u -d -P -v -vv -U
// -I -M -S -B -A -Z -Y -o) with their long forms, so existing command lines and
// init scripts keep working; `--config FILE` reads the same keys (long names,
// INI/TOML "key = value" lines, via CLI11's config support), and the -o keys
// (extended_options.h). Parsing is here and not in daemon/ so tests can
// exercise it without starting a process.
#ifndef TWINCACHE_CORE_CONFIG_SETTINGS_H_
#define TWINCACHE_CORE_CONFIG_SETTINGS_H_

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "core/config/version.h"

namespace twincache {

/// The largest -I (bytes) any node accepts: memcached's "Cannot set item size
/// limit higher than 1 GB." (memcached.c). Also the largest record a twin can
/// send (core/replication/repl_session.cc, MaxFrame).
inline constexpr size_t kItemSizeLimit = 1024u << 20;

/// memcached protocol level reported by `version` and stats "version";
/// clients use it to detect features (meta commands need 1.6).
inline constexpr const char* kProtocolVersion = "1.6.21";

/// Exit code for bad flags, as memcached uses (EX_USAGE from sysexits.h).
constexpr int kExitUsage = 64;

/// Which protocol client connections speak (memcached -B, --protocol).
enum class BindingProtocol {
  kAuto,    ///< "auto": the first byte decides, 0x80 binary, else text (try_read_command_negotiate)
  kAscii,   ///< "ascii": text and meta only; a binary packet is read as text
  kBinary,  ///< "binary": binary only; a packet without the 0x80 magic closes the connection
};

/// memcached's name for `protocol` in `stats settings` binding_protocol:
/// "auto-negotiate", "ascii" or "binary" (memcached.c prot_text). Pure.
std::string_view BindingProtocolName(BindingProtocol protocol);

/// Everything that can be configured. Defaults are memcached's.
struct Settings {
  uint16_t port = 11211;            ///< -p, --port: TCP client port
  std::string listen = "";          ///< -l, --listen: address(es), comma separated; "" = all
  size_t memory_limit_mb = 64;      ///< -m, --memory-limit: megabytes for items
  size_t max_connections = 1024;    ///< -c, --conn-limit
  size_t threads = 4;               ///< -t, --threads: worker threads
  std::string user;                 ///< -u, --user: drop privileges to this user when root
  bool daemonize = false;           ///< -d, --daemon
  std::string pid_file;             ///< -P, --pidfile
  int verbosity = 0;                ///< -v (1), -vv (2), -vvv (3)
  int udp_port = 0;                 ///< -U, --udp-port: only 0 is accepted
  size_t item_size_max = 1u << 20;  ///< -I, --max-item-size: bytes (accepts k/m suffixes)
  bool no_evict = false;            ///< -M, --disable-evictions: error instead of evicting
  int backlog = 1024;               ///< -b, --listen-backlog
  bool strict_keys = false;         ///< --strict-keys: refuse control characters in keys
  bool sasl = false;                ///< -S, --enable-sasl: SASL auth (core/auth/sasl.h)
  std::string config_file;          ///< --config: file the other settings were read from
  std::string admin_listen;         ///< --admin-listen HOST:PORT for HTTP /health etc.; "off";
                                    ///< ParseSettings fills in DefaultAdminListen(port)
  bool shutdown_command = false;    ///< -A, --enable-shutdown: the `shutdown` command stops the server
  int64_t idle_timeout_s = 0;       ///< -o idle_timeout: close client connections idle this many
                                    ///< seconds; 0 = never (memcached's default)
  std::string memory_file;          ///< -e, --memory-file PATH: warm restart state file (memcached -e;
                                    ///< core/store/snapshot.h); "" = none. With it SIGTERM stops
                                    ///< gracefully and a graceful stop writes the file
  std::vector<std::string> extended_ignored;  ///< -o keys accepted without effect, as given
                                              ///< (extended_options.h), for one warning at start

  /// -B, --protocol auto|ascii|binary: the protocol of client connections.
  BindingProtocol protocol = BindingProtocol::kAuto;

  // Replication (docs/replication.md); repcached's -x and -X.
  std::string peer_host;                     ///< -x, --peer HOST[:PORT]: the twin; "" = no replication
  uint16_t repl_listen_port = 11212;         ///< -X, --repl-port LISTEN[:CONNECT]
  uint16_t repl_connect_port = 11212;        ///< the peer's replication port (CONNECT, or --peer's :PORT)
  std::string repl_listen;                   ///< --repl-listen ADDR: "" = the first -l address, else all
  std::string repl_secret_file;              ///< --repl-secret-file: HMAC secret for the link
  bool repl_ack_sync = false;                ///< --repl-ack sync|async
  int64_t repl_ack_timeout_ms = 100;         ///< --repl-ack-timeout-ms
  size_t repl_backlog_size = 64u << 20;      ///< --repl-backlog-size, bytes
  size_t repl_sync_rate_mbps = 0;            ///< --repl-sync-rate, MB/s of full sync; 0 = unlimited
  int64_t repl_tombstone_ttl_s = 600;        ///< --repl-tombstone-ttl
  int64_t repl_initial_sync_timeout_s = 30;  ///< --repl-initial-sync-timeout

  // Client TLS and ASCII authentication, memcached 1.6's -Z, -o ssl_* (tls.c,
  // memcached.c main) and -Y (authfile.c); core/net/tls_context.h and
  // core/auth/ascii_auth.h use them.
  bool ssl_enabled = false;        ///< -Z, --enable-ssl: client listeners speak TLS (but -l notls:ADDR)
  std::string ssl_chain_cert;      ///< -o ssl_chain_cert: the server's certificate chain, PEM file
  std::string ssl_key;             ///< -o ssl_key: its private key, PEM file; "" = in ssl_chain_cert
  std::string ssl_ca_cert;         ///< -o ssl_ca_cert: CAs client certificates are verified with; "" = none
  int ssl_verify_mode = 0;         ///< -o ssl_verify_mode: 0 none, 1 request, 2 require, 3 once
  int ssl_min_version = 2;         ///< -o ssl_min_version: memcached's 0..3 = TLS 1.0..1.3 (default 1.2)
  std::string ssl_ciphers;         ///< -o ssl_ciphers: OpenSSL cipher list (TLS <= 1.2); "" = OpenSSL's
  bool ssl_session_cache = false;  ///< -o ssl_session_cache: server-side session cache (ssl_new_sessions)
  std::string auth_file;           ///< -Y, --auth-file: ASCII auth `user:password` lines; "" = off

  // Admin endpoint credentials (core/admin/admin_token.h).
  std::string admin_token_file;  ///< --admin-token-file: POST /role, /maintenance need its token; "" = none

  /// Field by field. A SIGHUP reload compares the settings it re-read with
  /// the running ones (core/server/reload.h), so a new field is seen there
  /// even before the reload learns its name.
  bool operator==(const Settings&) const = default;
};

/// Splits "HOST", "HOST:PORT", "[V6]" or "[V6]:PORT" (a bare IPv6 literal
/// with several colons is a host). Keeps *port when none is given. False on a
/// bad port or empty host.
bool SplitHostPort(const std::string& text, std::string* host, uint16_t* port);

/// "HOST:PORT", the inverse of SplitHostPort: a host with a ':' (an IPv6
/// literal) goes in brackets, "[::1]:11212". The one formatter of endpoints
/// for logs, stats and messages. Pure; reentrant.
std::string JoinHostPort(std::string_view host, uint16_t port);

/// The admin endpoint of a daemon on client port `port` when --admin-listen
/// is not given: 127.0.0.1 and port + 2, so 11211 keeps the documented
/// 127.0.0.1:11213 and instances on other -p ports never collide. For a
/// port above 65533 the admin port is 0 (any free port, logged at start).
/// Pure.
std::string DefaultAdminListen(uint16_t port);

/// Result of ParseSettings.
struct ParseOutcome {
  bool ok = false;        ///< true: run with *settings
  bool exit_now = false;  ///< true: --help or --version was printed; exit with exit_code
  int exit_code = 0;      ///< kExitUsage on bad flags
  std::string message;    ///< one line for stderr when !ok (or --help/--version text)
};

/// Parses argv (memcached/repcached flags, then --config FILE if given; flags on
/// the command line win over the file). Validates like memcached: -U other than
/// 0 → "UDP not supported"; -I between 1k and 1g and at most half of -m;
/// -t ≥ 1; -c ≥ 1. Never exits or prints; the caller does.
/// Thread safety: not thread safe (CLI11); call once at start.
ParseOutcome ParseSettings(int argc, const char* const* argv, Settings* settings);

/// memcached's name of a -o ssl_min_version value (tls.c ssl_proto_text):
/// 0 "tlsv1.0", 1 "tlsv1.1", 2 "tlsv1.2", 3 "tlsv1.3". Pure.
std::string_view SslVersionName(int version);

/// The prefix of a -l entry that stays in clear under -Z (memcached's
/// "notls:"); listener.h strips it.
inline constexpr std::string_view kNoTlsPrefix = "notls:";

/// Parses a size like "1m", "512k", "1048576" into bytes; false if invalid.
bool ParseSize(const std::string& text, size_t* bytes);

}  // namespace twincache

#endif  // TWINCACHE_CORE_CONFIG_SETTINGS_H_
