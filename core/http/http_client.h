// HttpExchange: one HTTP/1.1 request and its response, bounded by deadlines;
// the client side of the daemon's admin endpoint (core/admin/admin_server.h)
// for twincache-check (GET /health) and twincache-notify (POST /role).
//
// HTTP is Boost.Beast on Boost.Asio (Debian's libboost1.74-dev, header-only:
// compiled into the programs, so they need no HTTP library at run time). Each
// exchange runs on an io_context of its own in the calling thread; nothing
// of it outlives the call.
//
// Why deadlines rather than timeouts per read: a hung (SIGSTOPped) daemon
// still completes TCP handshakes from its listen backlog and takes the
// request into its socket buffer, then never answers, and a peer can send
// one byte at a time forever. A deadline ends the whole exchange at a fixed
// time whatever the peer does (Beast's tcp_stream expiry, which closes the
// socket and cancels the operation in progress).
#ifndef TWINCACHE_CORE_HTTP_HTTP_CLIENT_H_
#define TWINCACHE_CORE_HTTP_HTTP_CLIENT_H_

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <string>

namespace twincache {

/// Largest response body HttpExchange accepts, in bytes; a longer one is
/// kBadResponse. The admin endpoint's answers are a few KB.
inline constexpr size_t kHttpMaxResponseBodyBytes = 1 << 20;

/// The request methods the admin endpoint serves.
enum class HttpMethod { kGet, kPost };

/// What to send. The request carries Host (HOST:PORT), Connection: close and,
/// with a body, Content-Type and Content-Length (RFC 9112, section 3.2 and
/// 9.6; RFC 9110, section 8.3).
struct HttpRequest {
  HttpMethod method = HttpMethod::kGet;
  std::string target;         ///< origin-form, e.g. "/health"
  std::string body;           ///< sent as it is; none when empty and method is kGet
  std::string content_type;   ///< e.g. "application/json"; ignored without a body
  std::string authorization;  ///< the Authorization header's value (RFC 9110, section 11.6.2), e.g.
                              ///< "Bearer TOKEN"; none sent when empty
};

/// How an exchange ended.
enum class HttpOutcome {
  kResponse,        ///< a whole response arrived (status and body set, whatever the status)
  kBadAddress,      ///< the host did not resolve (detail: the resolver's text)
  kConnectTimeout,  ///< no connection by connect_deadline: SYNs unanswered (a black hole, a full accept
                    ///< queue)
  kConnectFailed,   ///< every address refused or was unreachable (detail: e.g. "Connection refused")
  kTimeout,         ///< connected, but request and response were not through by the deadline
  kSendFailed,      ///< the request could not be sent (detail: e.g. "Broken pipe")
  kClosed,          ///< the peer closed or reset the connection before a whole response
  kBadResponse,     ///< not an HTTP/1.x response, or a body over kHttpMaxResponseBodyBytes (detail)
};

/// The result of HttpExchange.
struct HttpReply {
  HttpOutcome outcome = HttpOutcome::kConnectFailed;
  std::string detail;  ///< for failures: the system's or Beast's error text; "" for kResponse
  int status = 0;      ///< kResponse: the status code, e.g. 200
  std::string body;    ///< kResponse: the body, decoded from chunked transfer coding if need be
};

/// Sends `request` to http://HOST:PORT and reads the response. `host` is an IP
/// literal (IPv6 without brackets) or a name; a name is resolved first with
/// getaddrinfo, which no deadline bounds (callers that must not block use
/// literals or a watchdog). The connection to the first address that accepts
/// must be made by `connect_deadline`, and sending and reading the whole
/// response must end by `deadline` (both steady-clock points; a
/// connect_deadline after `deadline` counts as `deadline`). A step whose
/// deadline has passed when it would start fails at once (kConnectTimeout or
/// kTimeout). Never throws. Thread safety: reentrant.
HttpReply HttpExchange(const std::string& host, uint16_t port, const HttpRequest& request,
                       std::chrono::steady_clock::time_point connect_deadline,
                       std::chrono::steady_clock::time_point deadline);

}  // namespace twincache

#endif  // TWINCACHE_CORE_HTTP_HTTP_CLIENT_H_
