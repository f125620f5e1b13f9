// The replication link's encryption: TLS 1.3 with an external pre-shared key
// derived from the replication secret (docs/replication.md, "Transport").
//
// With --repl-secret-file, every byte of the link after the TCP handshake is
// a TLS 1.3 record (RFC 8446) on OpenSSL's libssl through standalone Asio's
// asio::ssl::stream. Both ends hold the same secret, so neither needs a
// certificate: the secret is turned into a 32-byte PSK with HKDF-SHA256
// (RFC 5869; OpenSSL's EVP_KDF "HKDF"), offered by the dialer under the fixed
// identity kLinkPskIdentity (RFC 8446, section 4.2.11: an external PSK) and
// looked up by the acceptor. TLS 1.3's PSK binder and Finished messages prove
// to each side that the other holds the same PSK (mutual authentication), the
// psk_dhe_ke mode (OpenSSL's default) adds an ECDHE exchange (forward secrecy:
// a secret stolen later does not decrypt a recorded link), and AES-128-GCM
// authenticates every record, so a byte altered on the way ends the link
// before any frame of it is read.
//
// The callbacks follow OpenSSL's SSL_CTX_set_psk_use_session_callback(3) and
// SSL_CTX_set_psk_find_session_callback(3), as s_client/s_server's -psk do
// for TLS 1.3. Everything fails closed: a libcrypto or libssl call that fails
// fails the derivation, the context or the handshake, never falls back to a
// clear or unauthenticated link.
#ifndef TWINCACHE_CORE_REPLICATION_REPL_TLS_H_
#define TWINCACHE_CORE_REPLICATION_REPL_TLS_H_

#include <asio/ssl.hpp>

#include <array>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include "core/replication/repl_auth.h"

namespace twincache {

/// The PSK identity the dialer offers and the acceptor expects (ASCII, not
/// secret: the PSK, not its name, authenticates).
inline constexpr std::string_view kLinkPskIdentity = "twincache-repl-v1";
/// HKDF's info (RFC 5869, section 2.3) for the link's PSK: a fixed label, so a
/// key derived from the same secret for anything else differs.
inline constexpr std::string_view kLinkPskLabel = "twincache replication link TLS 1.3 PSK v1";
/// The one cipher suite offered and accepted: TLS_AES_128_GCM_SHA256
/// (RFC 8446, appendix B.4), whose hash, SHA-256, is the PSK's.
inline constexpr std::string_view kLinkCipherSuite = "TLS_AES_128_GCM_SHA256";

/// Derives the link's 32-byte PSK from `secret`: HKDF-`digest` (RFC 5869,
/// extract and expand, no salt) with info kLinkPskLabel, through
/// EVP_KDF_fetch(3) "HKDF". False, with *psk zeroed and *error naming the
/// step ("cannot derive the link key: ..."), if `secret` is empty or any
/// libcrypto call fails. `digest` is kReplDigest on the link; tests pass an
/// unknown name to see the failure path. Pure; reentrant.
bool DeriveLinkPsk(std::string_view secret, std::array<uint8_t, 32>* psk, std::string* error,
                   std::string_view digest = kReplDigest);

/// The TLS context of the replication link: TLS 1.3 only, kLinkCipherSuite
/// only, no certificates, no session tickets, the PSK callbacks on both
/// roles (the dialer is the TLS client, the acceptor the server).
/// Thread safety: after Create, the context is read-only; streams made from
/// it may live on any one thread each (the replication thread).
class LinkTls {
 public:
  /// A context for `secret`, or null with *error ("cannot derive the link
  /// key: ...", "cannot set up the link's TLS context: ...") when the
  /// derivation or any libssl call fails.
  static std::unique_ptr<LinkTls> Create(std::string_view secret, std::string* error);

  ~LinkTls();
  LinkTls(const LinkTls&) = delete;
  LinkTls& operator=(const LinkTls&) = delete;

  /// The context a link's asio::ssl::stream is made from.
  asio::ssl::context& context() { return context_; }

 private:
  LinkTls();

  asio::ssl::context context_;
  // The OpenSSL callbacks (repl_tls.cc) find the PSK through the SSL_CTX's
  // ex_data, which points here. Cleansed on destruction.
  std::array<uint8_t, 32> psk_{};
};

/// The reason to log for a failed TLS handshake or record: OpenSSL's reason
/// text when it has one (e.g. "decryption failed or bad record mac"), else
/// Asio's message. Pure.
std::string LinkTlsErrorText(const asio::error_code& ec);

}  // namespace twincache

#endif  // TWINCACHE_CORE_REPLICATION_REPL_TLS_H_
