#include "core/replication/repl_tls.h"

#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/kdf.h>
#include <openssl/ssl.h>

#include <cstring>
#include <exception>

namespace twincache {
namespace {

// TLS_AES_128_GCM_SHA256's code point (RFC 8446, appendix B.4), for SSL_CIPHER_find.
constexpr unsigned char kCipherId[2] = {0x13, 0x01};

// The ex_data slot of an SSL_CTX that points at its LinkTls's PSK; -1 if
// OpenSSL could not allocate one (every handshake then fails).
int PskSlot() {
  static const int slot = SSL_CTX_get_ex_new_index(0, nullptr, nullptr, nullptr, nullptr);
  return slot;
}

// The oldest queued OpenSSL error as text, and the queue emptied (errors of a
// failed call must not be blamed on a later one).
std::string TakeOpenSslError() {
  unsigned long code = ERR_get_error();  // NOLINT(google-runtime-int): OpenSSL's type
  std::string text = code == 0                                  ? "unknown error"
                     : ERR_reason_error_string(code) != nullptr ? ERR_reason_error_string(code)
                                                                : "error " + std::to_string(code);
  ERR_clear_error();
  return text;
}

// A session that carries the PSK as its resumption secret, for the cipher
// suite of the link (SSL_CTX_set_psk_use_session_callback(3), EXAMPLES). Null
// if any call fails.
SSL_SESSION* PskSession(SSL* ssl) {
  const int slot = PskSlot();
  const auto* psk =
      slot < 0 ? nullptr
               : static_cast<const std::array<uint8_t, 32>*>(SSL_CTX_get_ex_data(SSL_get_SSL_CTX(ssl), slot));
  const SSL_CIPHER* cipher = SSL_CIPHER_find(ssl, kCipherId);
  if (psk == nullptr || cipher == nullptr) {
    return nullptr;
  }
  SSL_SESSION* session = SSL_SESSION_new();
  if (session == nullptr || SSL_SESSION_set1_master_key(session, psk->data(), psk->size()) != 1 ||
      SSL_SESSION_set_cipher(session, cipher) != 1 ||
      SSL_SESSION_set_protocol_version(session, TLS1_3_VERSION) != 1) {
    SSL_SESSION_free(session);
    return nullptr;
  }
  return session;
}

// The dialer (TLS client) offers the PSK. Returning 0 fails the handshake.
int UsePskSession(SSL* ssl, const EVP_MD* md, const unsigned char** id, size_t* id_len,
                  SSL_SESSION** session) {
  *session = nullptr;
  SSL_SESSION* psk_session = PskSession(ssl);
  if (psk_session == nullptr) {
    return 0;
  }
  // After a HelloRetryRequest OpenSSL asks again with the hash the server
  // chose; a PSK of another hash cannot be offered (the handshake then fails).
  if (md != nullptr && md != SSL_CIPHER_get_handshake_digest(SSL_SESSION_get0_cipher(psk_session))) {
    SSL_SESSION_free(psk_session);
    return 0;
  }
  *id = reinterpret_cast<const unsigned char*>(kLinkPskIdentity.data());
  *id_len = kLinkPskIdentity.size();
  *session = psk_session;
  return 1;
}

// The acceptor (TLS server) knows one identity. Any other, or a failure,
// returns 0: the handshake fails rather than going on without a PSK.
int FindPskSession(SSL* ssl, const unsigned char* identity, size_t identity_len, SSL_SESSION** session) {
  *session = nullptr;
  if (identity_len != kLinkPskIdentity.size() ||
      std::memcmp(identity, kLinkPskIdentity.data(), identity_len) != 0) {
    return 0;
  }
  *session = PskSession(ssl);
  return *session == nullptr ? 0 : 1;
}

}  // namespace

bool DeriveLinkPsk(std::string_view secret, std::array<uint8_t, 32>* psk, std::string* error,
                   std::string_view digest) {
  psk->fill(0);
  if (secret.empty()) {
    *error = "cannot derive the link key: the secret is empty";
    return false;
  }
  std::unique_ptr<EVP_KDF, decltype(&EVP_KDF_free)> kdf(EVP_KDF_fetch(nullptr, OSSL_KDF_NAME_HKDF, nullptr),
                                                        &EVP_KDF_free);
  std::unique_ptr<EVP_KDF_CTX, decltype(&EVP_KDF_CTX_free)> ctx(
      kdf == nullptr ? nullptr : EVP_KDF_CTX_new(kdf.get()), &EVP_KDF_CTX_free);
  if (ctx == nullptr) {
    *error = "cannot derive the link key: HKDF: " + TakeOpenSslError();
    return false;
  }
  std::string digest_name(digest);
  std::string info(kLinkPskLabel);
  // OSSL_PARAM takes non-const pointers; the KDF only reads them.
  std::string key(secret);
  const OSSL_PARAM params[] = {
      OSSL_PARAM_construct_utf8_string(OSSL_KDF_PARAM_DIGEST, digest_name.data(), 0),
      OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_KEY, key.data(), key.size()),
      OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_INFO, info.data(), info.size()),
      OSSL_PARAM_construct_end(),
  };
  const bool ok = EVP_KDF_derive(ctx.get(), psk->data(), psk->size(), params) == 1;
  OPENSSL_cleanse(key.data(), key.size());
  if (!ok) {
    psk->fill(0);
    *error = "cannot derive the link key: HKDF-" + digest_name + ": " + TakeOpenSslError();
    return false;
  }
  return true;
}

LinkTls::LinkTls() : context_(asio::ssl::context::tls) {}

LinkTls::~LinkTls() { OPENSSL_cleanse(psk_.data(), psk_.size()); }

std::unique_ptr<LinkTls> LinkTls::Create(std::string_view secret, std::string* error) {
  std::unique_ptr<LinkTls> tls;
  try {
    tls.reset(new LinkTls());  // asio::ssl::context throws if SSL_CTX_new fails
  } catch (const std::exception& e) {
    *error = std::string("cannot set up the link's TLS context: ") + e.what();
    return nullptr;
  }
  if (!DeriveLinkPsk(secret, &tls->psk_, error)) {
    return nullptr;
  }
  SSL_CTX* ctx = tls->context_.native_handle();
  const int slot = PskSlot();
  const std::string suites(kLinkCipherSuite);
  // TLS 1.3 only, one suite, no certificate verification (there are no
  // certificates: the PSK authenticates both ends), no session tickets (a
  // reconnect derives its keys from the PSK and a new ECDHE exchange).
  const bool ok = slot >= 0 && SSL_CTX_set_ex_data(ctx, slot, &tls->psk_) == 1 &&
                  SSL_CTX_set_min_proto_version(ctx, TLS1_3_VERSION) == 1 &&
                  SSL_CTX_set_max_proto_version(ctx, TLS1_3_VERSION) == 1 &&
                  SSL_CTX_set_ciphersuites(ctx, suites.c_str()) == 1 && SSL_CTX_set_num_tickets(ctx, 0) == 1;
  if (!ok) {
    *error = "cannot set up the link's TLS context: " + TakeOpenSslError();
    return nullptr;
  }
  SSL_CTX_set_options(ctx, SSL_OP_NO_TICKET);
  SSL_CTX_set_psk_use_session_callback(ctx, &UsePskSession);
  SSL_CTX_set_psk_find_session_callback(ctx, &FindPskSession);
  return tls;
}

std::string LinkTlsErrorText(const asio::error_code& ec) {
  if (ec.category() == asio::error::get_ssl_category()) {
    const char* reason = ERR_reason_error_string(static_cast<unsigned long>(ec.value()));  // NOLINT
    if (reason != nullptr) {
      return reason;
    }
  }
  if (ec == asio::ssl::error::stream_truncated) {
    return "peer closed the TLS stream";
  }
  return ec.message();
}

}  // namespace twincache
