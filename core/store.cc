// Store: the sharded item table (see store.h for the contract).
//
// Layout. Each item is ONE malloc'd block: an Item header (hash chain link,
// LRU links, cas unique, exptime, flags, last access, key and value lengths,
// fetched bit) followed by the key bytes and the value bytes, as memcached's
// item is (items.c do_item_alloc) but without slabs: the allocator's real
// chunk size is what counts against -m, so `bytes` follows the resident memory.
//
// Shards. A key's hash picks the shard from its high bits and the bucket
// inside the shard's chained table from its low bits. A shard's mutex guards
// its table, its LRU list (head = most recently used) and its counters.
//
// Writes. set/add/replace/cas build the new item before taking the lock, so a
// 1 MB copy never runs under it; append/prepend and incr/decr must read the
// old value and build under the lock. A write charges its size (minus the size
// of the item it replaces) to the global byte count; when that would pass the
// limit it evicts LRU tail items of its own shard, then of other shards taken
// with try_lock only, so a writer never waits for a second lock and two
// writers cannot deadlock (memcached items.c lru_pull_tail, without the
// separate LRU lock).
//
// Expiry. Items are checked when touched (lazy expiry, memcached do_item_get),
// at the LRU tail during eviction, and by ReclaimExpired(), an incremental walk
// over the buckets that plays memcached's LRU crawler. flush_all is a version:
// items whose cas unique is not above it are invalid once the clock reaches
// the flush time (memcached's oldest_live, in HLC terms).
//
// Counters follow memcached: `reclaimed` and `expired_unfetched` count expired
// or flushed items freed at the LRU tail or by ReclaimExpired(); a lookup that
// frees one counts only get_expired/get_flushed, and only in Get().
#include "core/store.h"

#include <malloc.h>

#include <algorithm>
#include <charconv>
#include <cstdlib>
#include <cstring>
#include <limits>
#include <new>
#include <thread>

namespace twincache {

namespace {

// Buckets of a new shard table; a power of two.
constexpr size_t kInitialBuckets = 16;

// Bytes an item costs beyond malloc_usable_size(): the malloc chunk header (8)
// and, on average, one hash bucket slot (8).
constexpr size_t kItemOverhead = 16;

// With -M, how many LRU tail items eviction examines for an expired one
// (memcached lru_pull_tail's search depth).
constexpr int kTailSearchDepth = 5;

// Most shards a Store may have (2^16).
constexpr int kMaxShardBits = 16;

// HLC layout: unix milliseconds above a 16-bit counter.
constexpr int kHlcCounterBits = 16;
constexpr uint64_t kHlcCounterMask = (uint64_t{1} << kHlcCounterBits) - 1;

// Latest delayed flush time representable in an HLC version (year ~6400).
constexpr int64_t kMaxFlushMillis = (int64_t{1} << (63 - kHlcCounterBits)) - 1;

// flush_version_ while PublishFlush() rewrites flush_at_ms_ (never a real version).
constexpr uint64_t kFlushUpdating = std::numeric_limits<uint64_t>::max();

// Widest decimal uint64 (18446744073709551615).
constexpr size_t kCounterMaxDigits = 20;

uint64_t HashKey(std::string_view key) { return std::hash<std::string_view>{}(key); }

uint64_t MillisToVersion(int64_t millis) {
  return static_cast<uint64_t>(std::max<int64_t>(millis, 0)) << kHlcCounterBits;
}

uint32_t ToAccessTime(int64_t now_ms) {
  return static_cast<uint32_t>(std::clamp<int64_t>(now_ms / 1000, 0, std::numeric_limits<uint32_t>::max()));
}

// memcpy that accepts an empty source (whose data() may be null).
void CopyBytes(char* destination, std::string_view source) {
  if (!source.empty()) std::memcpy(destination, source.data(), source.size());
}

// Reverses the bit order of a 64-bit word.
uint64_t ReverseBits(uint64_t v) {
  v = ((v >> 1) & 0x5555555555555555ULL) | ((v & 0x5555555555555555ULL) << 1);
  v = ((v >> 2) & 0x3333333333333333ULL) | ((v & 0x3333333333333333ULL) << 2);
  v = ((v >> 4) & 0x0F0F0F0F0F0F0F0FULL) | ((v & 0x0F0F0F0F0F0F0F0FULL) << 4);
  return __builtin_bswap64(v);
}

// The bucket cursor after `cursor` in a table of mask + 1 buckets: increments
// the reversed cursor, so buckets that split when the table doubles are
// visited next to each other and none is skipped (Redis dict.c dictScan).
// Returns 0 when the table is done.
uint64_t NextBucketCursor(uint64_t cursor, uint64_t mask) {
  cursor |= ~mask;
  cursor = ReverseBits(cursor);
  ++cursor;
  return ReverseBits(cursor);
}

// Parses an incr/decr operand as memcached accepts it: 1 to 20 decimal digits,
// optionally followed by spaces (memcached pads decremented values), and no
// more than 2^64 - 1. False otherwise.
bool ParseCounter(std::string_view value, uint64_t* number) {
  size_t digits = 0;
  while (digits < value.size() && value[digits] >= '0' && value[digits] <= '9') ++digits;
  if (digits == 0 || digits > kCounterMaxDigits) return false;
  for (size_t i = digits; i < value.size(); ++i) {
    if (value[i] != ' ') return false;
  }
  const auto [end, error] = std::from_chars(value.data(), value.data() + digits, *number);
  return error == std::errc() && end == value.data() + digits;
}

}  // namespace

// ---------------------------------------------------------------------------
// Item: header + key + value in one allocation.

struct Store::Item {
  Item* hash_next;  // next item in the same hash bucket
  Item* lru_prev;   // toward the LRU head (more recently used)
  Item* lru_next;   // toward the LRU tail (less recently used)
  uint64_t cas;     // cas unique = version
  int64_t exptime;  // absolute unix seconds; 0 = never
  uint32_t flags;   // client flags
  uint32_t value_length;
  uint32_t last_access;  // unix seconds (fits until 2106)
  uint8_t key_length;    // keys are at most kKeyMaxLength (250) bytes
  bool fetched;          // read at least once since stored

  // Allocates an item holding `key` and room for `value_length` value bytes
  // (uninitialised). nullptr when malloc fails.
  static Item* Create(std::string_view key, size_t value_length, uint32_t flags, int64_t exptime) {
    void* memory = std::malloc(sizeof(Item) + key.size() + value_length);
    if (memory == nullptr) return nullptr;
    Item* item = new (memory) Item{};
    item->exptime = exptime;
    item->flags = flags;
    item->value_length = static_cast<uint32_t>(value_length);
    item->key_length = static_cast<uint8_t>(key.size());
    CopyBytes(item->data(), key);
    return item;
  }

  static void Destroy(Item* item) { std::free(item); }

  char* data() { return reinterpret_cast<char*>(this + 1); }
  const char* data() const { return reinterpret_cast<const char*>(this + 1); }
  char* value_data() { return data() + key_length; }
  std::string_view key() const { return {data(), key_length}; }
  std::string_view value() const { return {data() + key_length, value_length}; }

  // Bytes this item counts against the memory limit.
  size_t size() const { return malloc_usable_size(const_cast<Item*>(this)) + kItemOverhead; }

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
    return view;
  }
};

// ---------------------------------------------------------------------------
// ItemTable: a chained hash table with a power-of-two bucket array that
// doubles when it holds more than 1.5 items per bucket, plus an intrusive LRU
// list. Owns its items. Not thread safe: the shard mutex guards it.

class Store::ItemTable {
 public:
  ItemTable() : buckets_(kInitialBuckets, nullptr) {}
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
      if (item->key() == key) return item;
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
    if (count_ * 2 > buckets_.size() * 3) Grow();
  }

  // Unlinks `item` (present, with key hash `hash`) without freeing it.
  void Remove(Item* item, uint64_t hash) {
    Item** link = &buckets_[hash & mask()];
    while (*link != item) link = &(*link)->hash_next;
    *link = item->hash_next;
    --count_;
    LruUnlink(item);
  }

  void MoveToHead(Item* item) {
    if (item == lru_head_) return;
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
        Item*& head = grown[HashKey(item->key()) & grown_mask];
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
    if (lru_head_ != nullptr) lru_head_->lru_prev = item;
    lru_head_ = item;
    if (lru_tail_ == nullptr) lru_tail_ = item;
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
  size_t reclaim_bucket = 0;  // where ReclaimExpired() continues in this shard
};

enum class Store::ItemState : uint8_t { kLive, kExpired, kFlushed };

// ---------------------------------------------------------------------------
// Construction.

Store::Store(const StoreOptions& options)
    : options_(options),
      clock_(options.clock != nullptr ? options.clock : SystemClock::Default()),
      limit_bytes_(options.limit_bytes) {
  options_.shard_bits = std::clamp(options_.shard_bits, 0, kMaxShardBits);
  options_.clock = clock_;
  const size_t shard_count = size_t{1} << options_.shard_bits;
  shards_.reserve(shard_count);
  for (size_t i = 0; i < shard_count; ++i) shards_.push_back(std::make_unique<Shard>(i));
}

Store::~Store() = default;  // each ItemTable frees its items

Store::Shard& Store::ShardFor(uint64_t hash) {
  if (options_.shard_bits == 0) return *shards_[0];
  return *shards_[hash >> (64 - options_.shard_bits)];
}

// ---------------------------------------------------------------------------
// Versions and flush_all.

uint64_t Store::NextVersion() {
  // Hybrid logical clock: wall-clock milliseconds in the high bits, so
  // versions from two twins compare by time; a counter in the low bits keeps
  // them strictly increasing within a millisecond and across clock steps.
  const uint64_t wall = MillisToVersion(clock_->NowMillis());
  uint64_t last = hlc_.load(std::memory_order_relaxed);
  uint64_t next;
  do {
    next = std::max(last + 1, wall);
  } while (!hlc_.compare_exchange_weak(last, next, std::memory_order_relaxed));
  return next;
}

void Store::ObserveVersion(uint64_t version) {
  uint64_t last = hlc_.load(std::memory_order_relaxed);
  while (last < version && !hlc_.compare_exchange_weak(last, version, std::memory_order_relaxed)) {
  }
}

// flush_version_ and flush_at_ms_ form one value that readers load on every
// access, so they are published seqlock-style: the version is parked at
// kFlushUpdating while the time changes, and a reader retries unless it read
// the same real version before and after the time. All accesses are
// sequentially consistent, which orders the three stores against the loads.
void Store::PublishFlush(uint64_t version, int64_t at_ms) {
  flush_version_.store(kFlushUpdating);
  flush_at_ms_.store(at_ms);
  flush_version_.store(version);
}

Store::FlushPoint Store::LoadFlush() const {
  for (;;) {
    const uint64_t version = flush_version_.load();
    if (version == kFlushUpdating) {
      std::this_thread::yield();  // FlushAll() is between its two stores
      continue;
    }
    const int64_t at_ms = flush_at_ms_.load();
    if (flush_version_.load() == version) return {version, at_ms};
  }
}

Store::ItemState Store::StateOf(const Item& item, const FlushPoint& flush, int64_t now_ms) const {
  if (IsExpired(item.exptime, now_ms / 1000)) return ItemState::kExpired;
  if (item.cas <= flush.version && now_ms >= flush.at_ms) return ItemState::kFlushed;
  return ItemState::kLive;
}

void Store::FlushAll(int64_t at_ms) {
  std::lock_guard<std::mutex> flush_lock(flush_mu_);
  if (at_ms > clock_->NowMillis()) {
    // Delayed: every version up to the end of that millisecond is flushed then,
    // including items written between now and then (memcached oldest_live).
    const int64_t flush_ms = std::min(at_ms, kMaxFlushMillis);
    PublishFlush(MillisToVersion(flush_ms) | kHlcCounterMask, flush_ms);
    return;
  }
  const uint64_t version = NextVersion();
  PublishFlush(version, at_ms);
  DropFlushed(version);
}

// Frees every item with cas <= version, one shard lock at a time.
void Store::DropFlushed(uint64_t version) {
  for (const auto& shard : shards_) {
    std::lock_guard<std::mutex> lock(shard->mu);
    ItemTable& table = shard->table;
    for (size_t b = 0; b < table.bucket_count(); ++b) {
      for (Item* item = table.bucket(b); item != nullptr;) {
        Item* next = item->hash_next;
        if (item->cas <= version) Drop(*shard, item, HashKey(item->key()));
        item = next;
      }
    }
  }
}

// ---------------------------------------------------------------------------
// Lookup, memory accounting and eviction (all with the shard lock held).

Store::Item* Store::FindLive(Shard& shard, std::string_view key, uint64_t hash, int64_t now_ms,
                             ItemState* dead_state) {
  Item* item = shard.table.Find(key, hash);
  if (item == nullptr) return nullptr;
  const ItemState state = StateOf(*item, LoadFlush(), now_ms);
  if (state == ItemState::kLive) return item;
  Drop(shard, item, hash);
  if (dead_state != nullptr) *dead_state = state;
  return nullptr;
}

void Store::Drop(Shard& shard, Item* item, uint64_t hash) {
  bytes_.fetch_sub(item->size(), std::memory_order_relaxed);
  shard.table.Remove(item, hash);
  Item::Destroy(item);
}

bool Store::TryCharge(size_t bytes) {
  const uint64_t limit = limit_bytes_.load(std::memory_order_relaxed);
  uint64_t current = bytes_.load(std::memory_order_relaxed);
  do {
    if (current + bytes > limit) return false;
  } while (!bytes_.compare_exchange_weak(current, current + bytes, std::memory_order_relaxed));
  return true;
}

// Frees one item from the LRU tail of `shard` (locked by the caller), never
// `keep`: the tail item if it is expired or flushed (counted as reclaimed) or
// if evictions are allowed (counted as an eviction); with -M, the first dead
// item among the last kTailSearchDepth. False when nothing could be freed.
bool Store::EvictTail(Shard& shard, const Item* keep, int64_t now_ms) {
  const FlushPoint flush = LoadFlush();
  int examined = 0;
  for (Item* item = shard.table.lru_tail(); item != nullptr && examined < kTailSearchDepth;
       item = item->lru_prev) {
    if (item == keep) continue;
    ++examined;
    if (StateOf(*item, flush, now_ms) != ItemState::kLive) {
      ++shard.reclaimed;
      if (!item->fetched) ++shard.expired_unfetched;
    } else if (options_.evict_to_free) {
      ++shard.evictions;
      if (!item->fetched) ++shard.evicted_unfetched;
    } else {
      continue;
    }
    Drop(shard, item, HashKey(item->key()));
    return true;
  }
  return false;
}

// Accounts for replacing an item of `old_size` bytes (0: none) in `shard`
// (locked by the caller) with one of `new_size` bytes, evicting as needed.
// False (nothing charged) when the limit cannot be met.
bool Store::Charge(Shard& shard, size_t old_size, size_t new_size, const Item* keep, int64_t now_ms) {
  if (new_size <= old_size) {
    bytes_.fetch_sub(old_size - new_size, std::memory_order_relaxed);
    return true;
  }
  const size_t needed = new_size - old_size;
  if (needed > limit_bytes_.load(std::memory_order_relaxed)) return false;
  for (;;) {
    if (TryCharge(needed)) return true;
    if (!EvictTail(shard, keep, now_ms)) break;
  }
  // Other shards, without ever blocking on their locks: a busy shard is
  // skipped; passes repeat while some shard still gives up memory.
  const size_t count = shards_.size();
  for (bool progress = true; progress;) {
    progress = false;
    for (size_t i = 1; i < count; ++i) {
      Shard& other = *shards_[(shard.index + i) % count];
      std::unique_lock<std::mutex> lock(other.mu, std::try_to_lock);
      if (!lock.owns_lock()) continue;
      for (;;) {
        if (TryCharge(needed)) return true;
        if (!EvictTail(other, nullptr, now_ms)) break;
        progress = true;
      }
    }
  }
  return TryCharge(needed);
}

// Puts `new_item` in place of `old_item` (or adds it when null), gives it its
// cas unique and returns it. The bytes were charged by Charge().
uint64_t Store::Link(Shard& shard, Item* old_item, Item* new_item, uint64_t hash, uint64_t new_cas,
                     int64_t now_ms) {
  new_item->cas = new_cas != 0 ? new_cas : NextVersion();
  new_item->last_access = ToAccessTime(now_ms);
  if (old_item != nullptr) {
    shard.table.Remove(old_item, hash);
    Item::Destroy(old_item);
  }
  shard.table.Insert(new_item, hash);
  ++shard.total_items;
  return new_item->cas;
}

// ---------------------------------------------------------------------------
// Commands.

bool Store::Get(std::string_view key, const ReadOptions& options,
                const std::function<void(const ItemView&)>& fn) {
  const uint64_t hash = HashKey(key);
  Shard& shard = ShardFor(hash);
  std::lock_guard<std::mutex> lock(shard.mu);
  const int64_t now_ms = clock_->NowMillis();
  ItemState dead_state = ItemState::kLive;
  Item* item = FindLive(shard, key, hash, now_ms, &dead_state);
  if (item == nullptr) {
    if (dead_state == ItemState::kExpired) ++shard.get_expired;
    if (dead_state == ItemState::kFlushed) ++shard.get_flushed;
    return false;
  }
  if (options.touch) item->exptime = options.exptime;
  fn(item->View());
  if (options.bump_lru) {
    // memcached do_item_bump: mark fetched, refresh the access time, move to the head.
    item->fetched = true;
    item->last_access = ToAccessTime(now_ms);
    shard.table.MoveToHead(item);
  }
  return true;
}

StoreStatus Store::StoreItem(StoreMode mode, std::string_view key, std::string_view value, uint32_t flags,
                             int64_t exptime, const WriteOptions& options, uint64_t* cas_out) {
  if (key.size() > kKeyMaxLength || !ItemFits(key.size(), value.size(), options_.item_size_max)) {
    return StoreStatus::kTooLarge;
  }
  if (mode == StoreMode::kAppend || mode == StoreMode::kPrepend) {
    return Concatenate(mode, key, value, options, cas_out);
  }
  if (options.compare_cas != 0 && (mode == StoreMode::kSet || mode == StoreMode::kReplace)) {
    mode = StoreMode::kCas;  // memcached proto_text.c process_mset_command
  }
  // Build the item before locking so a large copy does not block the shard.
  Item* fresh = Item::Create(key, value.size(), flags, exptime);
  if (fresh == nullptr) return StoreStatus::kOutOfMemory;
  CopyBytes(fresh->value_data(), value);
  const size_t fresh_size = fresh->size();

  const uint64_t hash = HashKey(key);
  Shard& shard = ShardFor(hash);
  std::unique_lock<std::mutex> lock(shard.mu);
  const int64_t now_ms = clock_->NowMillis();
  Item* old = FindLive(shard, key, hash, now_ms, nullptr);
  StoreStatus status = StoreStatus::kStored;
  switch (mode) {
    case StoreMode::kAdd:
      if (old != nullptr) {
        // memcached do_store_item: a failed add still promotes the item.
        old->last_access = ToAccessTime(now_ms);
        shard.table.MoveToHead(old);
        status = StoreStatus::kNotStored;
      }
      break;
    case StoreMode::kReplace:
      if (old == nullptr) status = StoreStatus::kNotStored;
      break;
    case StoreMode::kCas:
      if (old == nullptr) {
        status = StoreStatus::kNotFound;
      } else if (old->cas != options.compare_cas) {
        status = StoreStatus::kExists;
      }
      break;
    case StoreMode::kSet:
    case StoreMode::kAppend:  // handled by Concatenate()
    case StoreMode::kPrepend:
      break;
  }
  if (status == StoreStatus::kStored &&
      !Charge(shard, old != nullptr ? old->size() : 0, fresh_size, old, now_ms)) {
    status = StoreStatus::kOutOfMemory;
  }
  if (status != StoreStatus::kStored) {
    lock.unlock();
    Item::Destroy(fresh);
    return status;
  }
  const uint64_t cas = Link(shard, old, fresh, hash, options.new_cas, now_ms);
  if (cas_out != nullptr) *cas_out = cas;
  return StoreStatus::kStored;
}

// append/prepend: the new item needs the old value, so it is built under the
// lock; flags and exptime stay (memcached do_store_item, _store_item_copy_data).
StoreStatus Store::Concatenate(StoreMode mode, std::string_view key, std::string_view value,
                               const WriteOptions& options, uint64_t* cas_out) {
  const uint64_t hash = HashKey(key);
  Shard& shard = ShardFor(hash);
  std::lock_guard<std::mutex> lock(shard.mu);
  const int64_t now_ms = clock_->NowMillis();
  Item* old = FindLive(shard, key, hash, now_ms, nullptr);
  if (old == nullptr) return StoreStatus::kNotStored;
  if (options.compare_cas != 0 && old->cas != options.compare_cas) return StoreStatus::kExists;
  const std::string_view old_value = old->value();
  if (!ItemFits(key.size(), old_value.size() + value.size(), options_.item_size_max)) {
    return StoreStatus::kTooLarge;
  }
  Item* fresh = Item::Create(key, old_value.size() + value.size(), old->flags, old->exptime);
  if (fresh == nullptr) return StoreStatus::kOutOfMemory;
  const bool append = mode == StoreMode::kAppend;
  CopyBytes(fresh->value_data(), append ? old_value : value);
  CopyBytes(fresh->value_data() + (append ? old_value.size() : value.size()), append ? value : old_value);
  if (!Charge(shard, old->size(), fresh->size(), old, now_ms)) {
    Item::Destroy(fresh);
    return StoreStatus::kOutOfMemory;
  }
  const uint64_t cas = Link(shard, old, fresh, hash, options.new_cas, now_ms);
  if (cas_out != nullptr) *cas_out = cas;
  return StoreStatus::kStored;
}

ArithStatus Store::Arithmetic(std::string_view key, const ArithOptions& options, uint64_t* value_out,
                              uint64_t* cas_out) {
  const uint64_t hash = HashKey(key);
  Shard& shard = ShardFor(hash);
  std::lock_guard<std::mutex> lock(shard.mu);
  const int64_t now_ms = clock_->NowMillis();
  Item* old = FindLive(shard, key, hash, now_ms, nullptr);
  uint64_t result = 0;
  uint32_t flags = 0;
  int64_t exptime = 0;
  if (old == nullptr) {
    if (!options.autovivify) return ArithStatus::kNotFound;
    // Meta arithmetic N/J: create the item with the initial value, no delta.
    result = options.initial;
    exptime = options.vivify_exptime;
  } else {
    if (options.compare_cas != 0 && old->cas != options.compare_cas) return ArithStatus::kExists;
    uint64_t current = 0;
    if (!ParseCounter(old->value(), &current)) return ArithStatus::kNonNumeric;
    if (options.incr) {
      result = current + options.delta;  // wraps modulo 2^64, as memcached does
    } else {
      result = options.delta > current ? 0 : current - options.delta;
    }
    flags = old->flags;
    exptime = options.update_exptime ? options.exptime : old->exptime;
  }
  char digits[kCounterMaxDigits];
  const auto end = std::to_chars(digits, digits + sizeof(digits), result).ptr;
  const std::string_view text(digits, static_cast<size_t>(end - digits));
  Item* fresh = Item::Create(key, text.size(), flags, exptime);
  if (fresh == nullptr) return ArithStatus::kOutOfMemory;
  CopyBytes(fresh->value_data(), text);
  if (!Charge(shard, old != nullptr ? old->size() : 0, fresh->size(), old, now_ms)) {
    Item::Destroy(fresh);
    return ArithStatus::kOutOfMemory;
  }
  const uint64_t cas = Link(shard, old, fresh, hash, 0, now_ms);
  if (value_out != nullptr) *value_out = result;
  if (cas_out != nullptr) *cas_out = cas;
  return ArithStatus::kOk;
}

DeleteStatus Store::Delete(std::string_view key, uint64_t compare_cas) {
  const uint64_t hash = HashKey(key);
  Shard& shard = ShardFor(hash);
  std::lock_guard<std::mutex> lock(shard.mu);
  Item* item = FindLive(shard, key, hash, clock_->NowMillis(), nullptr);
  if (item == nullptr) return DeleteStatus::kNotFound;
  if (compare_cas != 0 && item->cas != compare_cas) return DeleteStatus::kExists;
  Drop(shard, item, hash);
  return DeleteStatus::kDeleted;
}

bool Store::Touch(std::string_view key, int64_t exptime) {
  const uint64_t hash = HashKey(key);
  Shard& shard = ShardFor(hash);
  std::lock_guard<std::mutex> lock(shard.mu);
  const int64_t now_ms = clock_->NowMillis();
  Item* item = FindLive(shard, key, hash, now_ms, nullptr);
  if (item == nullptr) return false;
  // memcached do_item_touch: a bumped access that keeps the cas unique.
  item->exptime = exptime;
  item->fetched = true;
  item->last_access = ToAccessTime(now_ms);
  shard.table.MoveToHead(item);
  return true;
}

// ---------------------------------------------------------------------------
// Walks.

size_t Store::Scan(ScanCursor* cursor, size_t max_items, const std::function<void(const ItemView&)>& fn) {
  if (cursor->shard_count_ == 0) {
    cursor->shard_count_ = shards_.size();
    cursor->shard_ = 0;
    cursor->bucket_cursor_ = 0;
  }
  // Like Redis SCAN, a call also ends after visiting many empty buckets.
  size_t empty_budget = std::max<size_t>(max_items, 1) * 10;
  size_t visited = 0;
  while (!cursor->done() && visited < max_items && empty_budget > 0) {
    Shard& shard = *shards_[cursor->shard_];
    std::lock_guard<std::mutex> lock(shard.mu);
    const int64_t now_ms = clock_->NowMillis();
    const FlushPoint flush = LoadFlush();
    const uint64_t mask = shard.table.bucket_count() - 1;
    uint64_t position = cursor->bucket_cursor_;
    do {
      const Item* item = shard.table.bucket(position & mask);
      if (item == nullptr) --empty_budget;
      for (; item != nullptr; item = item->hash_next) {
        if (StateOf(*item, flush, now_ms) != ItemState::kLive) continue;
        fn(item->View());
        ++visited;
      }
      position = NextBucketCursor(position, mask);
    } while (position != 0 && visited < max_items && empty_budget > 0);
    if (position == 0) {
      ++cursor->shard_;
      cursor->bucket_cursor_ = 0;
    } else {
      cursor->bucket_cursor_ = position;
    }
  }
  return visited;
}

size_t Store::ReclaimExpired(size_t max_items) {
  const size_t count = shards_.size();
  size_t examined = 0;
  size_t freed = 0;
  for (size_t finished_shards = 0; examined < max_items && finished_shards < count;) {
    const size_t index = reclaim_shard_.load(std::memory_order_relaxed) % count;
    Shard& shard = *shards_[index];
    std::lock_guard<std::mutex> lock(shard.mu);
    const int64_t now_ms = clock_->NowMillis();
    const FlushPoint flush = LoadFlush();
    ItemTable& table = shard.table;
    size_t b = std::min(shard.reclaim_bucket, table.bucket_count());
    for (; b < table.bucket_count() && examined < max_items; ++b) {
      for (Item* item = table.bucket(b); item != nullptr;) {
        Item* next = item->hash_next;
        ++examined;
        if (StateOf(*item, flush, now_ms) != ItemState::kLive) {
          ++shard.reclaimed;
          if (!item->fetched) ++shard.expired_unfetched;
          Drop(shard, item, HashKey(item->key()));
          ++freed;
        }
        item = next;
      }
    }
    if (b < table.bucket_count()) {
      shard.reclaim_bucket = b;
    } else {
      shard.reclaim_bucket = 0;
      reclaim_shard_.store((index + 1) % count, std::memory_order_relaxed);
      ++finished_shards;
    }
  }
  return freed;
}

// ---------------------------------------------------------------------------
// Stats and limits.

StoreStats Store::GetStats() const {
  StoreStats stats;
  for (const auto& shard : shards_) {
    std::lock_guard<std::mutex> lock(shard->mu);
    stats.curr_items += shard->table.size();
    stats.total_items += shard->total_items;
    stats.evictions += shard->evictions;
    stats.evicted_unfetched += shard->evicted_unfetched;
    stats.expired_unfetched += shard->expired_unfetched;
    stats.reclaimed += shard->reclaimed;
    stats.get_expired += shard->get_expired;
    stats.get_flushed += shard->get_flushed;
  }
  stats.bytes = bytes_.load(std::memory_order_relaxed);
  stats.limit_maxbytes = limit_bytes_.load(std::memory_order_relaxed);
  return stats;
}

void Store::ResetStats() {
  for (const auto& shard : shards_) {
    std::lock_guard<std::mutex> lock(shard->mu);
    shard->total_items = 0;
    shard->evictions = 0;
    shard->evicted_unfetched = 0;
    shard->expired_unfetched = 0;
    shard->reclaimed = 0;
    shard->get_expired = 0;
    shard->get_flushed = 0;
  }
}

void Store::SetLimit(size_t limit_bytes) { limit_bytes_.store(limit_bytes, std::memory_order_relaxed); }

}  // namespace twincache
