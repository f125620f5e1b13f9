// Store: the sharded item table (see store.h for the contract).
//
// Layout (store_internal.h). Each item is ONE slab slot: a packed 36-byte
// header (hash chain link, cas unique, 32-bit exptime and last access, flags,
// lengths, an origin index, the bits, the CLOCK byte), the optional
// exptime_version and inline origin, the key and the value, as memcached's
// item is (items.c do_item_alloc) but smaller: no LRU links (CLOCK needs
// none), no refcount (the shard mutex is held while an item is used), the
// origin node id folded into a one-byte index and exptime_version stored only
// when it can differ from the cas unique. A slot's size is what the item
// counts in `bytes`.
//
// Memory (slab_allocator.h). The slab classes are global, not per shard: with
// 64 shards and ~100 classes, per-shard pages would strand up to a page per
// shard and class (GBs of partial pages), so a slot is taken under its class's
// mutex instead, which only writes and frees take, briefly (memcached's
// slabs_lock, split per class). Lock order: a shard mutex, then a class
// mutex; never two class mutexes. The CLOCK hand runs under its class mutex
// and locks a victim's shard with try_lock only (skipping busy shards), so a
// writer never waits for a second shard and no two threads can deadlock
// (memcached items.c lru_pull_tail trylocks the item the same way). A writer
// that already holds the victim's shard passes it as `held`, and the item it
// is replacing as `keep`, which the hand skips, as it skips slots that are
// free or not yet linked (kLinked clear).
//
// Shards. A key's hash picks the shard from its high bits and the bucket
// inside the shard's chained table from its low bits. A shard's mutex guards
// its table, its items' fields (all but the CLOCK byte and the last access,
// which are atomic) and its counters.
//
// Writes. set/add/replace/cas build the new item before taking the lock, so a
// 1 MB copy never runs under it; append/prepend and incr/decr must read the
// old value and build under the lock. A write charges its slot size (minus
// the size of the item it replaces) to the global byte count; when that would
// pass the limit, a CLOCK hand evicts, in the class that seems to hold the
// least recently used items (EvictForBytes). A slot the class cannot
// have without a new page past the limit is made by evicting in the class
// (NewItem), as memcached's do_item_alloc pulls its class's LRU tail.
//
// Expiry. Items are checked when touched (lazy expiry, memcached do_item_get),
// by the CLOCK hand, and by ReclaimExpired(), an incremental walk over the
// buckets that plays memcached's LRU crawler. flush_all is a version:
// items whose cas unique is not above it are invalid once the clock reaches
// the flush time (memcached's oldest_live, in HLC terms).
//
// Counters follow memcached: `reclaimed` and `expired_unfetched` count expired
// or flushed items freed by the hand or by ReclaimExpired(); a lookup that
// frees one counts only get_expired/get_flushed, and only in Get().
//
// Replication (docs/replication.md). A tombstone is an Item without a value
// and with the tombstone bit, in the same table and slab classes as items, so a
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
#include <array>
#include <charconv>
#include <limits>
#include <new>
#include <thread>

#include "core/store/store_internal.h"

namespace twincache {

using store_internal::CopyBytes;
using store_internal::HashKey;
using store_internal::kFlushUpdating;
using store_internal::kHasExptimeVersion;
using store_internal::kHasOrigin;
using store_internal::kHlcCounterMask;
using store_internal::kLinked;
using store_internal::kMaxFlushMillis;
using store_internal::kReferenced;
using store_internal::MillisToVersion;
using store_internal::OriginTable;
using store_internal::Version;

namespace {

// With -M, how many items the CLOCK hand examines for an expired one
// (memcached lru_pull_tail's search depth).
constexpr int kTailSearchDepth = 5;

// Scan() walks buckets in groups of kScanGroup, to keep many cache misses in
// flight at once (group prefetching, as in Chen et al., "Improving Hash Join
// Performance through Prefetching", 2004): it prefetches the next group's
// bucket slots (the cursor order is bit-reversed, so slots are far apart, a
// miss apiece), the group's first items, then their chains' second items,
// before it visits any of them.
constexpr size_t kScanGroup = 32;
// Cache lines of an item prefetched: header, key and a 100-byte value span three.
constexpr int kScanPrefetchLines = 3;
constexpr size_t kCacheLine = 64;

void PrefetchLines(const void* address) {
  const auto* bytes = static_cast<const char*>(address);
  for (int line = 0; line < kScanPrefetchLines; ++line) {
    __builtin_prefetch(bytes + line * kCacheLine);
  }
}

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
  memory_ = std::make_unique<Memory>(options_);
  options_.tombstone_ttl_s = std::max<int64_t>(options_.tombstone_ttl_s, 0);
  const size_t shard_count = size_t{1} << options_.shard_bits;
  shards_.reserve(shard_count);
  for (size_t i = 0; i < shard_count; ++i) {
    shards_.push_back(std::make_unique<Shard>(i));
  }
}

Store::~Store() = default;  // the slab allocator frees the items' pages

size_t Store::ShardIndex(uint64_t hash) const {
  return options_.shard_bits == 0 ? 0 : static_cast<size_t>(hash >> (64 - options_.shard_bits));
}

Store::Shard& Store::ShardFor(uint64_t hash) { return *shards_[ShardIndex(hash)]; }

void Store::SetObserver(RecordObserver* observer) { observer_ = observer; }

void Store::Notify(RecordKind kind, const Item& item) const {
  if (observer_ != nullptr) {
    observer_->OnRecord(memory_->ToRecord(item, kind));
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
  if (IsExpired(item.exptime(), now_ms / 1000)) {
    return ItemState::kExpired;
  }
  if (IsFlushed(flush, item.cas, item.origin(memory_->origins), now_ms)) {
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
        if (item->version(memory_->origins) <= flush) {
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

// A new item of `key` with room for `value_length` value bytes
// (uninitialised), not linked, with cas 0 and origin `origin`. It carries an
// exptime_version field when asked or with -M (see Item). The slot comes from
// its class, evicting there when the class can have no new page (skipping
// `keep`; `held` is a shard the caller has locked). nullptr when no slot can
// be had. Its bytes are not charged (Charge()). With `may_evict` false
// (Restore) it neither evicts nor moves a page: nullptr when the class has
// no free slot and can have no new page.
Store::Item* Store::NewItem(std::string_view key, size_t value_length, uint32_t flags, int64_t exptime,
                            uint64_t origin, bool with_exptime_version, Shard* held, const Item* keep,
                            int64_t now_ms, bool may_evict) {
  const uint8_t origin_index = memory_->origins.IndexOf(origin);
  uint8_t layout = 0;
  if (with_exptime_version || !options_.evict_to_free) {
    layout |= kHasExptimeVersion;
  }
  if (origin_index == OriginTable::kInlineOrigin) {
    layout |= kHasOrigin;
  }
  const int cls = memory_->slabs.ClassFor(Item::TotalSize(key.size(), value_length, layout));
  if (cls < 0) {
    return nullptr;
  }
  Item* item = nullptr;
  {
    std::unique_lock<std::mutex> class_lock = memory_->slabs.Lock(cls);
    void* slot = memory_->slabs.Allocate(cls);
    if (slot == nullptr && !may_evict) {
      Memory::Bump(memory_->class_counters[cls].outofmemory);
      return nullptr;
    }
    if (slot == nullptr && memory_->last_page_move_s.load(std::memory_order_relaxed) < ToAccessTime(now_ms)) {
      // Full: maybe a page of a class with older items (at most one move a
      // second), else an eviction in the class.
      class_lock.unlock();
      const bool moved = MovePageTo(cls, held, keep, now_ms);
      class_lock.lock();
      slot = moved ? memory_->slabs.Allocate(cls) : nullptr;
    }
    while (slot == nullptr) {
      if (!EvictFromClass(cls, held, keep, now_ms, true)) {
        Memory::Bump(memory_->class_counters[cls].outofmemory);
        return nullptr;
      }
      slot = memory_->slabs.Allocate(cls);
    }
    item = new (slot) Item;  // NOLINT(cppcoreguidelines-owning-memory): the slab owns it
    // Under the class mutex, so the hand never reads a stale clock byte.
    item->ResetClock(layout);
  }
  item->hash_next = nullptr;
  item->cas = 0;
  item->set_exptime(exptime);
  item->set_last_access(0);
  item->flags = flags;
  item->value_length = static_cast<uint32_t>(value_length);
  item->key_length = static_cast<uint8_t>(key.size());
  item->fetched = false;
  item->tombstone = false;
  item->stale = false;
  item->win_token_sent = false;
  item->set_origin(origin_index, origin);
  item->set_exptime_version(0);
  CopyBytes(item->data(), key);
  return item;
}

// Returns the slot of `item` (unlinked) to its class; with class_locked the
// caller holds that class's mutex.
void Store::DestroyItem(Item* item, bool class_locked) {
  const int cls = memory_->ClassOf(*item);
  std::unique_lock<std::mutex> class_lock;
  if (!class_locked) {
    class_lock = memory_->slabs.Lock(cls);
  }
  item->ResetClock(0);
  memory_->slabs.Free(cls, item);
}

// Frees `item` and its bytes.
void Store::Drop(Shard& shard, Item* item, uint64_t hash, bool class_locked) {
  bytes_.fetch_sub(memory_->SizeOf(*item), std::memory_order_relaxed);
  Unlink(shard, item, hash, class_locked);
}

// Frees `item` without touching `bytes` (the caller accounts for them).
// With count_item false the caller accounts for its class's item count.
void Store::Unlink(Shard& shard, Item* item, uint64_t hash, bool class_locked, bool count_item) {
  if (item->tombstone) {
    --shard.tombstones;
  } else if (count_item) {
    memory_->CountItems(memory_->ClassOf(*item), -1);
  }
  shard.table.Remove(item, hash);
  DestroyItem(item, class_locked);
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

// Counts the expired or flushed `item` (its shard locked by the caller) as
// reclaimed in its class, and expired_unfetched when never read; a tombstone
// is not client data and is not counted.
void Store::CountReclaimed(const Item& item) const {
  if (item.tombstone) {
    return;
  }
  Memory::ClassCounters& counters = memory_->class_counters[memory_->ClassOf(item)];
  Memory::Bump(counters.reclaimed);
  if (!item.fetched) {
    Memory::Bump(counters.expired_unfetched);
  }
}

// Whether the linked `item` (its shard locked by the caller) may be freed
// to make room, counting it in its class as memcached does when it may: a
// tombstone is not client data (freeing it only narrows what replication can
// order) and is not counted; an expired or flushed item is reclaimed
// (CountReclaimed); a live one is an eviction (evicted_unfetched when never
// read), unless -M forbids evicting it: then false and nothing is counted.
bool Store::CountFreed(const Item& item, const FlushPoint& flush, int64_t now_ms) const {
  if (item.tombstone) {
    return true;
  }
  if (StateOf(item, flush, now_ms) != ItemState::kLive) {
    CountReclaimed(item);
    return true;
  }
  if (!options_.evict_to_free) {
    return false;
  }
  Memory::ClassCounters& counters = memory_->class_counters[memory_->ClassOf(item)];
  Memory::Bump(counters.evicted);
  if (!item.fetched) {
    Memory::Bump(counters.evicted_unfetched);
  }
  return true;
}

// Frees one item of class `cls` found by the class's CLOCK hand, never
// `keep`: the first linked item whose reference bit is clear (set bits are
// cleared on the way), counted as an eviction, or one that is expired or
// flushed, counted as reclaimed; with -M only the latter, among the next
// kTailSearchDepth items. A tombstone is always freed and never counted. An
// item of a shard other than `held` is taken only if try_lock gets its
// shard. False when nothing could be freed within two turns of the hand.
// With class_locked the caller holds the class mutex.
bool Store::EvictFromClass(int cls, Shard* held, const Item* keep, int64_t now_ms, bool class_locked) {
  std::unique_lock<std::mutex> class_lock;
  if (!class_locked) {
    class_lock = memory_->slabs.Lock(cls);
  }
  const FlushPoint flush = LoadFlush();
  int examined = 0;
  for (size_t steps = 2 * memory_->slabs.SlotCount(cls) + 1; steps > 0; --steps) {
    auto* item = static_cast<Item*>(memory_->slabs.NextSlot(cls));
    if (item == nullptr) {
      return false;
    }
    const uint8_t bits = item->clock_bits();
    if ((bits & kLinked) == 0 || item == keep) {
      continue;
    }
    if (options_.evict_to_free && (bits & kReferenced) != 0) {
      item->ClearClockBits(kReferenced);  // its second chance
      continue;
    }
    // The key is safe to read: it never changes, and the slot cannot be freed
    // while this thread holds the class mutex.
    const uint64_t hash = HashKey(item->key());
    Shard& shard = ShardFor(hash);
    std::unique_lock<std::mutex> shard_lock;
    if (&shard != held) {
      shard_lock = std::unique_lock<std::mutex>(shard.mu, std::try_to_lock);
      if (!shard_lock.owns_lock()) {
        continue;
      }
    }
    if ((item->clock_bits() & kLinked) == 0) {
      continue;
    }
    if (!CountFreed(*item, flush, now_ms)) {
      if (++examined >= kTailSearchDepth) {
        return false;
      }
      continue;
    }
    memory_->hand_times[cls].store(std::max<uint32_t>(item->last_access(), 1), std::memory_order_relaxed);
    Drop(shard, item, hash, true);
    return true;
  }
  return false;
}

// Frees one item to lower `bytes`, trying the classes that hold items from
// the one whose hand last freed the least recently used item (a class whose
// hand freed nothing yet counts as freeing a current one), and among equals
// the one holding the most bytes: an approximation of a global LRU across
// classes (the age balancing of memcached's slab automover, applied to the
// choice of a victim instead of moving pages).
bool Store::EvictForBytes(Shard* held, const Item* keep, int64_t now_ms) {
  struct Candidate {
    uint32_t hand_time;
    size_t used;
    int cls;
  };
  std::vector<Candidate> candidates;
  const uint32_t now_s = ToAccessTime(now_ms);
  for (int cls = 0; cls < memory_->slabs.class_count(); ++cls) {
    const size_t used = memory_->slabs.UsedBytes(cls);
    if (used > 0) {
      const uint32_t hand_time = memory_->hand_times[cls].load(std::memory_order_relaxed);
      candidates.push_back({hand_time != 0 ? std::min(hand_time, now_s) : now_s, used, cls});
    }
  }
  std::sort(candidates.begin(), candidates.end(), [](const Candidate& a, const Candidate& b) {
    return a.hand_time != b.hand_time ? a.hand_time < b.hand_time : a.used > b.used;
  });
  for (const Candidate& candidate : candidates) {
    if (EvictFromClass(candidate.cls, held, keep, now_ms, false)) {
      return true;
    }
  }
  return false;
}

// Page reassignment (memcached slabs.c slab_reassign, with the age balancing
// of its slab_automove): classes keep the pages they were given, so when the
// sizes written change, a class that is now written to would evict its own
// young items while pages of another class hold items nobody has touched for
// long. So a class that has no free slot and cannot add a page may take the
// page under the CLOCK hand of the class whose such page holds the oldest
// items (by their mean last access, sampled), when those are at least twice
// as old as the class's own last evicted item (or, for a class that has not
// evicted yet, at least a second old). The page's items are freed (counted
// as evictions, or as reclaimed when dead; tombstones uncounted) and the page
// changes class. Only classes of 1 MiB pages trade, a donor keeps at least
// one page, and the store tries at most one move a second, so pages do not
// swing back and forth. False when no page moved (no donor, the second's
// move already tried, or an item of the page could not be freed: a busy
// shard, `keep`, or a live item under -M). Takes no class mutex on entry
// and never two at once.
bool Store::MovePageTo(int cls, Shard* held, const Item* keep, int64_t now_ms) {
  store_internal::SlabAllocator& slabs = memory_->slabs;
  const size_t page_size = slabs.PageSize(cls);
  if (page_size != store_internal::SlabAllocator::kPageSize || slabs.SlotSize(cls) * 2 > page_size) {
    return false;
  }
  const uint32_t now_s = ToAccessTime(now_ms);
  uint32_t last = memory_->last_page_move_s.load(std::memory_order_relaxed);
  if (last >= now_s || !memory_->last_page_move_s.compare_exchange_strong(last, now_s)) {
    return false;
  }
  const uint32_t own_time = memory_->hand_times[cls].load(std::memory_order_relaxed);
  const uint32_t own_age = own_time != 0 && own_time < now_s ? now_s - own_time : 0;
  constexpr size_t kSamples = 64;
  int donor = -1;
  uint32_t donor_age = 0;
  for (int other = 0; other < slabs.class_count(); ++other) {
    if (other == cls || slabs.PageSize(other) != page_size || slabs.SlotSize(other) * 2 > page_size ||
        slabs.PageCount(other) < 2) {
      continue;
    }
    std::unique_lock<std::mutex> lock = slabs.Lock(other);
    const char* page = slabs.RemovablePage(other);
    if (page == nullptr) {
      continue;
    }
    const std::vector<void*> slots = slabs.SlotsOf(other, page);
    const size_t stride = std::max<size_t>(slots.size() / kSamples, 1);
    uint64_t age_sum = 0;
    uint64_t sampled = 0;
    for (size_t i = 0; i < slots.size(); i += stride) {
      const auto* item = static_cast<const Item*>(slots[i]);
      if ((item->clock_bits() & kLinked) != 0) {
        const uint32_t access = item->last_access();
        age_sum += access < now_s ? now_s - access : 0;
        ++sampled;
      }
    }
    const auto age = static_cast<uint32_t>(sampled != 0 ? age_sum / sampled : now_s);  // empty: oldest
    if (age > donor_age) {
      donor = other;
      donor_age = age;
    }
  }
  if (donor < 0 || donor_age < std::max<uint64_t>(uint64_t{2} * own_age, 1)) {
    return false;
  }
  char* page = nullptr;
  {
    std::unique_lock<std::mutex> lock = slabs.Lock(donor);
    page = slabs.RemovablePage(donor);
    if (page == nullptr || slabs.PageCount(donor) < 2) {
      return false;
    }
    const FlushPoint flush = LoadFlush();
    uint32_t newest = 0;
    for (void* slot : slabs.SlotsOf(donor, page)) {
      auto* item = static_cast<Item*>(slot);
      if ((item->clock_bits() & kLinked) == 0) {
        continue;
      }
      if (item == keep) {
        return false;
      }
      const uint64_t hash = HashKey(item->key());
      Shard& shard = ShardFor(hash);
      std::unique_lock<std::mutex> shard_lock;
      if (&shard != held) {
        shard_lock = std::unique_lock<std::mutex>(shard.mu, std::try_to_lock);
        if (!shard_lock.owns_lock()) {
          return false;
        }
      }
      if ((item->clock_bits() & kLinked) == 0) {
        continue;
      }
      if (!CountFreed(*item, flush, now_ms)) {
        return false;
      }
      newest = std::max(newest, item->last_access());
      Drop(shard, item, hash, true);
    }
    slabs.RemovePage(donor, page);
    if (newest != 0) {
      memory_->hand_times[donor].store(newest, std::memory_order_relaxed);
    }
  }
  std::unique_lock<std::mutex> lock = slabs.Lock(cls);
  slabs.AddPage(cls, page);
  return true;
}

// Accounts for replacing an item of `old_size` bytes (0: none) in `shard`
// (locked by the caller) with `fresh`, evicting as needed (never `keep`).
// False (nothing charged) when the limit cannot be met.
// A refusal counts as outofmemory in `fresh`'s class.
bool Store::Charge(Shard& shard, size_t old_size, const Item* fresh, const Item* keep, int64_t now_ms) {
  const size_t new_size = memory_->SizeOf(*fresh);
  if (new_size <= old_size) {
    bytes_.fetch_sub(old_size - new_size, std::memory_order_relaxed);
    return true;
  }
  const size_t needed = new_size - old_size;
  if (needed <= limit_bytes_.load(std::memory_order_relaxed)) {
    for (;;) {
      if (TryCharge(needed)) {
        return true;
      }
      if (!EvictForBytes(&shard, keep, now_ms)) {
        break;
      }
    }
    if (TryCharge(needed)) {
      return true;
    }
  }
  Memory::Bump(memory_->class_counters[memory_->ClassOf(*fresh)].outofmemory);
  return false;
}

// `item` (live, locked by the caller), able to hold an exptime_version other
// than its cas unique: itself when it has the field, else a copy with it in a
// slot 8 bytes larger, put in its place (same version, bits and access
// time). nullptr, with `item` unchanged, when no memory can be had.
Store::Item* Store::WithExptimeVersion(Shard& shard, Item* item, uint64_t hash, int64_t now_ms) {
  if (item->has_exptime_version()) {
    return item;
  }
  const uint64_t origin = item->origin(memory_->origins);
  Item* grown = NewItem(item->key(), item->value_length, item->flags, item->exptime(), origin, true, &shard,
                        item, now_ms);
  if (grown == nullptr) {
    return nullptr;
  }
  if (!Charge(shard, memory_->SizeOf(*item), grown, item, now_ms)) {
    DestroyItem(grown);
    return nullptr;
  }
  CopyBytes(grown->value_data(), item->value());
  grown->cas = item->cas;
  grown->set_exptime_version(item->cas);
  grown->set_last_access(item->last_access());
  grown->fetched = item->fetched;
  grown->stale = item->stale;
  grown->win_token_sent = item->win_token_sent;
  const int old_class = memory_->ClassOf(*item);
  const int new_class = memory_->ClassOf(*grown);
  if (old_class != new_class) {
    memory_->CountItems(old_class, -1);
    memory_->CountItems(new_class, 1);
  }
  shard.table.Remove(item, hash);
  DestroyItem(item);
  shard.table.Insert(grown, hash);
  return grown;
}

// Puts the locally written `new_item` in place of `old_item` (an item or a
// tombstone; null: none), gives it its version (cas unique `new_cas`, or the
// HLC's next one; origin node_id) and returns the cas unique. The bytes were
// charged by Charge().
uint64_t Store::Link(Shard& shard, Item* old_item, Item* new_item, uint64_t hash, uint64_t new_cas,
                     int64_t now_ms) {
  new_item->cas = new_cas != 0 ? new_cas : NextVersion();
  new_item->set_origin(0, options_.node_id);  // OriginTable index 0: the local node
  new_item->set_exptime_version(new_item->cas);
  Replace(shard, old_item, new_item, hash, now_ms);
  return new_item->cas;
}

// Puts `new_item`, whose version is set, in place of `old_item` (null: none),
// referenced. The bytes were charged by Charge(). An item replacing one of
// its own class leaves the class's item count as it is (no atomic write).
void Store::Replace(Shard& shard, Item* old_item, Item* new_item, uint64_t hash, int64_t now_ms) {
  new_item->set_last_access(ToAccessTime(now_ms));
  const int new_class = new_item->tombstone ? -1 : memory_->ClassOf(*new_item);
  bool same_class = false;
  if (old_item != nullptr) {
    same_class = new_class >= 0 && !old_item->tombstone && memory_->ClassOf(*old_item) == new_class;
    Unlink(shard, old_item, hash, false, !same_class);
  }
  shard.table.Insert(new_item, hash);
  if (new_item->tombstone) {
    ++shard.tombstones;
  } else {
    ++shard.total_items;
    if (!same_class) {
      memory_->CountItems(new_class, 1);
    }
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
    item = WithExptimeVersion(shard, item, hash, now_ms);
    if (item == nullptr) {
      return false;  // no memory for its exptime_version (see Touch)
    }
    previous_exptime = item->exptime();
    item->set_exptime(options.exptime);
    item->set_exptime_version(NextVersion());
    Notify(RecordKind::kTouch, *item);
  } else {
    previous_exptime = item->exptime();
  }
  ItemView view = memory_->View(*item);
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
    // memcached do_item_bump: mark fetched, refresh the access time, reference it.
    item->fetched = true;
    item->set_last_access(ToAccessTime(now_ms));
    ItemTable::Reference(item);
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
  Item* item = NewItem(key, 0, 0, options.vivify_exptime, options_.node_id, false, &shard, tombstone, now_ms);
  if (item == nullptr) {
    return nullptr;
  }
  item->win_token_sent = true;
  if (!Charge(shard, tombstone != nullptr ? memory_->SizeOf(*tombstone) : 0, item, tombstone, now_ms)) {
    DestroyItem(item);
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
  const int64_t exptime = options.touch && options.recache_before_touch ? previous_exptime : item->exptime();
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
  Item* fresh = NewItem(key, value.size(), flags, exptime, options_.node_id, false, nullptr, nullptr,
                        clock_->NowMillis());
  if (fresh == nullptr) {
    return StoreStatus::kOutOfMemory;
  }
  CopyBytes(fresh->value_data(), value);

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
        old->set_last_access(ToAccessTime(now_ms));
        ItemTable::Reference(old);
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
        fresh->set_exptime(old->exptime());
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
      !Charge(shard, displaced != nullptr ? memory_->SizeOf(*displaced) : 0, fresh, displaced, now_ms)) {
    status = StoreStatus::kOutOfMemory;
  }
  if (status != StoreStatus::kStored) {
    lock.unlock();
    DestroyItem(fresh);
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
  Item* fresh = NewItem(key, old_value.size() + value.size(), old->flags, old->exptime(), options_.node_id,
                        false, &shard, old, now_ms);
  if (fresh == nullptr) {
    return StoreStatus::kOutOfMemory;
  }
  const bool append = mode == StoreMode::kAppend;
  CopyBytes(fresh->value_data(), append ? old_value : value);
  CopyBytes(fresh->value_data() + (append ? old_value.size() : value.size()), append ? value : old_value);
  if (!Charge(shard, memory_->SizeOf(*old), fresh, old, now_ms)) {
    DestroyItem(fresh);
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
    exptime = options.update_exptime ? options.exptime : old->exptime();
  }
  char digits[kCounterMaxDigits];
  const auto end = std::to_chars(digits, digits + sizeof(digits), result).ptr;
  const std::string_view text(digits, static_cast<size_t>(end - digits));
  Item* fresh = NewItem(key, text.size(), flags, exptime, options_.node_id, false, &shard, displaced, now_ms);
  if (fresh == nullptr) {
    return ArithStatus::kOutOfMemory;
  }
  CopyBytes(fresh->value_data(), text);
  if (old != nullptr && text.size() <= old->value_length) {
    // memcached do_add_delta rewrites such an item in place, bits included.
    fresh->stale = old->stale;
    fresh->win_token_sent = old->win_token_sent;
  }
  if (!Charge(shard, displaced != nullptr ? memory_->SizeOf(*displaced) : 0, fresh, displaced, now_ms)) {
    DestroyItem(fresh);
    return ArithStatus::kOutOfMemory;
  }
  if (result_out != nullptr) {  // before Link() frees `old`
    result_out->created = old == nullptr;
    result_out->previous_exptime = old != nullptr ? old->exptime() : 0;
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
  // cas (a new version of the item), no reference.
  if (options.update_exptime) {
    item->set_exptime(options.exptime);
  }
  item->stale = true;
  item->win_token_sent = false;
  item->cas = options.new_cas != 0 ? options.new_cas : NextVersion();
  item->set_origin(0, options_.node_id);
  item->set_exptime_version(item->cas);
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
  item = WithExptimeVersion(shard, item, hash, now_ms);
  if (item == nullptr) {
    return false;
  }
  item->set_exptime(exptime);
  item->set_exptime_version(NextVersion());
  Notify(RecordKind::kTouch, *item);
  item->fetched = true;
  item->set_last_access(ToAccessTime(now_ms));
  ItemTable::Reference(item);
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
    // (Cursor 0 is both a shard's first bucket and the end of its walk.)
    uint64_t slot_ahead = position;
    for (size_t i = 0; i < kScanGroup && (i == 0 || slot_ahead != 0); ++i) {
      __builtin_prefetch(shard.table.slot_address(slot_ahead & mask));
      slot_ahead = NextBucketCursor(slot_ahead, mask);
    }
    std::array<const Item*, kScanGroup> heads{};
    do {
      // Gather the group's first items (their slots prefetched one group
      // ago) and prefetch them, and the next group's slots.
      // (No more heads than items still wanted: a small call stays small.)
      const size_t group = std::min(kScanGroup, max_items - visited);
      size_t count = 0;
      do {
        if (slot_ahead != 0) {
          __builtin_prefetch(shard.table.slot_address(slot_ahead & mask));
          slot_ahead = NextBucketCursor(slot_ahead, mask);
        }
        const Item* head = shard.table.bucket(position & mask);
        if (head == nullptr) {
          --empty_budget;
        } else {
          PrefetchLines(head);
          heads[count++] = head;
        }
        position = NextBucketCursor(position, mask);
      } while (position != 0 && count < group && empty_budget > 0);
      for (size_t i = 0; i < count; ++i) {
        if (heads[i]->hash_next != nullptr) {
          PrefetchLines(heads[i]->hash_next);
        }
      }
      for (size_t i = 0; i < count; ++i) {
        for (const Item* item = heads[i]; item != nullptr; item = item->hash_next) {
          if (StateOf(*item, flush, now_ms) != ItemState::kLive) {
            continue;
          }
          if (item->tombstone && !include_tombstones) {
            continue;
          }
          fn(memory_->View(*item));
          ++visited;
        }
      }
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
          CountReclaimed(*item);
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
    stats.get_expired += shard->get_expired;
    stats.get_flushed += shard->get_flushed;
  }
  for (int cls = 0; cls < memory_->slabs.class_count(); ++cls) {
    const Memory::ClassCounters& counters = memory_->class_counters[cls];
    stats.evictions += counters.evicted.load(std::memory_order_relaxed);
    stats.evicted_unfetched += counters.evicted_unfetched.load(std::memory_order_relaxed);
    stats.expired_unfetched += counters.expired_unfetched.load(std::memory_order_relaxed);
    stats.reclaimed += counters.reclaimed.load(std::memory_order_relaxed);
  }
  stats.bytes = bytes_.load(std::memory_order_relaxed);
  stats.limit_maxbytes = limit_bytes_.load(std::memory_order_relaxed);
  return stats;
}

// memcached slabs.c do_slabs_stats (the page figures, under the class lock)
// and items.c do_item_stats (the item counters).
SlabStats Store::GetSlabStats() const {
  SlabStats stats;
  store_internal::SlabAllocator& slabs = memory_->slabs;
  for (int cls = 0; cls < slabs.class_count(); ++cls) {
    const Memory::ClassCounters& counters = memory_->class_counters[cls];
    const uint64_t number = counters.items.load(std::memory_order_relaxed);
    if (slabs.PageCount(cls) == 0 && number == 0) {
      continue;
    }
    const store_internal::SlabClassUsage usage = slabs.Usage(cls);
    SlabClassStats& entry = stats.classes.emplace_back();
    entry.id = cls + 1;
    entry.chunk_size = usage.slot_size;
    entry.chunks_per_page = usage.slots_per_page;
    entry.total_pages = usage.pages;
    entry.total_chunks = usage.pages * usage.slots_per_page;
    entry.used_chunks = usage.used_slots;
    entry.free_chunks = entry.total_chunks - std::min(entry.used_chunks, entry.total_chunks);
    entry.free_chunks_end = usage.uncarved_slots;
    entry.number = number;
    entry.evicted = counters.evicted.load(std::memory_order_relaxed);
    entry.evicted_unfetched = counters.evicted_unfetched.load(std::memory_order_relaxed);
    entry.expired_unfetched = counters.expired_unfetched.load(std::memory_order_relaxed);
    entry.reclaimed = counters.reclaimed.load(std::memory_order_relaxed);
    entry.outofmemory = counters.outofmemory.load(std::memory_order_relaxed);
  }
  stats.total_malloced = slabs.page_bytes();
  return stats;
}

void Store::ResetStats() {
  for (const auto& shard : shards_) {
    std::lock_guard<std::mutex> lock(shard->mu);
    shard->total_items = 0;
    shard->get_expired = 0;
    shard->get_flushed = 0;
  }
  // memcached items.c item_stats_reset; the item counts are not cumulative.
  for (int cls = 0; cls < memory_->slabs.class_count(); ++cls) {
    Memory::ClassCounters& counters = memory_->class_counters[cls];
    for (std::atomic<uint64_t>* counter :
         {&counters.evicted, &counters.evicted_unfetched, &counters.expired_unfetched, &counters.reclaimed,
          &counters.outofmemory}) {
      counter->store(0, std::memory_order_relaxed);
    }
  }
}

void Store::SetLimit(size_t limit_bytes) {
  limit_bytes_.store(limit_bytes, std::memory_order_relaxed);
  memory_->slabs.SetLimit(limit_bytes);
}

}  // namespace twincache
