// Command line of twincache-check (CLI11), in the daemon's style: parsing
// never prints or exits; main.cc does.
#ifndef TWINCACHE_HEALTHCHECK_CHECK_OPTIONS_H_
#define TWINCACHE_HEALTHCHECK_CHECK_OPTIONS_H_

#include "core/config/settings.h"
#include "healthcheck/check.h"

namespace twincache {

/// Exit status for bad usage. keepalived counts any non-zero exit as a failed
/// check, so a broken track_script command line fails (visibly) rather than
/// passes.
inline constexpr int kCheckExitUsage = 2;

/// Parses argv into *options: --host, --port, --admin HOST:PORT|off,
/// --timeout-ms (1..60000), --max-memory-percent (0..100, 0 = off),
/// --require-sync auto|on|off, --maintenance-file PATH ("" = none),
/// --track-file PATH|off (not empty, not a directory name), --tls with --tls-ca FILE, --tls-insecure,
/// --tls-name NAME, --tls-cert FILE, --tls-key FILE (which need --tls), --auth-file FILE, -q/--quiet,
/// -v/--verbose,
/// --version, --help.
/// Errors have exit_code kCheckExitUsage and a one-line message. Thread safety: not thread safe (CLI11); call
/// once at start.
ParseOutcome ParseCheckOptions(int argc, const char* const* argv, CheckOptions* options);

}  // namespace twincache

#endif  // TWINCACHE_HEALTHCHECK_CHECK_OPTIONS_H_
