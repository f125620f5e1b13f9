// Log: one line per event on stderr, in logfmt, for journald and grep.
//
// A line looks like
//   2026-11-21T06:00:00.123Z twincached level=info event=listening addr=127.0.0.1:11211
// Fields are key=value; values with spaces or quotes are quoted. Operators grep
// for event=, role=, peer=, offset=, reason=. Lines below the configured level
// are dropped before formatting. Modelled on Redis's serverLog (one write per line).
#ifndef TWINCACHE_CORE_BASE_LOG_H_
#define TWINCACHE_CORE_BASE_LOG_H_

#include <initializer_list>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace twincache {

enum class LogLevel { kDebug = 0, kInfo = 1, kWarning = 2, kError = 3 };

/// A field of a log line: key and already formatted value.
using LogField = std::pair<std::string_view, std::string>;

/// Sets the lowest level written (default kInfo). Thread safety: safe from any
/// thread (the level is an atomic; `verbosity N` changes it at run time).
void SetLogLevel(LogLevel level);

/// Sets the program name that starts each line. Thread safety: call before
/// other threads log.
void SetLogProgram(std::string_view program);

/// True when a line at `level` would be written.
bool LogEnabled(LogLevel level);

/// Writes one line `TIME PROGRAM level=L event=EVENT k=v ...` to stderr with a
/// single write(2), so lines from several threads never interleave.
/// Thread safety: safe from any thread.
void Log(LogLevel level, std::string_view event, std::initializer_list<LogField> fields = {});

/// A field value listing `items` comma separated ("a,b"), or "none" when
/// there are none; for fields like `keys=` and `reloaded=`. Pure.
std::string LogList(const std::vector<std::string>& items);

}  // namespace twincache

#endif  // TWINCACHE_CORE_BASE_LOG_H_
