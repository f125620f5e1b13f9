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
#ifndef TWINCACHE_CORE_SERVER_CONNECTION_H_
#define TWINCACHE_CORE_SERVER_CONNECTION_H_

#include <asio.hpp>

#include <chrono>
#include <memory>
#include <string>
#include <vector>

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
};

/// Thread safety: a Connection is used only on its socket's io_context thread.
class Connection : public std::enable_shared_from_this<Connection> {
 public:
  Connection(asio::ip::tcp::socket socket, const ConnectionContext* context);
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
  const ConnectionContext* context_;
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
