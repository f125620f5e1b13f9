// LinkOwner: what one replication link (ReplSession) needs from the
// Replicator that owns it, and the events it reports back. The session sees
// this interface only, never the Replicator's members, so what a link may
// read and change is listed here. Everything runs on the replication thread.
#ifndef TWINCACHE_CORE_REPLICATION_LINK_OWNER_H_
#define TWINCACHE_CORE_REPLICATION_LINK_OWNER_H_

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>

#include "core/base/clock.h"
#include "core/replication/repl_backlog.h"
#include "core/replication/repl_frame.h"
#include "core/store/record.h"
#include "core/store/store.h"

namespace twincache {

class ReplSession;
class LinkTls;

/// What replication needs from the settings (see Settings for the flags).
struct ReplicationOptions {
  std::string peer_host;          ///< -x: host name or IP literal of the twin
  uint16_t connect_port = 11212;  ///< the twin's replication port
  std::string listen_address;     ///< "" = all interfaces
  uint16_t listen_port = 11212;
  std::string secret;  ///< "" = a clear, unauthenticated link; else TLS 1.3 with a PSK from it (repl_tls.h)
  bool ack_sync = false;  ///< --repl-ack sync
  int64_t ack_timeout_ms = 100;
  size_t backlog_bytes = 64u << 20;
  size_t sync_rate_bytes_per_s = 0;  ///< 0 = unlimited
  int64_t initial_sync_timeout_ms = 30000;
  size_t item_size_max = 1u << 20;  ///< -I: the largest frame accepted before authentication
  uint64_t node_id = 0;             ///< this node's id (RandomNodeId()), never 0
};

/// The Replicator as its links see it (docs/replication.md). Thread safety:
/// every call on the replication thread.
class LinkOwner {
 public:
  // --- what a link reads ---
  /// This node's options: its node id, the secret, limits.
  virtual const ReplicationOptions& options() const = 0;
  virtual Clock* clock() const = 0;
  /// The store the peer's records are applied to (and a full sync scans).
  virtual Store* store() const = 0;
  /// This node's stream: the records a partial sync sends.
  virtual const Backlog& backlog() const = 0;
  /// This node's replication id, and the id of the peer's stream held here
  /// (zeros: none).
  virtual const ReplId& replid() const = 0;
  virtual const ReplId& peer_replid() const = 0;
  /// The last offset of the peer's stream applied here.
  virtual uint64_t applied_offset() const = 0;
  /// The link's TLS context (repl_tls.h): null without a secret, and null
  /// with one if the context could not be set up (the link is then refused).
  virtual LinkTls* link_tls() const = 0;

  // --- what a link reports ---
  /// The handshake is done: false when the owner keeps another link (the
  /// session then closes as a duplicate).
  virtual bool OnSessionReady(const std::shared_ptr<ReplSession>& session) = 0;
  /// The session closed, for `reason` (once per session).
  virtual void OnSessionClosed(ReplSession* session, const std::string& reason) = 0;
  /// A sync began or ended in either direction: repl_state may change.
  virtual void OnLinkStateChanged() = 0;
  /// The peer holds this node's stream up to `offset`.
  virtual void OnPeerAcked(uint64_t offset) = 0;
  /// The peer's stream is applied here up to `offset`.
  virtual void OnApplied(uint64_t offset) = 0;
  /// A PING said the peer's stream has reached `offset` and the peer's clock
  /// read `peer_time_ms` (unix ms) when it was sent.
  virtual void OnPeerPing(uint64_t offset, int64_t peer_time_ms) = 0;
  /// A partial sync of the peer's stream began (`how` = "partial sync").
  virtual void OnInitialSyncDone(const char* how) = 0;
  /// A full sync of the peer's stream `replid` was received whole, in `ms`.
  virtual void OnFullSyncReceived(const ReplId& replid, int64_t ms) = 0;
  /// This node began sending a full (`full`) or partial sync.
  virtual void OnSyncSent(bool full) = 0;
  /// One of the peer's records was applied with `status`: kStale counts as a
  /// conflict when `counted_as_conflict`, kTooLarge and kOutOfMemory as apply
  /// errors (logged with `peer`).
  virtual void OnApplyResult(const Record& record, ApplyStatus status, bool counted_as_conflict,
                             const std::string& peer) = 0;

 protected:
  ~LinkOwner() = default;
};

}  // namespace twincache

#endif  // TWINCACHE_CORE_REPLICATION_LINK_OWNER_H_
