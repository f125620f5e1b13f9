// Store internals shared by store.cc and store_apply.cc: the item layout,
// a shard's hash table, the shard, the store's memory (slab allocator and
// origin table), and the version helpers.
// Only the store's own .cc files include this header; see store.cc for the
// design.
#ifndef TWINCACHE_CORE_STORE_STORE_INTERNAL_H_
#define TWINCACHE_CORE_STORE_STORE_INTERNAL_H_

#include <algorithm>
#include <array>
#include <atomic>
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
#include "core/store/slab_allocator.h"
#include "core/store/store.h"

namespace twincache {
namespace store_internal {

// Buckets of a new shard table; a power of two.
constexpr size_t kInitialBuckets = 16;

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

// Bits of an item's atomic clock byte (Item::clock). kLinked and kReferenced
// change while the item lives; the layout bits are set when it is created.
constexpr uint8_t kLinked = 1;             // in its shard's table (the CLOCK hand may evict it)
constexpr uint8_t kReferenced = 2;         // CLOCK's reference bit: used since the hand last passed
constexpr uint8_t kHasExptimeVersion = 4;  // layout: an 8-byte exptime_version follows the header
constexpr uint8_t kHasOrigin = 8;          // layout: an 8-byte origin node id follows (after it)

// Origin node ids by a one-byte index (an item stores the index): the local
// node is index 0, a peer's id (new at each of its restarts) gets the next
// free index for the store's life. When the indices run out (kInlineOrigin
// peer restarts) an item stores its origin inline instead. Append-only, so
// readers need no lock. Thread safe.
class OriginTable {
 public:
  static constexpr uint8_t kInlineOrigin = 255;

  explicit OriginTable(uint64_t local_origin) {
    ids_[0].store(local_origin, std::memory_order_relaxed);
    count_.store(1, std::memory_order_release);
  }

  // The index of `origin`, adding it if needed; kInlineOrigin when full.
  uint8_t IndexOf(uint64_t origin) {
    const uint8_t found = Find(origin);
    if (found != kInlineOrigin) {
      return found;
    }
    std::lock_guard<std::mutex> lock(mu_);
    const uint8_t again = Find(origin);
    const size_t count = count_.load(std::memory_order_relaxed);
    if (again != kInlineOrigin || count == kInlineOrigin) {
      return again;
    }
    ids_[count].store(origin, std::memory_order_relaxed);
    count_.store(count + 1, std::memory_order_release);
    return static_cast<uint8_t>(count);
  }

  uint64_t At(uint8_t index) const { return ids_[index].load(std::memory_order_relaxed); }

 private:
  uint8_t Find(uint64_t origin) const {
    const size_t count = count_.load(std::memory_order_acquire);
    for (size_t i = 0; i < count; ++i) {
      if (ids_[i].load(std::memory_order_relaxed) == origin) {
        return static_cast<uint8_t>(i);
      }
    }
    return kInlineOrigin;
  }

  std::array<std::atomic<uint64_t>, kInlineOrigin> ids_{};
  std::atomic<size_t> count_{0};
  std::mutex mu_;  // serialises additions
};

}  // namespace store_internal

// ---------------------------------------------------------------------------
// Item: a 36-byte header, the optional fields its layout bits name, the key
// and the value, in one slab slot (memcached items.c item layout, packed):
//
//   0 hash_next   8 cas   16 exptime   20 last_access   24 flags
//   28 value_length   32 key_length   33 origin_index   34 bits   35 clock
//   36 [exptime_version, 8 bytes, with kHasExptimeVersion]
//      [origin, 8 bytes, with kHasOrigin]  key  value
//
// exptime_version is stored only when it can differ from the cas unique (the
// item was touched, or came from the peer with a later one; with -M every
// item has it, so a touch never needs memory). The origin is an index into
// the store's OriginTable. A touch of an item without the field moves it to a
// slot 8 bytes larger (Store::WithExptimeVersion).
//
// Threads: the fields are guarded by the shard mutex, except `clock`, which
// the CLOCK hand reads and clears under its class mutex, and last_access_s,
// which page moves read: both are only accessed atomically. The key and the
// layout never change while the item lives. A free slot keeps its header
// readable under AddressSanitizer (the rest is poisoned).

struct Store::Item {
  Item* hash_next;         // next item in the same hash bucket
  uint64_t cas;            // cas unique = version hlc
  uint32_t exptime_s;      // absolute unix seconds; 0 = never (tombstone: end of its TTL)
  uint32_t last_access_s;  // unix seconds (fits until 2106); atomic access only (last_access())
  uint32_t flags;          // client flags
  uint32_t value_length;   //
  uint8_t key_length;      // keys are at most kKeyMaxLength (250) bytes
  uint8_t origin_index;    // OriginTable index; kInlineOrigin: the inline origin field
  // memcached's it_flags.
  bool fetched : 1;         // read at least once since stored
  bool tombstone : 1;       // a deleted key's tombstone: no value, invisible to clients
  bool stale : 1;           // marked stale by md I / ms I (memcached ITEM_STALE)
  bool win_token_sent : 1;  // mg handed out this item's win token (memcached ITEM_TOKEN_SENT)
  uint8_t clock;            // store_internal::kLinked ...: atomic access only (clock_bits())

  static constexpr size_t kHeaderSize = 36;

  // Bytes of an item with this key and value length and these layout bits.
  static size_t TotalSize(size_t key_length, size_t value_length, uint8_t layout) {
    return kHeaderSize + ExtraSize(layout) + key_length + value_length;
  }

  uint8_t clock_bits() const {
    return std::atomic_ref<uint8_t>(const_cast<uint8_t&>(clock)).load(std::memory_order_acquire);
  }
  void SetClockBits(uint8_t bits) {
    std::atomic_ref<uint8_t>(clock).fetch_or(bits, std::memory_order_release);
  }
  void ClearClockBits(uint8_t bits) {
    std::atomic_ref<uint8_t>(clock).fetch_and(static_cast<uint8_t>(~bits), std::memory_order_release);
  }
  void ResetClock(uint8_t bits) { std::atomic_ref<uint8_t>(clock).store(bits, std::memory_order_release); }

  // Relaxed atomics: written under the shard mutex, also read by page moves
  // (Store::MovePageTo) that hold only the class mutex.
  uint32_t last_access() const {
    return std::atomic_ref<uint32_t>(const_cast<uint32_t&>(last_access_s)).load(std::memory_order_relaxed);
  }
  void set_last_access(uint32_t seconds) {
    std::atomic_ref<uint32_t>(last_access_s).store(seconds, std::memory_order_relaxed);
  }

  size_t total_size() const { return TotalSize(key_length, value_length, clock_bits()); }
  bool has_exptime_version() const { return (clock_bits() & store_internal::kHasExptimeVersion) != 0; }

  char* data() { return reinterpret_cast<char*>(this) + kHeaderSize + ExtraSize(clock_bits()); }
  const char* data() const {
    return reinterpret_cast<const char*>(this) + kHeaderSize + ExtraSize(clock_bits());
  }
  char* value_data() { return data() + key_length; }
  std::string_view key() const { return {data(), key_length}; }
  std::string_view value() const { return {data() + key_length, value_length}; }

  int64_t exptime() const { return exptime_s; }
  // Exptimes past 2106 are kept as 2106 (memcached keeps 32-bit times too).
  void set_exptime(int64_t exptime) {
    exptime_s = static_cast<uint32_t>(std::clamp<int64_t>(exptime, 0, std::numeric_limits<uint32_t>::max()));
  }

  uint64_t exptime_version() const {
    if (!has_exptime_version()) {
      return cas;
    }
    uint64_t version;
    std::memcpy(&version, Field(0), sizeof(version));
    return version;
  }
  // Without the field only the cas unique can be stored (the caller checks).
  void set_exptime_version(uint64_t version) {
    if (has_exptime_version()) {
      std::memcpy(Field(0), &version, sizeof(version));
    }
  }

  uint64_t origin(const store_internal::OriginTable& origins) const {
    if (origin_index != store_internal::OriginTable::kInlineOrigin) {
      return origins.At(origin_index);
    }
    uint64_t origin;
    std::memcpy(&origin, Field(has_exptime_version() ? 8 : 0), sizeof(origin));
    return origin;
  }
  // `index` from origins.IndexOf(origin); kInlineOrigin needs the layout bit.
  void set_origin(uint8_t index, uint64_t origin) {
    origin_index = index;
    if (index == store_internal::OriginTable::kInlineOrigin) {
      std::memcpy(Field(has_exptime_version() ? 8 : 0), &origin, sizeof(origin));
    }
  }

  store_internal::Version version(const store_internal::OriginTable& origins) const {
    return {cas, origin(origins)};
  }

 private:
  static size_t ExtraSize(uint8_t layout) {
    return ((layout & store_internal::kHasExptimeVersion) != 0 ? 8 : 0) +
           ((layout & store_internal::kHasOrigin) != 0 ? 8 : 0);
  }
  char* Field(size_t offset) { return reinterpret_cast<char*>(this) + kHeaderSize + offset; }
  const char* Field(size_t offset) const {
    return reinterpret_cast<const char*>(this) + kHeaderSize + offset;
  }
};

// ---------------------------------------------------------------------------
// Memory: the slab allocator all shards share and the origin table.

struct Store::Memory {
  explicit Memory(const StoreOptions& options)
      : slabs(options.limit_bytes, Item::kHeaderSize + 1,
              Item::TotalSize(kKeyMaxLength, options.item_size_max,
                              store_internal::kHasExptimeVersion | store_internal::kHasOrigin),
              store_internal::SlabAllocator::kPageSize, Item::kHeaderSize),
        origins(options.node_id),
        hand_times(std::make_unique<std::atomic<uint32_t>[]>(static_cast<size_t>(slabs.class_count()))),
        class_counters(std::make_unique<ClassCounters[]>(static_cast<size_t>(slabs.class_count()))) {}

  int ClassOf(const Item& item) const { return slabs.ClassFor(item.total_size()); }
  // Bytes `item` counts against the memory limit: its slot.
  size_t SizeOf(const Item& item) const { return slabs.SlotSize(ClassOf(item)); }

  // The record of `item`, viewing its key and value (record.h): the whole
  // item for kSet and kTouch, the key and version for kDelete.
  Record ToRecord(const Item& item, RecordKind kind) const {
    Record record;
    record.kind = kind;
    record.hlc = item.cas;
    record.origin = item.origin(origins);
    record.key = item.key();
    if (kind == RecordKind::kDelete) {
      return record;
    }
    record.value = item.value();
    record.flags = item.flags;
    record.exptime = item.exptime();
    record.exptime_version = item.exptime_version();
    record.stale = item.stale;
    record.win_token_sent = item.win_token_sent;
    return record;
  }

  ItemView View(const Item& item) const {
    ItemView view;
    view.key = item.key();
    view.value = item.value();
    view.flags = item.flags;
    view.exptime = item.exptime();
    view.cas = item.cas;
    view.last_access = item.last_access();
    view.fetched = item.fetched;
    const int cls = ClassOf(item);
    view.size = slabs.SlotSize(cls);
    view.slab_class = cls + 1;
    view.origin = item.origin(origins);
    view.exptime_version = item.exptime_version();
    view.tombstone = item.tombstone;
    view.stale = item.stale;
    view.win_token_sent = item.win_token_sent;
    return view;
  }

  // Counters of one slab class, named as memcached's `stats items` names
  // them (items.c itemstats_t). Relaxed atomics: `items` changes as items
  // are linked and unlinked under their shard mutex, the others where items
  // are freed or refused (under a shard or class mutex); readers take none.
  // One cache line each, so writers of two classes do not share one.
  struct alignas(64) ClassCounters {
    std::atomic<uint64_t> items{0};  // linked items, tombstones not counted
    std::atomic<uint64_t> evicted{0};
    std::atomic<uint64_t> evicted_unfetched{0};
    std::atomic<uint64_t> expired_unfetched{0};
    std::atomic<uint64_t> reclaimed{0};
    std::atomic<uint64_t> outofmemory{0};
  };

  // Adds `delta` (+1 or -1) to the item count of class `cls`.
  void CountItems(int cls, int delta) {
    class_counters[cls].items.fetch_add(static_cast<uint64_t>(delta), std::memory_order_relaxed);
  }
  static void Bump(std::atomic<uint64_t>& counter) { counter.fetch_add(1, std::memory_order_relaxed); }

  store_internal::SlabAllocator slabs;
  store_internal::OriginTable origins;
  // Per class: last_access of the last item its CLOCK hand freed (0: none
  // yet), the class's age estimate for EvictForBytes.
  std::unique_ptr<std::atomic<uint32_t>[]> hand_times;
  std::atomic<uint32_t> last_page_move_s{0};        // unix seconds of the last MovePageTo attempt
  std::unique_ptr<ClassCounters[]> class_counters;  // per class, see ClassCounters
};

// ---------------------------------------------------------------------------
// ItemTable: a chained hash table with a power-of-two bucket array that
// doubles when it holds more than 1.5 items per bucket. The items live in
// slab slots (Store::NewItem); the table only links them, and marks them
// kLinked while they are in it. Not thread safe: the shard mutex guards it.

class Store::ItemTable {
 public:
  ItemTable() : buckets_(store_internal::kInitialBuckets, nullptr) {}
  ItemTable(const ItemTable&) = delete;
  ItemTable& operator=(const ItemTable&) = delete;

  size_t size() const { return count_; }
  size_t bucket_count() const { return buckets_.size(); }
  Item* bucket(size_t index) const { return buckets_[index]; }
  // Where bucket `index`'s head pointer is kept (for a prefetch).
  const void* slot_address(size_t index) const { return &buckets_[index]; }

  Item* Find(std::string_view key, uint64_t hash) const {
    for (Item* item = buckets_[hash & mask()]; item != nullptr; item = item->hash_next) {
      if (item->key() == key) {
        return item;
      }
    }
    return nullptr;
  }

  // Adds `item` (whose key is absent), referenced as a new item is at the
  // head of an LRU list; may grow the table.
  void Insert(Item* item, uint64_t hash) {
    Item*& head = buckets_[hash & mask()];
    item->hash_next = head;
    head = item;
    ++count_;
    item->SetClockBits(store_internal::kLinked | store_internal::kReferenced);
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
    item->ClearClockBits(store_internal::kLinked | store_internal::kReferenced);
  }

  // Grows the bucket array until `items` entries fit without a Grow().
  void Reserve(size_t items) {
    while (items * 2 > buckets_.size() * 3) {
      Grow();
    }
  }

  // CLOCK's "move to head": the hand will pass it over once.
  static void Reference(Item* item) {
    if ((item->clock_bits() & store_internal::kReferenced) == 0) {
      item->SetClockBits(store_internal::kReferenced);
    }
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

  std::vector<Item*> buckets_;
  size_t count_ = 0;
};

// ---------------------------------------------------------------------------
// Shard: one mutex and everything it guards.

struct alignas(64) Store::Shard {
  explicit Shard(size_t shard_index) : index(shard_index) {}

  const size_t index;
  std::mutex mu;
  ItemTable table;  // guarded by mu; so are the fields below
  uint64_t total_items = 0;
  uint64_t get_expired = 0;
  uint64_t get_flushed = 0;
  size_t tombstones = 0;      // tombstones in `table` (the rest are items)
  size_t reclaim_bucket = 0;  // where ReclaimExpired() continues in this shard
};

enum class Store::ItemState : uint8_t { kLive, kExpired, kFlushed };

}  // namespace twincache

#endif  // TWINCACHE_CORE_STORE_STORE_INTERNAL_H_
