// AdminServer (core/admin/admin_server.h) on real loopback sockets: the
// routes' answers over HTTP (core/http's client), keep-alive, bad and
// oversized requests, the read timeout, the listen backlog and the bind
// rules. The routes' documents themselves are health_test's and
// metrics_test's; the daemon's endpoint is test_admin.py's.
#include "core/admin/admin_server.h"

#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <chrono>
#include <string>
#include <vector>

#include "core/base/clock.h"
#include "core/config/settings.h"
#include "core/http/http_client.h"
#include "core/protocol/server_state.h"
#include "core/store/store.h"
#include "tests/unit/testing/loopback_peers.h"

namespace twincache {
namespace {

using std::chrono::milliseconds;
using std::chrono::steady_clock;

constexpr int64_t kStartMillis = 1'700'000'000'000;  // 2023-11-14, unix ms
constexpr milliseconds kBudget(2000);                // for exchanges that should succeed

std::string FreeAddress() { return "127.0.0.1:" + std::to_string(testing::FreePort()); }

class AdminServerTest : public ::testing::Test {
 protected:
  AdminServerTest() : clock_(kStartMillis), store_(Options(&clock_)), state_(Settings(), &store_, &clock_) {}

  static StoreOptions Options(Clock* clock) {
    StoreOptions options;
    options.limit_bytes = 1 << 20;
    options.shard_bits = 2;
    options.clock = clock;
    return options;
  }

  void StartServer() {
    std::string error;
    ASSERT_TRUE(server_.Bind(FreeAddress(), &error)) << error;
    ASSERT_NE(server_.port(), 0);
    server_.Start(&state_, nullptr);
  }

  HttpReply Exchange(HttpMethod method, const std::string& target, const std::string& body = "") {
    HttpRequest request;
    request.method = method;
    request.target = target;
    request.body = body;
    request.content_type = "application/json";
    const auto end = steady_clock::now() + kBudget;
    return HttpExchange("127.0.0.1", server_.port(), request, end, end);
  }

  // A connected blocking socket to the server, or -1.
  int Connect() const {
    int fd = testing::StartConnect(server_.port());
    pollfd entry = {fd, POLLOUT, 0};
    if (poll(&entry, 1, static_cast<int>(kBudget.count())) != 1) {
      close(fd);
      return -1;
    }
    return fd;
  }

  // Everything `fd` receives until the peer closes or `wait` passes with
  // nothing new.
  static std::string ReadAll(int fd, milliseconds wait) {
    std::string text;
    char buffer[4096];
    pollfd entry = {fd, POLLIN, 0};
    while (poll(&entry, 1, static_cast<int>(wait.count())) == 1) {
      ssize_t n = recv(fd, buffer, sizeof(buffer), 0);
      if (n <= 0) {
        break;
      }
      text.append(buffer, static_cast<size_t>(n));
    }
    return text;
  }

  ManualClock clock_;
  Store store_;
  ServerState state_;
  AdminServer server_;
};

TEST_F(AdminServerTest, RoutesAnswerOverHttp) {
  StartServer();
  HttpReply health = Exchange(HttpMethod::kGet, "/health");
  ASSERT_EQ(health.outcome, HttpOutcome::kResponse) << health.detail;
  EXPECT_EQ(health.status, 200);
  EXPECT_NE(health.body.find("\"status\":\"ok\""), std::string::npos) << health.body;
  EXPECT_EQ(Exchange(HttpMethod::kGet, "/health?verbose=1").status, 200);  // the query is ignored
  EXPECT_EQ(Exchange(HttpMethod::kGet, "/stats").status, 200);
  EXPECT_NE(Exchange(HttpMethod::kGet, "/metrics").body.find("memcached_up 1"), std::string::npos);

  HttpReply on = Exchange(HttpMethod::kPost, "/maintenance", R"({"enabled":true})");
  EXPECT_EQ(on.status, 200);
  EXPECT_EQ(on.body, "{\"maintenance\":true}\n");
  EXPECT_TRUE(state_.maintenance.load());
  HttpReply role = Exchange(HttpMethod::kPost, "/role", R"({"role":"MASTER","seq":7})");
  EXPECT_EQ(role.body, "{\"applied\":true,\"role\":\"MASTER\"}\n");
  EXPECT_EQ(state_.role.Get().role, "MASTER");

  for (const char* bad : {"not json", R"({"role":"MASTER"})", R"({"role":"MASTER","seq":8,"instance":5})",
                          R"({"role":"MASTER","seq":8,"priority":"high"})"}) {
    EXPECT_EQ(Exchange(HttpMethod::kPost, "/role", bad).status, 400) << bad;
  }
  EXPECT_EQ(state_.role.Get().seq, 7u);
  HttpReply missing = Exchange(HttpMethod::kGet, "/nothing-here");
  EXPECT_EQ(missing.status, 404);
  EXPECT_EQ(missing.body, "{\"error\":\"no such endpoint\"}\n");
  EXPECT_EQ(Exchange(HttpMethod::kGet, "/role").status, 405);
  EXPECT_EQ(Exchange(HttpMethod::kPost, "/health").status, 405);
}

TEST_F(AdminServerTest, MethodNotAllowedSaysWhichIs) {
  StartServer();
  int fd = Connect();
  ASSERT_GE(fd, 0);
  const std::string request =
      "PUT /maintenance HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\nConnection: close\r\n\r\n";
  ASSERT_EQ(send(fd, request.data(), request.size(), MSG_NOSIGNAL), static_cast<ssize_t>(request.size()));
  const std::string reply = ReadAll(fd, kBudget);
  close(fd);
  EXPECT_TRUE(reply.starts_with("HTTP/1.1 405 Method Not Allowed\r\n")) << reply;
  EXPECT_NE(reply.find("\r\nAllow: POST\r\n"), std::string::npos) << reply;
}

TEST_F(AdminServerTest, KeepAliveServesRequestsInTurn) {
  StartServer();
  int fd = Connect();
  ASSERT_GE(fd, 0);
  // Two pipelined requests on one connection, the second ending it.
  const std::string requests =
      "GET /health HTTP/1.1\r\nHost: x\r\n\r\n"
      "GET /nothing HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n";
  ASSERT_EQ(send(fd, requests.data(), requests.size(), MSG_NOSIGNAL), static_cast<ssize_t>(requests.size()));
  const std::string replies = ReadAll(fd, kBudget);
  close(fd);
  const size_t second = replies.find("HTTP/1.1 404 Not Found\r\n");
  ASSERT_NE(second, std::string::npos) << replies;
  EXPECT_TRUE(replies.starts_with("HTTP/1.1 200 OK\r\n")) << replies;
  EXPECT_NE(replies.substr(second).find("Connection: close\r\n"), std::string::npos) << replies;
}

TEST_F(AdminServerTest, BadAndOversizedRequestsAreRefused) {
  StartServer();
  struct Case {
    std::string request;
    std::string status_line;
  };
  const std::string too_long = std::to_string(kAdminMaxBodyBytes + 1);
  for (const Case& c : std::vector<Case>{
           {"NOT HTTP AT ALL\r\n\r\n", "HTTP/1.1 400 Bad Request\r\n"},
           {"POST /role HTTP/1.1\r\nHost: x\r\nContent-Length: " + too_long + "\r\n\r\n",
            "HTTP/1.1 413 Payload Too Large\r\n"},
           // Body bytes in the header's segment: Beast 1.74's eager parse
           // alone would miss the limit and reserve a terabyte.
           {"POST /role HTTP/1.1\r\nHost: x\r\nContent-Length: 1000000000000\r\n\r\n{\"role\":",
            "HTTP/1.1 413 Payload Too Large\r\n"},
       }) {
    int fd = Connect();
    ASSERT_GE(fd, 0);
    ASSERT_EQ(send(fd, c.request.data(), c.request.size(), MSG_NOSIGNAL),
              static_cast<ssize_t>(c.request.size()));
    const std::string reply = ReadAll(fd, kBudget);
    close(fd);
    EXPECT_TRUE(reply.starts_with(c.status_line)) << c.request << "\n" << reply;
    EXPECT_NE(reply.find("Connection: close\r\n"), std::string::npos) << reply;
  }
  EXPECT_EQ(Exchange(HttpMethod::kGet, "/health").status, 200);  // still serving
}

TEST_F(AdminServerTest, SilentClientIsClosedAfterTheReadTimeout) {
  StartServer();
  int fd = Connect();
  ASSERT_GE(fd, 0);
  const auto start = steady_clock::now();
  const std::string nothing = ReadAll(fd, kAdminReadTimeout + milliseconds(1000));
  const auto elapsed = steady_clock::now() - start;
  close(fd);
  EXPECT_EQ(nothing, "");
  EXPECT_GE(elapsed, kAdminReadTimeout - milliseconds(10));
  EXPECT_LT(elapsed, kAdminReadTimeout + milliseconds(900));  // closed, not given up on by ReadAll
}

TEST_F(AdminServerTest, BacklogHoldsManyConnectionsBeforeAccept) {
  // Bound but not serving: every handshake waits in the accept queue. A
  // backlog of 5 would drop SYNs after about 6.
  std::string error;
  ASSERT_TRUE(server_.Bind(FreeAddress(), &error)) << error;
  std::vector<int> clients;
  for (int i = 0; i < 20; ++i) {
    clients.push_back(testing::StartConnect(server_.port()));
  }
  int connected = 0;
  for (int fd : clients) {
    pollfd entry = {fd, POLLOUT, 0};
    int so_error = -1;
    socklen_t length = sizeof(so_error);
    if (poll(&entry, 1, 500) == 1 && getsockopt(fd, SOL_SOCKET, SO_ERROR, &so_error, &length) == 0 &&
        so_error == 0) {
      ++connected;
    }
    close(fd);
  }
  EXPECT_EQ(connected, 20);
}

TEST_F(AdminServerTest, BusyPortFailsAndStopEndsServing) {
  StartServer();
  const std::string address = "127.0.0.1:" + std::to_string(server_.port());
  {
    AdminServer second;  // no SO_REUSEPORT: the port is not shared
    std::string error;
    EXPECT_FALSE(second.Bind(address, &error));
    EXPECT_EQ(error, "cannot listen on " + address + ": Address already in use (admin)");
  }
  server_.Stop();
  server_.Stop();  // idempotent
  // Still bound (until destroyed), no longer answering.
  const auto end = steady_clock::now() + milliseconds(200);
  HttpRequest request;
  request.target = "/health";
  EXPECT_EQ(HttpExchange("127.0.0.1", server_.port(), request, end, end).outcome, HttpOutcome::kTimeout);
}

TEST_F(AdminServerTest, BadAddressesAreRefused) {
  for (const char* address : {"127.0.0.1", "[::1]", "nohostport", "127.0.0.1:99999", "127.0.0.1:0"}) {
    AdminServer server;
    std::string error;
    EXPECT_FALSE(server.Bind(address, &error)) << address;
    EXPECT_EQ(error, std::string("bad --admin-listen ") + address + " (want HOST:PORT)") << address;
  }
}

TEST_F(AdminServerTest, UnservedBindIsReleased) {
  uint16_t port = 0;
  {
    AdminServer bound;
    std::string error;
    ASSERT_TRUE(bound.Bind(FreeAddress(), &error)) << error;
    port = bound.port();
  }
  std::string error;
  EXPECT_TRUE(server_.Bind("127.0.0.1:" + std::to_string(port), &error)) << error;
}

}  // namespace
}  // namespace twincache
