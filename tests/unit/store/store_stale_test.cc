// Unit tests for the Store's stale items and win tokens (core/store/store.h,
// "Stale items and win tokens"; memcached proto_text.c process_mget_command,
// process_mdelete_command, memcached.c do_store_item): Invalidate (md I),
// StoreItem with WriteOptions::invalidate (ms I), Get's win token (mg R, the
// X/W/Z bits) and vivify (mg N), how other writes clear the bits, and the
// records they produce. Time comes from a ManualClock; nothing sleeps.
#include <gtest/gtest.h>

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "core/store/store.h"

namespace twincache {
namespace {

constexpr int64_t kStartMillis = 1'700'000'000'000;  // 2023-11-14, unix ms
constexpr int64_t kStartSeconds = kStartMillis / 1000;

// What a read saw, copied out of the ItemView.
struct Seen {
  bool found = false;
  std::string value;
  uint32_t flags = 0;
  int64_t exptime = 0;
  uint64_t cas = 0;
  bool stale = false;
  bool win_token_sent = false;
  bool won = false;
  bool vivified = false;
  int64_t previous_exptime = 0;
};

// Records kept by kind and bits.
struct Kept {
  RecordKind kind;
  std::string key;
  std::string value;
  uint64_t hlc;
  bool stale;
  bool win_token_sent;
};

class Keeper final : public RecordObserver {
 public:
  void OnRecord(const Record& r) override {
    records.push_back({r.kind, std::string(r.key), std::string(r.value), r.hlc, r.stale, r.win_token_sent});
  }
  std::vector<Kept> records;
};

class StoreStaleTest : public ::testing::Test {
 protected:
  StoreStaleTest() : clock_(kStartMillis), store_(Options()) { store_.SetObserver(&keeper_); }

  StoreOptions Options() {
    StoreOptions options;
    options.clock = &clock_;
    return options;
  }

  uint64_t Set(std::string_view key, std::string_view value, int64_t exptime = 0, uint32_t flags = 0) {
    uint64_t cas = 0;
    EXPECT_EQ(store_.StoreItem(StoreMode::kSet, key, value, flags, exptime, WriteOptions(), &cas),
              StoreStatus::kStored);
    return cas;
  }

  // An mg: win_token on, optional R threshold (absolute seconds), no LRU bump.
  Seen Mg(std::string_view key, int64_t recache_before = 0) {
    ReadOptions options;
    options.bump_lru = false;
    options.win_token = true;
    options.recache_before = recache_before;
    return Read(key, options);
  }

  Seen Read(std::string_view key, const ReadOptions& options) {
    Seen seen;
    seen.found = store_.Get(key, options, [&seen](const ItemView& view) {
      seen.value = std::string(view.value);
      seen.flags = view.flags;
      seen.exptime = view.exptime;
      seen.cas = view.cas;
      seen.stale = view.stale;
      seen.win_token_sent = view.win_token_sent;
      seen.won = view.won;
      seen.vivified = view.vivified;
      seen.previous_exptime = view.previous_exptime;
    });
    return seen;
  }

  // A plain get (no win token): sees the bits, claims nothing.
  Seen Get(std::string_view key) { return Read(key, ReadOptions()); }

  ManualClock clock_;
  Keeper keeper_;
  Store store_;
};

TEST_F(StoreStaleTest, InvalidateMarksStaleBumpsCasAndKeepsTheItem) {
  const uint64_t cas = Set("k", "value", kStartSeconds + 100, 7);
  clock_.Advance(5);
  EXPECT_EQ(store_.Invalidate("k", InvalidateOptions()), DeleteStatus::kDeleted);
  const Seen seen = Get("k");
  ASSERT_TRUE(seen.found);
  EXPECT_EQ(seen.value, "value");
  EXPECT_EQ(seen.flags, 7u);
  EXPECT_EQ(seen.exptime, kStartSeconds + 100);  // no T: the TTL stays
  EXPECT_TRUE(seen.stale);
  EXPECT_GT(seen.cas, cas);
  EXPECT_FALSE(seen.won);  // a plain get claims no token
  EXPECT_FALSE(seen.win_token_sent);
  EXPECT_EQ(store_.GetStats().curr_items, 1u);

  // The stale mark is a kSet record of the new version, with the bit.
  ASSERT_EQ(keeper_.records.size(), 2u);
  EXPECT_EQ(keeper_.records[1].kind, RecordKind::kSet);
  EXPECT_EQ(keeper_.records[1].hlc, seen.cas);
  EXPECT_TRUE(keeper_.records[1].stale);
  EXPECT_FALSE(keeper_.records[1].win_token_sent);
}

TEST_F(StoreStaleTest, FirstMgOfAStaleItemWinsLaterOnesSeeTheTokenOut) {
  Set("k", "v");
  EXPECT_FALSE(Mg("k").won);  // not stale, no R: nothing to win
  ASSERT_EQ(store_.Invalidate("k", InvalidateOptions()), DeleteStatus::kDeleted);
  const size_t records = keeper_.records.size();
  Seen first = Mg("k");
  EXPECT_TRUE(first.stale);
  EXPECT_TRUE(first.won);
  EXPECT_FALSE(first.win_token_sent);
  for (int i = 0; i < 3; ++i) {
    Seen later = Mg("k");
    EXPECT_TRUE(later.stale);
    EXPECT_FALSE(later.won);
    EXPECT_TRUE(later.win_token_sent);
  }
  EXPECT_EQ(keeper_.records.size(), records);  // handing out a token is not replicated

  // A second md I clears the token: the next mg wins again.
  ASSERT_EQ(store_.Invalidate("k", InvalidateOptions()), DeleteStatus::kDeleted);
  EXPECT_TRUE(Mg("k").won);
}

TEST_F(StoreStaleTest, InvalidateComparesCasSetsTtlAndTakesAnExplicitCas) {
  EXPECT_EQ(store_.Invalidate("missing", InvalidateOptions()), DeleteStatus::kNotFound);
  const uint64_t cas = Set("k", "v", kStartSeconds + 100);
  InvalidateOptions options;
  options.compare_cas = cas + 1;
  EXPECT_EQ(store_.Invalidate("k", options), DeleteStatus::kExists);
  EXPECT_FALSE(Get("k").stale);

  options.compare_cas = cas;
  options.update_exptime = true;
  options.exptime = kStartSeconds + 10;
  options.new_cas = cas + 1000;
  EXPECT_EQ(store_.Invalidate("k", options), DeleteStatus::kDeleted);
  const Seen seen = Get("k");
  EXPECT_TRUE(seen.stale);
  EXPECT_EQ(seen.exptime, kStartSeconds + 10);
  EXPECT_EQ(seen.cas, cas + 1000);

  // The new TTL counts: past it the stale item is gone like any other.
  clock_.Advance(10'000);
  EXPECT_FALSE(Get("k").found);
  EXPECT_EQ(store_.Invalidate("k", InvalidateOptions()), DeleteStatus::kNotFound);
}

TEST_F(StoreStaleTest, RecacheTokenGoesToTheFirstReadBelowTheThreshold) {
  Set("k", "v", kStartSeconds + 10);
  EXPECT_FALSE(Mg("k", kStartSeconds + 10).won);  // TTL not below the token
  EXPECT_FALSE(Mg("k", kStartSeconds + 5).won);
  const Seen first = Mg("k", kStartSeconds + 30);
  EXPECT_TRUE(first.won);
  EXPECT_FALSE(first.stale);
  const Seen second = Mg("k", kStartSeconds + 30);
  EXPECT_FALSE(second.won);
  EXPECT_TRUE(second.win_token_sent);
  // Without R a read still reports the token out.
  EXPECT_TRUE(Mg("k").win_token_sent);

  // With a touch, R reads the new exptime, or the old one when it came first.
  Set("t", "v", kStartSeconds + 100);
  ReadOptions touch;
  touch.win_token = true;
  touch.touch = true;
  touch.exptime = kStartSeconds + 10;
  touch.recache_before = kStartSeconds + 30;
  touch.recache_before_touch = true;
  Seen seen = Read("t", touch);
  EXPECT_FALSE(seen.won);
  EXPECT_EQ(seen.previous_exptime, kStartSeconds + 100);
  EXPECT_EQ(seen.exptime, kStartSeconds + 10);
  touch.recache_before_touch = false;
  EXPECT_TRUE(Read("t", touch).won);

  // An item that never expires is never below the token.
  Set("forever", "v");
  EXPECT_FALSE(Mg("forever", kStartSeconds + 1'000'000).won);

  // A store makes a fresh item: no token out, not stale.
  Set("k", "w", kStartSeconds + 10);
  const Seen fresh = Mg("k", kStartSeconds + 30);
  EXPECT_TRUE(fresh.won);
  EXPECT_FALSE(fresh.win_token_sent);
}

TEST_F(StoreStaleTest, VivifyCreatesAnEmptyItemWhoseTokenTheCreatorWins) {
  ReadOptions options;
  options.win_token = true;
  options.vivify = true;
  options.vivify_exptime = kStartSeconds + 30;
  const Seen created = Read("k", options);
  ASSERT_TRUE(created.found);
  EXPECT_EQ(created.value, "");
  EXPECT_EQ(created.flags, 0u);
  EXPECT_EQ(created.exptime, kStartSeconds + 30);
  EXPECT_TRUE(created.won);
  EXPECT_TRUE(created.vivified);
  EXPECT_EQ(created.previous_exptime, 0);
  EXPECT_FALSE(created.win_token_sent);
  EXPECT_FALSE(created.stale);
  EXPECT_EQ(store_.GetStats().curr_items, 1u);
  ASSERT_EQ(keeper_.records.size(), 1u);
  EXPECT_EQ(keeper_.records[0].kind, RecordKind::kSet);
  EXPECT_EQ(keeper_.records[0].hlc, created.cas);
  EXPECT_TRUE(keeper_.records[0].win_token_sent);  // the twin's readers must see it out

  // Another vivifying read finds the item: no new item, the token is out.
  const Seen other = Read("k", options);
  ASSERT_TRUE(other.found);
  EXPECT_FALSE(other.vivified);
  EXPECT_FALSE(other.won);
  EXPECT_TRUE(other.win_token_sent);
  EXPECT_EQ(other.cas, created.cas);
  EXPECT_EQ(keeper_.records.size(), 1u);

  // A touch is not applied to a created item; an explicit cas is.
  options.touch = true;
  options.exptime = kStartSeconds + 500;
  options.vivify_cas = 12345;
  const Seen explicit_cas = Read("e", options);
  EXPECT_EQ(explicit_cas.exptime, kStartSeconds + 30);
  EXPECT_EQ(explicit_cas.cas, 12345u);

  // The N TTL holds: past it the key misses and can be vivified again.
  clock_.Advance(30'000);
  options.vivify = false;
  EXPECT_FALSE(Read("k", options).found);
}

TEST_F(StoreStaleTest, VivifyWithoutMemoryOrWithABadKeyIsAMiss) {
  StoreOptions small = Options();
  small.limit_bytes = 1;
  small.evict_to_free = false;
  Store store(small);
  ReadOptions options;
  options.vivify = true;
  EXPECT_FALSE(store.Get("k", options, [](const ItemView&) { ADD_FAILURE(); }));
  EXPECT_EQ(store.GetStats().curr_items, 0u);
  EXPECT_FALSE(
      store_.Get(std::string(kKeyMaxLength + 1, 'k'), options, [](const ItemView&) { ADD_FAILURE(); }));
  EXPECT_EQ(store_.GetStats().curr_items, 0u);
}

TEST_F(StoreStaleTest, CasStoreWithInvalidateKeepsAnOlderCasAsAStaleItem) {
  const uint64_t old_cas = Set("k", "v1", kStartSeconds + 100);
  ASSERT_EQ(store_.Invalidate("k", InvalidateOptions()), DeleteStatus::kDeleted);
  ASSERT_TRUE(Mg("k").won);  // the recacher holds the token
  const uint64_t stale_cas = Get("k").cas;

  WriteOptions options;
  options.invalidate = true;
  options.compare_cas = stale_cas + 1;  // newer than the item: refused
  EXPECT_EQ(store_.StoreItem(StoreMode::kCas, "k", "x", 0, 0, options, nullptr), StoreStatus::kExists);
  options.compare_cas = 0;  // no cas is no match (memcached CAS_NONE)
  EXPECT_EQ(store_.StoreItem(StoreMode::kCas, "k", "x", 0, 0, options, nullptr), StoreStatus::kExists);

  // Older than the item: stored, stale, with the old TTL and the token still out.
  options.compare_cas = old_cas;
  uint64_t cas = 0;
  EXPECT_EQ(store_.StoreItem(StoreMode::kCas, "k", "v2", 3, kStartSeconds + 999, options, &cas),
            StoreStatus::kStored);
  Seen seen = Mg("k");
  EXPECT_EQ(seen.value, "v2");
  EXPECT_EQ(seen.flags, 3u);
  EXPECT_EQ(seen.exptime, kStartSeconds + 100);
  EXPECT_EQ(seen.cas, cas);
  EXPECT_GT(cas, stale_cas);
  EXPECT_TRUE(seen.stale);
  EXPECT_TRUE(seen.win_token_sent);
  EXPECT_FALSE(seen.won);
  EXPECT_TRUE(keeper_.records.back().stale);
  EXPECT_TRUE(keeper_.records.back().win_token_sent);

  // The matching cas stores a fresh item; without invalidate an older cas is kExists.
  options.invalidate = false;
  options.compare_cas = old_cas;
  EXPECT_EQ(store_.StoreItem(StoreMode::kCas, "k", "v3", 0, 0, options, nullptr), StoreStatus::kExists);
  options.compare_cas = cas;
  EXPECT_EQ(store_.StoreItem(StoreMode::kCas, "k", "v3", 0, 0, options, nullptr), StoreStatus::kStored);
  seen = Mg("k");
  EXPECT_FALSE(seen.stale);
  EXPECT_FALSE(seen.win_token_sent);

  // On a miss, cas mode with invalidate is kNotFound.
  options.invalidate = true;
  EXPECT_EQ(store_.StoreItem(StoreMode::kCas, "missing", "v", 0, 0, options, nullptr),
            StoreStatus::kNotFound);
}

TEST_F(StoreStaleTest, WritesMakeFreshItemsTouchKeepsTheBits) {
  const auto mark = [this](std::string_view key) {
    ASSERT_EQ(store_.Invalidate(key, InvalidateOptions()), DeleteStatus::kDeleted);
    ASSERT_TRUE(Mg(key).won);
  };
  Set("k", "v");
  mark("k");
  ASSERT_TRUE(store_.Touch("k", kStartSeconds + 50));
  Seen seen = Mg("k");
  EXPECT_TRUE(seen.stale);
  EXPECT_TRUE(seen.win_token_sent);
  EXPECT_EQ(seen.exptime, kStartSeconds + 50);
  EXPECT_TRUE(keeper_.records.back().kind == RecordKind::kTouch && keeper_.records.back().stale);

  ASSERT_EQ(store_.StoreItem(StoreMode::kAppend, "k", "+", 0, 0, WriteOptions(), nullptr),
            StoreStatus::kStored);
  seen = Mg("k");
  EXPECT_EQ(seen.value, "v+");
  EXPECT_FALSE(seen.stale);
  EXPECT_FALSE(seen.win_token_sent);

  // incr keeps the bits while the number fits the old value (memcached
  // rewrites in place), and makes a fresh item when it grows longer.
  Set("n", "10");
  mark("n");
  ArithOptions incr;
  uint64_t value = 0;
  ASSERT_EQ(store_.Arithmetic("n", incr, &value, nullptr), ArithStatus::kOk);
  seen = Mg("n");
  EXPECT_EQ(seen.value, "11");
  EXPECT_TRUE(seen.stale);
  EXPECT_TRUE(seen.win_token_sent);
  incr.delta = 100;
  ASSERT_EQ(store_.Arithmetic("n", incr, &value, nullptr), ArithStatus::kOk);
  seen = Mg("n");
  EXPECT_EQ(seen.value, "111");
  EXPECT_FALSE(seen.stale);
  EXPECT_FALSE(seen.win_token_sent);

  // delete and re-add: nothing left of the old bits.
  mark("k");
  ASSERT_EQ(store_.Delete("k"), DeleteStatus::kDeleted);
  ASSERT_EQ(store_.StoreItem(StoreMode::kAdd, "k", "new", 0, 0, WriteOptions(), nullptr),
            StoreStatus::kStored);
  seen = Mg("k");
  EXPECT_FALSE(seen.stale);
  EXPECT_FALSE(seen.win_token_sent);
}

TEST_F(StoreStaleTest, ApplyTakesTheRecordsBitsAndAnEqualVersionKeepsItsOwn) {
  Record record;
  record.kind = RecordKind::kSet;
  record.hlc = (static_cast<uint64_t>(kStartMillis) << 16) + 1;
  record.origin = 2;
  record.key = "k";
  record.value = "v";
  record.exptime_version = record.hlc;
  record.stale = true;
  ASSERT_EQ(store_.Apply(record), ApplyStatus::kApplied);
  Seen seen = Mg("k");
  EXPECT_TRUE(seen.stale);
  EXPECT_TRUE(seen.won);

  // A touch of the same version moves the exptime only; the local token stays out.
  record.kind = RecordKind::kTouch;
  record.exptime = kStartSeconds + 40;
  record.exptime_version = record.hlc + 1;
  record.stale = false;
  ASSERT_EQ(store_.Apply(record), ApplyStatus::kApplied);
  seen = Mg("k");
  EXPECT_EQ(seen.exptime, kStartSeconds + 40);
  EXPECT_TRUE(seen.stale);
  EXPECT_TRUE(seen.win_token_sent);

  // A newer version replaces the item with its own bits.
  record.kind = RecordKind::kSet;
  record.hlc += 10;
  record.exptime_version = record.hlc;
  record.win_token_sent = true;
  ASSERT_EQ(store_.Apply(record), ApplyStatus::kApplied);
  seen = Mg("k");
  EXPECT_FALSE(seen.stale);
  EXPECT_TRUE(seen.win_token_sent);
  EXPECT_FALSE(seen.won);
}

}  // namespace
}  // namespace twincache
