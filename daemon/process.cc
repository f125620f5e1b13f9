#include "daemon/process.h"

#include <fcntl.h>
#include <grp.h>
#include <pwd.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <vector>

#include "core/base/errno_text.h"

namespace twincache {
namespace {

constexpr rlim_t kReservedDescriptors = 64;  // listeners, replication, admin, logs

std::string Errno(const std::string& what) { return what + ": " + ErrnoText(errno); }

// The uid and gid of `user`; false when there is no such user (or the lookup
// failed). getpwnam_r rather than getpwnam: reentrant, with its own buffer.
bool LookupUser(const std::string& user, uid_t* uid, gid_t* gid) {
  passwd entry{};
  passwd* found = nullptr;
  std::vector<char> buffer(16384);
  if (getpwnam_r(user.c_str(), &entry, buffer.data(), buffer.size(), &found) != 0 || found == nullptr) {
    return false;
  }
  *uid = entry.pw_uid;
  *gid = entry.pw_gid;
  return true;
}

}  // namespace

bool Daemonize(bool keep_stderr, std::string* error) {
  pid_t pid = fork();
  if (pid < 0) {
    *error = Errno("fork failed");
    return false;
  }
  if (pid > 0) {
    _exit(0);
  }
  if (setsid() < 0) {
    *error = Errno("setsid failed");
    return false;
  }
  if (chdir("/") != 0) {
    *error = Errno("chdir / failed");
    return false;
  }
  int null = open("/dev/null", O_RDWR | O_CLOEXEC);
  if (null < 0) {
    *error = Errno("open /dev/null failed");
    return false;
  }
  dup2(null, STDIN_FILENO);
  dup2(null, STDOUT_FILENO);
  if (!keep_stderr) {
    dup2(null, STDERR_FILENO);
  }
  if (null > STDERR_FILENO) {
    close(null);
  }
  return true;
}

bool RaiseFileLimit(size_t max_connections, std::string* error) {
  rlimit limit{};
  if (getrlimit(RLIMIT_NOFILE, &limit) != 0) {
    *error = Errno("getrlimit failed");
    return false;
  }
  rlim_t need = static_cast<rlim_t>(max_connections) + kReservedDescriptors;
  if (limit.rlim_cur >= need) {
    return true;
  }
  if (limit.rlim_max < need && geteuid() == 0) {
    limit.rlim_max = need;
  }
  limit.rlim_cur = limit.rlim_max < need ? limit.rlim_max : need;
  if (setrlimit(RLIMIT_NOFILE, &limit) != 0 || limit.rlim_cur < need) {
    *error = "cannot raise the open files limit to " + std::to_string(need) + " for -c " +
             std::to_string(max_connections) + ": start as root or lower -c";
    return false;
  }
  return true;
}

bool WritePidFile(const std::string& path, const std::string& user, std::string* error) {
  std::string dir = path.substr(0, path.find_last_of('/'));
  if (path.find('/') != std::string::npos && !dir.empty()) {
    struct stat st {};
    if (stat(dir.c_str(), &st) != 0) {
      if (mkdir(dir.c_str(), 0755) != 0) {
        *error = Errno("cannot create pid file directory " + dir);
        return false;
      }
      uid_t uid = 0;
      gid_t gid = 0;
      if (!user.empty() && LookupUser(user, &uid, &gid)) {
        if (chown(dir.c_str(), uid, gid) != 0) {
          *error = Errno("cannot hand pid file directory " + dir + " to " + user);
          return false;
        }
      }
    }
  }
  FILE* file = fopen(path.c_str(), "w");
  if (file == nullptr) {
    *error = Errno("cannot open pid file " + path);
    return false;
  }
  fprintf(file, "%ld\n", static_cast<long>(getpid()));
  if (fclose(file) != 0) {
    *error = Errno("cannot write pid file " + path);
    return false;
  }
  return true;
}

bool DropPrivileges(const std::string& user, std::string* error) {
  if (user.empty() || geteuid() != 0) {
    return true;
  }
  uid_t uid = 0;
  gid_t gid = 0;
  if (!LookupUser(user, &uid, &gid)) {
    *error = "can't find the user " + user + " to switch to";
    return false;
  }
  if (initgroups(user.c_str(), gid) != 0 || setgid(gid) != 0 || setuid(uid) != 0) {
    *error = Errno("failed to assume identity of user " + user);
    return false;
  }
  return true;
}

}  // namespace twincache
