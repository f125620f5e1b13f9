#include "keepalived/fork_sequence.h"

#include <unistd.h>

#include <charconv>
#include <fstream>
#include <string>

namespace twincache {
namespace {

constexpr uint64_t kPidSlots = 10'000'000;  // > PID_MAX_LIMIT (2^22)
constexpr int kStartTimeField = 22;         // proc(5), /proc/PID/stat

}  // namespace

std::optional<uint64_t> ParseStartTime(std::string_view proc_stat) {
  size_t paren = proc_stat.rfind(')');
  if (paren == std::string_view::npos) {
    return std::nullopt;
  }
  // After "pid (comm)" come fields 3, 4, ...; each preceded by one space.
  std::string_view rest = proc_stat.substr(paren + 1);
  for (int field = 3; field <= kStartTimeField; ++field) {
    if (rest.empty() || rest[0] != ' ') {
      return std::nullopt;
    }
    rest.remove_prefix(1);
    size_t end = rest.find_first_of(" \n");
    std::string_view token = rest.substr(0, end);
    if (field == kStartTimeField) {
      uint64_t value = 0;
      auto [ptr, ec] = std::from_chars(token.data(), token.data() + token.size(), value);
      if (ec != std::errc() || ptr != token.data() + token.size() || token.empty()) {
        return std::nullopt;
      }
      return value;
    }
    if (end == std::string_view::npos) {
      return std::nullopt;
    }
    rest.remove_prefix(end);
  }
  return std::nullopt;
}

std::optional<uint64_t> ReadStartTime() {
  std::ifstream in("/proc/self/stat");
  std::string line;
  if (!std::getline(in, line)) {
    return std::nullopt;
  }
  return ParseStartTime(line);
}

uint64_t BootTimeTicks(const timespec& boottime) {
  long hz = sysconf(_SC_CLK_TCK);
  if (hz <= 0) {
    hz = 100;
  }
  return static_cast<uint64_t>(boottime.tv_sec) * static_cast<uint64_t>(hz) +
         static_cast<uint64_t>(boottime.tv_nsec) * static_cast<uint64_t>(hz) / 1'000'000'000u;
}

uint64_t SequenceNumber(uint64_t start_ticks, int64_t pid) {
  return start_ticks * kPidSlots + static_cast<uint64_t>(pid) % kPidSlots;
}

uint64_t ThisProcessSequence(const timespec& boottime, bool* from_proc) {
  std::optional<uint64_t> start_ticks = ReadStartTime();
  if (from_proc != nullptr) {
    *from_proc = start_ticks.has_value();
  }
  return SequenceNumber(start_ticks.value_or(BootTimeTicks(boottime)), getpid());
}

timespec ForkRealtime(uint64_t seq, const timespec& realtime, const timespec& boottime) {
  constexpr int64_t kNanos = 1'000'000'000;
  long hz = sysconf(_SC_CLK_TCK);
  if (hz <= 0) {
    hz = 100;
  }
  const int64_t start_ns = static_cast<int64_t>(seq / kPidSlots) * (kNanos / hz);
  const int64_t boot_ns = int64_t{boottime.tv_sec} * kNanos + boottime.tv_nsec;
  const int64_t since_fork = boot_ns > start_ns ? boot_ns - start_ns : 0;
  const int64_t fork_ns = int64_t{realtime.tv_sec} * kNanos + realtime.tv_nsec - since_fork;
  return timespec{static_cast<time_t>(fork_ns / kNanos), static_cast<long>(fork_ns % kNanos)};
}

}  // namespace twincache
