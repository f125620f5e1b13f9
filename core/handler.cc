// Handler: the text commands here, meta commands in meta_commands.cc, the
// stats and lru_crawler reports in stats_report.cc.
//
// Each command follows its process_*_command in memcached 1.6's proto_text.c
// for the reply lines and for which thread_stats counter it bumps. "noreply"
// suppresses the whole reply, errors included, as memcached's out_string
// does once set_noreply_maybe has seen it: the reply is built as usual and
// cut off again, which keeps every path the same.
#include "core/handler.h"

#include <cstdint>
#include <functional>

#include "core/item.h"
#include "core/meta_commands.h"
#include "core/settings.h"
#include "core/stats_report.h"
#include "core/store.h"
#include "core/text_tokens.h"

namespace twincache {
namespace {

constexpr uint32_t kMaxVerbosity = 2;   // memcached MAX_VERBOSITY_LEVEL
constexpr uint32_t kMinMemlimitMb = 8;  // process_memlimit_command's bounds
constexpr uint32_t kMaxMemlimitMb = 1000000000;

void AppendLine(std::string_view line, std::string* out) {
  out->append(line);
  out->append("\r\n");
}

// "VALUE <key> <flags> <bytes>[ <cas>]\r\n<data>\r\n" (make_ascii_get_suffix).
struct ValueReply {
  std::string* out;
  bool with_cas;

  void Append(const ItemView& item) const {
    out->append("VALUE ");
    out->append(item.key);
    out->push_back(' ');
    AppendUint(out, item.flags);
    out->push_back(' ');
    AppendUint(out, item.value.size());
    if (with_cas) {
      out->push_back(' ');
      AppendUint(out, item.cas);
    }
    out->append("\r\n");
    out->append(item.value);
    out->append("\r\n");
  }
};

// get/gets/gat/gats: a VALUE block per hit, then END. gat/gats count as
// touches only (cmd_touch, touch_hits/misses), plain gets as gets.
void Retrieve(const Request& request, bool with_cas, bool touch, ServerState* state, ThreadStats* stats,
              std::string* out) {
  ReadOptions options;
  options.touch = touch;
  if (touch) {
    options.exptime = AbsoluteExptime(request.exptime, state->clock->NowSeconds());
  }
  const ValueReply reply{out, with_cas};
  const std::function<void(const ItemView&)> append = [&reply](const ItemView& item) { reply.Append(item); };
  for (const std::string_view key : request.keys) {
    const bool hit = state->store->Get(key, options, append);
    if (touch) {
      stats->Add(Stat::kCmdTouch);
      stats->Add(hit ? Stat::kTouchHits : Stat::kTouchMisses);
    } else {
      stats->Add(Stat::kCmdGet);
      stats->Add(hit ? Stat::kGetHits : Stat::kGetMisses);
    }
  }
  out->append("END\r\n");
}

// set/add/replace/append/prepend/cas (process_update_command and
// complete_nread_ascii). A set that fails for lack of room deletes the old
// value, so a reader never sees data older than what was last written.
void StoreValue(const Request& request, StoreMode mode, ServerState* state, ThreadStats* stats,
                std::string* out) {
  const std::string_view key = request.keys[0];
  StoreStatus status = StoreStatus::kTooLarge;
  if (!request.too_large) {
    WriteOptions options;
    options.compare_cas = request.cas_unique;
    status = state->store->StoreItem(mode, key, request.data, request.flags,
                                     AbsoluteExptime(request.exptime, state->clock->NowSeconds()), options,
                                     nullptr);
    // memcached builds the joined item of append/prepend inside
    // do_store_item and answers NOT_STORED when that allocation fails.
    const bool concatenation = mode == StoreMode::kAppend || mode == StoreMode::kPrepend;
    if (concatenation && (status == StoreStatus::kTooLarge || status == StoreStatus::kOutOfMemory)) {
      status = StoreStatus::kNotStored;
    }
  }
  CountStoreOutcome(mode, status, stats);
  switch (status) {
    case StoreStatus::kStored:
      AppendLine("STORED", out);
      return;
    case StoreStatus::kNotStored:
      AppendLine("NOT_STORED", out);
      return;
    case StoreStatus::kExists:
      AppendLine("EXISTS", out);
      return;
    case StoreStatus::kNotFound:
      AppendLine("NOT_FOUND", out);
      return;
    case StoreStatus::kTooLarge:
    case StoreStatus::kOutOfMemory:
      if (mode == StoreMode::kSet) {
        state->store->Delete(key);
      }
      AppendLine(status == StoreStatus::kTooLarge ? "SERVER_ERROR object too large for cache"
                                                  : "SERVER_ERROR out of memory storing object",
                 out);
      return;
  }
}

// incr/decr (process_arithmetic_command, do_add_delta).
void Arithmetic(const Request& request, bool incr, ServerState* state, ThreadStats* stats, std::string* out) {
  ArithOptions options;
  options.incr = incr;
  options.delta = request.delta;
  uint64_t value = 0;
  switch (state->store->Arithmetic(request.keys[0], options, &value, nullptr)) {
    case ArithStatus::kOk:
      stats->Add(incr ? Stat::kIncrHits : Stat::kDecrHits);
      AppendUint(out, value);
      out->append("\r\n");
      return;
    case ArithStatus::kNotFound:
      stats->Add(incr ? Stat::kIncrMisses : Stat::kDecrMisses);
      AppendLine("NOT_FOUND", out);
      return;
    case ArithStatus::kNonNumeric:
      AppendLine("CLIENT_ERROR cannot increment or decrement non-numeric value", out);
      return;
    case ArithStatus::kOutOfMemory:
      AppendLine("SERVER_ERROR out of memory", out);
      return;
    case ArithStatus::kExists:  // needs compare_cas, which incr/decr never set
      AppendLine("EXISTS", out);
      return;
  }
}

// delete (process_delete_command).
void Delete(const Request& request, ServerState* state, ThreadStats* stats, std::string* out) {
  if (state->store->Delete(request.keys[0]) == DeleteStatus::kDeleted) {
    stats->Add(Stat::kDeleteHits);
    AppendLine("DELETED", out);
  } else {
    stats->Add(Stat::kDeleteMisses);
    AppendLine("NOT_FOUND", out);
  }
}

// touch (process_touch_command).
void Touch(const Request& request, ServerState* state, ThreadStats* stats, std::string* out) {
  const bool hit =
      state->store->Touch(request.keys[0], AbsoluteExptime(request.exptime, state->clock->NowSeconds()));
  stats->Add(Stat::kCmdTouch);
  stats->Add(hit ? Stat::kTouchHits : Stat::kTouchMisses);
  AppendLine(hit ? "TOUCHED" : "NOT_FOUND", out);
}

// flush_all [delay] (process_flush_all_command): no delay (or a negative one)
// flushes now, up to 30 days is relative and more is a unix time, as
// memcached's realtime().
void FlushAll(const Request& request, ServerState* state, ThreadStats* stats, std::string* out) {
  stats->Add(Stat::kCmdFlush);
  const int64_t now_ms = state->clock->NowMillis();
  int64_t at_ms = now_ms;
  if (request.delay > kRelativeExptimeMax) {
    at_ms = request.delay * 1000;
  } else if (request.delay > 0) {
    at_ms = now_ms + request.delay * 1000;
  }
  state->store->FlushAll(at_ms);
  AppendLine("OK", out);
}

// verbosity <level> (process_verbosity_command): levels above 2 count as 2.
void Verbosity(const Request& request, ServerState* state, std::string* out) {
  uint32_t level = 0;
  if (request.args.empty() || !ParseUint32(request.args[0], &level)) {
    AppendLine("CLIENT_ERROR bad command line format", out);
    return;
  }
  state->verbosity.store(static_cast<int>(level > kMaxVerbosity ? kMaxVerbosity : level),
                         std::memory_order_relaxed);
  AppendLine("OK", out);
}

// cache_memlimit <megabytes> (process_memlimit_command).
void CacheMemlimit(const Request& request, ServerState* state, std::string* out) {
  uint32_t megabytes = 0;
  if (request.args.empty() || !ParseUint32(request.args[0], &megabytes)) {
    AppendLine("ERROR", out);
  } else if (megabytes < kMinMemlimitMb) {
    AppendLine("MEMLIMIT_TOO_SMALL cannot set maxbytes to less than 8m", out);
  } else if (megabytes > kMaxMemlimitMb) {
    AppendLine("MEMLIMIT_ADJUST_FAILED input value is megabytes not bytes", out);
  } else {
    state->store->SetLimit(static_cast<size_t>(megabytes) * 1024 * 1024);
    AppendLine("OK", out);
  }
}

}  // namespace

HandleOutcome Handler::Handle(const Request& request, ThreadStats* stats, std::string* out) {
  const size_t reply_start = out->size();
  switch (request.command) {
    case Command::kGet:
      Retrieve(request, false, false, state_, stats, out);
      break;
    case Command::kGets:
      Retrieve(request, true, false, state_, stats, out);
      break;
    case Command::kGat:
      Retrieve(request, false, true, state_, stats, out);
      break;
    case Command::kGats:
      Retrieve(request, true, true, state_, stats, out);
      break;
    case Command::kSet:
      StoreValue(request, StoreMode::kSet, state_, stats, out);
      break;
    case Command::kAdd:
      StoreValue(request, StoreMode::kAdd, state_, stats, out);
      break;
    case Command::kReplace:
      StoreValue(request, StoreMode::kReplace, state_, stats, out);
      break;
    case Command::kAppend:
      StoreValue(request, StoreMode::kAppend, state_, stats, out);
      break;
    case Command::kPrepend:
      StoreValue(request, StoreMode::kPrepend, state_, stats, out);
      break;
    case Command::kCas:
      StoreValue(request, StoreMode::kCas, state_, stats, out);
      break;
    case Command::kIncr:
      Arithmetic(request, true, state_, stats, out);
      break;
    case Command::kDecr:
      Arithmetic(request, false, state_, stats, out);
      break;
    case Command::kDelete:
      Delete(request, state_, stats, out);
      break;
    case Command::kTouch:
      Touch(request, state_, stats, out);
      break;
    case Command::kFlushAll:
      FlushAll(request, state_, stats, out);
      break;
    case Command::kVersion:
      out->append("VERSION ");
      AppendLine(kProtocolVersion, out);
      break;
    case Command::kVerbosity:
      Verbosity(request, state_, out);
      break;
    case Command::kQuit:
      return HandleOutcome::kClose;
    case Command::kStats:
      HandleStats(request, state_, out);
      break;
    case Command::kCacheMemlimit:
      CacheMemlimit(request, state_, out);
      break;
    case Command::kLruCrawler:
      HandleLruCrawler(request, state_, out);
      break;
    case Command::kMetaGet:
    case Command::kMetaSet:
    case Command::kMetaDelete:
    case Command::kMetaArithmetic:
    case Command::kMetaNoop:
    case Command::kMetaDebug:
      HandleMetaCommand(request, state_, stats, out);
      break;
  }
  if (request.noreply) {
    out->resize(reply_start);
  }
  return HandleOutcome::kContinue;
}

}  // namespace twincache
