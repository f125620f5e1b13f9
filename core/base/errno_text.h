// ErrnoText: the message of an errno value, for error strings and log fields.
//
// strerror() may share one buffer between threads (clang-tidy's
// concurrency-mt-unsafe); this uses the GNU strerror_r, which returns either
// its static message or the buffer it filled. Header-only, so the helper
// programs (twincache-check, twincache-notify) need no library for it.
#ifndef TWINCACHE_CORE_BASE_ERRNO_TEXT_H_
#define TWINCACHE_CORE_BASE_ERRNO_TEXT_H_

#include <cstring>
#include <string>
#include <string_view>

namespace twincache {

/// The message for `error` (an errno value), e.g. "Connection refused".
/// Thread safety: reentrant.
inline std::string ErrnoText(int error) {
  char buffer[256];
  return std::string(strerror_r(error, buffer, sizeof(buffer)));
}

/// "<what> <path>: <message of error>", e.g. "cannot open /run/x: Permission
/// denied", the form of every file error in logs and messages.
/// Thread safety: reentrant.
inline std::string FileErrorText(std::string_view what, std::string_view path, int error) {
  std::string text(what);
  text.append(" ").append(path).append(": ").append(ErrnoText(error));
  return text;
}

}  // namespace twincache

#endif  // TWINCACHE_CORE_BASE_ERRNO_TEXT_H_
