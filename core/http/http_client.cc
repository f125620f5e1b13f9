#include "core/http/http_client.h"

#include <algorithm>
#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core/error.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http/error.hpp>
#include <boost/beast/http/field.hpp>
#include <boost/beast/http/message.hpp>
#include <boost/beast/http/parser.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/string_body.hpp>
#include <boost/beast/http/verb.hpp>
#include <boost/beast/http/write.hpp>
#include <exception>
#include <utility>

#include "core/config/settings.h"

namespace twincache {
namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = boost::beast::http;
using tcp = asio::ip::tcp;
using boost::system::error_code;

constexpr unsigned kHttp11 = 11;  // Beast's version number of HTTP/1.1

// Runs one asynchronous operation, started by `start` with a completion
// handler, on `context` until it and the stream's timer are done; its error.
// The exchange is a sequence of such steps in the calling thread.
template <typename Start>
error_code RunStep(asio::io_context& context, Start start) {
  error_code result;
  start([&result](error_code ec, auto&&...) { result = ec; });
  context.restart();
  context.run();
  return result;
}

// Reads a whole message into `parser` within its body limit. The header goes
// first: Beast 1.74's eager parse (http::async_read) drops the body_limit
// error of a Content-Length seen with body bytes behind it in the same read
// and goes on to reserve and read the body (fixed in Boost 1.76, beast pull
// request 2201); a header-only read reports it. The body then cannot exceed
// the checked Content-Length, and chunked bodies are checked chunk by chunk.
error_code ReadLimited(asio::io_context& context, beast::tcp_stream& stream, beast::flat_buffer& buffer,
                       http::response_parser<http::string_body>& parser) {
  error_code ec = RunStep(
      context, [&](auto handler) { http::async_read_header(stream, buffer, parser, std::move(handler)); });
  if (ec) {
    return ec;
  }
  return RunStep(context,
                 [&](auto handler) { http::async_read(stream, buffer, parser, std::move(handler)); });
}

// A response that ended early: the peer closed or reset the connection.
bool IsClosed(const error_code& ec) {
  return ec == http::error::end_of_stream || ec == http::error::partial_message || ec == asio::error::eof ||
         ec == asio::error::connection_reset || ec == asio::error::broken_pipe;
}

HttpReply Failure(HttpOutcome outcome, const error_code& ec) {
  HttpReply reply;
  reply.outcome = outcome;
  reply.detail = ec.message();
  return reply;
}

// HttpExchange, which may throw.
HttpReply Exchange(const std::string& host, uint16_t port, const HttpRequest& request,
                   std::chrono::steady_clock::time_point connect_deadline,
                   std::chrono::steady_clock::time_point deadline) {
  asio::io_context context(1);
  error_code ec;
  tcp::resolver resolver(context);
  const tcp::resolver::results_type addresses =
      resolver.resolve(host, std::to_string(port), tcp::resolver::numeric_service, ec);
  if (ec) {
    return Failure(HttpOutcome::kBadAddress, ec);
  }

  // Beast's stream expiry bounds every operation started after it is set: when
  // it passes, the socket is closed and the operation ends with
  // error::timeout. An operation whose result is already there completes
  // even with its expiry passed, so each step first checks its deadline.
  beast::tcp_stream stream(context);
  const auto connect_by = std::min(connect_deadline, deadline);
  if (std::chrono::steady_clock::now() >= connect_by) {
    return Failure(HttpOutcome::kConnectTimeout, beast::error::timeout);
  }
  stream.expires_at(connect_by);
  ec = RunStep(context, [&](auto handler) { stream.async_connect(addresses, std::move(handler)); });
  if (ec == beast::error::timeout) {
    return Failure(HttpOutcome::kConnectTimeout, ec);
  }
  if (ec) {
    return Failure(HttpOutcome::kConnectFailed, ec);
  }

  http::request<http::string_body> message(
      request.method == HttpMethod::kPost ? http::verb::post : http::verb::get, request.target, kHttp11);
  message.set(http::field::host, JoinHostPort(host, port));
  if (!request.authorization.empty()) {
    message.set(http::field::authorization, request.authorization);
  }
  message.keep_alive(false);
  if (!request.body.empty()) {
    message.set(http::field::content_type, request.content_type);
    message.body() = request.body;
  }
  message.prepare_payload();
  if (std::chrono::steady_clock::now() >= deadline) {
    return Failure(HttpOutcome::kTimeout, beast::error::timeout);
  }
  stream.expires_at(deadline);
  ec = RunStep(context, [&](auto handler) { http::async_write(stream, message, std::move(handler)); });
  if (ec == beast::error::timeout) {
    return Failure(HttpOutcome::kTimeout, ec);
  }
  if (ec) {
    return Failure(HttpOutcome::kSendFailed, ec);
  }

  beast::flat_buffer buffer;
  http::response_parser<http::string_body> parser;
  parser.body_limit(kHttpMaxResponseBodyBytes);
  if (std::chrono::steady_clock::now() >= deadline) {
    return Failure(HttpOutcome::kTimeout, beast::error::timeout);
  }
  ec = ReadLimited(context, stream, buffer, parser);
  if (ec == beast::error::timeout) {
    return Failure(HttpOutcome::kTimeout, ec);
  }
  if (IsClosed(ec)) {
    return Failure(HttpOutcome::kClosed, ec);
  }
  if (ec) {
    return Failure(HttpOutcome::kBadResponse, ec);
  }
  HttpReply reply;
  reply.outcome = HttpOutcome::kResponse;
  reply.status = static_cast<int>(parser.get().result_int());
  reply.body = std::move(parser.get().body());
  return reply;
}

}  // namespace

HttpReply HttpExchange(const std::string& host, uint16_t port, const HttpRequest& request,
                       std::chrono::steady_clock::time_point connect_deadline,
                       std::chrono::steady_clock::time_point deadline) {
  try {
    return Exchange(host, port, request, connect_deadline, deadline);
  } catch (const std::exception& e) {
    // Asio throws only where it cannot start (no descriptor left for its
    // reactor, say), and allocation may fail.
    HttpReply reply;
    reply.outcome = HttpOutcome::kConnectFailed;
    reply.detail = e.what();
    return reply;
  }
}

}  // namespace twincache
