#include "core/config/extended_options.h"

#include <algorithm>
#include <array>
#include <charconv>

namespace twincache {
namespace {

using enum ExtendedValue;
using enum ExtendedTreatment;

// memcached.c main()'s subopts_tokens with Debian's build options (TLS,
// SOCK_COOKIE_ID; not PROXY or MEMCACHED_DEBUG), then storage.c
// storage_read_config's keys (EXTSTORE). slab_automove's value is optional in
// memcached: kNone here, so both forms pass. sock_cookie_id and slab_sizes
// without a value crash memcached 1.6.18 (NULL to safe_strtoul / strdup):
// kRequired here.
constexpr std::array kSpecs = {
    ExtendedOptionSpec{"maxconns_fast", kNone, kHonoured},
    ExtendedOptionSpec{"hashpower", kRequired, kIgnored},
    ExtendedOptionSpec{"no_hashexpand", kNone, kIgnored},
    ExtendedOptionSpec{"slab_reassign", kNone, kIgnored},
    ExtendedOptionSpec{"slab_automove", kNone, kIgnored},
    ExtendedOptionSpec{"slab_automove_ratio", kRequired, kIgnored},
    ExtendedOptionSpec{"slab_automove_window", kRequired, kIgnored},
    ExtendedOptionSpec{"tail_repair_time", kRequired, kIgnored},
    ExtendedOptionSpec{"hash_algorithm", kRequired, kIgnored},
    ExtendedOptionSpec{"lru_crawler", kNone, kIgnored},
    ExtendedOptionSpec{"lru_crawler_sleep", kRequired, kIgnored},
    ExtendedOptionSpec{"lru_crawler_tocrawl", kRequired, kIgnored},
    ExtendedOptionSpec{"lru_maintainer", kNone, kIgnored},
    ExtendedOptionSpec{"hot_lru_pct", kRequired, kIgnored},
    ExtendedOptionSpec{"warm_lru_pct", kRequired, kIgnored},
    ExtendedOptionSpec{"hot_max_factor", kRequired, kIgnored},
    ExtendedOptionSpec{"warm_max_factor", kRequired, kIgnored},
    ExtendedOptionSpec{"temporary_ttl", kRequired, kIgnored},
    ExtendedOptionSpec{"idle_timeout", kRequired, kHonoured},
    ExtendedOptionSpec{"watcher_logbuf_size", kRequired, kIgnored},
    ExtendedOptionSpec{"worker_logbuf_size", kRequired, kIgnored},
    ExtendedOptionSpec{"slab_sizes", kRequired, kIgnored},
    ExtendedOptionSpec{"slab_chunk_max", kRequired, kIgnored},
    ExtendedOptionSpec{"track_sizes", kNone, kIgnored},
    ExtendedOptionSpec{"no_inline_ascii_resp", kNone, kIgnored},
    ExtendedOptionSpec{"modern", kNone, kIgnored},
    ExtendedOptionSpec{"no_modern", kNone, kIgnored},
    ExtendedOptionSpec{"no_chunked_items", kNone, kIgnored},
    ExtendedOptionSpec{"no_slab_reassign", kNone, kIgnored},
    ExtendedOptionSpec{"no_slab_automove", kNone, kIgnored},
    ExtendedOptionSpec{"no_maxconns_fast", kNone, kIgnored},
    ExtendedOptionSpec{"inline_ascii_resp", kNone, kIgnored},
    ExtendedOptionSpec{"no_lru_crawler", kNone, kIgnored},
    ExtendedOptionSpec{"no_lru_maintainer", kNone, kIgnored},
    ExtendedOptionSpec{"no_drop_privileges", kNone, kIgnored},
    ExtendedOptionSpec{"drop_privileges", kNone, kIgnored},
    ExtendedOptionSpec{"resp_obj_mem_limit", kNone, kIgnored},
    ExtendedOptionSpec{"read_buf_mem_limit", kRequired, kIgnored},
    ExtendedOptionSpec{"ssl_chain_cert", kRequired, kHonoured},
    ExtendedOptionSpec{"ssl_key", kRequired, kHonoured},
    ExtendedOptionSpec{"ssl_verify_mode", kRequired, kHonoured},
    ExtendedOptionSpec{"ssl_keyformat", kRequired, kIgnored},
    ExtendedOptionSpec{"ssl_ciphers", kRequired, kHonoured},
    ExtendedOptionSpec{"ssl_ca_cert", kRequired, kHonoured},
    ExtendedOptionSpec{"ssl_wbuf_size", kRequired, kIgnored},
    ExtendedOptionSpec{"ssl_session_cache", kNone, kHonoured},
    ExtendedOptionSpec{"ssl_kernel_tls", kNone, kIgnored},
    ExtendedOptionSpec{"ssl_min_version", kRequired, kHonoured},
    ExtendedOptionSpec{"sock_cookie_id", kRequired, kIgnored},
    ExtendedOptionSpec{"ext_page_size", kRequired, kIgnored},
    ExtendedOptionSpec{"ext_wbuf_size", kRequired, kIgnored},
    ExtendedOptionSpec{"ext_threads", kRequired, kIgnored},
    ExtendedOptionSpec{"ext_io_depth", kRequired, kIgnored},
    ExtendedOptionSpec{"ext_path", kRequired, kIgnored},
    ExtendedOptionSpec{"ext_item_size", kRequired, kIgnored},
    ExtendedOptionSpec{"ext_item_age", kRequired, kIgnored},
    ExtendedOptionSpec{"ext_low_ttl", kRequired, kIgnored},
    ExtendedOptionSpec{"ext_recache_rate", kRequired, kIgnored},
    ExtendedOptionSpec{"ext_compact_under", kRequired, kIgnored},
    ExtendedOptionSpec{"ext_drop_under", kRequired, kIgnored},
    ExtendedOptionSpec{"ext_max_sleep", kRequired, kIgnored},
    ExtendedOptionSpec{"ext_max_frag", kRequired, kIgnored},
    ExtendedOptionSpec{"ext_drop_unread", kNone, kIgnored},
    ExtendedOptionSpec{"slab_automove_freeratio", kRequired, kIgnored},
};

// idle_timeout=SECONDS: memcached's atoi, here a plain decimal in range.
bool ParseIdleTimeout(std::string_view text, int64_t* seconds) {
  int64_t value = 0;
  const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (ec != std::errc() || end != text.data() + text.size() || value < 0 || value > kIdleTimeoutMaxSeconds) {
    return false;
  }
  *seconds = value;
  return true;
}

// The client TLS keys (memcached.c main, the SSL_* cases; tls.c): file
// names are taken as given (checked when the daemon loads them), the
// numbers as memcached reads them. ssl_min_version also takes tls.c's names
// ("tlsv1.2"), which `stats settings` prints. False with *error for a bad
// value; not a TLS key: *handled false.
bool ApplyTlsOption(std::string_view key, std::optional<std::string_view> value, Settings* settings,
                    bool* handled, std::string* error) {
  *handled = true;
  if (key == "ssl_chain_cert") {
    settings->ssl_chain_cert = std::string(*value);
  } else if (key == "ssl_key") {
    settings->ssl_key = std::string(*value);
  } else if (key == "ssl_ca_cert") {
    settings->ssl_ca_cert = std::string(*value);
  } else if (key == "ssl_ciphers") {
    settings->ssl_ciphers = std::string(*value);
  } else if (key == "ssl_session_cache") {
    settings->ssl_session_cache = true;
  } else if (key == "ssl_verify_mode") {
    int mode = -1;
    const auto [end, ec] = std::from_chars(value->data(), value->data() + value->size(), mode);
    if (ec != std::errc() || end != value->data() + value->size() || mode < 0 || mode > 3) {
      *error = "Invalid ssl_verify_mode (0 none, 1 request, 2 require, 3 once): " + std::string(*value);
      return false;
    }
    settings->ssl_verify_mode = mode;
  } else if (key == "ssl_min_version") {
    int version = -1;
    for (int v = 0; v <= 3; ++v) {
      if (*value == SslVersionName(v) || (value->size() == 1 && (*value)[0] == '0' + v)) {
        version = v;
      }
    }
    if (version < 0) {
      *error = "Invalid ssl_min_version (0..3 or tlsv1.0..tlsv1.3): " + std::string(*value);
      return false;
    }
    settings->ssl_min_version = version;
  } else {
    *handled = false;
  }
  return true;
}

}  // namespace

std::span<const ExtendedOptionSpec> ExtendedOptionSpecs() { return kSpecs; }

const ExtendedOptionSpec* FindExtendedOption(std::string_view key) {
  const auto* spec =
      std::find_if(kSpecs.begin(), kSpecs.end(), [key](const ExtendedOptionSpec& s) { return s.key == key; });
  return spec == kSpecs.end() ? nullptr : spec;
}

bool ApplyExtendedOption(std::string_view key, std::optional<std::string_view> value, Settings* settings,
                         std::string* error) {
  const ExtendedOptionSpec* spec = FindExtendedOption(key);
  if (spec == nullptr) {
    *error = "Illegal suboption \"" + std::string(key) + "\"";
    return false;
  }
  if (spec->value == kRequired && !value.has_value()) {
    *error = "Missing argument for -o " + std::string(key) + " (" + std::string(key) + "=VALUE)";
    return false;
  }
  if (key == "idle_timeout") {
    if (!ParseIdleTimeout(*value, &settings->idle_timeout_s)) {
      *error = "bad -o idle_timeout (seconds, 0 = off): " + std::string(*value);
      return false;
    }
    return true;
  }
  bool tls_key = false;
  if (!ApplyTlsOption(key, value, settings, &tls_key, error)) {
    return false;
  }
  if (tls_key) {
    return true;
  }
  if (spec->treatment == kIgnored) {
    std::vector<std::string>& ignored = settings->extended_ignored;
    if (std::find(ignored.begin(), ignored.end(), key) == ignored.end()) {
      ignored.emplace_back(key);
    }
  }
  return true;
}

bool ApplyExtendedOptions(std::string_view list, Settings* settings, std::string* error) {
  while (!list.empty()) {
    const size_t comma = list.find(',');
    const std::string_view item = list.substr(0, comma);
    list = comma == std::string_view::npos ? std::string_view() : list.substr(comma + 1);
    const size_t equals = item.find('=');
    const std::string_view key = item.substr(0, equals);
    std::optional<std::string_view> value;
    if (equals != std::string_view::npos) {
      value = item.substr(equals + 1);
    }
    if (!ApplyExtendedOption(key, value, settings, error)) {
      return false;
    }
  }
  return true;
}

}  // namespace twincache
