#include "core/net/acceptor.h"

#include <sys/socket.h>

namespace twincache {

std::unique_ptr<asio::ip::tcp::acceptor> AdoptListener(asio::io_context& context,
                                                       const ListenSocket& listener) {
  auto acceptor = std::make_unique<asio::ip::tcp::acceptor>(context);
  sockaddr_storage address{};
  socklen_t length = sizeof(address);
  getsockname(listener.fd, reinterpret_cast<sockaddr*>(&address), &length);
  acceptor->assign(address.ss_family == AF_INET6 ? asio::ip::tcp::v6() : asio::ip::tcp::v4(), listener.fd);
  return acceptor;
}

}  // namespace twincache
