// The fork sequence (SEQ): the order in which keepalived forked its hooks and
// checks, readable by each forked program about itself.
//
// Two users: the daemon keeps the role with the highest SEQ of the
// twincache-notify hooks that posted it (core/protocol/role.h), and the track file
// (track_file.h) lets a check's "ready" stand against a FAULT hook's "not
// ready" when the check was forked after the hook.
//
// Ordering racing processes
// -------------------------
// keepalived forks a hook per transition without waiting (keepalived-notes.md,
// "notify"), so two hooks run at once and may reach the daemon out of order.
// The daemon keeps the role with the highest SEQ (core/protocol/role.h), so SEQ must
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
#ifndef TWINCACHE_KEEPALIVED_FORK_SEQUENCE_H_
#define TWINCACHE_KEEPALIVED_FORK_SEQUENCE_H_

#include <time.h>

#include <cstdint>
#include <optional>
#include <string_view>

namespace twincache {

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

/// This process's SEQ: from /proc/self/stat, else (limit 4) from `boottime`,
/// a CLOCK_BOOTTIME reading taken first thing in main(). `*from_proc` (when
/// not null) says which. Thread safety: reentrant.
uint64_t ThisProcessSequence(const timespec& boottime, bool* from_proc = nullptr);

/// The CLOCK_REALTIME instant at which the process with fork sequence `seq`
/// was forked: `realtime` minus the time since then (`boottime`, read
/// together with `realtime`, minus the starttime in `seq`), to the clock
/// tick (10 ms; rounded down, so forks in SEQ order get times in the same
/// order). Pure; reentrant.
timespec ForkRealtime(uint64_t seq, const timespec& realtime, const timespec& boottime);

}  // namespace twincache

#endif  // TWINCACHE_KEEPALIVED_FORK_SEQUENCE_H_
