// Binary parser: memcached 1.6 binary request packets (see binary_parser.h).
//
// The design follows memcached's try_read_command_binary and
// dispatch_bin_command (proto_bin.c): wait for the header, then for the
// extras and key (but not the value), check the lengths against each other,
// then check the opcode's shape. Those checks happen before any value is
// read, so a packet that announces a huge body is rejected or swallowed
// without buffering it. Only storage and SASL packets carry a value, read
// whole once it fits -I (memcached reads it into the allocated item).
#include "core/protocol/binary_parser.h"

#include "core/store/item.h"

namespace twincache {
namespace {

// Big-endian fields of the header and extras.
uint16_t ReadBe16(const char* p) {
  const auto* b = reinterpret_cast<const unsigned char*>(p);
  return static_cast<uint16_t>(b[0] << 8 | b[1]);
}

uint32_t ReadBe32(const char* p) {
  const auto* b = reinterpret_cast<const unsigned char*>(p);
  return static_cast<uint32_t>(b[0]) << 24 | static_cast<uint32_t>(b[1]) << 16 |
         static_cast<uint32_t>(b[2]) << 8 | b[3];
}

uint64_t ReadBe64(const char* p) { return static_cast<uint64_t>(ReadBe32(p)) << 32 | ReadBe32(p + 4); }

// What an opcode carries after its key (dispatch_bin_command's cases).
enum class Body {
  kNone,     // bodylen must be extlen + keylen (or memcached reads no further)
  kValue,    // the rest of the body is a value, read or swallowed
  kUnknown,  // not an opcode memcached serves: Unknown command
};

// The lengths of one packet's header.
struct Lengths {
  size_t extlen;
  size_t keylen;
  size_t bodylen;
};

// Checks the opcode's extras/key/body lengths as dispatch_bin_command does
// (a false is its protocol_error) and says whether a value follows.
bool CheckShape(BinaryOpcode opcode, const Lengths& n, Body* body) {
  *body = Body::kNone;
  const bool empty = n.extlen == 0 && n.keylen == 0 && n.bodylen == 0;
  switch (LoudOpcode(opcode)) {
    case BinaryOpcode::kVersion:
    case BinaryOpcode::kNoop:
    case BinaryOpcode::kQuit:
    case BinaryOpcode::kSaslListMechs:
      return empty;
    case BinaryOpcode::kFlush:
      return n.keylen == 0 && n.bodylen == n.extlen && (n.extlen == 0 || n.extlen == kBinaryExpirationExtras);
    case BinaryOpcode::kSet:
    case BinaryOpcode::kAdd:
    case BinaryOpcode::kReplace:
      *body = Body::kValue;
      return n.extlen == kBinaryStorageExtras && n.keylen != 0 && n.bodylen >= n.keylen + n.extlen;
    case BinaryOpcode::kGet:
    case BinaryOpcode::kGetK:
    case BinaryOpcode::kDelete:
      return n.extlen == 0 && n.keylen != 0 && n.bodylen == n.keylen;
    case BinaryOpcode::kIncrement:
    case BinaryOpcode::kDecrement:
      return n.extlen == kBinaryArithmeticExtras && n.keylen != 0 && n.bodylen == n.keylen + n.extlen;
    case BinaryOpcode::kAppend:
    case BinaryOpcode::kPrepend:
    case BinaryOpcode::kSaslAuth:
    case BinaryOpcode::kSaslStep:
      *body = Body::kValue;
      return n.extlen == 0 && n.keylen != 0;
    case BinaryOpcode::kStat:
      return n.extlen == 0;
    case BinaryOpcode::kTouch:
    case BinaryOpcode::kGat:
    case BinaryOpcode::kGatK:
      return n.extlen == kBinaryExpirationExtras && n.keylen != 0;
    default:
      *body = Body::kUnknown;
      return true;
  }
}

// Reads the extras of a well-shaped packet into the request's fields
// (protocol_binary_request_set, _incr, _touch, _flush).
void DecodeExtras(BinaryRequest* request) {
  const char* extras = request->extras.data();
  switch (LoudOpcode(request->opcode)) {
    case BinaryOpcode::kSet:
    case BinaryOpcode::kAdd:
    case BinaryOpcode::kReplace:
      request->flags = ReadBe32(extras);
      request->exptime = ReadBe32(extras + 4);
      return;
    case BinaryOpcode::kIncrement:
    case BinaryOpcode::kDecrement:
      request->delta = ReadBe64(extras);
      request->initial = ReadBe64(extras + 8);
      request->exptime = ReadBe32(extras + 16);
      return;
    case BinaryOpcode::kTouch:
    case BinaryOpcode::kGat:
    case BinaryOpcode::kGatK:
    case BinaryOpcode::kFlush:
      if (request->extras.size() == kBinaryExpirationExtras) {
        request->exptime = ReadBe32(extras);
      }
      return;
    default:
      return;
  }
}

BinaryParseResult Error(BinaryStatus status, size_t consumed, bool close) {
  BinaryParseResult result;
  result.status = BinaryParseStatus::kError;
  result.consumed = consumed;
  result.error = status;
  result.close = close;
  return result;
}

BinaryParseResult Accepted(size_t consumed, size_t swallow) {
  BinaryParseResult result;
  result.status = BinaryParseStatus::kRequest;
  result.consumed = consumed;
  result.swallow = swallow;
  return result;
}

}  // namespace

BinaryParseResult ParseBinaryRequest(std::string_view input, const ParserLimits& limits,
                                     BinaryRequest* request) {
  request->Clear();
  if (input.size() < kBinaryHeaderSize) {
    return BinaryParseResult{};
  }
  const char* header = input.data();
  request->opcode = static_cast<BinaryOpcode>(static_cast<unsigned char>(header[1]));
  request->datatype = static_cast<uint8_t>(header[5]);
  request->opaque = ReadBe32(header + 12);
  request->cas = ReadBe64(header + 16);
  if (static_cast<unsigned char>(header[0]) != kBinaryRequestMagic) {
    BinaryParseResult result = Error(BinaryStatus::kSuccess, kBinaryHeaderSize, true);
    result.silent = true;
    return result;
  }
  const Lengths n{static_cast<unsigned char>(header[4]), ReadBe16(header + 2), ReadBe32(header + 8)};
  // memcached waits for the extras and key before looking at the lengths.
  const size_t head = kBinaryHeaderSize + n.extlen + n.keylen;
  if (input.size() < head) {
    return BinaryParseResult{};
  }
  if (n.keylen + n.extlen > n.bodylen) {
    return Error(BinaryStatus::kUnknownCommand, head, true);
  }
  // The binary protocol has 16-bit key lengths; items have at most 250 bytes.
  if (n.keylen > kKeyMaxLength) {
    return Error(BinaryStatus::kInvalidArguments, head, true);
  }
  Body body;
  if (!CheckShape(request->opcode, n, &body)) {
    return Error(BinaryStatus::kInvalidArguments, head, true);
  }
  const size_t value_length = n.bodylen - n.extlen - n.keylen;
  if (body == Body::kUnknown) {
    BinaryParseResult result = Error(BinaryStatus::kUnknownCommand, head, false);
    result.swallow = value_length;
    return result;
  }
  request->extras = input.substr(kBinaryHeaderSize, n.extlen);
  request->key = input.substr(kBinaryHeaderSize + n.extlen, n.keylen);
  DecodeExtras(request);
  if (body == Body::kNone) {
    return Accepted(head, 0);
  }
  if (!ItemFits(n.keylen, value_length, limits.item_size_max)) {
    request->too_large = true;
    return Accepted(head, value_length);
  }
  if (input.size() < head + value_length) {
    return BinaryParseResult{};
  }
  request->value = input.substr(head, value_length);
  return Accepted(head + value_length, 0);
}

}  // namespace twincache
