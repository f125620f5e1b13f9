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
    ExtendedOptionSpec{"ssl_chain_cert", kRequired, kIgnored},
    ExtendedOptionSpec{"ssl_key", kRequired, kIgnored},
    ExtendedOptionSpec{"ssl_verify_mode", kRequired, kIgnored},
    ExtendedOptionSpec{"ssl_keyformat", kRequired, kIgnored},
    ExtendedOptionSpec{"ssl_ciphers", kRequired, kIgnored},
    ExtendedOptionSpec{"ssl_ca_cert", kRequired, kIgnored},
    ExtendedOptionSpec{"ssl_wbuf_size", kRequired, kIgnored},
    ExtendedOptionSpec{"ssl_session_cache", kNone, kIgnored},
    ExtendedOptionSpec{"ssl_kernel_tls", kNone, kIgnored},
    ExtendedOptionSpec{"ssl_min_version", kRequired, kIgnored},
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
