// Binary handler: executes BinaryRequests against the Store and writes the
// response packets.
//
// The semantics are the text handler's (handler.h), reached through the
// binary protocol as memcached 1.6's proto_bin.c serves it: the same Store
// calls and the same ThreadStats counters, with memcached's binary status
// codes and error messages, the opaque echoed and the cas unique of the item
// returned. Quiet opcodes send nothing on success (and GetQ/GetKQ/GatQ/GatKQ
// nothing on a miss); their errors are always sent, as memcached does. The
// handler holds no per-connection state: what the binary protocol keeps per
// connection (its SASL session) is a BinarySession the connection owns.
#ifndef TWINCACHE_CORE_PROTOCOL_BINARY_HANDLER_H_
#define TWINCACHE_CORE_PROTOCOL_BINARY_HANDLER_H_

#include <string>
#include <string_view>

#include "core/auth/sasl.h"
#include "core/protocol/binary_parser.h"
#include "core/protocol/binary_protocol.h"
#include "core/protocol/handler.h"
#include "core/protocol/server_state.h"
#include "core/protocol/stats.h"

namespace twincache {

/// What the binary protocol keeps per connection between requests.
struct BinarySession {
  /// The connection's SASL session (core/auth/sasl.h) when SASL is on (-S),
  /// else nullptr: the three SASL opcodes then answer Unknown command and
  /// every opcode is allowed, as memcached built or run without SASL. With a
  /// session, every opcode but the SASL ones and Version needs
  /// sasl->authenticated(): any other answers Auth error and closes
  /// (proto_bin.c authenticated()). The connection owns the session.
  SaslSession* sasl = nullptr;
};

class BinaryHandler {
 public:
  explicit BinaryHandler(ServerState* state) : state_(state) {}

  /// Executes `request` (a kRequest of ParseBinaryRequest) and appends its
  /// response packet(s) to `*out`, nothing for a quiet success. Opcodes and
  /// their responses (proto_bin.c):
  ///   Get/GetK/GetQ/GetKQ, GAT/GATK/GATQ/GATKQ: flags as 4 bytes of extras,
  ///     the key for the K forms, the value; the item's cas. A miss is Key not
  ///     found, "Not found" (the K forms: the key as the body), nothing for the
  ///     quiet forms. Counted as cmd_get/get_hits/get_misses, GAT and Touch as
  ///     cmd_touch/touch_hits/touch_misses.
  ///   Touch: as GAT but no value.
  ///   Set/Add/Replace (+Q): a nonzero cas makes any of them a cas command;
  ///     the new cas on success; Data exists for key (add of an existing key,
  ///     cas mismatch), Not found (replace of a missing key, cas on a missing
  ///     key), Too large (value over -I; a Set then deletes the old item),
  ///     Out of memory "Out of memory allocating item" (-M).
  ///   Append/Prepend (+Q): Not stored for a missing key; cas compared.
  ///   Delete (+Q): cas compared; delete_hits/delete_misses.
  ///   Increment/Decrement (+Q): the new value as 8 bytes; a missing key is
  ///     created with the initial value and expiration (no hit or miss
  ///     counted) unless the expiration is 0xffffffff (Not found, a miss);
  ///     Non-numeric value: Delta bad value.
  ///   Flush (+Q) with an optional delay; Noop; Version (kProtocolVersion);
  ///   Quit (+Q) returns kClose after its response.
  ///   Stat: one packet per stat (key = name, value), then one with an empty
  ///     key, for no key (the general stats), "reset", "settings", "items",
  ///     "slabs", "sizes" and "detail on|off|dump" (CollectStats); any other
  ///     group ("conns", "cachedump" included) is Key not found.
  ///   SASL List mechanisms / Auth / Step: Unknown command without a SASL
  ///     session; else the mechanisms, "Authenticated", Auth continue with
  ///     the challenge, or Auth error "Auth failure."; a mechanism over 32
  ///     bytes is Invalid arguments (process_bin_sasl_auth).
  /// Thread safety: safe from any thread; each thread passes its own stats
  /// and each connection its own session.
  HandleOutcome Handle(const BinaryRequest& request, BinarySession* session, ThreadStats* stats,
                       std::string* out);

 private:
  ServerState* state_;
};

/// Appends the error response `status` with memcached's message for it
/// (BinaryStatusMessage) as the body, echoing request.opcode and
/// request.opaque, cas 0 (proto_bin.c write_bin_error). For the kError
/// results of ParseBinaryRequest. Thread safety: pure apart from `*out`.
void AppendBinaryError(const BinaryRequest& request, BinaryStatus status, std::string* out);

}  // namespace twincache

#endif  // TWINCACHE_CORE_PROTOCOL_BINARY_HANDLER_H_
