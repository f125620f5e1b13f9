// Meta commands: mg, ms, md, ma, mn and me (memcached protocol.txt, "Meta
// Get", "Meta Set", "Meta Delete", "Meta Arithmetic", "Meta No-Op", "Meta
// Debug").
//
// Flags are validated the way memcached 1.6's proto_text.c
// _meta_flag_preparse does (duplicates, unknown flags and bad numeric tokens
// are errors, and errors are always sent, even with 'q'); replies carry the
// return flags in the order the client sent them. The semantics map onto
// Store calls; what memcached keeps per item and our Store does not (the
// "stale" and "win token sent" bits) is approximated as documented on
// HandleMetaCommand. The counting and failure lines that text and meta
// storage and arithmetic commands share live here too, for handler.cc.
#ifndef TWINCACHE_CORE_PROTOCOL_META_COMMANDS_H_
#define TWINCACHE_CORE_PROTOCOL_META_COMMANDS_H_

#include <cstddef>
#include <string>
#include <string_view>

#include "core/protocol/request.h"
#include "core/protocol/server_state.h"
#include "core/protocol/stats.h"
#include "core/store/store.h"

namespace twincache {

/// Executes one meta command (request.command is kMetaGet, kMetaSet,
/// kMetaDelete, kMetaArithmetic, kMetaNoop or kMetaDebug) and appends its reply
/// to `*out` (nothing for replies that 'q' suppresses: EN for mg, HD for ms, md
/// and ma). Counts cmd_meta plus the matching get/set/delete/incr/decr/touch/cas
/// counters in `*stats`, as memcached's process_m*_command do.
///
/// Differences from memcached, because the Store keeps no per-item stale or
/// win-token bits: mg never returns X or Z, and R hands W to every client while
/// the TTL is below the token; md 'I' deletes the item instead of marking it
/// stale (a later mg misses rather than serving stale data); ms 'I' is
/// accepted and behaves as plain 'C'; ma 'E' is accepted and ignored (the
/// item gets an HLC cas); mg 'C' is ignored, as memcached's code does.
/// Thread safety: safe from any thread; each thread passes its own stats.
void HandleMetaCommand(const Request& request, ServerState* state, ThreadStats* stats, std::string* out);

/// Counts one storage command (text or meta) as memcached does: cmd_set for
/// every command whose item could be allocated (not kTooLarge/kOutOfMemory),
/// plus cas_hits / cas_badval / cas_misses in kCas mode (memcached items.c
/// do_store_item). Shared by the text storage commands in handler.cc.
void CountStoreOutcome(StoreMode mode, StoreStatus status, ThreadStats* stats);

/// The SERVER_ERROR line (without "\r\n") of a storage command, text or meta,
/// whose item could not be allocated: "object too large for cache" for
/// kTooLarge, "out of memory storing object" for kOutOfMemory (memcached
/// process_update_command, process_mset_command). `status` must be one of those.
std::string_view StoreFailureLine(StoreStatus status);

/// Counts one incr/decr, text or meta, as memcached's do_add_delta and
/// process_arithmetic_command do: incr_hits/decr_hits on kOk,
/// incr_misses/decr_misses on kNotFound, nothing for other outcomes.
void CountArithmeticOutcome(bool incr, ArithStatus status, ThreadStats* stats);

/// The error line (without "\r\n") of an incr/decr, text or meta, that failed
/// with kNonNumeric ("CLIENT_ERROR cannot increment or decrement non-numeric
/// value") or kOutOfMemory ("SERVER_ERROR out of memory"), as memcached's
/// process_arithmetic_command. `status` must be one of those.
std::string_view ArithmeticFailureLine(ArithStatus status);

/// Decodes standard base64 (RFC 4648 alphabet, '=' padding, length a multiple
/// of 4) into `out[0..capacity)`. Returns false, leaving *out_len unspecified,
/// on an empty or malformed input or when the result would not fit; this is
/// what meta 'b' keys use (memcached base64.c). Pure function.
bool DecodeBase64(std::string_view in, char* out, size_t capacity, size_t* out_len);

/// Appends the standard base64 encoding (with padding) of `in` to `*out`.
void AppendBase64(std::string_view in, std::string* out);

}  // namespace twincache

#endif  // TWINCACHE_CORE_PROTOCOL_META_COMMANDS_H_
