#include "healthcheck/probes.h"

#include <netdb.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <string_view>

#include "core/base/errno_text.h"
#include "core/config/settings.h"
#include "core/http/http_client.h"

namespace twincache {
namespace {

// A stats reply is a few KB; more than this is not a memcached answering.
constexpr size_t kMaxStatsReplyBytes = 1 << 20;

// Owns one file descriptor; closes it on destruction.
class Fd {
 public:
  explicit Fd(int fd = -1) : fd_(fd) {}
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
  ~Fd() {
    if (fd_ >= 0) {
      close(fd_);
    }
  }
  void Reset(int fd) {
    if (fd_ >= 0) {
      close(fd_);
    }
    fd_ = fd;
  }
  int get() const { return fd_; }

 private:
  int fd_;
};

// "HOST:PORT", with an IPv6 literal in brackets.
std::string Endpoint(const std::string& host, uint16_t port) { return JoinHostPort(host, port); }

std::string NoAnswer(const std::string& endpoint, const Deadline& deadline) {
  return "no answer from " + endpoint + " within " + std::to_string(deadline.budget_ms()) + " ms";
}

enum class Wait { kReady, kTimeout, kError };

// Waits until `fd` is ready for `events` or the deadline passes. kReady also
// covers POLLERR/POLLHUP: the caller's next socket call reports those.
Wait WaitFor(int fd, short events, const Deadline& deadline) {
  while (true) {
    int ms = deadline.RemainingMs();
    if (ms == 0) {
      return Wait::kTimeout;
    }
    pollfd entry = {fd, events, 0};
    int ready = poll(&entry, 1, ms);
    if (ready > 0) {
      return Wait::kReady;
    }
    if (ready < 0 && errno != EINTR) {
      return Wait::kError;
    }
  }
}

// Connects a non-blocking socket to the first address of host:port that
// accepts. False with *error when none does or the deadline passes.
bool Connect(const std::string& host, uint16_t port, const Deadline& deadline, Fd* fd, std::string* error) {
  const std::string endpoint = Endpoint(host, port);
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_NUMERICSERV;
  addrinfo* addresses = nullptr;
  int rc = getaddrinfo(host.c_str(), std::to_string(port).c_str(), &hints, &addresses);
  if (rc != 0) {
    *error = "cannot resolve " + host + ": " + gai_strerror(rc);
    return false;
  }
  int last_errno = ECONNREFUSED;
  bool connected = false;
  for (addrinfo* a = addresses; a != nullptr && !connected; a = a->ai_next) {
    fd->Reset(socket(a->ai_family, a->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC, a->ai_protocol));
    if (fd->get() < 0) {
      last_errno = errno;
      continue;
    }
    if (connect(fd->get(), a->ai_addr, a->ai_addrlen) == 0) {
      connected = true;
      break;
    }
    if (errno != EINPROGRESS) {
      last_errno = errno;
      continue;
    }
    Wait wait = WaitFor(fd->get(), POLLOUT, deadline);
    if (wait == Wait::kTimeout) {
      freeaddrinfo(addresses);
      *error = NoAnswer(endpoint, deadline);
      return false;
    }
    int so_error = wait == Wait::kError ? errno : 0;
    socklen_t len = sizeof(so_error);
    if (wait == Wait::kReady && getsockopt(fd->get(), SOL_SOCKET, SO_ERROR, &so_error, &len) != 0) {
      so_error = errno;
    }
    if (so_error == 0) {
      connected = true;
    } else {
      last_errno = so_error;
    }
  }
  freeaddrinfo(addresses);
  if (!connected) {
    *error = "cannot connect to " + endpoint + ": " + ErrnoText(last_errno);
  }
  return connected;
}

bool SendAll(int fd, std::string_view data, const std::string& endpoint, const Deadline& deadline,
             std::string* error) {
  while (!data.empty()) {
    ssize_t n = send(fd, data.data(), data.size(), MSG_NOSIGNAL);
    if (n > 0) {
      data.remove_prefix(static_cast<size_t>(n));
      continue;
    }
    if (n < 0 && errno == EINTR) {
      continue;
    }
    if (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK) {
      *error = "cannot send to " + endpoint + ": " + ErrnoText(errno);
      return false;
    }
    if (WaitFor(fd, POLLOUT, deadline) != Wait::kReady) {
      *error = NoAnswer(endpoint, deadline);
      return false;
    }
  }
  return true;
}

// The stats reply is complete at its "END" line (protocol.txt: "terminated
// by the line END").
bool StatsReplyComplete(const std::string& reply) {
  return reply == "END\r\n" || reply.ends_with("\r\nEND\r\n");
}

// A reply whose first line is neither a STAT line nor END is an error line
// (ERROR, CLIENT_ERROR ..., SERVER_ERROR ...) or not memcached at all.
bool StatsReplyRejected(const std::string& reply, std::string* first_line) {
  size_t eol = reply.find("\r\n");
  if (eol == std::string::npos) {
    return false;
  }
  *first_line = reply.substr(0, eol);
  return !first_line->starts_with("STAT ") && *first_line != "END";
}

// Why no response came, for "no /health from admin HOST:PORT: ...".
std::string HttpFailureText(const HttpReply& reply) {
  switch (reply.outcome) {
    case HttpOutcome::kConnectFailed:
      return "cannot connect";
    case HttpOutcome::kClosed:
      return "connection closed before a complete response";
    case HttpOutcome::kSendFailed:
      return "cannot send the request (" + reply.detail + ")";
    case HttpOutcome::kBadAddress:
      return "cannot resolve the host (" + reply.detail + ")";
    default:
      return "bad response (" + reply.detail + ")";
  }
}

}  // namespace

bool FetchStats(const std::string& host, uint16_t port, const Deadline& deadline, std::string* reply,
                std::string* error) {
  const std::string endpoint = Endpoint(host, port);
  Fd fd;
  if (!Connect(host, port, deadline, &fd, error)) {
    return false;
  }
  if (!SendAll(fd.get(), "stats\r\n", endpoint, deadline, error)) {
    return false;
  }
  reply->clear();
  char buffer[16384];
  while (!StatsReplyComplete(*reply)) {
    std::string first_line;
    if (StatsReplyRejected(*reply, &first_line)) {
      *error = endpoint + " answered stats with: " + first_line.substr(0, 200);
      return false;
    }
    if (reply->size() > kMaxStatsReplyBytes) {
      *error = endpoint + " sent more than " + std::to_string(kMaxStatsReplyBytes) + " bytes for stats";
      return false;
    }
    ssize_t n = recv(fd.get(), buffer, sizeof(buffer), 0);
    if (n > 0) {
      reply->append(buffer, static_cast<size_t>(n));
      continue;
    }
    if (n == 0) {
      *error = endpoint + " closed the connection before answering stats";
      return false;
    }
    if (errno == EINTR) {
      continue;
    }
    if (errno != EAGAIN && errno != EWOULDBLOCK) {
      *error = "cannot read from " + endpoint + ": " + ErrnoText(errno);
      return false;
    }
    if (WaitFor(fd.get(), POLLIN, deadline) != Wait::kReady) {
      *error = NoAnswer(endpoint, deadline);
      return false;
    }
  }
  return true;
}

bool FetchHealth(const std::string& host, uint16_t port, const Deadline& deadline, int* status,
                 std::string* body, std::string* error) {
  const std::string endpoint = "admin " + Endpoint(host, port);
  HttpRequest request;
  request.target = "/health";
  // One deadline for connecting, sending and reading: the check's.
  HttpReply reply = HttpExchange(host, port, request, deadline.end(), deadline.end());
  if (reply.outcome == HttpOutcome::kConnectTimeout || reply.outcome == HttpOutcome::kTimeout ||
      (reply.outcome != HttpOutcome::kResponse && deadline.Expired())) {
    *error = NoAnswer(endpoint, deadline);
    return false;
  }
  if (reply.outcome != HttpOutcome::kResponse) {
    *error = "no /health from " + endpoint + ": " + HttpFailureText(reply);
    return false;
  }
  *status = reply.status;
  *body = std::move(reply.body);
  return true;
}

}  // namespace twincache
