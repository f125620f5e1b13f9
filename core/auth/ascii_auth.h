// AsciiAuthTable: memcached's ASCII protocol authentication file (-Y).
//
// memcached 1.5.15+ (authfile.c; the exchange is proto_text.c
// try_read_command_asciiauth, parsed here by parser.h ParseAuthRequest):
// with -Y FILE, a text connection must first send a `set` whose value is
// "user password"; FILE holds `user:password` lines, the password running to
// the end of the line ('\r' and '\n' excluded, so it may contain ':' and
// spaces, though a client can only send one without spaces). The file is
// read at start (a failure stops the daemon) and again on SIGHUP, where a
// file that cannot be read or parsed keeps the users loaded before.
//
// Differences from memcached, all on the safe side: no limit of 8 entries
// (memcached silently drops the rest), an empty line is skipped (memcached
// calls it malformed), a line longer than memcached's 256 bytes is not cut.
// Passwords are compared in constant time (CRYPTO_memcmp over the stored
// password's length, as memcached's safe_memcmp), and every entry is
// compared, so the time does not tell which user exists.
#ifndef TWINCACHE_CORE_AUTH_ASCII_AUTH_H_
#define TWINCACHE_CORE_AUTH_ASCII_AUTH_H_

#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

namespace twincache {

/// One `user:password` line.
struct AsciiAuthEntry {
  std::string user;
  std::string password;
};

/// Parses the text of an auth file into *entries (replaced). False with a
/// one-line *error naming the first malformed line ("line N: no ':'
/// between user and password"). Pure.
bool ParseAuthFile(std::string_view text, std::vector<AsciiAuthEntry>* entries, std::string* error);

/// Reads and parses the auth file `path` into *entries (replaced). False
/// with a one-line *error: "cannot read FILE: REASON" or "FILE: line N:
/// ..." (ParseAuthFile). Thread safety: reentrant.
bool LoadAuthFile(const std::string& path, std::vector<AsciiAuthEntry>* entries, std::string* error);

/// Thread safety: Check() from any thread, concurrently with Load().
class AsciiAuthTable {
 public:
  /// Reads and parses `path`; on success its users replace the loaded ones.
  /// False with a one-line *error ("cannot read FILE: REASON", "FILE: line
  /// N: ..."), the loaded users kept.
  bool Load(const std::string& path, std::string* error);

  /// True when `user` with `password` is a loaded entry.
  bool Check(std::string_view user, std::string_view password) const;

  /// Entries loaded.
  size_t size() const;

 private:
  mutable std::mutex mutex_;  // guards entries_ (swapped whole by Load)
  std::shared_ptr<const std::vector<AsciiAuthEntry>> entries_ =
      std::make_shared<const std::vector<AsciiAuthEntry>>();
};

}  // namespace twincache

#endif  // TWINCACHE_CORE_AUTH_ASCII_AUTH_H_
