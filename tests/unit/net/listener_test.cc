// BindListeners (core/net/listener.h): binding before fork, and the error an
// operator sees for a busy port or a bad address.
#include "core/net/listener.h"

#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <string>
#include <vector>

namespace twincache {
namespace {

uint16_t PortOf(int fd) {
  sockaddr_in address{};
  socklen_t length = sizeof(address);
  EXPECT_EQ(getsockname(fd, reinterpret_cast<sockaddr*>(&address), &length), 0);
  return ntohs(address.sin_port);
}

void CloseAll(const std::vector<ListenSocket>& sockets) {
  for (const ListenSocket& socket : sockets) {
    close(socket.fd);
  }
}

TEST(BindListenersTest, BindsEveryAddressOfTheList) {
  std::vector<ListenSocket> sockets;
  std::string error;
  ASSERT_TRUE(BindListeners("127.0.0.1", 0, 8, &sockets, &error)) << error;
  ASSERT_EQ(sockets.size(), 1u);
  EXPECT_GT(PortOf(sockets[0].fd), 0);
  EXPECT_EQ(sockets[0].address.rfind("127.0.0.1:", 0), 0u) << sockets[0].address;
  CloseAll(sockets);
}

TEST(BindListenersTest, BusyPortFailsWithTheAddressAndClosesWhatItOpened) {
  std::vector<ListenSocket> first;
  std::string error;
  ASSERT_TRUE(BindListeners("127.0.0.1", 0, 8, &first, &error)) << error;
  const uint16_t port = PortOf(first[0].fd);
  std::vector<ListenSocket> second;
  EXPECT_FALSE(BindListeners("127.0.0.1", port, 8, &second, &error));
  EXPECT_TRUE(second.empty());
  EXPECT_NE(error.find("cannot listen on 127.0.0.1:" + std::to_string(port)), std::string::npos) << error;
  CloseAll(first);
}

TEST(BindListenersTest, UnresolvableHostFails) {
  std::vector<ListenSocket> sockets;
  std::string error;
  EXPECT_FALSE(BindListeners("no-such-host.invalid", 0, 8, &sockets, &error));
  EXPECT_TRUE(sockets.empty());
  EXPECT_NE(error.find("cannot listen on"), std::string::npos) << error;
}

}  // namespace
}  // namespace twincache
