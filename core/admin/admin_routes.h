// The admin endpoint's routes (admin_server.h lists them): what each request
// answers, apart from HTTP itself. AdminServer parses requests and sends
// responses (Boost.Beast); these functions know no HTTP library, so that the
// daemon's state, whose headers bring standalone Asio, and Boost.Asio never
// meet in one translation unit (both define the same global-namespace
// helpers, e.g. asio_execution_set_done_fn).
#ifndef TWINCACHE_CORE_ADMIN_ADMIN_ROUTES_H_
#define TWINCACHE_CORE_ADMIN_ADMIN_ROUTES_H_

#include <string>
#include <string_view>

namespace twincache {

struct ServerState;
class Replicator;
class AdminToken;

/// A whole request as the routes see it.
struct AdminRequest {
  std::string_view method;         ///< "GET", "POST", ... (RFC 9110, section 9), case-sensitive
  std::string_view target;         ///< origin-form, e.g. "/health" or "/health?verbose"; the query is ignored
  std::string_view body;           ///< POST bodies: JSON
  std::string_view authorization;  ///< the Authorization header's value; "" when absent
  std::string_view peer;           ///< the client's "ADDR:PORT", for the log of a refused POST
};

/// A response to send: status, Content-Type, body and, for 405, Allow.
struct AdminResponse {
  int status = 200;
  std::string content_type;  ///< e.g. "application/json"
  std::string body;
  std::string allow;             ///< 405 only: the method the path takes, e.g. "POST"; "" otherwise
  std::string www_authenticate;  ///< 401 only: the WWW-Authenticate challenge (RFC 6750, section 3)
};

/// The response to `request` (admin_server.h): 200/503 for GET /health, 200
/// for GET /stats and /metrics, 200 or 400 (bad JSON) for POST /role and
/// /maintenance, which also change the role or maintenance flag in `state`
/// and log it; 405 for a known path with another method, 404 for any other
/// path. With a `token` (admin_token.h), a POST to /role or /maintenance
/// without `Authorization: Bearer TOKEN` gets 401 (with a WWW-Authenticate
/// challenge), one with another token 403; either changes nothing and is
/// logged (event=admin_refused path peer reason). GETs need no token.
/// `state` must be non-null; `replicator` is null without a twin; `token`
/// null: POSTs need no credentials (--admin-token-file not set).
/// Thread safety: as ServerState's members (any thread).
AdminResponse RouteAdminRequest(const AdminRequest& request, ServerState* state, const Replicator* replicator,
                                const AdminToken* token);

/// An error response: `status` with the JSON body {"error": MESSAGE}\n, the
/// shape of every admin error. Pure.
AdminResponse AdminError(int status, std::string_view message);

}  // namespace twincache

#endif  // TWINCACHE_CORE_ADMIN_ADMIN_ROUTES_H_
