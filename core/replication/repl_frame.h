// Replication frames: the bytes two twincached nodes exchange on the
// replication link, encoded and decoded exactly as docs/replication.md "Wire
// format (protocol version 1)" defines them.
//
// A frame is `u32 length` (bytes of type + payload), `u8 type`, payload; all
// integers big-endian, i64 two's complement. Encoding appends to a caller's
// std::string (reused across frames, so steady-state encoding allocates
// nothing). Decoding is stateless and incremental, like the request parser:
// DecodeFrame() looks at the unconsumed bytes of a link and returns one whole
// frame, "need more", or "malformed" (the link is then dropped). It never
// allocates and never copies a key or value: the Frame views the input.
//
// The encoding is canonical: every well-formed frame has exactly one byte
// form, so re-encoding a decoded frame gives the bytes it came from (the fuzzer
// checks this). The one exception is a HELLO of another protocol version (see
// DecodeFrame).
#ifndef TWINCACHE_CORE_REPLICATION_REPL_FRAME_H_
#define TWINCACHE_CORE_REPLICATION_REPL_FRAME_H_

#include <array>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "core/store/record.h"

namespace twincache {

/// The protocol version this build speaks (HELLO's protocol_version).
constexpr uint16_t kReplProtocolVersion = 1;

/// Bytes of the length prefix that starts every frame.
constexpr size_t kFrameLengthSize = 4;

/// Frame types (docs/replication.md, the frame table). A decoded Frame only
/// ever carries one of these values.
enum class FrameType : uint8_t {
  kHello = 1,
  kAuth = 2,
  kFullBegin = 3,
  kFullEnd = 4,
  kRecord = 5,
  kSnapshot = 6,
  kAck = 7,
  kPing = 8,
  kPartialBegin = 9,
  kError = 10,
};

/// The name the docs use ("HELLO", "FULL_BEGIN", ...), for logs.
std::string_view FrameTypeName(FrameType type);

/// A stream's replication id: 16 random bytes, new at every process start.
using ReplId = std::array<uint8_t, 16>;

/// HELLO flags bit 1: I have a secret (AUTH follows).
constexpr uint8_t kHelloFlagHasSecret = 2;

/// HELLO flags bit 2: I decode the item bits of a record's kind byte (stale,
/// win token sent; docs/replication.md "Wire format"). A sender clears them
/// (ClearRecordItemBits) for a peer without this bit: a node of an earlier
/// build calls such a kind byte malformed.
constexpr uint8_t kHelloFlagItemBits = 4;

/// HELLO flags bit 3: no reply of mine waits for an ACK (--repl-ack async),
/// so the peer may acknowledge my records at most once a millisecond
/// instead of after every read (docs/replication.md, "Acknowledgement modes").
/// A peer without this bit (--repl-ack sync, or an earlier build) gets an
/// ACK after every read that applied records.
constexpr uint8_t kHelloFlagLazyAck = 8;

/// HELLO: the first frame each side sends.
struct Hello {
  uint16_t protocol_version = kReplProtocolVersion;
  uint64_t node_id = 0;
  ReplId replid{};                  ///< my stream
  uint64_t offset = 0;              ///< last record my stream produced
  ReplId peer_replid{};             ///< the peer stream I apply; zeros = none
  uint64_t peer_offset = 0;         ///< last record of it I applied
  uint8_t flags = 0;                ///< kHelloFlag* bits; unknown bits are kept, not refused
  std::array<uint8_t, 32> nonce{};  ///< challenge for AUTH
};

/// AUTH: HMAC-SHA256(secret, "twincache-repl-v1" ‖ peer_nonce ‖ own node_id ‖ own nonce).
struct Auth {
  std::array<uint8_t, 32> mac{};
};

/// FULL_BEGIN: a full sync of `replid` follows; the stream resumes at start_offset + 1.
struct FullBegin {
  ReplId replid{};
  uint64_t start_offset = 0;
  uint64_t item_estimate = 0;
};

/// FULL_END: the snapshot is complete.
struct FullEnd {
  uint64_t items_sent = 0;
};

/// ACK: the receiver applied the sender's stream up to applied_offset.
struct Ack {
  uint64_t applied_offset = 0;
};

/// PING: keepalive and lag measurement.
struct Ping {
  int64_t sender_time_ms = 0;  ///< unix milliseconds
  uint64_t sender_offset = 0;  ///< last record the sender's stream produced
};

/// PARTIAL_BEGIN: the stream of `replid` resumes at from_offset (the first RECORD that follows).
struct PartialBegin {
  ReplId replid{};
  uint64_t from_offset = 0;
};

/// One decoded frame. Only the members for `type` are set by DecodeFrame:
///   kHello: hello; kAuth: auth; kFullBegin: full_begin; kFullEnd: full_end;
///   kRecord: record_offset and record; kSnapshot: record; kAck: ack;
///   kPing: ping; kPartialBegin: partial_begin; kError: error_reason.
/// `record` fields its kind does not carry are reset to their defaults.
/// record.key, record.value and error_reason view the decoded input.
struct Frame {
  FrameType type = FrameType::kHello;
  Hello hello;
  Auth auth;
  FullBegin full_begin;
  FullEnd full_end;
  Ack ack;
  Ping ping;
  PartialBegin partial_begin;
  std::string_view error_reason;
  uint64_t record_offset = 0;
  Record record;
};

// Encoders. Each appends one whole frame to *out. Preconditions (the store
// guarantees them; violating one yields a frame the peer calls malformed):
// a record's key is 1..kKeyMaxLength (item.h, 250) bytes for SET, DELETE and TOUCH; the
// frame fits the peer's max_frame (true for any item the store accepts under
// the same -I: see MaxFrameFor). Thread safety: pure functions of their
// arguments.
void AppendHello(const Hello& hello, std::string* out);
void AppendAuth(const Auth& auth, std::string* out);
void AppendFullBegin(const FullBegin& full_begin, std::string* out);
void AppendFullEnd(const FullEnd& full_end, std::string* out);
/// A RECORD frame: `offset` in the sender's stream, then `record`.
void AppendRecord(uint64_t offset, const Record& record, std::string* out);
/// A SNAPSHOT frame; `record.kind` must be kSet or kDelete.
void AppendSnapshot(const Record& record, std::string* out);
void AppendAck(const Ack& ack, std::string* out);
void AppendPing(const Ping& ping, std::string* out);
void AppendPartialBegin(const PartialBegin& partial_begin, std::string* out);
/// An ERROR frame; `reason` is cut to 65535 bytes (its u16 length).
void AppendError(std::string_view reason, std::string* out);

/// Overwrites the offset of the encoded RECORD frame that starts at `frame`
/// (as AppendRecord wrote it), so a frame can be encoded before its offset is
/// known (the backlog does). `frame` must hold at least 13 bytes.
void SetRecordFrameOffset(uint64_t offset, char* frame);

/// Clears the item bits (Record::stale, Record::win_token_sent) in the kind
/// byte of every RECORD and SNAPSHOT frame among `frames[0..size)`, which must
/// be whole frames as the encoders wrote them; other frames are left alone.
/// For a peer whose HELLO lacks kHelloFlagItemBits.
void ClearRecordItemBits(char* frames, size_t size);

/// Largest frame length (type + payload) a node with item size limit
/// `item_size_max` (-I, bytes) sends or accepts: item_size_max + 4096, room
/// for the largest item's value plus its key and record header.
constexpr size_t MaxFrameFor(size_t item_size_max) { return item_size_max + 4096; }

enum class DecodeStatus {
  kNeedMore,   ///< no whole frame yet; call again with more bytes
  kFrame,      ///< *frame is set; `consumed` bytes belong to it
  kMalformed,  ///< drop the link; reason() says why
};

/// What DecodeFrame found. The malformed reason is kept inline (no allocation).
struct DecodeResult {
  DecodeStatus status = DecodeStatus::kNeedMore;
  size_t consumed = 0;  ///< kFrame: kFrameLengthSize + length; otherwise 0

  /// kMalformed: a short reason for the log, e.g. "unknown frame type 42",
  /// "frame too large 2000000", "truncated RECORD", "trailing bytes
  /// after ACK", "bad key length 0", "bad record kind 9", "bad SNAPSHOT record
  /// kind 3", "value length exceeds frame 900". Empty otherwise.
  std::string_view reason() const { return std::string_view(reason_text.data(), reason_size); }

  /// Storage of reason(). Deliberately not zeroed: only its first reason_size
  /// bytes are ever written or read, and clearing it per frame would cost the
  /// hot path more than the whole decode of a small RECORD.
  std::array<char, 64> reason_text;
  size_t reason_size = 0;
};

/// Decodes the first frame of `input` (the unconsumed bytes of a link).
///
/// kNeedMore as long as fewer than 4 + length bytes are there — nothing but the
/// length is judged before the whole frame is in, so a frame split at any byte
/// boundary decodes the same once complete. The length is judged at once: 0, or
/// more than `max_frame` (see MaxFrameFor), is kMalformed without waiting for
/// (or buffering) the frame. A whole frame is kMalformed when its type is
/// unknown, its payload is shorter or longer than the type needs, a key length
/// is 0 or over kKeyMaxLength, a value or ERROR reason runs past the frame, a
/// record kind is unknown or a DELETE or FLUSH has item bits in its kind
/// byte, or a SNAPSHOT's kind is not SET or DELETE.
///
/// A HELLO whose protocol_version is not kReplProtocolVersion is NOT malformed:
/// only hello.protocol_version is decoded (the rest of its payload, of any
/// length, is skipped and the other hello fields are zero), and the link layer
/// decides what to do with a peer of another version. Unknown HELLO flag bits
/// are kept for the link layer too.
///
/// Never reads past `input`; allocates nothing. Thread safety: pure function
/// of its arguments (writes only *frame).
DecodeResult DecodeFrame(std::string_view input, size_t max_frame, Frame* frame);

}  // namespace twincache

#endif  // TWINCACHE_CORE_REPLICATION_REPL_FRAME_H_
