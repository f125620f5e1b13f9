// HttpExchange (core/http/http_client.h) against real loopback peers: what it
// sends, what it reads, and that each way of failing ends by its deadline
// with its outcome.
#include "core/http/http_client.h"

#include <gtest/gtest.h>

#include <chrono>
#include <string>

#include "tests/unit/testing/loopback_peers.h"

namespace twincache {
namespace {

using std::chrono::milliseconds;
using std::chrono::steady_clock;
using testing::ScriptedPeer;
using testing::SilentListener;

constexpr milliseconds kBudget(200);
// Slack for scheduling on a loaded two-core machine.
constexpr milliseconds kSlack(150);
constexpr char kHealthReply[] =
    "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 16\r\n\r\n{\"status\":\"ok\"}\n";

HttpRequest Get(const std::string& target) {
  HttpRequest request;
  request.target = target;
  return request;
}

// An exchange with kBudget for everything, and how long it took.
HttpReply Exchange(uint16_t port, const HttpRequest& request, milliseconds* elapsed = nullptr) {
  const auto start = steady_clock::now();
  HttpReply reply = HttpExchange("127.0.0.1", port, request, start + kBudget, start + kBudget);
  if (elapsed != nullptr) {
    *elapsed = std::chrono::duration_cast<milliseconds>(steady_clock::now() - start);
  }
  return reply;
}

TEST(HttpExchangeTest, GetReadsStatusAndBody) {
  ScriptedPeer peer({kHealthReply});
  HttpReply reply = Exchange(peer.port(), Get("/health"));
  ASSERT_EQ(reply.outcome, HttpOutcome::kResponse) << reply.detail;
  EXPECT_EQ(reply.status, 200);
  EXPECT_EQ(reply.body, "{\"status\":\"ok\"}\n");
  EXPECT_EQ(reply.detail, "");
  const std::string request = peer.LastRequest();
  EXPECT_TRUE(request.starts_with("GET /health HTTP/1.1\r\n")) << request;
  EXPECT_NE(request.find("\r\nHost: 127.0.0.1:" + std::to_string(peer.port()) + "\r\n"), std::string::npos)
      << request;
  EXPECT_NE(request.find("\r\nConnection: close\r\n"), std::string::npos) << request;
  EXPECT_EQ(request.find("Content-Length"), std::string::npos) << request;
}

TEST(HttpExchangeTest, PostSendsTheBodyWithItsType) {
  ScriptedPeer peer({"HTTP/1.1 400 Bad Request\r\nContent-Length: 3\r\n\r\nno\n"});
  HttpRequest request;
  request.method = HttpMethod::kPost;
  request.target = "/role";
  request.body = R"({"role":"MASTER","seq":1})";
  request.content_type = "application/json";
  HttpReply reply = Exchange(peer.port(), request);
  ASSERT_EQ(reply.outcome, HttpOutcome::kResponse) << reply.detail;
  EXPECT_EQ(reply.status, 400);  // any status is a response
  EXPECT_EQ(reply.body, "no\n");
  const std::string sent = peer.LastRequest();
  EXPECT_TRUE(sent.starts_with("POST /role HTTP/1.1\r\n")) << sent;
  EXPECT_NE(sent.find("\r\nContent-Type: application/json\r\n"), std::string::npos) << sent;
  EXPECT_NE(sent.find("\r\nContent-Length: 25\r\n"), std::string::npos) << sent;
  EXPECT_TRUE(sent.ends_with("\r\n\r\n" + request.body)) << sent;
}

TEST(HttpExchangeTest, ChunkedBodyIsDecoded) {
  ScriptedPeer peer(
      {"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n"});
  HttpReply reply = Exchange(peer.port(), Get("/"));
  ASSERT_EQ(reply.outcome, HttpOutcome::kResponse) << reply.detail;
  EXPECT_EQ(reply.body, "abcde");
}

TEST(HttpExchangeTest, BodyEndedByCloseIsWhole) {
  // HTTP/1.0 style: no length, the body ends with the connection (RFC 9112, 6.3).
  ScriptedPeer peer({"HTTP/1.1 200 OK\r\n\r\nuntil close"});
  HttpReply reply = Exchange(peer.port(), Get("/"));
  ASSERT_EQ(reply.outcome, HttpOutcome::kResponse) << reply.detail;
  EXPECT_EQ(reply.body, "until close");
}

TEST(HttpExchangeTest, RefusedConnectFailsAtOnce) {
  uint16_t port;
  {
    SilentListener listener(1);
    port = listener.port();
  }  // closed: connecting is refused
  milliseconds elapsed{};
  HttpReply reply = Exchange(port, Get("/health"), &elapsed);
  EXPECT_EQ(reply.outcome, HttpOutcome::kConnectFailed);
  EXPECT_EQ(reply.detail, "Connection refused");
  EXPECT_LT(elapsed, kBudget);
}

TEST(HttpExchangeTest, FullBacklogEndsAtTheConnectDeadline) {
  SilentListener listener(0);
  listener.FillBacklog(3);
  const auto start = steady_clock::now();
  HttpReply reply = HttpExchange("127.0.0.1", listener.port(), Get("/health"), start + milliseconds(100),
                                 start + kBudget * 5);
  const auto elapsed = steady_clock::now() - start;
  EXPECT_EQ(reply.outcome, HttpOutcome::kConnectTimeout);
  EXPECT_GE(elapsed, milliseconds(99));
  EXPECT_LT(elapsed, milliseconds(100) + kSlack);
}

TEST(HttpExchangeTest, SilentPeerEndsAtTheDeadline) {
  // Connected from the backlog, the request taken, no answer: a SIGSTOPped daemon.
  SilentListener listener(16);
  milliseconds elapsed{};
  HttpReply reply = Exchange(listener.port(), Get("/health"), &elapsed);
  EXPECT_EQ(reply.outcome, HttpOutcome::kTimeout);
  EXPECT_GE(elapsed, kBudget - milliseconds(1));
  EXPECT_LT(elapsed, kBudget + kSlack);
}

TEST(HttpExchangeTest, DribblingPeerEndsAtTheDeadline) {
  // A header line every 10 ms: each read succeeds well within any per-read
  // timeout, the response never ends. The deadline bounds the whole.
  std::string endless = "HTTP/1.1 200 OK\r\n";
  for (int i = 0; i < 1000; ++i) {
    endless += "X: y\r\n";
  }
  ScriptedPeer peer({endless, milliseconds(10), 6});
  milliseconds elapsed{};
  HttpReply reply = Exchange(peer.port(), Get("/health"), &elapsed);
  EXPECT_EQ(reply.outcome, HttpOutcome::kTimeout);
  EXPECT_GE(elapsed, kBudget - milliseconds(1));
  EXPECT_LT(elapsed, kBudget + kSlack);
}

TEST(HttpExchangeTest, PeerClosingEarlyIsClosed) {
  for (const char* partial : {"", "HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nshort"}) {
    ScriptedPeer peer({partial});
    HttpReply reply = Exchange(peer.port(), Get("/health"));
    EXPECT_EQ(reply.outcome, HttpOutcome::kClosed) << partial;
  }
}

TEST(HttpExchangeTest, NotHttpIsABadResponse) {
  ScriptedPeer peer({"STAT pid 1\r\nEND\r\n\r\n"});
  HttpReply reply = Exchange(peer.port(), Get("/health"));
  EXPECT_EQ(reply.outcome, HttpOutcome::kBadResponse);
  EXPECT_FALSE(reply.detail.empty());
}

TEST(HttpExchangeTest, BodyOverTheLimitIsABadResponse) {
  const std::string length = std::to_string(kHttpMaxResponseBodyBytes + 1);
  ScriptedPeer peer({"HTTP/1.1 200 OK\r\nContent-Length: " + length + "\r\n\r\n" +
                     std::string(kHttpMaxResponseBodyBytes + 1, 'x')});
  HttpReply reply = Exchange(peer.port(), Get("/"));
  EXPECT_EQ(reply.outcome, HttpOutcome::kBadResponse) << reply.detail;
}

TEST(HttpExchangeTest, PassedDeadlineFailsAtOnce) {
  ScriptedPeer peer({kHealthReply});
  const auto past = steady_clock::now() - milliseconds(1);
  HttpReply reply = HttpExchange("127.0.0.1", peer.port(), Get("/health"), past, past);
  // A loopback connect may complete before the expired timer is seen; the
  // read cannot.
  EXPECT_TRUE(reply.outcome == HttpOutcome::kConnectTimeout || reply.outcome == HttpOutcome::kTimeout)
      << static_cast<int>(reply.outcome);
  EXPECT_LT(steady_clock::now() - past, kSlack);
}

}  // namespace
}  // namespace twincache
