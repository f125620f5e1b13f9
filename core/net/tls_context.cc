#include "core/net/tls_context.h"

#include <openssl/err.h>
#include <openssl/ssl.h>

#include <chrono>
#include <utility>

namespace twincache {
namespace {

// The SSL_CTX ex_data slot holding the TlsContext, for the session callback.
int ContextIndex() {
  static const int index = SSL_CTX_get_ex_new_index(0, nullptr, nullptr, nullptr, nullptr);
  return index;
}

int OnNewSession(SSL* ssl, SSL_SESSION* /*session*/) {
  auto* owner = static_cast<TlsContext*>(SSL_CTX_get_ex_data(SSL_get_SSL_CTX(ssl), ContextIndex()));
  if (owner != nullptr) {
    owner->CountNewSession();
  }
  return 0;  // OpenSSL keeps its reference to the session
}

// OpenSSL's reason for a failure (the queue's first error), the queue emptied.
std::string OpenSslReason() {
  unsigned long code = ERR_peek_error();  // the first: "No such file or directory", not "system lib"
  char text[256] = "unknown error";
  if (code != 0) {
    ERR_error_string_n(code, text, sizeof(text));
  }
  ERR_clear_error();
  return text;
}

// memcached's ssl_verify_mode numbers as SSL_VERIFY_* bits (memcached.c main).
int VerifyBits(int mode) {
  switch (mode) {
    case 1:
      return SSL_VERIFY_PEER;
    case 2:
      return SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT;
    case 3:
      return SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT | SSL_VERIFY_CLIENT_ONCE;
    default:
      return SSL_VERIFY_NONE;
  }
}

}  // namespace

TlsOptions TlsOptionsFromSettings(const Settings& settings) {
  TlsOptions options;
  options.chain_cert = settings.ssl_chain_cert;
  options.key = settings.ssl_key;
  options.ca_cert = settings.ssl_ca_cert;
  options.verify_mode = settings.ssl_verify_mode;
  options.min_version = settings.ssl_min_version;
  options.ciphers = settings.ssl_ciphers;
  options.session_cache = settings.ssl_session_cache;
  return options;
}

TlsContext::TlsContext(TlsOptions options) : options_(std::move(options)) {}

// tls.c ssl_init and load_server_certificates, in their order, on a fresh
// context.
bool TlsContext::Load(std::string* error) {
  auto context = std::make_shared<asio::ssl::context>(asio::ssl::context::tls_server);
  SSL_CTX* ctx = context->native_handle();
  ERR_clear_error();
  SSL_CTX_set_min_proto_version(ctx, TLS1_VERSION + options_.min_version);
  const std::string& key = options_.key.empty() ? options_.chain_cert : options_.key;
  if (SSL_CTX_use_certificate_chain_file(ctx, options_.chain_cert.c_str()) != 1) {
    *error = "Error loading the certificate chain: " + options_.chain_cert + " : " + OpenSslReason();
    return false;
  }
  if (SSL_CTX_use_PrivateKey_file(ctx, key.c_str(), SSL_FILETYPE_PEM) != 1) {
    *error = "Error loading the key: " + key + " : " + OpenSslReason();
    return false;
  }
  if (SSL_CTX_check_private_key(ctx) != 1) {
    *error = "Error validating the certificate: " + OpenSslReason();
    return false;
  }
  if (!options_.ca_cert.empty()) {
    if (SSL_CTX_load_verify_locations(ctx, options_.ca_cert.c_str(), nullptr) != 1) {
      *error = "Error loading the CA certificate: " + options_.ca_cert + " : " + OpenSslReason();
      return false;
    }
    SSL_CTX_set_client_CA_list(ctx, SSL_load_client_CA_file(options_.ca_cert.c_str()));
  }
  SSL_CTX_set_verify(ctx, VerifyBits(options_.verify_mode), nullptr);
  if (!options_.ciphers.empty() && SSL_CTX_set_cipher_list(ctx, options_.ciphers.c_str()) != 1) {
    *error = "Error setting the provided cipher(s): " + options_.ciphers + " : " + OpenSslReason();
    return false;
  }
  if (options_.session_cache) {
    static constexpr unsigned char kSessionIdContext[] = "twincached";
    SSL_CTX_set_ex_data(ctx, ContextIndex(), this);
    SSL_CTX_sess_set_new_cb(ctx, OnNewSession);
    SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_SERVER);
    SSL_CTX_set_session_id_context(ctx, kSessionIdContext, sizeof(kSessionIdContext) - 1);
  } else {
    SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF);
  }
  SSL_CTX_set_options(ctx, SSL_OP_NO_RENEGOTIATION);
  SSL_CTX_set_mode(ctx, SSL_MODE_RELEASE_BUFFERS);
  {
    std::lock_guard<std::mutex> lock(mutex_);
    current_ = std::move(context);
  }
  const auto now = std::chrono::system_clock::now().time_since_epoch();
  loaded_at_ms_.store(std::chrono::duration_cast<std::chrono::milliseconds>(now).count(),
                      std::memory_order_relaxed);
  return true;
}

std::shared_ptr<asio::ssl::context> TlsContext::Current() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return current_;
}

void TlsContext::AppendStats(int64_t now_ms, StatList* out) const {
  if (options_.session_cache) {
    AddStat(out, "ssl_new_sessions", new_sessions_.load(std::memory_order_relaxed));
  }
  AddStat(out, "ssl_handshake_errors", handshake_errors_.load(std::memory_order_relaxed));
  const int64_t since_ms = now_ms - loaded_at_ms_.load(std::memory_order_relaxed);
  AddStat(out, "time_since_server_cert_refresh", static_cast<uint64_t>(since_ms > 0 ? since_ms / 1000 : 0));
}

}  // namespace twincache
