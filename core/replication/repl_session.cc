#include "core/replication/repl_session.h"

#include <algorithm>
#include <chrono>
#include <cstring>

#include "core/base/log.h"
#include "core/config/settings.h"
#include "core/replication/repl_auth.h"
#include "core/replication/repl_tls.h"

namespace twincache {
namespace {

constexpr size_t kReadChunk = size_t{64} * 1024;
constexpr size_t kFullSyncReadChunk = size_t{1} << 20;  // the read buffer once a full sync arrives
constexpr size_t kOutHighWater = size_t{512} * 1024;    // stop producing with this much unsent
constexpr size_t kScanChunkItems = 256;                 // items per Scan call (one shard lock at a time)
// A partition must end the link soon enough that the redial, not TCP's
// retransmission backoff (which can wait seconds), brings it back after the
// heal: no byte from the peer for kSilenceLimitMs ends it. PINGs every
// kHeartbeatInterval keep an idle link well inside that.
constexpr auto kHeartbeatInterval = std::chrono::milliseconds(200);
constexpr int64_t kSilenceLimitMs = 1000;
// Acknowledging a peer that waits for no ACK (kHelloFlagLazyAck): at most one
// ACK per interval. An ACK per read costs the sender a wake-up of its
// replication thread per batch it sent, as much as sending the batch; the
// sender's repl_acked_offset and repl_lag_records then trail by at most this.
constexpr auto kLazyAckInterval = std::chrono::milliseconds(1);

// The start of a TLS record of type handshake (RFC 8446, section 5.1:
// content type 22, legacy version 0x03xx): what a peer with a secret sends
// first. A HELLO frame never starts so (its length would be hundreds of MB).
bool LooksLikeTls(std::string_view input) {
  return input.size() >= 2 && static_cast<uint8_t>(input[0]) == 0x16 &&
         static_cast<uint8_t>(input[1]) == 0x03;
}

Record RecordOf(const ItemView& item) {
  Record record;
  record.kind = item.tombstone ? RecordKind::kDelete : RecordKind::kSet;
  record.hlc = item.cas;
  record.origin = item.origin;
  record.key = item.key;
  if (!item.tombstone) {
    record.value = item.value;
    record.flags = item.flags;
    record.exptime = item.exptime;
    record.exptime_version = item.exptime_version;
    record.stale = item.stale;
    record.win_token_sent = item.win_token_sent;
  }
  return record;
}

}  // namespace

ReplSession::ReplSession(LinkOwner* owner, asio::ip::tcp::socket socket, bool dialed, std::string peer_name)
    : owner_(owner),
      socket_(std::move(socket)),
      dialed_(dialed),
      peer_name_(std::move(peer_name)),
      in_(kReadChunk),
      throttle_timer_(socket_.get_executor()),
      heartbeat_timer_(socket_.get_executor()),
      ack_timer_(socket_.get_executor()) {
  RandomBytes(nonce_.data(), nonce_.size());
  if (!owner_->options().secret.empty() && owner_->link_tls() != nullptr) {
    tls_ =
        std::make_unique<asio::ssl::stream<asio::ip::tcp::socket&>>(socket_, owner_->link_tls()->context());
  }
}

void ReplSession::Start() {
  asio::error_code ignored;
  socket_.set_option(asio::ip::tcp::no_delay(true), ignored);
  applied_ = owner_->applied_offset();
  acked_sent_ = applied_;
  last_heard_ms_ = owner_->clock()->NowMillis();
  if (owner_->options().secret.empty()) {
    ScheduleHeartbeat();
    SendHello();
    return;
  }
  if (tls_ == nullptr) {  // the context could not be set up (logged at start): never in clear
    RefuseUnauthenticated("no TLS context for the link", "TLS unavailable");
    return;
  }
  // The handshake must end within the silence limit, as any exchange.
  phase_ = Phase::kTls;
  ScheduleHeartbeat();
  tls_->async_handshake(
      dialed_ ? asio::ssl::stream_base::client : asio::ssl::stream_base::server,
      [self = shared_from_this()](const asio::error_code& ec) { self->OnTlsHandshake(ec); });
}

void ReplSession::OnTlsHandshake(const asio::error_code& ec) {
  if (phase_ == Phase::kClosed) {
    return;
  }
  if (ec) {
    const std::string reason = "TLS handshake: " + LinkTlsErrorText(ec);
    RefuseUnauthenticated(reason, reason);
    return;
  }
  last_heard_ms_ = owner_->clock()->NowMillis();
  phase_ = Phase::kHello;
  SendHello();
}

void ReplSession::RefuseUnauthenticated(const std::string& reason, const std::string& close_reason) {
  Log(LogLevel::kWarning, "repl_auth_failed", {{"addr", peer_name_}, {"reason", reason}});
  Close(close_reason);
}

void ReplSession::SendHello() {
  Hello hello;
  hello.node_id = owner_->options().node_id;
  hello.replid = owner_->replid();
  hello.offset = owner_->backlog().last_offset();
  hello.peer_replid = owner_->peer_replid();
  hello.peer_offset = applied_;
  hello.flags = kHelloFlagItemBits | (owner_->options().secret.empty() ? 0 : kHelloFlagHasSecret) |
                (owner_->options().ack_sync ? 0 : kHelloFlagLazyAck);
  hello.nonce = nonce_;
  AppendHello(hello, &out_);
  Flush();
  Read();
}

void ReplSession::Close(const std::string& reason) {
  if (phase_ == Phase::kClosed) {
    return;
  }
  phase_ = Phase::kClosed;
  throttle_timer_.cancel();
  heartbeat_timer_.cancel();
  ack_timer_.cancel();
  asio::error_code ignored;
  socket_.shutdown(asio::ip::tcp::socket::shutdown_both, ignored);
  socket_.close(ignored);
  owner_->OnSessionClosed(this, reason);
}

// ---------------------------------------------------------------------------
// Incoming

void ReplSession::Read() {
  if (phase_ == Phase::kClosed || reading_) {
    return;
  }
  if (in_start_ == in_end_) {
    in_start_ = in_end_ = 0;
  }
  if (in_end_ == in_.size()) {
    if (in_start_ > 0) {
      std::memmove(in_.data(), in_.data() + in_start_, in_end_ - in_start_);
      in_end_ -= in_start_;
      in_start_ = 0;
    } else {
      // One frame larger than the buffer: grow to hold it (DecodeFrame has
      // already refused lengths over the frame limit).
      in_.resize(std::min(in_.size() * 2, MaxFrame() + kFrameLengthSize));
    }
  }
  reading_ = true;
  auto buffer = asio::buffer(in_.data() + in_end_, in_.size() - in_end_);
  auto handler = [self = shared_from_this()](const asio::error_code& ec, size_t n) { self->OnRead(ec, n); };
  if (tls_ != nullptr) {
    tls_->async_read_some(buffer, std::move(handler));
  } else {
    socket_.async_read_some(buffer, std::move(handler));
  }
}

// Until both ends are authenticated only frames this node could send itself
// are read (HELLO and AUTH are far smaller). After, any record a twin can
// hold: the twin's -I may be larger than ours (up to settings' 1 GB limit),
// and a frame refused here would drop the link and be resent forever. The
// store then refuses what does not fit under our -I, counted and logged
// (docs/replication.md, "Writes a twin cannot store"). The buffer grows only
// as far as the frame at hand needs.
size_t ReplSession::MaxFrame() const {
  return MaxFrameFor(phase_ == Phase::kReady ? kItemSizeLimit : owner_->options().item_size_max);
}

void ReplSession::OnRead(const asio::error_code& ec, size_t n) {
  reading_ = false;
  if (phase_ == Phase::kClosed) {
    return;
  }
  if (ec) {
    if (ec == asio::error::eof || ec == asio::ssl::error::stream_truncated) {
      Close("peer closed the link");
    } else if (ec.category() == asio::error::get_ssl_category()) {
      // A record that fails its authentication tag (altered on the way) and
      // the like: nothing of it was decrypted, let alone applied.
      Close("TLS: " + LinkTlsErrorText(ec));
    } else {
      Close("read error: " + ec.message());
    }
    return;
  }
  in_end_ += n;
  last_heard_ms_ = owner_->clock()->NowMillis();
  while (phase_ != Phase::kClosed) {
    std::string_view input(in_.data() + in_start_, in_end_ - in_start_);
    if (phase_ == Phase::kHello && tls_ == nullptr && LooksLikeTls(input)) {
      RefuseUnauthenticated("peer speaks TLS: it has a replication secret, this node has none",
                            "secret configured on one side only");
      return;
    }
    DecodeResult result = DecodeFrame(input, MaxFrame(), &frame_);
    if (result.status == DecodeStatus::kNeedMore) {
      break;
    }
    if (result.status == DecodeStatus::kMalformed) {
      ApplySnapshots();  // the whole frames before it
      Close("malformed frame: " + std::string(result.reason()));
      return;
    }
    bool ok = HandleFrame(frame_);
    in_start_ += result.consumed;
    if (!ok) {
      return;
    }
  }
  ApplySnapshots();  // before Read() moves the bytes they view
  if (phase_ == Phase::kClosed) {
    return;
  }
  SendAckIfAdvanced();
  Read();
}

bool ReplSession::HandleFrame(const Frame& frame) {
  if (frame.type != FrameType::kSnapshot) {
    ApplySnapshots();  // what came before it first
  }
  if (phase_ == Phase::kHello) {
    if (frame.type != FrameType::kHello) {
      Close("expected HELLO, got " + std::string(FrameTypeName(frame.type)));
      return false;
    }
    return OnHello(frame.hello);
  }
  if (phase_ == Phase::kAuth) {
    if (frame.type != FrameType::kAuth) {
      Close("expected AUTH, got " + std::string(FrameTypeName(frame.type)));
      return false;
    }
    return OnAuth(frame.auth);
  }
  switch (frame.type) {
    case FrameType::kFullBegin:
      receiving_full_ = true;
      stream_known_ = false;
      full_replid_ = frame.full_begin.replid;
      full_start_offset_ = frame.full_begin.start_offset;
      full_items_ = 0;
      full_started_ms_ = owner_->clock()->NowMillis();
      // Bulk receive: size the hash tables for what is coming, and read in
      // larger chunks (fewer reads and wake-ups per item).
      owner_->store()->Reserve(frame.full_begin.item_estimate);
      if (in_.size() < kFullSyncReadChunk) {
        in_.resize(kFullSyncReadChunk);
      }
      owner_->OnLinkStateChanged();
      Log(LogLevel::kInfo, "repl_full_sync_receiving",
          {{"peer", peer_name_},
           {"offset", std::to_string(full_start_offset_)},
           {"items", std::to_string(frame.full_begin.item_estimate)}});
      return true;
    case FrameType::kSnapshot:
      if (!receiving_full_) {
        Close("SNAPSHOT outside a full sync");
        return false;
      }
      // Applied in bulk once this read's frames are decoded (ApplySnapshots):
      // equal or older versions are kept.
      snapshots_.push_back(frame.record);
      ++full_items_;
      return true;
    case FrameType::kFullEnd:
      return OnFullEnd(frame.full_end.items_sent);
    case FrameType::kPartialBegin:
      if (frame.partial_begin.replid != owner_->peer_replid()) {
        Close("PARTIAL_BEGIN for a stream this node does not hold");
        return false;
      }
      if (frame.partial_begin.from_offset > applied_ + 1) {
        Close("PARTIAL_BEGIN leaves a gap after offset " + std::to_string(applied_));
        return false;
      }
      stream_known_ = true;
      // The initial sync is done once the records the peer had produced by
      // its HELLO are applied (a warm restart catching up), at once if none.
      catch_up_to_ = peer_hello_.offset;
      Log(LogLevel::kInfo, "repl_partial_sync_receiving",
          {{"peer", peer_name_},
           {"from", std::to_string(frame.partial_begin.from_offset)},
           {"to", std::to_string(catch_up_to_)}});
      if (applied_ >= catch_up_to_) {
        owner_->OnInitialSyncDone("partial sync");
      }
      return true;
    case FrameType::kRecord:
      return OnRecordFrame(frame.record_offset, frame.record);
    case FrameType::kAck:
      owner_->OnPeerAcked(frame.ack.applied_offset);
      return true;
    case FrameType::kPing:  // its arrival already refreshed last_heard_ms_
      owner_->OnPeerPing(frame.ping.sender_offset, frame.ping.sender_time_ms);
      return true;
    case FrameType::kError:
      Close("peer error: " + std::string(frame.error_reason));
      return false;
    case FrameType::kHello:
    case FrameType::kAuth:
      Close("unexpected " + std::string(FrameTypeName(frame.type)) + " after the handshake");
      return false;
  }
  return true;
}

bool ReplSession::OnHello(const Hello& hello) {
  if (hello.protocol_version != kReplProtocolVersion) {
    AppendError("unsupported protocol version", &out_);
    Flush();
    Close("peer speaks protocol version " + std::to_string(hello.protocol_version));
    return false;
  }
  if (hello.node_id == owner_->options().node_id) {
    Close("connected to itself (check -x)");
    return false;
  }
  peer_hello_ = hello;
  const bool we_have_secret = !owner_->options().secret.empty();
  const bool peer_has_secret = (hello.flags & kHelloFlagHasSecret) != 0;
  if (we_have_secret != peer_has_secret) {
    RefuseUnauthenticated(we_have_secret ? "peer has no secret" : "peer requires a secret",
                          "secret configured on one side only");
    return false;
  }
  if (!we_have_secret) {
    return BecomeReady();
  }
  Auth auth;
  if (!AuthMac(owner_->options().secret, hello.nonce, owner_->options().node_id, nonce_, &auth.mac)) {
    RefuseUnauthenticated("cannot compute the AUTH MAC (libcrypto failed)", "authentication failed");
    return false;
  }
  AppendAuth(auth, &out_);
  Flush();
  phase_ = Phase::kAuth;
  return true;
}

bool ReplSession::OnAuth(const Auth& auth) {
  std::array<uint8_t, 32> expected{};
  if (!AuthMac(owner_->options().secret, nonce_, peer_hello_.node_id, peer_hello_.nonce, &expected)) {
    RefuseUnauthenticated("cannot compute the AUTH MAC (libcrypto failed)", "authentication failed");
    return false;
  }
  if (!MacEqual(expected, auth.mac)) {
    RefuseUnauthenticated("wrong secret", "authentication failed");
    return false;
  }
  return BecomeReady();
}

bool ReplSession::BecomeReady() {
  phase_ = Phase::kReady;
  if (!owner_->OnSessionReady(shared_from_this())) {
    Close("duplicate link");
    return false;
  }
  return true;
}

bool ReplSession::OnRecordFrame(uint64_t offset, const Record& record) {
  if (!stream_known_) {
    Close("RECORD before a full or partial sync began");
    return false;
  }
  if (offset <= applied_) {
    return true;  // already applied on an earlier link
  }
  if (offset != applied_ + 1) {
    Close("offset gap: expected " + std::to_string(applied_ + 1) + ", got " + std::to_string(offset));
    return false;
  }
  ApplyPeerRecord(record, /*counted_as_conflict=*/true);
  applied_ = offset;
  if (applied_ == catch_up_to_) {
    owner_->OnApplied(applied_);
    owner_->OnInitialSyncDone("partial sync");
  }
  return true;
}

void ReplSession::ApplyPeerRecord(const Record& record, bool counted_as_conflict) {
  owner_->OnApplyResult(record, owner_->store()->Apply(record), counted_as_conflict, peer_name_);
}

void ReplSession::ApplySnapshots() {
  if (snapshots_.empty()) {
    return;
  }
  owner_->store()->ApplyBatch(snapshots_, &snapshot_statuses_);
  for (size_t i = 0; i < snapshots_.size(); ++i) {
    owner_->OnApplyResult(snapshots_[i], snapshot_statuses_[i], /*counted_as_conflict=*/false, peer_name_);
  }
  snapshots_.clear();
}

bool ReplSession::OnFullEnd(uint64_t items_sent) {
  if (!receiving_full_) {
    Close("FULL_END outside a full sync");
    return false;
  }
  if (items_sent != full_items_) {
    Close("FULL_END counts " + std::to_string(items_sent) + " items, " + std::to_string(full_items_) +
          " arrived");
    return false;
  }
  receiving_full_ = false;
  stream_known_ = true;
  applied_ = full_start_offset_;
  acked_sent_ = 0;  // the peer's stream restarts here: acknowledge it anew
  catch_up_to_ = 0;
  owner_->OnApplied(applied_);  // with the new stream id below, never the old stream's offset
  int64_t ms = owner_->clock()->NowMillis() - full_started_ms_;
  Log(LogLevel::kInfo, "repl_full_sync_received",
      {{"peer", peer_name_},
       {"items", std::to_string(full_items_)},
       {"ms", std::to_string(ms)},
       {"offset", std::to_string(applied_)}});
  owner_->OnFullSyncReceived(full_replid_, ms);
  return true;
}

void ReplSession::SendAckIfAdvanced() {
  owner_->OnApplied(applied_);
  if (!stream_known_ || applied_ == acked_sent_ || ack_timer_armed_) {
    return;
  }
  if ((peer_hello_.flags & kHelloFlagLazyAck) == 0) {
    SendAck();
    return;
  }
  const auto now = std::chrono::steady_clock::now();
  if (now - ack_sent_at_ >= kLazyAckInterval) {
    SendAck();
    return;
  }
  // An ACK went out less than an interval ago: this one waits for the
  // interval's end and then covers every record applied by then.
  ack_timer_armed_ = true;
  ack_timer_.expires_at(ack_sent_at_ + kLazyAckInterval);
  ack_timer_.async_wait([self = shared_from_this()](const asio::error_code& ec) {
    self->ack_timer_armed_ = false;
    if (ec || self->phase_ == Phase::kClosed || !self->stream_known_ || self->applied_ == self->acked_sent_) {
      return;
    }
    self->SendAck();
  });
}

void ReplSession::SendAck() {
  AppendAck(Ack{applied_}, &out_);
  acked_sent_ = applied_;
  ack_sent_at_ = std::chrono::steady_clock::now();
  Flush();
}

// ---------------------------------------------------------------------------
// Outgoing

void ReplSession::BeginOutgoing() {
  const Backlog& backlog = owner_->backlog();
  const uint64_t last = backlog.last_offset();
  const uint64_t have = peer_hello_.peer_offset;
  const bool same_stream = peer_hello_.peer_replid == owner_->replid();
  if (same_stream && have <= last && (have == last || backlog.Contains(have + 1))) {
    out_mode_ = OutMode::kStream;
    next_offset_ = have + 1;
    owner_->OnPeerAcked(have);  // the peer's HELLO says it holds our stream up to here
    AppendPartialBegin(PartialBegin{owner_->replid(), next_offset_}, &out_);
    owner_->OnSyncSent(/*full=*/false);
    Log(LogLevel::kInfo, "repl_partial_sync_sent",
        {{"peer", peer_name_}, {"from", std::to_string(next_offset_)}, {"to", std::to_string(last)}});
  } else {
    out_mode_ = OutMode::kFull;
    cursor_ = ScanCursor();
    sync_start_offset_ = last;
    next_offset_ = last + 1;
    sync_items_ = 0;
    sync_bytes_ = 0;
    sync_started_ms_ = owner_->clock()->NowMillis();
    AppendFullBegin(FullBegin{owner_->replid(), last, owner_->store()->GetStats().curr_items}, &out_);
    owner_->OnSyncSent(/*full=*/true);
    Log(LogLevel::kInfo, "repl_full_sync_started",
        {{"peer", peer_name_},
         {"reason",
          same_stream ? "backlog no longer holds offset " + std::to_string(have + 1) : "new peer stream"},
         {"offset", std::to_string(last)}});
  }
  owner_->OnLinkStateChanged();
  Pump();
}

void ReplSession::Pump() {
  if (phase_ != Phase::kReady) {
    return;
  }
  if (out_mode_ == OutMode::kFull) {
    FullSyncStep();
  }
  if (out_mode_ == OutMode::kStream) {
    StreamStep();
  }
  Flush();
}

// Produces snapshot frames while the socket keeps up, within --repl-sync-rate.
void ReplSession::FullSyncStep() {
  Store* store = owner_->store();
  const size_t rate = owner_->options().sync_rate_bytes_per_s;
  while (out_.size() < kOutHighWater && !cursor_.done()) {
    if (rate > 0) {
      int64_t elapsed_ms = owner_->clock()->NowMillis() - sync_started_ms_;
      uint64_t allowed = rate * static_cast<uint64_t>(std::max<int64_t>(elapsed_ms, 0)) / 1000;
      if (sync_bytes_ > allowed) {
        auto wait_ms = static_cast<int64_t>((sync_bytes_ - allowed) * 1000 / rate) + 1;
        throttle_timer_.expires_after(std::chrono::milliseconds(wait_ms));
        throttle_timer_.async_wait([self = shared_from_this()](const asio::error_code& ec) {
          if (!ec) {
            self->Pump();
          }
        });
        return;
      }
    }
    size_t before = out_.size();
    store->Scan(
        &cursor_, kScanChunkItems,
        [this](const ItemView& item) {
          AppendSnapshot(RecordOf(item), &out_);
          ++sync_items_;
        },
        /*include_tombstones=*/true);
    StripItemBitsFrom(before);
    sync_bytes_ += out_.size() - before;
  }
  if (!cursor_.done()) {
    return;
  }
  const Backlog& backlog = owner_->backlog();
  if (next_offset_ <= backlog.last_offset() && !backlog.Contains(next_offset_)) {
    // Writes during the copy outran the backlog: the stream cannot resume
    // where the snapshot began, so copy again from a new start.
    Log(LogLevel::kWarning, "repl_full_sync_restart",
        {{"peer", peer_name_}, {"reason", "backlog overflowed during the copy"}});
    BeginOutgoing();
    return;
  }
  AppendFullEnd(FullEnd{sync_items_}, &out_);
  out_mode_ = OutMode::kStream;
  int64_t ms = owner_->clock()->NowMillis() - sync_started_ms_;
  Log(LogLevel::kInfo, "repl_full_sync_sent",
      {{"peer", peer_name_},
       {"items", std::to_string(sync_items_)},
       {"bytes", std::to_string(sync_bytes_)},
       {"ms", std::to_string(ms)},
       {"offset", std::to_string(sync_start_offset_)}});
  owner_->OnLinkStateChanged();
}

void ReplSession::StreamStep() {
  const Backlog& backlog = owner_->backlog();
  while (out_.size() < kOutHighWater && next_offset_ <= backlog.last_offset()) {
    uint64_t last_copied = 0;
    const size_t before = out_.size();
    if (backlog.CopyFrom(next_offset_, kOutHighWater - out_.size(), &out_, &last_copied) == 0) {
      Close("backlog overflow: the peer fell behind offset " + std::to_string(next_offset_));
      return;
    }
    StripItemBitsFrom(before);
    next_offset_ = last_copied + 1;
  }
}

// A peer of an earlier build refuses the item bits of a kind byte
// (docs/replication.md, "Wire format"): it gets the items without them.
void ReplSession::StripItemBitsFrom(size_t from) {
  if ((peer_hello_.flags & kHelloFlagItemBits) != 0 || out_.size() <= from) {
    return;
  }
  ClearRecordItemBits(out_.data() + from, out_.size() - from);
}

void ReplSession::Flush() {
  if (writing_ || out_.empty() || phase_ == Phase::kClosed) {
    return;
  }
  if (phase_ == Phase::kTls) {
    return;  // HELLO goes out once the handshake is done
  }
  std::swap(out_, sending_);
  writing_ = true;
  auto handler = [self = shared_from_this()](const asio::error_code& ec, size_t n) {
    self->OnWritten(ec, n);
  };
  if (tls_ != nullptr) {
    asio::async_write(*tls_, asio::buffer(sending_), std::move(handler));
  } else {
    asio::async_write(socket_, asio::buffer(sending_), std::move(handler));
  }
}

void ReplSession::OnWritten(const asio::error_code& ec, size_t /*n*/) {
  writing_ = false;
  if (phase_ == Phase::kClosed) {
    return;
  }
  if (ec) {
    Close("write error: " + ec.message());
    return;
  }
  sending_.clear();
  Pump();
}

void ReplSession::ScheduleHeartbeat() {
  heartbeat_timer_.expires_after(kHeartbeatInterval);
  heartbeat_timer_.async_wait([self = shared_from_this()](const asio::error_code& ec) {
    if (ec || self->phase_ == Phase::kClosed) {
      return;
    }
    int64_t now = self->owner_->clock()->NowMillis();
    if (now - self->last_heard_ms_ > kSilenceLimitMs) {
      self->Close("peer silent for " + std::to_string(kSilenceLimitMs) + " ms");
      return;
    }
    if (self->phase_ == Phase::kReady) {
      AppendPing(Ping{now, self->owner_->backlog().last_offset()}, &self->out_);
      self->Flush();
    }
    self->ScheduleHeartbeat();
  });
}

}  // namespace twincache
