// libFuzzer target for ParseBinaryRequest(): walks the input as a connection
// does (drop `consumed`, honour `swallow`, stop on a closing error) and checks
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
#include <cstdlib>
#include <string_view>

#include "core/protocol/binary_parser.h"
#include "core/protocol/binary_protocol.h"

namespace {

using twincache::BinaryParseResult;
using twincache::BinaryParseStatus;
using twincache::BinaryRequest;
using twincache::kBinaryHeaderSize;
using twincache::ParseBinaryRequest;
using twincache::ParserLimits;

void Check(bool condition) {
  if (!condition) {
    std::abort();
  }
}

bool Inside(std::string_view view, std::string_view bytes) {
  if (view.empty()) {
    return true;
  }
  return view.data() >= bytes.data() && view.data() + view.size() <= bytes.data() + bytes.size();
}

bool SameResult(const BinaryParseResult& a, const BinaryParseResult& b) {
  return a.status == b.status && a.consumed == b.consumed && a.swallow == b.swallow && a.error == b.error &&
         a.silent == b.silent && a.close == b.close;
}

bool SameRequest(const BinaryRequest& a, const BinaryRequest& b) {
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

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) {
    return 0;
  }
  const ParserLimits limits = PickLimits(data[size - 1]);
  std::string_view input(reinterpret_cast<const char*>(data), size);
  BinaryRequest request;
  BinaryRequest again;
  size_t swallow = 0;
  while (!input.empty()) {
    if (swallow > 0) {
      const size_t skip = swallow < input.size() ? swallow : input.size();
      input.remove_prefix(skip);
      swallow -= skip;
      continue;
    }
    const BinaryParseResult result = ParseBinaryRequest(input, limits, &request);
    Check(result.consumed <= input.size());
    if (result.status == BinaryParseStatus::kNeedMore) {
      Check(result.consumed == 0 && result.swallow == 0);
      break;
    }
    Check(result.consumed >= kBinaryHeaderSize);
    const std::string_view consumed = input.substr(0, result.consumed);
    if (result.status == BinaryParseStatus::kError) {
      Check(result.silent || result.error != twincache::BinaryStatus::kSuccess);
      Check(!result.close || result.swallow == 0);
    } else {
      Check(Inside(request.extras, consumed) && Inside(request.key, consumed) &&
            Inside(request.value, consumed));
      Check(request.key.size() <= 250);
      // Only a too-large value is swallowed (it may be empty when the key
      // alone makes the item too large).
      Check(request.too_large || result.swallow == 0);
      if (request.too_large) {
        Check(request.value.empty());
      }
    }
    // The same bytes alone give the same result; one fewer needs more.
    const BinaryParseResult alone = ParseBinaryRequest(consumed, limits, &again);
    Check(SameResult(result, alone));
    if (result.status == BinaryParseStatus::kRequest) {
      Check(SameRequest(request, again));
    }
    Check(ParseBinaryRequest(consumed.substr(0, consumed.size() - 1), limits, &again).status ==
          BinaryParseStatus::kNeedMore);
    if (result.close) {
      break;
    }
    input.remove_prefix(result.consumed);
    swallow = result.swallow;
  }
  return 0;
}
