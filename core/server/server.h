// Server: the worker threads, the accept loop and the background timers.
//
// Each of the -t worker threads runs its own asio::io_context; connections are
// handed to them round-robin and live on one thread for their whole life, so
// a connection never needs a lock (the model of memcached's worker threads,
// one libevent base each). The calling thread of Run() accepts connections,
// enforces -c, handles the signals and runs the periodic expiry reclaim.
//
// Signals as memcached 1.6 (memcached.c sig_handler, sighup_handler,
// sig_usrhandler): SIGTERM and SIGINT stop, SIGUSR1 stops gracefully (so
// does SIGTERM with a warm restart file, -e), SIGHUP calls the reload handler
// (reload.h) and never stops the server.
#ifndef TWINCACHE_CORE_SERVER_SERVER_H_
#define TWINCACHE_CORE_SERVER_SERVER_H_

#include <asio.hpp>

#include <atomic>
#include <functional>
#include <memory>
#include <thread>
#include <vector>

#include "core/net/listener.h"
#include "core/net/tls_context.h"
#include "core/protocol/binary_handler.h"
#include "core/protocol/handler.h"
#include "core/protocol/server_state.h"
#include "core/server/connection.h"

namespace twincache {

class Server {
 public:
  /// Adopts the bound `listeners` (closed when the server is destroyed).
  /// `ack_waiter`: with --repl-ack sync, the replication whose acks hold
  /// back write replies (ack_waiter.h); nullptr otherwise.
  Server(ServerState* state, Handler* handler, const std::vector<ListenSocket>& listeners,
         AckWaiter* ack_waiter = nullptr);
  ~Server();
  Server(const Server&) = delete;
  Server& operator=(const Server&) = delete;

  /// Starts the workers and serves until Stop(), SIGTERM, SIGINT or SIGUSR1;
  /// then closes the listeners and every connection and joins the workers.
  /// Returns how it was asked to stop (SIGUSR1, and SIGTERM with -e: kGraceful).
  StopMode Run();

  /// Asks Run() to return `mode` (the first request's mode wins). Thread
  /// safety: safe from any thread.
  void Stop(StopMode mode = StopMode::kNormal);

  /// Sets what SIGHUP runs, on the accepting thread (new connections wait
  /// meanwhile; established ones are served by their workers). Without one
  /// SIGHUP is logged and otherwise ignored. Call before Run().
  void SetReloadHandler(std::function<void()> reload);

  /// With -Z: connections of every listener not given as notls: speak TLS
  /// with `tls->Current()` at their accept (tls_context.h), and failed
  /// handshakes are counted there. `tls` outlives the server. Call before
  /// Run().
  void SetTls(TlsContext* tls);

 private:
  // connection_context comes first so it outlives the io_context, whose
  // destructor destroys the connections still owned by pending handlers.
  struct Worker {
    ConnectionContext connection_context;
    asio::io_context context{1};
    std::unique_ptr<asio::executor_work_guard<asio::io_context::executor_type>> guard;
    std::thread thread;
  };

  void Accept(size_t listener);
  void OnAccepted(size_t listener, size_t worker, const asio::error_code& ec, asio::ip::tcp::socket socket);
  void ScheduleReclaim();
  void WaitForSignal();

  ServerState* state_;
  BinaryHandler binary_handler_;  // stateless, like the Handler; shared by every connection
  // Declaration order is destruction order in reverse: the workers outlive
  // main_, because an accept still pending on main_ holds a socket that
  // belongs to a worker's io_context.
  std::vector<std::unique_ptr<Worker>> workers_;
  asio::io_context main_{1};
  std::vector<std::unique_ptr<asio::ip::tcp::acceptor>> acceptors_;
  std::vector<std::string> addresses_;
  std::vector<bool> notls_;    // per listener: "notls:" (stays in clear under -Z)
  TlsContext* tls_ = nullptr;  // with -Z
  size_t next_worker_ = 0;     // only touched on the accepting thread
  asio::signal_set signals_;
  std::function<void()> reload_;
  std::atomic<int> stop_mode_{-1};  // a StopMode once Stop() was called
  asio::steady_timer reclaim_timer_;
  asio::steady_timer accept_retry_timer_;
};

}  // namespace twincache

#endif  // TWINCACHE_CORE_SERVER_SERVER_H_
