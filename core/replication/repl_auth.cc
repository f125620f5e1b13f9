#include "core/replication/repl_auth.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <iterator>
#include <limits>
#include <memory>
#include <string_view>

#include "core/base/errno_text.h"

namespace twincache {
namespace {

constexpr std::string_view kAuthContext = "twincache-repl-v1";

}  // namespace

void RandomBytes(uint8_t* bytes, size_t size) {
  if (RAND_bytes(bytes, static_cast<int>(size)) != 1) {
    std::abort();
  }
}

uint64_t RandomNodeId() {
  uint64_t id = 0;
  while (id == 0) {
    RandomBytes(reinterpret_cast<uint8_t*>(&id), sizeof(id));
  }
  return id;
}

bool AuthMac(const std::string& secret, const std::array<uint8_t, 32>& peer_nonce, uint64_t own_node_id,
             const std::array<uint8_t, 32>& own_nonce, std::array<uint8_t, 32>* mac,
             std::string_view digest) {
  mac->fill(0);
  if (secret.empty() || secret.size() > static_cast<size_t>(std::numeric_limits<int>::max())) {
    return false;
  }
  std::string message(kAuthContext);
  message.append(reinterpret_cast<const char*>(peer_nonce.data()), peer_nonce.size());
  for (int shift = 56; shift >= 0; shift -= 8) {
    message.push_back(static_cast<char>(own_node_id >> shift));
  }
  message.append(reinterpret_cast<const char*>(own_nonce.data()), own_nonce.size());
  // EVP_MD_fetch rather than EVP_sha256(): the name comes from the caller,
  // and a fetch that fails (no provider offers it) is a failure to report.
  std::unique_ptr<EVP_MD, decltype(&EVP_MD_free)> md(
      EVP_MD_fetch(nullptr, std::string(digest).c_str(), nullptr), &EVP_MD_free);
  if (md == nullptr || EVP_MD_get_size(md.get()) != static_cast<int>(mac->size())) {
    return false;
  }
  // HMAC(3) returns NULL on failure and may leave the output half written;
  // its length must be the digest's.
  std::array<uint8_t, EVP_MAX_MD_SIZE> out{};
  unsigned int length = 0;
  if (HMAC(md.get(), secret.data(), static_cast<int>(secret.size()),
           reinterpret_cast<const unsigned char*>(message.data()), message.size(), out.data(),
           &length) == nullptr ||
      length != mac->size()) {
    OPENSSL_cleanse(out.data(), out.size());
    return false;
  }
  std::memcpy(mac->data(), out.data(), mac->size());
  OPENSSL_cleanse(out.data(), out.size());
  return true;
}

bool MacEqual(const std::array<uint8_t, 32>& a, const std::array<uint8_t, 32>& b) {
  return CRYPTO_memcmp(a.data(), b.data(), a.size()) == 0;
}

bool ReadSecretFile(const std::string& path, std::string* secret, std::string* error) {
  std::ifstream file(path, std::ios::binary);
  if (!file) {
    *error = "cannot read secret file " + path + ": " + ErrnoText(errno);
    return false;
  }
  std::string bytes((std::istreambuf_iterator<char>(file)), std::istreambuf_iterator<char>());
  while (!bytes.empty() && (bytes.back() == '\n' || bytes.back() == '\r')) {
    bytes.pop_back();
  }
  if (bytes.empty()) {
    *error = "secret file " + path + " is empty";
    return false;
  }
  *secret = std::move(bytes);
  return true;
}

}  // namespace twincache
