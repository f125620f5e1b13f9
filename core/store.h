// Store: the sharded in-memory item table with LRU eviction.
//
// Keys hash to one of 2^shard_bits shards; each shard has its own mutex, a
// chained hash table and an LRU list, so worker threads contend only when they
// touch the same shard. Memory is counted globally: `bytes` is the sum of the
// items' allocation sizes and may not exceed `limit_bytes`; when a store would
// pass it, the least recently used items of the writing shard (then of other
// shards) are evicted, or with `evict_to_free == false` (-M) the write fails.
// Expired and flushed items are reclaimed lazily on access and by
// ReclaimExpired(), which the server calls from a background timer.
//
// Every stored item gets a cas unique from a hybrid logical clock (HLC: unix
// milliseconds << 16 | a 16-bit counter), strictly increasing per store. The
// cas unique doubles as the item's version, which replication compares to
// pick the newer write; flush_all is recorded as a version too (items with a
// smaller cas are invalid once the flush time is reached).
//
// Design follows memcached (items.c: LRU tail eviction, lazy expiry,
// flush_all's oldest_live) and Redis (dict.c: SCAN's reverse-binary cursor for
// a dump that survives table growth).
#ifndef TWINCACHE_CORE_STORE_H_
#define TWINCACHE_CORE_STORE_H_

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string_view>
#include <vector>

#include "core/clock.h"
#include "core/item.h"

namespace twincache {

/// Construction parameters. Values mirror memcached's flags.
struct StoreOptions {
  size_t limit_bytes = 64u << 20;   ///< -m, in bytes
  size_t item_size_max = 1u << 20;  ///< -I, in bytes (see ItemFits in item.h)
  bool evict_to_free = true;        ///< false with -M: fail with kOutOfMemory instead
  int shard_bits = 6;               ///< 2^shard_bits shards (64)
  Clock* clock = nullptr;           ///< nullptr: SystemClock::Default()
};

/// How a storage command treats an existing item (memcached protocol.txt,
/// "Storage commands").
enum class StoreMode { kSet, kAdd, kReplace, kAppend, kPrepend, kCas };

/// Outcome of Store(); the protocol maps them to STORED, NOT_STORED, EXISTS,
/// NOT_FOUND, "SERVER_ERROR object too large for cache" and
/// "SERVER_ERROR out of memory storing object".
enum class StoreStatus { kStored, kNotStored, kExists, kNotFound, kTooLarge, kOutOfMemory };

/// Outcome of Arithmetic(); kNonNumeric maps to
/// "CLIENT_ERROR cannot increment or decrement non-numeric value".
enum class ArithStatus { kOk, kNotFound, kExists, kNonNumeric, kOutOfMemory };

/// Outcome of Delete().
enum class DeleteStatus { kDeleted, kNotFound, kExists };

/// Options for a lookup.
struct ReadOptions {
  bool bump_lru = true;  ///< move to the LRU head and update last_access (false: mg 'u')
  bool touch = false;    ///< also set a new exptime (gat, gats, mg 'T')
  int64_t exptime = 0;   ///< with touch: new absolute exptime (see AbsoluteExptime)
};

/// Options for a write (Store()).
struct WriteOptions {
  uint64_t compare_cas = 0;  ///< kCas mode (and meta 'C'): must equal the item's cas unique
  uint64_t new_cas = 0;      ///< nonzero: use this cas unique instead of the HLC (meta 'E')
};

/// Parameters of incr/decr and meta arithmetic (memcached protocol.txt,
/// "Increment/Decrement" and "Meta Arithmetic").
struct ArithOptions {
  bool incr = true;  ///< incr wraps at 2^64; decr floors at 0
  uint64_t delta = 1;
  uint64_t compare_cas = 0;     ///< nonzero: kExists unless the item's cas matches
  bool autovivify = false;      ///< on miss, create the item with `initial` (ma 'N')
  uint64_t initial = 0;         ///< value created on miss (ma 'J')
  int64_t vivify_exptime = 0;   ///< absolute exptime of a vivified item
  bool update_exptime = false;  ///< set `exptime` on hit (ma 'T')
  int64_t exptime = 0;          ///< absolute exptime for update_exptime
};

/// Counters the store keeps, named as memcached's `stats` names them.
struct StoreStats {
  uint64_t curr_items = 0;
  uint64_t total_items = 0;
  uint64_t bytes = 0;
  uint64_t limit_maxbytes = 0;
  uint64_t evictions = 0;
  uint64_t evicted_unfetched = 0;
  uint64_t expired_unfetched = 0;
  uint64_t reclaimed = 0;    ///< expired items whose memory was reused or freed
  uint64_t get_expired = 0;  ///< lookups that found an expired item
  uint64_t get_flushed = 0;  ///< lookups that found an item invalidated by flush_all
};

/// Opaque position of an incremental dump (Scan). Start with a default one;
/// Scan sets done() when every shard is finished.
class ScanCursor {
 public:
  bool done() const { return shard_ >= shard_count_ && shard_count_ != 0; }

 private:
  friend class Store;
  size_t shard_ = 0;
  size_t shard_count_ = 0;
  uint64_t bucket_cursor_ = 0;  // reverse-binary cursor inside the shard (Redis SCAN)
};

/// The item table. Thread safety: every public method may be called from any
/// thread concurrently; callbacks run under a shard mutex and must not call
/// back into the Store.
class Store {
 public:
  explicit Store(const StoreOptions& options);
  ~Store();
  Store(const Store&) = delete;
  Store& operator=(const Store&) = delete;

  /// Looks up `key`. On a live item calls `fn` with it (under the shard lock)
  /// and returns true; `fn` sees `fetched` as it was before this access. A
  /// missing, expired or flushed item returns false (expired/flushed ones are
  /// freed and counted in get_expired/get_flushed). With options.touch the new
  /// exptime is applied before `fn` runs.
  bool Get(std::string_view key, const ReadOptions& options, const std::function<void(const ItemView&)>& fn);

  /// Stores `value` under `key` according to `mode` (memcached protocol.txt,
  /// "Storage commands"). `exptime` is absolute (AbsoluteExptime()); append and
  /// prepend keep the existing flags and exptime. kCas compares
  /// options.compare_cas. On kStored, *cas_out (if not null) receives the new
  /// cas unique. kTooLarge when !ItemFits() or the key is longer than
  /// kKeyMaxLength; kOutOfMemory when the limit cannot
  /// be met by eviction (or -M). A failed set because of kTooLarge does not
  /// touch the existing item (the protocol layer deletes it, as memcached does).
  /// options.compare_cas != 0 turns kSet and kReplace into kCas and makes
  /// append/prepend answer kExists on a mismatch; kAdd ignores it (memcached
  /// proto_text.c process_mset_command). A failed kAdd moves the existing item
  /// to the LRU head. With options.new_cas an item whose cas is not above the
  /// latest flush_all version counts as flushed (see FlushAll()).
  /// (Named StoreItem, after memcached's do_store_item, because C++ forbids a
  /// member function named like its class.)
  StoreStatus StoreItem(StoreMode mode, std::string_view key, std::string_view value, uint32_t flags,
                        int64_t exptime, const WriteOptions& options, uint64_t* cas_out);

  /// incr/decr on a decimal value of up to 20 digits (64-bit unsigned; trailing
  /// spaces accepted). On kOk, *value_out is the new value and *cas_out (if not
  /// null) the new cas unique; the item keeps its flags and exptime (unless
  /// update_exptime). kNonNumeric when the value is not a number.
  ArithStatus Arithmetic(std::string_view key, const ArithOptions& options, uint64_t* value_out,
                         uint64_t* cas_out);

  /// Deletes `key`; with compare_cas != 0 only if the cas matches (else kExists).
  DeleteStatus Delete(std::string_view key, uint64_t compare_cas = 0);

  /// Sets a new absolute exptime on a live item, keeping its cas unique, and
  /// bumps it in the LRU like a fetch (memcached do_item_touch). Returns false
  /// on a miss.
  bool Touch(std::string_view key, int64_t exptime);

  /// flush_all: invalidates every item stored before unix time `at_ms`
  /// (at_ms <= now: at once, and their memory is freed now). A later call
  /// replaces a pending delayed flush, as memcached's oldest_live does.
  void FlushAll(int64_t at_ms);

  /// Visits up to about `max_items` live items from `*cursor` on, one shard lock
  /// at a time, and advances the cursor. Items present for the whole scan are
  /// visited at least once even if tables grow in between (Redis SCAN); items
  /// written during the scan may or may not be. Returns the number visited.
  size_t Scan(ScanCursor* cursor, size_t max_items, const std::function<void(const ItemView&)>& fn);

  /// Frees expired and flushed items, examining at most `max_items` per call
  /// and continuing where the previous call stopped. Returns the number freed.
  size_t ReclaimExpired(size_t max_items);

  /// Snapshot of the counters (each read is atomic; the set is not a single instant).
  StoreStats GetStats() const;

  /// Resets the cumulative counters (total_items, evictions, ...) to zero, as
  /// `stats reset` does; curr_items, bytes and limit_maxbytes are kept.
  void ResetStats();

  /// Changes the memory limit (bytes) at run time (memcached `cache_memlimit`).
  /// Excess items are evicted lazily by later writes.
  void SetLimit(size_t limit_bytes);

  /// The next cas unique / version from the store's HLC, strictly greater than
  /// any handed out before and than any version passed to ObserveVersion().
  uint64_t NextVersion();

  /// Moves the HLC forward past a version seen from elsewhere (a replica), so
  /// later local writes are ordered after it.
  void ObserveVersion(uint64_t version);

  const StoreOptions& options() const { return options_; }

 private:
  struct Item;                     // one malloc'd block: header, key, value (store.cc)
  class ItemTable;                 // a shard's chained hash table and LRU list (store.cc)
  struct Shard;                    // mutex + ItemTable + counters (store.cc)
  enum class ItemState : uint8_t;  // live, expired or flushed (store.cc)
  struct FlushPoint {              // a consistent read of flush_version_/flush_at_ms_
    uint64_t version;
    int64_t at_ms;
  };

  Shard& ShardFor(uint64_t hash);
  FlushPoint LoadFlush() const;
  void PublishFlush(uint64_t version, int64_t at_ms);
  ItemState StateOf(const Item& item, const FlushPoint& flush, int64_t now_ms) const;
  Item* FindLive(Shard& shard, std::string_view key, uint64_t hash, int64_t now_ms, ItemState* dead_state);
  void Drop(Shard& shard, Item* item, uint64_t hash);
  bool Charge(Shard& shard, size_t old_size, size_t new_size, const Item* keep, int64_t now_ms);
  bool TryCharge(size_t bytes);
  bool EvictTail(Shard& shard, const Item* keep, int64_t now_ms);
  uint64_t Link(Shard& shard, Item* old_item, Item* new_item, uint64_t hash, uint64_t new_cas,
                int64_t now_ms);
  StoreStatus Concatenate(StoreMode mode, std::string_view key, std::string_view value,
                          const WriteOptions& options, uint64_t* cas_out);
  void DropFlushed(uint64_t version);

  StoreOptions options_;
  Clock* clock_;
  std::vector<std::unique_ptr<Shard>> shards_;
  std::atomic<uint64_t> bytes_{0};
  std::atomic<size_t> limit_bytes_;
  std::atomic<uint64_t> hlc_{0};
  std::atomic<uint64_t> flush_version_{0};  // items with cas <= this are flushed ...
  std::atomic<int64_t> flush_at_ms_{0};     // ... once the clock reaches this time
  std::atomic<size_t> reclaim_shard_{0};
  std::mutex flush_mu_;  // serialises FlushAll() calls
};

}  // namespace twincache

#endif  // TWINCACHE_CORE_STORE_H_
