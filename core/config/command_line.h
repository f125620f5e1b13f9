// The command-line handling every twincache program shares (twincached,
// twincache-check, twincache-notify): CLI11 parses, the caller prints and
// exits, so parsing can be unit-tested.
#ifndef TWINCACHE_CORE_CONFIG_COMMAND_LINE_H_
#define TWINCACHE_CORE_CONFIG_COMMAND_LINE_H_

#include <CLI/CLI.hpp>

#include <string>

#include "core/config/settings.h"

namespace twincache {

/// "PROGRAM VERSION", e.g. "twincache-check 0.1.0": what --version prints.
std::string VersionLine(const std::string& program);

/// Runs app.parse(argc, argv): --version and --help give exit_now with the
/// text to print on stdout and exit_code 0; a CLI11 parse error gives
/// exit_code `usage_exit` (kExitUsage for the daemon, as memcached; 2 for the
/// keepalived programs) and CLI11's one-line message; otherwise ok, and the
/// caller goes on validating the values. Never prints or exits. Thread
/// safety: as CLI11, one thread.
ParseOutcome ParseCommandLine(CLI::App& app, int argc, const char* const* argv, int usage_exit);

}  // namespace twincache

#endif  // TWINCACHE_CORE_CONFIG_COMMAND_LINE_H_
