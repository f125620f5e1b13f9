// The track file: how twincache-check and twincache-notify hold keepalived's
// VRRP instance in FAULT until the node may take the VIP.
//
// Why a file as well as the track_script
// --------------------------------------
// The track_script (twincache-check, `fall 2`) needs two failures before it
// puts the instance in FAULT, and vrrp_track_process puts it there at once
// when twincached dies but lets it out the moment the process is back. A
// restarted daemon therefore made the node BACKUP (able to take the VIP)
// while its initial sync was still pending. The track file closes that gap:
// keepalived leaves FAULT only while the file says ready, and only a passing
// check says so.
//
// keepalived 2.2.7's side (keepalived.conf(5) "Track files"; source
// trackers/track_file.c; each point seen with keepalived 2.2.7)
// -------------------------------------------------------------
// - `track_file NAME { file PATH; weight 0; init_file 1 overwrite }`: with
//   weight 0 a non-zero number in the file means FAULT, zero means ready.
//   init_file writes "1\n" whenever keepalived starts (not on reload).
// - keepalived watches the file's *directory* with inotify (IN_CLOSE_WRITE,
//   IN_MOVE, IN_DELETE) and reads the number (strtol of the first bytes) on
//   each event for the file's name. A rename(2) onto the name is read whole.
// - A deleted or moved-away file, an empty one and one without a number all
//   read as 0: READY. So the file is only ever replaced by renaming a
//   complete temporary file from the same directory, never truncated or
//   removed.
// - The watch is on the directory as it was when keepalived started: if the
//   directory is removed (deleting the file: "ready") and made again,
//   keepalived never reads the file again. A directory missing at start
//   drops the track file from the instance ("Track file directory ... does
//   not exist - removing"), and `keepalived -t` does not say so. Hence the
//   default directory is its own, root-owned and made at boot
//   (tmpfiles.d), not the daemon's RuntimeDirectory, which systemd removes
//   whenever twincached stops.
//
// Writers and their order
// -----------------------
// twincache-check writes its verdict (ready or not) after every run;
// twincache-notify writes "not ready" on FAULT and STOP. Many run at once
// (keepalived forks them without waiting), so their writes can land in any
// order. Two races matter:
// 1. A check that found the daemon healthy finishes after a FAULT hook that
//    already wrote "not ready" because the daemon died a moment later. Were
//    the check to write "ready" then, the node would leave FAULT as soon as
//    the process came back: the very bug. Rule: a ready is written only if
//    the file is unchanged since the check began (it remembers the file's
//    version, TrackFileVersion, before probing).
// 2. A FAULT hook that keepalived forked before a check (at every keepalived
//    start: init_file puts the instance in FAULT, then the first check runs)
//    is slow to start and writes "not ready" after that check wrote "ready":
//    the node flaps BACKUP -> FAULT and loses a check interval. Rule: each
//    writer puts its fork sequence (SEQ, fork_sequence.h) after the number,
//    "0 SEQ\n" or "1 SEQ\n" (keepalived reads the leading number only), and
//    a not-ready does not replace a ready whose writer was forked later: that
//    check looked at the daemon after the hook's FAULT began.
// keepalived's own init_file "1\n" carries no SEQ and counts as the oldest.
// Every write replaces the file, so a new version has a new inode and mtime
// (tmpfs, as in /run, hands out increasing inode numbers; elsewhere a freed
// inode number reused within one clock tick could look like the old
// version). Writers hold an exclusive flock(2) on the directory from the
// comparison to the rename, so the rules hold between processes; a lock
// that stays busy for kTrackLockWait (a writer stopped mid-write) skips a
// ready and writes a not-ready anyway: a stale "not ready" costs one check
// interval, a stale "ready" the VIP promise.
#ifndef TWINCACHE_KEEPALIVED_TRACK_FILE_H_
#define TWINCACHE_KEEPALIVED_TRACK_FILE_H_

#include <sys/types.h>

#include <chrono>
#include <cstdint>
#include <string>
#include <string_view>

namespace twincache {

/// The default track file of twincache-check, twincache-notify and
/// twincache-keepalived-config (--track-file); "off" turns it off.
inline constexpr char kDefaultTrackFile[] = "/run/twincache-vrrp/vrrp.state";

/// Longest wait for another writer's lock on the track file's directory.
inline constexpr std::chrono::milliseconds kTrackLockWait{100};

/// One version of the track file: device, inode and modification time, or
/// none (`exists` false) when it could not be stat'ed.
struct TrackFileVersion {
  bool exists = false;
  dev_t device = 0;
  ino_t inode = 0;
  int64_t mtime_ns = 0;

  bool operator==(const TrackFileVersion&) const = default;
};

/// The version of the file at `path` now. Thread safety: reentrant.
TrackFileVersion CurrentTrackFileVersion(const std::string& path);

/// What a write did.
enum class TrackWrite {
  kWritten,    ///< the file now holds the new value
  kUnchanged,  ///< it already held exactly that text
  kKept,       ///< a ready was not written (see `detail`)
  kFailed,     ///< an error (see `detail`)
};

struct TrackWriteResult {
  TrackWrite outcome = TrackWrite::kFailed;
  std::string detail;  ///< why kKept or kFailed, with errno text; else empty
};

/// What the file says: the leading number keepalived reads (0 = ready) and
/// the writer's SEQ after it (0 when there is none, as after init_file).
struct TrackFileState {
  bool readable = false;  ///< false: missing, empty or no leading number
  long value = 0;         ///< keepalived's reading: 0 ready, non-zero not ready
  uint64_t seq = 0;       ///< the writer's fork sequence, 0 when absent
};

/// Parses the file's text ("1\n", "0 1234560012345\n"). Pure; reentrant.
TrackFileState ParseTrackFile(std::string_view text);

/// The text a writer with fork sequence `seq` puts in the file.
std::string TrackFileText(bool ready, uint64_t seq);

/// Marks the node not ready: replaces the file at `path` with "1 SEQ\n"
/// (mode 0644; `seq`: the caller's fork sequence), creating its directory
/// (0755, one level) if missing. kUnchanged when it already says not ready;
/// kKept when it says ready with a SEQ above `seq` (a check forked after
/// the caller; header comment, race 2). Writes also when the directory lock
/// stays busy for kTrackLockWait. Never blocks longer than that plus a few
/// file operations. Thread safety: reentrant; safe against other processes
/// writing the same file (see the header comment).
TrackWriteResult MarkNotReady(const std::string& path, uint64_t seq);

/// Marks the node ready: replaces the file at `path` with "0 SEQ\n", unless
/// it changed since `seen` (the version taken before the check began; any
/// other writer's value then stands, even an empty or half-written file of
/// keepalived's own init_file) or the directory lock stays busy for
/// kTrackLockWait: kKept. kUnchanged when it already says ready (the SEQ
/// there stays: the check that made the node ready). Otherwise as
/// MarkNotReady.
TrackWriteResult MarkReady(const std::string& path, const TrackFileVersion& seen, uint64_t seq);

}  // namespace twincache

#endif  // TWINCACHE_KEEPALIVED_TRACK_FILE_H_
