// Item: what the cache holds under a key, as the protocol and replication see it.
//
// The store keeps items in its own memory layout (store.cc); everything outside
// the store reads an item through an ItemView, valid only inside the callback
// that received it. This header also holds the memcached rules that several
// modules share: how a client exptime becomes an absolute time, and when an
// item is too large for the cache.
#ifndef TWINCACHE_CORE_STORE_ITEM_H_
#define TWINCACHE_CORE_STORE_ITEM_H_

#include <cstddef>
#include <cstdint>
#include <string_view>

namespace twincache {

/// Longest key in bytes (memcached protocol.txt, "Keys": 250 characters).
constexpr size_t kKeyMaxLength = 250;

/// Relative exptimes above this many seconds (30 days) are unix timestamps
/// (memcached protocol.txt, "Expiration times").
constexpr int64_t kRelativeExptimeMax = int64_t{60} * 60 * 24 * 30;

/// Absolute exptime that means "already expired" (any time in the past works;
/// 1 is never mistaken for "never expires", which is 0).
constexpr int64_t kExptimeExpired = 1;

/// Converts a client exptime (seconds) to an absolute unix time in seconds, as
/// memcached does: 0 → 0 (never expires); negative → kExptimeExpired; up to 30
/// days → now_s + exptime; above → the value itself (a unix time, possibly in the
/// past, in which case the item is expired at once). Pure function.
constexpr int64_t AbsoluteExptime(int64_t client_exptime, int64_t now_s) {
  if (client_exptime == 0) {
    return 0;
  }
  if (client_exptime < 0) {
    return kExptimeExpired;
  }
  if (client_exptime <= kRelativeExptimeMax) {
    return now_s + client_exptime;
  }
  return client_exptime;
}

/// True when an item with absolute `exptime` (0 = never) is expired at `now_s`.
constexpr bool IsExpired(int64_t exptime, int64_t now_s) { return exptime != 0 && exptime <= now_s; }

/// Bytes memcached would need for an item (header, key + NUL, value + "\r\n",
/// cas), used only to decide "object too large for cache" the way memcached's
/// item_size_ok() does against -I (memcached items.c). 48 is memcached 1.6's
/// item header on 64-bit builds.
constexpr size_t MemcachedItemSize(size_t key_len, size_t value_len) {
  return 48 + key_len + 1 + value_len + 2 + 8;
}

/// True when a value of `value_len` bytes under a key of `key_len` bytes fits
/// an item size limit of `item_size_max` bytes (-I).
constexpr bool ItemFits(size_t key_len, size_t value_len, size_t item_size_max) {
  return MemcachedItemSize(key_len, value_len) <= item_size_max;
}

/// Read-only view of one item, handed to callbacks under the store's shard lock.
/// All string_views point into store memory and die when the callback returns.
struct ItemView {
  std::string_view key;
  std::string_view value;        ///< the data block, without the trailing "\r\n"
  uint32_t flags = 0;            ///< client flags, opaque 32-bit
  int64_t exptime = 0;           ///< absolute unix seconds; 0 = never expires
  uint64_t cas = 0;              ///< cas unique; also the item's version hlc (see store.h)
  int64_t last_access = 0;       ///< unix seconds of the last fetch or store
  bool fetched = false;          ///< fetched at least once before this access
  size_t size = 0;               ///< bytes this item counts against the memory limit
  int slab_class = 0;            ///< id of its slab class, as Store::GetSlabStats numbers them (1 = smallest)
  uint64_t origin = 0;           ///< node id that accepted the write; version = (cas, origin)
  uint64_t exptime_version = 0;  ///< hlc of the last exptime change (= cas unless touched)
  bool tombstone = false;        ///< a deleted key's tombstone (only from Store::Scan with
                                 ///< include_tombstones): no value, exptime = when it is reclaimed
  bool stale = false;            ///< marked stale by meta md I / ms I (mg answers X)
  bool win_token_sent = false;   ///< a recache win token was handed out for this item before this
                                 ///< access (mg answers Z); see ReadOptions::win_token in store.h
  bool won = false;              ///< this Get won the item's win token (mg answers W); only with
                                 ///< ReadOptions::win_token
  bool vivified = false;         ///< this Get created the item (ReadOptions::vivify)
  int64_t previous_exptime = 0;  ///< Get: the exptime before this access's touch (= exptime
                                 ///< without one; 0 for a vivified item), for mg flags before 'T'
};

}  // namespace twincache

#endif  // TWINCACHE_CORE_STORE_ITEM_H_
