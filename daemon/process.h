// Process: the Unix chores of a daemon that memcached's flags ask for.
//
// -d detaches from the terminal, -P writes a pid file, -u gives up root and
// the file-descriptor limit is raised to fit -c, in the order memcached's
// main() does them (memcached.c: daemonize, save_pid, setrlimit, setuid).
// Each function returns false with a one-line *error the caller prints.
#ifndef TWINCACHE_DAEMON_PROCESS_H_
#define TWINCACHE_DAEMON_PROCESS_H_

#include <cstddef>
#include <string>

namespace twincache {

/// Forks; the parent exits 0 and the child continues in a new session, in
/// "/", with stdin/stdout (and stderr unless `keep_stderr`) on /dev/null.
bool Daemonize(bool keep_stderr, std::string* error);

/// Raises RLIMIT_NOFILE so that `max_connections` clients plus the server's
/// own descriptors fit. Root may raise the hard limit; others only the soft.
bool RaiseFileLimit(size_t max_connections, std::string* error);

/// Writes the pid to `path`, creating its directory (0755) if missing; if
/// `user` is given and the directory was created, hands it to that user so
/// the pid file can be removed after privileges are dropped.
bool WritePidFile(const std::string& path, const std::string& user, std::string* error);

/// Switches to `user` (uid, gid and supplementary groups) when running as
/// root; a no-op otherwise. Fails if the user does not exist.
bool DropPrivileges(const std::string& user, std::string* error);

}  // namespace twincache

#endif  // TWINCACHE_DAEMON_PROCESS_H_
