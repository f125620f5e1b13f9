// Store internals shared by store.cc and store_apply.cc: the item layout,
// a shard's hash table and LRU list, the shard, and the version helpers.
// Only the store's own .cc files include this header; see store.cc for the
// design.
#ifndef TWINCACHE_CORE_STORE_STORE_INTERNAL_H_
#define TWINCACHE_CORE_STORE_STORE_INTERNAL_H_

#include <malloc.h>

#include <algorithm>
#include <compare>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <limits>
#include <mutex>
#include <new>
#include <string_view>
#include <vector>

#include "core/store/item.h"
#include "core/store/record.h"
#include "core/store/store.h"

namespace twincache {
namespace store_internal {

// Buckets of a new shard table; a power of two.
constexpr size_t kInitialBuckets = 16;

// Bytes an item costs beyond malloc_usable_size(): the malloc chunk header (8)
// and, on average, one hash bucket slot (8).
constexpr size_t kItemOverhead = 16;

// HLC layout: unix milliseconds above a 16-bit counter.
constexpr int kHlcCounterBits = 16;
constexpr uint64_t kHlcCounterMask = (uint64_t{1} << kHlcCounterBits) - 1;

// Latest delayed flush time representable in an HLC version (year ~6400).
constexpr int64_t kMaxFlushMillis = (int64_t{1} << (63 - kHlcCounterBits)) - 1;

// flush_version_ while PublishFlush() rewrites flush_at_ms_ (never a real version).
constexpr uint64_t kFlushUpdating = std::numeric_limits<uint64_t>::max();

inline uint64_t HashKey(std::string_view key) { return std::hash<std::string_view>{}(key); }

// An item version (docs/replication.md "Versions and the winner rule"):
// ordered by hlc, then by the origin node id.
struct Version {
  uint64_t hlc;
  uint64_t origin;
  // clang-tidy 14 sees a literal 0 in defaulted comparisons.
  // NOLINTNEXTLINE(modernize-use-nullptr)
  friend auto operator<=>(const Version&, const Version&) = default;
};

// What decides between two exptimes of the same item version: the greater
// exptime_version, then (a tie of two concurrent touches) the greater exptime.
struct ExptimeVersion {
  uint64_t exptime_version;
  int64_t exptime;
  // NOLINTNEXTLINE(modernize-use-nullptr): as Version's
  friend auto operator<=>(const ExptimeVersion&, const ExptimeVersion&) = default;
};

inline uint64_t MillisToVersion(int64_t millis) {
  return static_cast<uint64_t>(std::max<int64_t>(millis, 0)) << kHlcCounterBits;
}

// memcpy that accepts an empty source (whose data() may be null).
inline void CopyBytes(char* destination, std::string_view source) {
  if (!source.empty()) {
    std::memcpy(destination, source.data(), source.size());
  }
}

}  // namespace store_internal

// ---------------------------------------------------------------------------
// Item: header + key + value in one allocation.

struct Store::Item {
  Item* hash_next;           // next item in the same hash bucket
  Item* lru_prev;            // toward the LRU head (more recently used)
  Item* lru_next;            // toward the LRU tail (less recently used)
  uint64_t cas;              // cas unique = version hlc
  uint64_t origin;           // node id of the write; version = (cas, origin)
  uint64_t exptime_version;  // hlc of the last exptime change
  int64_t exptime;           // absolute unix seconds; 0 = never (tombstone: end of its TTL)
  uint32_t flags;            // client flags
  uint32_t value_length;
  uint32_t last_access;  // unix seconds (fits until 2106)
  uint8_t key_length;    // keys are at most kKeyMaxLength (250) bytes
  // One byte of bits (memcached's it_flags): the header stays 72 bytes.
  bool fetched : 1;         // read at least once since stored
  bool tombstone : 1;       // a deleted key's tombstone: no value, invisible to clients
  bool stale : 1;           // marked stale by md I / ms I (memcached ITEM_STALE)
  bool win_token_sent : 1;  // mg handed out this item's win token (memcached ITEM_TOKEN_SENT)

  // Allocates an item holding `key` and room for `value_length` value bytes
  // (uninitialised). nullptr when malloc fails.
  static Item* Create(std::string_view key, size_t value_length, uint32_t flags, int64_t exptime) {
    void* memory = std::malloc(sizeof(Item) + key.size() + value_length);
    if (memory == nullptr) {
      return nullptr;
    }
    Item* item = new (memory) Item{};
    item->exptime = exptime;
    item->flags = flags;
    item->value_length = static_cast<uint32_t>(value_length);
    item->key_length = static_cast<uint8_t>(key.size());
    store_internal::CopyBytes(item->data(), key);
    return item;
  }

  static void Destroy(Item* item) { std::free(item); }

  char* data() { return reinterpret_cast<char*>(this + 1); }
  const char* data() const { return reinterpret_cast<const char*>(this + 1); }
  char* value_data() { return data() + key_length; }
  std::string_view key() const { return {data(), key_length}; }
  std::string_view value() const { return {data() + key_length, value_length}; }

  // Bytes this item counts against the memory limit.
  size_t size() const { return malloc_usable_size(const_cast<Item*>(this)) + store_internal::kItemOverhead; }

  store_internal::Version version() const { return {cas, origin}; }

  // The record of this item, viewing its key and value (record.h): the whole
  // item for kSet and kTouch, the key and version for kDelete.
  Record ToRecord(RecordKind kind) const {
    Record record;
    record.kind = kind;
    record.hlc = cas;
    record.origin = origin;
    record.key = key();
    if (kind == RecordKind::kDelete) {
      return record;
    }
    record.value = value();
    record.flags = flags;
    record.exptime = exptime;
    record.exptime_version = exptime_version;
    record.stale = stale;
    record.win_token_sent = win_token_sent;
    return record;
  }

  ItemView View() const {
    ItemView view;
    view.key = key();
    view.value = value();
    view.flags = flags;
    view.exptime = exptime;
    view.cas = cas;
    view.last_access = last_access;
    view.fetched = fetched;
    view.size = size();
    view.origin = origin;
    view.exptime_version = exptime_version;
    view.tombstone = tombstone;
    view.stale = stale;
    view.win_token_sent = win_token_sent;
    return view;
  }
};

// ---------------------------------------------------------------------------
// ItemTable: a chained hash table with a power-of-two bucket array that
// doubles when it holds more than 1.5 items per bucket, plus an intrusive LRU
// list. Owns its items. Not thread safe: the shard mutex guards it.

class Store::ItemTable {
 public:
  ItemTable() : buckets_(store_internal::kInitialBuckets, nullptr) {}
  ~ItemTable() {
    for (Item* item = lru_head_; item != nullptr;) {
      Item* next = item->lru_next;
      Item::Destroy(item);
      item = next;
    }
  }
  ItemTable(const ItemTable&) = delete;
  ItemTable& operator=(const ItemTable&) = delete;

  size_t size() const { return count_; }
  size_t bucket_count() const { return buckets_.size(); }
  Item* bucket(size_t index) const { return buckets_[index]; }
  Item* lru_tail() const { return lru_tail_; }

  Item* Find(std::string_view key, uint64_t hash) const {
    for (Item* item = buckets_[hash & mask()]; item != nullptr; item = item->hash_next) {
      if (item->key() == key) {
        return item;
      }
    }
    return nullptr;
  }

  // Adds `item` (whose key is absent) at the LRU head; may grow the table.
  void Insert(Item* item, uint64_t hash) {
    Item*& head = buckets_[hash & mask()];
    item->hash_next = head;
    head = item;
    ++count_;
    LruPushHead(item);
    if (count_ * 2 > buckets_.size() * 3) {
      Grow();
    }
  }

  // Unlinks `item` (present, with key hash `hash`) without freeing it.
  void Remove(Item* item, uint64_t hash) {
    Item** link = &buckets_[hash & mask()];
    while (*link != item) {
      link = &(*link)->hash_next;
    }
    *link = item->hash_next;
    --count_;
    LruUnlink(item);
  }

  // Grows the bucket array until `items` entries fit without a Grow().
  void Reserve(size_t items) {
    while (items * 2 > buckets_.size() * 3) {
      Grow();
    }
  }

  void MoveToHead(Item* item) {
    if (item == lru_head_) {
      return;
    }
    LruUnlink(item);
    LruPushHead(item);
  }

 private:
  size_t mask() const { return buckets_.size() - 1; }

  // Doubles the bucket array and rehashes every chain into it.
  void Grow() {
    std::vector<Item*> grown(buckets_.size() * 2, nullptr);
    const size_t grown_mask = grown.size() - 1;
    for (Item* item : buckets_) {
      while (item != nullptr) {
        Item* next = item->hash_next;
        Item*& head = grown[store_internal::HashKey(item->key()) & grown_mask];
        item->hash_next = head;
        head = item;
        item = next;
      }
    }
    buckets_.swap(grown);
  }

  void LruPushHead(Item* item) {
    item->lru_prev = nullptr;
    item->lru_next = lru_head_;
    if (lru_head_ != nullptr) {
      lru_head_->lru_prev = item;
    }
    lru_head_ = item;
    if (lru_tail_ == nullptr) {
      lru_tail_ = item;
    }
  }

  void LruUnlink(Item* item) {
    (item->lru_prev != nullptr ? item->lru_prev->lru_next : lru_head_) = item->lru_next;
    (item->lru_next != nullptr ? item->lru_next->lru_prev : lru_tail_) = item->lru_prev;
    item->lru_prev = nullptr;
    item->lru_next = nullptr;
  }

  std::vector<Item*> buckets_;
  size_t count_ = 0;
  Item* lru_head_ = nullptr;
  Item* lru_tail_ = nullptr;
};

// ---------------------------------------------------------------------------
// Shard: one mutex and everything it guards.

struct alignas(64) Store::Shard {
  explicit Shard(size_t shard_index) : index(shard_index) {}

  const size_t index;
  std::mutex mu;
  ItemTable table;  // guarded by mu; so are the fields below
  uint64_t total_items = 0;
  uint64_t evictions = 0;
  uint64_t evicted_unfetched = 0;
  uint64_t expired_unfetched = 0;
  uint64_t reclaimed = 0;
  uint64_t get_expired = 0;
  uint64_t get_flushed = 0;
  size_t tombstones = 0;      // tombstones in `table` (the rest are items)
  size_t reclaim_bucket = 0;  // where ReclaimExpired() continues in this shard
};

enum class Store::ItemState : uint8_t { kLive, kExpired, kFlushed };

}  // namespace twincache

#endif  // TWINCACHE_CORE_STORE_STORE_INTERNAL_H_
