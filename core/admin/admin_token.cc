#include "core/admin/admin_token.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>

#include <cerrno>
#include <fstream>
#include <iterator>

#include "core/base/errno_text.h"

namespace twincache {
namespace {

// Shorter tokens are guessable; the packages write 32 random bytes in base64.
constexpr size_t kMinTokenBytes = 16;
constexpr std::string_view kBearer = "bearer";
constexpr std::string_view kBlank = " \t\r";

// SHA-256 of `bytes`; false if libcrypto fails (the caller then refuses).
bool Sha256(std::string_view bytes, std::array<uint8_t, 32>* digest) {
  unsigned int length = 0;
  return EVP_Digest(bytes.data(), bytes.size(), digest->data(), &length, EVP_sha256(), nullptr) == 1 &&
         length == digest->size();
}

std::string_view Trim(std::string_view text) {
  const size_t begin = text.find_first_not_of(kBlank);
  if (begin == std::string_view::npos) {
    return {};
  }
  return text.substr(begin, text.find_last_not_of(kBlank) - begin + 1);
}

bool EqualsIgnoringCase(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) {
    return false;
  }
  for (size_t i = 0; i < a.size(); ++i) {
    char c = a[i];
    if (c >= 'A' && c <= 'Z') {
      c = static_cast<char>(c - 'A' + 'a');
    }
    if (c != b[i]) {
      return false;
    }
  }
  return true;
}

}  // namespace

bool ReadAdminTokenFile(const std::string& path, std::string* token, std::string* error) {
  std::ifstream file(path, std::ios::binary);
  if (!file) {
    *error = "cannot read admin token file " + path + ": " + ErrnoText(errno);
    return false;
  }
  std::string bytes((std::istreambuf_iterator<char>(file)), std::istreambuf_iterator<char>());
  const std::string_view line = Trim(std::string_view(bytes).substr(0, bytes.find('\n')));
  if (line.empty()) {
    *error = "admin token file " + path + " is empty";
    return false;
  }
  if (line.size() < kMinTokenBytes) {
    *error = "admin token file " + path + ": shorter than " + std::to_string(kMinTokenBytes) + " bytes";
    return false;
  }
  *token = std::string(line);
  OPENSSL_cleanse(bytes.data(), bytes.size());
  return true;
}

std::string BearerHeaderValue(std::string_view token) { return "Bearer " + std::string(token); }

bool AdminToken::Load(const std::string& path, std::string* error) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    path_ = path;
  }
  return Reload(error);
}

bool AdminToken::Reload(std::string* error) {
  std::string path;
  {
    std::lock_guard<std::mutex> lock(mu_);
    path = path_;
  }
  std::string token;
  if (!ReadAdminTokenFile(path, &token, error)) {
    return false;
  }
  std::array<uint8_t, 32> digest{};
  const bool hashed = Sha256(token, &digest);
  OPENSSL_cleanse(token.data(), token.size());
  if (!hashed) {
    *error = "admin token file " + path + ": SHA-256 failed";
    return false;
  }
  std::lock_guard<std::mutex> lock(mu_);
  digest_ = digest;
  loaded_ = true;
  return true;
}

AdminAuth AdminToken::Check(std::string_view authorization) const {
  authorization = Trim(authorization);
  const size_t space = authorization.find(' ');
  if (space == std::string_view::npos || !EqualsIgnoringCase(authorization.substr(0, space), kBearer)) {
    return AdminAuth::kMissing;
  }
  std::array<uint8_t, 32> presented{};
  if (!Sha256(Trim(authorization.substr(space + 1)), &presented)) {
    return AdminAuth::kWrong;  // fail closed
  }
  std::lock_guard<std::mutex> lock(mu_);
  if (!loaded_) {
    return AdminAuth::kWrong;
  }
  return CRYPTO_memcmp(presented.data(), digest_.data(), digest_.size()) == 0 ? AdminAuth::kOk
                                                                              : AdminAuth::kWrong;
}

}  // namespace twincache
