// twincache-notify: keepalived's notify hook (see notify.h).
//
//   twincache-notify [--log-file F] [--admin HOST:PORT|off] [--track-file F|off]
//                    [--token-file F|off]
//                    INSTANCE|GROUP NAME STATE PRIORITY
//   twincache-notify [...] [--instance NAME] [--priority N] STATE
//   twincache-notify ... --state STATE
//
// On FAULT and STOP it first marks the track file not ready (track_file.h):
// keepalived then keeps the instance in FAULT, even once the daemon's process
// is back, until twincache-check passes and writes "0". Other states leave
// the file alone.
//
// The POST carries the daemon's admin token (core/admin/admin_token.h) from
// --token-file, /etc/twincache/admin.token by default (root:twincache 0640:
// keepalived runs notify scripts as root). Without that default file (a
// daemon without --admin-token-file) the POST goes without one.
//
// Exit 0 whatever the daemon does (down, hung, refusing), within 800 ms; 2 on
// bad arguments. A watchdog (SIGALRM) ends the process at the deadline should
// anything block past its own timeout (syslog, name resolution).
#include <signal.h>
#include <sys/time.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <exception>
#include <optional>
#include <string>

#include "core/admin/admin_token.h"
#include "core/config/command_line.h"

#include "keepalived/fork_sequence.h"
#include "keepalived/notify.h"
#include "keepalived/track_file.h"

namespace {

constexpr std::chrono::milliseconds kDeadline(800);  // keepalived's STOP hook gets 1 s
constexpr char kDefaultLogFile[] = "/var/log/twincache/notify.log";
constexpr char kDefaultAdmin[] = "127.0.0.1:11213";
constexpr char kDefaultTokenFile[] = "/etc/twincache/admin.token";
constexpr int kExitBadArguments = 2;

void OnDeadline(int) {
  static constexpr char kMessage[] = "twincache-notify: deadline reached, exiting\n";
  ssize_t ignored = write(STDERR_FILENO, kMessage, sizeof(kMessage) - 1);
  (void)ignored;
  _exit(0);
}

// Ends the process at `deadline` (SIGALRM), whatever it is doing then.
void ArmWatchdog(std::chrono::steady_clock::time_point deadline) {
  auto left =
      std::chrono::duration_cast<std::chrono::microseconds>(deadline - std::chrono::steady_clock::now());
  if (left.count() < 1) {
    left = std::chrono::microseconds(1);
  }
  struct sigaction action {};
  action.sa_handler = OnDeadline;
  sigaction(SIGALRM, &action, nullptr);
  itimerval timer{};
  timer.it_value.tv_sec = left.count() / 1'000'000;
  timer.it_value.tv_usec = left.count() % 1'000'000;
  setitimer(ITIMER_REAL, &timer, nullptr);
}

int Run(int argc, char** argv) {
  // First, before anything can be delayed: the clocks (log time, deadline,
  // SEQ fallback; fork_sequence.h explains why SEQ does not rely on them).
  timespec boottime{};
  timespec realtime{};
  clock_gettime(CLOCK_BOOTTIME, &boottime);
  clock_gettime(CLOCK_REALTIME, &realtime);
  const auto deadline = std::chrono::steady_clock::now() + kDeadline;
  ArmWatchdog(deadline);
  signal(SIGPIPE, SIG_IGN);
  openlog("twincache-notify", LOG_PID, LOG_DAEMON);

  namespace notify = twincache::notify;
  notify::HookArguments hook;
  std::string log_file = kDefaultLogFile;
  std::string admin = kDefaultAdmin;
  std::string track_file = twincache::kDefaultTrackFile;
  std::string token_file = kDefaultTokenFile;
  CLI::App app{"keepalived notify hook: logs the VRRP transition and posts the role to twincached"};
  app.set_version_flag("--version", twincache::VersionLine("twincache-notify"));
  app.add_option("--log-file", log_file, "notify log to append to")->capture_default_str();
  app.add_option("--admin", admin, "the daemon's admin endpoint HOST:PORT, or off")->capture_default_str();
  app.add_option("--track-file", track_file,
                 "keepalived track_file marked not ready (1) on FAULT and STOP, or off")
      ->capture_default_str();
  app.add_option("--token-file", token_file,
                 "file with the daemon's admin token (sent as Authorization: Bearer), or off")
      ->capture_default_str();
  app.add_option("--state", hook.state, "the state, for notify_master/backup/fault");
  app.add_option("--instance", hook.instance, "the instance name, for notify_master/backup/fault");
  app.add_option("--priority", hook.priority, "the priority, for notify_master/backup/fault");
  app.add_option("args", hook.positionals,
                 "STATE, or INSTANCE|GROUP NAME STATE PRIORITY as keepalived appends");
  twincache::ParseOutcome parsed = twincache::ParseCommandLine(app, argc, argv, kExitBadArguments);
  if (parsed.exit_now) {
    std::printf("%s\n", parsed.message.c_str());
    return parsed.exit_code;
  }
  if (!parsed.ok) {
    std::fprintf(stderr, "twincache-notify: %s\n", parsed.message.c_str());
    syslog(LOG_ERR, "bad arguments: %s", parsed.message.c_str());
    return parsed.exit_code;
  }
  std::string error;
  std::optional<notify::Transition> transition = notify::ParseTransition(hook, &error);
  if (transition && (track_file.empty() || track_file.back() == '/')) {
    transition = std::nullopt;
    error = "bad --track-file (a file, or off): '" + track_file + "'";
  }
  if (!transition) {
    fprintf(stderr, "twincache-notify: %s\n", error.c_str());
    syslog(LOG_ERR, "bad arguments: %s", error.c_str());
    return kExitBadArguments;
  }

  std::string problems;  // "; "-separated, empty when all went well
  bool seq_from_proc = false;
  const uint64_t seq = twincache::ThisProcessSequence(boottime, &seq_from_proc);
  if (!seq_from_proc) {
    problems += "; /proc/self/stat unreadable, seq from CLOCK_BOOTTIME";
  }
  // First, before the log and the daemon: the instance stays in FAULT.
  if (track_file != "off" && (transition->state == "FAULT" || transition->state == "STOP")) {
    twincache::TrackWriteResult marked = twincache::MarkNotReady(track_file, seq);
    if (marked.outcome == twincache::TrackWrite::kFailed || marked.outcome == twincache::TrackWrite::kKept) {
      problems += "; track file: " + marked.detail;
    }
  }
  const timespec fork_time = seq_from_proc ? twincache::ForkRealtime(seq, realtime, boottime) : realtime;
  std::string line = notify::LogLine(fork_time, *transition, seq);
  if (!notify::AppendLineInOrder(log_file, line, seq, &error)) {
    problems += "; " + error;
  }
  std::string daemon = "not told (--admin off)";
  if (admin != "off") {
    std::string authorization;
    const bool default_absent = token_file == kDefaultTokenFile && access(token_file.c_str(), F_OK) != 0;
    if (token_file != "off" && !default_absent) {
      std::string token;
      if (twincache::ReadAdminTokenFile(token_file, &token, &error)) {
        authorization = twincache::BearerHeaderValue(token);
      } else {
        problems += "; " + error;
      }
    }
    notify::PostOutcome outcome =
        notify::PostRole(admin, notify::RoleBody(*transition, seq), authorization, deadline);
    daemon = outcome.detail;
    if (!outcome.delivered) {
      problems += "; daemon not told";
    }
  }
  std::string summary = line.substr(line.find(' ') + 1);  // NAME STATE PRIORITY SEQ\n
  summary.resize(summary.rfind(' '));                     // NAME STATE PRIORITY
  summary += " seq=" + std::to_string(seq) + " daemon: " + daemon + problems;
  if (!problems.empty()) {
    fprintf(stderr, "twincache-notify: %s\n", summary.c_str());
    syslog(LOG_WARNING, "%s", summary.c_str());
  } else {
    syslog(LOG_NOTICE, "%s", summary.c_str());
  }
  return 0;
}

}  // namespace

// keepalived only sees the exit code: an exception (none is expected; CLI11
// throws on a programming error in the options) is logged, and exits 1.
int main(int argc, char** argv) {
  try {
    return Run(argc, argv);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "twincache-notify: %s\n", e.what());
    syslog(LOG_ERR, "failed: %s", e.what());
    return 1;
  }
}
