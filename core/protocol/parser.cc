// Parser: memcached 1.6 text and meta protocol lines (see parser.h).
//
// The design follows memcached's try_read_command_ascii (proto_text.c): find
// the "\n" with memchr, strip one "\r" before it, split the line on ' ' only as
// tokenize_command does (so '\t' stays inside a token), then dispatch on the
// command's first byte as process_command_ascii does. Each command then checks
// its token count, "noreply", its key and its numbers in memcached's order, so
// the same error line comes out:
//   - a wrong token count is "ERROR" (WANT_TOKENS), sent even with "noreply";
//   - "noreply" is recognised only as the last token (set_noreply_maybe); an
//     error after that point is silent (out_string skips it), reported here
//     as ParseResult::noreply;
//   - a bad line never swallows the data block that may follow it: memcached
//     only swallows when the value is too large (process_update_command).
// Stricter than memcached, as protocol.txt asks: keys with control characters
// are rejected, numbers must be plain decimals (text_tokens.h; memcached's
// strtol also skips whitespace and truncates to 32 bits), flags must fit 32
// bits, and a line with no "\n" within the limit is answered with an error
// before closing (memcached closes silently).
//
// Parsing allocates nothing beyond the capacity Request keeps between calls.
#include "core/protocol/parser.h"

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <limits>

#include "core/protocol/text_tokens.h"
#include "core/store/item.h"

namespace twincache {
namespace {

constexpr std::string_view kErrorLine = "ERROR";
// Not sent (noreply): the reason logged when an HTTP request line is hung up on.
constexpr std::string_view kHttpRequest = "request line looks like HTTP";
constexpr std::string_view kBadFormat = "CLIENT_ERROR bad command line format";
constexpr std::string_view kBadDataChunk = "CLIENT_ERROR bad data chunk";
constexpr std::string_view kBadDelta = "CLIENT_ERROR invalid numeric delta argument";
constexpr std::string_view kBadExptime = "CLIENT_ERROR invalid exptime argument";
constexpr std::string_view kBadDelete =
    "CLIENT_ERROR bad command line format.  Usage: delete <key> [noreply]";
constexpr std::string_view kLineTooLong = "CLIENT_ERROR line too long";
// process_mget_command words this error differently from ms/md/ma.
constexpr std::string_view kMetaGetTooManyFlags = "CLIENT_ERROR options flags are too long";
constexpr std::string_view kMetaTooManyFlags = "CLIENT_ERROR options flags too long";
constexpr std::string_view kNoreply = "noreply";

// Largest <bytes> memcached accepts: process_update_command rejects
// vlen > INT_MAX - 2 because it adds the "\r\n".
constexpr int64_t kMaxValueBytes = std::numeric_limits<int32_t>::max() - 2;

// Most tokens a meta line may have (command, key, [datalen], flags):
// process_m*_command refuse "ntokens > MFLAG_MAX_OPT_LENGTH" (20), a count
// that includes tokenize_command's terminal token.
constexpr size_t kMetaMaxTokens = 19;

// Reads the tokens of a command line split on ' ' only, as memcached's
// tokenize_command. The first kMax tokens are kept for indexed access; a
// command with more (get keys, stats arguments, meta flags) reads the rest
// with Next().
class Tokens {
 public:
  static constexpr size_t kMax = 8;  // more than any fixed-count command (cas ... noreply is 7)

  explicit Tokens(std::string_view line) : pos_(line.data()), end_(line.data() + line.size()) {
    while (size_ < kMax && Next(&tokens_[size_])) {
      ++size_;
    }
  }

  /// Tokens kept, at most kMax; kMax means "kMax or more".
  size_t size() const { return size_; }
  std::string_view operator[](size_t i) const { return tokens_[i]; }
  std::string_view last() const { return tokens_[size_ - 1]; }

  /// The next token after those already read; false at the end of the line.
  bool Next(std::string_view* token) {
    while (pos_ < end_ && *pos_ == ' ') {
      ++pos_;
    }
    if (pos_ == end_) {
      return false;
    }
    const char* start = pos_;
    const void* space = std::memchr(pos_, ' ', static_cast<size_t>(end_ - pos_));
    pos_ = space != nullptr ? static_cast<const char*>(space) : end_;
    *token = std::string_view(start, static_cast<size_t>(pos_ - start));
    return true;
  }

 private:
  const char* pos_;
  const char* end_;
  std::string_view tokens_[kMax];
  size_t size_ = 0;
};

// A key of at most 250 bytes, as memcached checks it (the tokenizer already
// ends a key at a space). With `strict`, also without control characters
// (protocol.txt "Keys"); branch-free over the bytes so it vectorises.
bool IsValidKey(std::string_view key, bool strict) {
  if (key.empty() || key.size() > kKeyMaxLength) {
    return false;
  }
  if (!strict) {
    return true;
  }
  bool bad = false;
  for (char c : key) {
    const unsigned char b = static_cast<unsigned char>(c);
    bad |= (b <= 0x20) | (b == 0x7f);
  }
  return !bad;
}

// True when `prefix` starts (after spaces) with a retrieval command and a
// space: such lines may grow to max_get_line, as memcached lets "get "/"gets "
// lines outgrow its 2048-byte limit (try_read_command_ascii).
bool IsRetrievalLine(std::string_view prefix) {
  const size_t start = prefix.find_first_not_of(' ');
  if (start == std::string_view::npos) {
    return false;
  }
  prefix.remove_prefix(start);
  for (std::string_view command : {"get ", "gets ", "gat ", "gats "}) {
    if (prefix.substr(0, command.size()) == command) {
      return true;
    }
  }
  return false;
}

// The error for a line with no "\n" within `limit` bytes; it accounts for the
// limit + 1 bytes that show it, whatever else has arrived, as the connection
// closes anyway.
ParseResult LineTooLong(size_t limit) {
  ParseResult result;
  result.status = ParseStatus::kError;
  result.consumed = limit + 1;
  result.error = kLineTooLong;
  result.close = true;
  return result;
}

// Parses one complete command line (without its "\n" and "\r") that starts
// `input` and takes `line_consumed` bytes of it.
class LineParser {
 public:
  LineParser(std::string_view input, std::string_view line, size_t line_consumed, const ParserLimits& limits,
             Request* request)
      : input_(input), line_consumed_(line_consumed), limits_(limits), request_(request), tokens_(line) {}

  ParseResult Parse() {
    if (tokens_.size() == 0 || tokens_[0].size() < 2) {
      return Error(kErrorLine);
    }
    const std::string_view command = tokens_[0];
    switch (command[0]) {
      case 'g':
        if (command == "get") {
          return Retrieval(Command::kGet, false);
        }
        if (command == "gets") {
          return Retrieval(Command::kGets, false);
        }
        if (command == "gat") {
          return Retrieval(Command::kGat, true);
        }
        if (command == "gats") {
          return Retrieval(Command::kGats, true);
        }
        break;
      case 'm':
        if (command.size() == 2) {
          return Meta(command[1]);
        }
        break;
      case 's':
        if (command == "set") {
          return Storage(Command::kSet);
        }
        if (command == "stats") {
          return Arguments(Command::kStats);
        }
        if (command == "shutdown") {
          return Arguments(Command::kShutdown);
        }
        break;
      case 'a':
        if (command == "add") {
          return Storage(Command::kAdd);
        }
        if (command == "append") {
          return Storage(Command::kAppend);
        }
        break;
      case 'r':
        if (command == "replace") {
          return Storage(Command::kReplace);
        }
        if (command == "refresh_certs") {
          return Arguments(Command::kRefreshCerts);
        }
        break;
      case 'p':
        if (command == "prepend") {
          return Storage(Command::kPrepend);
        }
        break;
      case 'c':
        if (command == "cas") {
          return Storage(Command::kCas);
        }
        if (command == "cache_memlimit") {
          return NumberArgument(Command::kCacheMemlimit, kErrorLine);
        }
        break;
      case 'i':
        if (command == "incr") {
          return KeyAndNumber(Command::kIncr);
        }
        break;
      case 'd':
        if (command == "delete") {
          return Delete();
        }
        if (command == "decr") {
          return KeyAndNumber(Command::kDecr);
        }
        break;
      case 't':
        if (command == "touch") {
          return KeyAndNumber(Command::kTouch);
        }
        break;
      case 'b':
        // memcached keeps the undocumented "bget" as a plain get.
        if (command == "bget") {
          return Retrieval(Command::kGet, false);
        }
        break;
      case 'f':
        if (command == "flush_all") {
          return FlushAll();
        }
        break;
      case 'v':
        if (command == "version") {
          return Done(Command::kVersion);
        }
        if (command == "verbosity") {
          return NumberArgument(Command::kVerbosity, kBadFormat);
        }
        break;
      case 'q':
        if (command == "quit") {
          return Done(Command::kQuit);
        }
        break;
      case 'l':
        if (command == "lru_crawler") {
          return Arguments(Command::kLruCrawler);
        }
        break;
      default:
        break;
    }
    // memcached's families g, s, a, c, i, d, t and two-byte m answer their
    // unknown words with ERROR; any other unknown command whose last token
    // starts with "HTTP/" is an HTTP request (a cross-protocol attack) and
    // the connection is closed without a reply (proto_text.c,
    // process_command_ascii).
    const bool family = std::string_view("gsacidt").find(command[0]) != std::string_view::npos ||
                        (command[0] == 'm' && command.size() == 2);
    if (!family && tokens_.last().starts_with("HTTP/")) {
      ParseResult result = ErrorConsuming(kHttpRequest, line_consumed_, true);
      result.close = true;
      return result;
    }
    return Error(kErrorLine);
  }

 private:
  ParseResult Error(std::string_view error, bool noreply = false) const {
    return ErrorConsuming(error, line_consumed_, noreply);
  }

  static ParseResult ErrorConsuming(std::string_view error, size_t consumed, bool noreply) {
    ParseResult result;
    result.status = ParseStatus::kError;
    result.consumed = consumed;
    result.error = error;
    result.noreply = noreply;
    return result;
  }

  ParseResult Done(Command command) const {
    request_->command = command;
    return Accepted(line_consumed_);
  }

  static ParseResult Accepted(size_t consumed) {
    ParseResult result;
    result.status = ParseStatus::kRequest;
    result.consumed = consumed;
    return result;
  }

  // "noreply" counts only as the last token (memcached set_noreply_maybe).
  bool LastIsNoreply() const { return tokens_.last() == kNoreply; }

  // get/gets/gat/gats <exptime if touch> <key>*: process_get_command. memcached
  // answers a gat with no keys with just "END", so `keys` may be empty there.
  ParseResult Retrieval(Command command, bool touch) {
    if (tokens_.size() < 2) {
      return Error(kErrorLine);
    }
    request_->command = command;
    size_t first_key = 1;
    if (touch) {
      if (!ParseInt64(tokens_[1], &request_->exptime)) {
        return Error(kBadExptime);
      }
      first_key = 2;
    }
    std::vector<std::string_view>& keys = request_->keys;
    for (size_t i = first_key; i < tokens_.size(); ++i) {
      keys.push_back(tokens_[i]);
    }
    std::string_view key;
    while (tokens_.Next(&key)) {
      keys.push_back(key);
    }
    for (std::string_view k : keys) {
      if (!IsValidKey(k, limits_.strict_keys)) {
        return Error(kBadFormat);
      }
    }
    return Accepted(line_consumed_);
  }

  // <command> <key> <flags> <exptime> <bytes> [<cas unique>] [noreply], then
  // the data block: process_update_command.
  ParseResult Storage(Command command) {
    const bool is_cas = command == Command::kCas;
    const size_t required = is_cas ? 6 : 5;
    if (tokens_.size() != required && tokens_.size() != required + 1) {
      return Error(kErrorLine);
    }
    request_->command = command;
    request_->noreply = LastIsNoreply();
    const std::string_view key = tokens_[1];
    if (!IsValidKey(key, limits_.strict_keys)) {
      return Error(kBadFormat, request_->noreply);
    }
    int64_t bytes;
    if (!ParseUint32(tokens_[2], &request_->flags) || !ParseInt64(tokens_[3], &request_->exptime) ||
        !ParseInt64(tokens_[4], &bytes) || (is_cas && !ParseUint64(tokens_[5], &request_->cas_unique)) ||
        bytes < 0 || bytes > kMaxValueBytes) {
      return Error(kBadFormat, request_->noreply);
    }
    request_->keys.push_back(key);
    return DataBlock(static_cast<size_t>(bytes), request_->noreply);
  }

  // The data block after a storage line: `bytes` then "\r\n". A value over -I
  // is not buffered but swallowed (process_update_command's conn_swallow);
  // a block not ending in "\r\n" is "bad data chunk" once all of it arrived
  // (complete_nread_ascii).
  ParseResult DataBlock(size_t bytes, bool noreply_errors) {
    if (!ItemFits(request_->keys[0].size(), bytes, limits_.item_size_max)) {
      request_->too_large = true;
      ParseResult result = Accepted(line_consumed_);
      result.swallow = bytes + 2;
      return result;
    }
    const size_t end = line_consumed_ + bytes + 2;
    if (input_.size() < end) {
      return ParseResult{};
    }
    if (input_[end - 2] != '\r' || input_[end - 1] != '\n') {
      return ErrorConsuming(kBadDataChunk, end, noreply_errors);
    }
    request_->data = input_.substr(line_consumed_, bytes);
    return Accepted(end);
  }

  // incr|decr <key> <delta> [noreply] (process_arithmetic_command) and
  // touch <key> <exptime> [noreply] (process_touch_command): the same checks
  // in the same order, only the number and its error line differ.
  ParseResult KeyAndNumber(Command command) {
    if (tokens_.size() != 3 && tokens_.size() != 4) {
      return Error(kErrorLine);
    }
    request_->command = command;
    request_->noreply = LastIsNoreply();
    if (!IsValidKey(tokens_[1], limits_.strict_keys)) {
      return Error(kBadFormat, request_->noreply);
    }
    if (command == Command::kTouch) {
      if (!ParseInt64(tokens_[2], &request_->exptime)) {
        return Error(kBadExptime, request_->noreply);
      }
    } else if (!ParseUint64(tokens_[2], &request_->delta)) {
      return Error(kBadDelta, request_->noreply);
    }
    request_->keys.push_back(tokens_[1]);
    return Accepted(line_consumed_);
  }

  // delete <key> [0] [noreply]: process_delete_command accepts the legacy
  // hold time only when it is "0".
  ParseResult Delete() {
    if (tokens_.size() < 2 || tokens_.size() > 4) {
      return Error(kErrorLine);
    }
    request_->command = Command::kDelete;
    if (tokens_.size() > 2) {
      const bool hold_is_zero = tokens_[2] == "0";
      request_->noreply = LastIsNoreply();
      const bool valid = (tokens_.size() == 3 && (hold_is_zero || request_->noreply)) ||
                         (tokens_.size() == 4 && hold_is_zero && request_->noreply);
      if (!valid) {
        return Error(kBadDelete, request_->noreply);
      }
    }
    if (!IsValidKey(tokens_[1], limits_.strict_keys)) {
      return Error(kBadFormat, request_->noreply);
    }
    request_->keys.push_back(tokens_[1]);
    return Accepted(line_consumed_);
  }

  // flush_all [delay] [noreply]: process_flush_all_command reads the delay
  // whenever the line has more than the command and "noreply".
  ParseResult FlushAll() {
    if (tokens_.size() > 3) {
      return Error(kErrorLine);
    }
    request_->command = Command::kFlushAll;
    request_->noreply = LastIsNoreply();
    if (tokens_.size() != (request_->noreply ? 2u : 1u) && !ParseInt64(tokens_[1], &request_->delay)) {
      return Error(kBadExptime, request_->noreply);
    }
    return Accepted(line_consumed_);
  }

  // verbosity <level> [noreply] (process_verbosity_command, a bad level is
  // "bad command line format") and cache_memlimit <megabytes> [noreply]
  // (process_memlimit_command, a bad number is a bare "ERROR"): args[0] is the
  // number, checked to be a 32-bit unsigned decimal.
  ParseResult NumberArgument(Command command, std::string_view bad_number) {
    if (tokens_.size() != 2 && tokens_.size() != 3) {
      return Error(kErrorLine);
    }
    request_->command = command;
    request_->noreply = LastIsNoreply();
    uint32_t number;
    if (!ParseUint32(tokens_[1], &number)) {
      return Error(bad_number, request_->noreply);
    }
    request_->args.push_back(tokens_[1]);
    return Accepted(line_consumed_);
  }

  // stats [args...], lru_crawler <args...> and shutdown [graceful]: every
  // token after the command goes to args; the handler checks them
  // (process_stat, process_lru_crawler_command, process_shutdown_command,
  // which answers even with -A off, so "shutdown" never reads "noreply").
  ParseResult Arguments(Command command) {
    request_->command = command;
    for (size_t i = 1; i < tokens_.size(); ++i) {
      request_->args.push_back(tokens_[i]);
    }
    std::string_view arg;
    while (tokens_.Next(&arg)) {
      request_->args.push_back(arg);
    }
    return Accepted(line_consumed_);
  }

  // mg/ms/md/ma/mn/me (process_command_ascii's two-letter dispatch). The
  // parser checks what memcached checks before reading flags; the flags'
  // meaning (duplicates, unknown codes, base64 keys) is the handler's.
  ParseResult Meta(char letter) {
    switch (letter) {
      case 'g':
        return MetaWithFlags(Command::kMetaGet);
      case 's':
        return MetaWithFlags(Command::kMetaSet);
      case 'd':
        return MetaWithFlags(Command::kMetaDelete);
      case 'a':
        return MetaWithFlags(Command::kMetaArithmetic);
      case 'n':
        return Done(Command::kMetaNoop);
      case 'e':
        return MetaDebug();
      default:
        return Error(kErrorLine);
    }
  }

  // mg|md|ma <key> <flags>* and ms <key> <datalen> <flags>* plus a data block
  // (process_mget/mset/mdelete/marithmetic_command). These errors come
  // before memcached learns the data length, so ms swallows nothing on them;
  // meta errors are sent even with the q flag (out_errstring).
  ParseResult MetaWithFlags(Command command) {
    if (tokens_.size() < 2) {
      return Error(kErrorLine);
    }
    request_->command = command;
    const std::string_view key = tokens_[1];
    if (!IsValidKey(key, limits_.strict_keys)) {
      return Error(kBadFormat);
    }
    const bool is_set = command == Command::kMetaSet;
    if (is_set && tokens_.size() == 2) {
      return Error(kBadFormat);
    }
    const size_t first_flag = is_set ? 3 : 2;
    if (!ReadMetaFlags(first_flag, kMetaMaxTokens - first_flag)) {
      return Error(command == Command::kMetaGet ? kMetaGetTooManyFlags : kMetaTooManyFlags);
    }
    request_->keys.push_back(key);
    if (!is_set) {
      return Accepted(line_consumed_);
    }
    int64_t bytes;
    if (!ParseInt64(tokens_[2], &bytes) || bytes < 0 || bytes > kMaxValueBytes) {
      return Error(kBadFormat);
    }
    return DataBlock(static_cast<size_t>(bytes), false);
  }

  // me <key> [b]: process_meta_command wants a key and ignores other tokens
  // except the base64 flag; its only errors are "bad command line format".
  ParseResult MetaDebug() {
    if (tokens_.size() < 2 || !IsValidKey(tokens_[1], limits_.strict_keys)) {
      return Error(kBadFormat);
    }
    request_->command = Command::kMetaDebug;
    request_->keys.push_back(tokens_[1]);
    ReadMetaFlags(2, std::numeric_limits<size_t>::max());
    return Accepted(line_consumed_);
  }

  // Appends the meta flags from token `first` on: a code character and the
  // rest of the token ("T30" → 'T' "30"). False, after at most `max_flags`
  // appended, when there are more than `max_flags`.
  bool ReadMetaFlags(size_t first, size_t max_flags) {
    for (size_t i = first; i < tokens_.size(); ++i) {
      if (!AddMetaFlag(tokens_[i], max_flags)) {
        return false;
      }
    }
    std::string_view token;
    while (tokens_.Next(&token)) {
      if (!AddMetaFlag(token, max_flags)) {
        return false;
      }
    }
    return true;
  }

  bool AddMetaFlag(std::string_view token, size_t max_flags) {
    std::vector<MetaFlag>& flags = request_->meta_flags;
    if (flags.size() == max_flags) {
      return false;
    }
    flags.push_back(MetaFlag{token[0], token.substr(1)});
    return true;
  }

  const std::string_view input_;
  const size_t line_consumed_;
  const ParserLimits& limits_;
  Request* const request_;
  Tokens tokens_;
};

}  // namespace

AuthParseResult ParseAuthRequest(std::string_view input, size_t max_value) {
  constexpr size_t kAuthLineMax = 2048;  // try_read_command_asciiauth's "junk data" bound
  AuthParseResult result;
  const size_t newline = input.find('\n');
  if (newline == std::string_view::npos) {
    if (input.size() > kAuthLineMax) {
      result.status = ParseStatus::kError;
      result.close = true;
      result.error = kLineTooLong;
    }
    return result;
  }
  std::string_view line = input.substr(0, newline);
  if (!line.empty() && line.back() == '\r') {
    line.remove_suffix(1);
  }
  const Tokens tokens(line);
  uint32_t bytes = 0;
  if (tokens.size() < 5 || tokens[0] != "set" || !ParseUint32(tokens[4], &bytes)) {
    result.status = ParseStatus::kError;
    result.consumed = newline + 1;
    result.error = "CLIENT_ERROR unauthenticated";
    return result;
  }
  if (bytes > max_value) {
    result.status = ParseStatus::kError;
    result.consumed = newline + 1;
    result.error = "CLIENT_ERROR auth token too long";
    result.close = true;
    return result;
  }
  const size_t value_end = newline + 1 + bytes + 2;
  if (input.size() < value_end) {
    return result;
  }
  result.status = ParseStatus::kError;
  result.consumed = value_end;
  const std::string_view value = input.substr(newline + 1, bytes + 2);
  if (!value.ends_with("\r\n")) {
    result.error = "CLIENT_ERROR bad command line termination";
    return result;
  }
  const Tokens credentials(value.substr(0, bytes));
  if (credentials.size() < 2) {
    result.error = "CLIENT_ERROR bad authentication token format";
    return result;
  }
  result.status = ParseStatus::kRequest;
  result.user = credentials[0];
  result.password = credentials[1];
  return result;
}

ParseResult ParseRequest(std::string_view input, const ParserLimits& limits, Request* request) {
  request->Clear();
  // Look for "\n" only as far as a line may reach, so a stream without one
  // costs no more than the limit per call.
  size_t scanned = std::min(input.size(), limits.max_line + 1);
  const void* newline = std::memchr(input.data(), '\n', scanned);
  if (newline == nullptr && input.size() > limits.max_line) {
    if (!IsRetrievalLine(input.substr(0, limits.max_line + 1))) {
      return LineTooLong(limits.max_line);
    }
    const size_t get_line_limit = std::max(limits.max_line, limits.max_get_line);
    const size_t end = std::min(input.size(), get_line_limit + 1);
    newline = std::memchr(input.data() + scanned, '\n', end - scanned);
    if (newline == nullptr && input.size() > get_line_limit) {
      return LineTooLong(get_line_limit);
    }
  }
  if (newline == nullptr) {
    return ParseResult{};
  }
  const size_t line_length = static_cast<size_t>(static_cast<const char*>(newline) - input.data());
  std::string_view line = input.substr(0, line_length);
  if (!line.empty() && line.back() == '\r') {
    line.remove_suffix(1);
  }
  return LineParser(input, line, line_length + 1, limits, request).Parse();
}

}  // namespace twincache
