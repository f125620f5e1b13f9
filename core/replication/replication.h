// Replication: keeps this node's store and its twin's the same
// (docs/replication.md).
//
// The Replicator observes every local write of the Store and appends it to
// the backlog; it keeps at most one link (a ReplSession) to the peer, which
// it both accepts on the replication port (from the peer's addresses only)
// and dials with backoff, forever. Over the link each side streams its own
// writes and applies the other's. All link work runs on one thread of its own
// (its io_context), so a full sync never blocks client threads; client
// threads only touch the backlog (under its mutex), a few atomics, and the
// ack waiters of --repl-ack sync.
#ifndef TWINCACHE_CORE_REPLICATION_REPLICATION_H_
#define TWINCACHE_CORE_REPLICATION_REPLICATION_H_

#include <asio.hpp>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "core/base/clock.h"
#include "core/base/stat_list.h"
#include "core/net/listener.h"
#include "core/replication/ack_waiter.h"
#include "core/replication/link_owner.h"
#include "core/replication/repl_backlog.h"
#include "core/replication/repl_frame.h"
#include "core/replication/repl_state.h"
#include "core/replication/repl_tls.h"
#include "core/store/record.h"
#include "core/store/snapshot.h"
#include "core/store/store.h"

namespace twincache {

class ReplSession;

/// A snapshot of the replication counters (stats repl_*).
struct ReplicationStatus {
  ReplState state = ReplState::kConnecting;
  std::string peer;  ///< configured peer HOST:PORT
  InitialSync initial_sync = InitialSync::kPending;
  uint64_t offset = 0;
  uint64_t acked_offset = 0;
  uint64_t applied_offset = 0;
  uint64_t peer_offset = 0;        ///< the peer's last produced offset, per its last PING
  int64_t peer_clock_skew_ms = 0;  ///< this node's clock minus the peer's at its last PING (+ one-way delay)
  uint64_t lag_records = 0;
  int64_t lag_ms = 0;
  uint64_t full_syncs = 0;
  uint64_t partial_syncs = 0;
  uint64_t conflicts = 0;
  uint64_t apply_errors = 0;  ///< the twin's writes this store refused (too large, out of memory)
  uint64_t degraded_writes = 0;
  int64_t last_sync_duration_ms = 0;
  std::string last_error;   ///< "none" when there was none
  std::string peer_replid;  ///< "none" before the first sync
};

/// Thread safety: OnRecord, the AckWaiter methods, InitialSyncDone, Status and
/// AppendStats are safe from any thread; Start and Stop are for the owning
/// thread only.
class Replicator final : public RecordObserver, public AckWaiter, private LinkOwner {
 public:
  /// Adopts the bound replication `listeners` (listener.h), closed on destruction.
  Replicator(const ReplicationOptions& options, Store* store, Clock* clock,
             const std::vector<ListenSocket>& listeners);
  ~Replicator() override;
  Replicator(const Replicator&) = delete;
  Replicator& operator=(const Replicator&) = delete;

  /// Starts the replication thread: accepting, dialing, the initial sync timer.
  void Start();

  /// Warm restart (docs/replication.md, "Warm restart"): continues the
  /// stream identity saved at the last graceful stop instead of a new one.
  /// This node's stream keeps identity.replid and goes on after
  /// identity.offset (so the twin, holding it up to there, partially syncs
  /// from it); the twin's stream is taken as applied up to
  /// identity.applied_offset of identity.peer_replid, so the first link asks
  /// for a partial sync from there. A zero replid or peer_replid leaves that
  /// side as a fresh start would. Only before Start(), and only with the store
  /// holding what the identity says (the same state file).
  void Resume(const StreamIdentity& identity);

  /// The identity to save for a warm restart: this node's replid and last
  /// offset, the twin's replid and the offset applied from it (zeros while
  /// none was ever synced). Thread safety: after Stop() (or before Start()).
  StreamIdentity Identity() const;

  /// Closes the links and joins the thread. Idempotent.
  void Stop();

  /// Store observer: appends a local write to the backlog and wakes the link.
  /// Called under a store shard lock; takes only the backlog's mutex.
  void OnRecord(const Record& record) override;

  // AckWaiter (ack_waiter.h): --repl-ack sync.
  uint64_t StreamOffset() const override;
  void WaitForAck(uint64_t offset, std::function<void(bool)> done) override;
  int64_t AckTimeoutMs() const override { return options_.ack_timeout_ms; }
  void CountDegradedWrite() override { degraded_writes_.fetch_add(1, std::memory_order_relaxed); }

  /// True once this node holds its peer's data (docs/replication.md, "Initial sync").
  bool InitialSyncDone() const { return initial_sync_done_.load(std::memory_order_acquire); }

  /// The counters now (each read is atomic; the set is not one instant).
  ReplicationStatus Status() const;

  /// Appends the repl_* stats (README, "Replicating to a twin") to `*out`.
  /// Thread safety: safe from any thread.
  void AppendStats(StatList* out) const;

  const ReplicationOptions& options() const override { return options_; }

  /// With a secret: why the link's TLS context could not be set up ("" when
  /// it was, and always "" without a secret). Links are refused while it is
  /// not; the daemon exits at start instead (fail closed). Thread safety:
  /// const after construction.
  const std::string& tls_error() const { return tls_error_; }

 private:
  // LinkOwner (link_owner.h): what the links read and report, on the
  // replication thread.
  Clock* clock() const override { return clock_; }
  Store* store() const override { return store_; }
  const Backlog& backlog() const override { return backlog_; }
  const ReplId& replid() const override { return replid_; }
  const ReplId& peer_replid() const override { return peer_replid_; }
  uint64_t applied_offset() const override { return applied_offset_.load(std::memory_order_relaxed); }
  LinkTls* link_tls() const override { return tls_.get(); }
  bool OnSessionReady(const std::shared_ptr<ReplSession>& session) override;
  void OnSessionClosed(ReplSession* session, const std::string& reason) override;
  void OnLinkStateChanged() override { UpdateState(); }
  void OnPeerAcked(uint64_t offset) override;
  void OnApplied(uint64_t offset) override { applied_offset_.store(offset, std::memory_order_relaxed); }
  void OnPeerPing(uint64_t offset, int64_t peer_time_ms) override;
  void OnInitialSyncDone(const char* how) override { MarkInitialSyncDone(how); }
  void OnFullSyncReceived(const ReplId& replid, int64_t ms) override;
  void OnSyncSent(bool full) override;
  void OnApplyResult(const Record& record, ApplyStatus status, bool counted_as_conflict,
                     const std::string& peer) override;

  // Link management, all on the replication thread.
  void Accept(size_t listener);
  void Dial();
  void ScheduleDial();
  void Shutdown();
  void UpdateState();
  bool IsPeerAddress(const asio::ip::address& address) const;
  void OnInitialSyncTimer();
  // Local writes wake the link: Pump on the replication thread, at most
  // once per kWakeInterval in async mode (replication.cc).
  void Wake();
  void PumpWoken(std::chrono::steady_clock::time_point now);
  void FailAckWaiters();
  void MarkInitialSyncDone(const char* how);
  void SetState(ReplState state) { state_.store(static_cast<int>(state), std::memory_order_release); }
  void SetLastError(const std::string& error);
  void SetPeerReplid(const ReplId& replid);

  const ReplicationOptions options_;
  Store* const store_;
  Clock* const clock_;
  const int64_t started_at_ms_;
  ReplId replid_{};
  Backlog backlog_;
  std::unique_ptr<LinkTls> tls_;  // with a secret (repl_tls.h); null if it failed
  std::string tls_error_;

  asio::io_context context_{1};
  std::unique_ptr<asio::executor_work_guard<asio::io_context::executor_type>> work_;
  std::vector<std::unique_ptr<asio::ip::tcp::acceptor>> acceptors_;
  std::vector<std::string> listen_names_;
  asio::ip::tcp::resolver resolver_;
  asio::steady_timer dial_timer_;
  asio::steady_timer connect_timer_;
  asio::steady_timer initial_sync_timer_;
  asio::steady_timer wake_timer_;
  std::thread thread_;
  bool stopped_ = false;
  bool resumed_ = false;  // Resume() was called: a warm restart

  // Replication thread only.
  std::shared_ptr<ReplSession> active_;
  std::vector<std::shared_ptr<ReplSession>> pending_;  // handshaking
  bool dialing_ = false;
  int64_t dial_backoff_ms_ = 0;
  std::vector<asio::ip::address> peer_addresses_;
  ReplId peer_replid_{};  // the peer stream applied here (zeros: none)
  bool ever_linked_ = false;
  int64_t apply_error_logged_ms_ = 0;   // when the last repl_apply_error line was logged
  uint64_t apply_errors_unlogged_ = 0;  // refused since then, not logged one by one

  // Any thread.
  std::atomic<bool> wake_pending_{false};
  std::atomic<int> state_{static_cast<int>(ReplState::kConnecting)};
  std::atomic<bool> initial_sync_done_{false};
  std::atomic<uint64_t> applied_offset_{0};
  std::atomic<uint64_t> peer_offset_{0};               // the peer's stream end, per its last PING
  std::atomic<int64_t> peer_clock_skew_ms_{0};         // local clock minus the peer's, plus one-way delay
  bool skew_logged_ = false;                           // replication thread only
  std::chrono::steady_clock::time_point last_wake_{};  // replication thread only: the last Pump for writes
  std::atomic<uint64_t> acked_offset_{0};
  std::atomic<uint64_t> full_syncs_{0};
  std::atomic<uint64_t> partial_syncs_{0};
  std::atomic<uint64_t> conflicts_{0};
  std::atomic<uint64_t> apply_errors_{0};
  std::atomic<uint64_t> degraded_writes_{0};
  std::atomic<int64_t> last_sync_duration_ms_{0};
  std::atomic<bool> link_up_{false};
  mutable std::mutex mu_;
  std::string last_error_;                                      // guarded by mu_
  std::string peer_replid_hex_;                                 // guarded by mu_
  std::multimap<uint64_t, std::function<void(bool)>> waiters_;  // guarded by mu_
};

/// Hex form of a replication id (32 lowercase digits).
std::string ReplIdHex(const ReplId& id);

}  // namespace twincache

#endif  // TWINCACHE_CORE_REPLICATION_REPLICATION_H_
