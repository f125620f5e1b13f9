// Parser: turns bytes from a client into Requests, incrementally.
//
// ParseRequest() looks at the unconsumed input of a connection and either
// finds one complete command (its line and, for storage commands, its data
// block), reports that more bytes are needed, or reports the error line that
// memcached would send. It keeps no state between calls: a request split at any
// byte boundary parses the same once all its bytes are there. Error lines and
// when they close the connection follow memcached 1.6's proto_text.c.
#ifndef TWINCACHE_CORE_PROTOCOL_PARSER_H_
#define TWINCACHE_CORE_PROTOCOL_PARSER_H_

#include <cstddef>
#include <string_view>

#include "core/protocol/request.h"

namespace twincache {

/// Limits the parser enforces.
struct ParserLimits {
  size_t item_size_max = 1u << 20;  ///< -I in bytes: larger values are swallowed, not buffered
  size_t max_line = 2048;           ///< a line longer than this without "\n" is an error...
  size_t max_get_line = 1u << 20;   ///< ...except get/gets/gat/gats (long multi-gets), up to this
  bool strict_keys = false;  ///< refuse control characters in keys (protocol.txt); memcached accepts them
};

enum class ParseStatus {
  kNeedMore,  ///< no complete command yet; call again with more bytes
  kRequest,   ///< *request is filled; `consumed` bytes belong to it
  kError,     ///< send `error` (+"\r\n") unless `noreply`; drop `consumed` bytes; close if `close`
};

struct ParseResult {
  ParseStatus status = ParseStatus::kNeedMore;
  size_t consumed = 0;     ///< bytes of input this result accounts for
  size_t swallow = 0;      ///< then discard this many further bytes (may not have arrived yet)
  std::string_view error;  ///< kError: the error line without "\r\n", e.g. "CLIENT_ERROR bad data chunk"
  bool close = false;      ///< kError: close the connection after sending `error`
  bool noreply = false;    ///< kError: the line ended in "noreply", so memcached sends nothing
                           ///< (proto_text.c out_string skips the reply); do not send `error`.
                           ///< With `close`: hang up without a reply (`error` is for the log)
};

/// Parses the first command in `input`: a line ending in "\n" (one "\r" before
/// it is dropped) split on ' ' only, plus the data block ("\r\n"-terminated)
/// of set/add/replace/append/prepend/cas and ms. On kRequest, `*request` is
/// cleared and filled with views into `input`. A storage command whose value is
/// over limits.item_size_max returns kRequest with request->too_large set,
/// consumed = its line and swallow = bytes + 2. A line with no "\n" within
/// limits.max_line bytes (max_get_line for get/gets/gat/gats) is kError
/// "CLIENT_ERROR line too long" with close. "gat <exptime>" with no key is a
/// request with empty `keys` (memcached answers "END"). Meta commands leave
/// request->noreply false; their q flag is in meta_flags. An unknown command
/// outside memcached's command families (g s a c i d t, two-byte m) whose last
/// token starts with "HTTP/" is kError with close and noreply: memcached hangs
/// up on HTTP request lines without a reply. Never reads past
/// `input`; never throws; allocates only when the Request's vectors must grow.
/// Thread safety: pure function of its arguments.
ParseResult ParseRequest(std::string_view input, const ParserLimits& limits, Request* request);

/// ASCII authentication (memcached -Y; proto_text.c try_read_command_asciiauth,
/// 1.6.18): until a connection authenticates, its input is read only as
/// "set <key> <flags> <exptime> <bytes>[ ...]\r\n<user> <password>\r\n".
struct AuthParseResult {
  ParseStatus status = ParseStatus::kNeedMore;  ///< kRequest: credentials; kError: `error`
  size_t consumed = 0;                          ///< bytes of input this result accounts for
  std::string_view user;                        ///< kRequest: the value's first token
  std::string_view password;                    ///< kRequest: its second token
  std::string_view error;                       ///< kError: the reply line without "\r\n"
  bool close = false;                           ///< kError: hang up without a reply
};

/// Parses the first authentication request in `input`. A line with no "\n"
/// within 2048 bytes closes (memcached: "getting junk data"). A line other
/// than a set with at least five tokens and a numeric <bytes> is kError
/// "CLIENT_ERROR unauthenticated" (the line consumed; key, flags, exptime and
/// noreply are ignored); the value must end in "\r\n" ("CLIENT_ERROR bad
/// command line termination") and hold two space-separated tokens
/// ("CLIENT_ERROR bad authentication token format"). The value may be at
/// most `max_value` bytes: more is kError "CLIENT_ERROR auth token too long"
/// with close (newer memcached refuses it, 1.6.18 reads any size).
/// Thread safety: pure function of its arguments.
AuthParseResult ParseAuthRequest(std::string_view input, size_t max_value);

}  // namespace twincache

#endif  // TWINCACHE_CORE_PROTOCOL_PARSER_H_
