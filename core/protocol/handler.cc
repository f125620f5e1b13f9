// Handler: the text commands here, meta commands in meta_commands.cc, the
// stats and lru_crawler reports in stats_report.cc.
//
// Each command follows its process_*_command in memcached 1.6's proto_text.c
// for the reply lines and for which thread_stats counter it bumps. "noreply"
// suppresses the whole reply, errors included, as memcached's out_string
// does once set_noreply_maybe has seen it: the reply is built as usual and
// cut off again, which keeps every path the same.
#include "core/protocol/handler.h"

#include <algorithm>
#include <cstdint>
#include <functional>

#include "core/base/log.h"
#include "core/config/settings.h"
#include "core/protocol/meta_commands.h"
#include "core/protocol/stats_report.h"
#include "core/protocol/text_tokens.h"
#include "core/store/item.h"
#include "core/store/store.h"

namespace twincache {
namespace {

constexpr uint32_t kMaxVerbosity = 2;   // memcached MAX_VERBOSITY_LEVEL
constexpr uint32_t kMinMemlimitMb = 8;  // process_memlimit_command's bounds
constexpr uint32_t kMaxMemlimitMb = 1000000000;

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

// get/gets/gat/gats: a VALUE block per hit (with the cas unique for gets and
// gats), then END. gat/gats count as touches only (cmd_touch,
// touch_hits/misses), plain gets as gets.
void Retrieve(const Request& request, ServerState* state, ThreadStats* stats, std::string* out) {
  const bool with_cas = request.command == Command::kGets || request.command == Command::kGats;
  const bool touch = request.command == Command::kGat || request.command == Command::kGats;
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

// The store mode of a text storage command (process_update_command's comm):
// kSet for set.
StoreMode ModeOf(Command command) {
  switch (command) {
    case Command::kAdd:
      return StoreMode::kAdd;
    case Command::kReplace:
      return StoreMode::kReplace;
    case Command::kAppend:
      return StoreMode::kAppend;
    case Command::kPrepend:
      return StoreMode::kPrepend;
    case Command::kCas:
      return StoreMode::kCas;
    default:
      return StoreMode::kSet;
  }
}

// set/add/replace/append/prepend/cas (process_update_command and
// complete_nread_ascii). A set that fails for lack of room deletes the old
// value, so a reader never sees data older than what was last written. A
// value over -I never reached the store and counts nothing.
void StoreValue(const Request& request, ServerState* state, ThreadStats* stats, std::string* out) {
  const StoreMode mode = ModeOf(request.command);
  const std::string_view key = request.keys[0];
  const StoreStatus status = request.too_large
                                 ? StoreStatus::kTooLarge
                                 : StoreAndCount(mode, key, request.data, request.flags, request.exptime,
                                                 request.cas_unique, state, stats, nullptr);
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
      AppendLine(StoreFailureLine(status), out);
      return;
  }
}

// incr/decr (process_arithmetic_command, do_add_delta).
void Arithmetic(const Request& request, ServerState* state, ThreadStats* stats, std::string* out) {
  const bool incr = request.command == Command::kIncr;
  ArithOptions options;
  options.incr = incr;
  options.delta = request.delta;
  uint64_t value = 0;
  const ArithStatus status = state->store->Arithmetic(request.keys[0], options, &value, nullptr);
  CountArithmeticOutcome(incr, status, stats);
  switch (status) {
    case ArithStatus::kOk:
      AppendUint(out, value);
      out->append("\r\n");
      return;
    case ArithStatus::kNotFound:
      AppendLine("NOT_FOUND", out);
      return;
    case ArithStatus::kNonNumeric:
    case ArithStatus::kOutOfMemory:
      AppendLine(ArithmeticFailureLine(status), out);
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

// flush_all [delay] (process_flush_all_command).
void FlushAll(const Request& request, ServerState* state, ThreadStats* stats, std::string* out) {
  FlushAllAfter(request.delay, state, stats);
  AppendLine("OK", out);
}

// verbosity <level> (process_verbosity_command): levels above 2 count as 2.
// Level 2 also turns on debug logging and a lower level turns it off again,
// as -vv does at start (daemon/main.cc).
void Verbosity(const Request& request, ServerState* state, std::string* out) {
  uint32_t level = 0;
  if (request.args.empty() || !ParseUint32(request.args[0], &level)) {
    AppendLine("CLIENT_ERROR bad command line format", out);
    return;
  }
  level = std::min(level, kMaxVerbosity);
  state->verbosity.store(static_cast<int>(level), std::memory_order_relaxed);
  SetLogLevel(level >= 2 ? LogLevel::kDebug : LogLevel::kInfo);
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

// shutdown [graceful] (process_shutdown_command): without -A memcached's
// error line whatever the arguments; with it, the server is asked to stop as
// SIGINT or SIGUSR1 would and this connection closes without a reply.
HandleOutcome Shutdown(const Request& request, ServerState* state, std::string* out) {
  if (!state->settings.shutdown_command) {
    AppendLine("ERROR: shutdown not enabled", out);
    return HandleOutcome::kContinue;
  }
  StopMode mode = StopMode::kNormal;
  if (request.args.size() == 1 && request.args[0] == "graceful") {
    mode = StopMode::kGraceful;
  } else if (!request.args.empty()) {
    AppendLine("CLIENT_ERROR invalid shutdown mode", out);
    return HandleOutcome::kContinue;
  }
  if (state->request_stop) {
    state->request_stop(mode);
  }
  return HandleOutcome::kClose;
}

// refresh_certs [noreply] (process_refresh_certs_command): OK once the
// certificates are reloaded for new connections, else the loader's error
// line; without -Z memcached's "Error TLS not enabled".
void RefreshCerts(ServerState* state, std::string* out) {
  std::string error = "Error TLS not enabled";
  if (state->refresh_certs && state->refresh_certs(&error)) {
    AppendLine("OK", out);
  } else {
    Log(LogLevel::kWarning, "refresh_certs_failed", {{"reason", error}});
    AppendLine(error, out);
  }
}

}  // namespace

StoreStatus StoreAndCount(StoreMode mode, std::string_view key, std::string_view value, uint32_t flags,
                          int64_t client_exptime, uint64_t compare_cas, ServerState* state,
                          ThreadStats* stats, uint64_t* cas_out) {
  WriteOptions options;
  options.compare_cas = compare_cas;
  StoreStatus status = state->store->StoreItem(
      mode, key, value, flags, AbsoluteExptime(client_exptime, state->clock->NowSeconds()), options, cas_out);
  // memcached builds the joined item of append/prepend inside
  // do_store_item and answers NOT_STORED when that allocation fails.
  const bool concatenation = mode == StoreMode::kAppend || mode == StoreMode::kPrepend;
  if (concatenation && (status == StoreStatus::kTooLarge || status == StoreStatus::kOutOfMemory)) {
    status = StoreStatus::kNotStored;
  }
  CountStoreOutcome(mode, status, stats);
  return status;
}

void FlushAllAfter(int64_t delay_s, ServerState* state, ThreadStats* stats) {
  stats->Add(Stat::kCmdFlush);
  const int64_t now_ms = state->clock->NowMillis();
  int64_t at_ms = now_ms;
  if (delay_s > kRelativeExptimeMax) {
    at_ms = delay_s * 1000;
  } else if (delay_s > 0) {
    at_ms = now_ms + delay_s * 1000;
  }
  state->store->FlushAll(at_ms);
}

HandleOutcome Handler::Handle(const Request& request, ThreadStats* stats, std::string* out) {
  const size_t reply_start = out->size();
  switch (request.command) {
    case Command::kGet:
    case Command::kGets:
    case Command::kGat:
    case Command::kGats:
      Retrieve(request, state_, stats, out);
      break;
    case Command::kSet:
    case Command::kAdd:
    case Command::kReplace:
    case Command::kAppend:
    case Command::kPrepend:
    case Command::kCas:
      StoreValue(request, state_, stats, out);
      break;
    case Command::kIncr:
    case Command::kDecr:
      Arithmetic(request, state_, stats, out);
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
    case Command::kShutdown:
      return Shutdown(request, state_, out);
    case Command::kRefreshCerts:
      RefreshCerts(state_, out);
      if (!request.args.empty() && request.args.back() == "noreply") {
        out->resize(reply_start);
      }
      break;
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
