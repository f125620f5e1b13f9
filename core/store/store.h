// Store: the sharded in-memory item table with CLOCK eviction.
//
// Keys hash to one of 2^shard_bits shards; each shard has its own mutex and a
// chained hash table, so worker threads contend only when they touch the
// same shard. Items live in slab slots (memcached slabs.c): 1 MiB pages carved
// into size classes, shared by all shards, each class with its own mutex.
// Memory is bounded twice by `limit_bytes`: `bytes`, the sum of the items'
// slot sizes, may not pass it, and neither may the pages (a class's first
// page excepted, as in memcached). The hash tables are not counted (nor are
// memcached's). A write that needs a slot its class cannot have without a
// page past the limit evicts in that class; one that would pass `bytes`
// evicts in the class whose CLOCK hand last freed the least recently used
// item (see store.cc, EvictForBytes). A class that cannot add a page may
// take one from a class whose items are much older, freeing them (memcached's
// slab_reassign with slab_automove's age balancing; store.cc, MovePageTo).
// With `evict_to_free == false` (-M)
// only expired and flushed items (and tombstones) are freed, and the write
// fails. Expired and flushed items are reclaimed lazily on access and by
// ReclaimExpired(), which the server calls from a background timer.
//
// Eviction is CLOCK per size class, an approximation of memcached's LRU (as
// memcached's own per-class LRUs approximate a global one): an access sets
// the item's reference bit (a store, a fetch, a touch, a failed add: what
// moves an item to memcached's LRU head); the class's hand sweeps its slots in
// page order, clearing set bits and evicting the first item whose bit is
// clear. So an item is evicted only after a whole sweep of its class without
// an access. Expired and flushed items met by the hand are reclaimed first
// whatever their bit. Counters keep memcached's meaning: `evictions` and
// `evicted_unfetched` count live items the hand evicted (also to get a slot
// when no page can be added), `reclaimed` the dead ones it freed.
//
// Every stored item gets a cas unique from a hybrid logical clock (HLC: unix
// milliseconds << 16 | a 16-bit counter), strictly increasing per store. The
// cas unique doubles as the item's version, which replication compares to
// pick the newer write; flush_all is recorded as a version too (items with a
// smaller version are invalid once the flush time is reached).
//
// Replication (docs/replication.md). An item's version is (cas unique,
// origin), origin being the node id of the node that accepted the write; an
// item also carries exptime_version, the hlc of its last exptime change. Every
// successful local write is reported to a RecordObserver (SetObserver) and
// the peer's records are merged by Apply() under the winner rule: the greater
// version wins. With keep_tombstones, a delete leaves a tombstone (key and
// version, no value) that clients never see but Apply() compares against, so
// a late older write cannot bring the key back.
//
// Stale items and win tokens (memcached protocol.txt "Meta Get", "Meta
// Delete"; proto_text.c process_mget_command, process_mdelete_command and
// memcached.c do_store_item: the ITEM_STALE and ITEM_TOKEN_SENT bits). An item
// may be marked stale (md I, ms I) and carries a "win token sent" bit: the
// first mg that finds a stale item, or one whose TTL is below its R token,
// wins the right to recache it, and later ones learn that a token is out. A
// stale mark is part of the item's version (it comes with a new cas unique)
// and replicates; handing out a token changes no version and stays local
// (docs/replication.md, "Stale items and win tokens").
//
// Design follows memcached (slabs.c: size classes of pages; items.c: lazy
// expiry, flush_all's oldest_live), CLOCK (Corbató's second-chance page
// replacement) and Redis (dict.c: SCAN's reverse-binary cursor for
// a dump that survives table growth).
#ifndef TWINCACHE_CORE_STORE_STORE_H_
#define TWINCACHE_CORE_STORE_STORE_H_

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <span>
#include <string_view>
#include <vector>

#include "core/base/clock.h"
#include "core/store/item.h"
#include "core/store/record.h"

namespace twincache {

/// Construction parameters. Values mirror memcached's flags.
struct StoreOptions {
  size_t limit_bytes = 64u << 20;   ///< -m, in bytes
  size_t item_size_max = 1u << 20;  ///< -I, in bytes (see ItemFits in item.h)
  bool evict_to_free = true;        ///< false with -M: fail with kOutOfMemory instead
  int shard_bits = 6;               ///< 2^shard_bits shards (64)
  Clock* clock = nullptr;           ///< nullptr: SystemClock::Default()
  uint64_t node_id = 1;             ///< origin of local writes (docs/replication.md); 0 is taken as 1
  bool keep_tombstones = false;     ///< deletes leave a tombstone (replication on)
  int64_t tombstone_ttl_s = 600;    ///< --repl-tombstone-ttl: seconds from the delete's version
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

/// Outcome of Apply(). kStale: the store holds the record's version or a
/// newer one (the record lost; replication counts it in repl_conflicts).
/// kTooLarge: the key or item exceeds kKeyMaxLength / -I. kOutOfMemory: the
/// memory limit could not be met (as StoreItem()).
enum class ApplyStatus { kApplied, kStale, kTooLarge, kOutOfMemory };

/// Options for a lookup.
struct ReadOptions {
  bool bump_lru = true;  ///< set the CLOCK reference bit and update last_access (false: mg 'u')
  bool touch = false;    ///< also set a new exptime (gat, gats, mg 'T')
  int64_t exptime = 0;   ///< with touch: new absolute exptime (see AbsoluteExptime)

  /// mg's recache race (memcached proto_text.c process_mget_command). With
  /// win_token the read wins the item's win token (ItemView::won) when no
  /// token was handed out for the item yet and either the item is stale or
  /// recache_before != 0 and the item's exptime is nonzero and below it (mg
  /// 'R'). Winning sets the item's win_token_sent bit; later reads see it
  /// (ItemView::win_token_sent, mg 'Z') until a store replaces the item or an
  /// Invalidate() clears it. Local state: no record, no new version.
  bool win_token = false;
  int64_t recache_before = 0;  ///< absolute unix seconds (AbsoluteExptime of the R token); 0: no R test
  /// With touch: the R test reads the exptime the item had before the touch
  /// (memcached applies mg flags in request order: 'R' before 'T').
  bool recache_before_touch = false;

  /// mg 'N': on a miss, create an empty item (no value, flags 0, exptime
  /// vivify_exptime) under the same lock, as StoreItem(kAdd) would (memory
  /// limit, kSet record), whose win token this read wins (ItemView::won, and
  /// the item's win_token_sent bit, which replicates with it). Get() then
  /// calls `fn` and returns true; `touch` is not applied to the created item
  /// (pass the exptime it should have). A key over kKeyMaxLength, or no
  /// memory under the limit, is a plain miss.
  bool vivify = false;
  int64_t vivify_exptime = 0;  ///< absolute exptime of a vivified item (see AbsoluteExptime)
  uint64_t vivify_cas = 0;     ///< nonzero: the vivified item's cas unique (mg 'E'); else the HLC's
};

/// Options for a write (Store()).
struct WriteOptions {
  uint64_t compare_cas = 0;  ///< kCas mode (and meta 'C'): must equal the item's cas unique
  uint64_t new_cas = 0;      ///< nonzero: use this cas unique instead of the HLC (meta 'E')
  /// ms 'I' (memcached.c do_store_item, CAS_STALE): in kCas mode a
  /// compare_cas below the item's cas unique stores anyway; the new item is
  /// marked stale and keeps the old item's exptime and win_token_sent bit.
  /// A compare_cas above it is still kExists.
  bool invalidate = false;
};

/// Options of Invalidate() (meta md 'I').
struct InvalidateOptions {
  uint64_t compare_cas = 0;     ///< nonzero: only if it equals the item's cas unique (else kExists)
  uint64_t new_cas = 0;         ///< nonzero: the item's new cas unique (md 'E'); else the HLC's next
  bool update_exptime = false;  ///< also set `exptime` (md 'T')
  int64_t exptime = 0;          ///< absolute exptime (see AbsoluteExptime), with update_exptime
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

/// What Arithmetic() did besides the new value, for meta arithmetic's reply.
struct ArithResult {
  bool created = false;          ///< the item was autovivified (ArithOptions::autovivify)
  int64_t previous_exptime = 0;  ///< absolute exptime before the command; 0 for a created item
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
  uint64_t tombstones = 0;   ///< tombstones held (repl_tombstones); not in curr_items, in bytes
};

/// The figures of one slab class, as memcached's `stats slabs` and `stats
/// items` report them per class (memcached protocol.txt "Slab statistics"
/// and "Item statistics"; slabs.c do_slabs_stats, items.c do_item_stats).
/// Counts unless a unit is given. The per-command counters of memcached's
/// `stats slabs` (get_hits, cmd_set, delete_hits, ...) are not kept per
/// class: memcached counts them in per-thread arrays indexed by class
/// (thread_stats.slab_stats), which here would mean the store handing each
/// command's class to the protocol layer's ThreadStats; a shared per-class
/// atomic instead would put a contended write on every get.
struct SlabClassStats {
  int id = 0;               ///< memcached's class id: 1 for the smallest class, ascending with chunk_size
  uint64_t chunk_size = 0;  ///< bytes of a slot (the bytes an item of the class counts)
  uint64_t chunks_per_page = 0;    ///< slots per page; 1 for items over half a page (one-slot pages)
  uint64_t total_pages = 0;        ///< pages held by the class
  uint64_t total_chunks = 0;       ///< total_pages * chunks_per_page
  uint64_t used_chunks = 0;        ///< slots holding an item or tombstone (or one being built)
  uint64_t free_chunks = 0;        ///< total_chunks - used_chunks: freed slots and slots not carved yet
  uint64_t free_chunks_end = 0;    ///< of free_chunks, those not carved yet at the end of the last page
  uint64_t number = 0;             ///< live items linked in the class (tombstones not counted)
  uint64_t evicted = 0;            ///< live items the CLOCK hand or a page move freed (cumulative)
  uint64_t evicted_unfetched = 0;  ///< of evicted, those never fetched
  uint64_t expired_unfetched = 0;  ///< of reclaimed, those never fetched
  uint64_t reclaimed = 0;          ///< expired or flushed items the hand, a page move or ReclaimExpired freed
  uint64_t outofmemory = 0;        ///< writes refused kOutOfMemory for an item of this class
};

/// The slab report: every class that holds a page or an item, smallest
/// first, and the page bytes of all classes.
struct SlabStats {
  std::vector<SlabClassStats> classes;
  uint64_t total_malloced = 0;  ///< bytes of all pages held (memcached's mem_malloced)
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
/// thread concurrently (except SetObserver); callbacks and the observer run
/// under a shard mutex and must not call back into the Store.
///
/// Tombstones are invisible to every client-facing method: Get, StoreItem,
/// Arithmetic, Delete and Touch treat a key whose entry is a tombstone as
/// missing, and a local write over a tombstone replaces it.
class Store {
 public:
  explicit Store(const StoreOptions& options);
  ~Store();
  Store(const Store&) = delete;
  Store& operator=(const Store&) = delete;

  /// Looks up `key`. On a live item calls `fn` with it (under the shard lock)
  /// and returns true; `fn` sees `fetched` and `win_token_sent` as they were
  /// before this access. A missing, expired or flushed item returns false
  /// (expired/flushed ones are freed and counted in get_expired/get_flushed),
  /// unless options.vivify creates one. With options.touch the new exptime is
  /// applied before `fn` runs, with a new exptime_version (the cas unique
  /// stays), and reported as a kTouch record. options.win_token and
  /// options.vivify: see ReadOptions. A stale item is returned like any other
  /// (ItemView::stale says so).
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
  /// proto_text.c process_mset_command). A failed kAdd references the existing
  /// item (memcached moves it to the LRU head). With options.new_cas an item whose cas is not above the
  /// latest flush_all version counts as flushed (see FlushAll()).
  /// options.invalidate: see WriteOptions. Any other stored item is fresh:
  /// not stale, no win token sent. A stored item has origin = node_id and
  /// exptime_version = its cas unique and is reported as a kSet record.
  /// (Named StoreItem, after memcached's do_store_item, because C++ forbids a
  /// member function named like its class.)
  StoreStatus StoreItem(StoreMode mode, std::string_view key, std::string_view value, uint32_t flags,
                        int64_t exptime, const WriteOptions& options, uint64_t* cas_out);

  /// incr/decr on a decimal value of up to 20 digits (64-bit unsigned; trailing
  /// spaces accepted). On kOk, *value_out is the new value and *cas_out (if not
  /// null) the new cas unique; the item keeps its flags and exptime (unless
  /// update_exptime). kNonNumeric when the value is not a number. The result
  /// (also an autovivified item) is a new item version, reported as kSet. It
  /// keeps the stale and win_token_sent bits when the new number is not
  /// longer than the old value, as memcached's do_add_delta rewrites the
  /// item in place then (and allocates a fresh item otherwise). On kOk,
  /// *result (if not null) says whether the item was created and its exptime
  /// before; a created item takes vivify_exptime (update_exptime is for hits).
  ArithStatus Arithmetic(std::string_view key, const ArithOptions& options, uint64_t* value_out,
                         uint64_t* cas_out, ArithResult* result = nullptr);

  /// Deletes `key`; with compare_cas != 0 only if the cas matches (else kExists).
  /// With keep_tombstones the item is replaced by a tombstone of a new version
  /// (origin node_id); the delete is reported as kDelete with that version.
  DeleteStatus Delete(std::string_view key, uint64_t compare_cas = 0);

  /// md 'I' (memcached proto_text.c process_mdelete_command): instead of
  /// deleting, marks the live item stale and clears its win_token_sent bit,
  /// so that the next mg wins the recache; the value, flags and CLOCK bit
  /// stay. The item gets a new cas unique (options.new_cas, else the HLC's
  /// next; as with StoreItem's new_cas, one not above the latest flush_all
  /// version counts as flushed) and, with options.update_exptime, the new
  /// exptime; it is reported as a kSet record. kDeleted means "marked";
  /// kNotFound on a miss, kExists on a compare_cas mismatch.
  DeleteStatus Invalidate(std::string_view key, const InvalidateOptions& options);

  /// Sets a new absolute exptime on a live item, keeping its cas unique, and
  /// references it like a fetch (memcached do_item_touch). The item gets a
  /// new exptime_version and is reported as a kTouch record. Returns false on
  /// a miss, and (only possible with eviction on, when nothing can be
  /// evicted) when the 8 bytes the item needs for its exptime_version cannot
  /// be had; Get() with options.touch then misses too.
  bool Touch(std::string_view key, int64_t exptime);

  /// flush_all: invalidates every item (and tombstone) stored before unix time
  /// `at_ms` (at_ms <= now: at once, and their memory is freed now). A later
  /// call replaces a pending delayed flush, as memcached's oldest_live does.
  /// Reported as a kFlush record carrying the flush version and at_ms.
  void FlushAll(int64_t at_ms);

  /// Installs the observer of local writes (docs/replication.md): after every
  /// successful local mutation, while the key's shard mutex is held, it gets a
  /// Record viewing the item: kSet (set/add/replace/append/prepend/cas,
  /// incr/decr and meta arithmetic, Invalidate, a vivifying Get), kTouch (touch, gat/gats, mg T), kDelete
  /// (delete, md) and kFlush (flush_all; called under the flush mutex, no
  /// shard lock). Never for evictions, expiry, reclaiming, failed writes or
  /// Apply(). nullptr = none. Thread safety: call once, before the store is
  /// shared between threads; `observer` must outlive the store's use.
  void SetObserver(RecordObserver* observer);

  /// Merges one of the peer's records by the winner rule of
  /// docs/replication.md; never calls the observer. The record's hlc is first
  /// observed by the HLC (for kFlush only when its time has come, so a delayed
  /// flush does not move the clock into the future). Then:
  /// - kSet and kTouch: a version (hlc, origin) greater than the held one (item
  ///   or tombstone; none held counts as older) stores the whole item, with
  ///   its stale and win_token_sent bits, unless a reached flush_all covers
  ///   the version (kStale). An equal version takes the record's exptime when
  ///   (exptime_version, exptime) is greater (the exptime breaks ties so both
  ///   nodes pick the same) and keeps its own bits. Otherwise kStale.
  /// - kDelete: a greater version replaces the held entry by a tombstone, also
  ///   when the key is missing (it must beat a late older kSet); without
  ///   keep_tombstones, or when the tombstone's TTL is already over, the held
  ///   entry is only freed.
  /// - kFlush: a version greater than the current flush version becomes the
  ///   flush point from at_ms on, as FlushAll(); else kStale.
  /// Stores honour the memory limit with eviction (or -M) as StoreItem() does.
  /// A kSet or kTouch refused for its size (kTooLarge: value over -I) or for
  /// memory (kOutOfMemory) frees the older live item held for the key, as
  /// memcached frees the old item when a set fails (proto_text.c,
  /// process_update_command): the node then answers a miss, never a value
  /// its twin has overwritten. `record` views are only read during the call.
  ApplyStatus Apply(const Record& record);

  /// Applies `records`, a bulk stream such as a full sync's SNAPSHOT frames,
  /// as Apply() on each in turn would, for less: one clock read (again after
  /// a flush), and one shard lock per shard touched instead of one per record
  /// (sets, touches and deletes with values up to 64 KiB wait grouped by
  /// shard, keeping their order, until another record comes, which is
  /// applied after them as Apply() would). While memory suffices the end
  /// state and statuses are Apply()'s; near the limit eviction may pick
  /// other items (shards are visited in their order) and a record older than
  /// the one held is kStale where Apply() could answer kOutOfMemory.
  /// `statuses` is replaced by one ApplyStatus per record, in order.
  /// `records` views are only read during the call. Thread safety: as Apply.
  void ApplyBatch(std::span<const Record> records, std::vector<ApplyStatus>* statuses);

  /// Loads one entry of a saved state file (core/store/snapshot.h) into the
  /// store while it is prepared at start, before anything else writes to it:
  /// - kSet (or kTouch): the item with its version (hlc = cas unique, origin),
  ///   flags, absolute exptime, exptime_version, stale and win_token_sent bits
  ///   as saved; one already expired, or covered by a reached flush_all, is
  ///   not stored (kStale);
  /// - kDelete: a tombstone of that version, only with keep_tombstones and
  ///   while its TTL (counted from the version, as Apply's) lasts, else kStale;
  /// - kFlush: the flush point, as Apply().
  /// Unlike Apply it never evicts: kOutOfMemory when the entry does not fit
  /// under the memory limit or its size class can have no further page (so a
  /// file larger than -m loads what fits);
  /// kTooLarge for a key over kKeyMaxLength or an item over -I. An entry
  /// whose key is held already follows the winner rule. The HLC moves past
  /// every stored version. Never calls the observer. Thread safety: as Apply.
  ApplyStatus Restore(const Record& record);

  /// Sizes the hash tables for about `items` entries in all, so that a bulk
  /// load (Restore, a full sync's Apply) does not rehash as it grows; never
  /// for more entries than the memory limit could hold (limit / 37 bytes).
  /// Allocates 8 bytes per bucket at once. Thread safety: as Apply.
  void Reserve(size_t items);

  /// The latest flush_all as a kFlush record (hlc = its version, origin,
  /// at_ms in unix ms), for saving the store (snapshot.h); hlc is 0 when
  /// there was none. Thread safety: safe from any thread.
  Record LatestFlush() const;

  /// Visits up to about `max_items` live items from `*cursor` on, one shard lock
  /// at a time, and advances the cursor. Items present for the whole scan are
  /// visited at least once even if tables grow in between (Redis SCAN); items
  /// written during the scan may or may not be. With include_tombstones the
  /// live tombstones are visited too (ItemView::tombstone), for a full sync.
  /// Returns the number visited.
  size_t Scan(ScanCursor* cursor, size_t max_items, const std::function<void(const ItemView&)>& fn,
              bool include_tombstones = false);

  /// Frees expired and flushed items and tombstones past their TTL, examining
  /// at most `max_items` per call and continuing where the previous call
  /// stopped. Returns the number freed (items and tombstones).
  size_t ReclaimExpired(size_t max_items);

  /// Snapshot of the counters (each read is atomic; the set is not a single instant).
  StoreStats GetStats() const;

  /// Per-class figures (see SlabClassStats). Takes each class mutex in turn,
  /// briefly, and no shard mutex: a class's page and chunk figures agree
  /// with each other, its item counters are relaxed reads (so under
  /// concurrent writes `number` may lag used_chunks by the items in flight),
  /// and the classes are not read at a single instant. The counters cost
  /// lookups nothing; a write that links an item in a class other than the
  /// replaced item's adds one relaxed atomic per class changed. Safe from any
  /// thread.
  SlabStats GetSlabStats() const;

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
  struct Item;                     // header, key and value in one slab slot (store_internal.h)
  class ItemTable;                 // a shard's chained hash table (store_internal.h)
  struct Shard;                    // mutex + ItemTable + counters (store_internal.h)
  struct Memory;                   // slab allocator and origin table (store_internal.h)
  enum class ItemState : uint8_t;  // live, expired or flushed (store_internal.h)
  struct FlushPoint {              // a consistent read of the flush_* atomics
    uint64_t version;
    uint64_t origin;
    int64_t at_ms;
  };

  size_t ShardIndex(uint64_t hash) const;  // index into shards_ of a key hash
  Shard& ShardFor(uint64_t hash);
  FlushPoint LoadFlush() const;
  void PublishFlush(const FlushPoint& flush);
  void FlushAt(const FlushPoint& flush);
  static bool IsFlushed(const FlushPoint& flush, uint64_t cas, uint64_t origin, int64_t now_ms);
  ItemState StateOf(const Item& item, const FlushPoint& flush, int64_t now_ms) const;
  Item* FindLive(Shard& shard, std::string_view key, uint64_t hash, int64_t now_ms, ItemState* dead_state,
                 Item** tombstone = nullptr);
  Item* NewItem(std::string_view key, size_t value_length, uint32_t flags, int64_t exptime, uint64_t origin,
                bool with_exptime_version, Shard* held, const Item* keep, int64_t now_ms,
                bool may_evict = true);
  void DestroyItem(Item* item, bool class_locked = false);
  void Drop(Shard& shard, Item* item, uint64_t hash, bool class_locked = false);
  void Unlink(Shard& shard, Item* item, uint64_t hash, bool class_locked = false, bool count_item = true);
  bool Charge(Shard& shard, size_t old_size, const Item* fresh, const Item* keep, int64_t now_ms);
  bool TryCharge(size_t bytes);
  void CountReclaimed(const Item& item) const;
  bool CountFreed(const Item& item, const FlushPoint& flush, int64_t now_ms) const;
  bool EvictFromClass(int cls, Shard* held, const Item* keep, int64_t now_ms, bool class_locked);
  bool EvictForBytes(Shard* held, const Item* keep, int64_t now_ms);
  bool MovePageTo(int cls, Shard* held, const Item* keep, int64_t now_ms);
  Item* WithExptimeVersion(Shard& shard, Item* item, uint64_t hash, int64_t now_ms);
  uint64_t Link(Shard& shard, Item* old_item, Item* new_item, uint64_t hash, uint64_t new_cas,
                int64_t now_ms);
  void Replace(Shard& shard, Item* old_item, Item* new_item, uint64_t hash, int64_t now_ms);
  bool LeaveTombstone(Shard& shard, Item* item, uint64_t hash, int64_t now_ms);
  int64_t TombstoneExpiry(uint64_t version) const;
  void Notify(RecordKind kind, const Item& item) const;
  StoreStatus Concatenate(StoreMode mode, std::string_view key, std::string_view value,
                          const WriteOptions& options, uint64_t* cas_out);
  Item* Vivify(Shard& shard, std::string_view key, uint64_t hash, Item* tombstone, const ReadOptions& options,
               int64_t now_ms);
  static bool WinToken(Item* item, const ReadOptions& options, bool created, int64_t previous_exptime);
  ApplyStatus ApplyItem(const Record& record);
  Item* BuildApplied(const Record& record, Shard* held, const Item* keep, int64_t now_ms);
  ApplyStatus ApplyItemLocked(Shard& shard, const Record& record, uint64_t hash, int64_t now_ms,
                              Item** fresh);
  void DropOlder(const Record& record);
  ApplyStatus ApplyDelete(const Record& record);
  ApplyStatus ApplyDeleteLocked(Shard& shard, const Record& record, uint64_t hash, int64_t now_ms);
  ApplyStatus ApplyFlush(const Record& record);
  void DropFlushed(uint64_t version, uint64_t origin);

  StoreOptions options_;
  Clock* clock_;
  std::unique_ptr<Memory> memory_;  // before shards_: their items live in it
  std::vector<std::unique_ptr<Shard>> shards_;
  std::atomic<uint64_t> bytes_{0};
  std::atomic<size_t> limit_bytes_;
  std::atomic<uint64_t> hlc_{0};
  std::atomic<uint64_t> flush_version_{0};  // items with (cas, origin) <= (this, ...
  std::atomic<uint64_t> flush_origin_{0};   // ... this) are flushed ...
  std::atomic<int64_t> flush_at_ms_{0};     // ... once the clock reaches this time
  std::atomic<size_t> reclaim_shard_{0};
  std::mutex flush_mu_;                 // serialises FlushAll() and Apply(kFlush)
  RecordObserver* observer_ = nullptr;  // set once by SetObserver() before serving
};

}  // namespace twincache

#endif  // TWINCACHE_CORE_STORE_STORE_H_
