// Replication frame codec (docs/replication.md, "Wire format").
//
// Encoders build the fixed-size fields of a frame in a small stack buffer and
// append it, the key and the value to the output, so a frame costs a few
// memcpys (the output string grows geometrically and callers reuse it).
// The decoder judges the length first, then walks the payload with a
// bounds-checked reader of memcpy-based big-endian loads; its inner steps
// return a one-byte Fault, and only a malformed frame pays for formatting a
// reason.
#include "core/replication/repl_frame.h"

#include <bit>
#include <charconv>
#include <cstring>

#include "core/store/item.h"

namespace twincache {
namespace {

// Big-endian stores and loads through memcpy (no alignment or aliasing
// assumptions; compilers turn them into a bswap and a move).
uint16_t ToBig16(uint16_t v) {
  if constexpr (std::endian::native == std::endian::little) {
    return __builtin_bswap16(v);
  }
  return v;
}
uint32_t ToBig32(uint32_t v) {
  if constexpr (std::endian::native == std::endian::little) {
    return __builtin_bswap32(v);
  }
  return v;
}
uint64_t ToBig64(uint64_t v) {
  if constexpr (std::endian::native == std::endian::little) {
    return __builtin_bswap64(v);
  }
  return v;
}

char* Put8(char* p, uint8_t v) {
  *p = static_cast<char>(v);
  return p + 1;
}
char* Put16(char* p, uint16_t v) {
  v = ToBig16(v);
  std::memcpy(p, &v, sizeof(v));
  return p + sizeof(v);
}
char* Put32(char* p, uint32_t v) {
  v = ToBig32(v);
  std::memcpy(p, &v, sizeof(v));
  return p + sizeof(v);
}
char* Put64(char* p, uint64_t v) {
  v = ToBig64(v);
  std::memcpy(p, &v, sizeof(v));
  return p + sizeof(v);
}
char* PutBytes(char* p, const void* bytes, size_t n) {
  std::memcpy(p, bytes, n);
  return p + n;
}

uint32_t Load32(const char* p) {
  uint32_t v;
  std::memcpy(&v, p, sizeof(v));
  return ToBig32(v);
}

// A record's kind byte: the kind in the low bits, the item bits of SET and
// TOUCH above it (docs/replication.md, "Wire format").
constexpr uint8_t kKindMask = 0x3f;
constexpr uint8_t kKindStale = 0x80;
constexpr uint8_t kKindWinTokenSent = 0x40;

uint8_t KindByte(const Record& record) {
  auto byte = static_cast<uint8_t>(record.kind);
  if (record.kind == RecordKind::kSet || record.kind == RecordKind::kTouch) {
    if (record.stale) {
      byte |= kKindStale;
    }
    if (record.win_token_sent) {
      byte |= kKindWinTokenSent;
    }
  }
  return byte;
}

// Payload sizes of the fixed-size frame types.
constexpr size_t kHelloSize = 2 + 8 + 16 + 8 + 16 + 8 + 1 + 32;
constexpr size_t kAuthSize = 32;
constexpr size_t kFullBeginSize = 16 + 8 + 8;
constexpr size_t kFullEndSize = 8;
constexpr size_t kAckSize = 8;
constexpr size_t kPingSize = 8 + 8;
constexpr size_t kPartialBeginSize = 16 + 8;
// A record's kind, hlc and origin.
constexpr size_t kRecordHeadSize = 1 + 8 + 8;
// SET/TOUCH fields between the key and the value: flags, exptime, exptime_version, value_len.
constexpr size_t kItemTailSize = 4 + 8 + 8 + 4;
// Largest fixed part of any frame: length, type, the HELLO payload.
constexpr size_t kMaxFixedSize = kFrameLengthSize + 1 + kHelloSize;
// Largest part of a RECORD frame before its key: length, type, offset, head,
// then key_len (SET, DELETE, TOUCH) or at_ms (FLUSH).
constexpr size_t kMaxRecordHeadSize = kFrameLengthSize + 1 + 8 + kRecordHeadSize + 8;

// Starts a frame whose type + payload is `length` bytes.
char* PutFrameHead(char* p, size_t length, FrameType type) {
  p = Put32(p, static_cast<uint32_t>(length));
  return Put8(p, static_cast<uint8_t>(type));
}

// Appends a fixed-size frame built in `buf` up to `end`.
void AppendFixed(const char* buf, const char* end, std::string* out) {
  out->append(buf, static_cast<size_t>(end - buf));
}

// Bytes of a record's encoding.
size_t RecordSize(const Record& record) {
  switch (record.kind) {
    case RecordKind::kSet:
    case RecordKind::kTouch:
      return kRecordHeadSize + 1 + record.key.size() + kItemTailSize + record.value.size();
    case RecordKind::kDelete:
      return kRecordHeadSize + 1 + record.key.size();
    case RecordKind::kFlush:
      return kRecordHeadSize + 8;
  }
  return kRecordHeadSize;
}

// Appends a frame of `type` whose payload is `record`, after its offset for RECORD.
void AppendRecordFrame(FrameType type, uint64_t offset, const Record& record, std::string* out) {
  const bool has_offset = type == FrameType::kRecord;
  const size_t length = 1 + (has_offset ? 8 : 0) + RecordSize(record);
  char buf[kMaxRecordHeadSize];
  char* p = PutFrameHead(buf, length, type);
  if (has_offset) {
    p = Put64(p, offset);
  }
  p = Put8(p, KindByte(record));
  p = Put64(p, record.hlc);
  p = Put64(p, record.origin);
  if (record.kind == RecordKind::kFlush) {
    p = Put64(p, static_cast<uint64_t>(record.at_ms));
    AppendFixed(buf, p, out);
    return;
  }
  p = Put8(p, static_cast<uint8_t>(record.key.size()));
  AppendFixed(buf, p, out);
  out->append(record.key);
  if (record.kind == RecordKind::kDelete) {
    return;
  }
  char tail[kItemTailSize];
  p = Put32(tail, record.flags);
  p = Put64(p, static_cast<uint64_t>(record.exptime));
  p = Put64(p, record.exptime_version);
  p = Put32(p, static_cast<uint32_t>(record.value.size()));
  AppendFixed(tail, p, out);
  out->append(record.value);
}

// Bounds-checked cursor over a frame's payload. Callers check Has(n) before
// reading n bytes of fixed fields.
class Reader {
 public:
  explicit Reader(std::string_view bytes) : p_(bytes.data()), end_(bytes.data() + bytes.size()) {}

  size_t remaining() const { return static_cast<size_t>(end_ - p_); }
  bool Has(size_t n) const { return remaining() >= n; }

  uint8_t U8() { return static_cast<uint8_t>(*p_++); }
  uint16_t U16() {
    uint16_t v;
    std::memcpy(&v, p_, sizeof(v));
    p_ += sizeof(v);
    return ToBig16(v);
  }
  uint32_t U32() {
    const uint32_t v = Load32(p_);
    p_ += sizeof(v);
    return v;
  }
  uint64_t U64() {
    uint64_t v;
    std::memcpy(&v, p_, sizeof(v));
    p_ += sizeof(v);
    return ToBig64(v);
  }
  int64_t I64() { return static_cast<int64_t>(U64()); }
  template <size_t N>
  void Array(std::array<uint8_t, N>* out) {
    std::memcpy(out->data(), p_, N);
    p_ += N;
  }
  std::string_view View(size_t n) {
    std::string_view v(p_, n);
    p_ += n;
    return v;
  }

 private:
  const char* p_;
  const char* end_;
};

// Why a whole frame is malformed. The inner decoders return this (it fits a
// register) and DecodeFrame turns it into the reason text, with `detail`.
enum class Fault : uint8_t {
  kNone,
  kTruncated,          // payload shorter than the type needs
  kTrailing,           // payload longer than the type needs
  kBadRecordKind,      // detail: the kind byte
  kBadSnapshotKind,    // detail: the kind byte
  kBadKeyLength,       // detail: the key length
  kValueExceedsFrame,  // detail: the value length
};

// Builds a DecodeResult's reason in place.
class ReasonWriter {
 public:
  explicit ReasonWriter(DecodeResult* result) : result_(result) {}

  ReasonWriter& Text(std::string_view text) {
    const size_t room = result_->reason_text.size() - result_->reason_size;
    const size_t n = text.size() < room ? text.size() : room;
    std::memcpy(result_->reason_text.data() + result_->reason_size, text.data(), n);
    result_->reason_size += n;
    return *this;
  }
  ReasonWriter& Number(uint64_t number) {
    char digits[20];
    const char* end = std::to_chars(digits, digits + sizeof(digits), number).ptr;
    return Text(std::string_view(digits, static_cast<size_t>(end - digits)));
  }

 private:
  DecodeResult* result_;
};

DecodeResult Malformed(std::string_view text) {
  DecodeResult result;
  result.status = DecodeStatus::kMalformed;
  ReasonWriter(&result).Text(text);
  return result;
}

DecodeResult Malformed(std::string_view text, uint64_t number) {
  DecodeResult result;
  result.status = DecodeStatus::kMalformed;
  ReasonWriter(&result).Text(text).Text(" ").Number(number);
  return result;
}

DecodeResult Malformed(Fault fault, FrameType type, uint64_t detail) {
  switch (fault) {
    case Fault::kTruncated: {
      DecodeResult result = Malformed("truncated ");
      ReasonWriter(&result).Text(FrameTypeName(type));
      return result;
    }
    case Fault::kTrailing: {
      DecodeResult result = Malformed("trailing bytes after ");
      ReasonWriter(&result).Text(FrameTypeName(type));
      return result;
    }
    case Fault::kBadRecordKind:
      return Malformed("bad record kind", detail);
    case Fault::kBadSnapshotKind:
      return Malformed("bad SNAPSHOT record kind", detail);
    case Fault::kBadKeyLength:
      return Malformed("bad key length", detail);
    case Fault::kValueExceedsFrame:
      return Malformed("value length exceeds frame", detail);
    case Fault::kNone:
      break;
  }
  return DecodeResult{};
}

// Decodes a record from `in` into *record; the record must end the payload.
Fault DecodeRecord(FrameType type, Reader* in, Record* record, uint64_t* detail) {
  *record = Record{};
  if (!in->Has(kRecordHeadSize)) {
    return Fault::kTruncated;
  }
  const uint8_t kind_byte = in->U8();
  *detail = kind_byte;
  const uint8_t kind = kind_byte & kKindMask;
  if (kind < static_cast<uint8_t>(RecordKind::kSet) || kind > static_cast<uint8_t>(RecordKind::kFlush)) {
    return Fault::kBadRecordKind;
  }
  record->kind = static_cast<RecordKind>(kind);
  if (kind_byte != kind && record->kind != RecordKind::kSet && record->kind != RecordKind::kTouch) {
    return Fault::kBadRecordKind;  // item bits on a DELETE or FLUSH
  }
  record->stale = (kind_byte & kKindStale) != 0;
  record->win_token_sent = (kind_byte & kKindWinTokenSent) != 0;
  if (type == FrameType::kSnapshot && record->kind != RecordKind::kSet &&
      record->kind != RecordKind::kDelete) {
    return Fault::kBadSnapshotKind;
  }
  record->hlc = in->U64();
  record->origin = in->U64();
  if (record->kind == RecordKind::kFlush) {
    if (!in->Has(8)) {
      return Fault::kTruncated;
    }
    record->at_ms = in->I64();
  } else {
    if (!in->Has(1)) {
      return Fault::kTruncated;
    }
    const uint8_t key_len = in->U8();
    *detail = key_len;
    if (key_len == 0 || key_len > kKeyMaxLength) {
      return Fault::kBadKeyLength;
    }
    if (!in->Has(key_len)) {
      return Fault::kTruncated;
    }
    record->key = in->View(key_len);
    if (record->kind != RecordKind::kDelete) {
      if (!in->Has(kItemTailSize)) {
        return Fault::kTruncated;
      }
      record->flags = in->U32();
      record->exptime = in->I64();
      record->exptime_version = in->U64();
      const uint32_t value_len = in->U32();
      *detail = value_len;
      if (!in->Has(value_len)) {
        return Fault::kValueExceedsFrame;
      }
      record->value = in->View(value_len);
    }
  }
  return in->remaining() == 0 ? Fault::kNone : Fault::kTrailing;
}

// Decodes the payload of a frame of known `type`.
Fault DecodePayload(FrameType type, std::string_view payload, Frame* frame, uint64_t* detail) {
  Reader in(payload);
  // Fixed-size types: check the size once, then read unchecked.
  size_t fixed = 0;
  switch (type) {
    case FrameType::kHello:
      // The version decides the layout: check it alone first.
      if (!in.Has(2)) {
        return Fault::kTruncated;
      }
      frame->hello = Hello{};
      frame->hello.protocol_version = in.U16();
      if (frame->hello.protocol_version != kReplProtocolVersion) {
        return Fault::kNone;
      }
      fixed = kHelloSize - 2;
      break;
    case FrameType::kAuth:
      fixed = kAuthSize;
      break;
    case FrameType::kFullBegin:
      fixed = kFullBeginSize;
      break;
    case FrameType::kFullEnd:
      fixed = kFullEndSize;
      break;
    case FrameType::kAck:
      fixed = kAckSize;
      break;
    case FrameType::kPing:
      fixed = kPingSize;
      break;
    case FrameType::kPartialBegin:
      fixed = kPartialBeginSize;
      break;
    case FrameType::kRecord:
      if (!in.Has(8)) {
        return Fault::kTruncated;
      }
      frame->record_offset = in.U64();
      return DecodeRecord(type, &in, &frame->record, detail);
    case FrameType::kSnapshot:
      return DecodeRecord(type, &in, &frame->record, detail);
    case FrameType::kError: {
      if (!in.Has(2)) {
        return Fault::kTruncated;
      }
      const uint16_t reason_len = in.U16();
      if (!in.Has(reason_len)) {
        return Fault::kTruncated;
      }
      frame->error_reason = in.View(reason_len);
      fixed = 0;
      break;
    }
  }
  if (!in.Has(fixed)) {
    return Fault::kTruncated;
  }
  if (in.remaining() != fixed) {
    return Fault::kTrailing;
  }
  switch (type) {
    case FrameType::kHello: {
      Hello& h = frame->hello;
      h.node_id = in.U64();
      in.Array(&h.replid);
      h.offset = in.U64();
      in.Array(&h.peer_replid);
      h.peer_offset = in.U64();
      h.flags = in.U8();
      in.Array(&h.nonce);
      break;
    }
    case FrameType::kAuth:
      in.Array(&frame->auth.mac);
      break;
    case FrameType::kFullBegin:
      in.Array(&frame->full_begin.replid);
      frame->full_begin.start_offset = in.U64();
      frame->full_begin.item_estimate = in.U64();
      break;
    case FrameType::kFullEnd:
      frame->full_end.items_sent = in.U64();
      break;
    case FrameType::kAck:
      frame->ack.applied_offset = in.U64();
      break;
    case FrameType::kPing:
      frame->ping.sender_time_ms = in.I64();
      frame->ping.sender_offset = in.U64();
      break;
    case FrameType::kPartialBegin:
      in.Array(&frame->partial_begin.replid);
      frame->partial_begin.from_offset = in.U64();
      break;
    default:
      break;
  }
  return Fault::kNone;
}

}  // namespace

std::string_view FrameTypeName(FrameType type) {
  switch (type) {
    case FrameType::kHello:
      return "HELLO";
    case FrameType::kAuth:
      return "AUTH";
    case FrameType::kFullBegin:
      return "FULL_BEGIN";
    case FrameType::kFullEnd:
      return "FULL_END";
    case FrameType::kRecord:
      return "RECORD";
    case FrameType::kSnapshot:
      return "SNAPSHOT";
    case FrameType::kAck:
      return "ACK";
    case FrameType::kPing:
      return "PING";
    case FrameType::kPartialBegin:
      return "PARTIAL_BEGIN";
    case FrameType::kError:
      return "ERROR";
  }
  return "UNKNOWN";
}

void AppendHello(const Hello& hello, std::string* out) {
  char buf[kMaxFixedSize];
  char* p = PutFrameHead(buf, 1 + kHelloSize, FrameType::kHello);
  p = Put16(p, hello.protocol_version);
  p = Put64(p, hello.node_id);
  p = PutBytes(p, hello.replid.data(), hello.replid.size());
  p = Put64(p, hello.offset);
  p = PutBytes(p, hello.peer_replid.data(), hello.peer_replid.size());
  p = Put64(p, hello.peer_offset);
  p = Put8(p, hello.flags);
  p = PutBytes(p, hello.nonce.data(), hello.nonce.size());
  AppendFixed(buf, p, out);
}

void AppendAuth(const Auth& auth, std::string* out) {
  char buf[kMaxFixedSize];
  char* p = PutFrameHead(buf, 1 + kAuthSize, FrameType::kAuth);
  p = PutBytes(p, auth.mac.data(), auth.mac.size());
  AppendFixed(buf, p, out);
}

void AppendFullBegin(const FullBegin& full_begin, std::string* out) {
  char buf[kMaxFixedSize];
  char* p = PutFrameHead(buf, 1 + kFullBeginSize, FrameType::kFullBegin);
  p = PutBytes(p, full_begin.replid.data(), full_begin.replid.size());
  p = Put64(p, full_begin.start_offset);
  p = Put64(p, full_begin.item_estimate);
  AppendFixed(buf, p, out);
}

void AppendFullEnd(const FullEnd& full_end, std::string* out) {
  char buf[kMaxFixedSize];
  char* p = PutFrameHead(buf, 1 + kFullEndSize, FrameType::kFullEnd);
  p = Put64(p, full_end.items_sent);
  AppendFixed(buf, p, out);
}

void AppendRecord(uint64_t offset, const Record& record, std::string* out) {
  AppendRecordFrame(FrameType::kRecord, offset, record, out);
}

void AppendSnapshot(const Record& record, std::string* out) {
  AppendRecordFrame(FrameType::kSnapshot, 0, record, out);
}

void AppendAck(const Ack& ack, std::string* out) {
  char buf[kMaxFixedSize];
  char* p = PutFrameHead(buf, 1 + kAckSize, FrameType::kAck);
  p = Put64(p, ack.applied_offset);
  AppendFixed(buf, p, out);
}

void AppendPing(const Ping& ping, std::string* out) {
  char buf[kMaxFixedSize];
  char* p = PutFrameHead(buf, 1 + kPingSize, FrameType::kPing);
  p = Put64(p, static_cast<uint64_t>(ping.sender_time_ms));
  p = Put64(p, ping.sender_offset);
  AppendFixed(buf, p, out);
}

void AppendPartialBegin(const PartialBegin& partial_begin, std::string* out) {
  char buf[kMaxFixedSize];
  char* p = PutFrameHead(buf, 1 + kPartialBeginSize, FrameType::kPartialBegin);
  p = PutBytes(p, partial_begin.replid.data(), partial_begin.replid.size());
  p = Put64(p, partial_begin.from_offset);
  AppendFixed(buf, p, out);
}

void AppendError(std::string_view reason, std::string* out) {
  if (reason.size() > UINT16_MAX) {
    reason = reason.substr(0, UINT16_MAX);
  }
  char buf[kMaxFixedSize];
  char* p = PutFrameHead(buf, 1 + 2 + reason.size(), FrameType::kError);
  p = Put16(p, static_cast<uint16_t>(reason.size()));
  AppendFixed(buf, p, out);
  out->append(reason);
}

void SetRecordFrameOffset(uint64_t offset, char* frame) { Put64(frame + kFrameLengthSize + 1, offset); }

void ClearRecordItemBits(char* frames, size_t size) {
  size_t pos = 0;
  while (size - pos > kFrameLengthSize) {
    const size_t length = Load32(frames + pos);
    char* type = frames + pos + kFrameLengthSize;
    const size_t kind_at = *type == static_cast<char>(FrameType::kRecord)     ? 1 + 8
                           : *type == static_cast<char>(FrameType::kSnapshot) ? 1
                                                                              : 0;
    if (kind_at != 0 && kind_at < length) {
      type[kind_at] = static_cast<char>(type[kind_at] & kKindMask);
    }
    pos += kFrameLengthSize + length;
  }
}

DecodeResult DecodeFrame(std::string_view input, size_t max_frame, Frame* frame) {
  if (input.size() < kFrameLengthSize) {
    return DecodeResult{};
  }
  const uint32_t length = Load32(input.data());
  if (length == 0) {
    return Malformed("empty frame");
  }
  if (length > max_frame) {
    return Malformed("frame too large", length);
  }
  if (input.size() - kFrameLengthSize < length) {
    return DecodeResult{};
  }
  const uint8_t type = static_cast<uint8_t>(input[kFrameLengthSize]);
  if (type < static_cast<uint8_t>(FrameType::kHello) || type > static_cast<uint8_t>(FrameType::kError)) {
    return Malformed("unknown frame type", type);
  }
  frame->type = static_cast<FrameType>(type);
  uint64_t detail = 0;
  const Fault fault =
      DecodePayload(frame->type, input.substr(kFrameLengthSize + 1, length - 1), frame, &detail);
  if (fault != Fault::kNone) {
    return Malformed(fault, frame->type, detail);
  }
  DecodeResult result;
  result.status = DecodeStatus::kFrame;
  result.consumed = kFrameLengthSize + length;
  return result;
}

}  // namespace twincache
