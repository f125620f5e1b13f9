#include "core/auth/ascii_auth.h"

#include <openssl/crypto.h>

#include <cerrno>
#include <fstream>
#include <sstream>

#include "core/base/errno_text.h"

namespace twincache {
namespace {

// Equal in time that depends on the stored password's length only.
bool SameSecret(std::string_view stored, std::string_view given) {
  if (stored.size() != given.size()) {
    return false;
  }
  return stored.empty() || CRYPTO_memcmp(stored.data(), given.data(), stored.size()) == 0;
}

}  // namespace

bool ParseAuthFile(std::string_view text, std::vector<AsciiAuthEntry>* entries, std::string* error) {
  std::vector<AsciiAuthEntry> parsed;
  size_t line_number = 0;
  while (!text.empty()) {
    ++line_number;
    const size_t newline = text.find('\n');
    std::string_view line = text.substr(0, newline);
    text = newline == std::string_view::npos ? std::string_view() : text.substr(newline + 1);
    // authfile_load: the password ends at the first '\r' or '\n'.
    const size_t cr = line.find('\r');
    if (cr != std::string_view::npos) {
      line = line.substr(0, cr);
    }
    if (line.empty()) {
      continue;
    }
    const size_t colon = line.find(':');
    if (colon == std::string_view::npos) {
      *error = "line " + std::to_string(line_number) + ": no ':' between user and password";
      return false;
    }
    parsed.push_back({std::string(line.substr(0, colon)), std::string(line.substr(colon + 1))});
  }
  *entries = std::move(parsed);
  return true;
}

bool LoadAuthFile(const std::string& path, std::vector<AsciiAuthEntry>* entries, std::string* error) {
  std::ifstream file(path, std::ios::binary);
  if (!file) {
    *error = FileErrorText("cannot read", path, errno);
    return false;
  }
  std::ostringstream text;
  text << file.rdbuf();
  if (file.bad()) {
    *error = FileErrorText("cannot read", path, errno);
    return false;
  }
  std::string parse_error;
  if (!ParseAuthFile(text.str(), entries, &parse_error)) {
    *error = path + ": " + parse_error;
    return false;
  }
  return true;
}

bool AsciiAuthTable::Load(const std::string& path, std::string* error) {
  std::vector<AsciiAuthEntry> entries;
  if (!LoadAuthFile(path, &entries, error)) {
    return false;
  }
  auto loaded = std::make_shared<const std::vector<AsciiAuthEntry>>(std::move(entries));
  std::lock_guard<std::mutex> lock(mutex_);
  entries_ = std::move(loaded);
  return true;
}

bool AsciiAuthTable::Check(std::string_view user, std::string_view password) const {
  std::shared_ptr<const std::vector<AsciiAuthEntry>> entries;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    entries = entries_;
  }
  bool accepted = false;
  for (const AsciiAuthEntry& entry : *entries) {
    // Both compared for every entry: no early exit on the user.
    const bool user_matches = SameSecret(entry.user, user);
    const bool password_matches = SameSecret(entry.password, password);
    accepted |= user_matches & password_matches;
  }
  return accepted;
}

size_t AsciiAuthTable::size() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return entries_->size();
}

}  // namespace twincache
