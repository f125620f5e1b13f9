// Binary protocol: the constants of memcached's binary protocol (deprecated by
// memcached 1.6 but still served by it, and spoken by clients such as
// libmemcached/pylibmc, spymemcached, php-memcached and dalli).
//
// Every packet is a 24-byte header followed by a body of `bodylen` bytes:
// extras (`extlen` bytes), then the key (`keylen`), then the value (the rest).
// All multi-byte fields are big-endian. Request header (memcached
// protocol_binary.h, "Definition of the header structure for a request
// packet"):
//   0 magic (0x80)  1 opcode  2-3 keylen  4 extlen  5 datatype  6-7 reserved
//   8-11 bodylen  12-15 opaque  16-23 cas
// A response header is the same with magic 0x81 and bytes 6-7 the status.
// The opaque is echoed untouched; the names and numbers below are memcached's
// protocol_binary.h ("Magic byte values", "Response status", "Command
// opcodes") in this project's spelling.
#ifndef TWINCACHE_CORE_PROTOCOL_BINARY_PROTOCOL_H_
#define TWINCACHE_CORE_PROTOCOL_BINARY_PROTOCOL_H_

#include <cstddef>
#include <cstdint>
#include <string_view>

namespace twincache {

/// First byte of every request packet; also how a connection in auto mode
/// recognises a binary client (memcached try_read_command_negotiate).
inline constexpr uint8_t kBinaryRequestMagic = 0x80;

/// First byte of every response packet.
inline constexpr uint8_t kBinaryResponseMagic = 0x81;

/// Bytes of a request or response header.
inline constexpr size_t kBinaryHeaderSize = 24;

/// Extras of Set/Add/Replace: flags (4 bytes), expiration (4 bytes)
/// (protocol_binary_request_set).
inline constexpr size_t kBinaryStorageExtras = 8;

/// Extras of Increment/Decrement: delta (8), initial value (8), expiration (4)
/// (protocol_binary_request_incr).
inline constexpr size_t kBinaryArithmeticExtras = 20;

/// Extras of Touch/GAT and of Flush with a delay: expiration (4)
/// (protocol_binary_request_touch, protocol_binary_request_flush).
inline constexpr size_t kBinaryExpirationExtras = 4;

/// Extras of a Get/GAT/Touch response: the item's flags (4)
/// (protocol_binary_response_get).
inline constexpr size_t kBinaryFlagsExtras = 4;

/// Body of an Increment/Decrement response: the new value (8)
/// (protocol_binary_response_incr).
inline constexpr size_t kBinaryCounterBody = 8;

/// Increment/Decrement expiration meaning "do not create a missing item":
/// the request fails with Key not found instead (memcached proto_bin.c
/// complete_incr_bin).
inline constexpr uint32_t kBinaryNoAutoCreate = 0xffffffff;

/// Command opcodes (protocol_binary.h "Command opcodes"). A request may carry
/// any byte; values not listed here are unknown commands.
enum class BinaryOpcode : uint8_t {
  kGet = 0x00,
  kSet = 0x01,
  kAdd = 0x02,
  kReplace = 0x03,
  kDelete = 0x04,
  kIncrement = 0x05,
  kDecrement = 0x06,
  kQuit = 0x07,
  kFlush = 0x08,
  kGetQ = 0x09,
  kNoop = 0x0a,
  kVersion = 0x0b,
  kGetK = 0x0c,
  kGetKQ = 0x0d,
  kAppend = 0x0e,
  kPrepend = 0x0f,
  kStat = 0x10,
  kSetQ = 0x11,
  kAddQ = 0x12,
  kReplaceQ = 0x13,
  kDeleteQ = 0x14,
  kIncrementQ = 0x15,
  kDecrementQ = 0x16,
  kQuitQ = 0x17,
  kFlushQ = 0x18,
  kAppendQ = 0x19,
  kPrependQ = 0x1a,
  kVerbosity = 0x1b,  ///< in the protocol spec; memcached 1.6 answers Unknown command
  kTouch = 0x1c,
  kGat = 0x1d,
  kGatQ = 0x1e,
  kSaslListMechs = 0x20,
  kSaslAuth = 0x21,
  kSaslStep = 0x22,
  kGatK = 0x23,
  kGatKQ = 0x24,
};

/// Response status (protocol_binary.h "Response status").
enum class BinaryStatus : uint16_t {
  kSuccess = 0x00,
  kKeyNotFound = 0x01,
  kKeyExists = 0x02,
  kTooLarge = 0x03,
  kInvalidArguments = 0x04,
  kNotStored = 0x05,
  kDeltaBadValue = 0x06,
  kAuthError = 0x20,
  kAuthContinue = 0x21,
  kUnknownCommand = 0x81,
  kOutOfMemory = 0x82,
};

/// The opcode a quiet opcode is the quiet form of (GetQ → Get, SetQ → Set,
/// GatKQ → GatK, ...); other opcodes map to themselves, as proto_bin.c
/// dispatch_bin_command's first switch. Pure.
constexpr BinaryOpcode LoudOpcode(BinaryOpcode opcode) {
  switch (opcode) {
    case BinaryOpcode::kGetQ:
      return BinaryOpcode::kGet;
    case BinaryOpcode::kGetKQ:
      return BinaryOpcode::kGetK;
    case BinaryOpcode::kSetQ:
      return BinaryOpcode::kSet;
    case BinaryOpcode::kAddQ:
      return BinaryOpcode::kAdd;
    case BinaryOpcode::kReplaceQ:
      return BinaryOpcode::kReplace;
    case BinaryOpcode::kDeleteQ:
      return BinaryOpcode::kDelete;
    case BinaryOpcode::kIncrementQ:
      return BinaryOpcode::kIncrement;
    case BinaryOpcode::kDecrementQ:
      return BinaryOpcode::kDecrement;
    case BinaryOpcode::kQuitQ:
      return BinaryOpcode::kQuit;
    case BinaryOpcode::kFlushQ:
      return BinaryOpcode::kFlush;
    case BinaryOpcode::kAppendQ:
      return BinaryOpcode::kAppend;
    case BinaryOpcode::kPrependQ:
      return BinaryOpcode::kPrepend;
    case BinaryOpcode::kGatQ:
      return BinaryOpcode::kGat;
    case BinaryOpcode::kGatKQ:
      return BinaryOpcode::kGatK;
    default:
      return opcode;
  }
}

/// True for the quiet opcodes (those LoudOpcode() changes). Pure.
constexpr bool IsQuietOpcode(BinaryOpcode opcode) { return LoudOpcode(opcode) != opcode; }

/// memcached's message for an error status, the body of its error responses
/// (proto_bin.c write_bin_error): "Not found", "Data exists for key.", "Too
/// large.", "Invalid arguments", "Not stored.", "Non-numeric server-side value
/// for incr or decr", "Auth failure.", "Unknown command", "Out of memory".
/// Empty for kSuccess and kAuthContinue, which have no such message. Pure.
constexpr std::string_view BinaryStatusMessage(BinaryStatus status) {
  switch (status) {
    case BinaryStatus::kKeyNotFound:
      return "Not found";
    case BinaryStatus::kKeyExists:
      return "Data exists for key.";
    case BinaryStatus::kTooLarge:
      return "Too large.";
    case BinaryStatus::kInvalidArguments:
      return "Invalid arguments";
    case BinaryStatus::kNotStored:
      return "Not stored.";
    case BinaryStatus::kDeltaBadValue:
      return "Non-numeric server-side value for incr or decr";
    case BinaryStatus::kAuthError:
      return "Auth failure.";
    case BinaryStatus::kUnknownCommand:
      return "Unknown command";
    case BinaryStatus::kOutOfMemory:
      return "Out of memory";
    case BinaryStatus::kSuccess:
    case BinaryStatus::kAuthContinue:
      break;
  }
  return {};
}

}  // namespace twincache

#endif  // TWINCACHE_CORE_PROTOCOL_BINARY_PROTOCOL_H_
