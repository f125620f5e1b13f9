#include "core/net/listener.h"

#include "core/base/errno_text.h"
#include "core/config/settings.h"

#include <arpa/inet.h>
#include <netdb.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <sstream>

namespace twincache {
namespace {

std::string FormatAddress(const sockaddr* sa) {
  char host[INET6_ADDRSTRLEN] = {0};
  if (sa->sa_family == AF_INET6) {
    const auto* in6 = reinterpret_cast<const sockaddr_in6*>(sa);
    inet_ntop(AF_INET6, &in6->sin6_addr, host, sizeof(host));
    return JoinHostPort(host, ntohs(in6->sin6_port));
  }
  const auto* in4 = reinterpret_cast<const sockaddr_in*>(sa);
  inet_ntop(AF_INET, &in4->sin_addr, host, sizeof(host));
  return JoinHostPort(host, ntohs(in4->sin_port));
}

// Binds every address getaddrinfo gives for `host` (nullptr: wildcard).
bool BindHost(const char* host, uint16_t port, int backlog, bool notls, std::vector<ListenSocket>* out,
              std::string* error) {
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
  addrinfo* list = nullptr;
  std::string service = std::to_string(port);
  int rc = getaddrinfo(host, service.c_str(), &hints, &list);
  if (rc != 0) {
    *error = "cannot listen on " + std::string(host ? host : "*") + ":" + service + ": " + gai_strerror(rc);
    return false;
  }
  bool ok = true;
  for (addrinfo* ai = list; ai != nullptr && ok; ai = ai->ai_next) {
    std::string address = FormatAddress(ai->ai_addr);
    int fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC, ai->ai_protocol);
    if (fd < 0) {
      // A wildcard bind on a host without IPv6 skips that family, as memcached does.
      if (host == nullptr && (errno == EAFNOSUPPORT || errno == EPROTONOSUPPORT)) {
        continue;
      }
      *error = "cannot listen on " + address + ": " + ErrnoText(errno);
      ok = false;
      break;
    }
    int one = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    if (ai->ai_family == AF_INET6) {
      setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one));
    }
    if (bind(fd, ai->ai_addr, ai->ai_addrlen) != 0 || listen(fd, backlog) != 0) {
      *error = "cannot listen on " + address + ": " + ErrnoText(errno);
      close(fd);
      ok = false;
      break;
    }
    out->push_back(ListenSocket{fd, address, ai->ai_family == AF_INET6, notls});
  }
  freeaddrinfo(list);
  return ok;
}

}  // namespace

bool BindListeners(const std::string& listen, uint16_t port, int backlog, std::vector<ListenSocket>* out,
                   std::string* error) {
  std::vector<ListenSocket> bound;
  bool ok = true;
  if (listen.empty()) {
    ok = BindHost(nullptr, port, backlog, false, &bound, error);
  } else {
    std::stringstream hosts(listen);
    std::string host;
    while (ok && std::getline(hosts, host, ',')) {
      const bool notls = host.starts_with(kNoTlsPrefix);
      if (notls) {
        host.erase(0, kNoTlsPrefix.size());
      }
      if (host.size() > 2 && host.front() == '[' && host.back() == ']') {
        host = host.substr(1, host.size() - 2);
      }
      if (!host.empty()) {
        ok = BindHost(host.c_str(), port, backlog, notls, &bound, error);
      }
    }
  }
  if (ok && bound.empty()) {
    *error = "cannot listen: no address to bind in '" + listen + "'";
    ok = false;
  }
  if (!ok) {
    for (const ListenSocket& s : bound) {
      close(s.fd);
    }
    return false;
  }
  out->insert(out->end(), bound.begin(), bound.end());
  return true;
}

}  // namespace twincache
