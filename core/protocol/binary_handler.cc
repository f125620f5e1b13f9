// Binary handler: each opcode follows its process_bin_* function in memcached
// 1.6's proto_bin.c for the response packets and for which thread_stats
// counter it bumps; the Store calls and counting rules shared with the text
// protocol come from handler.h and meta_commands.h.
#include "core/protocol/binary_handler.h"

#include <charconv>
#include <cstdint>
#include <functional>

#include "core/base/stat_list.h"
#include "core/config/settings.h"
#include "core/protocol/meta_commands.h"
#include "core/protocol/stats_report.h"
#include "core/store/item.h"
#include "core/store/store.h"

namespace twincache {
namespace {

// Counter values are at most 20 decimal digits.
constexpr size_t kCounterDigits = 20;

// Message bodies memcached's out_of_memory() sends (its text lines without
// "SERVER_ERROR ").
constexpr std::string_view kOutOfMemoryItem = "Out of memory allocating item";
constexpr std::string_view kOutOfMemoryNewItem = "Out of memory allocating new item";
constexpr std::string_view kOutOfMemoryIncrement = "Out of memory incrementing value";

// The SASL Auth/Step success body (process_bin_complete_sasl_auth).
constexpr std::string_view kAuthenticated = "Authenticated";

void AppendBe16(uint16_t value, std::string* out) {
  const char bytes[2] = {static_cast<char>(value >> 8), static_cast<char>(value)};
  out->append(bytes, sizeof(bytes));
}

void AppendBe32(uint32_t value, std::string* out) {
  const char bytes[4] = {static_cast<char>(value >> 24), static_cast<char>(value >> 16),
                         static_cast<char>(value >> 8), static_cast<char>(value)};
  out->append(bytes, sizeof(bytes));
}

void AppendBe64(uint64_t value, std::string* out) {
  AppendBe32(static_cast<uint32_t>(value >> 32), out);
  AppendBe32(static_cast<uint32_t>(value), out);
}

// A response header (protocol_binary_response_header, proto_bin.c
// add_bin_header): datatype raw bytes, the request's opcode and opaque.
void AppendHeader(const BinaryRequest& request, BinaryStatus status, size_t extlen, size_t keylen,
                  size_t bodylen, uint64_t cas, std::string* out) {
  out->push_back(static_cast<char>(kBinaryResponseMagic));
  out->push_back(static_cast<char>(request.opcode));
  AppendBe16(static_cast<uint16_t>(keylen), out);
  out->push_back(static_cast<char>(extlen));
  out->push_back(0);
  AppendBe16(static_cast<uint16_t>(status), out);
  AppendBe32(static_cast<uint32_t>(bodylen), out);
  AppendBe32(request.opaque, out);
  AppendBe64(cas, out);
}

// A success with `body` and no extras or key, unless the opcode is quiet
// (proto_bin.c write_bin_response).
void AppendSuccess(const BinaryRequest& request, std::string_view body, uint64_t cas, std::string* out) {
  if (IsQuietOpcode(request.opcode)) {
    return;
  }
  AppendHeader(request, BinaryStatus::kSuccess, 0, 0, body.size(), cas, out);
  out->append(body);
}

// An error whose body is `message` (write_bin_error with an errstr).
void AppendErrorMessage(const BinaryRequest& request, BinaryStatus status, std::string_view message,
                        std::string* out) {
  AppendHeader(request, status, 0, 0, message.size(), 0, out);
  out->append(message);
}

// Get, GetK, GAT, GATK, Touch and their quiet forms
// (process_bin_get_or_touch).
void GetOrTouch(const BinaryRequest& request, ServerState* state, ThreadStats* stats, std::string* out) {
  const BinaryOpcode opcode = LoudOpcode(request.opcode);
  const bool touch =
      opcode == BinaryOpcode::kTouch || opcode == BinaryOpcode::kGat || opcode == BinaryOpcode::kGatK;
  const bool with_key = opcode == BinaryOpcode::kGetK || opcode == BinaryOpcode::kGatK;
  const bool with_value = opcode != BinaryOpcode::kTouch;
  ReadOptions options;
  options.touch = touch;
  if (touch) {
    options.exptime = AbsoluteExptime(request.exptime, state->clock->NowSeconds());
  }
  const std::function<void(const ItemView&)> append = [&](const ItemView& item) {
    const size_t keylen = with_key ? item.key.size() : 0;
    const size_t value_length = with_value ? item.value.size() : 0;
    AppendHeader(request, BinaryStatus::kSuccess, kBinaryFlagsExtras, keylen,
                 kBinaryFlagsExtras + keylen + value_length, item.cas, out);
    AppendBe32(item.flags, out);
    if (with_key) {
      out->append(item.key);
    }
    if (with_value) {
      out->append(item.value);
    }
  };
  const bool hit = state->store->Get(request.key, options, append);
  if (touch) {
    stats->Add(Stat::kCmdTouch);
    stats->Add(hit ? Stat::kTouchHits : Stat::kTouchMisses);
  } else {
    stats->Add(Stat::kCmdGet);
    stats->Add(hit ? Stat::kGetHits : Stat::kGetMisses);
  }
  if (hit || IsQuietOpcode(request.opcode)) {
    return;
  }
  if (with_key) {
    // write_bin_miss_response: the key as the body, no message.
    AppendHeader(request, BinaryStatus::kKeyNotFound, 0, request.key.size(), request.key.size(), 0, out);
    out->append(request.key);
  } else {
    AppendBinaryError(request, BinaryStatus::kKeyNotFound, out);
  }
}

// Set, Add, Replace, Append, Prepend and their quiet forms (process_bin_update,
// process_bin_append_prepend, complete_update_bin).
void Update(const BinaryRequest& request, ServerState* state, ThreadStats* stats, std::string* out) {
  const BinaryOpcode opcode = LoudOpcode(request.opcode);
  StoreMode mode = StoreMode::kSet;
  switch (opcode) {
    case BinaryOpcode::kAdd:
      mode = StoreMode::kAdd;
      break;
    case BinaryOpcode::kReplace:
      mode = StoreMode::kReplace;
      break;
    case BinaryOpcode::kAppend:
      mode = StoreMode::kAppend;
      break;
    case BinaryOpcode::kPrepend:
      mode = StoreMode::kPrepend;
      break;
    default:
      break;
  }
  // process_bin_update turns set, add and replace with a cas into NREAD_CAS;
  // append and prepend compare it in do_store_item.
  if (request.cas != 0 && mode != StoreMode::kAppend && mode != StoreMode::kPrepend) {
    mode = StoreMode::kCas;
  }
  uint64_t cas = 0;
  const StoreStatus status = request.too_large
                                 ? StoreStatus::kTooLarge
                                 : StoreAndCount(mode, request.key, request.value, request.flags,
                                                 request.exptime, request.cas, state, stats, &cas);
  switch (status) {
    case StoreStatus::kStored:
      AppendSuccess(request, {}, cas, out);
      return;
    case StoreStatus::kExists:
      AppendBinaryError(request, BinaryStatus::kKeyExists, out);
      return;
    case StoreStatus::kNotFound:
      AppendBinaryError(request, BinaryStatus::kKeyNotFound, out);
      return;
    case StoreStatus::kNotStored:
      AppendBinaryError(request,
                        mode == StoreMode::kAdd       ? BinaryStatus::kKeyExists
                        : mode == StoreMode::kReplace ? BinaryStatus::kKeyNotFound
                                                      : BinaryStatus::kNotStored,
                        out);
      return;
    case StoreStatus::kTooLarge:
    case StoreStatus::kOutOfMemory:
      // "Avoid stale data persisting in cache because we failed alloc": only
      // Set, with or without a cas.
      if (opcode == BinaryOpcode::kSet) {
        state->store->Delete(request.key);
      }
      if (status == StoreStatus::kTooLarge) {
        AppendBinaryError(request, BinaryStatus::kTooLarge, out);
      } else {
        AppendErrorMessage(request, BinaryStatus::kOutOfMemory, kOutOfMemoryItem, out);
      }
      return;
  }
}

// The Increment/Decrement success: the value as 8 bytes, the item's cas.
void AppendCounter(const BinaryRequest& request, uint64_t value, uint64_t cas, std::string* out) {
  if (IsQuietOpcode(request.opcode)) {
    return;
  }
  AppendHeader(request, BinaryStatus::kSuccess, 0, 0, kBinaryCounterBody, cas, out);
  AppendBe64(value, out);
}

// A missing counter created with the initial value (complete_incr_bin's
// DELTA_ITEM_NOT_FOUND branch: an add of the decimal digits, flags 0, which
// counts neither a hit nor a miss nor a set).
void CreateCounter(const BinaryRequest& request, ServerState* state, std::string* out) {
  char digits[kCounterDigits];
  const auto end = std::to_chars(digits, digits + sizeof(digits), request.initial).ptr;
  const std::string_view text(digits, static_cast<size_t>(end - digits));
  uint64_t cas = 0;
  const StoreStatus status =
      state->store->StoreItem(StoreMode::kAdd, request.key, text, 0,
                              AbsoluteExptime(request.exptime, state->clock->NowSeconds()), {}, &cas);
  switch (status) {
    case StoreStatus::kStored:
      AppendCounter(request, request.initial, cas, out);
      return;
    case StoreStatus::kTooLarge:
    case StoreStatus::kOutOfMemory:
      AppendErrorMessage(request, BinaryStatus::kOutOfMemory, kOutOfMemoryNewItem, out);
      return;
    default:
      AppendBinaryError(request, BinaryStatus::kNotStored, out);
      return;
  }
}

// Increment, Decrement and their quiet forms (complete_incr_bin).
void Arithmetic(const BinaryRequest& request, ServerState* state, ThreadStats* stats, std::string* out) {
  ArithOptions options;
  options.incr = LoudOpcode(request.opcode) == BinaryOpcode::kIncrement;
  options.delta = request.delta;
  options.compare_cas = request.cas;
  uint64_t value = 0;
  uint64_t cas = 0;
  const ArithStatus status = state->store->Arithmetic(request.key, options, &value, &cas);
  if (status == ArithStatus::kNotFound && request.exptime != kBinaryNoAutoCreate) {
    CreateCounter(request, state, out);
    return;
  }
  CountArithmeticOutcome(options.incr, status, stats);
  switch (status) {
    case ArithStatus::kOk:
      AppendCounter(request, value, cas, out);
      return;
    case ArithStatus::kNotFound:
      AppendBinaryError(request, BinaryStatus::kKeyNotFound, out);
      return;
    case ArithStatus::kExists:
      AppendBinaryError(request, BinaryStatus::kKeyExists, out);
      return;
    case ArithStatus::kNonNumeric:
      AppendBinaryError(request, BinaryStatus::kDeltaBadValue, out);
      return;
    case ArithStatus::kOutOfMemory:
      AppendErrorMessage(request, BinaryStatus::kOutOfMemory, kOutOfMemoryIncrement, out);
      return;
  }
}

// Delete and DeleteQ (process_bin_delete): a cas mismatch counts nothing.
void Delete(const BinaryRequest& request, ServerState* state, ThreadStats* stats, std::string* out) {
  switch (state->store->Delete(request.key, request.cas)) {
    case DeleteStatus::kDeleted:
      stats->Add(Stat::kDeleteHits);
      AppendSuccess(request, {}, 0, out);
      return;
    case DeleteStatus::kNotFound:
      stats->Add(Stat::kDeleteMisses);
      AppendBinaryError(request, BinaryStatus::kKeyNotFound, out);
      return;
    case DeleteStatus::kExists:
      AppendBinaryError(request, BinaryStatus::kKeyExists, out);
      return;
  }
}

// One Stat response: the stat's name as the key, its value as the value
// (memcached.c append_bin_stats); the empty name and value end the report.
void AppendStatPacket(const BinaryRequest& request, std::string_view name, std::string_view value,
                      std::string* out) {
  AppendHeader(request, BinaryStatus::kSuccess, 0, name.size(), name.size() + value.size(), 0, out);
  out->append(name);
  out->append(value);
}

// Stat (process_bin_stat): the key names the group. As memcached, "reset",
// "settings" and "detail" match as prefixes, "items", "slabs" and "sizes"
// whole (get_stats); "conns", "cachedump" and anything else are Key not
// found. sizes_enable/sizes_disable are Key not found too: memcached answers
// them with one packet and no terminator, and twincached tracks no sizes.
void Stats(const BinaryRequest& request, ServerState* state, std::string* out) {
  const std::string_view name = request.key;
  StatList list;
  if (name.empty()) {
    CollectStats(StatsGroup::kGeneral, state, &list);
  } else if (name.starts_with("reset")) {
    ResetStats(state);
  } else if (name.starts_with("settings")) {
    CollectStats(StatsGroup::kSettings, state, &list);
  } else if (name.starts_with("detail")) {
    // Prefix stats are not kept: "on" and "off" change nothing and the dump
    // is what memcached's stats_prefix_dump gives with none.
    const std::string_view mode = name.substr(6);
    if (mode.starts_with(" dump")) {
      AddStat(&list, "detailed", "END\r\n");
    } else if (!mode.starts_with(" on") && !mode.starts_with(" off")) {
      AppendBinaryError(request, BinaryStatus::kKeyNotFound, out);
      return;
    }
  } else if (name == "items" || name == "slabs" || name == "sizes") {
    CollectStats(*ParseStatsGroup(name), state, &list);
  } else {
    AppendBinaryError(request, BinaryStatus::kKeyNotFound, out);
    return;
  }
  for (const StatLine& line : list) {
    AppendStatPacket(request, line.name, line.value, out);
  }
  AppendStatPacket(request, {}, {}, out);
}

// SASL List mechanisms, Auth and Step (bin_list_sasl_mechs,
// process_bin_sasl_auth, process_bin_complete_sasl_auth). Without a SASL
// session they are unknown commands; the parser has already taken the value,
// which memcached swallows.
void Sasl(const BinaryRequest& request, SaslSession* sasl, ThreadStats* stats, std::string* out) {
  if (sasl == nullptr) {
    AppendBinaryError(request, BinaryStatus::kUnknownCommand, out);
    return;
  }
  if (request.opcode == BinaryOpcode::kSaslListMechs) {
    std::string names;
    std::string error;
    if (sasl->ListMechanisms(&names, &error)) {
      AppendSuccess(request, names, 0, out);
    } else {
      AppendBinaryError(request, BinaryStatus::kAuthError, out);
    }
    return;
  }
  if (request.key.size() > kSaslMechanismMaxLength) {
    AppendBinaryError(request, BinaryStatus::kInvalidArguments, out);
    return;
  }
  if (request.too_large) {
    // memcached cannot allocate the item that would hold the data.
    AppendBinaryError(request, BinaryStatus::kOutOfMemory, out);
    return;
  }
  const SaslResult result = request.opcode == BinaryOpcode::kSaslAuth
                                ? sasl->Start(request.key, request.value)
                                : sasl->Step(request.value);
  // auth_cmds counts every answered Auth/Step, auth_errors the refused ones
  // (memcached process_bin_complete_sasl_auth); a continue is neither.
  if (result.status != SaslStatus::kContinue) {
    stats->Add(Stat::kAuthCmds);
  }
  switch (result.status) {
    case SaslStatus::kOk:
      AppendSuccess(request, kAuthenticated, 0, out);
      return;
    case SaslStatus::kContinue:
      AppendHeader(request, BinaryStatus::kAuthContinue, 0, 0, result.challenge.size(), 0, out);
      out->append(result.challenge);
      return;
    case SaslStatus::kFail:
      stats->Add(Stat::kAuthErrors);
      AppendBinaryError(request, BinaryStatus::kAuthError, out);
      return;
  }
}

// Opcodes a client may send before authenticating (proto_bin.c authenticated()).
bool AllowedUnauthenticated(BinaryOpcode opcode) {
  return opcode == BinaryOpcode::kSaslListMechs || opcode == BinaryOpcode::kSaslAuth ||
         opcode == BinaryOpcode::kSaslStep || opcode == BinaryOpcode::kVersion;
}

}  // namespace

void AppendBinaryError(const BinaryRequest& request, BinaryStatus status, std::string* out) {
  AppendErrorMessage(request, status, BinaryStatusMessage(status), out);
}

HandleOutcome BinaryHandler::Handle(const BinaryRequest& request, BinarySession* session, ThreadStats* stats,
                                    std::string* out) {
  if (session->sasl != nullptr && !session->sasl->authenticated() &&
      !AllowedUnauthenticated(request.opcode)) {
    AppendBinaryError(request, BinaryStatus::kAuthError, out);
    return HandleOutcome::kClose;
  }
  switch (LoudOpcode(request.opcode)) {
    case BinaryOpcode::kGet:
    case BinaryOpcode::kGetK:
    case BinaryOpcode::kGat:
    case BinaryOpcode::kGatK:
    case BinaryOpcode::kTouch:
      GetOrTouch(request, state_, stats, out);
      break;
    case BinaryOpcode::kSet:
    case BinaryOpcode::kAdd:
    case BinaryOpcode::kReplace:
    case BinaryOpcode::kAppend:
    case BinaryOpcode::kPrepend:
      Update(request, state_, stats, out);
      break;
    case BinaryOpcode::kIncrement:
    case BinaryOpcode::kDecrement:
      Arithmetic(request, state_, stats, out);
      break;
    case BinaryOpcode::kDelete:
      Delete(request, state_, stats, out);
      break;
    case BinaryOpcode::kFlush:
      // process_bin_flush; the delay is the Flush extras' expiration.
      FlushAllAfter(request.exptime, state_, stats);
      AppendSuccess(request, {}, 0, out);
      break;
    case BinaryOpcode::kNoop:
      AppendSuccess(request, {}, 0, out);
      break;
    case BinaryOpcode::kVersion:
      AppendSuccess(request, kProtocolVersion, 0, out);
      break;
    case BinaryOpcode::kQuit:
      AppendSuccess(request, {}, 0, out);
      return HandleOutcome::kClose;
    case BinaryOpcode::kStat:
      Stats(request, state_, out);
      break;
    case BinaryOpcode::kSaslListMechs:
    case BinaryOpcode::kSaslAuth:
    case BinaryOpcode::kSaslStep:
      Sasl(request, session->sasl, stats, out);
      break;
    default:
      AppendBinaryError(request, BinaryStatus::kUnknownCommand, out);
      break;
  }
  return HandleOutcome::kContinue;
}

}  // namespace twincache
