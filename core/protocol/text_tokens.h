// Text tokens: numbers and lines of the memcached text protocol, in and out.
//
// Parsing follows memcached's util.c safe_strtoul / safe_strtoull /
// safe_strtol: decimal digits after an optional '+' or '-'. The unsigned
// forms accept a '-' only on zero: strtoull reads "-0" as 0 and
// safe_strtoull lets it through, while any other negative number wraps to a
// value it rejects. Stricter than memcached, as protocol.txt asks: the whole
// token must be the number (strtoul also skips leading and stops at trailing
// whitespace) and a number out of range of the type is rejected (on LP64
// safe_strtoul and safe_strtol truncate to 32 bits). The parser calls these
// for every storage line, so the digits are read by a hand-written loop whose
// overflow test (strtoul's cutoff) needs no division.
//
// Appending writes the decimal digits with std::to_chars straight into the
// connection's output buffer, with no temporary string, because replies are
// on the hot path (memcached uses its itoa_u64 the same way).
#ifndef TWINCACHE_CORE_PROTOCOL_TEXT_TOKENS_H_
#define TWINCACHE_CORE_PROTOCOL_TEXT_TOKENS_H_

#include <charconv>
#include <cstdint>
#include <limits>
#include <string>
#include <string_view>

namespace twincache {
namespace text_tokens_internal {

// Removes a leading '+' or '-' from *token; returns true when it was '-'.
inline bool StripSign(std::string_view* token) {
  if (token->empty() || (token->front() != '+' && token->front() != '-')) {
    return false;
  }
  const bool negative = token->front() == '-';
  token->remove_prefix(1);
  return negative;
}

// Parses one or more decimal digits into *value; false on any other byte or
// when the number exceeds uint64_t (BSD strtoul's cutoff/cutlim test, which
// needs no division in the loop).
inline bool ParseDigits(std::string_view digits, uint64_t* value) {
  constexpr uint64_t kCutoff = std::numeric_limits<uint64_t>::max() / 10;
  constexpr unsigned kCutlim = std::numeric_limits<uint64_t>::max() % 10;
  if (digits.empty()) {
    return false;
  }
  uint64_t v = 0;
  for (const char c : digits) {
    const unsigned d = static_cast<unsigned char>(c) - static_cast<unsigned>('0');
    if (d > 9) {
      return false;
    }
    if (v > kCutoff || (v == kCutoff && d > kCutlim)) {
      return false;
    }
    v = v * 10 + d;
  }
  *value = v;
  return true;
}

// An unsigned decimal of at most `max`: '+' allowed, '-' only on zero.
inline bool ParseUnsigned(std::string_view token, uint64_t max, uint64_t* value) {
  const bool negative = StripSign(&token);
  uint64_t v = 0;
  if (!ParseDigits(token, &v) || (negative && v != 0) || v > max) {
    return false;
  }
  *value = v;
  return true;
}

// A signed decimal in [-max - 1, max].
inline bool ParseSigned(std::string_view token, int64_t max, int64_t* value) {
  const bool negative = StripSign(&token);
  uint64_t magnitude = 0;
  const uint64_t limit = static_cast<uint64_t>(max) + (negative ? 1 : 0);
  if (!ParseDigits(token, &magnitude) || magnitude > limit) {
    return false;
  }
  *value = negative ? static_cast<int64_t>(0 - magnitude) : static_cast<int64_t>(magnitude);
  return true;
}

}  // namespace text_tokens_internal

/// Parses an unsigned 64-bit decimal token, as memcached's safe_strtoull:
/// "+" allowed, "-" only on zero ("-0" is 0). Returns false on an empty,
/// partial or out-of-range token; writes *value only on success.
/// Pure function.
inline bool ParseUint64(std::string_view token, uint64_t* value) {
  return text_tokens_internal::ParseUnsigned(token, std::numeric_limits<uint64_t>::max(), value);
}

/// Parses an unsigned 32-bit decimal token, as memcached's safe_strtoul (flags,
/// verbosity, cache_memlimit), with ParseUint64's rules. Pure function.
inline bool ParseUint32(std::string_view token, uint32_t* value) {
  uint64_t wide = 0;
  if (!text_tokens_internal::ParseUnsigned(token, std::numeric_limits<uint32_t>::max(), &wide)) {
    return false;
  }
  *value = static_cast<uint32_t>(wide);
  return true;
}

/// Parses a signed 64-bit decimal token ("+" or "-" allowed), as memcached's
/// safe_strtoll (and safe_strtol before its truncation to 32 bits: exptimes,
/// <bytes>, flush_all delays). Returns false on an empty, partial or
/// out-of-range token; writes *value only on success. Pure function.
inline bool ParseInt64(std::string_view token, int64_t* value) {
  return text_tokens_internal::ParseSigned(token, std::numeric_limits<int64_t>::max(), value);
}

/// Parses a signed 32-bit decimal token, as memcached's safe_strtol does for
/// the meta T, N and R tokens, with ParseInt64's rules. Pure function.
inline bool ParseInt32(std::string_view token, int32_t* value) {
  int64_t wide = 0;
  if (!text_tokens_internal::ParseSigned(token, std::numeric_limits<int32_t>::max(), &wide)) {
    return false;
  }
  *value = static_cast<int32_t>(wide);
  return true;
}

/// Appends `line` and "\r\n" to `*out`: one reply line.
inline void AppendLine(std::string_view line, std::string* out) {
  out->append(line);
  out->append("\r\n");
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

#endif  // TWINCACHE_CORE_PROTOCOL_TEXT_TOKENS_H_
