#include "core/config/settings.h"

#include "core/config/command_line.h"
#include "core/config/extended_options.h"

#include <CLI/CLI.hpp>

#include <algorithm>
#include <cctype>
#include <charconv>
#include <optional>
#include <string_view>
#include <vector>

namespace twincache {
namespace {

constexpr size_t kItemSizeMin = 1024;  // memcached: "Item max size cannot be less than 1024 bytes."

// Client TLS and ASCII auth, as memcached.c main() checks them: notls:
// only with -Z; -Z needs a certificate (memcached fails loading a NULL
// chain file); -Y cannot go with SASL, which needs the binary protocol.
std::string ValidateTls(const Settings& s) {
  if (!s.ssl_enabled && s.listen.find(kNoTlsPrefix) != std::string::npos) {
    return "'notls' option is valid only when SSL is enabled";
  }
  if (s.ssl_enabled && s.ssl_chain_cert.empty()) {
    return "-Z needs -o ssl_chain_cert=FILE (the server's certificate chain, PEM)";
  }
  if (!s.auth_file.empty() && s.sasl) {
    return "ERROR: You cannot allow the BINARY protocol while using ascii authentication tokens.";
  }
  return "";
}

// Checks the combinations memcached checks after parsing (memcached.c main()).
std::string Validate(const Settings& s) {
  if (s.udp_port != 0) {
    return "UDP not supported by twincached (-U " + std::to_string(s.udp_port) + "): use -U 0";
  }
  if (s.threads < 1) {
    return "number of threads (-t) must be at least 1";
  }
  if (s.max_connections < 1) {
    return "connection limit (-c) must be at least 1";
  }
  if (s.memory_limit_mb < 1) {
    return "memory limit (-m) must be at least 1 megabyte";
  }
  if (s.item_size_max < kItemSizeMin) {
    return "item max size (-I) cannot be less than 1024 bytes";
  }
  if (s.item_size_max > kItemSizeLimit) {
    return "item max size (-I) cannot be larger than 1 GB";
  }
  if (s.repl_ack_timeout_ms < 1) {
    return "--repl-ack-timeout-ms must be at least 1";
  }
  if (s.repl_tombstone_ttl_s < 1) {
    return "--repl-tombstone-ttl must be at least 1 second";
  }
  if (s.repl_initial_sync_timeout_s < 0) {
    return "--repl-initial-sync-timeout cannot be negative";
  }
  if (s.item_size_max > (s.memory_limit_mb << 20) / 2) {
    return "item max size (-I) cannot be higher than 1/2 of the memory limit (-m)";
  }
  return ValidateTls(s);
}

}  // namespace

bool ParseSize(const std::string& text, size_t* bytes) {
  if (text.empty()) {
    return false;
  }
  size_t number = 0;
  const char* end = text.data() + text.size();
  auto [ptr, ec] = std::from_chars(text.data(), end, number);
  if (ec != std::errc() || ptr == text.data()) {
    return false;
  }
  size_t unit = 1;
  if (ptr != end) {
    if (ptr + 1 != end) {
      return false;
    }
    switch (std::tolower(static_cast<unsigned char>(*ptr))) {
      case 'k':
        unit = 1u << 10;
        break;
      case 'm':
        unit = 1u << 20;
        break;
      case 'g':
        unit = 1u << 30;
        break;
      default:
        return false;
    }
  }
  if (number > SIZE_MAX / unit) {
    return false;
  }
  *bytes = number * unit;
  return true;
}

namespace {

// A TCP port 1..65535, the whole of `text`.
bool ParsePort(std::string_view text, uint16_t* port) {
  uint16_t p = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), p);
  if (ec != std::errc() || end != text.data() + text.size() || p == 0) {
    return false;
  }
  *port = p;
  return true;
}

}  // namespace

std::string_view BindingProtocolName(BindingProtocol protocol) {
  switch (protocol) {
    case BindingProtocol::kAscii:
      return "ascii";
    case BindingProtocol::kBinary:
      return "binary";
    case BindingProtocol::kAuto:
      break;
  }
  return "auto-negotiate";
}

std::string_view SslVersionName(int version) {
  switch (version) {
    case 0:
      return "tlsv1.0";
    case 1:
      return "tlsv1.1";
    case 2:
      return "tlsv1.2";
    case 3:
      return "tlsv1.3";
    default:
      return "unknown";
  }
}

std::string DefaultAdminListen(uint16_t port) {
  constexpr uint16_t kAdminPortOffset = 2;  // 11211 -> 11213
  const uint16_t admin = port <= UINT16_MAX - kAdminPortOffset ? port + kAdminPortOffset : 0;
  return JoinHostPort("127.0.0.1", admin);
}

std::string JoinHostPort(std::string_view host, uint16_t port) {
  std::string out =
      host.find(':') == std::string_view::npos ? std::string(host) : "[" + std::string(host) + "]";
  return out + ":" + std::to_string(port);
}

bool SplitHostPort(const std::string& text, std::string* host, uint16_t* port) {
  std::string h = text;
  std::string port_text;
  if (!text.empty() && text.front() == '[') {
    size_t close = text.find(']');
    if (close == std::string::npos) {
      return false;
    }
    h = text.substr(1, close - 1);
    if (close + 1 < text.size()) {
      if (text[close + 1] != ':') {
        return false;
      }
      port_text = text.substr(close + 2);
    }
  } else if (std::count(text.begin(), text.end(), ':') == 1) {
    size_t colon = text.find(':');
    h = text.substr(0, colon);
    port_text = text.substr(colon + 1);
  }
  if (h.empty()) {
    return false;
  }
  if ((!port_text.empty() || text.back() == ':') && !ParsePort(port_text, port)) {
    return false;
  }
  *host = h;
  return true;
}

ParseOutcome ParseSettings(int argc, const char* const* argv, Settings* settings) {
  ParseOutcome outcome;
  CLI::App app{"twincached: a memcached-compatible cache that replicates to a twin"};
  app.set_config("--config", "", "read settings from FILE (the long option names as keys)");
  app.allow_config_extras(CLI::config_extras_mode::error);
  app.set_version_flag("-V,--version",
                       VersionLine("twincached") + " (memcached protocol " + kProtocolVersion + ")");

  std::string item_size = std::to_string(settings->item_size_max);
  app.add_option("-p,--port", settings->port, "TCP port to listen on (default 11211)");
  // memcached joins repeated -l with ','.
  std::vector<std::string> listen_list;
  app.add_option("-l,--listen", listen_list,
                 "interface(s) to listen on, comma separated or repeated (default: all); with -Z, "
                 "notls:ADDR stays in clear")
      ->expected(1)
      ->multi_option_policy(CLI::MultiOptionPolicy::TakeAll);
  app.add_option("-m,--memory-limit", settings->memory_limit_mb, "item memory in megabytes (default 64)");
  app.add_option("-c,--conn-limit", settings->max_connections, "max simultaneous connections (default 1024)");
  app.add_option("-t,--threads", settings->threads, "number of worker threads (default 4)");
  app.add_option("-u,--user", settings->user, "assume the identity of USER (when run as root)");
  app.add_flag("-d,--daemon", settings->daemonize, "run as a daemon");
  app.add_option("-P,--pidfile", settings->pid_file, "save the PID in FILE (with -d)");
  app.add_flag("-v,--verbose", settings->verbosity, "verbose (print errors/warnings; -vv: also commands)");
  app.add_option("-U,--udp-port", settings->udp_port, "UDP port; only 0 (off) is supported");
  app.add_option("-I,--max-item-size", item_size, "max item size, with k/m suffix (default 1m)");
  app.add_flag("-M,--disable-evictions", settings->no_evict, "return an error when memory is exhausted");
  app.add_option("-b,--listen-backlog", settings->backlog, "listen backlog (default 1024)");
  std::string protocol = "auto";
  app.add_option("-B,--protocol", protocol, "client protocol: auto (default), ascii or binary")
      ->check(CLI::IsMember({"auto", "ascii", "binary"}));
  app.add_flag(
      "-S,--enable-sasl", settings->sasl,
      "turn on SASL authentication (binary protocol; SASL_CONF_PATH, MEMCACHED_SASL_PWDB as memcached)");
  std::string peer;
  std::string repl_port;
  std::string repl_ack = "async";
  std::string backlog_size = std::to_string(settings->repl_backlog_size);
  app.add_option("-x,--peer", peer, "replicate with this twin: HOST[:PORT] (repcached -x)");
  app.add_option("-X,--repl-port", repl_port, "replication ports LISTEN[:CONNECT] (default 11212)");
  app.add_option("--repl-listen", settings->repl_listen, "address of the replication listener");
  app.add_option("--repl-secret-file", settings->repl_secret_file, "file with the link's shared secret");
  app.add_option("--repl-ack", repl_ack, "async (default) or sync: reply after the peer applied the write")
      ->check(CLI::IsMember({"async", "sync"}));
  app.add_option("--repl-ack-timeout-ms", settings->repl_ack_timeout_ms,
                 "sync mode: answer anyway after (100)");
  app.add_option("--repl-backlog-size", backlog_size, "backlog for partial resync, k/m suffix (64m)");
  app.add_option("--repl-sync-rate", settings->repl_sync_rate_mbps, "full sync limit in MB/s (0: none)");
  app.add_option("--repl-tombstone-ttl", settings->repl_tombstone_ttl_s,
                 "seconds deletes are remembered (600)");
  app.add_option("--repl-initial-sync-timeout", settings->repl_initial_sync_timeout_s,
                 "seconds to wait for the peer before serving unsynced (30)");
  app.add_option("--admin-listen", settings->admin_listen,
                 "HTTP admin endpoint HOST:PORT for /health, /stats, /metrics, /role, or off "
                 "(127.0.0.1 and the client port + 2: 11213 for -p 11211)");
  // Admin endpoint credentials (core/admin/admin_token.h).
  app.add_option("--admin-token-file", settings->admin_token_file,
                 "file whose token POST /role and /maintenance require (Authorization: Bearer); "
                 "the packages create /etc/twincache/admin.token, root:twincache 0640");
  app.add_flag(
      "--strict-keys", settings->strict_keys,
      "refuse keys with control characters (protocol.txt's rule; memcached and the default accept them)");
  // Older twincached refused control characters unless given --lenient-keys;
  // memcached's rule is the default now, and the flag is still taken.
  bool lenient_keys = false;
  app.add_flag("--lenient-keys", lenient_keys,
               "accept keys with control characters (the default; kept for old command lines)");
  app.add_option("-e,--memory-file", settings->memory_file,
                 "warm restart: a graceful stop (SIGTERM, SIGUSR1) saves the cache to PATH, the next start "
                 "loads it and catches up from the twin");
  app.add_flag("-A,--enable-shutdown", settings->shutdown_command,
               "enable the `shutdown [graceful]` command (memcached -A)");
  // Client TLS and ASCII auth (memcached -Z, -Y); the ssl_* keys are -o keys.
  app.add_flag("-Z,--enable-ssl", settings->ssl_enabled,
               "client TLS on every -l listener but notls: ones (-o ssl_chain_cert, ssl_key, ssl_ca_cert, "
               "ssl_verify_mode, ssl_min_version)");
  app.add_option("-Y,--auth-file", settings->auth_file,
                 "ASCII protocol authentication: a file of user:password lines (re-read on SIGHUP)");
  std::vector<std::string> extended;
  app.add_option("-o,--extended", extended,
                 "memcached's extended options key[=value],... (idle_timeout takes effect; memcached "
                 "internals are accepted with a warning)")
      ->expected(1)
      ->multi_option_policy(CLI::MultiOptionPolicy::TakeAll);
  // Each -o key is also a key of the config file (extended_options.h);
  // hidden from --help.
  const std::span<const ExtendedOptionSpec> specs = ExtendedOptionSpecs();
  std::vector<std::string> config_values(specs.size());
  std::vector<CLI::Option*> config_options;
  for (size_t i = 0; i < specs.size(); ++i) {
    config_options.push_back(app.add_option("--" + std::string(specs[i].key), config_values[i])->group(""));
  }

  outcome = ParseCommandLine(app, argc, argv, kExitUsage);
  if (!outcome.ok) {
    return outcome;
  }
  outcome.ok = false;  // until every value is checked
  if (!listen_list.empty()) {
    settings->listen.clear();
    for (const std::string& entry : listen_list) {
      settings->listen += (settings->listen.empty() ? "" : ",") + entry;
    }
  }
  // The file's -o keys first, then -o (or the file's `extended`), so the
  // command line wins as it does for every other setting.
  for (size_t i = 0; i < specs.size(); ++i) {
    if (config_options[i]->count() == 0) {
      continue;
    }
    std::optional<std::string_view> value = config_values[i];
    if (specs[i].value == ExtendedValue::kNone) {
      if (config_values[i] == "false") {
        continue;
      }
      if (config_values[i] != "true") {
        outcome.exit_code = kExitUsage;
        outcome.message = std::string(specs[i].key) + " takes true or false: " + config_values[i];
        return outcome;
      }
      value.reset();
    }
    if (!ApplyExtendedOption(specs[i].key, value, settings, &outcome.message)) {
      outcome.exit_code = kExitUsage;
      return outcome;
    }
  }
  for (const std::string& list : extended) {
    if (!ApplyExtendedOptions(list, settings, &outcome.message)) {
      outcome.exit_code = kExitUsage;
      return outcome;
    }
  }
  if (!ParseSize(item_size, &settings->item_size_max)) {
    outcome.exit_code = kExitUsage;
    outcome.message = "bad max item size (-I): " + item_size;
    return outcome;
  }
  if (!ParseSize(backlog_size, &settings->repl_backlog_size) || settings->repl_backlog_size == 0) {
    outcome.exit_code = kExitUsage;
    outcome.message = "bad replication backlog size (--repl-backlog-size): " + backlog_size;
    return outcome;
  }
  settings->repl_ack_sync = repl_ack == "sync";
  settings->protocol = protocol == "ascii"    ? BindingProtocol::kAscii
                       : protocol == "binary" ? BindingProtocol::kBinary
                                              : BindingProtocol::kAuto;
  if (settings->sasl) {
    // SASL is binary-only: -S alone means -B binary, and an explicit ascii or
    // auto is refused as memcached refuses it (memcached.c main).
    if (app.get_option("--protocol")->count() > 0 && settings->protocol != BindingProtocol::kBinary) {
      outcome.exit_code = kExitUsage;
      outcome.message = "ERROR: You cannot allow the ASCII protocol while using SASL.";
      return outcome;
    }
    settings->protocol = BindingProtocol::kBinary;
  }
  if (!settings->auth_file.empty() && !settings->sasl) {
    // -Y speaks the ASCII protocol only (memcached.c main: binding_protocol
    // becomes ascii_prot; an explicit -B binary or auto is refused).
    if (app.get_option("--protocol")->count() > 0 && settings->protocol != BindingProtocol::kAscii) {
      outcome.exit_code = kExitUsage;
      outcome.message =
          "ERROR: You cannot allow the BINARY protocol while using ascii authentication tokens.";
      return outcome;
    }
    settings->protocol = BindingProtocol::kAscii;
  }
  if (!repl_port.empty()) {
    // repcached: -X LISTEN[:CONNECT]; one number sets both.
    std::string listen_text = repl_port.substr(0, repl_port.find(':'));
    std::string connect_text =
        repl_port.find(':') == std::string::npos ? listen_text : repl_port.substr(repl_port.find(':') + 1);
    if (!ParsePort(listen_text, &settings->repl_listen_port) ||
        !ParsePort(connect_text, &settings->repl_connect_port)) {
      outcome.exit_code = kExitUsage;
      outcome.message = "bad replication port (-X LISTEN[:CONNECT]): " + repl_port;
      return outcome;
    }
  }
  if (!peer.empty() && !SplitHostPort(peer, &settings->peer_host, &settings->repl_connect_port)) {
    outcome.exit_code = kExitUsage;
    outcome.message = "bad peer (-x HOST[:PORT]): " + peer;
    return outcome;
  }
  if (settings->admin_listen.empty()) {
    settings->admin_listen = DefaultAdminListen(settings->port);
  }
  settings->config_file = app.get_config_ptr()->as<std::string>();
  outcome.message = Validate(*settings);
  if (!outcome.message.empty()) {
    outcome.exit_code = kExitUsage;
    return outcome;
  }
  outcome.ok = true;
  return outcome;
}

}  // namespace twincache
