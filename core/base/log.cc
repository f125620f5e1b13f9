#include "core/base/log.h"

#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <ctime>

namespace twincache {
namespace {

std::atomic<int> g_level{static_cast<int>(LogLevel::kInfo)};
std::string g_program = "twincached";

const char* LevelName(LogLevel level) {
  switch (level) {
    case LogLevel::kDebug:
      return "debug";
    case LogLevel::kInfo:
      return "info";
    case LogLevel::kWarning:
      return "warning";
    case LogLevel::kError:
      return "error";
  }
  return "info";
}

void AppendValue(std::string* line, std::string_view value) {
  bool quote = value.empty() || value.find_first_of(" \"=\t") != std::string_view::npos;
  if (!quote) {
    line->append(value);
    return;
  }
  line->push_back('"');
  for (char c : value) {
    if (c == '"' || c == '\\') {
      line->push_back('\\');
    }
    if (c == '\n') {
      line->append("\\n");
      continue;
    }
    line->push_back(c);
  }
  line->push_back('"');
}

}  // namespace

void SetLogLevel(LogLevel level) { g_level.store(static_cast<int>(level)); }

void SetLogProgram(std::string_view program) { g_program = std::string(program); }

bool LogEnabled(LogLevel level) { return static_cast<int>(level) >= g_level.load(std::memory_order_relaxed); }

void Log(LogLevel level, std::string_view event, std::initializer_list<LogField> fields) {
  if (!LogEnabled(level)) {
    return;
  }
  timespec ts{};
  clock_gettime(CLOCK_REALTIME, &ts);
  tm utc{};
  gmtime_r(&ts.tv_sec, &utc);
  char stamp[40];
  size_t n = strftime(stamp, sizeof(stamp), "%Y-%m-%dT%H:%M:%S", &utc);
  snprintf(stamp + n, sizeof(stamp) - n, ".%03ldZ", ts.tv_nsec / 1000000);

  std::string line;
  line.reserve(128);
  line.append(stamp).append(" ").append(g_program).append(" level=").append(LevelName(level));
  line.append(" event=");
  AppendValue(&line, event);
  for (const auto& [key, value] : fields) {
    line.push_back(' ');
    line.append(key).push_back('=');
    AppendValue(&line, value);
  }
  line.push_back('\n');
  // One write per line; a short write to a pipe of this size does not happen.
  ssize_t ignored = write(STDERR_FILENO, line.data(), line.size());
  (void)ignored;
}

std::string LogList(const std::vector<std::string>& items) {
  if (items.empty()) {
    return "none";
  }
  std::string out;
  for (const std::string& item : items) {
    if (!out.empty()) {
      out.push_back(',');
    }
    out.append(item);
  }
  return out;
}

}  // namespace twincache
