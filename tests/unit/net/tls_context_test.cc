// Tests for the client TLS context's loading: the errors memcached gives
// (tls.c load_server_certificates) and that a failed load keeps the running
// context. The certificate is made here with OpenSSL (no key is committed).
#include "core/net/tls_context.h"

#include <gtest/gtest.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include <cstdio>
#include <memory>
#include <string>

#include "tests/unit/testing/temp_dir.h"

namespace twincache {
namespace {

// Writes a self-signed P-256 certificate and its key to `dir`/cert.pem and
// `dir`/key.pem.
void MakeSelfSigned(const std::string& dir) {
  std::unique_ptr<EVP_PKEY, decltype(&EVP_PKEY_free)> key(EVP_EC_gen("P-256"), EVP_PKEY_free);
  ASSERT_NE(key, nullptr);
  std::unique_ptr<X509, decltype(&X509_free)> cert(X509_new(), X509_free);
  ASSERT_NE(cert, nullptr);
  ASN1_INTEGER_set(X509_get_serialNumber(cert.get()), 1);
  X509_gmtime_adj(X509_getm_notBefore(cert.get()), 0);
  X509_gmtime_adj(X509_getm_notAfter(cert.get()), 3600);
  X509_set_pubkey(cert.get(), key.get());
  X509_NAME* name = X509_get_subject_name(cert.get());
  X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC, reinterpret_cast<const unsigned char*>("test"), -1, -1,
                             0);
  X509_set_issuer_name(cert.get(), name);
  ASSERT_GT(X509_sign(cert.get(), key.get(), EVP_sha256()), 0);
  FILE* f = std::fopen((dir + "/cert.pem").c_str(), "w");
  ASSERT_NE(f, nullptr);
  PEM_write_X509(f, cert.get());
  std::fclose(f);
  f = std::fopen((dir + "/key.pem").c_str(), "w");
  ASSERT_NE(f, nullptr);
  PEM_write_PrivateKey(f, key.get(), nullptr, nullptr, 0, nullptr, nullptr);
  std::fclose(f);
}

TEST(TlsContextTest, LoadsAndKeepsTheContextOnAFailedReload) {
  const testing::TempDir temp("tls_context_test");
  ASSERT_FALSE(temp.path().empty());
  const std::string dir = temp.path().string();
  MakeSelfSigned(dir);
  TlsOptions options;
  options.chain_cert = dir + "/cert.pem";
  options.key = dir + "/key.pem";
  TlsContext tls(options);
  EXPECT_EQ(tls.Current(), nullptr);
  std::string error;
  ASSERT_TRUE(tls.Load(&error)) << error;
  const std::shared_ptr<asio::ssl::context> first = tls.Current();
  ASSERT_NE(first, nullptr);
  ASSERT_TRUE(tls.Load(&error)) << error;
  EXPECT_NE(tls.Current(), first);  // a refresh makes a new context; `first` lives on with its holders

  std::remove(options.chain_cert.c_str());
  const std::shared_ptr<asio::ssl::context> second = tls.Current();
  EXPECT_FALSE(tls.Load(&error));
  EXPECT_EQ(error.rfind("Error loading the certificate chain: " + options.chain_cert + " : ", 0), 0u)
      << error;
  EXPECT_EQ(tls.Current(), second);
}

TEST(TlsContextTest, MissingKeyAndCaAreNamed) {
  const testing::TempDir temp("tls_context_test");
  ASSERT_FALSE(temp.path().empty());
  const std::string dir = temp.path().string();
  MakeSelfSigned(dir);
  TlsOptions options;
  options.chain_cert = dir + "/cert.pem";
  options.key = dir + "/no-such-key.pem";
  std::string error;
  EXPECT_FALSE(TlsContext(options).Load(&error));
  EXPECT_EQ(error.rfind("Error loading the key: " + options.key + " : ", 0), 0u) << error;
  options.key = dir + "/key.pem";
  options.ca_cert = dir + "/no-such-ca.pem";
  EXPECT_FALSE(TlsContext(options).Load(&error));
  EXPECT_EQ(error.rfind("Error loading the CA certificate: " + options.ca_cert + " : ", 0), 0u) << error;
}

TEST(TlsContextTest, StatsAsMemcached) {
  TlsOptions options;
  options.session_cache = true;
  TlsContext tls(options);
  tls.CountHandshakeError();
  StatList stats;
  tls.AppendStats(0, &stats);
  ASSERT_EQ(stats.size(), 3u);
  EXPECT_EQ(stats[0].name, "ssl_new_sessions");
  EXPECT_EQ(stats[1].name, "ssl_handshake_errors");
  EXPECT_EQ(stats[1].value, "1");
  EXPECT_EQ(stats[2].name, "time_since_server_cert_refresh");
}

TEST(TlsOptionsTest, FromSettings) {
  Settings settings;
  settings.ssl_chain_cert = "c";
  settings.ssl_verify_mode = 3;
  settings.ssl_min_version = 3;
  const TlsOptions options = TlsOptionsFromSettings(settings);
  EXPECT_EQ(options.chain_cert, "c");
  EXPECT_EQ(options.verify_mode, 3);
  EXPECT_EQ(options.min_version, 3);
}

}  // namespace
}  // namespace twincache
