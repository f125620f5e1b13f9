// Listener: binds the listening sockets before the daemon forks or drops root.
//
// Sockets are bound with plain POSIX calls so that a busy port fails the
// process (with the address in the message) before -d detaches it, and so
// that a port below 1024 can be bound before -u gives up root, as memcached
// does (memcached.c server_socket()). The server later adopts the descriptors.
#ifndef TWINCACHE_CORE_NET_LISTENER_H_
#define TWINCACHE_CORE_NET_LISTENER_H_

#include <cstdint>
#include <string>
#include <vector>

namespace twincache {

/// A bound, listening TCP socket.
struct ListenSocket {
  int fd = -1;
  std::string address;  ///< "127.0.0.1:11211" or "[::1]:11211", for logs and errors
  bool ipv6 = false;    ///< AF_INET6 (else AF_INET): the protocol an acceptor adopting `fd` needs
  bool notls = false;   ///< given as "notls:HOST" (memcached -l): stays in clear under -Z
};

/// Binds and listens on `port` of every address in `listen` (comma separated
/// host names or IP literals; "" means all interfaces, IPv4 and IPv6; an
/// entry "notls:HOST" binds HOST with ListenSocket::notls set). IPv6
/// sockets are IPV6_V6ONLY; SO_REUSEADDR is set, never SO_REUSEPORT (a busy
/// port fails). On failure closes what it opened, sets *error to "cannot
/// listen on ADDR: REASON" and returns false.
/// Thread safety: none needed (called once at start).
bool BindListeners(const std::string& listen, uint16_t port, int backlog, std::vector<ListenSocket>* out,
                   std::string* error);

}  // namespace twincache

#endif  // TWINCACHE_CORE_NET_LISTENER_H_
