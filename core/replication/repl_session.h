// ReplSession: one replication link to the peer, from HELLO to close.
//
// With a secret the session first runs a TLS 1.3 handshake with the link's
// PSK (repl_tls.h; the dialer is the client), and every frame after travels
// inside TLS records. A session exchanges HELLO (and AUTH when a secret is set), then runs two
// independent directions over one socket (docs/replication.md):
//   outgoing: this node's stream: a partial sync out of the backlog when the
//     peer already holds our replication id and the records it misses are
//     still there, else a full sync (a cursor scan of the store, chunk by
//     chunk as the socket drains, throttled by --repl-sync-rate) followed by
//     the backlog from the scan's start offset;
//   incoming: the peer's stream: snapshot items and records are merged into
//     the store by the winner rule, and applied offsets are acknowledged.
// A failed TLS handshake or record, a malformed frame, an offset gap, a failed AUTH or a silent second ends
// the session with one log line. Everything runs on the replication thread.
#ifndef TWINCACHE_CORE_REPLICATION_REPL_SESSION_H_
#define TWINCACHE_CORE_REPLICATION_REPL_SESSION_H_

#include <asio.hpp>
#include <asio/ssl.hpp>

#include <array>
#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "core/replication/link_owner.h"
#include "core/replication/repl_frame.h"
#include "core/store/store.h"

namespace twincache {

class ReplSession : public std::enable_shared_from_this<ReplSession> {
 public:
  /// `dialed`: this node opened the connection. `peer_name`: "ADDR:PORT" for logs.
  /// `owner`: the Replicator, through the narrow interface it offers its
  /// links (link_owner.h); it outlives the session's use of it.
  ReplSession(LinkOwner* owner, asio::ip::tcp::socket socket, bool dialed, std::string peer_name);

  /// Sends HELLO and starts reading.
  void Start();

  /// Ends the session (idempotent): closes the socket and tells the owner.
  void Close(const std::string& reason);

  /// Called when the backlog has new records: sends what the socket can take.
  void Pump();

  /// Starts the outgoing direction once the owner made this the active link.
  void BeginOutgoing();

  bool dialed() const { return dialed_; }
  uint64_t peer_node_id() const { return peer_hello_.node_id; }
  const std::string& peer_name() const { return peer_name_; }
  /// True while either direction is in a full sync.
  bool syncing() const { return out_mode_ == OutMode::kFull || receiving_full_; }

 private:
  enum class Phase { kTls, kHello, kAuth, kReady, kClosed };
  enum class OutMode { kIdle, kFull, kStream };

  // Sends HELLO and starts reading (after the TLS handshake, if any).
  void SendHello();
  void OnTlsHandshake(const asio::error_code& ec);
  // Refuses a peer that cannot authenticate: one repl_auth_failed line
  // (addr, reason), then Close(close_reason).
  void RefuseUnauthenticated(const std::string& reason, const std::string& close_reason);
  void Read();
  void OnRead(const asio::error_code& ec, size_t n);
  bool HandleFrame(const Frame& frame);
  bool OnHello(const Hello& hello);
  bool OnAuth(const Auth& auth);
  bool BecomeReady();
  bool OnRecordFrame(uint64_t offset, const Record& record);
  bool OnFullEnd(uint64_t items_sent);
  // Applies one of the peer's records and reports the outcome to the owner
  // (conflicts; a refused one is counted and logged: repl_apply_errors).
  void ApplyPeerRecord(const Record& record, bool counted_as_conflict);
  // Applies the SNAPSHOT records gathered from this read (Store::ApplyBatch)
  // and reports each as ApplyPeerRecord does. Called before any other frame
  // is handled and before the read buffer moves, as the records view it.
  void ApplySnapshots();
  // The longest frame read now (bytes, type + payload).
  size_t MaxFrame() const;
  // After a read: an ACK of applied_ if it advanced; to a peer that set
  // kHelloFlagLazyAck, at most one per kLazyAckInterval (the rest by
  // ack_timer_).
  void SendAckIfAdvanced();
  void SendAck();

  void FullSyncStep();
  void StreamStep();
  void StripItemBitsFrom(size_t from);
  void Flush();
  void OnWritten(const asio::error_code& ec, size_t n);
  void ScheduleHeartbeat();

  LinkOwner* const owner_;
  asio::ip::tcp::socket socket_;
  // With a secret: TLS over socket_ (declared after it, so destroyed first);
  // every read and write then goes through it. Null on a clear link.
  std::unique_ptr<asio::ssl::stream<asio::ip::tcp::socket&>> tls_;
  const bool dialed_;
  const std::string peer_name_;
  Phase phase_ = Phase::kHello;

  std::array<uint8_t, 32> nonce_{};
  Hello peer_hello_;

  // Incoming.
  std::vector<char> in_;
  size_t in_start_ = 0;
  size_t in_end_ = 0;
  Frame frame_;
  std::vector<Record> snapshots_;  // SNAPSHOT records of this read, viewing in_
  std::vector<ApplyStatus> snapshot_statuses_;
  bool receiving_full_ = false;
  ReplId full_replid_{};
  uint64_t full_start_offset_ = 0;
  uint64_t full_items_ = 0;
  int64_t full_started_ms_ = 0;
  bool stream_known_ = false;  // RECORD frames may be applied (after FULL_END or PARTIAL_BEGIN)
  uint64_t applied_ = 0;       // last record of the peer's stream applied
  uint64_t acked_sent_ = 0;    // last ACK sent
  std::chrono::steady_clock::time_point ack_sent_at_{};  // when (lazy ACKs)
  bool ack_timer_armed_ = false;
  uint64_t catch_up_to_ = 0;  // a partial sync's initial sync is done once applied_ reaches this
  int64_t last_heard_ms_ = 0;

  // Outgoing.
  OutMode out_mode_ = OutMode::kIdle;
  ScanCursor cursor_;
  uint64_t next_offset_ = 0;  // next record of our stream to send
  uint64_t sync_start_offset_ = 0;
  uint64_t sync_items_ = 0;
  uint64_t sync_bytes_ = 0;
  int64_t sync_started_ms_ = 0;
  std::string out_;
  std::string sending_;
  bool writing_ = false;
  bool reading_ = false;
  asio::steady_timer throttle_timer_;
  asio::steady_timer heartbeat_timer_;
  asio::steady_timer ack_timer_;
};

}  // namespace twincache

#endif  // TWINCACHE_CORE_REPLICATION_REPL_SESSION_H_
