// Acceptor: hands a socket that listener.h bound to Asio.
//
// Sockets are bound with POSIX calls before the daemon forks or drops root
// (listener.h); the client server and the replication link then adopt them
// here, each on its own io_context.
#ifndef TWINCACHE_CORE_NET_ACCEPTOR_H_
#define TWINCACHE_CORE_NET_ACCEPTOR_H_

#include <asio.hpp>

#include <memory>

#include "core/net/listener.h"

namespace twincache {

/// An acceptor on `context` that owns `listener.fd` (IPv4 or IPv6, as the
/// socket was bound). Thread safety: call on the thread that owns `context`
/// or before it runs.
std::unique_ptr<asio::ip::tcp::acceptor> AdoptListener(asio::io_context& context,
                                                       const ListenSocket& listener);

}  // namespace twincache

#endif  // TWINCACHE_CORE_NET_ACCEPTOR_H_
