#include "core/server/server.h"

#include <chrono>
#include <csignal>

#include "core/base/log.h"
#include "core/net/acceptor.h"

namespace twincache {
namespace {

constexpr auto kReclaimInterval = std::chrono::milliseconds(100);
constexpr size_t kReclaimBudget = 5000;  // items examined per tick: 50k/s, like memcached's LRU crawler pace
constexpr auto kAcceptRetry = std::chrono::milliseconds(50);
constexpr std::string_view kTooManyConnections = "ERROR Too many open connections\r\n";  // memcached's line

}  // namespace

Server::Server(ServerState* state, Handler* handler, const std::vector<ListenSocket>& listeners,
               AckWaiter* ack_waiter)
    : state_(state),
      binary_handler_(state),
      signals_(main_, SIGTERM, SIGINT),
      reclaim_timer_(main_),
      accept_retry_timer_(main_) {
  signals_.add(SIGUSR1);
  signals_.add(SIGHUP);
  ParserLimits limits;
  limits.item_size_max = state->settings.item_size_max;
  limits.strict_keys = state->settings.strict_keys;
  for (size_t i = 0; i < state->settings.threads; ++i) {
    auto worker = std::make_unique<Worker>();
    worker->connection_context =
        ConnectionContext{state, ack_waiter, handler, &binary_handler_, state->stats.ForThread(i), limits};
    workers_.push_back(std::move(worker));
  }
  for (const ListenSocket& listener : listeners) {
    acceptors_.push_back(AdoptListener(main_, listener));
    addresses_.push_back(listener.address);
    notls_.push_back(listener.notls);
  }
}

void Server::SetTls(TlsContext* tls) {
  tls_ = tls;
  for (auto& worker : workers_) {
    worker->connection_context.tls = tls;
  }
}

Server::~Server() = default;

StopMode Server::Run() {
  for (auto& worker : workers_) {
    worker->guard = std::make_unique<asio::executor_work_guard<asio::io_context::executor_type>>(
        worker->context.get_executor());
    Worker* w = worker.get();
    worker->thread = std::thread([w] { w->context.run(); });
  }
  WaitForSignal();
  for (size_t i = 0; i < acceptors_.size(); ++i) {
    Log(LogLevel::kInfo, "listening",
        {{"addr", addresses_[i]},
         {"threads", std::to_string(workers_.size())},
         {"tls", tls_ != nullptr && !notls_[i] ? "yes" : "no"}});
    Accept(i);
  }
  ScheduleReclaim();
  main_.run();

  // Stop accepting and let the aborted accepts finish, then end every worker;
  // connections die with their context.
  for (auto& acceptor : acceptors_) {
    asio::error_code ignored;
    acceptor->close(ignored);
  }
  reclaim_timer_.cancel();
  accept_retry_timer_.cancel();
  main_.restart();
  main_.poll();
  for (auto& worker : workers_) {
    worker->guard.reset();
    worker->context.stop();
  }
  for (auto& worker : workers_) {
    worker->thread.join();
  }
  const int mode = stop_mode_.load();
  return mode < 0 ? StopMode::kNormal : static_cast<StopMode>(mode);
}

void Server::Stop(StopMode mode) {
  int none = -1;
  stop_mode_.compare_exchange_strong(none, static_cast<int>(mode));
  asio::post(main_, [this] { main_.stop(); });
}

void Server::SetReloadHandler(std::function<void()> reload) { reload_ = std::move(reload); }

void Server::WaitForSignal() {
  signals_.async_wait([this](const asio::error_code& ec, int signo) {
    if (ec) {
      return;
    }
    if (signo == SIGHUP) {
      if (reload_) {
        reload_();
      } else {
        Log(LogLevel::kInfo, "sighup_ignored", {{"reason", "no reload handler"}});
      }
      WaitForSignal();
      return;
    }
    // With a warm restart file (-e) SIGTERM, what service managers send, is
    // graceful too, so that the file is written (snapshot.h).
    const bool graceful = signo == SIGUSR1 || (signo == SIGTERM && !state_->settings.memory_file.empty());
    const StopMode mode = graceful ? StopMode::kGraceful : StopMode::kNormal;
    const char* name = signo == SIGTERM ? "SIGTERM" : signo == SIGINT ? "SIGINT" : "SIGUSR1";
    Log(LogLevel::kInfo, "shutdown", {{"reason", name}, {"mode", StopModeName(mode)}});
    Stop(mode);
  });
}

void Server::Accept(size_t listener) {
  size_t worker = next_worker_++ % workers_.size();
  acceptors_[listener]->async_accept(
      workers_[worker]->context,
      [this, listener, worker](const asio::error_code& ec, asio::ip::tcp::socket socket) {
        OnAccepted(listener, worker, ec, std::move(socket));
      });
}

void Server::OnAccepted(size_t listener, size_t worker, const asio::error_code& ec,
                        asio::ip::tcp::socket socket) {
  if (ec == asio::error::operation_aborted || !acceptors_[listener]->is_open()) {
    return;  // shutting down
  }
  if (ec) {
    // Out of descriptors and the like: log once per failure and retry shortly
    // rather than spin (memcached disables accept on EMFILE the same way).
    Log(LogLevel::kError, "accept_failed", {{"addr", addresses_[listener]}, {"reason", ec.message()}});
    accept_retry_timer_.expires_after(kAcceptRetry);
    accept_retry_timer_.async_wait([this, listener](const asio::error_code& wait_ec) {
      if (!wait_ec) {
        Accept(listener);
      }
    });
    return;
  }
  state_->total_connections.fetch_add(1, std::memory_order_relaxed);
  const size_t limit = state_->max_connections.load(std::memory_order_relaxed);
  if (state_->curr_connections.load(std::memory_order_relaxed) >= limit) {
    state_->rejected_connections.fetch_add(1, std::memory_order_relaxed);
    asio::error_code ignored;
    socket.non_blocking(true, ignored);
    socket.write_some(asio::buffer(kTooManyConnections), ignored);
    socket.close(ignored);
    Log(LogLevel::kWarning, "connection_rejected",
        {{"reason", "conn_limit"}, {"limit", std::to_string(limit)}});
  } else {
    state_->curr_connections.fetch_add(1, std::memory_order_relaxed);
    // The socket was created on the worker's context: start it on that thread.
    std::shared_ptr<asio::ssl::context> tls;
    if (tls_ != nullptr && !notls_[listener]) {
      tls = tls_->Current();
    }
    auto connection = std::make_shared<Connection>(std::move(socket), &workers_[worker]->connection_context,
                                                   std::move(tls));
    asio::post(workers_[worker]->context, [connection] { connection->Start(); });
  }
  Accept(listener);
}

void Server::ScheduleReclaim() {
  reclaim_timer_.expires_after(kReclaimInterval);
  reclaim_timer_.async_wait([this](const asio::error_code& ec) {
    if (ec) {
      return;
    }
    state_->store->ReclaimExpired(kReclaimBudget);
    ScheduleReclaim();
  });
}

}  // namespace twincache
