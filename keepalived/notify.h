// twincache-notify: keepalived's notify hook, replacing the seeds' notify.sh.
//
// keepalived runs it on every VRRP transition. It appends one line to the
// notify log, logs to syslog and posts the new role to the local daemon's
// admin endpoint (POST /role). keepalived never waits for it and ignores its
// exit status, so it must never hang and never matter: it exits 0 within the
// deadline whatever the daemon does (down, hung, slow).
//
// Racing hooks are ordered by their fork sequence (SEQ, fork_sequence.h):
// keepalived forks a hook per transition without waiting, so hooks run at
// once and may reach the daemon out of order; the daemon keeps the role with
// the highest SEQ (core/protocol/role.h).
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

/// `ts` as ISO-8601 UTC with milliseconds, e.g. "2026-11-21T06:00:00.123Z".
std::string FormatUtcMillis(const timespec& ts);

/// The notify log line `TIME NAME STATE PRIORITY SEQ\n` ("-" for an unknown
/// priority; SEQ: the hook's fork sequence, fork_sequence.h), e.g.
/// "2026-11-21T06:00:00.123Z VI_1 MASTER 150 1234560012345\n". TIME is
/// `fork_time`: when keepalived forked the hook (ForkRealtime), so lines in
/// SEQ order are in time order too.
std::string LogLine(const timespec& fork_time, const Transition& transition, uint64_t seq);

/// Where a line with fork sequence `seq` belongs among `tail`, the last whole
/// lines of the notify log: the offset of the first line whose last field is
/// a SEQ above `seq` (a hook forked later that wrote first), or tail.size()
/// (append). Lines without a SEQ count as older. Pure; reentrant.
size_t InsertionPoint(std::string_view tail, uint64_t seq);

/// Writes `line` (fork sequence `seq`) into the notify log at `path` (created
/// 0644, its directory 0755 with parents when missing) in SEQ order: under
/// an flock(2) of the file it reads the last 4 KiB, and if lines of hooks
/// forked later are already there, cuts them off and writes `line` followed
/// by them in one write(2); otherwise appends (O_APPEND, one write(2)). So
/// the log lists transitions in the order keepalived made them, although
/// keepalived runs its hooks concurrently (keepalived-notes.md, "notify").
/// A lock busy for 200 ms: appends at the end. Returns false and sets
/// *error (with errno text) on failure. Reentrant; safe between processes.
bool AppendLineInOrder(const std::string& path, std::string_view line, uint64_t seq, std::string* error);

/// The POST /role body: {"role":STATE,"instance":NAME,"priority":N,"seq":SEQ}
/// (priority 0 when unknown).
std::string RoleBody(const Transition& transition, uint64_t seq);

/// What the daemon said to a POST /role.
struct PostOutcome {
  bool delivered = false;    ///< the daemon answered 200
  std::string detail;        ///< "applied", "kept newer role", or why it failed
  int connect_attempts = 0;  ///< connections tried (more than 1 after dropped SYNs or refusals)
};

/// Posts `body` to http://ADMIN/role (core/http/http_client.h), with
/// `authorization` as the Authorization header ("" for none; the daemon's
/// admin token as "Bearer TOKEN", core/admin/admin_token.h), before
/// `deadline`: each attempt connects within 100 ms (or 3/10 of the time
/// left, if less) and ends its exchange by 9/10 of the time left. A connect
/// that times out (SYN dropped by a full accept queue) is retried with a
/// fresh connection at once, a refused one (daemon not listening yet) every
/// 50 ms, while more than 200 ms are left. Never throws; never blocks past
/// the deadline except in name resolution of a host name (the caller's
/// watchdog covers that).
PostOutcome PostRole(const std::string& admin, const std::string& body, const std::string& authorization,
                     std::chrono::steady_clock::time_point deadline);

}  // namespace twincache::notify

#endif  // TWINCACHE_KEEPALIVED_NOTIFY_H_
