// Meta commands: mg, ms, md, ma, mn and me (memcached protocol.txt, "Meta
// Get", "Meta Set", "Meta Delete", "Meta Arithmetic", "Meta No-Op", "Meta
// Debug").
//
// Flags are validated the way memcached 1.6's proto_text.c
// _meta_flag_preparse does (duplicates, unknown flags and bad numeric tokens
// are errors, and errors are always sent, even with 'q'); replies carry the
// return flags in the order the client sent them. The semantics map onto
// Store calls, including memcached's per-item "stale" and "win token sent"
// bits (store.h, "Stale items and win tokens"). The counting and failure
// lines that text and meta
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
/// Recache and invalidation follow memcached 1.6.18 (proto_text.c
/// process_mget_command, process_mdelete_command; memcached.c do_store_item):
/// - mg appends Z when a win token was already sent for the item, X when the
///   item is stale, and W when this client wins the right to recache: the
///   item it vivified with 'N' on a miss (empty, flags 0, the N TTL), an item
///   whose TTL is below the 'R' token, or a stale item, each only while no
///   token is out. A client that finds another's vivified item gets Z.
/// - md 'I' marks the item stale instead of deleting it: new cas unique, win
///   token cleared, with 'T' a new TTL; it counts neither delete_hits nor
///   delete_misses. 'q' hides its HD.
/// - ms 'I' with 'C' (cas mode): a cas below the item's stores the value
///   anyway, as a stale item that keeps the old TTL and win token (counted as
///   a cas hit); a greater one is EX. Without 'C' it is ignored.
/// - Any other successful store (and ma whose number grows longer than the
///   old value) makes a fresh item: not stale, no token sent.
/// Replication (docs/replication.md, "Stale items and win tokens"): the stale
/// mark and a vivified item's token bit replicate with the item, so the twin's
/// mg answers X (and Z) too; a token that mg hands out stays on this node, so
/// with clients on both twins each twin can hand out one W per recache.
///
/// Differences from memcached 1.6.18: flags of later protocol.txt revisions
/// are accepted: md 'x' (empty the value, keep the item; with 'I' the empty
/// item is marked stale) and 'E' on mg (a vivified item's cas), ms and md;
/// ma 'E' is accepted and ignored (the item gets an HLC cas); mg 'C' is
/// ignored, as memcached's code does. 'k' with 'b' always answers the key in
/// base64 (memcached answers it raw for an item that was not stored with 'b',
/// e.g. one vivified by mg N). A decremented number is stored without the
/// trailing spaces memcached pads it with when it shrinks (protocol.txt allows
/// both), so mg 's' and 'v' show its own length. Like memcached, mg and ma
/// apply 'T' and 'N' where they stand: a 't' or 'R' before them sees the TTL
/// before. An ma that vivifies counts neither incr/decr hits nor misses and
/// answers even with 'q', as memcached's does.
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
