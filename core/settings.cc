#include "core/settings.h"

#include <CLI/CLI.hpp>

#include <cctype>
#include <charconv>
#include <string_view>

namespace twincache {
namespace {

constexpr size_t kItemSizeMin = 1024;           // memcached: "Item max size cannot be less than 1024 bytes."
constexpr size_t kItemSizeLimit = 1024u << 20;  // memcached: "Cannot set item size limit higher than 1 GB."

// Checks the combinations memcached checks after parsing (memcached.c main()).
std::string Validate(const Settings& s) {
  if (s.udp_port != 0)
    return "UDP not supported by twincached (-U " + std::to_string(s.udp_port) + "): use -U 0";
  if (s.threads < 1) return "number of threads (-t) must be at least 1";
  if (s.max_connections < 1) return "connection limit (-c) must be at least 1";
  if (s.memory_limit_mb < 1) return "memory limit (-m) must be at least 1 megabyte";
  if (s.item_size_max < kItemSizeMin) return "item max size (-I) cannot be less than 1024 bytes";
  if (s.item_size_max > kItemSizeLimit) return "item max size (-I) cannot be larger than 1 GB";
  if (s.item_size_max > (s.memory_limit_mb << 20) / 2) {
    return "item max size (-I) cannot be higher than 1/2 of the memory limit (-m)";
  }
  return "";
}

}  // namespace

bool ParseSize(const std::string& text, size_t* bytes) {
  if (text.empty()) return false;
  size_t number = 0;
  const char* end = text.data() + text.size();
  auto [ptr, ec] = std::from_chars(text.data(), end, number);
  if (ec != std::errc() || ptr == text.data()) return false;
  size_t unit = 1;
  if (ptr != end) {
    if (ptr + 1 != end) return false;
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
  if (number > SIZE_MAX / unit) return false;
  *bytes = number * unit;
  return true;
}

ParseOutcome ParseSettings(int argc, const char* const* argv, Settings* settings) {
  ParseOutcome outcome;
  CLI::App app{"twincached: a memcached-compatible cache that replicates to a twin"};
  app.set_config("--config", "", "read settings from FILE (the long option names as keys)");
  app.allow_config_extras(CLI::config_extras_mode::error);
  app.set_version_flag("-V,--version", std::string("twincached ") + kTwincacheVersion +
                                           " (memcached protocol " + kProtocolVersion + ")");

  std::string item_size = std::to_string(settings->item_size_max);
  app.add_option("-p,--port", settings->port, "TCP port to listen on (default 11211)");
  app.add_option("-l,--listen", settings->listen,
                 "interface(s) to listen on, comma separated (default: all)");
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
  app.add_flag("--lenient-keys", settings->lenient_keys,
               "accept keys with control characters, as memcached does (e.g. memcaslap's binary key prefix)");

  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForVersion& e) {
    outcome.exit_now = true;
    outcome.message = e.what();
    return outcome;
  } catch (const CLI::Success&) {  // --help
    outcome.exit_now = true;
    outcome.message = app.help();
    return outcome;
  } catch (const CLI::ParseError& e) {
    outcome.exit_code = kExitUsage;
    outcome.message = e.what();
    return outcome;
  }
  if (!ParseSize(item_size, &settings->item_size_max)) {
    outcome.exit_code = kExitUsage;
    outcome.message = "bad max item size (-I): " + item_size;
    return outcome;
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
