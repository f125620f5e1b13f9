#include "core/protocol/meta_commands.h"

#include <charconv>
#include <cstdint>
#include <functional>

#include "core/protocol/text_tokens.h"
#include "core/store/item.h"

namespace twincache {
namespace {

// Limits of memcached's proto_text.c.
constexpr size_t kMaxOpaqueLength = 32;  // MFLAG_MAX_OPAQUE_LENGTH, counting the 'O'

constexpr std::string_view kBadFormat = "CLIENT_ERROR bad command line format";
constexpr std::string_view kBadToken = "CLIENT_ERROR bad token in command line format";
constexpr std::string_view kInvalidOrDuplicateFlag = "CLIENT_ERROR invalid or duplicate flag";

// What a meta command's flags ask for (memcached's struct _meta_flags).
struct MetaFlags {
  std::string_view key;          // the key, decoded when 'b' was given
  bool base64_key = false;       // b
  bool no_reply = false;         // q
  bool value = false;            // v
  bool no_bump = false;          // u
  bool has_ttl = false;          // T
  bool vivify = false;           // N
  bool recache = false;          // R
  bool has_compare_cas = false;  // C
  bool remove_value = false;     // x
  bool invalidate = false;       // I
  char mode = 0;                 // M
  int32_t ttl = 0;               // T token, a client exptime
  int32_t vivify_ttl = 0;        // N token
  int32_t recache_ttl = 0;       // R token
  uint32_t client_flags = 0;     // F
  uint64_t compare_cas = 0;      // C
  uint64_t new_cas = 0;          // E; 0: the store's HLC
  uint64_t delta = 1;            // D
  uint64_t initial = 0;          // J
  char key_buffer[kKeyMaxLength];
};

// The key as sent (before base64 decoding) must be there and fit, as
// memcached checks before parsing flags. The parser already rejects such lines
// (and lines with too many flags); this keeps the handler safe on its own.
std::string_view CheckKey(const Request& request) {
  if (request.keys.empty() || request.keys[0].size() > kKeyMaxLength) {
    return kBadFormat;
  }
  return {};
}

// Records `message` as the error of a flag whose token did not parse, and
// returns `parsed`. memcached's _meta_flag_preparse goes on after a bad token,
// so the message of the last one is the one sent.
bool CheckToken(bool parsed, std::string_view message, std::string_view* error) {
  if (!parsed) {
    *error = message;
  }
  return parsed;
}

// Reads the flags as memcached's _meta_flag_preparse: returns an empty view on
// success, else the error line. A duplicate or unknown flag stops at once; a
// bad token records its error and parsing goes on, so the last one is
// reported, as in memcached.
std::string_view ParseMetaFlags(const Request& request, MetaFlags* f) {
  f->key = request.keys[0];
  bool seen[128] = {};
  std::string_view error;
  for (const MetaFlag& flag : request.meta_flags) {
    const auto code = static_cast<unsigned char>(flag.code);
    if (code >= 127 || seen[code]) {
      return "CLIENT_ERROR duplicate flag";
    }
    seen[code] = true;
    switch (flag.code) {
      case 'b': {
        size_t length = 0;
        if (DecodeBase64(request.keys[0], f->key_buffer, sizeof(f->key_buffer), &length)) {
          f->key = std::string_view(f->key_buffer, length);
        } else {
          error = "CLIENT_ERROR error decoding key";
        }
        f->base64_key = true;
        break;
      }
      case 'N':
        f->vivify = true;
        CheckToken(ParseInt32(flag.token, &f->vivify_ttl), kBadToken, &error);
        break;
      case 'T':
        f->has_ttl = CheckToken(ParseInt32(flag.token, &f->ttl), kBadToken, &error);
        break;
      case 'R':
        f->recache = true;
        CheckToken(ParseInt32(flag.token, &f->recache_ttl), kBadToken, &error);
        break;
      case 'v':
        f->value = true;
        break;
      case 'u':
        f->no_bump = true;
        break;
      case 'q':
        f->no_reply = true;
        break;
      case 'x':
        f->remove_value = true;
        break;
      case 'F':
        // memcached sets no message of its own here: the previous one stays.
        if (!ParseUint32(flag.token, &f->client_flags) && error.empty()) {
          error = kBadFormat;
        }
        break;
      case 'C':
        f->has_compare_cas = CheckToken(ParseUint64(flag.token, &f->compare_cas), kBadToken, &error);
        break;
      case 'E':
        CheckToken(ParseUint64(flag.token, &f->new_cas), kBadToken, &error);
        break;
      case 'M':
        if (flag.token.size() == 1) {
          f->mode = flag.token[0];
        } else {
          error = "CLIENT_ERROR incorrect length for M token";
        }
        break;
      case 'J':
        CheckToken(ParseUint64(flag.token, &f->initial), "CLIENT_ERROR invalid numeric initial value",
                   &error);
        break;
      case 'D':
        CheckToken(ParseUint64(flag.token, &f->delta), "CLIENT_ERROR invalid numeric delta value", &error);
        break;
      case 'I':
        f->invalidate = true;
        break;
      case 'O':  // opaque: checked by CheckOpaque
      case 'P':  // proxy hints, ignored
      case 'L':
      case 'k':  // return flags, answered while building the reply
      case 's':
      case 't':
      case 'c':
      case 'f':
      case 'l':
      case 'h':
        break;
      default:
        return "CLIENT_ERROR invalid flag";
    }
  }
  return error;
}

std::string_view CheckOpaque(const Request& request) {
  for (const MetaFlag& flag : request.meta_flags) {
    if (flag.code == 'O' && 1 + flag.token.size() > kMaxOpaqueLength) {
      return "CLIENT_ERROR opaque token too long";
    }
  }
  return {};
}

// Checks the key, reads the flags into *f and checks the opaque, in
// memcached's order; returns the first error line, or an empty view.
// process_mdelete_command and process_marithmetic_command answer every flag
// error with one message, which md and ma pass as `flags_error`; mg and ms
// pass an empty view to keep _meta_flag_preparse's own.
std::string_view ReadMetaRequest(const Request& request, std::string_view flags_error, MetaFlags* f) {
  std::string_view error = CheckKey(request);
  if (!error.empty()) {
    return error;
  }
  error = ParseMetaFlags(request, f);
  if (!error.empty()) {
    return flags_error.empty() ? error : flags_error;
  }
  return CheckOpaque(request);
}

// Reads `key` without bumping it in the LRU; calls `fn` on a hit.
bool Peek(Store* store, std::string_view key, const std::function<void(const ItemView&)>& fn) {
  ReadOptions read;
  read.bump_lru = false;
  return store->Get(key, read, fn);
}

int64_t RemainingTtl(int64_t exptime, int64_t now_s) { return exptime == 0 ? -1 : exptime - now_s; }

void AppendOpaque(const MetaFlag& flag, std::string* out) {
  out->append(" O");
  out->append(flag.token);
}

// " k<key>", or " k<base64 key> b" for a binary key (memcached META_KEY).
void AppendKeyFlag(std::string_view key, bool base64, std::string* out) {
  out->append(" k");
  if (!base64) {
    out->append(key);
    return;
  }
  AppendBase64(key, out);
  out->append(" b");
}

// The return flags of a reply without an item: O and k, in request order.
void AppendOpaqueAndKey(const Request& request, const MetaFlags& f, std::string* out) {
  for (const MetaFlag& flag : request.meta_flags) {
    if (flag.code == 'O') {
      AppendOpaque(flag, out);
    } else if (flag.code == 'k') {
      AppendKeyFlag(f.key, f.base64_key, out);
    }
  }
}

// A status code, the O and k flags and the line end: the reply of md, and of
// ms/ma when they have nothing else to say.
void AppendStatusLine(std::string_view code, const Request& request, const MetaFlags& f, std::string* out) {
  out->append(code);
  AppendOpaqueAndKey(request, f, out);
  out->append("\r\n");
}

// mg's reply for an item (memcached process_mget_command): "VA <size>" or
// "HD", the requested flags in request order, then Z when a win token had
// already been sent for the item, X when it is stale and W when this client
// won the right to recache (in memcached's order), then the value with 'v'.
struct MetaGetReply {
  const Request* request;
  const MetaFlags* flags;
  int64_t now_s;
  std::string* out;

  void AppendItem(const ItemView& item) const {
    if (flags->value) {
      out->append("VA ");
      AppendUint(out, item.value.size());
    } else {
      out->append("HD");
    }
    // memcached applies 'T' and a vivified item's 'N' where they stand in
    // the request: a 't' before them shows the TTL before them.
    int64_t exptime = item.previous_exptime;
    for (const MetaFlag& flag : request->meta_flags) {
      switch (flag.code) {
        case 'T':
          exptime = AbsoluteExptime(flags->ttl, now_s);
          break;
        case 'N':
          if (item.vivified) {
            exptime = AbsoluteExptime(flags->vivify_ttl, now_s);
          }
          break;
        case 's':
          out->append(" s");
          AppendUint(out, item.value.size());
          break;
        case 't':
          out->append(" t");
          AppendInt(out, RemainingTtl(exptime, now_s));
          break;
        case 'c':
          out->append(" c");
          AppendUint(out, item.cas);
          break;
        case 'f':
          out->append(" f");
          AppendUint(out, item.flags);
          break;
        case 'l':
          out->append(" l");
          AppendInt(out, now_s - item.last_access);
          break;
        case 'h':
          out->append(item.fetched ? " h1" : " h0");
          break;
        case 'O':
          AppendOpaque(flag, out);
          break;
        case 'k':
          AppendKeyFlag(item.key, flags->base64_key, out);
          break;
        default:
          break;
      }
    }
    if (item.win_token_sent) {
      out->append(" Z");
    }
    if (item.stale) {
      out->append(" X");
    }
    if (item.won) {
      out->append(" W");
    }
    out->append("\r\n");
    if (flags->value) {
      out->append(item.value);
      out->append("\r\n");
    }
  }
};

// True when flag `first` comes before flag `second` in the request (both present).
bool FlagBefore(const Request& request, char first, char second) {
  for (const MetaFlag& flag : request.meta_flags) {
    if (flag.code == second) {
      return false;
    }
    if (flag.code == first) {
      return true;
    }
  }
  return false;
}

// The client exptime of an item that mg or ma 'N' creates: memcached applies
// 'N' and 'T' to it where they stand in the request, so the later one counts.
int32_t VivifyTtl(const Request& request, const MetaFlags& f) {
  int32_t ttl = f.vivify_ttl;
  for (const MetaFlag& flag : request.meta_flags) {
    if (flag.code == 'N') {
      ttl = f.vivify_ttl;
    } else if (flag.code == 'T') {
      ttl = f.ttl;
    }
  }
  return ttl;
}

void MetaGet(const Request& request, ServerState* state, ThreadStats* stats, std::string* out) {
  MetaFlags f;
  const std::string_view error = ReadMetaRequest(request, {}, &f);
  if (!error.empty()) {
    AppendLine(error, out);
    return;
  }
  const int64_t now_s = state->clock->NowSeconds();
  ReadOptions options;
  options.bump_lru = !f.no_bump;
  options.touch = f.has_ttl;
  options.exptime = AbsoluteExptime(f.ttl, now_s);
  options.win_token = true;
  options.recache_before = f.recache ? AbsoluteExptime(f.recache_ttl, now_s) : 0;
  options.recache_before_touch = FlagBefore(request, 'R', 'T');
  options.vivify = f.vivify;
  options.vivify_exptime = AbsoluteExptime(VivifyTtl(request, f), now_s);
  options.vivify_cas = f.new_cas;
  const MetaGetReply reply{&request, &f, now_s, out};
  const bool hit =
      state->store->Get(f.key, options, [&reply](const ItemView& item) { reply.AppendItem(item); });

  // memcached counts a hit with T as a touch and everything else as a get.
  stats->Add(Stat::kCmdMeta);
  if (hit && f.has_ttl) {
    stats->Add(Stat::kCmdTouch);
    stats->Add(Stat::kTouchHits);
    return;
  }
  stats->Add(Stat::kCmdGet);
  stats->Add(hit ? Stat::kGetHits : Stat::kGetMisses);
  if (!hit && !f.no_reply) {
    AppendStatusLine("EN", request, f, out);
  }
}

// ms 'M' modes (memcached process_mset_command).
bool ModeForSet(char mode, StoreMode* store_mode) {
  switch (mode) {
    case 0:
    case 'S':
      *store_mode = StoreMode::kSet;
      return true;
    case 'E':
      *store_mode = StoreMode::kAdd;
      return true;
    case 'A':
      *store_mode = StoreMode::kAppend;
      return true;
    case 'P':
      *store_mode = StoreMode::kPrepend;
      return true;
    case 'R':
      *store_mode = StoreMode::kReplace;
      return true;
    default:
      return false;
  }
}

// Size of the stored value for ms 's': after append/prepend the item has grown,
// so it is read back (without an LRU bump).
uint64_t StoredSize(const Request& request, StoreMode mode, StoreStatus status, const MetaFlags& f,
                    Store* store) {
  uint64_t size = request.data.size();
  if (status == StoreStatus::kStored && (mode == StoreMode::kAppend || mode == StoreMode::kPrepend)) {
    Peek(store, f.key, [&size](const ItemView& item) { size = item.value.size(); });
  }
  return size;
}

void MetaSet(const Request& request, ServerState* state, ThreadStats* stats, std::string* out) {
  MetaFlags f;
  StoreMode mode = StoreMode::kSet;
  std::string_view error = ReadMetaRequest(request, {}, &f);
  if (error.empty() && !ModeForSet(f.mode, &mode)) {
    error = "CLIENT_ERROR invalid mode for ms M token";
  }
  if (!error.empty()) {
    AppendLine(error, out);
    return;
  }
  // A cas value turns set and replace into cas (memcached: "REPLACE + CAS works
  // the same as CAS"); add ignores it and append/prepend check it.
  if (f.has_compare_cas && (mode == StoreMode::kSet || mode == StoreMode::kReplace)) {
    mode = StoreMode::kCas;
  }
  WriteOptions write;
  write.compare_cas = f.compare_cas;
  write.new_cas = f.new_cas;
  write.invalidate = f.invalidate;  // memcached only honours it in cas mode, as StoreItem does
  const int64_t now_s = state->clock->NowSeconds();
  Store* store = state->store;
  uint64_t cas = 0;
  StoreStatus status = StoreStatus::kTooLarge;
  if (!request.too_large) {
    status = store->StoreItem(mode, f.key, request.data, f.client_flags, AbsoluteExptime(f.ttl, now_s), write,
                              &cas);
  }
  const bool concatenation = mode == StoreMode::kAppend || mode == StoreMode::kPrepend;
  if (concatenation && !request.too_large) {
    // 'N': a miss creates the item from this data instead.
    if (status == StoreStatus::kNotStored && f.vivify) {
      status = store->StoreItem(StoreMode::kAdd, f.key, request.data, f.client_flags,
                                AbsoluteExptime(f.vivify_ttl, now_s), write, &cas);
    }
    // memcached answers NOT_STORED when the joined item cannot be allocated.
    if (status == StoreStatus::kTooLarge || status == StoreStatus::kOutOfMemory) {
      status = StoreStatus::kNotStored;
    }
  }
  stats->Add(Stat::kCmdMeta);
  CountStoreOutcome(mode, status, stats);

  std::string_view code;
  switch (status) {
    case StoreStatus::kStored:
      if (f.no_reply) {
        return;
      }
      code = "HD";
      break;
    case StoreStatus::kNotStored:
      code = "NS";
      break;
    case StoreStatus::kExists:
      code = "EX";
      break;
    case StoreStatus::kNotFound:
      code = "NF";
      break;
    case StoreStatus::kTooLarge:
    case StoreStatus::kOutOfMemory:
      // As memcached, do not leave the old value readable after a failed set.
      store->Delete(f.key);
      AppendLine(StoreFailureLine(status), out);
      return;
  }
  out->append(code);
  for (const MetaFlag& flag : request.meta_flags) {
    switch (flag.code) {
      case 'O':
        AppendOpaque(flag, out);
        break;
      case 'k':
        AppendKeyFlag(f.key, f.base64_key, out);
        break;
      case 'c':
        out->append(" c");
        AppendUint(out, cas);
        break;
      case 's':
        out->append(" s");
        AppendUint(out, StoredSize(request, mode, status, f, store));
        break;
      default:
        break;
    }
  }
  out->append("\r\n");
}

// md 'x': replaces the value with an empty one and keeps the item, with the F
// flags and T TTL (memcached stores a fresh 0-byte item over it). On success
// *cas is the new item's cas unique.
StoreStatus ClearValue(const MetaFlags& f, int64_t now_s, Store* store, uint64_t* cas) {
  uint64_t held_cas = 0;
  if (!Peek(store, f.key, [&held_cas](const ItemView& item) { held_cas = item.cas; })) {
    return StoreStatus::kNotFound;
  }
  if (f.has_compare_cas && f.compare_cas != held_cas) {
    return StoreStatus::kExists;
  }
  WriteOptions write;
  write.compare_cas = held_cas;
  write.new_cas = f.new_cas;
  return store->StoreItem(StoreMode::kCas, f.key, {}, f.client_flags, AbsoluteExptime(f.ttl, now_s), write,
                          cas);
}

StoreStatus StatusOfDelete(DeleteStatus status) {
  switch (status) {
    case DeleteStatus::kDeleted:
      return StoreStatus::kStored;
    case DeleteStatus::kNotFound:
      return StoreStatus::kNotFound;
    case DeleteStatus::kExists:
      return StoreStatus::kExists;
  }
  return StoreStatus::kNotFound;
}

// md 'I': marks the item stale instead of deleting it, with 'T' a new TTL
// (memcached process_mdelete_command). After 'x', `compare_cas` is the
// emptied item's cas.
StoreStatus InvalidateForMeta(const MetaFlags& f, uint64_t compare_cas, int64_t now_s, Store* store) {
  InvalidateOptions options;
  options.compare_cas = compare_cas;
  options.new_cas = f.new_cas;
  options.update_exptime = f.has_ttl;
  options.exptime = AbsoluteExptime(f.ttl, now_s);
  return StatusOfDelete(store->Invalidate(f.key, options));
}

StoreStatus DeleteForMeta(const MetaFlags& f, int64_t now_s, Store* store) {
  if (f.has_compare_cas && f.compare_cas == 0) {
    // "C0" never matches (memcached compares it; no item has cas 0), while
    // the Store reads 0 as "no comparison".
    return Peek(store, f.key, [](const ItemView&) {}) ? StoreStatus::kExists : StoreStatus::kNotFound;
  }
  if (f.remove_value) {
    uint64_t cas = 0;
    const StoreStatus status = ClearValue(f, now_s, store, &cas);
    if (status != StoreStatus::kStored || !f.invalidate) {
      return status;
    }
    return InvalidateForMeta(f, cas, now_s, store);
  }
  if (f.invalidate) {
    return InvalidateForMeta(f, f.compare_cas, now_s, store);
  }
  return StatusOfDelete(store->Delete(f.key, f.compare_cas));
}

void MetaDelete(const Request& request, ServerState* state, ThreadStats* stats, std::string* out) {
  MetaFlags f;
  const std::string_view error = ReadMetaRequest(request, kInvalidOrDuplicateFlag, &f);
  if (!error.empty()) {
    AppendLine(error, out);
    return;
  }
  // kStored stands for "deleted" (or "value removed" with 'x', "marked stale"
  // with 'I').
  const StoreStatus status = DeleteForMeta(f, state->clock->NowSeconds(), state->store);
  stats->Add(Stat::kCmdMeta);
  // memcached counts a stale mark as neither a delete hit nor a miss.
  if (status != StoreStatus::kStored) {
    stats->Add(Stat::kDeleteMisses);
  } else if (!f.invalidate) {
    stats->Add(Stat::kDeleteHits);
  }
  switch (status) {
    case StoreStatus::kStored:
      if (!f.no_reply) {
        AppendStatusLine("HD", request, f, out);
      }
      return;
    case StoreStatus::kNotFound:
      AppendStatusLine("NF", request, f, out);
      return;
    case StoreStatus::kOutOfMemory:
    case StoreStatus::kTooLarge:
      AppendLine("SERVER_ERROR out of memory", out);
      return;
    case StoreStatus::kNotStored:
    case StoreStatus::kExists:
      AppendStatusLine("EX", request, f, out);
      return;
  }
}

void MetaArithmetic(const Request& request, ServerState* state, ThreadStats* stats, std::string* out) {
  MetaFlags f;
  std::string_view error = ReadMetaRequest(request, kInvalidOrDuplicateFlag, &f);
  ArithOptions options;
  switch (f.mode) {
    case 0:
    case 'I':
    case '+':
      break;
    case 'D':
    case '-':
      options.incr = false;
      break;
    default:
      if (error.empty()) {
        error = "CLIENT_ERROR invalid mode for ma M token";
      }
  }
  if (!error.empty()) {
    AppendLine(error, out);
    return;
  }
  const int64_t now_s = state->clock->NowSeconds();
  options.delta = f.delta;
  options.compare_cas = f.compare_cas;
  options.autovivify = f.vivify;
  options.initial = f.initial;
  options.vivify_exptime = AbsoluteExptime(VivifyTtl(request, f), now_s);
  options.update_exptime = f.has_ttl;
  options.exptime = AbsoluteExptime(f.ttl, now_s);
  uint64_t value = 0;
  uint64_t cas = 0;
  ArithResult result;
  const ArithStatus status = state->store->Arithmetic(f.key, options, &value, &cas, &result);
  stats->Add(Stat::kCmdMeta);
  if (!result.created) {
    // memcached counts a vivified item as neither a hit nor a miss.
    CountArithmeticOutcome(options.incr, status, stats);
  }
  switch (status) {
    case ArithStatus::kOk:
      break;
    case ArithStatus::kNotFound:
      AppendStatusLine("NF", request, f, out);
      return;
    case ArithStatus::kExists:
      AppendStatusLine("EX", request, f, out);
      return;
    case ArithStatus::kNonNumeric:
    case ArithStatus::kOutOfMemory:
      AppendLine(ArithmeticFailureLine(status), out);
      return;
  }
  if (f.no_reply && !result.created) {
    return;  // memcached skips the whole reply, VA included (not for a vivified item)
  }
  char digits[20];
  const auto [digits_end, ec] = std::to_chars(digits, digits + sizeof(digits), value);
  const std::string_view number(digits, digits_end - digits);
  if (f.value) {
    out->append("VA ");
    AppendUint(out, number.size());
  } else {
    out->append("HD");
  }
  // memcached applies 'T' and a vivified item's 'N' where they stand.
  int64_t exptime = result.previous_exptime;
  for (const MetaFlag& flag : request.meta_flags) {
    switch (flag.code) {
      case 'T':
        exptime = options.exptime;
        break;
      case 'N':
        if (result.created) {
          exptime = AbsoluteExptime(f.vivify_ttl, now_s);
        }
        break;
      case 'c':
        out->append(" c");
        AppendUint(out, cas);
        break;
      case 't':
        out->append(" t");
        AppendInt(out, RemainingTtl(exptime, now_s));
        break;
      case 'O':
        AppendOpaque(flag, out);
        break;
      case 'k':
        AppendKeyFlag(f.key, f.base64_key, out);
        break;
      default:
        break;
    }
  }
  out->append("\r\n");
  if (f.value) {
    AppendLine(number, out);
  }
}

// me: memcached's process_meta_command. Only a first flag of exactly "b" is
// looked at; other flags are ignored.
void MetaDebug(const Request& request, ServerState* state, ThreadStats* stats, std::string* out) {
  stats->Add(Stat::kCmdMeta);
  if (!CheckKey(request).empty()) {
    AppendLine(kBadFormat, out);
    return;
  }
  std::string_view key = request.keys[0];
  char key_buffer[kKeyMaxLength];
  const bool base64 =
      !request.meta_flags.empty() && request.meta_flags[0].code == 'b' && request.meta_flags[0].token.empty();
  if (base64) {
    size_t length = 0;
    if (!DecodeBase64(key, key_buffer, sizeof(key_buffer), &length)) {
      AppendLine(kBadFormat, out);
      return;
    }
    key = std::string_view(key_buffer, length);
  }
  const int64_t now_s = state->clock->NowSeconds();
  const bool hit = Peek(state->store, key, [&](const ItemView& item) {
    out->append("ME ");
    if (base64) {
      AppendBase64(item.key, out);
    } else {
      out->append(item.key);
    }
    out->append(" exp=");
    AppendInt(out, RemainingTtl(item.exptime, now_s));
    out->append(" la=");
    AppendInt(out, now_s - item.last_access);
    out->append(" cas=");
    AppendUint(out, item.cas);
    out->append(item.fetched ? " fetch=yes" : " fetch=no");
    out->append(" cls=");
    AppendInt(out, item.slab_class);
    out->append(" size=");
    AppendUint(out, item.size);
    out->append("\r\n");
  });
  if (!hit) {
    AppendLine("EN", out);
  }
}

constexpr char kBase64Alphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

int Base64Value(char c) {
  if (c >= 'A' && c <= 'Z') {
    return c - 'A';
  }
  if (c >= 'a' && c <= 'z') {
    return c - 'a' + 26;
  }
  if (c >= '0' && c <= '9') {
    return c - '0' + 52;
  }
  if (c == '+') {
    return 62;
  }
  if (c == '/') {
    return 63;
  }
  return -1;
}

}  // namespace

void CountStoreOutcome(StoreMode mode, StoreStatus status, ThreadStats* stats) {
  if (status == StoreStatus::kTooLarge || status == StoreStatus::kOutOfMemory) {
    return;
  }
  stats->Add(Stat::kCmdSet);
  if (mode != StoreMode::kCas) {
    return;
  }
  switch (status) {
    case StoreStatus::kStored:
      stats->Add(Stat::kCasHits);
      break;
    case StoreStatus::kExists:
      stats->Add(Stat::kCasBadval);
      break;
    case StoreStatus::kNotFound:
      stats->Add(Stat::kCasMisses);
      break;
    default:
      break;
  }
}

std::string_view StoreFailureLine(StoreStatus status) {
  return status == StoreStatus::kTooLarge ? "SERVER_ERROR object too large for cache"
                                          : "SERVER_ERROR out of memory storing object";
}

void CountArithmeticOutcome(bool incr, ArithStatus status, ThreadStats* stats) {
  if (status == ArithStatus::kOk) {
    stats->Add(incr ? Stat::kIncrHits : Stat::kDecrHits);
  } else if (status == ArithStatus::kNotFound) {
    stats->Add(incr ? Stat::kIncrMisses : Stat::kDecrMisses);
  }
}

std::string_view ArithmeticFailureLine(ArithStatus status) {
  return status == ArithStatus::kNonNumeric ? "CLIENT_ERROR cannot increment or decrement non-numeric value"
                                            : "SERVER_ERROR out of memory";
}

void HandleMetaCommand(const Request& request, ServerState* state, ThreadStats* stats, std::string* out) {
  switch (request.command) {
    case Command::kMetaGet:
      MetaGet(request, state, stats, out);
      return;
    case Command::kMetaSet:
      MetaSet(request, state, stats, out);
      return;
    case Command::kMetaDelete:
      MetaDelete(request, state, stats, out);
      return;
    case Command::kMetaArithmetic:
      MetaArithmetic(request, state, stats, out);
      return;
    case Command::kMetaDebug:
      MetaDebug(request, state, stats, out);
      return;
    case Command::kMetaNoop:
      stats->Add(Stat::kCmdMeta);
      out->append("MN\r\n");
      return;
    default:
      AppendLine("ERROR", out);
      return;
  }
}

bool DecodeBase64(std::string_view in, char* out, size_t capacity, size_t* out_len) {
  if (in.empty() || in.size() % 4 != 0) {
    return false;
  }
  size_t padding = 0;
  if (in.back() == '=') {
    padding = in[in.size() - 2] == '=' ? 2 : 1;
  }
  const size_t length = in.size() / 4 * 3 - padding;
  if (length > capacity) {
    return false;
  }
  size_t written = 0;
  for (size_t i = 0; i < in.size(); i += 4) {
    const bool last = i + 4 == in.size();
    uint32_t group = 0;
    for (size_t j = 0; j < 4; ++j) {
      const char c = in[i + j];
      int value = Base64Value(c);
      if (value < 0) {
        // '=' only as the trailing padding of the last group.
        if (c != '=' || !last || j < 4 - padding) {
          return false;
        }
        value = 0;
      }
      group = group << 6 | static_cast<uint32_t>(value);
    }
    const char bytes[3] = {static_cast<char>(group >> 16), static_cast<char>(group >> 8),
                           static_cast<char>(group)};
    for (size_t j = 0; j < 3 && written < length; ++j) {
      out[written++] = bytes[j];
    }
  }
  *out_len = length;
  return true;
}

void AppendBase64(std::string_view in, std::string* out) {
  size_t i = 0;
  for (; i + 3 <= in.size(); i += 3) {
    const uint32_t group = static_cast<uint32_t>(static_cast<unsigned char>(in[i])) << 16 |
                           static_cast<uint32_t>(static_cast<unsigned char>(in[i + 1])) << 8 |
                           static_cast<unsigned char>(in[i + 2]);
    const char chars[4] = {kBase64Alphabet[group >> 18], kBase64Alphabet[(group >> 12) & 63],
                           kBase64Alphabet[(group >> 6) & 63], kBase64Alphabet[group & 63]};
    out->append(chars, 4);
  }
  const size_t rest = in.size() - i;
  if (rest == 0) {
    return;
  }
  uint32_t group = static_cast<uint32_t>(static_cast<unsigned char>(in[i])) << 16;
  if (rest == 2) {
    group |= static_cast<uint32_t>(static_cast<unsigned char>(in[i + 1])) << 8;
  }
  const char chars[4] = {kBase64Alphabet[group >> 18], kBase64Alphabet[(group >> 12) & 63],
                         rest == 2 ? kBase64Alphabet[(group >> 6) & 63] : '=', '='};
  out->append(chars, 4);
}

}  // namespace twincache
