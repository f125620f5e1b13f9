#include "healthcheck/probes.h"

#include <arpa/inet.h>
#include <netdb.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <memory>
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

// OpenSSL's reason for the last failure, the error queue emptied.
std::string TlsReason() {
  const unsigned long code = ERR_peek_last_error();
  char text[256] = "connection closed during the handshake";
  if (code != 0) {
    ERR_error_string_n(code, text, sizeof(text));
  }
  ERR_clear_error();
  return text;
}

// A TLS client session over a connected non-blocking socket: every OpenSSL
// call that would block waits (poll) for what it wants, within the deadline.
class TlsSession {
 public:
  TlsSession(int fd, const std::string& endpoint, const Deadline& deadline)
      : fd_(fd), endpoint_(endpoint), deadline_(deadline) {}

  // Handshakes as `tls` says; false with *error.
  bool Start(const CheckTls& tls, const std::string& host, std::string* error) {
    context_.reset(SSL_CTX_new(TLS_client_method()));
    if (context_ == nullptr) {
      *error = "TLS: " + TlsReason();
      return false;
    }
    SSL_CTX* ctx = context_.get();
    SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
    if (tls.verify) {
      const bool loaded = tls.ca_file.empty()
                              ? SSL_CTX_set_default_verify_paths(ctx) == 1
                              : SSL_CTX_load_verify_locations(ctx, tls.ca_file.c_str(), nullptr) == 1;
      if (!loaded) {
        *error = "TLS: cannot load the CA file " + tls.ca_file + ": " + TlsReason();
        return false;
      }
      SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, nullptr);
    }
    if (!tls.cert_file.empty()) {
      const std::string& key = tls.key_file.empty() ? tls.cert_file : tls.key_file;
      if (SSL_CTX_use_certificate_chain_file(ctx, tls.cert_file.c_str()) != 1 ||
          SSL_CTX_use_PrivateKey_file(ctx, key.c_str(), SSL_FILETYPE_PEM) != 1) {
        *error = "TLS: cannot load the client certificate " + tls.cert_file + ": " + TlsReason();
        return false;
      }
    }
    ssl_.reset(SSL_new(ctx));
    if (ssl_ == nullptr || SSL_set_fd(ssl_.get(), fd_) != 1) {
      *error = "TLS: " + TlsReason();
      return false;
    }
    const std::string& name = tls.server_name.empty() ? host : tls.server_name;
    if (tls.verify && SSL_set1_host(ssl_.get(), name.c_str()) != 1) {
      *error = "TLS: bad --tls-name " + name;
      return false;
    }
    in6_addr address{};
    if (inet_pton(AF_INET, name.c_str(), &address) != 1 && inet_pton(AF_INET6, name.c_str(), &address) != 1) {
      SSL_set_tlsext_host_name(ssl_.get(), name.c_str());  // SNI takes names only
    }
    if (!Call([this] { return SSL_connect(ssl_.get()); }, error)) {
      const long verify = SSL_get_verify_result(ssl_.get());
      if (tls.verify && verify != X509_V_OK) {
        *error = "TLS handshake with " + endpoint_ + " failed: " + X509_verify_cert_error_string(verify);
      } else if (error->empty()) {
        *error = "TLS handshake with " + endpoint_ + " failed: " + TlsReason();
      }
      return false;
    }
    return true;
  }

  bool Send(std::string_view data, std::string* error) {
    while (!data.empty()) {
      int written = 0;
      if (!Call(
              [&] {
                written = SSL_write(ssl_.get(), data.data(), static_cast<int>(data.size()));
                return written;
              },
              error)) {
        if (error->empty()) {
          *error = "cannot send to " + endpoint_ + ": " + TlsReason();
        }
        return false;
      }
      data.remove_prefix(static_cast<size_t>(written));
    }
    return true;
  }

  // Bytes read (> 0), 0 when the daemon closed, -1 with *error.
  ssize_t Receive(char* buffer, size_t size, std::string* error) {
    int n = 0;
    if (!Call(
            [&] {
              n = SSL_read(ssl_.get(), buffer, static_cast<int>(size));
              return n;
            },
            error)) {
      const int reason = SSL_get_error(ssl_.get(), n);
      if (error->empty() && (reason == SSL_ERROR_ZERO_RETURN || reason == SSL_ERROR_SYSCALL)) {
        ERR_clear_error();
        return 0;
      }
      if (error->empty()) {
        *error = "cannot read from " + endpoint_ + ": " + TlsReason();
      }
      return -1;
    }
    return n;
  }

 private:
  // Runs `operation` (an SSL_* call returning > 0 on success) until it
  // succeeds, waiting for the socket as OpenSSL asks. False on failure
  // (*error set only when the deadline passed).
  template <typename Operation>
  bool Call(Operation operation, std::string* error) {
    while (true) {
      const int result = operation();
      if (result > 0) {
        return true;
      }
      const int reason = SSL_get_error(ssl_.get(), result);
      short events = 0;
      if (reason == SSL_ERROR_WANT_READ) {
        events = POLLIN;
      } else if (reason == SSL_ERROR_WANT_WRITE) {
        events = POLLOUT;
      } else {
        return false;
      }
      if (WaitFor(fd_, events, deadline_) != Wait::kReady) {
        *error = NoAnswer(endpoint_, deadline_);
        return false;
      }
    }
  }

  struct FreeContext {
    void operator()(SSL_CTX* ctx) const { SSL_CTX_free(ctx); }
  };
  struct FreeSsl {
    void operator()(SSL* ssl) const { SSL_free(ssl); }
  };

  int fd_;
  const std::string& endpoint_;
  const Deadline& deadline_;
  std::unique_ptr<SSL_CTX, FreeContext> context_;
  std::unique_ptr<SSL, FreeSsl> ssl_;
};

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
                std::string* error, const CheckTls& tls, const CheckCredentials& credentials) {
  const std::string endpoint = Endpoint(host, port);
  // With -Y the daemon reads nothing but the auth set first (memcached's
  // ASCII auth); its "STORED" comes before the stats.
  std::string request;
  if (!credentials.user.empty()) {
    const std::string value = credentials.user + " " + credentials.password;
    request = "set twincache-check 0 0 " + std::to_string(value.size()) + "\r\n" + value + "\r\n";
  }
  request += "stats\r\n";
  bool auth_pending = !credentials.user.empty();
  Fd fd;
  if (!Connect(host, port, deadline, &fd, error)) {
    return false;
  }
  std::unique_ptr<TlsSession> session;
  if (tls.enabled) {
    session = std::make_unique<TlsSession>(fd.get(), endpoint, deadline);
    if (!session->Start(tls, host, error) || !session->Send(request, error)) {
      return false;
    }
  } else if (!SendAll(fd.get(), request, endpoint, deadline, error)) {
    return false;
  }
  reply->clear();
  char buffer[16384];
  while (auth_pending || !StatsReplyComplete(*reply)) {
    std::string first_line;
    if (auth_pending && reply->find("\r\n") != std::string::npos) {
      if (!reply->starts_with("STORED\r\n")) {
        *error = endpoint + " refused the check's authentication: " + reply->substr(0, reply->find("\r\n"));
        return false;
      }
      reply->erase(0, 8);
      auth_pending = false;
      continue;
    }
    if (!auth_pending && StatsReplyRejected(*reply, &first_line)) {
      *error = endpoint + " answered stats with: " + first_line.substr(0, 200);
      return false;
    }
    if (reply->size() > kMaxStatsReplyBytes) {
      *error = endpoint + " sent more than " + std::to_string(kMaxStatsReplyBytes) + " bytes for stats";
      return false;
    }
    if (session != nullptr) {
      const ssize_t n = session->Receive(buffer, sizeof(buffer), error);
      if (n > 0) {
        reply->append(buffer, static_cast<size_t>(n));
        continue;
      }
      if (n == 0) {
        *error = endpoint + " closed the connection before answering stats";
      }
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
