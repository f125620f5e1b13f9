#include "keepalived/notify.h"

#include <errno.h>
#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <charconv>
#include <cstring>
#include <thread>

#include <nlohmann/json.hpp>

#include "core/base/errno_text.h"
#include "core/config/settings.h"
#include "core/http/http_client.h"

namespace twincache::notify {
namespace {

constexpr size_t kMaxBodyInDetail = 200;  // bytes of an error reply quoted in the log
// Longest wait for one connect on loopback, where a connect that is not done
// at once had its SYN dropped (see PostRole).
constexpr std::chrono::milliseconds kConnectAttempt(100);
// Pace of fresh connects to an admin port that refuses them (see PostRole).
constexpr std::chrono::milliseconds kRefusedRetry(50);
// The notify log's lock (AppendLineInOrder): the longest wait, its pace, and
// how much of the file's end is read to place a line (hooks racing each
// other are seconds apart at most: a few lines).
constexpr std::chrono::milliseconds kLogLockWait(200);
constexpr std::chrono::milliseconds kLogLockRetry(1);
constexpr size_t kLogTailBytes = 4096;
constexpr std::ptrdiff_t kLogFields = 5;  // TIME NAME STATE PRIORITY SEQ
// No new attempt with less than this left: room for one request.
constexpr std::chrono::milliseconds kRequestReserve(2 * kConnectAttempt);
// An attempt's exchange ends by this share of the time left (numerator over
// 10); the rest is for the summary line (syslog) before the deadline.
constexpr int kExchangeShareTenths = 9;

std::optional<int> ParsePriority(std::string_view text) {
  int value = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (ec != std::errc() || end != text.data() + text.size() || value < 0 || value > 255) {
    return std::nullopt;
  }
  return value;
}

// mkdir -p for the parent directories of `path`.
bool MakeParents(const std::string& path, std::string* error) {
  for (size_t slash = path.find('/', 1); slash != std::string::npos; slash = path.find('/', slash + 1)) {
    std::string dir = path.substr(0, slash);
    if (mkdir(dir.c_str(), 0755) != 0 && errno != EEXIST) {
      *error = FileErrorText("cannot create directory", dir, errno);
      return false;
    }
  }
  return true;
}

// Milliseconds from now to `deadline`, at least 1.
std::chrono::milliseconds Remaining(std::chrono::steady_clock::time_point deadline) {
  auto left =
      std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
  return std::max(left, std::chrono::milliseconds(1));
}

}  // namespace

bool IsState(std::string_view state) {
  static constexpr std::array<std::string_view, 5> kStates = {"MASTER", "BACKUP", "FAULT", "STOP", "DELETED"};
  return std::find(kStates.begin(), kStates.end(), state) != kStates.end();
}

std::optional<Transition> ParseTransition(const HookArguments& args, std::string* error) {
  Transition t;
  const std::vector<std::string>& pos = args.positionals;
  if (pos.size() == 4) {
    // Generic notify: INSTANCE|GROUP NAME STATE PRIORITY.
    if (pos[0] != "INSTANCE" && pos[0] != "GROUP") {
      *error = "expected INSTANCE or GROUP, got '" + pos[0] + "'";
      return std::nullopt;
    }
    if (!args.state.empty() || !args.instance.empty() || args.priority) {
      *error = "--state, --instance and --priority are for the single-state form only";
      return std::nullopt;
    }
    t.name = pos[1];
    t.state = pos[2];
    t.priority = ParsePriority(pos[3]);
    if (!t.priority) {
      *error = "priority must be an integer in 0..255, got '" + pos[3] + "'";
      return std::nullopt;
    }
  } else if (pos.size() <= 1) {
    // notify_master/backup/fault: STATE, or --state.
    if (pos.size() == 1 && !args.state.empty()) {
      *error = "state given twice ('" + pos[0] + "' and --state " + args.state + ")";
      return std::nullopt;
    }
    t.state = pos.empty() ? args.state : pos[0];
    if (t.state.empty()) {
      *error = "no state given";
      return std::nullopt;
    }
    if (!args.instance.empty()) {
      t.name = args.instance;
    }
    if (args.priority) {
      if (*args.priority < 0 || *args.priority > 255) {
        *error = "priority must be in 0..255";
        return std::nullopt;
      }
      t.priority = args.priority;
    }
  } else {
    *error = "expected STATE or INSTANCE|GROUP NAME STATE PRIORITY, got " + std::to_string(pos.size()) +
             " arguments";
    return std::nullopt;
  }
  if (!IsState(t.state)) {
    *error = "unknown state '" + t.state + "' (MASTER BACKUP FAULT STOP DELETED)";
    return std::nullopt;
  }
  if (t.name.empty() || t.name.find_first_of(" \t\n") != std::string::npos) {
    *error = "instance name must be one word";
    return std::nullopt;
  }
  return t;
}

std::string FormatUtcMillis(const timespec& ts) {
  struct tm utc;
  gmtime_r(&ts.tv_sec, &utc);
  char buf[40];
  size_t n = strftime(buf, sizeof(buf), "%Y-%m-%dT%H:%M:%S", &utc);
  snprintf(buf + n, sizeof(buf) - n, ".%03ldZ", ts.tv_nsec / 1'000'000);
  return buf;
}

std::string LogLine(const timespec& fork_time, const Transition& transition, uint64_t seq) {
  std::string priority = transition.priority ? std::to_string(*transition.priority) : "-";
  return FormatUtcMillis(fork_time) + " " + transition.name + " " + transition.state + " " + priority + " " +
         std::to_string(seq) + "\n";
}

size_t InsertionPoint(std::string_view tail, uint64_t seq) {
  size_t start = 0;
  while (start < tail.size()) {
    size_t end = tail.find('\n', start);
    if (end == std::string_view::npos) {
      break;  // a line still being written: not ours to judge
    }
    std::string_view line = tail.substr(start, end - start);
    // TIME NAME STATE PRIORITY SEQ: five fields. Lines of another shape
    // (written before SEQ was logged: four) count as older.
    if (std::count(line.begin(), line.end(), ' ') == kLogFields - 1) {
      std::string_view last = line.substr(line.rfind(' ') + 1);
      uint64_t line_seq = 0;
      auto [ptr, ec] = std::from_chars(last.data(), last.data() + last.size(), line_seq);
      if (ec == std::errc() && ptr == last.data() + last.size() && line_seq > seq) {
        return start;
      }
    }
    start = end + 1;
  }
  return tail.size();
}

bool AppendLineInOrder(const std::string& path, std::string_view line, uint64_t seq, std::string* error) {
  if (!MakeParents(path, error)) {
    return false;
  }
  int fd = open(path.c_str(), O_RDWR | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
  if (fd < 0) {
    *error = FileErrorText("cannot open", path, errno);
    return false;
  }
  // Every hook holds the lock from reading the tail to its write; one that
  // cannot get it in time appends at the end (a line out of order beats a
  // lost one).
  const auto give_up = std::chrono::steady_clock::now() + kLogLockWait;
  bool locked = false;
  while (!(locked = flock(fd, LOCK_EX | LOCK_NB) == 0) && errno == EWOULDBLOCK &&
         std::chrono::steady_clock::now() < give_up) {
    std::this_thread::sleep_for(kLogLockRetry);
  }
  std::string text(line);
  struct stat st;
  if (locked && fstat(fd, &st) == 0 && st.st_size > 0) {
    const off_t base = st.st_size > static_cast<off_t>(kLogTailBytes) ? st.st_size - kLogTailBytes : 0;
    std::string tail(static_cast<size_t>(st.st_size - base), '\0');
    ssize_t got = pread(fd, tail.data(), tail.size(), base);
    if (got == static_cast<ssize_t>(tail.size())) {
      // From the first whole line of the tail (unless it starts the file).
      size_t first = 0;
      if (base != 0) {
        size_t newline = tail.find('\n');
        first = newline == std::string::npos ? tail.size() : newline + 1;
      }
      size_t point = first + InsertionPoint(std::string_view(tail).substr(first), seq);
      if (point < tail.size() && ftruncate(fd, base + static_cast<off_t>(point)) == 0) {
        text += tail.substr(point);  // the later hooks' lines go back after ours
      }
    }
  }
  ssize_t written = write(fd, text.data(), text.size());
  bool ok = written == static_cast<ssize_t>(text.size());
  if (!ok) {
    *error = written < 0 ? FileErrorText("cannot write", path, errno) : "short write to " + path;
  }
  close(fd);  // drops the lock
  return ok;
}

std::string RoleBody(const Transition& transition, uint64_t seq) {
  nlohmann::json body = {{"role", transition.state},
                         {"instance", transition.name},
                         {"priority", transition.priority.value_or(0)},
                         {"seq", seq}};
  return body.dump();
}

PostOutcome PostRole(const std::string& admin, const std::string& body, const std::string& authorization,
                     std::chrono::steady_clock::time_point deadline) {
  PostOutcome outcome;
  std::string host;
  uint16_t port = 0;  // stays 0 when the address names no port
  if (!SplitHostPort(admin, &host, &port) || port == 0) {
    outcome.detail = "bad admin address '" + admin + "'";
    return outcome;
  }
  // A hung (SIGSTOPped) daemon still accepts into its backlog and takes the
  // request, then never answers: every attempt ends by a share of the time
  // left. A full accept queue (racing hooks can outrun the daemon's accept)
  // drops the SYN, which the kernel would resend only after 1 s: a fresh
  // connect every kConnectAttempt instead. A refused connect (nothing
  // listening yet: keepalived runs the hook as soon as a restarted daemon's
  // process appears, before its admin port is open) is retried every
  // kRefusedRetry. Neither is retried with less than kRequestReserve left.
  HttpRequest request;
  request.method = HttpMethod::kPost;
  request.target = "/role";
  request.body = body;
  request.content_type = "application/json";
  request.authorization = authorization;
  std::chrono::steady_clock::time_point started;
  auto attempt = [&]() {
    ++outcome.connect_attempts;
    started = std::chrono::steady_clock::now();
    const std::chrono::milliseconds left = Remaining(deadline);
    return HttpExchange(host, port, request, started + std::min(kConnectAttempt, left * 3 / 10),
                        started + left * kExchangeShareTenths / 10);
  };
  HttpReply result = attempt();
  while ((result.outcome == HttpOutcome::kConnectTimeout || result.outcome == HttpOutcome::kConnectFailed) &&
         Remaining(deadline) > kRequestReserve) {
    if (result.outcome == HttpOutcome::kConnectFailed) {
      std::this_thread::sleep_until(started + kRefusedRetry);
    }
    result = attempt();
  }
  if (result.outcome != HttpOutcome::kResponse) {
    const std::string why = result.outcome == HttpOutcome::kConnectTimeout ? "no connection in time"
                            : result.outcome == HttpOutcome::kTimeout      ? "no response in time"
                                                                           : result.detail;
    outcome.detail = "daemon at " + admin + " unreachable (" + why + ", " +
                     std::to_string(outcome.connect_attempts) + " connect attempts)";
    return outcome;
  }
  if (result.status != 200) {
    outcome.detail = "daemon at " + admin + " answered " + std::to_string(result.status) + ": " +
                     result.body.substr(0, kMaxBodyInDetail);
    return outcome;
  }
  outcome.delivered = true;
  nlohmann::json reply = nlohmann::json::parse(result.body, nullptr, /*allow_exceptions=*/false);
  bool applied = reply.is_object() && reply.contains("applied") && reply["applied"].is_boolean() &&
                 reply["applied"].get<bool>();
  outcome.detail = applied ? "applied" : "kept newer role";
  if (outcome.connect_attempts > 1) {
    outcome.detail += " (" + std::to_string(outcome.connect_attempts) + " connect attempts)";
  }
  return outcome;
}

}  // namespace twincache::notify
