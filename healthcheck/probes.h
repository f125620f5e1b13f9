// Probes: the two questions twincache-check asks the local daemon, each
// bounded by the check's one Deadline.
//
// A hung daemon (SIGSTOPped, or wedged) still completes TCP handshakes from the
// kernel's listen backlog and takes the request into its socket buffer, then
// never answers; a black-holed port never completes the handshake. Both probes
// therefore use only waits limited by what is left of the deadline: the
// memcached probe with a non-blocking socket and poll(2), the HTTP probe with
// core/http's HttpExchange given the deadline itself.
#ifndef TWINCACHE_HEALTHCHECK_PROBES_H_
#define TWINCACHE_HEALTHCHECK_PROBES_H_

#include <cstdint>
#include <string>

#include "healthcheck/check.h"
#include "healthcheck/deadline.h"

namespace twincache {

/// Sends "stats\r\n" to the memcached port host:port and reads the reply up
/// to its closing "END\r\n", all before `deadline` (memcached protocol.txt,
/// "General-purpose statistics"). Returns true with the whole reply in *reply;
/// false with a one-line reason in *error: "no answer from HOST:PORT within
/// N ms", "cannot connect to HOST:PORT: <errno text>", "HOST:PORT closed the
/// connection ...", or "HOST:PORT answered stats with: <first line>".
/// `host` may be a name (resolved by getaddrinfo, which the deadline does not
/// bound: use an address). With `tls.enabled` the exchange runs over TLS
/// (OpenSSL, TLS 1.2 or later) after a handshake within the same deadline,
/// verifying the daemon's certificate unless !tls.verify; a failed
/// handshake is "TLS handshake with HOST:PORT failed: REASON" (the
/// certificate verification's reason when that failed).
/// With `credentials.user` set, the request is first memcached's ASCII auth
/// set (twincached -Y) and a reply other than STORED is "HOST:PORT refused
/// the check's authentication: LINE".
/// Thread safety: reentrant.
bool FetchStats(const std::string& host, uint16_t port, const Deadline& deadline, std::string* reply,
                std::string* error, const CheckTls& tls = CheckTls{},
                const CheckCredentials& credentials = CheckCredentials{});

/// GETs /health from the daemon's admin endpoint host:port (HTTP/1.1,
/// Connection: close; core/http/http_client.h), connecting, sending and
/// reading all before `deadline`. Returns true with any HTTP status in
/// *status and the body in *body; false with a one-line reason in *error when
/// no response came: "no answer from admin HOST:PORT within N ms" (the
/// deadline passed), "no /health from admin HOST:PORT: cannot connect"
/// (refused), "...: connection closed before a complete response", "...: bad
/// response (DETAIL)" and the like. `host` may be a name (resolved by
/// getaddrinfo, which the deadline does not bound: use an address). Thread
/// safety: reentrant.
bool FetchHealth(const std::string& host, uint16_t port, const Deadline& deadline, int* status,
                 std::string* body, std::string* error);

}  // namespace twincache

#endif  // TWINCACHE_HEALTHCHECK_PROBES_H_
