// Extended options: memcached 1.6's `-o key[=value],...` (memcached.c
// "subopts_tokens", storage.c for the ext_* keys; `memcached -h` lists them).
//
// memcached 1.6 command lines often carry -o options, so twincached takes
// every key that Debian's memcached 1.6.18 takes (built with TLS, extstore
// and sock_cookie_id; without the proxy and debug builds' keys):
//  - a key with a meaning in twincached is honoured (idle_timeout;
//    maxconns_fast, which is how twincached always treats -c; the client TLS
//    keys ssl_chain_cert, ssl_key, ssl_ca_cert, ssl_verify_mode,
//    ssl_min_version, ssl_ciphers, ssl_session_cache, which take effect
//    with -Z);
//  - a key that tunes memcached internals twincached does not have (slab
//    classes, the LRU maintainer and crawler, the hash table, extstore,
//    ssl_wbuf_size, ssl_kernel_tls, ssl_keyformat: twincached reads PEM
//    only, ...) is accepted and recorded in
//    Settings::extended_ignored, for one warning line at start;
//  - any other key is a usage error naming it, as memcached's
//    `Illegal suboption "KEY"`; so is a key memcached reads a value for given
//    without one (memcached's "Missing ... argument").
// The values of ignored keys are not checked beyond being present.
// In the --config file the same keys are written `key = value` (a key that
// takes no value: `key = true`; false leaves it out), or all in one line as
// `extended = "key=value,key"`.
#ifndef TWINCACHE_CORE_CONFIG_EXTENDED_OPTIONS_H_
#define TWINCACHE_CORE_CONFIG_EXTENDED_OPTIONS_H_

#include <optional>
#include <span>
#include <string>
#include <string_view>

#include "core/config/settings.h"

namespace twincache {

/// Whether memcached reads a value after the key's '=' (memcached.c main(),
/// the -o switch: which cases read subopts_value).
enum class ExtendedValue {
  kNone,      ///< `key`; a value given anyway is ignored, as memcached ignores it
  kRequired,  ///< `key=value`; memcached refuses the key alone ("Missing ... argument")
};

/// What twincached does with a key.
enum class ExtendedTreatment {
  kHonoured,  ///< it has a meaning here and takes effect
  kIgnored,   ///< a memcached internal: accepted, listed in Settings::extended_ignored
};

/// One key of memcached 1.6.18's -o.
struct ExtendedOptionSpec {
  std::string_view key;
  ExtendedValue value;
  ExtendedTreatment treatment;
};

/// Every key Debian's memcached 1.6.18 accepts after -o, in memcached.c's
/// order then storage.c's. Pure; the table is static.
std::span<const ExtendedOptionSpec> ExtendedOptionSpecs();

/// The spec of `key`, or nullptr when memcached 1.6.18 has no such key.
const ExtendedOptionSpec* FindExtendedOption(std::string_view key);

/// Applies one key (with its value, if the text had '=') to *settings:
/// idle_timeout sets Settings::idle_timeout_s (a decimal number of seconds,
/// 0 = off, at most kIdleTimeoutMaxSeconds); the ssl_* keys set the
/// Settings field of their name (ssl_verify_mode 0..3; ssl_min_version 0..3
/// or "tlsv1.0".."tlsv1.3"); an ignored key is appended to
/// Settings::extended_ignored once. False with a one-line *error for an
/// unknown key (`Illegal suboption "KEY"`), a missing value or a bad
/// idle_timeout, ssl_verify_mode or ssl_min_version. Thread safety: pure apart from *settings.
bool ApplyExtendedOption(std::string_view key, std::optional<std::string_view> value, Settings* settings,
                         std::string* error);

/// Applies a whole -o argument, "key[=value],key[=value],...", left to right
/// (memcached's getsubopt loop: a trailing ',' ends the list, an empty key
/// inside it is illegal). False at the first key ApplyExtendedOption refuses.
bool ApplyExtendedOptions(std::string_view list, Settings* settings, std::string* error);

/// Largest idle_timeout accepted: memcached keeps it in an int of seconds.
inline constexpr int64_t kIdleTimeoutMaxSeconds = 2147483647;

}  // namespace twincache

#endif  // TWINCACHE_CORE_CONFIG_EXTENDED_OPTIONS_H_
