#include "core/net/acceptor.h"

namespace twincache {

std::unique_ptr<asio::ip::tcp::acceptor> AdoptListener(asio::io_context& context,
                                                       const ListenSocket& listener) {
  auto acceptor = std::make_unique<asio::ip::tcp::acceptor>(context);
  acceptor->assign(listener.ipv6 ? asio::ip::tcp::v6() : asio::ip::tcp::v4(), listener.fd);
  return acceptor;
}

}  // namespace twincache
