// TlsContext: the server side of client TLS, memcached 1.6's -Z.
//
// memcached builds one SSL_CTX for the process from -o ssl_chain_cert,
// ssl_key, ssl_ca_cert, ssl_verify_mode, ssl_min_version, ssl_ciphers and
// ssl_session_cache (tls.c ssl_init, load_server_certificates) and reloads
// the certificates into it on `refresh_certs`. twincached builds a new
// asio::ssl::context (OpenSSL's SSL_CTX) at each load and swaps it in for
// new connections only once everything loaded: a connection keeps the
// context it was accepted with (it holds a shared_ptr), so a refresh drops
// nobody, and a failed refresh leaves the running context in place.
//
// Counters as memcached's `stats` reports them for TLS (memcached.c
// server_stats): ssl_handshake_errors, ssl_new_sessions (with the session
// cache), time_since_server_cert_refresh.
#ifndef TWINCACHE_CORE_NET_TLS_CONTEXT_H_
#define TWINCACHE_CORE_NET_TLS_CONTEXT_H_

#include <asio.hpp>
#include <asio/ssl.hpp>

#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>

#include "core/base/stat_list.h"
#include "core/config/settings.h"

namespace twincache {

/// What a TLS context is built from: Settings' ssl_* fields (settings.h).
struct TlsOptions {
  std::string chain_cert;      ///< PEM certificate chain, the server's certificate first
  std::string key;             ///< PEM private key; "" = the key is in chain_cert
  std::string ca_cert;         ///< PEM CAs that client certificates are verified against; "" = none
  int verify_mode = 0;         ///< memcached's 0 none, 1 request, 2 require, 3 require once
  int min_version = 2;         ///< memcached's 0..3: TLS 1.0 .. TLS 1.3
  std::string ciphers;         ///< OpenSSL cipher list for TLS <= 1.2; "" = OpenSSL's default
  bool session_cache = false;  ///< server-side session cache (counted in ssl_new_sessions)
};

/// The options of a daemon started with `settings`. Pure.
TlsOptions TlsOptionsFromSettings(const Settings& settings);

/// Thread safety: every member is safe from any thread.
class TlsContext {
 public:
  explicit TlsContext(TlsOptions options);
  TlsContext(const TlsContext&) = delete;
  TlsContext& operator=(const TlsContext&) = delete;

  /// Builds a new context from the options' files and, when all of them
  /// loaded, makes it the one Current() returns (the start-up load and
  /// every refresh: `refresh_certs`, SIGHUP). False with a one-line *error
  /// in memcached's words ("Error loading the certificate chain: FILE :
  /// OPENSSL REASON", "Error loading the key: ...", "Error validating the
  /// certificate: ...", "Error loading the CA certificate: ...", "Error
  /// setting the provided cipher(s): ..."), the current context kept.
  /// Reads files: call where blocking on disk for a moment is fine.
  bool Load(std::string* error);

  /// The context new connections use; nullptr before a successful Load().
  std::shared_ptr<asio::ssl::context> Current() const;

  /// Counts a client whose handshake failed (memcached's ssl_handshake_errors).
  void CountHandshakeError() { handshake_errors_.fetch_add(1, std::memory_order_relaxed); }

  /// Appends memcached's TLS lines of `stats` (server_stats): ssl_new_sessions
  /// when the session cache is on, ssl_handshake_errors and
  /// time_since_server_cert_refresh (seconds since the last successful
  /// Load(), at `now_ms` unix milliseconds).
  void AppendStats(int64_t now_ms, StatList* out) const;

  /// Called by OpenSSL for each new session (SSL_CTX_sess_set_new_cb).
  void CountNewSession() { new_sessions_.fetch_add(1, std::memory_order_relaxed); }

 private:
  const TlsOptions options_;
  mutable std::mutex mutex_;  // guards current_
  std::shared_ptr<asio::ssl::context> current_;
  std::atomic<uint64_t> handshake_errors_{0};
  std::atomic<uint64_t> new_sessions_{0};
  std::atomic<int64_t> loaded_at_ms_{0};
};

}  // namespace twincache

#endif  // TWINCACHE_CORE_NET_TLS_CONTEXT_H_
