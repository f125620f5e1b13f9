// Server and Connection (core/server): a real Server on a loopback port,
// driven over TCP, with a scripted AckWaiter in place of the replication, so
// the --repl-ack sync contract of ack_waiter.h is tested without a twin:
// replies of a batch that may write are held until the ack, released by it,
// sent anyway (and counted degraded) on a refused ack or at the timeout;
// read-only batches never wait. Signals: SIGHUP runs the reload handler and
// the server serves on, SIGUSR1 and SIGTERM stop it with their StopMode.
#include "core/server/server.h"

#include <gtest/gtest.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <csignal>
#include <functional>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "core/base/clock.h"
#include "core/config/settings.h"
#include "core/net/listener.h"
#include "core/protocol/handler.h"
#include "core/protocol/server_state.h"
#include "core/replication/ack_waiter.h"
#include "core/store/store.h"

namespace twincache {
namespace {

constexpr auto kDeadline = std::chrono::seconds(5);  // bound of every wait below

// An AckWaiter whose acks the test gives by hand.
class ScriptedAckWaiter : public AckWaiter {
 public:
  explicit ScriptedAckWaiter(int64_t timeout_ms) : timeout_ms_(timeout_ms) {}

  uint64_t StreamOffset() const override { return offset_.load(); }
  void WaitForAck(uint64_t offset, std::function<void(bool)> done) override {
    std::lock_guard<std::mutex> lock(mu_);
    waits_.push_back(offset);
    pending_.push_back(std::move(done));
  }
  int64_t AckTimeoutMs() const override { return timeout_ms_; }
  void CountDegradedWrite() override { degraded_.fetch_add(1); }

  void set_offset(uint64_t offset) { offset_.store(offset); }
  size_t waits() {
    std::lock_guard<std::mutex> lock(mu_);
    return waits_.size();
  }
  uint64_t last_wait() {
    std::lock_guard<std::mutex> lock(mu_);
    return waits_.empty() ? 0 : waits_.back();
  }
  // Answers every pending wait with `acked`.
  void Answer(bool acked) {
    std::vector<std::function<void(bool)>> pending;
    {
      std::lock_guard<std::mutex> lock(mu_);
      pending.swap(pending_);
    }
    for (auto& done : pending) {
      done(acked);
    }
  }
  uint64_t degraded() const { return degraded_.load(); }

 private:
  const int64_t timeout_ms_;
  std::atomic<uint64_t> offset_{7};
  std::atomic<uint64_t> degraded_{0};
  std::mutex mu_;
  std::vector<uint64_t> waits_;
  std::vector<std::function<void(bool)>> pending_;
};

Settings TestSettings() {
  Settings settings;
  settings.threads = 1;
  return settings;
}

class ServerTest : public ::testing::Test {
 protected:
  void Start(int64_t ack_timeout_ms, std::function<void()> reload = {}) {
    waiter_ = std::make_unique<ScriptedAckWaiter>(ack_timeout_ms);
    std::vector<ListenSocket> listeners;
    std::string error;
    ASSERT_TRUE(BindListeners("127.0.0.1", 0, 16, &listeners, &error)) << error;
    sockaddr_in address{};
    socklen_t length = sizeof(address);
    ASSERT_EQ(getsockname(listeners[0].fd, reinterpret_cast<sockaddr*>(&address), &length), 0);
    port_ = ntohs(address.sin_port);
    server_ = std::make_unique<Server>(&state_, &handler_, listeners, waiter_.get());
    if (reload) {
      server_->SetReloadHandler(std::move(reload));
    }
    thread_ = std::thread([this] { stop_mode_ = server_->Run(); });
    fd_ = socket(AF_INET, SOCK_STREAM, 0);
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ASSERT_EQ(connect(fd_, reinterpret_cast<sockaddr*>(&address), sizeof(address)), 0);
  }

  void TearDown() override {
    if (fd_ >= 0) {
      close(fd_);
    }
    if (server_) {
      server_->Stop();
      thread_.join();
    }
  }

  void Send(const std::string& bytes) const {
    ASSERT_EQ(send(fd_, bytes.data(), bytes.size(), MSG_NOSIGNAL), static_cast<ssize_t>(bytes.size()));
  }

  // Reads until `expected` bytes arrived or kDeadline passed.
  std::string Receive(size_t expected) const {
    std::string got;
    const auto end = std::chrono::steady_clock::now() + kDeadline;
    while (got.size() < expected && std::chrono::steady_clock::now() < end) {
      pollfd p{fd_, POLLIN, 0};
      if (poll(&p, 1, 50) <= 0) {
        continue;
      }
      char buffer[512];
      const ssize_t n = recv(fd_, buffer, sizeof(buffer), 0);
      if (n <= 0) {
        break;
      }
      got.append(buffer, static_cast<size_t>(n));
    }
    return got;
  }

  // True when no byte is waiting on the socket now.
  bool NothingReceived() const {
    char byte = 0;
    return recv(fd_, &byte, 1, MSG_DONTWAIT) < 0 && (errno == EAGAIN || errno == EWOULDBLOCK);
  }

  // Polls until the waiter has seen `count` waits, or kDeadline.
  bool AwaitWaits(size_t count) const {
    const auto end = std::chrono::steady_clock::now() + kDeadline;
    while (waiter_->waits() < count) {
      if (std::chrono::steady_clock::now() >= end) {
        return false;
      }
      std::this_thread::yield();
    }
    return true;
  }

  ManualClock clock_{1'700'000'000'000};
  Store store_{StoreOptions{.limit_bytes = 1u << 24, .item_size_max = 1u << 20, .clock = &clock_}};
  ServerState state_{TestSettings(), &store_, &clock_};
  Handler handler_{&state_};
  std::unique_ptr<ScriptedAckWaiter> waiter_;
  std::unique_ptr<Server> server_;
  std::thread thread_;
  uint16_t port_ = 0;
  int fd_ = -1;
  StopMode stop_mode_ = StopMode::kNormal;  // what Run() returned, once thread_ is joined
};

// Polls until `done()` or kDeadline.
bool Await(const std::function<bool()>& done) {
  const auto end = std::chrono::steady_clock::now() + kDeadline;
  while (!done()) {
    if (std::chrono::steady_clock::now() >= end) {
      return false;
    }
    std::this_thread::yield();
  }
  return true;
}

// Signals as memcached (server.h): the test process signals itself; the
// Server's handlers are installed while it exists.
TEST_F(ServerTest, SighupRunsTheReloadHandlerAndTheServerServesOn) {
  std::atomic<int> reloads{0};
  Start(60'000, [&reloads] { reloads.fetch_add(1); });
  for (int i = 1; i <= 3; ++i) {
    ASSERT_EQ(kill(getpid(), SIGHUP), 0);
    ASSERT_TRUE(Await([&reloads, i] { return reloads.load() == i; })) << "reload " << i;
  }
  Send("version\r\n");
  EXPECT_EQ(Receive(8).substr(0, 8), "VERSION ");
  ASSERT_EQ(kill(getpid(), SIGUSR1), 0);
  thread_.join();
  server_.reset();
  EXPECT_EQ(stop_mode_, StopMode::kGraceful);
}

TEST_F(ServerTest, SigtermIsANormalStop) {
  Start(60'000);
  ASSERT_EQ(kill(getpid(), SIGTERM), 0);
  thread_.join();
  server_.reset();
  EXPECT_EQ(stop_mode_, StopMode::kNormal);
}

TEST_F(ServerTest, TheFirstStopRequestDecidesTheMode) {
  Start(60'000);
  server_->Stop(StopMode::kGraceful);
  server_->Stop(StopMode::kNormal);
  thread_.join();
  server_.reset();
  EXPECT_EQ(stop_mode_, StopMode::kGraceful);
}

TEST_F(ServerTest, ReadOnlyBatchIsAnsweredWithoutWaiting) {
  Start(60'000);
  Send("get nothing\r\nversion\r\n");
  const std::string reply = Receive(5);
  EXPECT_EQ(reply.substr(0, 5), "END\r\n");
  EXPECT_EQ(waiter_->waits(), 0u);
}

TEST_F(ServerTest, WriteRepliesWaitForTheAckOfTheStreamOffsetReached) {
  Start(60'000);
  waiter_->set_offset(42);
  Send("set k 0 0 1\r\nv\r\nget k\r\n");
  ASSERT_TRUE(AwaitWaits(1));
  EXPECT_EQ(waiter_->last_wait(), 42u);
  EXPECT_TRUE(NothingReceived()) << "replies must be held until the ack";
  waiter_->Answer(true);
  EXPECT_EQ(Receive(27), "STORED\r\nVALUE k 0 1\r\nv\r\nEND\r\n");
  EXPECT_EQ(waiter_->degraded(), 0u);
}

TEST_F(ServerTest, RefusedAckSendsTheReplyAndCountsItDegraded) {
  Start(60'000);
  Send("delete missing\r\n");
  ASSERT_TRUE(AwaitWaits(1));
  waiter_->Answer(false);
  EXPECT_EQ(Receive(11), "NOT_FOUND\r\n");
  EXPECT_EQ(waiter_->degraded(), 1u);
}

TEST_F(ServerTest, AckTimeoutSendsTheReplyAndCountsItDegraded) {
  Start(20);
  Send("set k 0 0 1\r\nv\r\n");
  ASSERT_TRUE(AwaitWaits(1));
  EXPECT_EQ(Receive(8), "STORED\r\n");
  EXPECT_EQ(waiter_->degraded(), 1u);
  waiter_->Answer(true);  // a late ack changes nothing
  Send("get k\r\n");
  EXPECT_EQ(Receive(20), "VALUE k 0 1\r\nv\r\nEND\r\n");
  EXPECT_EQ(waiter_->degraded(), 1u);
}

TEST_F(ServerTest, NoStreamYetMeansNothingToWaitFor) {
  Start(60'000);
  waiter_->set_offset(0);
  Send("set k 0 0 1\r\nv\r\n");
  EXPECT_EQ(Receive(8), "STORED\r\n");
  EXPECT_EQ(waiter_->waits(), 0u);
}

}  // namespace
}  // namespace twincache
