#include "core/server/connection.h"

#include <algorithm>
#include <chrono>
#include <cstring>

#include "core/base/log.h"
#include "core/config/settings.h"

namespace twincache {
namespace {

constexpr size_t kInitialInput = 4096;               // memcached's DATA_BUFFER_SIZE is 2048
constexpr size_t kIdleInputMax = size_t{64} * 1024;  // shrink back to kInitialInput above this when empty
constexpr size_t kOutputHighWater = size_t{1024} * 1024;  // stop parsing with this much unsent
constexpr size_t kIdleOutputMax = size_t{1024} * 1024;    // release larger send buffers after use
constexpr size_t kAuthValueMax = 16384;  // an auth set's value: newer memcached's MAX_AUTH_REQ_LEN

std::string PeerName(const asio::ip::tcp::socket& socket) {
  asio::error_code ec;
  auto ep = socket.remote_endpoint(ec);
  if (ec) {
    return "unknown";
  }
  return JoinHostPort(ep.address().to_string(), ep.port());
}

}  // namespace

Connection::Connection(asio::ip::tcp::socket socket, const ConnectionContext* context,
                       std::shared_ptr<asio::ssl::context> tls)
    : socket_(std::move(socket)),
      tls_context_(std::move(tls)),
      context_(context),
      authenticated_(context->state->ascii_auth == nullptr),
      in_(kInitialInput),
      ack_timer_(socket_.get_executor()),
      last_read_(std::chrono::steady_clock::now()),
      idle_timer_(socket_.get_executor()) {
  peer_ = PeerName(socket_);
  if (tls_context_ != nullptr) {
    tls_stream_ = std::make_unique<asio::ssl::stream<asio::ip::tcp::socket&>>(socket_, *tls_context_);
  }
  switch (context_->state->settings.protocol) {
    case BindingProtocol::kAscii:
      protocol_ = Protocol::kText;
      break;
    case BindingProtocol::kBinary:
      protocol_ = Protocol::kBinary;
      break;
    case BindingProtocol::kAuto:
      break;
  }
  if (context_->state->settings.sasl) {
    binary_session_.sasl = &sasl_;  // every command but Version and SASL's waits for authentication
  }
}

Connection::~Connection() {
  context_->state->curr_connections.fetch_sub(1, std::memory_order_relaxed);
  if (LogEnabled(LogLevel::kDebug)) {
    Log(LogLevel::kDebug, "connection_closed", {{"client", peer_}});
  }
}

void Connection::Start() {
  asio::error_code ignored;
  socket_.set_option(asio::ip::tcp::no_delay(true), ignored);
  if (LogEnabled(LogLevel::kDebug)) {
    Log(LogLevel::kDebug, "connection_opened", {{"client", peer_}});
  }
  CheckIdle();
  if (tls_stream_ != nullptr) {
    tls_stream_->async_handshake(
        asio::ssl::stream_base::server,
        [self = shared_from_this()](const asio::error_code& ec) { self->OnHandshake(ec); });
    return;
  }
  Read();
}

// memcached counts a failed SSL_accept in ssl_handshake_errors and closes
// the socket (memcached.c drive_machine, conn_listening); it says so only
// with -v, so a port scan does not flood the log.
void Connection::OnHandshake(const asio::error_code& ec) {
  if (closed_) {
    return;
  }
  if (ec) {
    if (context_->tls != nullptr) {
      context_->tls->CountHandshakeError();
    }
    if (context_->state->verbosity.load(std::memory_order_relaxed) > 0) {
      Log(LogLevel::kInfo, "tls_handshake_failed", {{"client", peer_}, {"reason", ec.message()}});
    }
    Close("tls_handshake_failed");
    return;
  }
  Read();
}

// -o idle_timeout, as memcached's conn_timeout_thread: a connection that has
// received nothing for that many seconds and is waiting for a command (not
// writing replies, not holding them for an ack) is closed without a reply.
// The timer sleeps until the connection could first be idle long enough and
// reads the setting anew each time, as a SIGHUP may change it; with 0 the
// connection is not checked again.
void Connection::CheckIdle() {
  const int64_t timeout_s = context_->state->idle_timeout_s.load(std::memory_order_relaxed);
  if (timeout_s <= 0 || closed_) {
    return;
  }
  const auto timeout = std::chrono::seconds(timeout_s);
  const auto idle = std::chrono::steady_clock::now() - last_read_;
  if (idle >= timeout && !writing_ && !waiting_ack_) {
    Close("idle_timeout");
    return;
  }
  idle_timer_.expires_after(idle >= timeout ? timeout : timeout - idle);
  idle_timer_.async_wait([self = shared_from_this()](const asio::error_code& ec) {
    if (!ec) {
      self->CheckIdle();
    }
  });
}

// Makes free space after in_end_, compacting or growing the buffer. Returns
// false when one request would need more than the limits allow.
bool Connection::MakeReadRoom() {
  if (in_start_ == in_end_) {
    in_start_ = in_end_ = 0;
    if (in_.size() > kIdleInputMax) {
      std::vector<char>(kInitialInput).swap(in_);
    }
  }
  if (in_end_ < in_.size()) {
    return true;
  }
  if (in_start_ > 0) {
    std::memmove(in_.data(), in_.data() + in_start_, in_end_ - in_start_);
    in_end_ -= in_start_;
    in_start_ = 0;
    return true;
  }
  const ParserLimits& limits = context_->limits;
  size_t max = limits.item_size_max + limits.max_get_line + 4096;
  if (in_.size() >= max) {
    return false;
  }
  in_.resize(std::min(max, in_.size() * 2));
  return true;
}

void Connection::Read() {
  if (reading_ || closing_ || paused_ || closed_ || waiting_ack_) {
    return;
  }
  if (!MakeReadRoom()) {
    Close("request_too_large");
    return;
  }
  reading_ = true;
  WithStream([this](auto& stream) {
    stream.async_read_some(
        asio::buffer(in_.data() + in_end_, in_.size() - in_end_),
        [self = shared_from_this()](const asio::error_code& ec, size_t n) { self->OnRead(ec, n); });
  });
}

void Connection::OnRead(const asio::error_code& ec, size_t n) {
  reading_ = false;
  if (ec) {
    Close(ec == asio::error::eof ? "eof" : "read_error");
    return;
  }
  context_->stats->Add(Stat::kBytesRead, n);
  last_read_ = std::chrono::steady_clock::now();
  in_end_ += n;
  ProcessInput();
}

// Parses and handles every complete request in the buffer, in order.
void Connection::ProcessInput() {
  while (!closing_) {
    if (swallow_ > 0) {
      size_t n = std::min(swallow_, in_end_ - in_start_);
      in_start_ += n;
      swallow_ -= n;
      if (swallow_ > 0) {
        break;
      }
    }
    if (out_.size() >= kOutputHighWater) {
      paused_ = true;
      break;
    }
    paused_ = false;
    std::string_view input(in_.data() + in_start_, in_end_ - in_start_);
    if (protocol_ == Protocol::kUndecided) {
      if (input.empty()) {
        break;
      }
      protocol_ =
          static_cast<unsigned char>(input[0]) == kBinaryRequestMagic ? Protocol::kBinary : Protocol::kText;
    }
    const Step step = protocol_ == Protocol::kBinary ? BinaryStep(input) : TextStep(input);
    if (step.need_more) {
      break;
    }
    in_start_ += step.consumed;
    swallow_ = step.swallow;
    if (step.close) {
      closing_ = true;
    }
  }
  if (HoldForAck()) {
    return;
  }
  Flush();
  if (closing_ && !writing_) {
    Close("quit");
    return;
  }
  Read();
}

// -Y: the auth set (memcached's try_read_command_asciiauth). Every other
// line gets "CLIENT_ERROR unauthenticated"; a refused user or password
// leaves the connection open for another try, as memcached does. Counted
// in auth_cmds and auth_errors, as memcached counts them.
Connection::Step Connection::AuthStep(std::string_view input) {
  const AuthParseResult result = ParseAuthRequest(input, kAuthValueMax);
  Step step;
  if (result.status == ParseStatus::kNeedMore) {
    step.need_more = true;
    return step;
  }
  step.consumed = result.consumed;
  if (result.status == ParseStatus::kError) {
    if (result.close) {
      Log(LogLevel::kWarning, "client_error", {{"client", peer_}, {"reason", std::string(result.error)}});
      step.close = true;
    } else {
      out_.append(result.error).append("\r\n");
    }
    return step;
  }
  context_->stats->Add(Stat::kAuthCmds);
  if (context_->state->ascii_auth->Check(result.user, result.password)) {
    authenticated_ = true;
    out_.append("STORED\r\n");
  } else {
    context_->stats->Add(Stat::kAuthErrors);
    Log(LogLevel::kWarning, "auth_failed", {{"client", peer_}, {"protocol", "ascii"}});
    out_.append("CLIENT_ERROR authentication failure\r\n");
  }
  return step;
}

Connection::Step Connection::TextStep(std::string_view input) {
  if (!authenticated_) {
    return AuthStep(input);
  }
  const ParseResult result = ParseRequest(input, context_->limits, &request_);
  Step step;
  if (result.status == ParseStatus::kNeedMore) {
    step.need_more = true;
    return step;
  }
  step.consumed = result.consumed;
  step.swallow = result.swallow;
  if (result.status == ParseStatus::kError) {
    if (!result.noreply) {
      out_.append(result.error).append("\r\n");
    }
    if (result.close) {
      Log(LogLevel::kWarning, "client_error", {{"client", peer_}, {"reason", std::string(result.error)}});
      step.close = true;
    }
    return step;
  }
  batch_wrote_ = batch_wrote_ || MayWrite(request_);
  step.close = context_->handler->Handle(request_, context_->stats, &out_) == HandleOutcome::kClose;
  return step;
}

Connection::Step Connection::BinaryStep(std::string_view input) {
  const BinaryParseResult result = ParseBinaryRequest(input, context_->limits, &binary_request_);
  Step step;
  if (result.status == BinaryParseStatus::kNeedMore) {
    step.need_more = true;
    return step;
  }
  step.consumed = result.consumed;
  step.swallow = result.swallow;
  if (result.status == BinaryParseStatus::kError) {
    if (!result.silent) {
      AppendBinaryError(binary_request_, result.error, &out_);
    }
    if (result.close) {
      const std::string reason =
          result.silent ? "binary: bad magic" : "binary: " + std::string(BinaryStatusMessage(result.error));
      Log(LogLevel::kWarning, "client_error", {{"client", peer_}, {"reason", reason}});
      step.close = true;
    }
    return step;
  }
  batch_wrote_ = batch_wrote_ || MayWrite(binary_request_);
  step.close = context_->binary_handler->Handle(binary_request_, &binary_session_, context_->stats, &out_) ==
               HandleOutcome::kClose;
  return step;
}

// --repl-ack sync: when this batch may have written, its replies wait until
// the peer has applied the stream up to the offset reached now (ack_waiter.h),
// or --repl-ack-timeout-ms (then the write counts as degraded). Reading waits
// too, so replies stay in order.
bool Connection::HoldForAck() {
  AckWaiter* waiter = context_->ack_waiter;
  if (waiter == nullptr || !batch_wrote_) {
    return false;
  }
  batch_wrote_ = false;
  const uint64_t offset = waiter->StreamOffset();
  if (offset == 0) {
    return false;
  }
  waiting_ack_ = true;
  const uint64_t generation = ++ack_generation_;
  auto executor = socket_.get_executor();
  ack_timer_.expires_after(std::chrono::milliseconds(waiter->AckTimeoutMs()));
  // The timer's handler owns the connection while it waits: it runs once,
  // cancelled by the ack or at the timeout.
  ack_timer_.async_wait([self = shared_from_this(), generation](const asio::error_code& ec) {
    if (!ec) {
      self->OnAckDone(generation, false);
    }
  });
  std::weak_ptr<Connection> weak = shared_from_this();
  waiter->WaitForAck(offset, [weak, generation, executor](bool acked) {
    asio::post(executor, [weak, generation, acked] {
      if (auto self = weak.lock()) {
        self->OnAckDone(generation, acked);
      }
    });
  });
  return true;
}

void Connection::OnAckDone(uint64_t generation, bool acked) {
  if (!waiting_ack_ || generation != ack_generation_ || closed_) {
    return;
  }
  waiting_ack_ = false;
  ack_timer_.cancel();
  if (!acked) {
    context_->ack_waiter->CountDegradedWrite();
  }
  Flush();
  if (closing_ && !writing_) {
    Close("quit");
    return;
  }
  if (paused_) {
    ProcessInput();
    return;
  }
  Read();
}

void Connection::Flush() {
  if (writing_ || out_.empty() || closed_ || waiting_ack_) {
    return;
  }
  std::swap(out_, sending_);
  writing_ = true;
  WithStream([this](auto& stream) {
    asio::async_write(
        stream, asio::buffer(sending_),
        [self = shared_from_this()](const asio::error_code& ec, size_t n) { self->OnWritten(ec, n); });
  });
}

void Connection::OnWritten(const asio::error_code& ec, size_t n) {
  writing_ = false;
  if (ec) {
    Close("write_error");
    return;
  }
  context_->stats->Add(Stat::kBytesWritten, n);
  sending_.clear();
  if (sending_.capacity() > kIdleOutputMax) {
    std::string().swap(sending_);
  }
  if (paused_ && !reading_ && !waiting_ack_) {
    ProcessInput();  // resumes parsing what was held back, then reads on
    return;
  }
  Flush();
  if (closing_ && !writing_ && !waiting_ack_) {
    Close("quit");
  }
}

void Connection::Close(const char* reason) {
  if (closed_) {
    return;
  }
  closed_ = true;
  if (LogEnabled(LogLevel::kDebug)) {
    Log(LogLevel::kDebug, "connection_closing", {{"client", peer_}, {"reason", reason}});
  }
  ack_timer_.cancel();
  idle_timer_.cancel();
  asio::error_code ignored;
  socket_.shutdown(asio::ip::tcp::socket::shutdown_both, ignored);
  socket_.close(ignored);
}

}  // namespace twincache
