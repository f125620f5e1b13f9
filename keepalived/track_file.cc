#include "keepalived/track_file.h"

#include <errno.h>
#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <charconv>
#include <cstring>
#include <string_view>
#include <thread>

#include "core/base/errno_text.h"

namespace twincache {
namespace {

// Pace of the lock attempts within kTrackLockWait; writers hold the lock for
// a stat, a read and a rename of a few bytes.
constexpr std::chrono::milliseconds kLockRetry{1};
// More than any text a writer puts there ("1 " and a 20-digit SEQ).
constexpr size_t kReadLimit = 64;

// The directory part of `path` ("." when none) and the name in it.
std::string DirectoryOf(const std::string& path) {
  size_t slash = path.rfind('/');
  if (slash == std::string::npos) {
    return ".";
  }
  return slash == 0 ? "/" : path.substr(0, slash);
}

std::string NameOf(const std::string& path) { return path.substr(path.rfind('/') + 1); }

// The first bytes of the file at `path`; empty when it cannot be read.
std::string ReadStart(const std::string& path) {
  int fd = open(path.c_str(), O_RDONLY | O_NONBLOCK | O_CLOEXEC | O_NOFOLLOW);
  if (fd < 0) {
    return "";
  }
  char buf[kReadLimit];
  ssize_t n = read(fd, buf, sizeof(buf));
  close(fd);
  return n > 0 ? std::string(buf, static_cast<size_t>(n)) : "";
}

// An open descriptor of the track file's directory (made 0755 if missing),
// holding flock(LOCK_EX) on it when `locked`. Closing the descriptor drops
// the lock (also when the process dies).
class LockedDirectory {
 public:
  explicit LockedDirectory(const std::string& dir) {
    if (mkdir(dir.c_str(), 0755) == 0) {
      chmod(dir.c_str(), 0755);  // whatever the umask
    } else if (errno != EEXIST) {
      error_ = FileErrorText("cannot create directory", dir, errno);
      return;
    }
    fd_ = open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd_ < 0) {
      error_ = FileErrorText("cannot open directory", dir, errno);
      return;
    }
    const auto give_up = std::chrono::steady_clock::now() + kTrackLockWait;
    while (true) {
      if (flock(fd_, LOCK_EX | LOCK_NB) == 0) {
        locked_ = true;
        return;
      }
      if (errno != EWOULDBLOCK || std::chrono::steady_clock::now() >= give_up) {
        return;
      }
      std::this_thread::sleep_for(kLockRetry);
    }
  }
  LockedDirectory(const LockedDirectory&) = delete;
  LockedDirectory& operator=(const LockedDirectory&) = delete;
  ~LockedDirectory() {
    if (fd_ >= 0) {
      close(fd_);
    }
  }

  bool open_ok() const { return fd_ >= 0; }
  bool locked() const { return locked_; }
  const std::string& error() const { return error_; }

 private:
  int fd_ = -1;
  bool locked_ = false;
  std::string error_;
};

// Replaces the file at `path` with `text`: a temporary file in the same
// directory (mkstemp: O_EXCL, so never through a planted link), mode 0644,
// renamed over `path`, which keepalived reads whole on IN_MOVED_TO.
TrackWriteResult Replace(const std::string& path, std::string_view text) {
  std::string temp = DirectoryOf(path) + "/." + NameOf(path) + ".XXXXXX";
  int fd = mkstemp(temp.data());
  if (fd < 0) {
    return {TrackWrite::kFailed, FileErrorText("cannot create a temporary file for", path, errno)};
  }
  bool ok = fchmod(fd, 0644) == 0 && write(fd, text.data(), text.size()) == static_cast<ssize_t>(text.size());
  std::string error = ok ? "" : FileErrorText("cannot write", temp, errno);
  if (close(fd) != 0 && ok) {
    ok = false;
    error = FileErrorText("cannot write", temp, errno);
  }
  if (ok && rename(temp.c_str(), path.c_str()) != 0) {
    ok = false;
    error = FileErrorText("cannot rename a temporary file onto", path, errno);
  }
  if (!ok) {
    unlink(temp.c_str());
    return {TrackWrite::kFailed, error};
  }
  return {TrackWrite::kWritten, ""};
}

}  // namespace

TrackFileState ParseTrackFile(std::string_view text) {
  TrackFileState state;
  // keepalived 2.2.7 reads strtol(text) (trackers/track_file.c): leading
  // blanks, a sign, digits; whatever follows is ignored. from_chars takes a
  // '-' but not a '+'.
  size_t start = text.find_first_not_of(" \t\n");
  if (start == std::string_view::npos) {
    return state;
  }
  text.remove_prefix(start);
  if (text.starts_with("+-")) {
    return state;  // strtol refuses a second sign too
  }
  if (text.starts_with('+')) {
    text.remove_prefix(1);
  }
  long value = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (ec != std::errc()) {
    return state;
  }
  state.readable = true;
  state.value = value;
  std::string_view rest(end, static_cast<size_t>(text.data() + text.size() - end));
  if (!rest.empty() && rest[0] == ' ') {
    rest.remove_prefix(1);
    uint64_t seq = 0;
    auto [seq_end, seq_ec] = std::from_chars(rest.data(), rest.data() + rest.size(), seq);
    if (seq_ec == std::errc() && (seq_end == rest.data() + rest.size() || *seq_end == '\n')) {
      state.seq = seq;
    }
  }
  return state;
}

std::string TrackFileText(bool ready, uint64_t seq) {
  return std::string(ready ? "0 " : "1 ") + std::to_string(seq) + "\n";
}

TrackFileVersion CurrentTrackFileVersion(const std::string& path) {
  struct stat st;
  if (lstat(path.c_str(), &st) != 0) {
    return {};
  }
  return {true, st.st_dev, st.st_ino, int64_t{st.st_mtim.tv_sec} * 1'000'000'000 + st.st_mtim.tv_nsec};
}

TrackWriteResult MarkNotReady(const std::string& path, uint64_t seq) {
  LockedDirectory dir(DirectoryOf(path));
  if (!dir.open_ok()) {
    return {TrackWrite::kFailed, dir.error()};
  }
  // Not locked: written all the same (header comment).
  TrackFileState now = ParseTrackFile(ReadStart(path));
  if (now.readable && now.value != 0) {
    return {TrackWrite::kUnchanged, ""};
  }
  if (dir.locked() && now.readable && now.seq > seq) {
    return {TrackWrite::kKept, path + " was marked ready by a check forked later (seq " +
                                   std::to_string(now.seq) + " > " + std::to_string(seq) +
                                   "); left as it is"};
  }
  return Replace(path, TrackFileText(/*ready=*/false, seq));
}

TrackWriteResult MarkReady(const std::string& path, const TrackFileVersion& seen, uint64_t seq) {
  LockedDirectory dir(DirectoryOf(path));
  if (!dir.open_ok()) {
    return {TrackWrite::kFailed, dir.error()};
  }
  if (!dir.locked()) {
    return {TrackWrite::kKept, "directory of " + path + " locked by another writer for " +
                                   std::to_string(kTrackLockWait.count()) + " ms; ready not written"};
  }
  TrackFileState now = ParseTrackFile(ReadStart(path));
  if (now.readable && now.value == 0) {
    return {TrackWrite::kUnchanged, ""};
  }
  if (CurrentTrackFileVersion(path) != seen) {
    return {TrackWrite::kKept, path + " was marked not ready during the check; left as it is"};
  }
  return Replace(path, TrackFileText(/*ready=*/true, seq));
}

}  // namespace twincache
