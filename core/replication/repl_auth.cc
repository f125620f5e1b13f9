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

std::array<uint8_t, 32> AuthMac(const std::string& secret, const std::array<uint8_t, 32>& peer_nonce,
                                uint64_t own_node_id, const std::array<uint8_t, 32>& own_nonce) {
  std::string message(kAuthContext);
  message.append(reinterpret_cast<const char*>(peer_nonce.data()), peer_nonce.size());
  for (int shift = 56; shift >= 0; shift -= 8) {
    message.push_back(static_cast<char>(own_node_id >> shift));
  }
  message.append(reinterpret_cast<const char*>(own_nonce.data()), own_nonce.size());
  std::array<uint8_t, 32> mac{};
  unsigned int length = 0;
  HMAC(EVP_sha256(), secret.data(), static_cast<int>(secret.size()),
       reinterpret_cast<const unsigned char*>(message.data()), message.size(), mac.data(), &length);
  return mac;
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
