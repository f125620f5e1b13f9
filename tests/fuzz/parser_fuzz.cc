// libFuzzer target for ParseRequest(): walks the input as a connection does
// (drop `consumed`, honour `swallow`, stop on a closing error; stream_walk.h)
// and checks the parser's contract on every result:
//   - consumed never exceeds the input, and kRequest/kError make progress;
//   - every view in the Request lies inside the bytes the result consumed;
//   - statelessness: the consumed bytes alone parse to the same result, and
//     one byte fewer is kNeedMore (except for a line-too-long close).
// The last input byte (also parsed) picks small or default limits, so the
// too-large and line-too-long paths are reachable with short inputs while
// seeds ending in "\n" run with the defaults.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "core/protocol/parser.h"
#include "core/protocol/request.h"
#include "tests/fuzz/stream_walk.h"

namespace {

using twincache::MetaFlag;
using twincache::ParseRequest;
using twincache::ParseResult;
using twincache::ParserLimits;
using twincache::ParseStatus;

using fuzz::Check;
using fuzz::Inside;

// The text (and meta) parser for fuzz::WalkStream.
struct TextTarget {
  using Request = twincache::Request;
  using Result = ParseResult;
  static Result Parse(std::string_view input, const ParserLimits& limits, Request* request) {
    return ParseRequest(input, limits, request);
  }
  static bool NeedMore(const Result& result) { return result.status == ParseStatus::kNeedMore; }
  static bool IsRequest(const Result& result) { return result.status == ParseStatus::kRequest; }
  static bool SameResult(const Result& a, const Result& b);
  static bool SameRequest(const Request& a, const Request& b);
  static void CheckResult(const Result& result, const Request& request, std::string_view consumed);
  // A line too long closes as soon as the limit is passed, so a byte fewer
  // may close too.
  static bool ShorterNeedsMore(const Result& result) { return !result.close; }
};

bool TextTarget::SameResult(const ParseResult& a, const ParseResult& b) {
  return a.status == b.status && a.consumed == b.consumed && a.swallow == b.swallow && a.error == b.error &&
         a.close == b.close && a.noreply == b.noreply;
}

bool TextTarget::SameRequest(const Request& a, const Request& b) {
  if (a.command != b.command || a.keys != b.keys || a.flags != b.flags || a.exptime != b.exptime ||
      a.cas_unique != b.cas_unique || a.delta != b.delta || a.delay != b.delay || a.noreply != b.noreply ||
      a.data != b.data || a.too_large != b.too_large || a.args != b.args ||
      a.meta_flags.size() != b.meta_flags.size()) {
    return false;
  }
  for (size_t i = 0; i < a.meta_flags.size(); ++i) {
    if (a.meta_flags[i].code != b.meta_flags[i].code || a.meta_flags[i].token != b.meta_flags[i].token) {
      return false;
    }
  }
  return true;
}

void TextTarget::CheckResult(const Result& result, const Request& request, std::string_view consumed) {
  if (result.status == ParseStatus::kError) {
    Check(!result.error.empty() && result.swallow == 0);
    return;
  }
  Check(request.too_large == (result.swallow > 0));
  for (std::string_view key : request.keys) {
    Check(Inside(key, consumed));
  }
  for (std::string_view arg : request.args) {
    Check(Inside(arg, consumed));
  }
  for (const MetaFlag& flag : request.meta_flags) {
    Check(Inside(flag.token, consumed));
  }
  Check(Inside(request.data, consumed));
  if (request.too_large) {
    Check(request.data.empty());
  }
}

ParserLimits PickLimits(uint8_t selector) {
  ParserLimits limits;
  if (selector & 1) {
    limits.max_line = 16 + (selector >> 1) % 64;
    limits.max_get_line = limits.max_line * 4;
    limits.item_size_max = 64 + (selector >> 3) * 8;
  }
  return limits;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) {
    return 0;
  }
  fuzz::WalkStream<TextTarget>(std::string_view(reinterpret_cast<const char*>(data), size),
                               PickLimits(data[size - 1]));
  return 0;
}
