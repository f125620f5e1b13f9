#include "core/replication/replication.h"

#include <algorithm>
#include <chrono>
#include <cstdio>

#include "core/base/log.h"
#include "core/config/settings.h"
#include "core/net/acceptor.h"
#include "core/replication/repl_auth.h"
#include "core/replication/repl_session.h"

namespace twincache {
namespace {

// Redialing the twin: after a partition heals the link must be back within
// 0.5 s (keepalived/README.md, "Failover times, and what happens when a
// partition heals"), so a SYN lost to
// the partition is abandoned after kConnectTimeout (the kernel would resend
// it only after 1 s) and the next attempt follows within kDialBackoffMaxMs:
// at most 300 ms from connectivity returning to a SYN that gets through.
// The twins share a LAN segment (VRRP), where a handshake takes well under
// a millisecond. While the twin is away this is about 3 attempts per
// second, each a SYN: the bounded backoff.
constexpr int64_t kDialBackoffMinMs = 50;
constexpr int64_t kDialBackoffMaxMs = 100;
constexpr auto kConnectTimeout = std::chrono::milliseconds(200);
// At most one repl_apply_error log line per this many ms (OnApplyResult).
constexpr int64_t kApplyErrorLogGapMs = 1000;
constexpr auto kInitialSyncRecheck = std::chrono::seconds(1);
// A twin's clock this far off (ms) is logged once (repl_clock_skew).
constexpr int64_t kClockSkewWarnMs = 1000;
// --repl-ack async: local writes wake the link at most once per this
// interval. A write after a quiet spell goes out at once; writes that follow
// within the interval wait for its end and go out together. Each wake-up of
// the replication thread (a cross-thread post, epoll_wait's return, a send)
// costs about as much CPU as a client request, so one per write would cost
// the writing node a third more CPU under a write-heavy load; this bounds it
// to 4000 a second for at most 250 us more replication lag. Sync mode has
// replies waiting on every record and wakes the link at once.
constexpr auto kWakeInterval = std::chrono::microseconds(250);

// 127.0.0.1 and ::ffff:127.0.0.1 are the same peer.
asio::ip::address Canonical(const asio::ip::address& address) {
  if (address.is_v6() && address.to_v6().is_v4_mapped()) {
    return asio::ip::make_address_v4(asio::ip::v4_mapped, address.to_v6());
  }
  return address;
}

std::string EndpointName(const asio::ip::tcp::endpoint& endpoint) {
  return JoinHostPort(endpoint.address().to_string(), endpoint.port());
}

}  // namespace

std::string ReplIdHex(const ReplId& id) {
  std::string hex;
  char digits[3];
  for (uint8_t byte : id) {
    std::snprintf(digits, sizeof(digits), "%02x", byte);
    hex += digits;
  }
  return hex;
}

Replicator::Replicator(const ReplicationOptions& options, Store* store, Clock* clock,
                       const std::vector<ListenSocket>& listeners)
    : options_(options),
      store_(store),
      clock_(clock),
      started_at_ms_(clock->NowMillis()),
      backlog_(options.backlog_bytes),
      resolver_(context_),
      dial_timer_(context_),
      connect_timer_(context_),
      initial_sync_timer_(context_),
      wake_timer_(context_) {
  RandomBytes(replid_.data(), replid_.size());
  if (!options_.secret.empty()) {
    tls_ = LinkTls::Create(options_.secret, &tls_error_);
    if (tls_ == nullptr && tls_error_.empty()) {
      tls_error_ = "cannot set up the link's TLS context";
    }
  }
  for (const ListenSocket& listener : listeners) {
    acceptors_.push_back(AdoptListener(context_, listener));
    listen_names_.push_back(listener.address);
  }
}

Replicator::~Replicator() { Stop(); }

void Replicator::Resume(const StreamIdentity& identity) {
  constexpr ReplId kNone{};
  if (identity.replid != kNone) {
    replid_ = identity.replid;
    backlog_.StartAfter(identity.offset);
  }
  if (identity.peer_replid != kNone) {
    SetPeerReplid(identity.peer_replid);
    applied_offset_.store(identity.applied_offset, std::memory_order_relaxed);
  }
  resumed_ = true;
}

StreamIdentity Replicator::Identity() const {
  StreamIdentity identity;
  identity.replid = replid_;
  identity.offset = backlog_.last_offset();
  identity.peer_replid = peer_replid_;
  identity.applied_offset =
      identity.peer_replid == ReplId{} ? 0 : applied_offset_.load(std::memory_order_relaxed);
  return identity;
}

void Replicator::Start() {
  work_ =
      std::make_unique<asio::executor_work_guard<asio::io_context::executor_type>>(context_.get_executor());
  asio::post(context_, [this] {
    if (options_.secret.empty()) {
      Log(LogLevel::kWarning, "repl_unencrypted",
          {{"peer", JoinHostPort(options_.peer_host, options_.connect_port)},
           {"reason", "no --repl-secret-file: the link is in clear and unauthenticated"}});
    } else if (tls_ == nullptr) {
      Log(LogLevel::kError, "repl_tls_unavailable", {{"reason", tls_error_}, {"links", "refused"}});
    }
    for (size_t i = 0; i < acceptors_.size(); ++i) {
      Log(LogLevel::kInfo, "repl_listening",
          {{"addr", listen_names_[i]},
           {"peer", JoinHostPort(options_.peer_host, options_.connect_port)},
           {"node", std::to_string(options_.node_id)},
           {"replid", ReplIdHex(replid_)},
           {"offset", std::to_string(backlog_.last_offset())},
           {"peer_replid", ReplIdHex(peer_replid_)},
           {"applied", std::to_string(applied_offset_.load())},
           {"start", resumed_ ? "warm" : "cold"},
           {"ack", options_.ack_sync ? "sync" : "async"},
           {"transport", options_.secret.empty() ? "clear" : "tls1.3-psk"}});
      Accept(i);
    }
    Dial();
    initial_sync_timer_.expires_after(std::chrono::milliseconds(options_.initial_sync_timeout_ms));
    initial_sync_timer_.async_wait([this](const asio::error_code& ec) {
      if (!ec) {
        OnInitialSyncTimer();
      }
    });
  });
  thread_ = std::thread([this] { context_.run(); });
}

void Replicator::Stop() {
  if (!thread_.joinable()) {
    return;
  }
  asio::post(context_, [this] { Shutdown(); });
  thread_.join();
}

void Replicator::Shutdown() {
  stopped_ = true;
  for (auto& acceptor : acceptors_) {
    asio::error_code ignored;
    acceptor->close(ignored);
  }
  dial_timer_.cancel();
  connect_timer_.cancel();
  initial_sync_timer_.cancel();
  wake_timer_.cancel();
  if (auto session = active_) {
    session->Close("shutting down");  // the copy outlives active_.reset()
  }
  for (auto& session : std::vector<std::shared_ptr<ReplSession>>(pending_)) {
    session->Close("shutting down");
  }
  FailAckWaiters();
  work_.reset();
  context_.stop();
}

// ---------------------------------------------------------------------------
// Links

void Replicator::Accept(size_t listener) {
  acceptors_[listener]->async_accept(
      [this, listener](const asio::error_code& ec, asio::ip::tcp::socket socket) {
        if (stopped_ || ec == asio::error::operation_aborted) {
          return;
        }
        if (!ec) {
          asio::error_code peer_ec;
          auto endpoint = socket.remote_endpoint(peer_ec);
          std::string name = peer_ec ? "unknown" : EndpointName(endpoint);
          if (peer_ec || !IsPeerAddress(endpoint.address())) {
            Log(LogLevel::kWarning, "repl_refused", {{"addr", name}, {"reason", "not the configured peer"}});
            asio::error_code ignored;
            socket.close(ignored);
          } else {
            auto session = std::make_shared<ReplSession>(static_cast<LinkOwner*>(this), std::move(socket),
                                                         /*dialed=*/false, name);
            pending_.push_back(session);
            session->Start();
          }
        } else {
          Log(LogLevel::kError, "repl_accept_failed",
              {{"addr", listen_names_[listener]}, {"reason", ec.message()}});
        }
        Accept(listener);
      });
}

bool Replicator::IsPeerAddress(const asio::ip::address& address) const {
  asio::ip::address canonical = Canonical(address);
  return std::any_of(peer_addresses_.begin(), peer_addresses_.end(),
                     [&](const asio::ip::address& peer) { return Canonical(peer) == canonical; });
}

void Replicator::Dial() {
  if (stopped_ || active_ || dialing_) {
    return;
  }
  asio::error_code ec;
  auto endpoints = resolver_.resolve(options_.peer_host, std::to_string(options_.connect_port), ec);
  if (ec) {
    SetLastError("cannot resolve peer " + options_.peer_host + ": " + ec.message());
    ScheduleDial();
    return;
  }
  peer_addresses_.clear();
  for (const auto& entry : endpoints) {
    peer_addresses_.push_back(entry.endpoint().address());
  }
  dialing_ = true;
  auto socket = std::make_shared<asio::ip::tcp::socket>(context_);
  connect_timer_.expires_after(kConnectTimeout);
  connect_timer_.async_wait([socket](const asio::error_code& timer_ec) {
    if (!timer_ec) {
      asio::error_code ignored;
      socket->close(ignored);  // a black-holed peer: give up this attempt
    }
  });
  asio::async_connect(
      *socket, endpoints,
      [this, socket](const asio::error_code& connect_ec, const asio::ip::tcp::endpoint& endpoint) {
        connect_timer_.cancel();
        dialing_ = false;
        if (stopped_) {
          return;
        }
        if (connect_ec) {
          SetLastError("cannot connect to peer " + JoinHostPort(options_.peer_host, options_.connect_port) +
                       ": " + connect_ec.message());
          ScheduleDial();
          return;
        }
        auto session = std::make_shared<ReplSession>(static_cast<LinkOwner*>(this), std::move(*socket),
                                                     /*dialed=*/true, EndpointName(endpoint));
        pending_.push_back(session);
        session->Start();
      });
}

void Replicator::ScheduleDial() {
  if (stopped_ || active_ || dialing_) {
    return;
  }
  dial_backoff_ms_ =
      dial_backoff_ms_ == 0 ? kDialBackoffMinMs : std::min(dial_backoff_ms_ * 2, kDialBackoffMaxMs);
  dial_timer_.expires_after(std::chrono::milliseconds(dial_backoff_ms_));
  dial_timer_.async_wait([this](const asio::error_code& ec) {
    if (!ec) {
      Dial();
    }
  });
}

// Two links can come up when both nodes dial at once: both nodes keep the one
// dialed by the node with the smaller id, so they agree without talking.
bool Replicator::OnSessionReady(const std::shared_ptr<ReplSession>& session) {
  pending_.erase(std::remove(pending_.begin(), pending_.end(), session), pending_.end());
  if (active_) {
    const bool dialed_by_smaller = session->dialed() == (options_.node_id < session->peer_node_id());
    if (!dialed_by_smaller) {
      return false;
    }
    std::shared_ptr<ReplSession> previous = std::move(active_);
    active_ = session;
    previous->Close("duplicate link");
  }
  active_ = session;
  ever_linked_ = true;
  dial_backoff_ms_ = 0;
  dial_timer_.cancel();
  link_up_.store(true, std::memory_order_release);
  Log(LogLevel::kInfo, "repl_link_up",
      {{"peer", session->peer_name()},
       {"role", session->dialed() ? "dialer" : "acceptor"},
       {"peer_node", std::to_string(session->peer_node_id())},
       {"offset", std::to_string(backlog_.last_offset())}});
  session->BeginOutgoing();
  return true;
}

void Replicator::OnSessionClosed(ReplSession* session, const std::string& reason) {
  pending_.erase(
      std::remove_if(pending_.begin(), pending_.end(),
                     [session](const std::shared_ptr<ReplSession>& p) { return p.get() == session; }),
      pending_.end());
  if (active_.get() == session) {
    active_.reset();
    link_up_.store(false, std::memory_order_release);
    FailAckWaiters();
    SetLastError(reason);
    Log(LogLevel::kWarning, "repl_link_dropped",
        {{"peer", session->peer_name()},
         {"reason", reason},
         {"offset", std::to_string(backlog_.last_offset())},
         {"applied", std::to_string(applied_offset_.load())}});
  } else if (reason != "duplicate link" && reason != "shutting down") {
    SetLastError(reason);
    Log(LogLevel::kWarning, "repl_link_failed", {{"peer", session->peer_name()}, {"reason", reason}});
  }
  UpdateState();
  ScheduleDial();
}

void Replicator::UpdateState() {
  if (!active_) {
    SetState(ever_linked_ ? ReplState::kDisconnected : ReplState::kConnecting);
  } else {
    SetState(active_->syncing() ? ReplState::kSyncing : ReplState::kConnected);
  }
}

void Replicator::OnInitialSyncTimer() {
  if (InitialSyncDone()) {
    return;
  }
  if (active_) {  // a sync is under way: wait for it rather than serve half
    initial_sync_timer_.expires_after(kInitialSyncRecheck);
    initial_sync_timer_.async_wait([this](const asio::error_code& ec) {
      if (!ec) {
        OnInitialSyncTimer();
      }
    });
    return;
  }
  Log(LogLevel::kWarning, "repl_initial_sync_timeout",
      {{"peer", options_.peer_host}, {"seconds", std::to_string(options_.initial_sync_timeout_ms / 1000)}});
  MarkInitialSyncDone("timeout");
}

void Replicator::MarkInitialSyncDone(const char* how) {
  if (initial_sync_done_.exchange(true, std::memory_order_acq_rel)) {
    return;
  }
  Log(LogLevel::kInfo, "repl_initial_sync_done",
      {{"how", how}, {"ms", std::to_string(clock_->NowMillis() - started_at_ms_)}});
}

void Replicator::SetPeerReplid(const ReplId& replid) {
  peer_replid_ = replid;
  std::lock_guard<std::mutex> lock(mu_);
  peer_replid_hex_ = ReplIdHex(replid);
}

void Replicator::SetLastError(const std::string& error) {
  std::lock_guard<std::mutex> lock(mu_);
  last_error_ = error;
}

// ---------------------------------------------------------------------------
// Local writes and acknowledgements

void Replicator::OnRecord(const Record& record) {
  backlog_.Append(record, clock_->NowMillis());
  Wake();
}

void Replicator::Wake() {
  if (wake_pending_.exchange(true, std::memory_order_acq_rel)) {
    return;
  }
  asio::post(context_, [this] {
    const auto now = std::chrono::steady_clock::now();
    if (!options_.ack_sync && now - last_wake_ < kWakeInterval) {
      // wake_pending_ stays set: writes until the timer fires post nothing.
      wake_timer_.expires_at(last_wake_ + kWakeInterval);
      wake_timer_.async_wait([this](const asio::error_code& ec) {
        if (!ec) {
          PumpWoken(std::chrono::steady_clock::now());
        }
      });
      return;
    }
    PumpWoken(now);
  });
}

void Replicator::PumpWoken(std::chrono::steady_clock::time_point now) {
  last_wake_ = now;
  // Cleared before Pump copies the backlog: a write appended after the copy
  // posts again.
  wake_pending_.store(false, std::memory_order_release);
  if (auto session = active_) {
    session->Pump();  // the copy outlives a Close() inside Pump
  }
}

uint64_t Replicator::StreamOffset() const { return backlog_.last_offset(); }

void Replicator::WaitForAck(uint64_t offset, std::function<void(bool)> done) {
  std::unique_lock<std::mutex> lock(mu_);
  if (acked_offset_.load(std::memory_order_acquire) >= offset) {
    lock.unlock();
    done(true);
    return;
  }
  if (!link_up_.load(std::memory_order_acquire)) {
    lock.unlock();
    done(false);
    return;
  }
  waiters_.emplace(offset, std::move(done));
}

void Replicator::OnPeerAcked(uint64_t offset) {
  if (offset <= acked_offset_.load(std::memory_order_relaxed)) {
    return;
  }
  std::vector<std::function<void(bool)>> ready;
  {
    std::lock_guard<std::mutex> lock(mu_);
    acked_offset_.store(offset, std::memory_order_release);
    auto end = waiters_.upper_bound(offset);
    for (auto it = waiters_.begin(); it != end; ++it) {
      ready.push_back(std::move(it->second));
    }
    waiters_.erase(waiters_.begin(), end);
  }
  for (auto& done : ready) {
    done(true);
  }
}

void Replicator::FailAckWaiters() {
  std::vector<std::function<void(bool)>> failed;
  {
    std::lock_guard<std::mutex> lock(mu_);
    for (auto& entry : waiters_) {
      failed.push_back(std::move(entry.second));
    }
    waiters_.clear();
  }
  for (auto& done : failed) {
    done(false);
  }
}

// ---------------------------------------------------------------------------
// Stats

ReplicationStatus Replicator::Status() const {
  ReplicationStatus status;
  status.state = static_cast<ReplState>(state_.load(std::memory_order_acquire));
  status.peer = JoinHostPort(options_.peer_host, options_.connect_port);
  status.initial_sync = InitialSyncDone() ? InitialSync::kDone : InitialSync::kPending;
  status.offset = backlog_.last_offset();
  status.acked_offset = std::min(acked_offset_.load(std::memory_order_acquire), status.offset);
  status.applied_offset = applied_offset_.load(std::memory_order_relaxed);
  status.peer_offset = peer_offset_.load(std::memory_order_relaxed);
  status.peer_clock_skew_ms = peer_clock_skew_ms_.load(std::memory_order_relaxed);
  status.lag_records = link_up_.load() ? status.offset - status.acked_offset : 0;
  if (status.lag_records > 0) {
    int64_t since = backlog_.AppendTimeOf(status.acked_offset + 1);
    if (since >= 0) {
      status.lag_ms = std::max<int64_t>(0, clock_->NowMillis() - since);
    }
  }
  status.full_syncs = full_syncs_.load(std::memory_order_relaxed);
  status.partial_syncs = partial_syncs_.load(std::memory_order_relaxed);
  status.conflicts = conflicts_.load(std::memory_order_relaxed);
  status.apply_errors = apply_errors_.load(std::memory_order_relaxed);
  status.degraded_writes = degraded_writes_.load(std::memory_order_relaxed);
  status.last_sync_duration_ms = last_sync_duration_ms_.load(std::memory_order_relaxed);
  std::lock_guard<std::mutex> lock(mu_);
  status.last_error = last_error_.empty() ? "none" : last_error_;
  status.peer_replid = peer_replid_hex_.empty() ? "none" : peer_replid_hex_;
  return status;
}

// One of the peer's records, applied by a link. A write the store refused
// (docs/replication.md, "Writes a twin cannot store") is counted always and
// logged one line per event with the key's length and the item's size, but
// at most one line per kApplyErrorLogGapMs, the next line then saying how
// many were not logged.
void Replicator::OnApplyResult(const Record& record, ApplyStatus status, bool counted_as_conflict,
                               const std::string& peer) {
  if (status == ApplyStatus::kStale && counted_as_conflict) {
    conflicts_.fetch_add(1, std::memory_order_relaxed);
  }
  if (status != ApplyStatus::kTooLarge && status != ApplyStatus::kOutOfMemory) {
    return;
  }
  apply_errors_.fetch_add(1, std::memory_order_relaxed);
  const int64_t now = clock_->NowMillis();
  if (apply_error_logged_ms_ != 0 && now - apply_error_logged_ms_ < kApplyErrorLogGapMs) {
    ++apply_errors_unlogged_;
    return;
  }
  Log(LogLevel::kWarning, "repl_apply_error",
      {{"peer", peer},
       {"reason", status == ApplyStatus::kTooLarge ? "too large" : "out of memory"},
       {"key_bytes", std::to_string(record.key.size())},
       {"value_bytes", std::to_string(record.value.size())},
       {"not_logged_since_last", std::to_string(apply_errors_unlogged_)},
       {"total", std::to_string(apply_errors_.load(std::memory_order_relaxed))}});
  apply_error_logged_ms_ = now;
  apply_errors_unlogged_ = 0;
}

void Replicator::OnFullSyncReceived(const ReplId& replid, int64_t ms) {
  SetPeerReplid(replid);
  last_sync_duration_ms_.store(ms, std::memory_order_relaxed);
  MarkInitialSyncDone("full sync");
  UpdateState();
}

void Replicator::OnPeerPing(uint64_t offset, int64_t peer_time_ms) {
  peer_offset_.store(offset, std::memory_order_relaxed);
  const int64_t skew = clock_->NowMillis() - peer_time_ms;
  peer_clock_skew_ms_.store(skew, std::memory_order_relaxed);
  // Versions are hybrid logical clocks (docs/replication.md): a skew between
  // the twins decides which of two concurrent writes wins. Say so once.
  if ((skew > kClockSkewWarnMs || skew < -kClockSkewWarnMs) && !skew_logged_) {
    skew_logged_ = true;
    Log(LogLevel::kWarning, "repl_clock_skew",
        {{"peer", options_.peer_host},
         {"skew_ms", std::to_string(skew)},
         {"offset", std::to_string(offset)}});
  }
}

void Replicator::OnSyncSent(bool full) {
  (full ? full_syncs_ : partial_syncs_).fetch_add(1, std::memory_order_relaxed);
}

void Replicator::AppendStats(StatList* out) const {
  const ReplicationStatus status = Status();
  AddStat(out, "repl_state", Name(status.state));
  AddStat(out, "repl_peer", status.peer);
  AddStat(out, "repl_node_id", options_.node_id);
  AddStat(out, "repl_replid", ReplIdHex(replid_));
  AddStat(out, "repl_offset", status.offset);
  AddStat(out, "repl_acked_offset", status.acked_offset);
  AddStat(out, "repl_peer_replid", status.peer_replid);
  AddStat(out, "repl_applied_offset", status.applied_offset);
  AddStat(out, "repl_peer_offset", status.peer_offset);
  AddStat(out, "repl_peer_clock_skew_ms", std::to_string(status.peer_clock_skew_ms));
  AddStat(out, "repl_lag_records", status.lag_records);
  AddStat(out, "repl_lag_ms", std::to_string(status.lag_ms));
  AddStat(out, "repl_backlog_size", backlog_.capacity_bytes());
  AddStat(out, "repl_backlog_used", backlog_.used_bytes());
  AddStat(out, "repl_full_syncs", status.full_syncs);
  AddStat(out, "repl_partial_syncs", status.partial_syncs);
  AddStat(out, "repl_conflicts", status.conflicts);
  AddStat(out, "repl_apply_errors", status.apply_errors);
  AddStat(out, "repl_last_error", status.last_error);
  AddStat(out, "repl_last_sync_duration_ms", std::to_string(status.last_sync_duration_ms));
  AddStat(out, "repl_initial_sync", Name(status.initial_sync));
  AddStat(out, "repl_degraded_writes", status.degraded_writes);
  AddStat(out, "repl_tombstones", store_->GetStats().tombstones);
  AddStat(out, "repl_ack", options_.ack_sync ? "sync" : "async");
}

}  // namespace twincache
