// twincache-notify: keepalived's notify hook, replacing the seeds' notify.sh.
//
// keepalived runs it on every VRRP transition. It appends one line to the
// notify log, logs to syslog and posts the new role to the local daemon's
// admin endpoint (POST /role). keepalived never waits for it and ignores its
// exit status, so it must never hang and never matter: it exits 0 within the
// deadline whatever the daemon does (down, hung, slow).
//
// Ordering racing hooks (the sequence number, SEQ)
// -------------------------------------------------
// keepalived forks a hook per transition without waiting (keepalived-notes.md,
// "notify"), so two hooks run at once and may reach the daemon out of order.
// The daemon keeps the role with the highest SEQ (core/role.h), so SEQ must
// follow the order in which keepalived forked the hooks, which is the order
// of the transitions: keepalived's VRRP process is single-threaded and forks
// one hook after the other.
//
//   SEQ = starttime * 10^7 + pid
//
// where starttime is field 22 of /proc/self/stat (clock ticks since boot,
// 100 Hz on Linux, taken by the kernel at fork) and pid is getpid() (< 2^22,
// so < 10^7). Both are fixed at fork, not at whatever moment the hook gets
// scheduled, so a hook that is slow to start still carries its fork's order:
// - different ticks: starttime orders them (it never decreases from one fork
//   to the next; CLOCK_BOOTTIME, so it also counts suspend);
// - the same tick (forks within 10 ms): the kernel hands out pids in
//   increasing order, so the later fork has the larger pid.
// A clock read in main() would be a worse tie-break: it measures when the
// hook got past exec and the dynamic loader, which a later fork can win.
// The decimal form keeps both parts readable (SEQ 1234560012345 is tick
// 123456, pid 12345), and fits in 63 bits for 290 years of uptime.
//
// Limits: (1) pids wrap at pid_max (32768 by default on Debian 12): two forks
// in the same 10 ms tick that straddle the wrap are ordered wrongly. Forks
// further apart are ordered by starttime, so only hooks within 10 ms of each
// other AND across the wrap are at risk. (2) SEQ restarts with the host
// (ticks since boot); the daemon restarts then too and starts from seq 0.
// (3) Only hooks of one host are comparable; a hook run by hand gets a fresh,
// higher SEQ and wins, as a fresh transition would. (4) Without a readable
// /proc/self/stat, starttime is taken from CLOCK_BOOTTIME read first thing
// in main(), in ticks: still increasing, but ordered by when the hooks ran.
#ifndef TWINCACHE_KEEPALIVED_NOTIFY_H_
#define TWINCACHE_KEEPALIVED_NOTIFY_H_

#include <time.h>

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace twincache::notify {

/// One keepalived transition as the hook received it.
struct Transition {
  std::string name = "-";       ///< VRRP instance or sync group name; "-" when not given
  std::string state;            ///< MASTER, BACKUP, FAULT, STOP or DELETED
  std::optional<int> priority;  ///< effective priority 0..255; none when not given
};

/// True for the states keepalived passes to notify programs
/// (keepalived.conf(5), "notify"): MASTER BACKUP FAULT STOP DELETED.
bool IsState(std::string_view state);

/// The arguments that are not options, and the options that can stand in for
/// them in the notify_master/backup/fault form.
struct HookArguments {
  std::vector<std::string> positionals;  ///< in command-line order
  std::string state;                     ///< --state, empty when not given
  std::string instance;                  ///< --instance, empty when not given
  std::optional<int> priority;           ///< --priority
};

/// Parses the transition from either form keepalived uses:
/// - generic `notify`: the last four positionals are
///   `INSTANCE|GROUP NAME STATE PRIORITY` (keepalived appends them after any
///   configured arguments, which are options here);
/// - `notify_master/backup/fault`: one positional STATE, or none and --state.
/// --instance and --priority name the instance and priority in the second
/// form. Returns nullopt and sets *error on anything else (a bad state, a
/// priority outside 0..255, two states, a wrong number of positionals).
std::optional<Transition> ParseTransition(const HookArguments& args, std::string* error);

/// Field 22 (starttime, clock ticks since boot) of a /proc/PID/stat line.
/// Field 2 (the command name) may hold spaces and parentheses; fields are
/// counted after its last ')'. Returns nullopt when the line is malformed.
std::optional<uint64_t> ParseStartTime(std::string_view proc_stat);

/// This process's starttime from /proc/self/stat, or nullopt.
std::optional<uint64_t> ReadStartTime();

/// Clock ticks of a CLOCK_BOOTTIME reading (sysconf(_SC_CLK_TCK) per second):
/// the fallback starttime when /proc is not readable.
uint64_t BootTimeTicks(const timespec& boottime);

/// SEQ = start_ticks * 10^7 + pid (see the header comment); pid in 0..10^7-1.
uint64_t SequenceNumber(uint64_t start_ticks, int64_t pid);

/// `ts` as ISO-8601 UTC with milliseconds, e.g. "2026-11-21T06:00:00.123Z".
std::string FormatUtcMillis(const timespec& ts);

/// The notify log line `TIME NAME STATE PRIORITY\n` ("-" for an unknown
/// priority), e.g. "2026-11-21T06:00:00.123Z VI_1 MASTER 150\n".
std::string LogLine(const timespec& realtime, const Transition& transition);

/// Appends `line` to the file at `path` (created 0644, its directory 0755
/// with parents when missing) with O_APPEND and a single write(2), so lines
/// of concurrent hooks never interleave (regular files on a local file
/// system). Returns false and sets *error (with errno text) on failure.
bool AppendLine(const std::string& path, std::string_view line, std::string* error);

/// The POST /role body: {"role":STATE,"instance":NAME,"priority":N,"seq":SEQ}
/// (priority 0 when unknown).
std::string RoleBody(const Transition& transition, uint64_t seq);

/// What the daemon said to a POST /role.
struct PostOutcome {
  bool delivered = false;    ///< the daemon answered 200
  std::string detail;        ///< "applied", "kept newer role", or why it failed
  int connect_attempts = 0;  ///< connections tried (more than 1 after dropped SYNs or refusals)
};

/// Posts `body` to http://ADMIN/role with connect, write and read timeouts
/// that together end before `deadline` (cpp-httplib's client; each phase
/// gets a share of the time left). A connect that times out (SYN dropped by
/// a full accept queue) is retried with a fresh connection at once (each
/// waits up to 100 ms), a refused one (daemon not listening yet) every
/// 50 ms, while more than 200 ms are left. Never throws; never blocks past
/// the deadline except in name resolution of a host name (the caller's
/// watchdog covers that).
PostOutcome PostRole(const std::string& admin, const std::string& body,
                     std::chrono::steady_clock::time_point deadline);

}  // namespace twincache::notify

#endif  // TWINCACHE_KEEPALIVED_NOTIFY_H_
