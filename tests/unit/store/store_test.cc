// Unit tests for Store (core/store/store.h): storage modes, expiry, CLOCK eviction,
// memory accounting, incr/decr, cas uniques, flush_all, Scan, ReclaimExpired
// and a multi-threaded smoke test. Time comes from a ManualClock; nothing sleeps.
#include "core/store/store.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cstdint>
#include <limits>
#include <map>
#include <random>
#include <set>
#include <string>
#include <thread>
#include <vector>

namespace twincache {
namespace {

constexpr int64_t kStartMillis = 1'700'000'000'000;  // 2023-11-14, unix ms
constexpr int64_t kStartSeconds = kStartMillis / 1000;

class StoreTest : public ::testing::Test {
 protected:
  StoreTest() : clock_(kStartMillis) {}

  StoreOptions Options() {
    StoreOptions options;
    options.clock = &clock_;
    return options;
  }

  static StoreStatus Set(Store& store, std::string_view key, std::string_view value, int64_t exptime = 0,
                         uint32_t flags = 0, uint64_t* cas = nullptr) {
    return store.StoreItem(StoreMode::kSet, key, value, flags, exptime, WriteOptions(), cas);
  }

  static StoreStatus Put(Store& store, StoreMode mode, std::string_view key, std::string_view value,
                         uint64_t compare_cas = 0, uint64_t* cas = nullptr) {
    WriteOptions options;
    options.compare_cas = compare_cas;
    return store.StoreItem(mode, key, value, 0, 0, options, cas);
  }

  // The item's view (copied), or nullopt-like empty key when missing.
  struct Copy {
    bool found = false;
    std::string value;
    uint32_t flags = 0;
    int64_t exptime = 0;
    uint64_t cas = 0;
    int64_t last_access = 0;
    bool fetched = false;
    size_t size = 0;
  };

  static Copy Fetch(Store& store, std::string_view key, ReadOptions options = ReadOptions()) {
    Copy copy;
    copy.found = store.Get(key, options, [&](const ItemView& view) {
      copy.value = std::string(view.value);
      copy.flags = view.flags;
      copy.exptime = view.exptime;
      copy.cas = view.cas;
      copy.last_access = view.last_access;
      copy.fetched = view.fetched;
      copy.size = view.size;
    });
    return copy;
  }

  static std::string Value(Store& store, std::string_view key) {
    Copy copy = Fetch(store, key);
    return copy.found ? copy.value : "<missing>";
  }

  static ArithStatus Arith(Store& store, std::string_view key, bool incr, uint64_t delta, uint64_t* result) {
    ArithOptions options;
    options.incr = incr;
    options.delta = delta;
    return store.Arithmetic(key, options, result, nullptr);
  }

  // Visits every item with a full Scan; returns key -> visit count.
  static std::map<std::string, int> ScanAll(Store& store, size_t batch, uint64_t* bytes = nullptr) {
    std::map<std::string, int> seen;
    ScanCursor cursor;
    uint64_t total = 0;
    while (!cursor.done()) {
      store.Scan(&cursor, batch, [&](const ItemView& view) {
        ++seen[std::string(view.key)];
        total += view.size;
      });
    }
    if (bytes != nullptr) *bytes = total;
    return seen;
  }

  // What every GetSlabStats() report of a quiet store satisfies: classes
  // ascending by id and chunk size, whole pages of chunks, used + free =
  // total, every item in a used chunk, the item counts adding up to
  // curr_items and the class counters to GetStats()'s, the pages to
  // total_malloced.
  static void ExpectSlabStatsConsistent(const Store& store) {
    const SlabStats slabs = store.GetSlabStats();
    const StoreStats totals = store.GetStats();
    uint64_t number = 0;
    uint64_t evicted = 0;
    uint64_t reclaimed = 0;
    uint64_t page_bytes = 0;
    int previous_id = 0;
    uint64_t previous_size = 0;
    for (const SlabClassStats& cls : slabs.classes) {
      EXPECT_GT(cls.id, previous_id);
      EXPECT_GT(cls.chunk_size, previous_size);
      previous_id = cls.id;
      previous_size = cls.chunk_size;
      EXPECT_EQ(cls.total_chunks, cls.total_pages * cls.chunks_per_page) << cls.id;
      EXPECT_EQ(cls.used_chunks + cls.free_chunks, cls.total_chunks) << cls.id;
      EXPECT_LE(cls.free_chunks_end, cls.free_chunks) << cls.id;
      EXPECT_LE(cls.number, cls.used_chunks) << cls.id;
      EXPECT_LE(cls.evicted_unfetched, cls.evicted) << cls.id;
      EXPECT_LE(cls.expired_unfetched, cls.reclaimed) << cls.id;
      number += cls.number;
      evicted += cls.evicted;
      reclaimed += cls.reclaimed;
      page_bytes += cls.total_pages * cls.chunks_per_page * cls.chunk_size;
    }
    EXPECT_EQ(number, totals.curr_items);
    EXPECT_EQ(evicted, totals.evictions);
    EXPECT_EQ(reclaimed, totals.reclaimed);
    EXPECT_LE(page_bytes, slabs.total_malloced);
  }

  ManualClock clock_;
};

// --- Storage modes --------------------------------------------------------

TEST_F(StoreTest, SetThenGetReturnsValueFlagsAndCas) {
  Store store(Options());
  uint64_t cas = 0;
  EXPECT_EQ(Set(store, "k", "hello", 0, 42, &cas), StoreStatus::kStored);
  EXPECT_NE(cas, 0u);
  Copy copy = Fetch(store, "k");
  ASSERT_TRUE(copy.found);
  EXPECT_EQ(copy.value, "hello");
  EXPECT_EQ(copy.flags, 42u);
  EXPECT_EQ(copy.exptime, 0);
  EXPECT_EQ(copy.cas, cas);
  EXPECT_EQ(copy.last_access, kStartSeconds);
  EXPECT_FALSE(copy.fetched);
  EXPECT_GT(copy.size, 5u);
  EXPECT_TRUE(Fetch(store, "k").fetched);  // the first Get marked it
  EXPECT_FALSE(Fetch(store, "other").found);
}

TEST_F(StoreTest, SetOverwritesAndEmptyValueWorks) {
  Store store(Options());
  EXPECT_EQ(Set(store, "k", "one"), StoreStatus::kStored);
  EXPECT_EQ(Set(store, "k", ""), StoreStatus::kStored);
  EXPECT_EQ(Value(store, "k"), "");
  EXPECT_EQ(store.GetStats().curr_items, 1u);
  EXPECT_EQ(store.GetStats().total_items, 2u);
}

TEST_F(StoreTest, AddStoresOnlyWhenMissingOrExpired) {
  Store store(Options());
  EXPECT_EQ(Put(store, StoreMode::kAdd, "k", "a"), StoreStatus::kStored);
  EXPECT_EQ(Put(store, StoreMode::kAdd, "k", "b"), StoreStatus::kNotStored);
  EXPECT_EQ(Value(store, "k"), "a");
  EXPECT_EQ(Set(store, "e", "x", kStartSeconds + 1), StoreStatus::kStored);
  clock_.Advance(1000);
  EXPECT_EQ(Put(store, StoreMode::kAdd, "e", "y"), StoreStatus::kStored);
  EXPECT_EQ(Value(store, "e"), "y");
}

TEST_F(StoreTest, ReplaceNeedsAnExistingItem) {
  Store store(Options());
  EXPECT_EQ(Put(store, StoreMode::kReplace, "k", "a"), StoreStatus::kNotStored);
  EXPECT_FALSE(Fetch(store, "k").found);
  EXPECT_EQ(Set(store, "k", "a"), StoreStatus::kStored);
  EXPECT_EQ(Put(store, StoreMode::kReplace, "k", "b"), StoreStatus::kStored);
  EXPECT_EQ(Value(store, "k"), "b");
}

TEST_F(StoreTest, AppendAndPrependKeepFlagsAndExptime) {
  Store store(Options());
  EXPECT_EQ(Put(store, StoreMode::kAppend, "k", "x"), StoreStatus::kNotStored);
  EXPECT_EQ(Put(store, StoreMode::kPrepend, "k", "x"), StoreStatus::kNotStored);
  const int64_t exptime = kStartSeconds + 100;
  EXPECT_EQ(Set(store, "k", "mid", exptime, 7), StoreStatus::kStored);
  EXPECT_EQ(store.StoreItem(StoreMode::kAppend, "k", "-end", 99, 5, WriteOptions(), nullptr),
            StoreStatus::kStored);
  EXPECT_EQ(store.StoreItem(StoreMode::kPrepend, "k", "start-", 99, 5, WriteOptions(), nullptr),
            StoreStatus::kStored);
  Copy copy = Fetch(store, "k");
  EXPECT_EQ(copy.value, "start-mid-end");
  EXPECT_EQ(copy.flags, 7u);
  EXPECT_EQ(copy.exptime, exptime);
}

TEST_F(StoreTest, AppendWithCasChecksIt) {
  Store store(Options());
  uint64_t cas = 0;
  EXPECT_EQ(Set(store, "k", "a", 0, 0, &cas), StoreStatus::kStored);
  EXPECT_EQ(Put(store, StoreMode::kAppend, "k", "b", cas + 1), StoreStatus::kExists);
  EXPECT_EQ(Put(store, StoreMode::kAppend, "k", "b", cas), StoreStatus::kStored);
  EXPECT_EQ(Value(store, "k"), "ab");
}

TEST_F(StoreTest, CasSemantics) {
  Store store(Options());
  EXPECT_EQ(Put(store, StoreMode::kCas, "k", "a", 1), StoreStatus::kNotFound);
  uint64_t cas = 0;
  EXPECT_EQ(Set(store, "k", "a", 0, 0, &cas), StoreStatus::kStored);
  EXPECT_EQ(Put(store, StoreMode::kCas, "k", "b", cas + 1), StoreStatus::kExists);
  EXPECT_EQ(Put(store, StoreMode::kCas, "k", "b", 0), StoreStatus::kExists);
  uint64_t new_cas = 0;
  EXPECT_EQ(Put(store, StoreMode::kCas, "k", "b", cas, &new_cas), StoreStatus::kStored);
  EXPECT_GT(new_cas, cas);
  EXPECT_EQ(Value(store, "k"), "b");
  EXPECT_EQ(Put(store, StoreMode::kCas, "k", "c", cas), StoreStatus::kExists);  // cas changed
  clock_.Advance(1);
  EXPECT_EQ(Set(store, "gone", "x", kStartSeconds), StoreStatus::kStored);  // expired at once
  EXPECT_EQ(Put(store, StoreMode::kCas, "gone", "y", 1), StoreStatus::kNotFound);
}

TEST_F(StoreTest, CompareCasInSetAndReplaceModesActsLikeCas) {
  Store store(Options());
  EXPECT_EQ(Put(store, StoreMode::kSet, "k", "a", 5), StoreStatus::kNotFound);
  EXPECT_EQ(Put(store, StoreMode::kAdd, "k", "a", 5), StoreStatus::kStored);  // add ignores it
  const uint64_t cas = Fetch(store, "k").cas;
  EXPECT_EQ(Put(store, StoreMode::kSet, "k", "b", cas + 1), StoreStatus::kExists);
  EXPECT_EQ(Put(store, StoreMode::kReplace, "k", "b", cas + 1), StoreStatus::kExists);
  EXPECT_EQ(Put(store, StoreMode::kSet, "k", "b", cas), StoreStatus::kStored);
  EXPECT_EQ(Value(store, "k"), "b");
}

TEST_F(StoreTest, NewCasOptionSetsTheCasUnique) {
  Store store(Options());
  WriteOptions options;
  options.new_cas = store.NextVersion() + 1000;
  uint64_t cas = 0;
  EXPECT_EQ(store.StoreItem(StoreMode::kSet, "k", "v", 0, 0, options, &cas), StoreStatus::kStored);
  EXPECT_EQ(cas, options.new_cas);
  EXPECT_EQ(Fetch(store, "k").cas, options.new_cas);
}

TEST_F(StoreTest, DeleteWithAndWithoutCas) {
  Store store(Options());
  EXPECT_EQ(store.Delete("k"), DeleteStatus::kNotFound);
  uint64_t cas = 0;
  EXPECT_EQ(Set(store, "k", "v", 0, 0, &cas), StoreStatus::kStored);
  EXPECT_EQ(store.Delete("k", cas + 1), DeleteStatus::kExists);
  EXPECT_EQ(store.Delete("k", cas), DeleteStatus::kDeleted);
  EXPECT_EQ(store.Delete("k"), DeleteStatus::kNotFound);
  EXPECT_EQ(store.GetStats().curr_items, 0u);
}

TEST_F(StoreTest, TooLargeFollowsItemFitsAndLeavesTheOldItem) {
  StoreOptions options = Options();
  options.item_size_max = 1024;
  Store store(options);
  const std::string key = "k";
  size_t fits = 0;
  while (ItemFits(key.size(), fits + 1, options.item_size_max)) ++fits;
  EXPECT_EQ(Set(store, key, "old"), StoreStatus::kStored);
  EXPECT_EQ(Set(store, key, std::string(fits + 1, 'x')), StoreStatus::kTooLarge);
  EXPECT_EQ(Value(store, key), "old");
  EXPECT_EQ(Set(store, key, std::string(fits, 'x')), StoreStatus::kStored);
  // append/prepend check the combined size.
  EXPECT_EQ(Put(store, StoreMode::kAppend, key, "y"), StoreStatus::kTooLarge);
  EXPECT_EQ(Put(store, StoreMode::kPrepend, key, "y"), StoreStatus::kTooLarge);
  EXPECT_EQ(Value(store, key).size(), fits);
  EXPECT_EQ(Set(store, std::string(kKeyMaxLength + 1, 'k'), "v"), StoreStatus::kTooLarge);
  EXPECT_EQ(Set(store, std::string(kKeyMaxLength, 'k'), "v"), StoreStatus::kStored);
}

// --- Expiry ---------------------------------------------------------------

TEST_F(StoreTest, RelativeExptimeExpiresExactlyAtTheBoundary) {
  Store store(Options());
  EXPECT_EQ(Set(store, "k", "v", AbsoluteExptime(10, kStartSeconds)), StoreStatus::kStored);
  clock_.Advance(9'999);
  EXPECT_TRUE(Fetch(store, "k").found);
  clock_.Advance(1);  // now == exptime: expired (memcached: exptime <= current_time)
  EXPECT_FALSE(Fetch(store, "k").found);
  StoreStats stats = store.GetStats();
  EXPECT_EQ(stats.get_expired, 1u);
  EXPECT_EQ(stats.curr_items, 0u);
  EXPECT_EQ(stats.bytes, 0u);
}

TEST_F(StoreTest, AbsoluteExptimeAboveThirtyDays) {
  Store store(Options());
  const int64_t in_forty_days = kStartSeconds + 40 * 24 * 3600;
  const int64_t exptime = AbsoluteExptime(in_forty_days, kStartSeconds);
  EXPECT_EQ(exptime, in_forty_days);
  EXPECT_EQ(Set(store, "future", "v", exptime), StoreStatus::kStored);
  // A unix time in the past (but above 30 days) is expired at once.
  EXPECT_EQ(Set(store, "past", "v", AbsoluteExptime(kRelativeExptimeMax + 1, kStartSeconds)),
            StoreStatus::kStored);
  EXPECT_FALSE(Fetch(store, "past").found);
  clock_.Set((in_forty_days - 1) * 1000);
  EXPECT_TRUE(Fetch(store, "future").found);
  clock_.Set(in_forty_days * 1000);
  EXPECT_FALSE(Fetch(store, "future").found);
}

TEST_F(StoreTest, NegativeExptimeIsExpiredAtOnceAndZeroNever) {
  Store store(Options());
  EXPECT_EQ(Set(store, "neg", "v", AbsoluteExptime(-1, kStartSeconds)), StoreStatus::kStored);
  EXPECT_FALSE(Fetch(store, "neg").found);
  EXPECT_EQ(Set(store, "zero", "v", AbsoluteExptime(0, kStartSeconds)), StoreStatus::kStored);
  clock_.Advance(int64_t{10} * 365 * 24 * 3600 * 1000);
  EXPECT_TRUE(Fetch(store, "zero").found);
}

TEST_F(StoreTest, ExpiredItemsAreMissingForEveryCommand) {
  Store store(Options());
  const int64_t exptime = kStartSeconds + 1;
  for (const char* key : {"a", "b", "c", "d", "e"})
    EXPECT_EQ(Set(store, key, "1", exptime), StoreStatus::kStored);
  clock_.Advance(1000);
  EXPECT_EQ(Put(store, StoreMode::kReplace, "a", "x"), StoreStatus::kNotStored);
  EXPECT_EQ(Put(store, StoreMode::kAppend, "b", "x"), StoreStatus::kNotStored);
  uint64_t result = 0;
  EXPECT_EQ(Arith(store, "c", true, 1, &result), ArithStatus::kNotFound);
  EXPECT_EQ(store.Delete("d"), DeleteStatus::kNotFound);
  EXPECT_FALSE(store.Touch("e", 0));
  StoreStats stats = store.GetStats();
  EXPECT_EQ(stats.curr_items, 0u);
  EXPECT_EQ(stats.bytes, 0u);
  EXPECT_EQ(stats.get_expired, 0u);  // counted only by Get
}

TEST_F(StoreTest, TouchChangesExptimeAndKeepsCas) {
  Store store(Options());
  uint64_t cas = 0;
  EXPECT_EQ(Set(store, "k", "v", kStartSeconds + 1, 0, &cas), StoreStatus::kStored);
  EXPECT_TRUE(store.Touch("k", kStartSeconds + 100));
  clock_.Advance(50'000);
  Copy copy = Fetch(store, "k");
  ASSERT_TRUE(copy.found);
  EXPECT_EQ(copy.cas, cas);
  EXPECT_EQ(copy.exptime, kStartSeconds + 100);
  EXPECT_FALSE(store.Touch("missing", 0));
  EXPECT_TRUE(store.Touch("k", kExptimeExpired));
  EXPECT_FALSE(Fetch(store, "k").found);
}

TEST_F(StoreTest, GetWithTouchAppliesExptimeBeforeCallback) {
  Store store(Options());
  EXPECT_EQ(Set(store, "k", "v", kStartSeconds + 1), StoreStatus::kStored);
  ReadOptions options;
  options.touch = true;
  options.exptime = kStartSeconds + 60;
  EXPECT_EQ(Fetch(store, "k", options).exptime, kStartSeconds + 60);
  clock_.Advance(30'000);
  EXPECT_TRUE(Fetch(store, "k").found);
}

TEST_F(StoreTest, GetWithoutBumpLeavesFetchedAndAccessTime) {
  Store store(Options());
  EXPECT_EQ(Set(store, "k", "v"), StoreStatus::kStored);
  clock_.Advance(5000);
  ReadOptions no_bump;
  no_bump.bump_lru = false;
  EXPECT_FALSE(Fetch(store, "k", no_bump).fetched);
  Copy copy = Fetch(store, "k");
  EXPECT_FALSE(copy.fetched);
  EXPECT_EQ(copy.last_access, kStartSeconds);  // as it was before this access
  copy = Fetch(store, "k");
  EXPECT_TRUE(copy.fetched);
  EXPECT_EQ(copy.last_access, kStartSeconds + 5);
}

// --- LRU and memory ---------------------------------------------------------

// "prefix0042": fixed-width keys, so every item of a test has the same size.
std::string Key(const std::string& prefix, int i) {
  std::string digits = std::to_string(i);
  return prefix + std::string(4 - std::min<size_t>(digits.size(), 4), '0') + digits;
}

// A store with one shard and room for `items` items of a Key() and a
// 100-byte value (their size measured in a store of its own).
StoreOptions SmallStore(Clock* clock, size_t items) {
  StoreOptions options;
  options.clock = clock;
  options.shard_bits = 0;
  size_t item_size = 0;
  {
    Store probe(options);
    probe.StoreItem(StoreMode::kSet, Key("key", 0), std::string(100, 'v'), 0, 0, WriteOptions(), nullptr);
    probe.Get(Key("key", 0), ReadOptions(), [&item_size](const ItemView& view) { item_size = view.size; });
  }
  options.limit_bytes = items * item_size;
  return options;
}

TEST_F(StoreTest, LruEvictsTheLeastRecentlyUsed) {
  Store store(SmallStore(&clock_, 20));
  const std::string value(100, 'v');
  int stored = 0;
  while (store.GetStats().evictions == 0) {
    ASSERT_EQ(Set(store, Key("key", stored), value), StoreStatus::kStored);
    ++stored;
  }
  // key0 went first. Read key2 (the oldest survivor but one), then write more.
  EXPECT_FALSE(Fetch(store, Key("key", 0)).found);
  const uint64_t capacity = store.GetStats().curr_items;
  EXPECT_TRUE(Fetch(store, Key("key", 2)).found);
  for (int i = 0; i < 5; ++i) ASSERT_EQ(Set(store, Key("new", i), value), StoreStatus::kStored);
  EXPECT_TRUE(Fetch(store, Key("key", 2)).found);
  EXPECT_FALSE(Fetch(store, Key("key", 1)).found);
  EXPECT_FALSE(Fetch(store, Key("key", 3)).found);
  EXPECT_FALSE(Fetch(store, Key("key", 6)).found);
  EXPECT_TRUE(Fetch(store, Key("key", 7)).found);
  EXPECT_TRUE(Fetch(store, Key("key", stored - 1)).found);
  StoreStats stats = store.GetStats();
  EXPECT_EQ(stats.curr_items, capacity);
  EXPECT_EQ(stats.evictions, 6u);
  EXPECT_EQ(stats.evicted_unfetched, 6u);  // none of the evicted was read
  EXPECT_LE(stats.bytes, stats.limit_maxbytes);
}

TEST_F(StoreTest, FailedAddPromotesTheItem) {
  Store store(SmallStore(&clock_, 20));
  const std::string value(100, 'v');
  int stored = 0;
  while (store.GetStats().evictions == 0) {
    ASSERT_EQ(Set(store, Key("key", stored), value), StoreStatus::kStored);
    ++stored;
  }
  EXPECT_EQ(Put(store, StoreMode::kAdd, Key("key", 1), "x"), StoreStatus::kNotStored);
  ASSERT_EQ(Set(store, Key("new", 0), value), StoreStatus::kStored);
  EXPECT_TRUE(Fetch(store, Key("key", 1)).found);
  EXPECT_FALSE(Fetch(store, Key("key", 2)).found);
}

TEST_F(StoreTest, ExpiredTailItemsCountAsReclaimedNotEvicted) {
  Store store(SmallStore(&clock_, 20));
  const std::string value(100, 'v');
  for (int i = 0; i < 10; ++i) {
    ASSERT_EQ(Set(store, Key("old", i), value, kStartSeconds + 1), StoreStatus::kStored);
  }
  clock_.Advance(1000);
  for (int i = 0; i < 15; ++i) ASSERT_EQ(Set(store, Key("new", i), value), StoreStatus::kStored);
  StoreStats stats = store.GetStats();
  EXPECT_GT(stats.reclaimed, 0u);
  EXPECT_EQ(stats.expired_unfetched, stats.reclaimed);
  EXPECT_EQ(stats.evictions, 0u);
}

TEST_F(StoreTest, NoEvictGivesOutOfMemoryButReclaimsExpired) {
  StoreOptions options = SmallStore(&clock_, 20);
  options.evict_to_free = false;
  Store store(options);
  const std::string value(100, 'v');
  int stored = 0;
  StoreStatus status = StoreStatus::kStored;
  while ((status = Set(store, Key("key", stored), value, kStartSeconds + 1)) == StoreStatus::kStored) {
    ++stored;
    ASSERT_LT(stored, 1000);
  }
  EXPECT_EQ(status, StoreStatus::kOutOfMemory);
  EXPECT_GT(stored, 5);
  EXPECT_EQ(store.GetStats().evictions, 0u);
  EXPECT_TRUE(Fetch(store, Key("key", 0)).found);
  // Once they expire, the tail items are reclaimed to make room.
  clock_.Advance(1000);
  EXPECT_EQ(Set(store, Key("new", 0), value), StoreStatus::kStored);
  EXPECT_GT(store.GetStats().reclaimed, 0u);
}

TEST_F(StoreTest, ItemLargerThanTheLimitIsOutOfMemoryWithoutEvicting) {
  StoreOptions options = Options();
  options.limit_bytes = 1000;
  options.item_size_max = 4096;
  Store store(options);
  EXPECT_EQ(Set(store, "small", "v"), StoreStatus::kStored);
  EXPECT_EQ(Set(store, "big", std::string(2000, 'x')), StoreStatus::kOutOfMemory);
  EXPECT_TRUE(Fetch(store, "small").found);
}

TEST_F(StoreTest, BytesRiseAndFallToZero) {
  Store store(Options());
  uint64_t previous = 0;
  size_t sizes = 0;
  for (int i = 0; i < 100; ++i) {
    const std::string key = "k" + std::to_string(i);
    ASSERT_EQ(Set(store, key, std::string(static_cast<size_t>(i) * 10, 'x')), StoreStatus::kStored);
    const uint64_t bytes = store.GetStats().bytes;
    EXPECT_GT(bytes, previous);
    previous = bytes;
    sizes += Fetch(store, key).size;
  }
  EXPECT_EQ(store.GetStats().bytes, sizes);
  for (int i = 0; i < 100; ++i) EXPECT_EQ(store.Delete("k" + std::to_string(i)), DeleteStatus::kDeleted);
  EXPECT_EQ(store.GetStats().bytes, 0u);
  EXPECT_EQ(store.GetStats().curr_items, 0u);
}

TEST_F(StoreTest, BytesNeverPassTheLimit) {
  StoreOptions options = Options();
  options.limit_bytes = 64 * 1024;
  options.shard_bits = 2;
  Store store(options);
  std::mt19937 random(7);
  for (int i = 0; i < 20'000; ++i) {
    const std::string key = "k" + std::to_string(random() % 2000);
    const size_t length = random() % 1500;
    switch (random() % 4) {
      case 0:
        ASSERT_NE(Put(store, StoreMode::kAppend, key, std::string(length % 50, 'a')),
                  StoreStatus::kOutOfMemory);
        break;
      default:
        ASSERT_EQ(Set(store, key, std::string(length, 'x')), StoreStatus::kStored);
    }
    ASSERT_LE(store.GetStats().bytes, options.limit_bytes);
  }
  uint64_t scanned_bytes = 0;
  const auto seen = ScanAll(store, 100, &scanned_bytes);
  EXPECT_EQ(seen.size(), store.GetStats().curr_items);
  EXPECT_EQ(scanned_bytes, store.GetStats().bytes);
}

TEST_F(StoreTest, LoweredLimitIsMetByLaterWrites) {
  StoreOptions options = SmallStore(&clock_, 100);
  Store store(options);
  const std::string value(100, 'v');
  for (int i = 0; i < 90; ++i) ASSERT_EQ(Set(store, "k" + std::to_string(i), value), StoreStatus::kStored);
  store.SetLimit(options.limit_bytes / 4);
  EXPECT_EQ(store.GetStats().limit_maxbytes, options.limit_bytes / 4);
  ASSERT_EQ(Set(store, "new", value), StoreStatus::kStored);
  EXPECT_LE(store.GetStats().bytes, options.limit_bytes / 4);
  EXPECT_TRUE(Fetch(store, "new").found);
}

// --- Slab slots ---------------------------------------------------------------

TEST_F(StoreTest, TouchMovesTheItemToALargerSlotKeepingItsData) {
  Store store(Options());
  uint64_t cas = 0;
  ASSERT_EQ(Set(store, "k", std::string(100, 'v'), 0, 7, &cas), StoreStatus::kStored);
  const size_t before = Fetch(store, "k").size;
  ASSERT_TRUE(store.Touch("k", kStartSeconds + 100));
  Copy copy = Fetch(store, "k");
  ASSERT_TRUE(copy.found);
  EXPECT_EQ(copy.value, std::string(100, 'v'));
  EXPECT_EQ(copy.flags, 7u);
  EXPECT_EQ(copy.cas, cas);
  EXPECT_EQ(copy.exptime, kStartSeconds + 100);
  EXPECT_GE(copy.size, before);  // room for its exptime_version
  // A second touch (and a gat) reuse the slot.
  ReadOptions gat;
  gat.touch = true;
  gat.exptime = kStartSeconds + 200;
  copy = Fetch(store, "k", gat);
  ASSERT_TRUE(copy.found);
  EXPECT_EQ(copy.exptime, kStartSeconds + 200);
  EXPECT_EQ(copy.value, std::string(100, 'v'));
  uint64_t scanned_bytes = 0;
  EXPECT_EQ(ScanAll(store, 10, &scanned_bytes).size(), 1u);
  EXPECT_EQ(scanned_bytes, store.GetStats().bytes);
}

TEST_F(StoreTest, ExptimesPast2106AreKeptAs2106) {
  Store store(Options());
  ASSERT_EQ(Set(store, "k", "v", int64_t{1} << 40), StoreStatus::kStored);
  EXPECT_EQ(Fetch(store, "k").exptime, int64_t{std::numeric_limits<uint32_t>::max()});
}

// Room for one 1 MiB page and a bit: once its slots are used, a write evicts
// in its class (no second page), while another class still gets its first
// page (memcached do_slabs_newslab).
TEST_F(StoreTest, AFullClassEvictsInItselfWhenNoPageCanBeAdded) {
  StoreOptions options = Options();
  options.shard_bits = 2;
  options.limit_bytes = (1 << 20) + (64 << 10);
  Store store(options);
  const std::string value(100, 'v');
  int stored = 0;
  while (store.GetStats().evictions == 0) {
    ASSERT_EQ(Set(store, Key("key", stored % 10000) + std::to_string(stored / 10000), value),
              StoreStatus::kStored);
    ++stored;
    ASSERT_LT(stored, 100'000);
  }
  StoreStats stats = store.GetStats();
  const uint64_t slots = stats.curr_items;
  const size_t item_size = Fetch(store, Key("key", stored - 1) + "0").size;
  EXPECT_EQ(slots, (size_t{1} << 20) / item_size);  // the page's slots, all used
  EXPECT_LE(stats.bytes, stats.limit_maxbytes);
  for (int i = 0; i < 1000; ++i) {
    ASSERT_EQ(Set(store, "more" + std::to_string(i), value.substr(0, 100 - 3)), StoreStatus::kStored);
  }
  EXPECT_EQ(store.GetStats().curr_items, slots);
  EXPECT_EQ(store.GetStats().evictions, 1000u + 1);
  // A value of another size class: its class's first page, no eviction.
  ASSERT_EQ(Set(store, "big", std::string(5000, 'b')), StoreStatus::kStored);
  EXPECT_EQ(store.GetStats().evictions, 1000u + 1);
  EXPECT_EQ(Value(store, "big"), std::string(5000, 'b'));
  uint64_t scanned_bytes = 0;
  EXPECT_EQ(ScanAll(store, 100, &scanned_bytes).size(), store.GetStats().curr_items);
  EXPECT_EQ(scanned_bytes, store.GetStats().bytes);
}

// The values written change size: the new class takes pages from the old
// one, whose items nobody touched for long (page reassignment), instead of
// living in its first page only.
TEST_F(StoreTest, PagesMoveToTheClassNowWrittenFromOneWithOldItems) {
  StoreOptions options = Options();
  options.shard_bits = 2;
  options.limit_bytes = 8 << 20;
  Store store(options);
  const std::string small(100, 's');
  const std::string large(1000, 'L');
  int written = 0;
  while (store.GetStats().evictions == 0) {
    ASSERT_EQ(Set(store, "small" + std::to_string(written), small), StoreStatus::kStored);
    ASSERT_LT(++written, 1'000'000);
  }
  const uint64_t small_items = store.GetStats().curr_items;
  clock_.Advance(3'600'000);  // an hour later only large values are written
  const size_t large_per_page = (size_t{1} << 20) / 1040;
  for (int second = 0; second < 8; ++second) {
    for (size_t i = 0; i < large_per_page; ++i) {
      ASSERT_EQ(Set(store, "large" + std::to_string(second) + "_" + std::to_string(i), large),
                StoreStatus::kStored);
    }
    clock_.Advance(1000);
  }
  size_t small_left = 0;
  size_t large_held = 0;
  uint64_t scanned_bytes = 0;
  for (const auto& [key, count] : ScanAll(store, 100, &scanned_bytes)) {
    (key.rfind("small", 0) == 0 ? small_left : large_held) += count;
  }
  EXPECT_GT(large_held, 4 * large_per_page);  // pages came from the small class
  EXPECT_LT(small_left, small_items);
  const StoreStats stats = store.GetStats();
  EXPECT_EQ(small_left + large_held, stats.curr_items);
  EXPECT_EQ(scanned_bytes, stats.bytes);
  EXPECT_LE(stats.bytes, stats.limit_maxbytes);
}

// Items above half a page get pages of their own, released with them.
TEST_F(StoreTest, LargeItemsHavePagesOfTheirOwn) {
  StoreOptions options = Options();
  options.item_size_max = 4 << 20;
  options.limit_bytes = 16 << 20;
  Store store(options);
  const std::string large(3 << 20, 'L');
  for (int i = 0; i < 12; ++i) {
    ASSERT_EQ(Set(store, "large" + std::to_string(i), large), StoreStatus::kStored) << i;
  }
  StoreStats stats = store.GetStats();
  EXPECT_GT(stats.evictions, 0u);
  EXPECT_LE(stats.bytes, stats.limit_maxbytes);
  EXPECT_EQ(Value(store, "large11"), large);
  for (int i = 0; i < 12; ++i) store.Delete("large" + std::to_string(i));
  EXPECT_EQ(store.GetStats().bytes, 0u);
  EXPECT_EQ(store.GetStats().curr_items, 0u);
}

// A peer's node id is new at each of its restarts: past the origin table's
// 254 entries, items keep their origin inline, and versions still compare.
TEST_F(StoreTest, ManyOriginsAreAllKept) {
  Store store(Options());
  constexpr int kOrigins = 300;
  const uint64_t hlc = static_cast<uint64_t>(kStartMillis) << 16;
  for (int i = 0; i < kOrigins; ++i) {
    Record record;
    record.kind = RecordKind::kSet;
    record.hlc = hlc + static_cast<uint64_t>(i);
    record.origin = 1000 + static_cast<uint64_t>(i);
    const std::string key = "k" + std::to_string(i);
    record.key = key;
    record.value = "v";
    record.exptime_version = i % 2 == 0 ? record.hlc : record.hlc + 5;
    ASSERT_EQ(store.Apply(record), ApplyStatus::kApplied) << i;
  }
  int checked = 0;
  ScanCursor cursor;
  while (!cursor.done()) {
    store.Scan(&cursor, 100, [&](const ItemView& view) {
      const int i = std::stoi(std::string(view.key.substr(1)));
      EXPECT_EQ(view.origin, 1000u + static_cast<uint64_t>(i)) << i;
      EXPECT_EQ(view.cas, hlc + static_cast<uint64_t>(i)) << i;
      EXPECT_EQ(view.exptime_version, view.cas + (i % 2 == 0 ? 0 : 5)) << i;
      EXPECT_EQ(view.value, "v");
      ++checked;
    });
  }
  EXPECT_EQ(checked, kOrigins);
  // The same version from a smaller origin loses; a greater origin wins.
  Record record;
  record.kind = RecordKind::kSet;
  record.hlc = hlc + 299;
  record.origin = 1000 + 298;
  record.key = "k299";
  record.value = "w";
  record.exptime_version = record.hlc;
  EXPECT_EQ(store.Apply(record), ApplyStatus::kStale);
  record.origin = 5000;
  EXPECT_EQ(store.Apply(record), ApplyStatus::kApplied);
  EXPECT_EQ(Value(store, "k299"), "w");
}

// Writers of several size classes in four shards under a page limit: the
// CLOCK hands evict across shards without deadlock, and the counts agree.
TEST_F(StoreTest, ConcurrentWritersUnderThePageLimitStayConsistent) {
  StoreOptions options = Options();
  options.shard_bits = 2;
  options.limit_bytes = 2 << 20;
  Store store(options);
  constexpr int kThreads = 4;
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&store, t] {
      std::mt19937 random(static_cast<uint32_t>(t) + 100);
      for (int i = 0; i < 30'000; ++i) {
        const std::string key = "key" + std::to_string(random() % 20'000);
        const size_t length = 50 + 100 * (random() % 4);
        switch (random() % 8) {
          case 0:
            store.Delete(key);
            break;
          case 1:
            store.Touch(key, kStartSeconds + 100);
            break;
          case 2:
            Fetch(store, key);
            break;
          default:
            Set(store, key, std::string(length, 'x'));
        }
      }
    });
  }
  for (std::thread& thread : threads) thread.join();
  const StoreStats stats = store.GetStats();
  EXPECT_LE(stats.bytes, stats.limit_maxbytes);
  EXPECT_GT(stats.evictions, 0u);
  uint64_t scanned_bytes = 0;
  const auto seen = ScanAll(store, 64, &scanned_bytes);
  EXPECT_EQ(seen.size(), stats.curr_items);
  EXPECT_EQ(scanned_bytes, stats.bytes);
}

// --- incr / decr -------------------------------------------------------------

TEST_F(StoreTest, IncrDecrBasics) {
  Store store(Options());
  uint64_t result = 0;
  EXPECT_EQ(Arith(store, "n", true, 1, &result), ArithStatus::kNotFound);
  ASSERT_EQ(Set(store, "n", "10", kStartSeconds + 100, 3), StoreStatus::kStored);
  EXPECT_EQ(Arith(store, "n", true, 5, &result), ArithStatus::kOk);
  EXPECT_EQ(result, 15u);
  EXPECT_EQ(Arith(store, "n", false, 6, &result), ArithStatus::kOk);
  EXPECT_EQ(result, 9u);
  Copy copy = Fetch(store, "n");
  EXPECT_EQ(copy.value, "9");  // no padding
  EXPECT_EQ(copy.flags, 3u);
  EXPECT_EQ(copy.exptime, kStartSeconds + 100);
}

TEST_F(StoreTest, IncrWrapsAndDecrFloorsAtZero) {
  Store store(Options());
  uint64_t result = 0;
  ASSERT_EQ(Set(store, "max", "18446744073709551615"), StoreStatus::kStored);
  EXPECT_EQ(Arith(store, "max", true, 1, &result), ArithStatus::kOk);
  EXPECT_EQ(result, 0u);
  EXPECT_EQ(Value(store, "max"), "0");
  ASSERT_EQ(Set(store, "near", "18446744073709551614"), StoreStatus::kStored);
  EXPECT_EQ(Arith(store, "near", true, 3, &result), ArithStatus::kOk);
  EXPECT_EQ(result, 1u);
  ASSERT_EQ(Set(store, "small", "5"), StoreStatus::kStored);
  EXPECT_EQ(Arith(store, "small", false, 6, &result), ArithStatus::kOk);
  EXPECT_EQ(result, 0u);
  EXPECT_EQ(Arith(store, "small", false, 1, &result), ArithStatus::kOk);
  EXPECT_EQ(result, 0u);
  EXPECT_EQ(Arith(store, "small", true, std::numeric_limits<uint64_t>::max(), &result), ArithStatus::kOk);
  EXPECT_EQ(result, std::numeric_limits<uint64_t>::max());
}

TEST_F(StoreTest, IncrRejectsNonNumericValues) {
  Store store(Options());
  uint64_t result = 0;
  const std::vector<std::pair<std::string, bool>> cases = {
      {"12", true},
      {"007", true},
      {"12  ", true},  // trailing spaces (memcached pads decremented values)
      {"18446744073709551615", true},
      {"00000000000000000001", true},  // 20 digits
      {"", false},
      {" 12", false},  // leading space
      {"12a", false},
      {"1 2", false},
      {"-1", false},
      {"abc", false},
      {"   ", false},
      {"18446744073709551616", false},   // 2^64
      {"000000000000000000001", false},  // 21 digits
      {"12\r\n", false},
  };
  for (const auto& [value, numeric] : cases) {
    ASSERT_EQ(Set(store, "n", value), StoreStatus::kStored);
    EXPECT_EQ(Arith(store, "n", true, 1, &result), numeric ? ArithStatus::kOk : ArithStatus::kNonNumeric)
        << "value '" << value << "'";
  }
}

TEST_F(StoreTest, ArithmeticOptions) {
  Store store(Options());
  uint64_t result = 0;
  uint64_t cas = 0;
  ArithOptions options;
  options.autovivify = true;
  options.initial = 40;
  options.vivify_exptime = kStartSeconds + 10;
  options.delta = 2;
  EXPECT_EQ(store.Arithmetic("n", options, &result, &cas), ArithStatus::kOk);
  EXPECT_EQ(result, 40u);  // vivified with the initial value, no delta
  EXPECT_EQ(Fetch(store, "n").exptime, kStartSeconds + 10);
  EXPECT_EQ(Fetch(store, "n").cas, cas);
  options.compare_cas = cas + 1;
  EXPECT_EQ(store.Arithmetic("n", options, &result, nullptr), ArithStatus::kExists);
  options.compare_cas = cas;
  options.update_exptime = true;
  options.exptime = kStartSeconds + 500;
  uint64_t new_cas = 0;
  EXPECT_EQ(store.Arithmetic("n", options, &result, &new_cas), ArithStatus::kOk);
  EXPECT_EQ(result, 42u);
  EXPECT_GT(new_cas, cas);
  EXPECT_EQ(Fetch(store, "n").exptime, kStartSeconds + 500);
}

// --- cas uniques ---------------------------------------------------------------

TEST_F(StoreTest, CasUniquesStrictlyIncreaseOnEveryWrite) {
  Store store(Options());
  uint64_t last = 0;
  auto expect_newer = [&](uint64_t cas) {
    EXPECT_GT(cas, last);
    last = cas;
  };
  uint64_t cas = 0;
  for (int i = 0; i < 100; ++i) {
    ASSERT_EQ(Set(store, "k", "1", 0, 0, &cas), StoreStatus::kStored);
    expect_newer(cas);
  }
  ASSERT_EQ(Put(store, StoreMode::kAppend, "k", "2", 0, &cas), StoreStatus::kStored);
  expect_newer(cas);
  ASSERT_EQ(Put(store, StoreMode::kPrepend, "k", "3", 0, &cas), StoreStatus::kStored);
  expect_newer(cas);
  ASSERT_EQ(Put(store, StoreMode::kReplace, "k", "4", 0, &cas), StoreStatus::kStored);
  expect_newer(cas);
  ASSERT_EQ(Put(store, StoreMode::kCas, "k", "5", cas, &cas), StoreStatus::kStored);
  expect_newer(cas);
  uint64_t result = 0;
  ArithOptions incr;
  ASSERT_EQ(store.Arithmetic("k", incr, &result, &cas), ArithStatus::kOk);
  expect_newer(cas);
  EXPECT_TRUE(store.Touch("k", 0));
  EXPECT_EQ(Fetch(store, "k").cas, cas);  // touch keeps it
  // The HLC carries the wall clock in its high bits ...
  EXPECT_EQ(cas >> 16, static_cast<uint64_t>(kStartMillis));
  // ... survives a clock step back ...
  clock_.Advance(-60'000);
  ASSERT_EQ(Set(store, "k", "1", 0, 0, &cas), StoreStatus::kStored);
  expect_newer(cas);
  // ... and moves past observed versions.
  store.ObserveVersion(cas + 1'000'000);
  EXPECT_GT(store.NextVersion(), cas + 1'000'000);
  store.ObserveVersion(1);  // an older version changes nothing
  EXPECT_GT(store.NextVersion(), cas + 1'000'000);
}

// --- flush_all -------------------------------------------------------------

TEST_F(StoreTest, FlushAllNowFreesEverythingStoredBefore) {
  Store store(Options());
  for (int i = 0; i < 50; ++i) ASSERT_EQ(Set(store, "k" + std::to_string(i), "v"), StoreStatus::kStored);
  store.FlushAll(clock_.NowMillis());
  StoreStats stats = store.GetStats();
  EXPECT_EQ(stats.curr_items, 0u);
  EXPECT_EQ(stats.bytes, 0u);
  EXPECT_FALSE(Fetch(store, "k0").found);
  // Written after the flush, in the same millisecond: survives.
  ASSERT_EQ(Set(store, "after", "v"), StoreStatus::kStored);
  EXPECT_TRUE(Fetch(store, "after").found);
  clock_.Advance(10);
  EXPECT_TRUE(Fetch(store, "after").found);
}

TEST_F(StoreTest, DelayedFlushInvalidatesItemsWrittenBeforeItsTime) {
  Store store(Options());
  ASSERT_EQ(Set(store, "before", "v"), StoreStatus::kStored);
  store.FlushAll(kStartMillis + 2000);
  EXPECT_TRUE(Fetch(store, "before").found);
  clock_.Advance(1000);
  ASSERT_EQ(Set(store, "between", "v"), StoreStatus::kStored);
  EXPECT_TRUE(Fetch(store, "between").found);
  clock_.Advance(1000);  // the flush time
  EXPECT_FALSE(Fetch(store, "before").found);
  EXPECT_FALSE(Fetch(store, "between").found);
  EXPECT_EQ(store.GetStats().get_flushed, 2u);
  clock_.Advance(1);
  ASSERT_EQ(Set(store, "after", "v"), StoreStatus::kStored);
  EXPECT_TRUE(Fetch(store, "after").found);
  clock_.Advance(100'000);
  EXPECT_TRUE(Fetch(store, "after").found);
}

TEST_F(StoreTest, LaterFlushReplacesPendingDelayedFlush) {
  Store store(Options());
  ASSERT_EQ(Set(store, "k", "v"), StoreStatus::kStored);
  store.FlushAll(kStartMillis + 1000);
  store.FlushAll(kStartMillis + 5000);
  clock_.Advance(2000);
  EXPECT_TRUE(Fetch(store, "k").found);
  clock_.Advance(3000);
  EXPECT_FALSE(Fetch(store, "k").found);
}

TEST_F(StoreTest, FlushedItemsAreReclaimedBeforeBeingRead) {
  Store store(Options());
  for (int i = 0; i < 10; ++i) ASSERT_EQ(Set(store, "k" + std::to_string(i), "v"), StoreStatus::kStored);
  store.FlushAll(kStartMillis + 1000);
  clock_.Advance(1000);
  EXPECT_EQ(store.ReclaimExpired(1000), 10u);
  EXPECT_EQ(store.GetStats().bytes, 0u);
}

// --- Scan -------------------------------------------------------------------

TEST_F(StoreTest, ScanVisitsEveryItemExactlyOnceWithoutWrites) {
  StoreOptions options = Options();
  options.shard_bits = 3;
  Store store(options);
  for (int i = 0; i < 1000; ++i) ASSERT_EQ(Set(store, "k" + std::to_string(i), "v"), StoreStatus::kStored);
  for (size_t batch : {1u, 7u, 100u, 5000u}) {
    const auto seen = ScanAll(store, batch);
    EXPECT_EQ(seen.size(), 1000u) << "batch " << batch;
    for (const auto& [key, count] : seen) EXPECT_EQ(count, 1) << key;
  }
  ScanCursor cursor;
  Store empty(options);
  while (!cursor.done()) EXPECT_EQ(empty.Scan(&cursor, 10, [](const ItemView&) {}), 0u);
}

TEST_F(StoreTest, ScanVisitsItemsPresentThroughoutWhenTheTableGrows) {
  StoreOptions options = Options();
  options.shard_bits = 0;
  Store store(options);
  std::set<std::string> original;
  for (int i = 0; i < 20; ++i) {
    original.insert("orig" + std::to_string(i));
    ASSERT_EQ(Set(store, "orig" + std::to_string(i), "v"), StoreStatus::kStored);
  }
  std::map<std::string, int> seen;
  ScanCursor cursor;
  int round = 0;
  while (!cursor.done()) {
    store.Scan(&cursor, 3, [&](const ItemView& view) { ++seen[std::string(view.key)]; });
    // Grow the table several times between the first calls.
    for (int i = 0; round < 4 && i < 200; ++i) {
      ASSERT_EQ(Set(store, "new" + std::to_string(round) + "_" + std::to_string(i), "v"),
                StoreStatus::kStored);
    }
    ++round;
  }
  for (const std::string& key : original) EXPECT_GE(seen[key], 1) << key;
  EXPECT_GT(round, 4);
}

TEST_F(StoreTest, ScanSkipsExpiredItems) {
  Store store(Options());
  ASSERT_EQ(Set(store, "live", "v"), StoreStatus::kStored);
  ASSERT_EQ(Set(store, "dead", "v", kStartSeconds + 1), StoreStatus::kStored);
  clock_.Advance(1000);
  const auto seen = ScanAll(store, 10);
  EXPECT_EQ(seen.size(), 1u);
  EXPECT_EQ(seen.count("live"), 1u);
}

// --- ReclaimExpired ------------------------------------------------------------

TEST_F(StoreTest, ReclaimExpiredFreesIncrementally) {
  StoreOptions options = Options();
  options.shard_bits = 2;
  Store store(options);
  for (int i = 0; i < 100; ++i)
    ASSERT_EQ(Set(store, "e" + std::to_string(i), "v", kStartSeconds + 1), StoreStatus::kStored);
  for (int i = 0; i < 50; ++i) ASSERT_EQ(Set(store, "l" + std::to_string(i), "v"), StoreStatus::kStored);
  EXPECT_EQ(store.ReclaimExpired(1000), 0u);
  clock_.Advance(1000);
  size_t freed = 0;
  int calls = 0;
  while (freed < 100) {
    const size_t now_freed = store.ReclaimExpired(10);
    freed += now_freed;
    ASSERT_LT(++calls, 100);
  }
  EXPECT_GT(calls, 5);  // at most about 10 items examined per call
  EXPECT_EQ(freed, 100u);
  StoreStats stats = store.GetStats();
  EXPECT_EQ(stats.curr_items, 50u);
  EXPECT_EQ(stats.reclaimed, 100u);
  EXPECT_EQ(stats.expired_unfetched, 100u);
  uint64_t scanned_bytes = 0;
  EXPECT_EQ(ScanAll(store, 100, &scanned_bytes).size(), 50u);
  EXPECT_EQ(scanned_bytes, stats.bytes);
  EXPECT_EQ(store.ReclaimExpired(1000), 0u);
}

// --- Stats -----------------------------------------------------------------

TEST_F(StoreTest, ResetStatsKeepsGauges) {
  Store store(SmallStore(&clock_, 10));
  for (int i = 0; i < 30; ++i)
    ASSERT_EQ(Set(store, "k" + std::to_string(i), std::string(100, 'v')), StoreStatus::kStored);
  StoreStats before = store.GetStats();
  EXPECT_GT(before.evictions, 0u);
  EXPECT_EQ(before.total_items, 30u);
  store.ResetStats();
  StoreStats after = store.GetStats();
  EXPECT_EQ(after.evictions, 0u);
  EXPECT_EQ(after.evicted_unfetched, 0u);
  EXPECT_EQ(after.total_items, 0u);
  EXPECT_EQ(after.curr_items, before.curr_items);
  EXPECT_EQ(after.bytes, before.bytes);
  EXPECT_EQ(after.limit_maxbytes, before.limit_maxbytes);
}

// --- Concurrency --------------------------------------------------------------

TEST_F(StoreTest, ConcurrentMixedOperationsStayConsistent) {
  StoreOptions options = Options();
  options.shard_bits = 2;
  options.limit_bytes = 128 * 1024;  // about half of what the keys would use: evictions happen
  Store store(options);
  constexpr int kThreads = 4;
  constexpr int kOpsPerThread = 20'000;
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&store, this, t] {
      std::mt19937 random(static_cast<uint32_t>(t));
      uint64_t result = 0;
      for (int i = 0; i < kOpsPerThread; ++i) {
        const std::string key = "key" + std::to_string(random() % 1000);
        const int64_t exptime = random() % 8 == 0 ? kStartSeconds + 1 : 0;
        if (t == 0 && i % 1000 == 0) {
          clock_.Advance(100);
          store.ReclaimExpired(50);
        }
        switch (random() % 10) {
          case 0:
          case 1:
          case 2:
            Set(store, key, std::string(random() % 400, 'x'), exptime);
            break;
          case 3:
            Put(store, StoreMode::kAppend, key, "12");
            break;
          case 4:
            Set(store, key, std::to_string(random()), exptime);
            Arith(store, key, random() % 2 == 0, random() % 100, &result);
            break;
          case 5:
            store.Delete(key);
            break;
          case 6:
            store.Touch(key, exptime);
            break;
          case 7:
            Put(store, StoreMode::kAdd, key, "a");
            break;
          default:
            Fetch(store, key);
        }
      }
    });
  }
  for (std::thread& thread : threads) thread.join();
  StoreStats stats = store.GetStats();
  EXPECT_LE(stats.bytes, options.limit_bytes);
  EXPECT_GT(stats.evictions, 0u);
  // Free the expired items Scan would skip but curr_items counts. The first
  // call may start mid-shard; the second is then a full pass.
  store.ReclaimExpired(std::numeric_limits<size_t>::max());
  store.ReclaimExpired(std::numeric_limits<size_t>::max());
  stats = store.GetStats();
  uint64_t scanned_bytes = 0;
  const auto seen = ScanAll(store, 64, &scanned_bytes);
  EXPECT_EQ(seen.size(), stats.curr_items);
  EXPECT_EQ(scanned_bytes, stats.bytes);
  for (const auto& [key, count] : seen) EXPECT_EQ(count, 1) << key;
  ExpectSlabStatsConsistent(store);
}

// --- Per-class figures (GetSlabStats) ---------------------------------------

TEST_F(StoreTest, SlabStatsAreEmptyForAnEmptyStore) {
  Store store(Options());
  const SlabStats stats = store.GetSlabStats();
  EXPECT_TRUE(stats.classes.empty());
  EXPECT_EQ(stats.total_malloced, 0u);
}

TEST_F(StoreTest, SlabStatsReportEachClassHoldingItems) {
  Store store(Options());
  for (int i = 0; i < 10; ++i) ASSERT_EQ(Set(store, Key("small", i), "0123456789"), StoreStatus::kStored);
  for (int i = 0; i < 3; ++i)
    ASSERT_EQ(Set(store, Key("big", i), std::string(50000, 'b')), StoreStatus::kStored);
  const size_t small_size = Fetch(store, Key("small", 0)).size;
  const size_t big_size = Fetch(store, Key("big", 0)).size;
  SlabStats stats = store.GetSlabStats();
  ASSERT_EQ(stats.classes.size(), 2u);
  const SlabClassStats& small = stats.classes[0];
  const SlabClassStats& big = stats.classes[1];
  EXPECT_GE(small.id, 1);
  EXPECT_LT(small.id, big.id);
  EXPECT_EQ(small.chunk_size, small_size);
  EXPECT_EQ(big.chunk_size, big_size);
  EXPECT_EQ(small.chunks_per_page, (size_t{1} << 20) / small_size);
  EXPECT_EQ(big.chunks_per_page, (size_t{1} << 20) / big_size);
  for (const SlabClassStats* cls : {&small, &big}) {
    EXPECT_EQ(cls->total_pages, 1u);
    EXPECT_EQ(cls->total_chunks, cls->chunks_per_page);
    EXPECT_EQ(cls->used_chunks, cls->number);
    EXPECT_EQ(cls->free_chunks, cls->total_chunks - cls->number);
    EXPECT_EQ(cls->free_chunks_end, cls->free_chunks);  // nothing freed yet: the rest is not carved
    EXPECT_EQ(cls->evicted + cls->reclaimed + cls->outofmemory, 0u);
  }
  EXPECT_EQ(small.number, 10u);
  EXPECT_EQ(big.number, 3u);
  EXPECT_EQ(stats.total_malloced, uint64_t{2} << 20);

  // A delete frees a slot on the free list; an overwrite of the same size
  // stays in its class; one of another size moves the item.
  ASSERT_EQ(store.Delete(Key("small", 0)), DeleteStatus::kDeleted);
  ASSERT_EQ(Set(store, Key("small", 1), "9876543210"), StoreStatus::kStored);
  ASSERT_EQ(Set(store, Key("small", 2), std::string(50000, 's')), StoreStatus::kStored);
  stats = store.GetSlabStats();
  ASSERT_EQ(stats.classes.size(), 2u);
  EXPECT_EQ(stats.classes[0].number, 8u);
  EXPECT_EQ(stats.classes[0].used_chunks, 8u);
  // The overwrite took the slot the delete freed: still 10 carved.
  EXPECT_EQ(stats.classes[0].free_chunks_end, stats.classes[0].total_chunks - 10);
  EXPECT_EQ(stats.classes[1].number, 4u);
  ExpectSlabStatsConsistent(store);

  // A class keeps its page, and is listed, when its last item goes.
  for (int i = 1; i < 10; ++i) store.Delete(Key("small", i));
  stats = store.GetSlabStats();
  ASSERT_EQ(stats.classes.size(), 2u);
  EXPECT_EQ(stats.classes[0].number, 0u);
  EXPECT_EQ(stats.classes[0].total_pages, 1u);
  EXPECT_EQ(stats.classes[0].used_chunks, 0u);
}

TEST_F(StoreTest, SlabStatsCountEvictionsAndReclaimsInTheirClass) {
  Store store(SmallStore(&clock_, 20));
  const std::string value(100, 'v');
  ASSERT_EQ(Set(store, "expiring", std::string(1000, 'e'), kStartSeconds + 1), StoreStatus::kStored);
  int stored = 0;
  while (store.GetStats().evictions == 0) {
    ASSERT_EQ(Set(store, Key("key", stored), value), StoreStatus::kStored);
    ++stored;
    ASSERT_LT(stored, 1000);
  }
  SlabStats stats = store.GetSlabStats();
  ASSERT_EQ(stats.classes.size(), 2u);
  const SlabClassStats& evicting = stats.classes[0];  // the 100-byte values' class, smaller
  EXPECT_EQ(evicting.evicted, store.GetStats().evictions);
  EXPECT_EQ(evicting.evicted_unfetched, evicting.evicted);
  EXPECT_EQ(stats.classes[1].evicted, 0u);
  EXPECT_EQ(stats.classes[1].number, 1u);
  ExpectSlabStatsConsistent(store);

  clock_.Advance(2000);
  EXPECT_EQ(store.ReclaimExpired(std::numeric_limits<size_t>::max()), 1u);
  stats = store.GetSlabStats();
  ASSERT_EQ(stats.classes.size(), 2u);  // the class keeps its page
  EXPECT_EQ(stats.classes[1].number, 0u);
  EXPECT_EQ(stats.classes[1].reclaimed, 1u);
  EXPECT_EQ(stats.classes[1].expired_unfetched, 1u);
  EXPECT_EQ(stats.classes[0].reclaimed, 0u);
  ExpectSlabStatsConsistent(store);

  // stats reset zeroes the counters, not the items.
  const uint64_t number = stats.classes[0].number;
  store.ResetStats();
  stats = store.GetSlabStats();
  for (const SlabClassStats& cls : stats.classes) {
    EXPECT_EQ(cls.evicted + cls.evicted_unfetched + cls.reclaimed + cls.expired_unfetched + cls.outofmemory,
              0u);
  }
  EXPECT_EQ(stats.classes[0].number, number);
}

TEST_F(StoreTest, SlabStatsCountOutOfMemoryInTheRefusedClass) {
  StoreOptions options = SmallStore(&clock_, 20);
  options.evict_to_free = false;
  Store store(options);
  const std::string value(100, 'v');
  int stored = 0;
  while (Set(store, Key("key", stored), value) == StoreStatus::kStored) {
    ++stored;
    ASSERT_LT(stored, 1000);
  }
  EXPECT_EQ(Set(store, Key("yek", 0), value), StoreStatus::kOutOfMemory);  // same size, same class
  const SlabStats stats = store.GetSlabStats();
  ASSERT_EQ(stats.classes.size(), 1u);
  EXPECT_EQ(stats.classes[0].outofmemory, 2u);
  EXPECT_EQ(stats.classes[0].number, static_cast<uint64_t>(stored));
  EXPECT_EQ(stats.classes[0].evicted, 0u);
}

TEST_F(StoreTest, SlabStatsCountTombstonesAsUsedChunksNotItems) {
  StoreOptions options = Options();
  options.keep_tombstones = true;
  Store store(options);
  ASSERT_EQ(Set(store, "k", "value"), StoreStatus::kStored);
  ASSERT_EQ(store.Delete("k"), DeleteStatus::kDeleted);
  // The tombstone (no value) lives in a smaller class than the item did.
  const SlabStats stats = store.GetSlabStats();
  ASSERT_EQ(stats.classes.size(), 2u);
  EXPECT_EQ(stats.classes[0].number, 0u);
  EXPECT_EQ(stats.classes[0].used_chunks, 1u);
  EXPECT_EQ(stats.classes[1].number, 0u);
  EXPECT_EQ(stats.classes[1].used_chunks, 0u);
  EXPECT_EQ(stats.classes[1].total_pages, 1u);
  ExpectSlabStatsConsistent(store);
}

}  // namespace
}  // namespace twincache
