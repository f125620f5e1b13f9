#include "core/admin/admin_server.h"

#include <unistd.h>

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <boost/beast/core/error.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http/error.hpp>
#include <boost/beast/http/field.hpp>
#include <boost/beast/http/message.hpp>
#include <boost/beast/http/parser.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/string_body.hpp>
#include <boost/beast/http/write.hpp>
#include <exception>
#include <optional>
#include <string_view>
#include <thread>
#include <utility>

#include "core/admin/admin_routes.h"
#include "core/base/log.h"
#include "core/config/settings.h"

namespace twincache {
namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = boost::beast::http;
using tcp = asio::ip::tcp;
using boost::system::error_code;
using Request = http::request<http::string_body>;
using Response = http::response<http::string_body>;

// Pause before accepting again after an accept failed (out of descriptors and
// the like), as the client port does (core/server/server.cc).
constexpr auto kAcceptRetry = std::chrono::milliseconds(50);
constexpr int kBadRequest = 400;
constexpr int kPayloadTooLarge = 413;
constexpr int kInternalError = 500;
constexpr unsigned kHttp11 = 11;  // Beast's version number of HTTP/1.1

// What the routes read; set by Start, read-only while serving.
struct Sources {
  ServerState* state = nullptr;
  const Replicator* replicator = nullptr;
  const AdminToken* token = nullptr;
};

// `routed` as Beast's response; `version` as Beast counts it (11: HTTP/1.1).
Response ToResponse(const AdminResponse& routed, unsigned version) {
  Response response(static_cast<http::status>(routed.status), version);
  response.set(http::field::content_type, routed.content_type);
  if (!routed.allow.empty()) {
    response.set(http::field::allow, routed.allow);
  }
  if (!routed.www_authenticate.empty()) {
    response.set(http::field::www_authenticate, routed.www_authenticate);
  }
  response.body() = routed.body;
  return response;
}

// A parse error of Beast's HTTP parser (the request is not HTTP/1.x).
bool IsHttpError(const error_code& ec) {
  return ec.category() == make_error_code(http::error::bad_method).category();
}

// One client connection: read a request, answer it, and again while the
// client keeps the connection alive. Owned by the handler in progress
// (shared_from_this); its handlers run on the connection's strand.
class AdminConnection : public std::enable_shared_from_this<AdminConnection> {
 public:
  AdminConnection(tcp::socket socket, const Sources& sources)
      : stream_(std::move(socket)), sources_(sources) {
    error_code ec;
    const tcp::endpoint endpoint = stream_.socket().remote_endpoint(ec);
    peer_ = ec ? "unknown" : JoinHostPort(endpoint.address().to_string(), endpoint.port());
  }

  // The header first, then the body, within one kAdminReadTimeout: Beast
  // 1.74's eager parse (http::async_read) drops the body_limit error of a
  // Content-Length seen with body bytes behind it in the same read, and goes
  // on to reserve and read the body (fixed in Boost 1.76, beast pull request
  // 2201); a header-only read reports it. The body then cannot exceed the
  // checked Content-Length, and chunked bodies are checked chunk by chunk.
  void ReadRequest() {
    parser_.emplace();
    parser_->body_limit(kAdminMaxBodyBytes);
    stream_.expires_after(kAdminReadTimeout);
    http::async_read_header(stream_, buffer_, *parser_, [self = shared_from_this()](error_code ec, size_t) {
      if (ec) {
        self->OnRequest(ec);
        return;
      }
      http::async_read(self->stream_, self->buffer_, *self->parser_,
                       [self](error_code body_ec, size_t) { self->OnRequest(body_ec); });
    });
  }

 private:
  void OnRequest(const error_code& ec) {
    bool keep_alive = false;
    if (ec == http::error::body_limit) {
      response_ = ToResponse(AdminError(kPayloadTooLarge, "body too large"), kHttp11);
    } else if (ec && IsHttpError(ec) && ec != http::error::end_of_stream &&
               ec != http::error::partial_message) {
      response_ = ToResponse(AdminError(kBadRequest, "bad request"), kHttp11);
    } else if (ec) {
      Close();  // timed out, closed or reset: nobody to answer
      return;
    } else {
      const Request& request = parser_->get();
      const AdminRequest routed{request.method_string(), request.target(), request.body(),
                                request[http::field::authorization], peer_};
      try {
        response_ = ToResponse(RouteAdminRequest(routed, sources_.state, sources_.replicator, sources_.token),
                               request.version());
        keep_alive = request.keep_alive();
      } catch (const std::exception& e) {
        // A route must not end the admin thread (nor the daemon) over one request.
        Log(LogLevel::kError, "admin_request_failed",
            {{"target", std::string(request.target())}, {"reason", e.what()}});
        response_ = ToResponse(AdminError(kInternalError, "internal error"), kHttp11);
      }
    }
    response_.keep_alive(keep_alive);
    response_.prepare_payload();
    stream_.expires_after(kAdminWriteTimeout);
    http::async_write(stream_, response_, [self = shared_from_this()](error_code write_ec, size_t) {
      self->OnWritten(write_ec);
    });
  }

  void OnWritten(const error_code& ec) {
    if (ec || !response_.keep_alive()) {
      Close();
      return;
    }
    ReadRequest();
  }

  // After a response without keep-alive: FIN, then the descriptor goes with
  // the last reference to this connection.
  void Close() {
    error_code ignored;
    stream_.socket().shutdown(tcp::socket::shutdown_send, ignored);
  }

  beast::tcp_stream stream_;
  beast::flat_buffer buffer_;
  std::optional<http::request_parser<http::string_body>> parser_;
  Response response_;
  const Sources& sources_;
  std::string peer_;  // "ADDR:PORT" of the client, for refusals' log lines
};

}  // namespace

// What serves the endpoint: made by Start, so that Bind leaves no io_context
// (and no epoll descriptor) behind to cross a fork. The acceptors share one
// strand; each connection has a strand of its own.
struct AdminServer::Serving {
  // One bound socket and the timer that paces its accepts after a failure.
  struct Listener {
    Listener(const asio::strand<asio::io_context::executor_type>& strand, const ListenSocket& socket)
        : acceptor(strand, socket.ipv6 ? tcp::v6() : tcp::v4(), socket.fd),
          retry(strand),
          address(socket.address) {}
    tcp::acceptor acceptor;
    asio::steady_timer retry;
    std::string address;
  };

  Serving(const std::vector<ListenSocket>& sockets, const Sources& serving_sources)
      : sources(serving_sources), accept_strand(asio::make_strand(context)) {
    listeners.reserve(sockets.size());
    for (const ListenSocket& socket : sockets) {
      listeners.emplace_back(accept_strand, socket);
    }
  }

  void Accept(size_t index) {
    Listener& listener = listeners[index];
    listener.acceptor.async_accept(
        asio::make_strand(context), [this, index](error_code ec, tcp::socket socket) {
          Listener& self = listeners[index];
          if (ec == asio::error::operation_aborted) {
            return;  // stopping
          }
          if (ec) {
            // Out of descriptors and the like: retry shortly rather than spin.
            Log(LogLevel::kError, "admin_accept_failed", {{"addr", self.address}, {"reason", ec.message()}});
            self.retry.expires_after(kAcceptRetry);
            self.retry.async_wait([this, index](error_code wait_ec) {
              if (!wait_ec) {
                Accept(index);
              }
            });
            return;
          }
          std::make_shared<AdminConnection>(std::move(socket), sources)->ReadRequest();
          Accept(index);
        });
  }

  const Sources sources;
  asio::io_context context{static_cast<int>(kAdminThreads)};
  asio::strand<asio::io_context::executor_type> accept_strand;
  std::vector<Listener> listeners;  // declared after context: closed before it goes
  std::vector<std::thread> threads;
};

AdminServer::AdminServer() = default;

AdminServer::~AdminServer() {
  Stop();
  if (!serving_) {
    for (const ListenSocket& socket : sockets_) {
      close(socket.fd);  // bound but never served
    }
  }
}

bool AdminServer::Bind(const std::string& address, std::string* error) {
  std::string host;
  uint16_t port = 0;
  if (!SplitHostPort(address, &host, &port) || address.back() == ']' ||
      address.find(':') == std::string::npos) {
    *error = "bad --admin-listen " + address + " (want HOST:PORT)";
    return false;
  }
  if (!BindListeners(host, port, kAdminBacklog, &sockets_, error)) {
    *error += " (admin)";
    return false;
  }
  port_ = port;
  return true;
}

void AdminServer::Start(ServerState* state, const Replicator* replicator, const AdminToken* token) {
  serving_ = std::make_unique<Serving>(sockets_, Sources{state, replicator, token});
  for (size_t i = 0; i < sockets_.size(); ++i) {
    Log(LogLevel::kInfo, "admin_listening", {{"addr", sockets_[i].address}});
    serving_->Accept(i);
  }
  for (size_t i = 0; i < kAdminThreads; ++i) {
    serving_->threads.emplace_back([context = &serving_->context] {
      // Until stopped; a handler that throws (out of memory, say) is logged
      // and the thread goes on serving (Asio's io_context::run contract).
      while (true) {
        try {
          context->run();
          return;
        } catch (const std::exception& e) {
          Log(LogLevel::kError, "admin_handler_failed", {{"reason", e.what()}});
        }
      }
    });
  }
}

void AdminServer::Stop() {
  if (!serving_ || serving_->threads.empty()) {
    return;
  }
  serving_->context.stop();
  for (std::thread& thread : serving_->threads) {
    thread.join();
  }
  serving_->threads.clear();
}

}  // namespace twincache
