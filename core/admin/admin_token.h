// AdminToken: the credential that POST /role and POST /maintenance require
// (admin_server.h), read from a file only root and the twincache group can
// read (the packages create /etc/twincache/admin.token, root:twincache 0640,
// with random content; twincache-notify sends it).
//
// A request proves it holds the token with `Authorization: Bearer TOKEN`
// (RFC 6750, section 2.1; the scheme name is case-insensitive, RFC 9110,
// section 11.1). The comparison takes the same time whatever the presented
// value (SHA-256 of both sides compared with CRYPTO_memcmp), so timing tells
// nothing about the token. The file may change under a running daemon:
// Reload() (SIGHUP) swaps in the new token if it reads, else keeps the old.
#ifndef TWINCACHE_CORE_ADMIN_ADMIN_TOKEN_H_
#define TWINCACHE_CORE_ADMIN_ADMIN_TOKEN_H_

#include <array>
#include <cstdint>
#include <mutex>
#include <string>
#include <string_view>

namespace twincache {

/// Reads an admin token from `path`: the file's first line without
/// surrounding spaces, tabs and CR (the packages write base64 and a
/// newline). False with *error ("cannot read admin token file PATH: REASON",
/// "admin token file PATH is empty", "admin token file PATH: shorter than 16
/// bytes") otherwise; the token never appears in *error. Reentrant.
bool ReadAdminTokenFile(const std::string& path, std::string* token, std::string* error);

/// The value a client sends: the token of `path` in `Authorization: Bearer
/// TOKEN`, built by twincache-notify. Pure.
std::string BearerHeaderValue(std::string_view token);

/// How a request's credentials compare with the token.
enum class AdminAuth {
  kOk,       ///< `Bearer` with the token
  kMissing,  ///< no Authorization header, or not the Bearer scheme
  kWrong,    ///< Bearer with another value
};

/// Thread safety: every method may be called from any thread.
class AdminToken {
 public:
  /// Reads the token from `path` (ReadAdminTokenFile); false with *error.
  bool Load(const std::string& path, std::string* error);

  /// Reads the file named at Load again; on failure keeps the token it had
  /// and returns false with *error. For the SIGHUP reload hook.
  bool Reload(std::string* error);

  /// Checks `authorization`, the value of a request's Authorization header
  /// ("" when it had none), in time independent of the token's value.
  AdminAuth Check(std::string_view authorization) const;

 private:
  mutable std::mutex mu_;
  std::string path_;                  // guarded by mu_
  std::array<uint8_t, 32> digest_{};  // SHA-256 of the token; guarded by mu_
  bool loaded_ = false;               // guarded by mu_
};

}  // namespace twincache

#endif  // TWINCACHE_CORE_ADMIN_ADMIN_TOKEN_H_
