// Connection: one client's TCP session on a worker thread.
//
// A connection reads into a private buffer, parses every complete request in
// it, runs each through the Handler in order and gathers all their replies into
// one output buffer, which it writes with a single send while it reads on
// (double buffering). Pipelined requests are thus answered in order with few
// writes, as memcached's conn state machine does (memcached.c drive_machine).
// A connection speaks the text protocol or the binary one: with -B auto the
// first byte it receives decides (0x80 is binary), as memcached's
// try_read_command_negotiate, and it keeps that protocol to the end.
//
// Memory per connection is bounded: input grows only as far as one request
// needs (a line up to ParserLimits, a value up to -I) and shrinks back when
// idle; when unsent replies pass a high-water mark the connection stops
// reading until the client takes them, so a client that never reads its
// replies stalls only itself. An idle connection is one pending async read
// (and, with -o idle_timeout, one timer that closes it once idle that long).
//
// Client TLS (memcached -Z): on a TLS listener the connection wraps its
// socket in an asio::ssl::stream and completes the server handshake before
// reading any request, so protocol detection sees the decrypted bytes; a
// failed handshake (a plaintext client, a refused client certificate) is
// counted (ssl_handshake_errors), logged and closes the connection. Every
// read and write goes through one helper that picks the stream (WithStream),
// so the rest of the logic is the same for both; the choice costs one branch
// per read or write call, not per byte. The connection keeps the
// asio::ssl::context it was accepted with, so a certificate refresh swaps in
// a new context for new connections without touching this one.
//
// ASCII authentication (memcached -Y): until the client authenticated, each
// text request is read as the auth `set` only (parser.h ParseAuthRequest)
// and answered with STORED, or the CLIENT_ERROR memcached gives.
#ifndef TWINCACHE_CORE_SERVER_CONNECTION_H_
#define TWINCACHE_CORE_SERVER_CONNECTION_H_

#include <asio.hpp>
#include <asio/ssl.hpp>

#include <chrono>
#include <memory>
#include <string>
#include <vector>

#include "core/net/tls_context.h"
#include "core/protocol/binary_handler.h"
#include "core/protocol/binary_parser.h"
#include "core/protocol/handler.h"
#include "core/protocol/parser.h"
#include "core/protocol/request.h"
#include "core/protocol/server_state.h"
#include "core/protocol/stats.h"
#include "core/replication/ack_waiter.h"

namespace twincache {

/// What every connection of a worker shares (owned by the Server).
struct ConnectionContext {
  ServerState* state = nullptr;
  AckWaiter* ack_waiter = nullptr;  ///< set with --repl-ack sync: replies wait for the peer's ack
  Handler* handler = nullptr;
  BinaryHandler* binary_handler = nullptr;
  ThreadStats* stats = nullptr;  ///< the worker thread's counters
  ParserLimits limits;
  TlsContext* tls = nullptr;  ///< with -Z: counts failed handshakes (Server::SetTls)
};

/// Thread safety: a Connection is used only on its socket's io_context thread.
class Connection : public std::enable_shared_from_this<Connection> {
 public:
  /// `tls`: the TLS context of a TLS listener (the handshake comes first);
  /// nullptr for a connection in clear.
  Connection(asio::ip::tcp::socket socket, const ConnectionContext* context,
             std::shared_ptr<asio::ssl::context> tls = nullptr);
  ~Connection();
  Connection(const Connection&) = delete;
  Connection& operator=(const Connection&) = delete;

  /// Starts reading. Keeps itself alive through its pending handlers.
  void Start();

 private:
  // What one parse-and-handle step did with the input, in either protocol.
  struct Step {
    bool need_more = false;  // nothing complete: wait for more bytes
    size_t consumed = 0;     // input bytes the step accounts for
    size_t swallow = 0;      // then discard this many more (a value over -I, an unknown opcode's body)
    bool close = false;      // close once the replies are written
  };

  // Calls operation(stream) with the TLS stream or the plain socket.
  template <typename Operation>
  void WithStream(Operation&& operation) {
    if (tls_stream_ != nullptr) {
      operation(*tls_stream_);
    } else {
      operation(socket_);
    }
  }

  void OnHandshake(const asio::error_code& ec);
  Step AuthStep(std::string_view input);
  void Read();
  void OnRead(const asio::error_code& ec, size_t n);
  void OnWritten(const asio::error_code& ec, size_t n);
  void ProcessInput();
  Step TextStep(std::string_view input);
  Step BinaryStep(std::string_view input);
  void Flush();
  bool MakeReadRoom();
  void Close(const char* reason);
  bool HoldForAck();
  void OnAckDone(uint64_t generation, bool acked);
  void CheckIdle();

  asio::ip::tcp::socket socket_;
  std::shared_ptr<asio::ssl::context> tls_context_;                        // kept while tls_stream_ uses it
  std::unique_ptr<asio::ssl::stream<asio::ip::tcp::socket&>> tls_stream_;  // null in clear
  const ConnectionContext* context_;
  bool authenticated_ = true;  // false with -Y until the auth set succeeded
  std::string peer_;
  enum class Protocol { kUndecided, kText, kBinary };
  Protocol protocol_ = Protocol::kUndecided;  // fixed by -B, else by the first byte received
  Request request_;
  BinaryRequest binary_request_;
  SaslSession sasl_;  // with -S: this connection's SASL conversation (binary_session_.sasl)
  BinarySession binary_session_;

  std::vector<char> in_;  // bytes [in_start_, in_end_) are unparsed input
  size_t in_start_ = 0;
  size_t in_end_ = 0;
  size_t swallow_ = 0;  // input bytes still to discard (value over -I)

  std::string out_;      // replies not yet handed to the socket
  std::string sending_;  // replies the socket is writing now
  bool reading_ = false;
  bool writing_ = false;
  bool paused_ = false;   // stopped parsing because out_ passed the high-water mark
  bool closing_ = false;  // close once sending_ and out_ are written
  bool closed_ = false;
  bool batch_wrote_ = false;  // a request since the last HoldForAck may have written (MayWrite)
  bool waiting_ack_ = false;  // replies held until the peer applied this batch's writes
  uint64_t ack_generation_ = 0;
  asio::steady_timer ack_timer_;
  std::chrono::steady_clock::time_point last_read_;  // when bytes last arrived (-o idle_timeout)
  asio::steady_timer idle_timer_;
};

}  // namespace twincache

#endif  // TWINCACHE_CORE_SERVER_CONNECTION_H_
