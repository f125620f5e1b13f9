// libFuzzer target for ParseBinaryRequest(): walks the input as a connection
// does (drop `consumed`, honour `swallow`, stop on a closing error;
// stream_walk.h) and checks
// the parser's contract on every result:
//   - consumed never exceeds the input, and kRequest/kError make progress;
//   - every view in the BinaryRequest lies inside the bytes the result
//     consumed, and a too-large value is swallowed, never viewed;
//   - the 24-byte header, extras and key are all in the consumed bytes;
//   - statelessness: the consumed bytes alone parse to the same result, and
//     one byte fewer is kNeedMore.
// The last input byte (also parsed) picks a small or the default -I, so the
// too-large path is reachable with short inputs.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "core/protocol/binary_parser.h"
#include "core/protocol/binary_protocol.h"
#include "tests/fuzz/stream_walk.h"

namespace {

using twincache::BinaryParseResult;
using twincache::BinaryParseStatus;
using twincache::BinaryRequest;
using twincache::kBinaryHeaderSize;
using twincache::ParseBinaryRequest;
using twincache::ParserLimits;

using fuzz::Check;
using fuzz::Inside;

// The binary parser for fuzz::WalkStream.
struct BinaryTarget {
  using Request = BinaryRequest;
  using Result = BinaryParseResult;
  static Result Parse(std::string_view input, const ParserLimits& limits, Request* request) {
    return ParseBinaryRequest(input, limits, request);
  }
  static bool NeedMore(const Result& result) { return result.status == BinaryParseStatus::kNeedMore; }
  static bool IsRequest(const Result& result) { return result.status == BinaryParseStatus::kRequest; }
  static bool SameResult(const Result& a, const Result& b);
  static bool SameRequest(const Request& a, const Request& b);
  static void CheckResult(const Result& result, const Request& request, std::string_view consumed);
  static bool ShorterNeedsMore(const Result& /*result*/) { return true; }
};

bool BinaryTarget::SameResult(const BinaryParseResult& a, const BinaryParseResult& b) {
  return a.status == b.status && a.consumed == b.consumed && a.swallow == b.swallow && a.error == b.error &&
         a.silent == b.silent && a.close == b.close;
}

bool BinaryTarget::SameRequest(const BinaryRequest& a, const BinaryRequest& b) {
  return a.opcode == b.opcode && a.datatype == b.datatype && a.opaque == b.opaque && a.cas == b.cas &&
         a.extras == b.extras && a.key == b.key && a.value == b.value && a.flags == b.flags &&
         a.exptime == b.exptime && a.delta == b.delta && a.initial == b.initial && a.too_large == b.too_large;
}

ParserLimits PickLimits(uint8_t selector) {
  ParserLimits limits;
  if (selector & 1) {
    limits.item_size_max = 64 + (selector >> 1) * 4;
  }
  return limits;
}

void BinaryTarget::CheckResult(const Result& result, const Request& request, std::string_view consumed) {
  Check(result.consumed >= kBinaryHeaderSize);
  if (result.status == BinaryParseStatus::kError) {
    Check(result.silent || result.error != twincache::BinaryStatus::kSuccess);
    Check(!result.close || result.swallow == 0);
    return;
  }
  Check(Inside(request.extras, consumed) && Inside(request.key, consumed) && Inside(request.value, consumed));
  Check(request.key.size() <= 250);
  // Only a too-large value is swallowed (it may be empty when the key alone
  // makes the item too large).
  Check(request.too_large || result.swallow == 0);
  if (request.too_large) {
    Check(request.value.empty());
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) {
    return 0;
  }
  fuzz::WalkStream<BinaryTarget>(std::string_view(reinterpret_cast<const char*>(data), size),
                                 PickLimits(data[size - 1]));
  return 0;
}
