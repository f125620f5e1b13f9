// Text tokens: numbers of the memcached text protocol, in and out.
//
// Parsing follows memcached's util.c safe_strtoul / safe_strtoull /
// safe_strtol: decimal, an optional sign, the whole token must be the number
// and the unsigned forms reject a minus sign. Appending writes the decimal
// digits with std::to_chars straight into the connection's output buffer, with
// no temporary string, because replies are on the hot path (memcached uses its
// itoa_u64 the same way).
#ifndef TWINCACHE_CORE_TEXT_TOKENS_H_
#define TWINCACHE_CORE_TEXT_TOKENS_H_

#include <charconv>
#include <cstdint>
#include <limits>
#include <string>
#include <string_view>
#include <system_error>

namespace twincache {

/// Parses an unsigned 64-bit decimal token ("+" allowed, "-" rejected).
/// Returns false on an empty, partial or out-of-range token. Pure function.
inline bool ParseUint64(std::string_view token, uint64_t* value) {
  if (!token.empty() && token.front() == '+') {
    token.remove_prefix(1);
  }
  if (token.empty()) {
    return false;
  }
  auto [end, ec] = std::from_chars(token.data(), token.data() + token.size(), *value);
  return ec == std::errc() && end == token.data() + token.size();
}

/// Parses an unsigned 32-bit decimal token, as ParseUint64. Pure function.
inline bool ParseUint32(std::string_view token, uint32_t* value) {
  uint64_t wide = 0;
  if (!ParseUint64(token, &wide) || wide > std::numeric_limits<uint32_t>::max()) {
    return false;
  }
  *value = static_cast<uint32_t>(wide);
  return true;
}

/// Parses a signed 32-bit decimal token ("+" or "-" allowed), as memcached's
/// safe_strtol does for exptimes. Pure function.
inline bool ParseInt32(std::string_view token, int32_t* value) {
  if (!token.empty() && token.front() == '+') {
    token.remove_prefix(1);
    if (!token.empty() && token.front() == '-') {
      return false;
    }
  }
  if (token.empty()) {
    return false;
  }
  auto [end, ec] = std::from_chars(token.data(), token.data() + token.size(), *value);
  return ec == std::errc() && end == token.data() + token.size();
}

/// Appends `value` in decimal to `*out`.
inline void AppendUint(std::string* out, uint64_t value) {
  char digits[20];
  auto [end, ec] = std::to_chars(digits, digits + sizeof(digits), value);
  out->append(digits, end);
}

/// Appends `value` in decimal (with "-" when negative) to `*out`.
inline void AppendInt(std::string* out, int64_t value) {
  char digits[20];
  auto [end, ec] = std::to_chars(digits, digits + sizeof(digits), value);
  out->append(digits, end);
}

}  // namespace twincache

#endif  // TWINCACHE_CORE_TEXT_TOKENS_H_
