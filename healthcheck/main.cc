// twincache-check: keepalived's track_script for twincached (see check.h).
//
// Exit status: 0 healthy, 1 unhealthy, 2 bad usage (keepalived counts every
// non-zero status as a failure). A failure's reason, and the maintenance wait,
// go as one line "twincache-check: REASON" to stderr and, unless -q, to syslog
// (facility daemon, ident twincache-check). A healthy run prints nothing
// unless -v. Then the verdict goes to the track file (--track-file, default
// /run/twincache-vrrp/vrrp.state; keepalived/track_file.h): "0" healthy,
// "1" unhealthy or out of time; a problem writing it is one more line.
// Many copies may run at once: the track file is their only shared state,
// written under a lock and always replaced whole.
#include <syslog.h>
#include <time.h>

#include <chrono>
#include <condition_variable>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <mutex>
#include <string>
#include <thread>

#include "healthcheck/check.h"
#include "healthcheck/check_options.h"
#include "keepalived/fork_sequence.h"
#include "keepalived/track_file.h"

namespace twincache {
namespace {

constexpr int kExitHealthy = 0;
constexpr int kExitUnhealthy = 1;
// How long past --timeout-ms the watchdog lets a run go on: the check's own
// deadline ends every wait it controls well before this.
constexpr std::chrono::milliseconds kWatchdogGrace{50};

void Report(const CheckOptions& options, int priority, const std::string& reason) {
  std::fprintf(stderr, "twincache-check: %s\n", reason.c_str());
  if (!options.quiet) {
    syslog(priority, "%s", reason.c_str());
  }
}

// Writes the verdict to the track file; a write that failed or was skipped
// is reported. `seen`: the file's version before the check began; `seq`:
// this process's fork sequence (keepalived/fork_sequence.h).
void WriteTrackFile(const CheckOptions& options, bool healthy, const TrackFileVersion& seen, uint64_t seq) {
  if (options.track_file.empty()) {
    return;
  }
  TrackWriteResult result =
      healthy ? MarkReady(options.track_file, seen, seq) : MarkNotReady(options.track_file, seq);
  if (result.outcome == TrackWrite::kFailed) {
    Report(options, LOG_WARNING, "track file: " + result.detail);
  }
  if (result.outcome == TrackWrite::kKept) {
    Report(options, LOG_NOTICE, "track file: " + result.detail);
  }
}

// Backstop for the waits the deadline cannot bound (getaddrinfo of a host
// name has no timeout; anything a later change lets slip): if the run is
// not over by --timeout-ms plus kWatchdogGrace, reports the failure, marks
// the track file not ready and ends the process, so a hung check never piles
// up under keepalived 2.2.7 (which starts another copy every interval), and
// one killed by keepalived's own timeout has already said "not ready"
// (keepalived only counts it as a failure). Destroying it before the deadline
// disarms it; a watchdog that already fired holds mu_ until the process ends,
// so only one of the two ever reports.
class Watchdog {
 public:
  Watchdog(const CheckOptions& options, uint64_t seq)
      : options_(options),
        seq_(seq),
        end_(std::chrono::steady_clock::now() + std::chrono::milliseconds(options.timeout_ms) +
             kWatchdogGrace),
        thread_([this] { Run(); }) {}
  Watchdog(const Watchdog&) = delete;
  Watchdog& operator=(const Watchdog&) = delete;

  ~Watchdog() {
    {
      std::lock_guard<std::mutex> lock(mu_);
      done_ = true;
    }
    done_cv_.notify_one();
    thread_.join();
  }

 private:
  void Run() {
    std::unique_lock<std::mutex> lock(mu_);
    if (done_cv_.wait_until(lock, end_, [this] { return done_; })) {
      return;
    }
    Report(options_, LOG_WARNING,
           "check did not finish within " + std::to_string(options_.timeout_ms) + " ms");
    WriteTrackFile(options_, /*healthy=*/false, TrackFileVersion(), seq_);
    std::fflush(stderr);
    std::_Exit(kExitUnhealthy);
  }

  const CheckOptions& options_;
  const uint64_t seq_;
  const std::chrono::steady_clock::time_point end_;
  std::mutex mu_;
  std::condition_variable done_cv_;
  bool done_ = false;   // guarded by mu_
  std::thread thread_;  // last: starts after the members it uses
};

int Main(int argc, char** argv) {
  timespec boottime{};
  clock_gettime(CLOCK_BOOTTIME, &boottime);  // first: the SEQ fallback (fork_sequence.h)
  const uint64_t seq = ThisProcessSequence(boottime);
  CheckOptions options;
  ParseOutcome parsed = ParseCheckOptions(argc, argv, &options);
  if (parsed.exit_now) {
    std::fprintf(stdout, "%s\n", parsed.message.c_str());
    return parsed.exit_code;
  }
  if (!parsed.ok) {
    std::fprintf(stderr, "twincache-check: %s\n", parsed.message.c_str());
    return parsed.exit_code;
  }
  if (!options.quiet) {
    openlog("twincache-check", LOG_PID, LOG_DAEMON);
  }
  std::signal(SIGPIPE, SIG_IGN);  // a daemon closing early must not kill the check

  // Before probing: a "not ready" written while the check runs must win
  // over its "ready" (track_file.h, "Writers and their order").
  const TrackFileVersion seen =
      options.track_file.empty() ? TrackFileVersion() : CurrentTrackFileVersion(options.track_file);
  Verdict verdict;
  {
    Watchdog watchdog(options, seq);
    verdict = RunCheck(options);
  }
  if (!verdict.healthy) {
    Report(options, LOG_WARNING, verdict.reason);
    WriteTrackFile(options, /*healthy=*/false, seen, seq);
    return kExitUnhealthy;
  }
  if (!verdict.reason.empty()) {
    Report(options, LOG_NOTICE, verdict.reason);
  }
  WriteTrackFile(options, /*healthy=*/true, seen, seq);
  if (options.verbose) {
    std::printf("twincache-check: ok\n");
  }
  return kExitHealthy;
}

}  // namespace
}  // namespace twincache

int main(int argc, char** argv) { return twincache::Main(argc, argv); }
