// Real loopback TCP peers for the tests of clients that must end by a
// deadline (healthcheck probes, core/http): a listener that never accepts,
// and a server that answers with a script. Nothing is simulated: the kernel
// does the handshakes, queues and resets.
#ifndef TWINCACHE_TESTS_UNIT_TESTING_LOOPBACK_PEERS_H_
#define TWINCACHE_TESTS_UNIT_TESTING_LOOPBACK_PEERS_H_

#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace twincache::testing {

/// A listening socket on 127.0.0.1 and a free port; closed on destruction.
inline int ListenOnLoopback(int backlog, uint16_t* port) {
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof(address);
  EXPECT_EQ(bind(fd, reinterpret_cast<sockaddr*>(&address), len), 0);
  EXPECT_EQ(listen(fd, backlog), 0);
  EXPECT_EQ(getsockname(fd, reinterpret_cast<sockaddr*>(&address), &len), 0);
  *port = ntohs(address.sin_port);
  return fd;
}

/// A loopback port nothing listens on just now (bound, then closed), for
/// servers that take no port 0.
inline uint16_t FreePort() {
  uint16_t port = 0;
  close(ListenOnLoopback(1, &port));
  return port;
}

/// A non-blocking connect to 127.0.0.1:`port`; the descriptor (the caller
/// closes it), its handshake perhaps still in progress.
inline int StartConnect(uint16_t port) {
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  address.sin_port = htons(port);
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  connect(fd, reinterpret_cast<sockaddr*>(&address), sizeof(address));
  return fd;
}

/// A loopback listener that never accepts: the kernel completes handshakes
/// into its backlog (as for a SIGSTOPped daemon) until the backlog is full,
/// then drops SYNs (a black hole).
class SilentListener {
 public:
  explicit SilentListener(int backlog) : fd_(ListenOnLoopback(backlog, &port_)) {}
  ~SilentListener() {
    for (int fd : fillers_) {
      close(fd);
    }
    close(fd_);
  }
  SilentListener(const SilentListener&) = delete;
  SilentListener& operator=(const SilentListener&) = delete;

  /// Fills the accept queue so that further SYNs are dropped.
  void FillBacklog(int connections) {
    for (int i = 0; i < connections; ++i) {
      fillers_.push_back(StartConnect(port_));
    }
  }

  uint16_t port() const { return port_; }

 private:
  uint16_t port_ = 0;
  int fd_ = -1;
  std::vector<int> fillers_;
};

/// A loopback server on a thread of its own that serves connections one after
/// another, as its script says: it reads the request's head (to the blank
/// line) and the Content-Length bytes of body, keeps it for LastRequest(),
/// then sends `reply` in pieces of `chunk` bytes `pace` apart (all at once for
/// a zero pace) and closes the connection, or with `hold_open` keeps it open
/// (reading nothing more) until the client closes it or the test ends.
class ScriptedPeer {
 public:
  struct Script {
    std::string reply;
    std::chrono::milliseconds pace{0};
    size_t chunk = 1;
    bool hold_open = false;
  };

  explicit ScriptedPeer(Script script) : script_(std::move(script)), fd_(ListenOnLoopback(16, &port_)) {
    thread_ = std::thread([this] { Serve(); });
  }
  ~ScriptedPeer() {
    stop_ = true;
    thread_.join();
    close(fd_);
  }
  ScriptedPeer(const ScriptedPeer&) = delete;
  ScriptedPeer& operator=(const ScriptedPeer&) = delete;

  uint16_t port() const { return port_; }

  /// The last whole request received (head and body), "" before one.
  std::string LastRequest() {
    std::lock_guard<std::mutex> lock(mu_);
    return last_request_;
  }

 private:
  static constexpr int kPollMs = 20;  // how soon the thread sees stop_

  // Waits up to kPollMs for `events` on `fd`.
  static bool Ready(int fd, short events) {
    pollfd entry = {fd, events, 0};
    return poll(&entry, 1, kPollMs) > 0;
  }

  void Serve() {
    while (!stop_) {
      if (!Ready(fd_, POLLIN)) {
        continue;
      }
      int client = accept4(fd_, nullptr, nullptr, SOCK_CLOEXEC);
      if (client >= 0) {
        Answer(client);
        close(client);
      }
    }
  }

  void Answer(int client) {
    std::string request;
    char buffer[4096];
    size_t need = std::string::npos;  // bytes of the whole request, once the head is in
    while (!stop_ && request.size() != need) {
      if (!Ready(client, POLLIN)) {
        continue;
      }
      ssize_t n = recv(client, buffer, sizeof(buffer), 0);
      if (n <= 0) {
        return;
      }
      request.append(buffer, static_cast<size_t>(n));
      size_t head_end = request.find("\r\n\r\n");
      if (head_end != std::string::npos) {
        size_t length = request.find("Content-Length: ");
        need =
            head_end + 4 +
            (length == std::string::npos || length > head_end ? 0 : std::stoul(request.substr(length + 16)));
      }
    }
    {
      std::lock_guard<std::mutex> lock(mu_);
      last_request_ = request;
    }
    const size_t chunk = script_.pace.count() > 0 ? script_.chunk : script_.reply.size();
    for (size_t sent = 0; !stop_ && sent < script_.reply.size(); sent += chunk) {
      if (sent > 0) {
        std::this_thread::sleep_for(script_.pace);  // pacing the peer, not synchronising the test
      }
      const size_t size = std::min(chunk, script_.reply.size() - sent);
      if (send(client, script_.reply.data() + sent, size, MSG_NOSIGNAL) != static_cast<ssize_t>(size)) {
        return;
      }
    }
    while (script_.hold_open && !stop_) {
      if (Ready(client, POLLIN) && recv(client, buffer, sizeof(buffer), 0) <= 0) {
        return;  // the client closed
      }
    }
  }

  const Script script_;
  uint16_t port_ = 0;
  int fd_ = -1;
  std::atomic<bool> stop_{false};
  std::mutex mu_;
  std::string last_request_;  // guarded by mu_
  std::thread thread_;        // last: starts after the members it uses
};

}  // namespace twincache::testing

#endif  // TWINCACHE_TESTS_UNIT_TESTING_LOOPBACK_PEERS_H_
