// AdminServer: the daemon's HTTP admin endpoint (default 127.0.0.1:11213).
//
// It answers keepalived's helpers and monitoring, and changes no data:
//   GET  /health       200 or 503 with the HealthReport JSON (health.h)
//   GET  /stats        every `stats` line as a JSON object of strings
//   GET  /metrics      Prometheus text (metrics.h)
//   POST /role         {"role","instance","priority","seq"} from twincache-notify (role.h)
//   POST /maintenance  {"enabled": bool}: planned switchover (twincache-check)
// HTTP is Debian's cpp-httplib (a well-kept library rather than our own HTTP
// parser), on two threads of its own. It listens on loopback unless
// --admin-listen says otherwise.
#ifndef TWINCACHE_CORE_ADMIN_ADMIN_SERVER_H_
#define TWINCACHE_CORE_ADMIN_ADMIN_SERVER_H_

#include <cstdint>
#include <memory>
#include <string>
#include <thread>

#include "core/protocol/server_state.h"
#include "core/replication/replication.h"

namespace httplib {
class Server;
}

namespace twincache {

class AdminServer {
 public:
  AdminServer();
  ~AdminServer();
  AdminServer(const AdminServer&) = delete;
  AdminServer& operator=(const AdminServer&) = delete;

  /// Binds `address` ("HOST:PORT", "[V6]:PORT"; port 0 picks one). False with
  /// *error "cannot listen on ADDR (admin): REASON". Call before Start(); it
  /// starts no thread, so it may run before the daemon forks.
  bool Bind(const std::string& address, std::string* error);

  /// Serves `state` (and `replicator`, null without a twin) on a thread of its
  /// own until Stop(). Both must outlive Stop().
  void Start(ServerState* state, const Replicator* replicator);

  /// Stops serving and joins. Idempotent.
  void Stop();

  /// The bound port (after Bind).
  uint16_t port() const { return port_; }

 private:
  void Route();

  ServerState* state_ = nullptr;
  const Replicator* replicator_ = nullptr;
  std::unique_ptr<httplib::Server> http_;
  std::string host_;
  uint16_t port_ = 0;
  int listen_fd_ = -1;  // httplib's listening socket, seen in its socket-options hook
  std::thread thread_;
};

}  // namespace twincache

#endif  // TWINCACHE_CORE_ADMIN_ADMIN_SERVER_H_
