// libFuzzer target for ParseRequest(): walks the input as a connection does
// (drop `consumed`, honour `swallow`, stop on a closing error) and checks the
// parser's contract on every result:
//   - consumed never exceeds the input, and kRequest/kError make progress;
//   - every view in the Request lies inside the bytes the result consumed;
//   - statelessness: the consumed bytes alone parse to the same result, and
//     one byte fewer is kNeedMore (except for a line-too-long close).
// The last input byte (also parsed) picks small or default limits, so the
// too-large and line-too-long paths are reachable with short inputs while
// seeds ending in "\n" run with the defaults.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "core/protocol/parser.h"
#include "core/protocol/request.h"

namespace {

using twincache::MetaFlag;
using twincache::ParseRequest;
using twincache::ParseResult;
using twincache::ParserLimits;
using twincache::ParseStatus;
using twincache::Request;

void Check(bool condition) {
  if (!condition) std::abort();
}

bool Inside(std::string_view view, std::string_view bytes) {
  if (view.empty()) return true;
  return view.data() >= bytes.data() && view.data() + view.size() <= bytes.data() + bytes.size();
}

bool SameResult(const ParseResult& a, const ParseResult& b) {
  return a.status == b.status && a.consumed == b.consumed && a.swallow == b.swallow && a.error == b.error &&
         a.close == b.close && a.noreply == b.noreply;
}

bool SameRequest(const Request& a, const Request& b) {
  if (a.command != b.command || a.keys != b.keys || a.flags != b.flags || a.exptime != b.exptime ||
      a.cas_unique != b.cas_unique || a.delta != b.delta || a.delay != b.delay || a.noreply != b.noreply ||
      a.data != b.data || a.too_large != b.too_large || a.args != b.args ||
      a.meta_flags.size() != b.meta_flags.size()) {
    return false;
  }
  for (size_t i = 0; i < a.meta_flags.size(); ++i) {
    if (a.meta_flags[i].code != b.meta_flags[i].code || a.meta_flags[i].token != b.meta_flags[i].token)
      return false;
  }
  return true;
}

void CheckRequestViews(const Request& request, std::string_view consumed) {
  for (std::string_view key : request.keys) Check(Inside(key, consumed));
  for (std::string_view arg : request.args) Check(Inside(arg, consumed));
  for (const MetaFlag& flag : request.meta_flags) Check(Inside(flag.token, consumed));
  Check(Inside(request.data, consumed));
  if (request.too_large) Check(request.data.empty());
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
  if (size == 0) return 0;
  const ParserLimits limits = PickLimits(data[size - 1]);
  std::string_view input(reinterpret_cast<const char*>(data), size);
  Request request;
  Request again;
  size_t swallow = 0;
  while (!input.empty()) {
    if (swallow > 0) {
      const size_t skip = swallow < input.size() ? swallow : input.size();
      input.remove_prefix(skip);
      swallow -= skip;
      continue;
    }
    const ParseResult result = ParseRequest(input, limits, &request);
    Check(result.consumed <= input.size());
    if (result.status == ParseStatus::kNeedMore) {
      Check(result.consumed == 0 && result.swallow == 0);
      break;
    }
    Check(result.consumed > 0);
    const std::string_view consumed = input.substr(0, result.consumed);
    if (result.status == ParseStatus::kError) {
      Check(!result.error.empty() && result.swallow == 0);
    } else {
      CheckRequestViews(request, consumed);
      Check(request.too_large == (result.swallow > 0));
    }
    // The same bytes alone give the same result; one fewer needs more.
    const ParseResult alone = ParseRequest(consumed, limits, &again);
    Check(SameResult(result, alone));
    if (result.status == ParseStatus::kRequest) Check(SameRequest(request, again));
    if (!result.close) {
      Check(ParseRequest(consumed.substr(0, consumed.size() - 1), limits, &again).status ==
            ParseStatus::kNeedMore);
    }
    if (result.close) break;
    input.remove_prefix(result.consumed);
    swallow = result.swallow;
  }
  return 0;
}
