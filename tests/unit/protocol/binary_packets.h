// Test helpers: binary protocol request packets built byte by byte, and
// response packets read back (memcached protocol_binary.h, "Request header",
// "Response header"), for the binary parser and handler tests.
#ifndef TWINCACHE_TESTS_UNIT_PROTOCOL_BINARY_PACKETS_H_
#define TWINCACHE_TESTS_UNIT_PROTOCOL_BINARY_PACKETS_H_

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "core/protocol/binary_protocol.h"

namespace twincache::testing_binary {

inline void PutBe(uint64_t value, size_t bytes, std::string* out) {
  for (size_t i = bytes; i > 0; --i) {
    out->push_back(static_cast<char>(value >> (8 * (i - 1))));
  }
}

inline uint64_t GetBe(std::string_view in, size_t offset, size_t bytes) {
  uint64_t value = 0;
  for (size_t i = 0; i < bytes; ++i) {
    value = value << 8 | static_cast<unsigned char>(in[offset + i]);
  }
  return value;
}

/// One request packet. The lengths in the header are those of the parts
/// unless overridden, so malformed packets can be built too.
struct Packet {
  Packet(BinaryOpcode opcode_in = BinaryOpcode::kGet, std::string key_in = "", std::string extras_in = "",
         std::string value_in = "", uint32_t opaque_in = 0, uint64_t cas_in = 0)
      : opcode(opcode_in),
        key(std::move(key_in)),
        extras(std::move(extras_in)),
        value(std::move(value_in)),
        opaque(opaque_in),
        cas(cas_in) {}

  BinaryOpcode opcode = BinaryOpcode::kGet;
  std::string key;
  std::string extras;
  std::string value;
  uint32_t opaque = 0;
  uint64_t cas = 0;
  uint8_t magic = kBinaryRequestMagic;
  std::optional<uint32_t> bodylen;  ///< overrides extlen + keylen + value size
  std::optional<uint16_t> keylen;   ///< overrides key size

  std::string Bytes() const {
    std::string out;
    out.push_back(static_cast<char>(magic));
    out.push_back(static_cast<char>(opcode));
    PutBe(keylen.value_or(static_cast<uint16_t>(key.size())), 2, &out);
    out.push_back(static_cast<char>(extras.size()));
    out.push_back(0);   // datatype
    PutBe(0, 2, &out);  // reserved
    PutBe(bodylen.value_or(static_cast<uint32_t>(extras.size() + key.size() + value.size())), 4, &out);
    PutBe(opaque, 4, &out);
    PutBe(cas, 8, &out);
    return out + extras + key + value;
  }
};

/// Extras of Set/Add/Replace.
inline std::string StorageExtras(uint32_t flags, uint32_t exptime) {
  std::string out;
  PutBe(flags, 4, &out);
  PutBe(exptime, 4, &out);
  return out;
}

/// Extras of Increment/Decrement.
inline std::string ArithmeticExtras(uint64_t delta, uint64_t initial, uint32_t exptime) {
  std::string out;
  PutBe(delta, 8, &out);
  PutBe(initial, 8, &out);
  PutBe(exptime, 4, &out);
  return out;
}

/// Extras of Touch/GAT/Flush.
inline std::string ExpirationExtras(uint32_t exptime) {
  std::string out;
  PutBe(exptime, 4, &out);
  return out;
}

/// One response packet, decoded.
struct Response {
  uint8_t magic = 0;
  uint8_t opcode = 0;
  uint16_t status = 0;
  uint8_t datatype = 0;
  uint32_t opaque = 0;
  uint64_t cas = 0;
  std::string extras;
  std::string key;
  std::string value;
};

/// Splits `bytes` into response packets; a trailing partial packet is
/// reported through *complete = false (when given).
inline std::vector<Response> Responses(std::string_view bytes, bool* complete = nullptr) {
  std::vector<Response> out;
  size_t offset = 0;
  while (bytes.size() - offset >= kBinaryHeaderSize) {
    const size_t keylen = GetBe(bytes, offset + 2, 2);
    const size_t extlen = GetBe(bytes, offset + 4, 1);
    const size_t bodylen = GetBe(bytes, offset + 8, 4);
    if (bytes.size() - offset < kBinaryHeaderSize + bodylen) {
      break;
    }
    Response r;
    r.magic = static_cast<uint8_t>(bytes[offset]);
    r.opcode = static_cast<uint8_t>(bytes[offset + 1]);
    r.datatype = static_cast<uint8_t>(bytes[offset + 5]);
    r.status = static_cast<uint16_t>(GetBe(bytes, offset + 6, 2));
    r.opaque = static_cast<uint32_t>(GetBe(bytes, offset + 12, 4));
    r.cas = GetBe(bytes, offset + 16, 8);
    const std::string_view body = bytes.substr(offset + kBinaryHeaderSize, bodylen);
    r.extras = std::string(body.substr(0, extlen));
    r.key = std::string(body.substr(extlen, keylen));
    r.value = std::string(body.substr(extlen + keylen));
    out.push_back(r);
    offset += kBinaryHeaderSize + bodylen;
  }
  if (complete != nullptr) {
    *complete = offset == bytes.size();
  }
  return out;
}

}  // namespace twincache::testing_binary

#endif  // TWINCACHE_TESTS_UNIT_PROTOCOL_BINARY_PACKETS_H_
