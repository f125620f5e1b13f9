// What the two request-parser fuzz targets (parser_fuzz.cc, binary_parser_fuzz.cc)
// share: walking an input as a connection does and checking the contract
// every stateless parser in core/protocol has (parser.h, binary_parser.h):
//   - consumed never exceeds the input; kNeedMore consumes and swallows
//     nothing; any other result makes progress;
//   - statelessness: the consumed bytes alone parse to the same result and
//     request, and one byte fewer is kNeedMore (where Target says it must be).
// Each target adds its protocol's own checks in Target::CheckResult.
#ifndef TWINCACHE_TESTS_FUZZ_STREAM_WALK_H_
#define TWINCACHE_TESTS_FUZZ_STREAM_WALK_H_

#include <cstddef>
#include <cstdlib>
#include <string_view>

#include "core/protocol/parser.h"

namespace fuzz {

/// Aborts (the fuzzer's crash) unless `condition` holds.
inline void Check(bool condition) {
  if (!condition) {
    std::abort();
  }
}

/// Whether `view` is empty or lies inside `bytes`.
inline bool Inside(std::string_view view, std::string_view bytes) {
  if (view.empty()) {
    return true;
  }
  return view.data() >= bytes.data() && view.data() + view.size() <= bytes.data() + bytes.size();
}

/// Feeds `input` to Target::Parse as a connection does: drops what a result
/// consumed, then discards its `swallow` bytes, stops at kNeedMore or a
/// closing result. Target provides:
///   using Request; using Result;  (Result has consumed, swallow, close)
///   static Result Parse(std::string_view, const ParserLimits&, Request*);
///   static bool NeedMore(const Result&);
///   static bool IsRequest(const Result&);
///   static bool SameResult(const Result&, const Result&);
///   static bool SameRequest(const Request&, const Request&);
///   static void CheckResult(const Result&, const Request&, std::string_view consumed);
///   static bool ShorterNeedsMore(const Result&);  (one byte fewer must be kNeedMore)
template <typename Target>
void WalkStream(std::string_view input, const twincache::ParserLimits& limits) {
  typename Target::Request request;
  typename Target::Request again;
  size_t swallow = 0;
  while (!input.empty()) {
    if (swallow > 0) {
      const size_t skip = swallow < input.size() ? swallow : input.size();
      input.remove_prefix(skip);
      swallow -= skip;
      continue;
    }
    const typename Target::Result result = Target::Parse(input, limits, &request);
    Check(result.consumed <= input.size());
    if (Target::NeedMore(result)) {
      Check(result.consumed == 0 && result.swallow == 0);
      break;
    }
    Check(result.consumed > 0);
    const std::string_view consumed = input.substr(0, result.consumed);
    Target::CheckResult(result, request, consumed);
    const typename Target::Result alone = Target::Parse(consumed, limits, &again);
    Check(Target::SameResult(result, alone));
    if (Target::IsRequest(result)) {
      Check(Target::SameRequest(request, again));
    }
    if (Target::ShorterNeedsMore(result)) {
      Check(Target::NeedMore(Target::Parse(consumed.substr(0, consumed.size() - 1), limits, &again)));
    }
    if (result.close) {
      break;
    }
    input.remove_prefix(result.consumed);
    swallow = result.swallow;
  }
}

}  // namespace fuzz

#endif  // TWINCACHE_TESTS_FUZZ_STREAM_WALK_H_
