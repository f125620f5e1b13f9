// AdminServer: the daemon's HTTP admin endpoint (default 127.0.0.1:11213).
//
// It answers keepalived's helpers and monitoring, and changes no data:
//   GET  /health       200 or 503 with the HealthReport JSON (health.h)
//   GET  /stats        every `stats` line as a JSON object of strings
//   GET  /metrics      Prometheus text (metrics.h)
//   POST /role         {"role","instance","priority","seq"} from twincache-notify (role.h)
//   POST /maintenance  {"enabled": bool}: planned switchover (twincache-check)
// With a token (--admin-token-file, admin_token.h) the POSTs require
// `Authorization: Bearer TOKEN` (401/403 otherwise, logged); GETs stay open.
// A query string is ignored ("/health?x" is /health). An unknown path is 404,
// a known one with another method 405 (with Allow), a request HTTP/1.1 cannot
// parse 400 and a body over kAdminMaxBodyBytes 413, each with a JSON
// {"error": ...} body; a bad JSON body of /role or /maintenance is 400. HTTP/1.1
// keep-alive as the client asks (RFC 9112, section 9.3); HTTP/1.0 too.
//
// HTTP is Boost.Beast on Boost.Asio (Debian's libboost1.74-dev; a well-kept
// library rather than our own HTTP parser, header-only, so the daemon needs
// no HTTP library at run time), on an io_context and two threads of its own,
// apart from the standalone Asio of the client and replication ports (this
// header includes neither; the routes are admin_routes.h). A
// request must arrive whole within kAdminReadTimeout of the connection or the
// previous response (a client that sends nothing is closed then), a response
// be taken within kAdminWriteTimeout. It listens on loopback unless
// --admin-listen says otherwise.
#ifndef TWINCACHE_CORE_ADMIN_ADMIN_SERVER_H_
#define TWINCACHE_CORE_ADMIN_ADMIN_SERVER_H_

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "core/net/listener.h"

namespace twincache {

struct ServerState;
class Replicator;
class AdminToken;

/// Threads serving the admin endpoint.
inline constexpr size_t kAdminThreads = 2;
/// Listen backlog of the admin sockets: racing notify hooks and checks must
/// not find the accept queue full (a dropped SYN is resent only after 1 s).
inline constexpr int kAdminBacklog = 128;
/// Time for a whole request to arrive: from the connection, or from the
/// previous response on a kept-alive connection.
inline constexpr std::chrono::seconds kAdminReadTimeout{2};
/// Time for a whole response to be sent.
inline constexpr std::chrono::seconds kAdminWriteTimeout{5};
/// Largest request body in bytes (the JSON bodies are tens of bytes).
inline constexpr size_t kAdminMaxBodyBytes = size_t{64} * 1024;

class AdminServer {
 public:
  AdminServer();
  ~AdminServer();  ///< Stop(), then closes the sockets
  AdminServer(const AdminServer&) = delete;
  AdminServer& operator=(const AdminServer&) = delete;

  /// Binds `address` ("HOST:PORT", "[V6]:PORT", port 1..65535): every
  /// address HOST resolves to, as --listen does (core/net/listener.h:
  /// SO_REUSEADDR, never SO_REUSEPORT, so a second daemon cannot share a busy
  /// admin port; IPv6 sockets V6ONLY), backlog kAdminBacklog. False with
  /// *error "bad --admin-listen ADDR (want HOST:PORT)" or "cannot listen on
  /// HOST:PORT: REASON (admin)". Call once, before Start(); it starts no
  /// thread and makes no io_context, so it may run before the daemon forks or
  /// drops root.
  bool Bind(const std::string& address, std::string* error);

  /// Serves `state` (and `replicator`, null without a twin) on kAdminThreads
  /// threads of its own until Stop(). POSTs require `token` (null: none
  /// required). All must outlive Stop(). Requires a successful Bind().
  void Start(ServerState* state, const Replicator* replicator, const AdminToken* token = nullptr);

  /// Stops serving (requests in progress are dropped) and joins the threads.
  /// Idempotent.
  void Stop();

  /// The bound port (after Bind; 0 before).
  uint16_t port() const { return port_; }

 private:
  struct Serving;  // the io_context, acceptors and threads (admin_server.cc)

  std::vector<ListenSocket> sockets_;  // bound by Bind, adopted by Serving in Start
  uint16_t port_ = 0;
  std::unique_ptr<Serving> serving_;
};

}  // namespace twincache

#endif  // TWINCACHE_CORE_ADMIN_ADMIN_SERVER_H_
