// Tests for the link's crypto (repl_auth.h, repl_tls.h): known answers, the
// fail-closed paths of AuthMac and the PSK derivation, and real TLS 1.3 PSK
// handshakes between two LinkTls contexts over a loopback TCP connection.
#include "core/replication/repl_tls.h"

#include <gtest/gtest.h>

#include <array>
#include <asio.hpp>
#include <cstdint>
#include <string>

#include "core/replication/repl_auth.h"

namespace twincache {
namespace {

std::string Hex(const std::array<uint8_t, 32>& bytes) {
  static constexpr char kDigits[] = "0123456789abcdef";
  std::string out;
  for (uint8_t b : bytes) {
    out += kDigits[b >> 4];
    out += kDigits[b & 0xf];
  }
  return out;
}

std::array<uint8_t, 32> Counting(uint8_t first) {
  std::array<uint8_t, 32> out{};
  for (size_t i = 0; i < out.size(); ++i) {
    out[i] = static_cast<uint8_t>(first + i);
  }
  return out;
}

constexpr std::array<uint8_t, 32> kZero{};

// Reference values from Python's hmac/hashlib (RFC 2104, RFC 5869 with an
// all-zero salt of hash length, as HKDF without a salt is defined).
TEST(AuthMacTest, KnownAnswer) {
  std::array<uint8_t, 32> mac{};
  ASSERT_TRUE(AuthMac("correct horse battery staple", Counting(0), 0x0102030405060708, Counting(32), &mac));
  EXPECT_EQ(Hex(mac), "ca422c7f55f8ab5a26ee734477c992fa158e68bcaadd9375bf7ae83b215e109d");
}

TEST(AuthMacTest, FailsClosedWhenTheDigestCannotBeFetched) {
  std::array<uint8_t, 32> mac = Counting(1);
  EXPECT_FALSE(AuthMac("secret", Counting(0), 7, Counting(32), &mac, "NO-SUCH-DIGEST"));
  EXPECT_EQ(mac, kZero);  // zeroed, and false: the caller refuses the link
}

TEST(AuthMacTest, FailsClosedOnADigestOfAnotherSize) {
  std::array<uint8_t, 32> mac = Counting(1);
  EXPECT_FALSE(AuthMac("secret", Counting(0), 7, Counting(32), &mac, "SHA512"));
  EXPECT_EQ(mac, kZero);
}

TEST(AuthMacTest, FailsClosedOnAnEmptySecret) {
  std::array<uint8_t, 32> mac{};
  EXPECT_FALSE(AuthMac("", Counting(0), 7, Counting(32), &mac));
}

TEST(DeriveLinkPskTest, KnownAnswer) {
  std::array<uint8_t, 32> psk{};
  std::string error;
  ASSERT_TRUE(DeriveLinkPsk("correct horse battery staple", &psk, &error)) << error;
  EXPECT_EQ(Hex(psk), "f5b1ed2a2894c0d06aadada2584d3de8ab5fa202dd044a33ccfe6ef91a83a0f7");
}

TEST(DeriveLinkPskTest, FailsClosed) {
  std::array<uint8_t, 32> psk = Counting(1);
  std::string error;
  EXPECT_FALSE(DeriveLinkPsk("secret", &psk, &error, "NO-SUCH-DIGEST"));
  EXPECT_EQ(psk, kZero);
  EXPECT_NE(error.find("cannot derive the link key"), std::string::npos) << error;
  EXPECT_EQ(error.find("secret\""), std::string::npos);

  psk = Counting(1);
  error.clear();
  EXPECT_FALSE(DeriveLinkPsk("", &psk, &error));
  EXPECT_EQ(psk, kZero);
  EXPECT_NE(error.find("empty"), std::string::npos) << error;
}

TEST(LinkTlsTest, CreateRefusesAnEmptySecret) {
  std::string error;
  EXPECT_EQ(LinkTls::Create("", &error), nullptr);
  EXPECT_NE(error.find("cannot derive the link key"), std::string::npos) << error;
}

// One TLS handshake over loopback TCP: a client with `client_secret`, a
// server with `server_secret`; then, if both succeeded, one message each way.
struct HandshakeResult {
  asio::error_code client;
  asio::error_code server;
  std::string server_got;
};

HandshakeResult Handshake(const std::string& client_secret, const std::string& server_secret) {
  std::string error;
  auto client_tls = LinkTls::Create(client_secret, &error);
  auto server_tls = LinkTls::Create(server_secret, &error);
  EXPECT_NE(client_tls, nullptr) << error;
  EXPECT_NE(server_tls, nullptr) << error;
  asio::io_context io;
  asio::ip::tcp::acceptor acceptor(io, asio::ip::tcp::endpoint(asio::ip::make_address("127.0.0.1"), 0));
  asio::ip::tcp::socket client_socket(io);
  asio::ip::tcp::socket server_socket(io);
  client_socket.connect(acceptor.local_endpoint());
  acceptor.accept(server_socket);
  asio::ssl::stream<asio::ip::tcp::socket&> client(client_socket, client_tls->context());
  asio::ssl::stream<asio::ip::tcp::socket&> server(server_socket, server_tls->context());
  HandshakeResult result;
  std::string message = "HELLO over TLS";
  std::array<char, 64> buffer{};
  // A failed side closes its socket, as a link does, so the other side's
  // handshake ends too.
  client.async_handshake(asio::ssl::stream_base::client, [&](const asio::error_code& ec) {
    result.client = ec;
    if (ec) {
      client_socket.close();
      return;
    }
    asio::async_write(client, asio::buffer(message), [](const asio::error_code&, size_t) {});
  });
  server.async_handshake(asio::ssl::stream_base::server, [&](const asio::error_code& ec) {
    result.server = ec;
    if (ec) {
      server_socket.close();
      return;
    }
    asio::async_read(server, asio::buffer(buffer.data(), message.size()),
                     [&](const asio::error_code& read_ec, size_t n) {
                       if (!read_ec) {
                         result.server_got.assign(buffer.data(), n);
                       }
                     });
  });
  io.run_for(std::chrono::seconds(10));  // bounded: a hang fails the test below
  return result;
}

TEST(LinkTlsTest, SameSecretHandshakesAndCarriesBytes) {
  HandshakeResult result = Handshake("shared secret 1", "shared secret 1");
  EXPECT_FALSE(result.client) << result.client.message();
  EXPECT_FALSE(result.server) << result.server.message();
  EXPECT_EQ(result.server_got, "HELLO over TLS");
}

TEST(LinkTlsTest, DifferentSecretsRefuseBothWays) {
  HandshakeResult result = Handshake("shared secret 1", "shared secret 2");
  EXPECT_TRUE(result.client);
  EXPECT_TRUE(result.server);
  EXPECT_EQ(LinkTlsErrorText(result.server), "binder does not verify");
  EXPECT_EQ(result.server_got, "");
}

}  // namespace
}  // namespace twincache
