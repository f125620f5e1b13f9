// Binary parser: turns bytes from a binary-protocol client into
// BinaryRequests, incrementally.
//
// ParseBinaryRequest() looks at the unconsumed input of a connection and
// either finds one complete request packet, reports that more bytes are
// needed, or reports the error memcached would answer. Like ParseRequest()
// (parser.h) it keeps no state between calls: a packet split at any byte
// boundary parses the same once all its bytes are there. Which packets are
// errors, and which of those close the connection, follow memcached 1.6's
// proto_bin.c (try_read_command_binary, dispatch_bin_command).
#ifndef TWINCACHE_CORE_PROTOCOL_BINARY_PARSER_H_
#define TWINCACHE_CORE_PROTOCOL_BINARY_PARSER_H_

#include <cstddef>
#include <cstdint>
#include <string_view>

#include "core/protocol/binary_protocol.h"
#include "core/protocol/parser.h"

namespace twincache {

/// One parsed request packet (memcached protocol_binary.h, "Request
/// header" and the per-command "body" structs). Every string_view points into
/// the connection's input buffer and is valid until the connection consumes
/// those bytes, which it does only after the handler returns. Numbers are in
/// host order. Which extras fields are set depends on the opcode; the rest
/// keep their Clear() values.
struct BinaryRequest {
  BinaryOpcode opcode = BinaryOpcode::kGet;  ///< as sent (quiet forms and unknown bytes included)
  uint8_t datatype = 0;                      ///< as sent; memcached ignores it
  uint32_t opaque = 0;                       ///< echoed in every response to this request
  uint64_t cas = 0;                          ///< cas unique to compare (0 = none)
  std::string_view extras;                   ///< extlen bytes
  std::string_view key;                      ///< keylen bytes; any bytes, at most 250
  std::string_view value;                    ///< the rest of the body (storage and SASL opcodes)
  uint32_t flags = 0;                        ///< Set/Add/Replace extras: client flags
  uint32_t exptime = 0;    ///< Set/Add/Replace, Incr/Decr, Touch/GAT, Flush extras: seconds as
                           ///< sent (unsigned: up to 30 days relative, else a unix time)
  uint64_t delta = 0;      ///< Incr/Decr extras: amount
  uint64_t initial = 0;    ///< Incr/Decr extras: value a missing item is created with
  bool too_large = false;  ///< value over -I: `value` is empty, its bytes are swallowed

  /// Resets every field to its default.
  void Clear() { *this = BinaryRequest(); }
};

/// True when `request` may change the store and so make a replication record
/// (store.h SetObserver lists them), as MayWrite(const Request&) for text:
/// Set/Add/Replace/Append/Prepend, Delete, Increment/Decrement (which may
/// create), Touch, GAT/GATK and Flush, quiet forms included. A connection in
/// --repl-ack sync holds the responses of a batch with such a request until
/// the twin's ack (ack_waiter.h). Pure.
inline bool MayWrite(const BinaryRequest& request) {
  switch (LoudOpcode(request.opcode)) {
    case BinaryOpcode::kSet:
    case BinaryOpcode::kAdd:
    case BinaryOpcode::kReplace:
    case BinaryOpcode::kAppend:
    case BinaryOpcode::kPrepend:
    case BinaryOpcode::kDelete:
    case BinaryOpcode::kIncrement:
    case BinaryOpcode::kDecrement:
    case BinaryOpcode::kTouch:
    case BinaryOpcode::kGat:
    case BinaryOpcode::kGatK:
    case BinaryOpcode::kFlush:
      return true;
    default:
      return false;
  }
}

enum class BinaryParseStatus {
  kNeedMore,  ///< no complete packet yet; call again with more bytes
  kRequest,   ///< *request is filled; `consumed` bytes belong to it
  kError,     ///< answer `error` (unless `silent`); drop `consumed` bytes; close if `close`
};

struct BinaryParseResult {
  BinaryParseStatus status = BinaryParseStatus::kNeedMore;
  size_t consumed = 0;  ///< bytes of input this result accounts for
  size_t swallow = 0;   ///< then discard this many further bytes (may not have arrived yet)
  BinaryStatus error = BinaryStatus::kSuccess;  ///< kError: status of the error response, whose
                                                ///< opcode and opaque are request->opcode/opaque
  bool silent = false;  ///< kError: send nothing (bad magic: memcached closes without a word)
  bool close = false;   ///< kError: close the connection after the error response
};

/// Parses the first packet in `input`. Waits (kNeedMore) for the 24-byte
/// header, then for the extras and key, then checks in memcached's order:
///   - magic other than 0x80: kError, silent, close;
///   - keylen + extlen > bodylen: kError Unknown command, close;
///   - keylen > 250: kError Invalid arguments, close;
///   - an opcode memcached does not serve (Verbosity included): kError
///     Unknown command, consumed = header + extras + key, swallow = the rest
///     of the body (memcached swallows bodylen bytes from there, eating the
///     next packet's first extlen + keylen bytes: a bug not copied);
///   - extlen, keylen or bodylen not of the opcode's shape (e.g. Get with
///     extras, Set without its 8 bytes of extras, Noop with a body): kError
///     Invalid arguments, close.
/// A storage or SASL opcode whose value would make an item over
/// limits.item_size_max (ItemFits) is a kRequest with too_large, consumed =
/// header + extras + key and swallow = the value's length, so it is never
/// buffered; other storage/SASL packets are kRequest once the whole body is
/// there. Stat, Touch and GAT consume header + extras + key only: memcached
/// reads no further, so body bytes past the key are parsed as the next packet.
/// On kRequest `*request` is cleared and filled with views into `input`; on
/// kError its opcode and opaque are set. Never reads past `input`; never
/// throws; does not allocate. Thread safety: pure function of its arguments.
BinaryParseResult ParseBinaryRequest(std::string_view input, const ParserLimits& limits,
                                     BinaryRequest* request);

}  // namespace twincache

#endif  // TWINCACHE_CORE_PROTOCOL_BINARY_PARSER_H_
