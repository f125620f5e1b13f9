// Store: the sharded item table (see store.h for the contract).
//
// Layout (store_internal.h). Each item is ONE malloc'd block: an Item header
// (hash chain link, LRU links, cas unique, origin, exptime_version, exptime,
// flags, last access, key and value lengths, fetched and tombstone bits)
// followed by the key bytes and the value bytes, as memcached's item is
// (items.c do_item_alloc) but without slabs: the allocator's real chunk size
// is what counts against -m, so `bytes` follows the resident memory.
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
//
// Replication (docs/replication.md). A tombstone is an Item without a value
// and with the tombstone bit, in the same table and LRU list as items, so a
// key has one entry and one lookup finds either. Its exptime is the time its
// TTL ends, counted from its version's time so that both nodes reclaim it in
// the same second; expiry, flush_all, ReclaimExpired() and eviction treat it
// as an item (evicting one is not counted as an eviction, and is allowed even
// with -M: it frees no client data). A tombstone is counted in `bytes` and in
// the shard's `tombstones`, never in curr_items. Local mutations are reported
// to the observer under the shard lock, so the records of one key reach it in
// the order they happened. Tombstones and Apply() are in store_apply.cc.
#include "core/store/store.h"

#include <algorithm>
#include <charconv>
#include <limits>
#include <thread>

#include "core/store/store_internal.h"

namespace twincache {

using store_internal::CopyBytes;
using store_internal::HashKey;
using store_internal::kFlushUpdating;
using store_internal::kHlcCounterMask;
using store_internal::kMaxFlushMillis;
using store_internal::MillisToVersion;
using store_internal::Version;

namespace {

// With -M, how many LRU tail items eviction examines for an expired one
// (memcached lru_pull_tail's search depth).
constexpr int kTailSearchDepth = 5;

// Buckets ahead whose first item Scan() prefetches.
constexpr int kScanPrefetch = 8;

// Most shards a Store may have (2^16).
constexpr int kMaxShardBits = 16;

// Widest decimal uint64 (18446744073709551615).
constexpr size_t kCounterMaxDigits = 20;

uint32_t ToAccessTime(int64_t now_ms) {
  return static_cast<uint32_t>(std::clamp<int64_t>(now_ms / 1000, 0, std::numeric_limits<uint32_t>::max()));
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
  while (digits < value.size() && value[digits] >= '0' && value[digits] <= '9') {
    ++digits;
  }
  if (digits == 0 || digits > kCounterMaxDigits) {
    return false;
  }
  for (size_t i = digits; i < value.size(); ++i) {
    if (value[i] != ' ') {
      return false;
    }
  }
  const auto [end, error] = std::from_chars(value.data(), value.data() + digits, *number);
  return error == std::errc() && end == value.data() + digits;
}

}  // namespace

// ---------------------------------------------------------------------------
// Construction.

Store::Store(const StoreOptions& options)
    : options_(options),
      clock_(options.clock != nullptr ? options.clock : SystemClock::Default()),
      limit_bytes_(options.limit_bytes) {
  options_.shard_bits = std::clamp(options_.shard_bits, 0, kMaxShardBits);
  options_.clock = clock_;
  if (options_.node_id == 0) {
    options_.node_id = 1;
  }
  options_.tombstone_ttl_s = std::max<int64_t>(options_.tombstone_ttl_s, 0);
  const size_t shard_count = size_t{1} << options_.shard_bits;
  shards_.reserve(shard_count);
  for (size_t i = 0; i < shard_count; ++i) {
    shards_.push_back(std::make_unique<Shard>(i));
  }
}

Store::~Store() = default;  // each ItemTable frees its items

Store::Shard& Store::ShardFor(uint64_t hash) {
  if (options_.shard_bits == 0) {
    return *shards_[0];
  }
  return *shards_[hash >> (64 - options_.shard_bits)];
}

void Store::SetObserver(RecordObserver* observer) { observer_ = observer; }

void Store::Notify(RecordKind kind, const Item& item) const {
  if (observer_ != nullptr) {
    observer_->OnRecord(item.ToRecord(kind));
  }
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

// The flush point (version, origin, at_ms) is one value that readers load on
// every access, so it is published seqlock-style: the version is parked at
// kFlushUpdating while the rest changes, and a reader retries unless it read
// the same real version before and after. All accesses are sequentially
// consistent, which orders the stores against the loads.
void Store::PublishFlush(const FlushPoint& flush) {
  flush_version_.store(kFlushUpdating);
  flush_origin_.store(flush.origin);
  flush_at_ms_.store(flush.at_ms);
  flush_version_.store(flush.version);
}

Store::FlushPoint Store::LoadFlush() const {
  for (;;) {
    const uint64_t version = flush_version_.load();
    if (version == kFlushUpdating) {
      std::this_thread::yield();  // PublishFlush() is between its stores
      continue;
    }
    const uint64_t origin = flush_origin_.load();
    const int64_t at_ms = flush_at_ms_.load();
    if (flush_version_.load() == version) {
      return {version, origin, at_ms};
    }
  }
}

bool Store::IsFlushed(const FlushPoint& flush, uint64_t cas, uint64_t origin, int64_t now_ms) {
  return now_ms >= flush.at_ms && Version{cas, origin} <= Version{flush.version, flush.origin};
}

Store::ItemState Store::StateOf(const Item& item, const FlushPoint& flush, int64_t now_ms) const {
  if (IsExpired(item.exptime, now_ms / 1000)) {
    return ItemState::kExpired;
  }
  if (IsFlushed(flush, item.cas, item.origin, now_ms)) {
    return ItemState::kFlushed;
  }
  return ItemState::kLive;
}

void Store::FlushAll(int64_t at_ms) {
  std::lock_guard<std::mutex> flush_lock(flush_mu_);
  FlushPoint flush{0, options_.node_id, at_ms};
  if (at_ms > clock_->NowMillis()) {
    // Delayed: every version up to the end of that millisecond is flushed then,
    // including items written between now and then (memcached oldest_live).
    flush.at_ms = std::min(at_ms, kMaxFlushMillis);
    flush.version = MillisToVersion(flush.at_ms) | kHlcCounterMask;
  } else {
    flush.version = NextVersion();
  }
  FlushAt(flush);
  if (observer_ != nullptr) {
    Record record;
    record.kind = RecordKind::kFlush;
    record.hlc = flush.version;
    record.origin = flush.origin;
    record.at_ms = flush.at_ms;
    observer_->OnRecord(record);
  }
}

// Makes `flush` the flush point and, when its time has come, frees what it
// invalidates. The caller holds flush_mu_.
void Store::FlushAt(const FlushPoint& flush) {
  PublishFlush(flush);
  if (flush.at_ms <= clock_->NowMillis()) {
    DropFlushed(flush.version, flush.origin);
  }
}

// Frees every item and tombstone with (cas, origin) <= (version, origin), one
// shard lock at a time.
void Store::DropFlushed(uint64_t version, uint64_t origin) {
  const Version flush{version, origin};
  for (const auto& shard : shards_) {
    std::lock_guard<std::mutex> lock(shard->mu);
    ItemTable& table = shard->table;
    for (size_t b = 0; b < table.bucket_count(); ++b) {
      for (Item* item = table.bucket(b); item != nullptr;) {
        Item* next = item->hash_next;
        if (item->version() <= flush) {
          Drop(*shard, item, HashKey(item->key()));
        }
        item = next;
      }
    }
  }
}

// ---------------------------------------------------------------------------
// Lookup, memory accounting and eviction (all with the shard lock held).

// The live item under `key`, or nullptr. An expired or flushed entry is freed
// (an item's state goes to *dead_state if not null); a live tombstone is a
// miss that goes to *tombstone if not null, for the writer that replaces it.
Store::Item* Store::FindLive(Shard& shard, std::string_view key, uint64_t hash, int64_t now_ms,
                             ItemState* dead_state, Item** tombstone) {
  Item* item = shard.table.Find(key, hash);
  if (item == nullptr) {
    return nullptr;
  }
  const ItemState state = StateOf(*item, LoadFlush(), now_ms);
  if (state == ItemState::kLive) {
    if (!item->tombstone) {
      return item;
    }
    if (tombstone != nullptr) {
      *tombstone = item;
    }
    return nullptr;
  }
  if (dead_state != nullptr && !item->tombstone) {
    *dead_state = state;
  }
  Drop(shard, item, hash);
  return nullptr;
}

// Frees `item` and its bytes.
void Store::Drop(Shard& shard, Item* item, uint64_t hash) {
  bytes_.fetch_sub(item->size(), std::memory_order_relaxed);
  Unlink(shard, item, hash);
}

// Frees `item` without touching `bytes` (the caller accounts for them).
void Store::Unlink(Shard& shard, Item* item, uint64_t hash) {
  if (item->tombstone) {
    --shard.tombstones;
  }
  shard.table.Remove(item, hash);
  Item::Destroy(item);
}

bool Store::TryCharge(size_t bytes) {
  const uint64_t limit = limit_bytes_.load(std::memory_order_relaxed);
  uint64_t current = bytes_.load(std::memory_order_relaxed);
  do {
    if (current + bytes > limit) {
      return false;
    }
  } while (!bytes_.compare_exchange_weak(current, current + bytes, std::memory_order_relaxed));
  return true;
}

// Frees one item from the LRU tail of `shard` (locked by the caller), never
// `keep`: the tail item if it is expired or flushed (counted as reclaimed) or
// if evictions are allowed (counted as an eviction); with -M, the first dead
// item among the last kTailSearchDepth. A tombstone is always freed and never
// counted. False when nothing could be freed.
bool Store::EvictTail(Shard& shard, const Item* keep, int64_t now_ms) {
  const FlushPoint flush = LoadFlush();
  int examined = 0;
  for (Item* item = shard.table.lru_tail(); item != nullptr && examined < kTailSearchDepth;
       item = item->lru_prev) {
    if (item == keep) {
      continue;
    }
    ++examined;
    if (item->tombstone) {
      // Not client data: freeing it only narrows what replication can order.
    } else if (StateOf(*item, flush, now_ms) != ItemState::kLive) {
      ++shard.reclaimed;
      if (!item->fetched) {
        ++shard.expired_unfetched;
      }
    } else if (options_.evict_to_free) {
      ++shard.evictions;
      if (!item->fetched) {
        ++shard.evicted_unfetched;
      }
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
  if (needed > limit_bytes_.load(std::memory_order_relaxed)) {
    return false;
  }
  for (;;) {
    if (TryCharge(needed)) {
      return true;
    }
    if (!EvictTail(shard, keep, now_ms)) {
      break;
    }
  }
  // Other shards, without ever blocking on their locks: a busy shard is
  // skipped; passes repeat while some shard still gives up memory.
  const size_t count = shards_.size();
  for (bool progress = true; progress;) {
    progress = false;
    for (size_t i = 1; i < count; ++i) {
      Shard& other = *shards_[(shard.index + i) % count];
      std::unique_lock<std::mutex> lock(other.mu, std::try_to_lock);
      if (!lock.owns_lock()) {
        continue;
      }
      for (;;) {
        if (TryCharge(needed)) {
          return true;
        }
        if (!EvictTail(other, nullptr, now_ms)) {
          break;
        }
        progress = true;
      }
    }
  }
  return TryCharge(needed);
}

// Puts the locally written `new_item` in place of `old_item` (an item or a
// tombstone; null: none), gives it its version (cas unique `new_cas`, or the
// HLC's next one; origin node_id) and returns the cas unique. The bytes were
// charged by Charge().
uint64_t Store::Link(Shard& shard, Item* old_item, Item* new_item, uint64_t hash, uint64_t new_cas,
                     int64_t now_ms) {
  new_item->cas = new_cas != 0 ? new_cas : NextVersion();
  new_item->origin = options_.node_id;
  new_item->exptime_version = new_item->cas;
  Replace(shard, old_item, new_item, hash, now_ms);
  return new_item->cas;
}

// Puts `new_item`, whose version is set, in place of `old_item` (null: none)
// at the LRU head. The bytes were charged by Charge().
void Store::Replace(Shard& shard, Item* old_item, Item* new_item, uint64_t hash, int64_t now_ms) {
  new_item->last_access = ToAccessTime(now_ms);
  if (old_item != nullptr) {
    Unlink(shard, old_item, hash);
  }
  shard.table.Insert(new_item, hash);
  if (new_item->tombstone) {
    ++shard.tombstones;
  } else {
    ++shard.total_items;
  }
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
  Item* tombstone = nullptr;
  Item* item = FindLive(shard, key, hash, now_ms, &dead_state, &tombstone);
  bool created = false;
  int64_t previous_exptime = 0;
  if (item == nullptr) {
    if (dead_state == ItemState::kExpired) {
      ++shard.get_expired;
    }
    if (dead_state == ItemState::kFlushed) {
      ++shard.get_flushed;
    }
    if (!options.vivify) {
      return false;
    }
    item = Vivify(shard, key, hash, tombstone, options, now_ms);
    if (item == nullptr) {
      return false;
    }
    created = true;
  } else if (options.touch) {
    previous_exptime = item->exptime;
    item->exptime = options.exptime;
    item->exptime_version = NextVersion();
    Notify(RecordKind::kTouch, *item);
  } else {
    previous_exptime = item->exptime;
  }
  ItemView view = item->View();
  view.vivified = created;
  view.previous_exptime = previous_exptime;
  if (created) {
    view.win_token_sent = false;  // taken by this very read
  }
  if (options.win_token || created) {
    view.won = WinToken(item, options, created, previous_exptime);
  }
  fn(view);
  if (options.bump_lru) {
    // memcached do_item_bump: mark fetched, refresh the access time, move to the head.
    item->fetched = true;
    item->last_access = ToAccessTime(now_ms);
    shard.table.MoveToHead(item);
  }
  return true;
}

// mg 'N' after a miss (memcached process_mget_command links a fresh 0-byte
// item under the item lock): an empty item in place of `tombstone` (null:
// none), its win token already taken by the creating read, reported as kSet.
// nullptr when the key is too long or the memory limit cannot be met.
Store::Item* Store::Vivify(Shard& shard, std::string_view key, uint64_t hash, Item* tombstone,
                           const ReadOptions& options, int64_t now_ms) {
  if (key.empty() || key.size() > kKeyMaxLength) {
    return nullptr;
  }
  Item* item = Item::Create(key, 0, 0, options.vivify_exptime);
  if (item == nullptr) {
    return nullptr;
  }
  item->win_token_sent = true;
  if (!Charge(shard, tombstone != nullptr ? tombstone->size() : 0, item->size(), tombstone, now_ms)) {
    Item::Destroy(item);
    return nullptr;
  }
  Link(shard, tombstone, item, hash, options.vivify_cas, now_ms);
  Notify(RecordKind::kSet, *item);
  return item;
}

// Whether the read described by `options` wins `item`'s win token, and if
// so takes it (memcached process_mget_command: 'N' on a created item, 'R'
// below the token, or a stale item, each only while ITEM_TOKEN_SENT is clear).
// A created item's token was taken by Vivify().
bool Store::WinToken(Item* item, const ReadOptions& options, bool created, int64_t previous_exptime) {
  if (created) {
    return true;
  }
  if (item->win_token_sent) {
    return false;
  }
  const int64_t exptime = options.touch && options.recache_before_touch ? previous_exptime : item->exptime;
  const bool recache = options.recache_before != 0 && exptime != 0 && exptime < options.recache_before;
  if (!item->stale && !recache) {
    return false;
  }
  item->win_token_sent = true;
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
  if (fresh == nullptr) {
    return StoreStatus::kOutOfMemory;
  }
  CopyBytes(fresh->value_data(), value);
  const size_t fresh_size = fresh->size();

  const uint64_t hash = HashKey(key);
  Shard& shard = ShardFor(hash);
  std::unique_lock<std::mutex> lock(shard.mu);
  const int64_t now_ms = clock_->NowMillis();
  Item* tombstone = nullptr;
  Item* old = FindLive(shard, key, hash, now_ms, nullptr, &tombstone);
  Item* displaced = old != nullptr ? old : tombstone;  // what the new item replaces
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
      if (old == nullptr) {
        status = StoreStatus::kNotStored;
      }
      break;
    case StoreMode::kCas:
      if (old == nullptr) {
        status = StoreStatus::kNotFound;
      } else if (options.invalidate && options.compare_cas != 0 && options.compare_cas < old->cas) {
        // memcached do_store_item, CAS_STALE (a cas of 0 is CAS_NONE there):
        // store, but as a stale item that keeps the old TTL and token.
        fresh->exptime = old->exptime;
        fresh->stale = true;
        fresh->win_token_sent = old->win_token_sent;
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
      !Charge(shard, displaced != nullptr ? displaced->size() : 0, fresh_size, displaced, now_ms)) {
    status = StoreStatus::kOutOfMemory;
  }
  if (status != StoreStatus::kStored) {
    lock.unlock();
    Item::Destroy(fresh);
    return status;
  }
  const uint64_t cas = Link(shard, displaced, fresh, hash, options.new_cas, now_ms);
  Notify(RecordKind::kSet, *fresh);
  if (cas_out != nullptr) {
    *cas_out = cas;
  }
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
  if (old == nullptr) {
    return StoreStatus::kNotStored;
  }
  if (options.compare_cas != 0 && old->cas != options.compare_cas) {
    return StoreStatus::kExists;
  }
  const std::string_view old_value = old->value();
  if (!ItemFits(key.size(), old_value.size() + value.size(), options_.item_size_max)) {
    return StoreStatus::kTooLarge;
  }
  Item* fresh = Item::Create(key, old_value.size() + value.size(), old->flags, old->exptime);
  if (fresh == nullptr) {
    return StoreStatus::kOutOfMemory;
  }
  const bool append = mode == StoreMode::kAppend;
  CopyBytes(fresh->value_data(), append ? old_value : value);
  CopyBytes(fresh->value_data() + (append ? old_value.size() : value.size()), append ? value : old_value);
  if (!Charge(shard, old->size(), fresh->size(), old, now_ms)) {
    Item::Destroy(fresh);
    return StoreStatus::kOutOfMemory;
  }
  const uint64_t cas = Link(shard, old, fresh, hash, options.new_cas, now_ms);
  Notify(RecordKind::kSet, *fresh);
  if (cas_out != nullptr) {
    *cas_out = cas;
  }
  return StoreStatus::kStored;
}

ArithStatus Store::Arithmetic(std::string_view key, const ArithOptions& options, uint64_t* value_out,
                              uint64_t* cas_out, ArithResult* result_out) {
  const uint64_t hash = HashKey(key);
  Shard& shard = ShardFor(hash);
  std::lock_guard<std::mutex> lock(shard.mu);
  const int64_t now_ms = clock_->NowMillis();
  Item* tombstone = nullptr;
  Item* old = FindLive(shard, key, hash, now_ms, nullptr, &tombstone);
  Item* displaced = old != nullptr ? old : tombstone;  // what the new item replaces
  uint64_t result = 0;
  uint32_t flags = 0;
  int64_t exptime = 0;
  if (old == nullptr) {
    if (!options.autovivify) {
      return ArithStatus::kNotFound;
    }
    // Meta arithmetic N/J: create the item with the initial value, no delta.
    result = options.initial;
    exptime = options.vivify_exptime;
  } else {
    if (options.compare_cas != 0 && old->cas != options.compare_cas) {
      return ArithStatus::kExists;
    }
    uint64_t current = 0;
    if (!ParseCounter(old->value(), &current)) {
      return ArithStatus::kNonNumeric;
    }
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
  if (fresh == nullptr) {
    return ArithStatus::kOutOfMemory;
  }
  CopyBytes(fresh->value_data(), text);
  if (old != nullptr && text.size() <= old->value_length) {
    // memcached do_add_delta rewrites such an item in place, bits included.
    fresh->stale = old->stale;
    fresh->win_token_sent = old->win_token_sent;
  }
  if (!Charge(shard, displaced != nullptr ? displaced->size() : 0, fresh->size(), displaced, now_ms)) {
    Item::Destroy(fresh);
    return ArithStatus::kOutOfMemory;
  }
  if (result_out != nullptr) {  // before Link() frees `old`
    result_out->created = old == nullptr;
    result_out->previous_exptime = old != nullptr ? old->exptime : 0;
  }
  const uint64_t cas = Link(shard, displaced, fresh, hash, 0, now_ms);
  Notify(RecordKind::kSet, *fresh);
  if (value_out != nullptr) {
    *value_out = result;
  }
  if (cas_out != nullptr) {
    *cas_out = cas;
  }
  return ArithStatus::kOk;
}

DeleteStatus Store::Delete(std::string_view key, uint64_t compare_cas) {
  const uint64_t hash = HashKey(key);
  Shard& shard = ShardFor(hash);
  std::lock_guard<std::mutex> lock(shard.mu);
  const int64_t now_ms = clock_->NowMillis();
  Item* item = FindLive(shard, key, hash, now_ms, nullptr);
  if (item == nullptr) {
    return DeleteStatus::kNotFound;
  }
  if (compare_cas != 0 && item->cas != compare_cas) {
    return DeleteStatus::kExists;
  }
  if (options_.keep_tombstones && LeaveTombstone(shard, item, hash, now_ms)) {
    return DeleteStatus::kDeleted;
  }
  Drop(shard, item, hash);
  if (observer_ != nullptr) {
    // No tombstone to carry the delete's version: it still gets one, so the
    // peer deletes only what is older.
    Record record;
    record.kind = RecordKind::kDelete;
    record.hlc = NextVersion();
    record.origin = options_.node_id;
    record.key = key;
    observer_->OnRecord(record);
  }
  return DeleteStatus::kDeleted;
}

DeleteStatus Store::Invalidate(std::string_view key, const InvalidateOptions& options) {
  const uint64_t hash = HashKey(key);
  Shard& shard = ShardFor(hash);
  std::lock_guard<std::mutex> lock(shard.mu);
  const int64_t now_ms = clock_->NowMillis();
  Item* item = FindLive(shard, key, hash, now_ms, nullptr);
  if (item == nullptr) {
    return DeleteStatus::kNotFound;
  }
  if (options.compare_cas != 0 && item->cas != options.compare_cas) {
    return DeleteStatus::kExists;
  }
  // memcached process_mdelete_command: mark stale, clear the token, bump the
  // cas (a new version of the item), no LRU bump.
  if (options.update_exptime) {
    item->exptime = options.exptime;
  }
  item->stale = true;
  item->win_token_sent = false;
  item->cas = options.new_cas != 0 ? options.new_cas : NextVersion();
  item->origin = options_.node_id;
  item->exptime_version = item->cas;
  Notify(RecordKind::kSet, *item);
  return DeleteStatus::kDeleted;
}

bool Store::Touch(std::string_view key, int64_t exptime) {
  const uint64_t hash = HashKey(key);
  Shard& shard = ShardFor(hash);
  std::lock_guard<std::mutex> lock(shard.mu);
  const int64_t now_ms = clock_->NowMillis();
  Item* item = FindLive(shard, key, hash, now_ms, nullptr);
  if (item == nullptr) {
    return false;
  }
  // memcached do_item_touch: a bumped access that keeps the cas unique.
  item->exptime = exptime;
  item->exptime_version = NextVersion();
  Notify(RecordKind::kTouch, *item);
  item->fetched = true;
  item->last_access = ToAccessTime(now_ms);
  shard.table.MoveToHead(item);
  return true;
}

// ---------------------------------------------------------------------------
// Walks.

size_t Store::Scan(ScanCursor* cursor, size_t max_items, const std::function<void(const ItemView&)>& fn,
                   bool include_tombstones) {
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
    // Each bucket's chain is a pointer into the heap, a cache miss apiece:
    // prefetch the chain kScanPrefetch buckets ahead, so a dump (full sync,
    // state file) waits for memory less often.
    uint64_t ahead = position;
    for (int i = 0; i < kScanPrefetch && ahead != 0; ++i) {
      ahead = NextBucketCursor(ahead, mask);
    }
    do {
      if (ahead != 0) {
        __builtin_prefetch(shard.table.bucket(ahead & mask));
        ahead = NextBucketCursor(ahead, mask);
      }
      const Item* item = shard.table.bucket(position & mask);
      if (item == nullptr) {
        --empty_budget;
      }
      for (; item != nullptr; item = item->hash_next) {
        if (StateOf(*item, flush, now_ms) != ItemState::kLive) {
          continue;
        }
        if (item->tombstone && !include_tombstones) {
          continue;
        }
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
          if (!item->tombstone) {
            ++shard.reclaimed;
            if (!item->fetched) {
              ++shard.expired_unfetched;
            }
          }
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
    stats.curr_items += shard->table.size() - shard->tombstones;
    stats.tombstones += shard->tombstones;
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
