// rate_load: a fixed-rate (open-loop) get/set load over the memcached text
// protocol, for tests/bench/pair.sh.
//
// Requests are due at fixed intervals (start + i / rate), dealt round-robin
// to the connections, whatever the server's replies do; a connection whose
// replies lag pipelines the next request behind the last. Each request's
// latency runs from the moment it was due, not from when it was written, to
// the end of its reply, so a stalled server is charged for every request it
// delays (Gil Tene's "coordinated omission": a closed-loop client such as
// memcaslap waits for replies and so stops asking while the server stalls).
// The wire format follows memcached's protocol.txt ("Storage commands",
// "Retrieval command"); one thread, nonblocking sockets and ppoll(2), whose
// timespec timeout wakes the loop for the next due request.
//
// Usage: rate_load [options]
//   --host ADDR           IPv4 address of the server (default 127.0.0.1)
//   --port N              its port (default 11211)
//   --rate N              requests per second, all connections together (default 10000)
//   --seconds N           length of the run (default 10)
//   --connections N       connections (default 8)
//   --set-fraction F      share of sets, 0..1; the rest are gets (default 0.1)
//   --keys N              distinct keys, drawn uniformly (default 10000)
//   --key-size N          bytes of each key (default 32, as memcaslap's in run.sh)
//   --value-size N        bytes of each set's value (default 100)
//   --no-prefill          do not store every key once before the run
// Prints one line of "name value" pairs (latencies in microseconds):
//   rate_load rate 20000 achieved 19998 requests 200000 gets 180000 sets 20000 hits 180000
//   errors 0 unanswered 0 p50_us 61.2 p90_us ... p99_us ... p999_us ... max_us ...
// Exit status 0 when every request was answered without an error reply, 1
// otherwise, 2 on bad options or when the server cannot be reached.
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <deque>
#include <random>
#include <string>
#include <string_view>
#include <vector>

#include "core/base/errno_text.h"
#include "core/protocol/text_tokens.h"

namespace {

using Clock = std::chrono::steady_clock;

struct Options {
  std::string host = "127.0.0.1";
  uint32_t port = 11211;
  uint64_t rate = 10000;
  uint64_t seconds = 10;
  uint32_t connections = 8;
  double set_fraction = 0.1;
  uint32_t keys = 10000;
  uint32_t key_size = 32;
  uint32_t value_size = 100;
  bool prefill = true;
};

// How long the run waits for replies after the last request was due (s).
constexpr int64_t kDrainSeconds = 5;
constexpr size_t kReadChunk = size_t{64} * 1024;

struct Pending {
  Clock::time_point due;
  bool get = false;
};

enum class ReplyStatus { kNeedMore, kDone, kError };

struct Connection {
  int fd = -1;
  std::string out;  // written from out_sent
  size_t out_sent = 0;
  std::string in;  // read, parsed from in_start
  size_t in_start = 0;
  std::deque<Pending> pending;
};

struct Counters {
  uint64_t gets = 0;
  uint64_t sets = 0;
  uint64_t hits = 0;
  uint64_t errors = 0;
  std::vector<int64_t> latency_ns;
};

bool ParseOptions(int argc, char** argv, Options* options) {
  for (int i = 1; i < argc; ++i) {
    const std::string_view name = argv[i];
    if (name == "--no-prefill") {
      options->prefill = false;
      continue;
    }
    if (i + 1 >= argc) {
      std::fprintf(stderr, "rate_load: %s needs a value\n", argv[i]);
      return false;
    }
    const std::string_view value = argv[++i];
    bool ok = true;
    if (name == "--host") {
      options->host = std::string(value);
    } else if (name == "--port") {
      ok = twincache::ParseUint32(value, &options->port) && options->port > 0 && options->port < 65536;
    } else if (name == "--rate") {
      ok = twincache::ParseUint64(value, &options->rate) && options->rate > 0;
    } else if (name == "--seconds") {
      ok = twincache::ParseUint64(value, &options->seconds) && options->seconds > 0;
    } else if (name == "--connections") {
      ok = twincache::ParseUint32(value, &options->connections) && options->connections > 0 &&
           options->connections <= 4096;
    } else if (name == "--set-fraction") {
      char* end = nullptr;
      const std::string text(value);
      options->set_fraction = std::strtod(text.c_str(), &end);
      ok = end != text.c_str() && *end == '\0' && options->set_fraction >= 0 && options->set_fraction <= 1;
    } else if (name == "--keys") {
      ok = twincache::ParseUint32(value, &options->keys) && options->keys > 0;
    } else if (name == "--key-size") {
      // memcached's KEY_MAX_LENGTH is 250; the key holds a number of up to 10 digits.
      ok = twincache::ParseUint32(value, &options->key_size) && options->key_size >= 10 &&
           options->key_size <= 250;
    } else if (name == "--value-size") {
      ok = twincache::ParseUint32(value, &options->value_size) && options->value_size <= (1U << 20);
    } else {
      std::fprintf(stderr, "rate_load: unknown option %s\n", argv[i - 1]);
      return false;
    }
    if (!ok) {
      std::fprintf(stderr, "rate_load: bad value for %s: %s\n", argv[i - 1], argv[i]);
      return false;
    }
  }
  return true;
}

// Key number n: "k" then n in decimal, zero-padded to key_size bytes.
std::string KeyOf(uint32_t n, uint32_t key_size) {
  std::string digits = std::to_string(n);
  std::string key = "k";
  key.append(key_size - 1 - digits.size(), '0');
  key += digits;
  return key;
}

int Connect(const Options& options) {
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_port = htons(static_cast<uint16_t>(options.port));
  if (inet_pton(AF_INET, options.host.c_str(), &address.sin_addr) != 1) {
    std::fprintf(stderr, "rate_load: --host %s is not an IPv4 address\n", options.host.c_str());
    return -1;
  }
  const int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) {
    std::perror("rate_load: socket");
    return -1;
  }
  // NOLINTNEXTLINE(cppcoreguidelines-pro-type-reinterpret-cast): the sockets API takes a sockaddr.
  if (connect(fd, reinterpret_cast<const sockaddr*>(&address), sizeof(address)) != 0) {
    std::fprintf(stderr, "rate_load: connect to %s:%u: %s\n", options.host.c_str(), options.port,
                 twincache::ErrnoText(errno).c_str());
    close(fd);
    return -1;
  }
  const int one = 1;
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
  return fd;
}

// Parses the reply to `request` at the front of conn->in: STORED for a set;
// VALUE ... END or END for a get. Any other complete line (ERROR,
// CLIENT_ERROR, SERVER_ERROR, NOT_STORED) ends the request as an error.
ReplyStatus ParseReply(Connection* conn, const Pending& request, Counters* counters) {
  const std::string_view input = std::string_view(conn->in).substr(conn->in_start);
  const size_t eol = input.find("\r\n");
  if (eol == std::string_view::npos) {
    return ReplyStatus::kNeedMore;
  }
  const std::string_view line = input.substr(0, eol);
  if (!request.get) {
    conn->in_start += eol + 2;
    return line == "STORED" ? ReplyStatus::kDone : ReplyStatus::kError;
  }
  if (line == "END") {
    conn->in_start += eol + 2;
    return ReplyStatus::kDone;
  }
  if (!line.starts_with("VALUE ")) {
    conn->in_start += eol + 2;
    return ReplyStatus::kError;
  }
  // VALUE <key> <flags> <bytes>\r\n<data>\r\nEND\r\n
  const size_t last_space = line.rfind(' ');
  uint64_t bytes = 0;
  if (!twincache::ParseUint64(line.substr(last_space + 1), &bytes)) {
    conn->in_start += eol + 2;
    return ReplyStatus::kError;
  }
  constexpr std::string_view kTail = "\r\nEND\r\n";
  const size_t total = eol + 2 + bytes + kTail.size();
  if (input.size() < total) {
    return ReplyStatus::kNeedMore;
  }
  const bool well_formed = input.substr(eol + 2 + bytes, kTail.size()) == kTail;
  conn->in_start += total;
  if (!well_formed) {
    return ReplyStatus::kError;
  }
  ++counters->hits;
  return ReplyStatus::kDone;
}

// Writes what conn->out holds; false when the connection failed.
bool WriteSome(Connection* conn) {
  while (conn->out_sent < conn->out.size()) {
    const ssize_t n =
        send(conn->fd, conn->out.data() + conn->out_sent, conn->out.size() - conn->out_sent, MSG_NOSIGNAL);
    if (n < 0) {
      if (errno == EINTR) {
        continue;
      }
      return errno == EAGAIN || errno == EWOULDBLOCK;
    }
    conn->out_sent += static_cast<size_t>(n);
  }
  conn->out.clear();
  conn->out_sent = 0;
  return true;
}

// Reads what arrived and completes the requests whose replies are whole;
// false when the connection failed or closed.
bool ReadSome(Connection* conn, Clock::time_point now, Counters* counters) {
  for (;;) {
    const size_t old_size = conn->in.size();
    conn->in.resize(old_size + kReadChunk);
    const ssize_t n = recv(conn->fd, conn->in.data() + old_size, kReadChunk, 0);
    conn->in.resize(old_size + static_cast<size_t>(std::max<ssize_t>(n, 0)));
    if (n == 0) {
      return false;
    }
    if (n < 0) {
      if (errno == EINTR) {
        continue;
      }
      if (errno == EAGAIN || errno == EWOULDBLOCK) {
        break;
      }
      return false;
    }
  }
  while (!conn->pending.empty()) {
    const Pending& request = conn->pending.front();
    const ReplyStatus status = ParseReply(conn, request, counters);
    if (status == ReplyStatus::kNeedMore) {
      break;
    }
    if (status == ReplyStatus::kError) {
      ++counters->errors;
    }
    counters->latency_ns.push_back(
        std::chrono::duration_cast<std::chrono::nanoseconds>(now - request.due).count());
    conn->pending.pop_front();
  }
  conn->in.erase(0, conn->in_start);
  conn->in_start = 0;
  return true;
}

// Stores every key once over one blocking connection, in pipelined batches,
// so that gets hit. False on an error reply or a failed connection.
bool Prefill(const Options& options, const std::string& value) {
  const int fd = Connect(options);
  if (fd < 0) {
    return false;
  }
  constexpr uint32_t kBatch = 500;
  bool ok = true;
  std::string batch;
  std::string replies;
  for (uint32_t first = 0; first < options.keys && ok; first += kBatch) {
    const uint32_t end = std::min(options.keys, first + kBatch);
    batch.clear();
    for (uint32_t n = first; n < end; ++n) {
      batch += "set " + KeyOf(n, options.key_size) + " 0 0 " + std::to_string(value.size()) + "\r\n";
      batch += value;
      batch += "\r\n";
    }
    ok = send(fd, batch.data(), batch.size(), MSG_NOSIGNAL) == static_cast<ssize_t>(batch.size());
    const std::string expected = [&] {
      std::string all;
      for (uint32_t n = first; n < end; ++n) {
        all += "STORED\r\n";
      }
      return all;
    }();
    replies.clear();
    while (ok && replies.size() < expected.size()) {
      char chunk[4096];
      const ssize_t n = recv(fd, chunk, sizeof(chunk), 0);
      if (n <= 0) {
        ok = false;
        break;
      }
      replies.append(chunk, static_cast<size_t>(n));
    }
    if (ok && replies != expected) {
      std::fprintf(stderr, "rate_load: prefill got %.80s\n", replies.c_str());
      ok = false;
    }
  }
  close(fd);
  return ok;
}

double Microseconds(const std::vector<int64_t>& sorted, double quantile) {
  if (sorted.empty()) {
    return 0;
  }
  const auto index = static_cast<size_t>(std::lround(quantile * static_cast<double>(sorted.size() - 1)));
  return static_cast<double>(sorted[std::min(index, sorted.size() - 1)]) / 1000.0;
}

int Run(const Options& options) {
  const std::string value(options.value_size, 'v');
  if (options.prefill && !Prefill(options, value)) {
    std::fprintf(stderr, "rate_load: prefill failed\n");
    return 2;
  }
  std::vector<std::string> keys;
  keys.reserve(options.keys);
  for (uint32_t n = 0; n < options.keys; ++n) {
    keys.push_back(KeyOf(n, options.key_size));
  }
  std::vector<Connection> conns(options.connections);
  std::vector<pollfd> polls(options.connections);
  for (size_t i = 0; i < conns.size(); ++i) {
    conns[i].fd = Connect(options);
    if (conns[i].fd < 0) {
      return 2;
    }
    // After connect(2): nonblocking from here on.
    if (fcntl(conns[i].fd, F_SETFL, fcntl(conns[i].fd, F_GETFL) | O_NONBLOCK) != 0) {
      std::perror("rate_load: fcntl O_NONBLOCK");
      return 2;
    }
    polls[i].fd = conns[i].fd;
  }

  const uint64_t total = options.rate * options.seconds;
  Counters counters;
  counters.latency_ns.reserve(total);
  std::mt19937_64 random(12345);
  std::uniform_int_distribution<uint32_t> pick_key(0, options.keys - 1);
  std::uniform_real_distribution<double> pick_kind(0.0, 1.0);
  const std::string set_tail = " 0 0 " + std::to_string(value.size()) + "\r\n" + value + "\r\n";

  const Clock::time_point start = Clock::now();
  const auto due_of = [&](uint64_t i) {
    // i / rate seconds after start, in nanoseconds without overflow for any run under centuries.
    const auto ns = static_cast<int64_t>(i / options.rate) * 1000000000 +
                    static_cast<int64_t>((i % options.rate) * 1000000000 / options.rate);
    return start + std::chrono::nanoseconds(ns);
  };
  const Clock::time_point drain_deadline = due_of(total) + std::chrono::seconds(kDrainSeconds);
  uint64_t next = 0;
  uint64_t answered = 0;
  Clock::time_point last_answer = start;
  bool failed = false;
  while (!failed) {
    Clock::time_point now = Clock::now();
    // Every request due by now goes out, each on its connection, behind what that connection still waits for.
    while (next < total && due_of(next) <= now) {
      Connection& conn = conns[next % conns.size()];
      const bool get = pick_kind(random) >= options.set_fraction;
      const std::string& key = keys[pick_key(random)];
      if (get) {
        conn.out += "get ";
        conn.out += key;
        conn.out += "\r\n";
        ++counters.gets;
      } else {
        conn.out += "set ";
        conn.out += key;
        conn.out += set_tail;
        ++counters.sets;
      }
      conn.pending.push_back(Pending{due_of(next), get});
      ++next;
    }
    bool waiting = false;
    for (size_t i = 0; i < conns.size(); ++i) {
      if (!WriteSome(&conns[i])) {
        std::fprintf(stderr, "rate_load: write: %s\n", twincache::ErrnoText(errno).c_str());
        failed = true;
      }
      polls[i].events = static_cast<int16_t>(POLLIN | (conns[i].out.empty() ? 0 : POLLOUT));
      polls[i].revents = 0;
      waiting = waiting || !conns[i].pending.empty();
    }
    if (next == total && !waiting) {
      break;
    }
    if (now >= drain_deadline) {
      break;
    }
    const Clock::time_point wake = next < total ? due_of(next) : drain_deadline;
    const auto wait_ns =
        std::max<int64_t>(0, std::chrono::duration_cast<std::chrono::nanoseconds>(wake - now).count());
    timespec timeout{};
    timeout.tv_sec = static_cast<time_t>(wait_ns / 1000000000);
    timeout.tv_nsec = static_cast<long>(wait_ns % 1000000000);
    const int ready = ppoll(polls.data(), polls.size(), &timeout, nullptr);
    if (ready < 0 && errno != EINTR) {
      std::perror("rate_load: ppoll");
      return 2;
    }
    now = Clock::now();
    for (size_t i = 0; i < conns.size() && ready > 0; ++i) {
      if ((polls[i].revents & (POLLIN | POLLERR | POLLHUP)) != 0) {
        const size_t before = conns[i].pending.size();
        if (!ReadSome(&conns[i], now, &counters)) {
          std::fprintf(stderr, "rate_load: connection %zu closed or failed\n", i);
          failed = true;
        }
        if (conns[i].pending.size() != before) {
          answered += before - conns[i].pending.size();
          last_answer = now;
        }
      }
    }
  }
  uint64_t unanswered = 0;
  for (Connection& conn : conns) {
    unanswered += conn.pending.size();
    close(conn.fd);
  }
  std::vector<int64_t>& sorted = counters.latency_ns;
  std::sort(sorted.begin(), sorted.end());
  // The achieved rate: requests answered over the time from the start to the last answer.
  const double answering_seconds = std::chrono::duration<double>(last_answer - start).count();
  std::printf(
      "rate_load rate %llu achieved %.0f requests %llu gets %llu sets %llu hits %llu errors %llu unanswered "
      "%llu "
      "p50_us %.1f p90_us %.1f p99_us %.1f p999_us %.1f max_us %.1f\n",
      static_cast<unsigned long long>(options.rate),
      answering_seconds > 0 ? static_cast<double>(answered) / answering_seconds : 0.0,
      static_cast<unsigned long long>(next), static_cast<unsigned long long>(counters.gets),
      static_cast<unsigned long long>(counters.sets), static_cast<unsigned long long>(counters.hits),
      static_cast<unsigned long long>(counters.errors), static_cast<unsigned long long>(unanswered),
      Microseconds(sorted, 0.50), Microseconds(sorted, 0.90), Microseconds(sorted, 0.99),
      Microseconds(sorted, 0.999), sorted.empty() ? 0.0 : static_cast<double>(sorted.back()) / 1000.0);
  return failed || counters.errors > 0 || unanswered > 0 ? 1 : 0;
}

}  // namespace

int main(int argc, char** argv) {
  Options options;
  if (!ParseOptions(argc, argv, &options)) {
    return 2;
  }
  return Run(options);
}
