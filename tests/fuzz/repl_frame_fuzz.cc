// libFuzzer target for DecodeFrame(): walks the input as a replication link
// does (drop `consumed` on kFrame, stop on kNeedMore or kMalformed) and checks
// the codec's contract on every result:
//   - kFrame consumes 4 + length bytes, at least a type byte, within the input;
//   - record.key, record.value and error_reason lie inside the consumed bytes;
//   - canonical encoding: re-encoding the decoded frame gives exactly the
//     consumed bytes (a HELLO of another protocol version decodes only its
//     version, which must match);
//   - statelessness: the consumed bytes alone decode the same, and one byte
//     fewer is kNeedMore;
//   - kNeedMore only when the length says more bytes are needed; kMalformed
//     always has a reason; neither consumes anything.
// The first input byte (also decoded) picks a small or the default max_frame,
// so "frame too large" is reachable with short inputs.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include "core/replication/repl_frame.h"

namespace {

using twincache::DecodeFrame;
using twincache::DecodeResult;
using twincache::DecodeStatus;
using twincache::Frame;
using twincache::FrameType;

void Check(bool condition) {
  if (!condition) std::abort();
}

bool Inside(std::string_view view, std::string_view bytes) {
  if (view.empty()) return true;
  return view.data() >= bytes.data() && view.data() + view.size() <= bytes.data() + bytes.size();
}

uint32_t LengthOf(std::string_view input) {
  return static_cast<uint32_t>(static_cast<uint8_t>(input[0])) << 24 |
         static_cast<uint32_t>(static_cast<uint8_t>(input[1])) << 16 |
         static_cast<uint32_t>(static_cast<uint8_t>(input[2])) << 8 | static_cast<uint8_t>(input[3]);
}

// Encodes `frame` again, as its sender would have.
void Reencode(const Frame& frame, std::string* out) {
  switch (frame.type) {
    case FrameType::kHello:
      twincache::AppendHello(frame.hello, out);
      break;
    case FrameType::kAuth:
      twincache::AppendAuth(frame.auth, out);
      break;
    case FrameType::kFullBegin:
      twincache::AppendFullBegin(frame.full_begin, out);
      break;
    case FrameType::kFullEnd:
      twincache::AppendFullEnd(frame.full_end, out);
      break;
    case FrameType::kRecord:
      twincache::AppendRecord(frame.record_offset, frame.record, out);
      break;
    case FrameType::kSnapshot:
      twincache::AppendSnapshot(frame.record, out);
      break;
    case FrameType::kAck:
      twincache::AppendAck(frame.ack, out);
      break;
    case FrameType::kPing:
      twincache::AppendPing(frame.ping, out);
      break;
    case FrameType::kPartialBegin:
      twincache::AppendPartialBegin(frame.partial_begin, out);
      break;
    case FrameType::kError:
      twincache::AppendError(frame.error_reason, out);
      break;
  }
}

bool SameResult(const DecodeResult& a, const DecodeResult& b) {
  return a.status == b.status && a.consumed == b.consumed && a.reason() == b.reason();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  const size_t max_frame = (data[0] & 1) ? 16 + data[0] : twincache::MaxFrameFor(1u << 20);
  std::string_view input(reinterpret_cast<const char*>(data), size);
  Frame frame;
  Frame again;
  std::string encoded;
  while (true) {
    const DecodeResult result = DecodeFrame(input, max_frame, &frame);
    if (result.status == DecodeStatus::kNeedMore) {
      Check(result.consumed == 0 && result.reason().empty());
      Check(input.size() < 4 || input.size() - 4 < LengthOf(input));
      break;
    }
    if (result.status == DecodeStatus::kMalformed) {
      Check(result.consumed == 0 && !result.reason().empty());
      break;
    }
    Check(result.reason().empty());
    Check(input.size() >= 5 && result.consumed >= 5 && result.consumed <= input.size());
    Check(result.consumed == 4 + static_cast<size_t>(LengthOf(input)));
    Check(result.consumed - 4 <= max_frame);
    const std::string_view consumed = input.substr(0, result.consumed);
    if (frame.type == FrameType::kRecord || frame.type == FrameType::kSnapshot) {
      Check(Inside(frame.record.key, consumed) && Inside(frame.record.value, consumed));
    }
    if (frame.type == FrameType::kError) Check(Inside(frame.error_reason, consumed));

    encoded.clear();
    Reencode(frame, &encoded);
    if (frame.type == FrameType::kHello && frame.hello.protocol_version != twincache::kReplProtocolVersion) {
      Check(encoded.substr(5, 2) == consumed.substr(5, 2));
    } else {
      Check(encoded == consumed);
    }

    Check(SameResult(result, DecodeFrame(consumed, max_frame, &again)));
    Check(DecodeFrame(consumed.substr(0, consumed.size() - 1), max_frame, &again).status ==
          DecodeStatus::kNeedMore);
    input.remove_prefix(result.consumed);
  }
  return 0;
}
