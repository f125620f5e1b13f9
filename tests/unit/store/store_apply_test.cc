// Unit tests for the Store's replication side (core/store/store.h, docs/replication.md):
// item versions (cas unique, origin) and exptime_version, tombstones, the
// RecordObserver of local writes, Apply() with its winner rule, and a
// multi-threaded check that the counters stay exact.
//
// Most tests run twin stores (node ids 1 and 2) that share one ManualClock,
// make local writes, then apply each other's records in a shuffled order with
// duplicates, for many seeds, and check that both end with the same items and
// tombstones (a Scan dump) whatever the order. Nothing sleeps.
#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <cstdint>
#include <functional>
#include <limits>
#include <map>
#include <memory>
#include <ostream>
#include <random>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "core/store/store.h"

namespace twincache {
namespace {

constexpr int64_t kStartMillis = 1'700'000'000'000;  // 2023-11-14, unix ms
constexpr int64_t kStartSeconds = kStartMillis / 1000;

// Orders tried per scenario; seed 0 applies records once each, in order.
constexpr uint32_t kSeeds = 40;

// A Record that owns its key and value.
struct OwnedRecord {
  RecordKind kind = RecordKind::kSet;
  uint64_t hlc = 0;
  uint64_t origin = 0;
  std::string key;
  std::string value;
  uint32_t flags = 0;
  int64_t exptime = 0;
  uint64_t exptime_version = 0;
  int64_t at_ms = 0;
  bool stale = false;
  bool win_token_sent = false;

  explicit OwnedRecord(const Record& r)
      : kind(r.kind),
        hlc(r.hlc),
        origin(r.origin),
        key(r.key),
        value(r.value),
        flags(r.flags),
        exptime(r.exptime),
        exptime_version(r.exptime_version),
        at_ms(r.at_ms),
        stale(r.stale),
        win_token_sent(r.win_token_sent) {}

  Record View() const {
    Record r;
    r.kind = kind;
    r.hlc = hlc;
    r.origin = origin;
    r.key = key;
    r.value = value;
    r.flags = flags;
    r.exptime = exptime;
    r.exptime_version = exptime_version;
    r.at_ms = at_ms;
    r.stale = stale;
    r.win_token_sent = win_token_sent;
    return r;
  }
};

// The observer under test: keeps every record it is handed.
class Collector final : public RecordObserver {
 public:
  void OnRecord(const Record& record) override { records.emplace_back(record); }
  std::vector<OwnedRecord> records;
};

// One entry of a Scan dump, items and tombstones alike.
struct Entry {
  bool tombstone = false;
  std::string value;
  uint32_t flags = 0;
  int64_t exptime = 0;
  uint64_t cas = 0;
  uint64_t origin = 0;
  uint64_t exptime_version = 0;
  size_t size = 0;
  bool stale = false;

  // size is the local allocator's; the win token bit may be a local claim.
  bool operator==(const Entry& other) const {
    return tombstone == other.tombstone && value == other.value && flags == other.flags &&
           exptime == other.exptime && cas == other.cas && origin == other.origin &&
           exptime_version == other.exptime_version && stale == other.stale;
  }
  friend std::ostream& operator<<(std::ostream& os, const Entry& e) {
    if (e.tombstone)
      return os << "{tombstone cas=" << e.cas << " origin=" << e.origin << " exptime=" << e.exptime << "}";
    return os << "{'" << e.value << "' flags=" << e.flags << " exptime=" << e.exptime << " cas=" << e.cas
              << " origin=" << e.origin << " exptime_version=" << e.exptime_version
              << (e.stale ? " stale" : "") << "}";
  }
};

using Dump = std::map<std::string, Entry>;

// Every live item and tombstone of `store`.
Dump DumpOf(Store& store) {
  Dump dump;
  ScanCursor cursor;
  while (!cursor.done()) {
    store.Scan(
        &cursor, 100,
        [&dump](const ItemView& view) {
          Entry entry;
          entry.tombstone = view.tombstone;
          entry.value = std::string(view.value);
          entry.flags = view.flags;
          entry.exptime = view.exptime;
          entry.cas = view.cas;
          entry.origin = view.origin;
          entry.exptime_version = view.exptime_version;
          entry.size = view.size;
          entry.stale = view.stale;
          EXPECT_TRUE(dump.emplace(std::string(view.key), entry).second) << view.key;
        },
        /*include_tombstones=*/true);
  }
  return dump;
}

StoreStatus Set(Store& store, std::string_view key, std::string_view value, int64_t exptime = 0,
                uint64_t* cas = nullptr) {
  return store.StoreItem(StoreMode::kSet, key, value, 0, exptime, WriteOptions(), cas);
}

StoreStatus Put(Store& store, StoreMode mode, std::string_view key, std::string_view value,
                uint64_t compare_cas = 0, uint64_t* cas = nullptr) {
  WriteOptions options;
  options.compare_cas = compare_cas;
  return store.StoreItem(mode, key, value, 0, 0, options, cas);
}

ArithStatus Incr(Store& store, std::string_view key, uint64_t delta) {
  ArithOptions options;
  options.delta = delta;
  uint64_t value = 0;
  return store.Arithmetic(key, options, &value, nullptr);
}

// The live item under `key` as a client sees it (no LRU bump), or nothing.
bool Read(Store& store, std::string_view key, Entry* entry = nullptr) {
  ReadOptions options;
  options.bump_lru = false;
  return store.Get(key, options, [entry](const ItemView& view) {
    if (entry == nullptr) return;
    entry->value = std::string(view.value);
    entry->exptime = view.exptime;
    entry->cas = view.cas;
    entry->origin = view.origin;
    entry->exptime_version = view.exptime_version;
    entry->stale = view.stale;
  });
}

std::string Value(Store& store, std::string_view key) {
  Entry entry;
  return Read(store, key, &entry) ? entry.value : "<missing>";
}

// A store, its observer, and the records not yet shipped to the twin.
struct Node {
  Node(const StoreOptions& options, uint64_t node_id) : store(WithNodeId(options, node_id)) {
    store.SetObserver(&collector);
  }
  static StoreOptions WithNodeId(StoreOptions options, uint64_t node_id) {
    options.node_id = node_id;
    return options;
  }
  Collector collector;
  Store store;
};

// Two nodes on one clock and the order in which records cross between them.
struct Twins {
  Twins(uint32_t seed, StoreOptions options) : clock(kStartMillis), rng(seed), shuffle(seed != 0) {
    options.clock = &clock;
    a = std::make_unique<Node>(options, 1);
    b = std::make_unique<Node>(options, 2);
  }

  // Applies each node's pending records to the other: seed 0 in order, once;
  // other seeds in a shuffled interleaving where about a third come twice.
  void Exchange() {
    std::vector<std::pair<const OwnedRecord*, Store*>> order;
    const auto queue = [&](const Node& from, Store* to) {
      for (const OwnedRecord& record : from.collector.records) {
        order.emplace_back(&record, to);
        if (shuffle && rng() % 3 == 0) order.emplace_back(&record, to);
      }
    };
    queue(*a, &b->store);
    queue(*b, &a->store);
    if (shuffle) std::shuffle(order.begin(), order.end(), rng);
    for (const auto& [record, to] : order) {
      const ApplyStatus status = to->Apply(record->View());
      EXPECT_TRUE(status == ApplyStatus::kApplied || status == ApplyStatus::kStale)
          << "status " << static_cast<int>(status) << " for key " << record->key;
    }
    a->collector.records.clear();
    b->collector.records.clear();
  }

  ManualClock clock;
  std::mt19937 rng;
  bool shuffle;
  std::unique_ptr<Node> a;  // node id 1
  std::unique_ptr<Node> b;  // node id 2
};

StoreOptions TwinOptions() {
  StoreOptions options;
  options.keep_tombstones = true;
  options.shard_bits = 2;
  return options;
}

// Runs `scenario` on fresh twins for every seed, ends with an exchange, and
// expects both nodes to hold the same dump, the same for every seed. Returns it.
Dump ExpectConverges(const std::function<void(Twins&)>& scenario,
                     const StoreOptions& options = TwinOptions()) {
  Dump reference;
  for (uint32_t seed = 0; seed < kSeeds; ++seed) {
    Twins twins(seed, options);
    scenario(twins);
    twins.Exchange();
    const Dump a = DumpOf(twins.a->store);
    EXPECT_EQ(a, DumpOf(twins.b->store)) << "seed " << seed;
    if (seed == 0) {
      reference = a;
    } else {
      EXPECT_EQ(a, reference) << "seed " << seed;
    }
  }
  return reference;
}

// --- convergence under the winner rule ---------------------------------------

TEST(StoreApplyTest, ConcurrentSetsKeepTheGreaterVersion) {
  const Dump dump = ExpectConverges([](Twins& t) {
    // Same millisecond, same HLC value on both nodes: origin 2 wins the tie.
    ASSERT_EQ(Set(t.a->store, "tie", "a"), StoreStatus::kStored);
    ASSERT_EQ(Set(t.b->store, "tie", "b"), StoreStatus::kStored);
    // A later write wins whichever node made it.
    ASSERT_EQ(Set(t.b->store, "later", "b"), StoreStatus::kStored);
    t.clock.Advance(1);
    ASSERT_EQ(Set(t.a->store, "later", "a"), StoreStatus::kStored);
    for (int i = 0; i < 20; ++i) {
      ASSERT_EQ(Set(t.a->store, "k" + std::to_string(i), "a" + std::to_string(i)), StoreStatus::kStored);
      ASSERT_EQ(Set(t.b->store, "k" + std::to_string(i), "b" + std::to_string(i)), StoreStatus::kStored);
    }
  });
  ASSERT_EQ(dump.size(), 22u);
  EXPECT_EQ(dump.at("tie").value, "b");
  EXPECT_EQ(dump.at("tie").origin, 2u);
  EXPECT_EQ(dump.at("later").value, "a");
  EXPECT_EQ(dump.at("later").origin, 1u);
}

TEST(StoreApplyTest, SetVersusDeleteLastWriterWins) {
  const auto scenario = [](bool delete_last) {
    return ExpectConverges([delete_last](Twins& t) {
      ASSERT_EQ(Set(t.a->store, "k", "v0"), StoreStatus::kStored);
      t.Exchange();
      t.clock.Advance(1);
      if (delete_last) {
        ASSERT_EQ(Set(t.a->store, "k", "a1"), StoreStatus::kStored);
        t.clock.Advance(1);
        ASSERT_EQ(t.b->store.Delete("k"), DeleteStatus::kDeleted);
      } else {
        ASSERT_EQ(t.b->store.Delete("k"), DeleteStatus::kDeleted);
        t.clock.Advance(1);
        ASSERT_EQ(Set(t.a->store, "k", "a1"), StoreStatus::kStored);
      }
    });
  };
  const Dump deleted = scenario(true);
  ASSERT_EQ(deleted.count("k"), 1u);
  EXPECT_TRUE(deleted.at("k").tombstone);
  EXPECT_EQ(deleted.at("k").origin, 2u);
  const Dump set = scenario(false);
  ASSERT_EQ(set.count("k"), 1u);
  EXPECT_FALSE(set.at("k").tombstone);
  EXPECT_EQ(set.at("k").value, "a1");
}

TEST(StoreApplyTest, TombstoneBeatsALateOlderSet) {
  const Dump dump = ExpectConverges([](Twins& t) {
    ASSERT_EQ(Set(t.a->store, "k", "old"), StoreStatus::kStored);  // reaches b late, or first
    t.clock.Advance(5);
    ASSERT_EQ(Set(t.b->store, "k", "b"), StoreStatus::kStored);
    ASSERT_EQ(t.b->store.Delete("k"), DeleteStatus::kDeleted);
    // A key that a never had: its delete may reach a before its set.
    ASSERT_EQ(Set(t.b->store, "b-only", "b"), StoreStatus::kStored);
    ASSERT_EQ(t.b->store.Delete("b-only"), DeleteStatus::kDeleted);
  });
  ASSERT_EQ(dump.size(), 2u);
  EXPECT_TRUE(dump.at("k").tombstone);
  EXPECT_TRUE(dump.at("b-only").tombstone);

  // A delete of a key the receiver never had still leaves a tombstone.
  ManualClock clock(kStartMillis);
  StoreOptions options = TwinOptions();
  options.clock = &clock;
  Store store(options);
  Record del;
  del.kind = RecordKind::kDelete;
  del.hlc = (static_cast<uint64_t>(kStartMillis) << 16) + 10;
  del.origin = 2;
  del.key = "k";
  EXPECT_EQ(store.Apply(del), ApplyStatus::kApplied);
  EXPECT_EQ(store.GetStats().tombstones, 1u);
  Record set;
  set.kind = RecordKind::kSet;
  set.hlc = del.hlc - 1;
  set.origin = 1;
  set.key = "k";
  set.value = "late";
  set.exptime_version = set.hlc;
  EXPECT_EQ(store.Apply(set), ApplyStatus::kStale);
  EXPECT_FALSE(Read(store, "k"));
  set.hlc = del.hlc;  // same hlc, smaller origin: still older
  EXPECT_EQ(store.Apply(set), ApplyStatus::kStale);
  set.origin = 3;  // same hlc, greater origin: newer
  EXPECT_EQ(store.Apply(set), ApplyStatus::kApplied);
  EXPECT_EQ(Value(store, "k"), "late");
  EXPECT_EQ(store.GetStats().tombstones, 0u);
}

TEST(StoreApplyTest, TouchAndSetInAnyOrder) {
  constexpr int64_t kLater = kStartSeconds + 100;
  // The touch record may arrive before the set it follows.
  Dump dump = ExpectConverges([](Twins& t) {
    ASSERT_EQ(Set(t.a->store, "k", "v"), StoreStatus::kStored);
    t.clock.Advance(1);
    ASSERT_TRUE(t.a->store.Touch("k", kLater));
  });
  ASSERT_EQ(dump.count("k"), 1u);
  EXPECT_EQ(dump.at("k").value, "v");
  EXPECT_EQ(dump.at("k").exptime, kLater);
  EXPECT_GT(dump.at("k").exptime_version, dump.at("k").cas);

  // A newer set beats an older touch ...
  dump = ExpectConverges([](Twins& t) {
    ASSERT_EQ(Set(t.a->store, "k", "v"), StoreStatus::kStored);
    t.Exchange();
    t.clock.Advance(1);
    ASSERT_TRUE(t.a->store.Touch("k", kLater));
    t.clock.Advance(1);
    ASSERT_EQ(Set(t.b->store, "k", "b"), StoreStatus::kStored);
  });
  EXPECT_EQ(dump.at("k").value, "b");
  EXPECT_EQ(dump.at("k").exptime, 0);

  // ... and a touch of an older data version loses to a set, even a set made before it.
  dump = ExpectConverges([](Twins& t) {
    ASSERT_EQ(Set(t.a->store, "k", "v"), StoreStatus::kStored);
    t.Exchange();
    t.clock.Advance(1);
    ASSERT_EQ(Set(t.b->store, "k", "b"), StoreStatus::kStored);
    t.clock.Advance(1);
    ASSERT_TRUE(t.a->store.Touch("k", kLater));
  });
  EXPECT_EQ(dump.at("k").value, "b");
  EXPECT_EQ(dump.at("k").exptime, 0);

  // Concurrent touches of the same version with equal exptime_versions: the
  // greater exptime breaks the tie on both nodes.
  dump = ExpectConverges([](Twins& t) {
    ASSERT_EQ(Set(t.a->store, "k", "v"), StoreStatus::kStored);
    t.Exchange();
    ASSERT_TRUE(t.a->store.Touch("k", kLater));
    ASSERT_TRUE(t.b->store.Touch("k", kLater + 50));
    ASSERT_EQ(t.a->collector.records.at(0).exptime_version, t.b->collector.records.at(0).exptime_version);
  });
  EXPECT_EQ(dump.at("k").exptime, kLater + 50);
}

// A stale mark (md I) is a new version of the item: it replicates and obeys
// the winner rule like a set; a vivified item (mg N) arrives with its token
// taken, so the twin's readers learn that someone recaches it.
TEST(StoreApplyTest, StaleMarksAndVivifiedItemsConverge) {
  const Dump dump = ExpectConverges([](Twins& t) {
    ASSERT_EQ(Set(t.a->store, "stale", "v0"), StoreStatus::kStored);
    ASSERT_EQ(Set(t.a->store, "set-after", "v0"), StoreStatus::kStored);
    ASSERT_EQ(Set(t.a->store, "mark-after", "v0"), StoreStatus::kStored);
    t.Exchange();
    t.clock.Advance(1);
    InvalidateOptions invalidate;
    invalidate.update_exptime = true;
    invalidate.exptime = kStartSeconds + 60;
    ASSERT_EQ(t.b->store.Invalidate("stale", invalidate), DeleteStatus::kDeleted);
    ASSERT_EQ(t.a->store.Invalidate("set-after", InvalidateOptions()), DeleteStatus::kDeleted);
    ASSERT_EQ(Set(t.b->store, "mark-after", "b1"), StoreStatus::kStored);
    t.clock.Advance(1);
    ASSERT_EQ(Set(t.b->store, "set-after", "b2"), StoreStatus::kStored);
    // a has not seen b1 yet: its mark of v0 is the later version and wins whole.
    ASSERT_EQ(t.a->store.Invalidate("mark-after", InvalidateOptions()), DeleteStatus::kDeleted);
    ReadOptions vivify;
    vivify.vivify = true;
    vivify.vivify_exptime = kStartSeconds + 30;
    ASSERT_TRUE(t.a->store.Get("vivified", vivify, [](const ItemView& view) { EXPECT_TRUE(view.won); }));
  });
  ASSERT_EQ(dump.size(), 4u);
  EXPECT_TRUE(dump.at("stale").stale);
  EXPECT_EQ(dump.at("stale").value, "v0");
  EXPECT_EQ(dump.at("stale").exptime, kStartSeconds + 60);
  EXPECT_EQ(dump.at("stale").origin, 2u);
  EXPECT_FALSE(dump.at("set-after").stale);
  EXPECT_EQ(dump.at("set-after").value, "b2");
  EXPECT_TRUE(dump.at("mark-after").stale);
  EXPECT_EQ(dump.at("mark-after").value, "v0");
  EXPECT_FALSE(dump.at("vivified").stale);
  EXPECT_EQ(dump.at("vivified").value, "");

  // On the twin, the first mg of a replicated stale item wins, and a
  // replicated vivified item has its token out already.
  Twins t(0, TwinOptions());
  ASSERT_EQ(Set(t.a->store, "k", "v"), StoreStatus::kStored);
  ASSERT_EQ(t.a->store.Invalidate("k", InvalidateOptions()), DeleteStatus::kDeleted);
  ReadOptions vivify;
  vivify.vivify = true;
  ASSERT_TRUE(t.a->store.Get("n", vivify, [](const ItemView&) {}));
  t.Exchange();
  ReadOptions mg;
  mg.win_token = true;
  const auto expect_read = [&](std::string_view key, bool stale, bool sent, bool won) {
    EXPECT_TRUE(t.b->store.Get(key, mg, [&](const ItemView& view) {
      EXPECT_EQ(view.stale, stale) << key;
      EXPECT_EQ(view.win_token_sent, sent) << key;
      EXPECT_EQ(view.won, won) << key;
    })) << key;
  };
  expect_read("k", true, false, true);
  expect_read("k", true, true, false);
  expect_read("n", false, true, false);
  // Handing out a token is local: no record.
  EXPECT_TRUE(t.b->collector.records.empty());
}

TEST(StoreApplyTest, IncrOnBothNodesKeepsOneResult) {
  const Dump dump = ExpectConverges([](Twins& t) {
    ASSERT_EQ(Set(t.a->store, "n", "10"), StoreStatus::kStored);
    t.Exchange();
    ASSERT_EQ(Incr(t.a->store, "n", 1), ArithStatus::kOk);
    ASSERT_EQ(Incr(t.b->store, "n", 5), ArithStatus::kOk);
  });
  // Both incrs got the same hlc (each node's HLC had observed the set): the
  // greater origin, node 2, wins; the sum 16 is never the result.
  EXPECT_EQ(dump.at("n").value, "15");
}

TEST(StoreApplyTest, FlushHidesOlderWritesAndKeepsNewerOnes) {
  const Dump dump = ExpectConverges([](Twins& t) {
    ASSERT_EQ(Set(t.b->store, "b-old", "v"), StoreStatus::kStored);  // reaches a after its flush
    ASSERT_EQ(Set(t.a->store, "a-old", "v"), StoreStatus::kStored);
    t.clock.Advance(1);
    t.a->store.FlushAll(t.clock.NowMillis());
    t.clock.Advance(1);
    ASSERT_EQ(Set(t.b->store, "b-new", "v"), StoreStatus::kStored);
    ASSERT_EQ(Set(t.a->store, "a-new", "v"), StoreStatus::kStored);
  });
  EXPECT_EQ(dump.size(), 2u);
  EXPECT_EQ(dump.count("a-new"), 1u);
  EXPECT_EQ(dump.count("b-new"), 1u);
}

TEST(StoreApplyTest, CasUniqueIsTheSameOnBothNodes) {
  ExpectConverges([](Twins& t) {
    uint64_t cas = 0;
    ASSERT_EQ(Set(t.a->store, "k", "v", 0, &cas), StoreStatus::kStored);
    t.Exchange();
    Entry entry;
    ASSERT_TRUE(Read(t.b->store, "k", &entry));
    EXPECT_EQ(entry.cas, cas);
    // A gets on one node and a cas on the other agree.
    uint64_t next = 0;
    ASSERT_EQ(Put(t.b->store, StoreMode::kCas, "k", "w", cas, &next), StoreStatus::kStored);
    t.Exchange();
    ASSERT_TRUE(Read(t.a->store, "k", &entry));
    EXPECT_EQ(entry.cas, next);
    EXPECT_EQ(entry.value, "w");
    EXPECT_EQ(Put(t.a->store, StoreMode::kCas, "k", "x", cas), StoreStatus::kExists);
    EXPECT_EQ(Put(t.a->store, StoreMode::kCas, "k", "x", next), StoreStatus::kStored);
  });
}

TEST(StoreApplyTest, MixedWorkloadConverges) {
  const Dump dump = ExpectConverges([](Twins& t) {
    std::mt19937 ops(7);  // the same writes for every seed
    for (int i = 0; i < 400; ++i) {
      Store& store = ops() % 2 == 0 ? t.a->store : t.b->store;
      const std::string key = "k" + std::to_string(ops() % 12);
      switch (ops() % 6) {
        case 0:
          Set(store, key, "v" + std::to_string(i), ops() % 2 == 0 ? 0 : kStartSeconds + 1000 + i);
          break;
        case 1:
          store.Delete(key);
          break;
        case 2:
          store.Touch(key, kStartSeconds + 2000 + i);
          break;
        case 3:
          Put(store, StoreMode::kAppend, key, "+");
          break;
        case 4:
          Put(store, StoreMode::kAdd, key, "0");
          Incr(store, key, 3);
          break;
        default:
          t.clock.Advance(ops() % 3);
          break;
      }
      if (i % 97 == 0) t.Exchange();
    }
  });
  size_t items = 0;
  size_t tombstones = 0;
  size_t touched = 0;
  for (const auto& [key, entry] : dump) {
    ++(entry.tombstone ? tombstones : items);
    if (entry.exptime_version > entry.cas) ++touched;
  }
  EXPECT_GT(items, 0u);
  EXPECT_GT(tombstones, 0u);
  EXPECT_GT(touched, 0u);
}

// ApplyBatch (a full sync's bulk apply) ends where Apply() on each record in
// turn ends, with the same statuses, store for store: node 1's mixed writes (sets, overwrites,
// deletes, touches, a flush_all) and records a store refuses (a value over
// -I, a key over 250 bytes), in order and shuffled with duplicates.
TEST(StoreApplyTest, ApplyBatchEndsAsApplyingEachInTurn) {
  ManualClock clock(kStartMillis);
  StoreOptions options = TwinOptions();
  options.clock = &clock;
  options.item_size_max = 1024;
  Node writer(options, 1);
  std::mt19937 ops(11);
  for (int i = 0; i < 300; ++i) {
    const std::string key = "k" + std::to_string(ops() % 40);
    switch (ops() % 5) {
      case 0:
      case 1:
        Set(writer.store, key, std::string(1 + ops() % 200, 'v'));
        break;
      case 2:
        writer.store.Delete(key);
        break;
      case 3:
        writer.store.Touch(key, kStartSeconds + 100 + i);
        break;
      default:
        clock.Advance(1);
        break;
    }
    if (i == 150) writer.store.FlushAll(0);
  }
  std::vector<OwnedRecord> records = writer.collector.records;
  OwnedRecord too_large = records.front();
  too_large.kind = RecordKind::kSet;
  too_large.key = "too_large";
  too_large.value.assign(2048, 'x');
  records.push_back(too_large);
  OwnedRecord long_key = too_large;
  long_key.key.assign(251, 'k');
  long_key.value = "v";
  records.push_back(long_key);
  ASSERT_GT(records.size(), 150u);

  for (uint32_t seed = 0; seed < 8; ++seed) {
    std::vector<const OwnedRecord*> order;
    std::mt19937 rng(seed);
    for (const OwnedRecord& record : records) {
      order.push_back(&record);
      if (seed != 0 && rng() % 3 == 0) order.push_back(&record);
    }
    if (seed != 0) std::shuffle(order.begin(), order.end(), rng);
    std::vector<Record> views;
    for (const OwnedRecord* record : order) views.push_back(record->View());

    Node one_by_one(options, 2);
    std::vector<ApplyStatus> expected;
    for (const Record& view : views) expected.push_back(one_by_one.store.Apply(view));
    Node batched(options, 2);
    std::vector<ApplyStatus> statuses;
    batched.store.ApplyBatch(views, &statuses);

    EXPECT_EQ(DumpOf(batched.store), DumpOf(one_by_one.store)) << "seed " << seed;
    EXPECT_EQ(batched.store.GetStats().curr_items, one_by_one.store.GetStats().curr_items) << "seed " << seed;
    EXPECT_EQ(batched.store.GetStats().bytes, one_by_one.store.GetStats().bytes) << "seed " << seed;
    EXPECT_EQ(batched.collector.records.size(), 0u);  // applied records are never observed
    EXPECT_EQ(statuses, expected) << "seed " << seed;
    EXPECT_GE(std::count(statuses.begin(), statuses.end(), ApplyStatus::kTooLarge), 2) << "seed " << seed;
    if (seed != 0) {  // the duplicates
      EXPECT_GT(std::count(statuses.begin(), statuses.end(), ApplyStatus::kStale), 0) << "seed " << seed;
    }
  }
}

// --- tombstones ------------------------------------------------------------------

class TombstoneTest : public ::testing::Test {
 protected:
  TombstoneTest() : clock_(kStartMillis) {}

  StoreOptions Options() {
    StoreOptions options;
    options.clock = &clock_;
    options.keep_tombstones = true;
    options.shard_bits = 0;
    return options;
  }

  // Sum of the sizes of every item and tombstone.
  static uint64_t ScannedBytes(Store& store) {
    uint64_t bytes = 0;
    for (const auto& [key, entry] : DumpOf(store)) bytes += entry.size;
    return bytes;
  }

  ManualClock clock_;
};

TEST_F(TombstoneTest, InvisibleToClientsButCountedInBytes) {
  Store store(Options());
  ASSERT_EQ(Set(store, "k", std::string(1000, 'x')), StoreStatus::kStored);
  ASSERT_EQ(store.Delete("k"), DeleteStatus::kDeleted);
  StoreStats stats = store.GetStats();
  EXPECT_EQ(stats.curr_items, 0u);
  EXPECT_EQ(stats.tombstones, 1u);
  EXPECT_GT(stats.bytes, 0u);
  EXPECT_LT(stats.bytes, 1000u);  // the value is gone
  EXPECT_EQ(stats.bytes, ScannedBytes(store));

  // Every client-facing method sees a miss.
  EXPECT_FALSE(Read(store, "k"));
  EXPECT_EQ(Put(store, StoreMode::kReplace, "k", "v"), StoreStatus::kNotStored);
  EXPECT_EQ(Put(store, StoreMode::kAppend, "k", "v"), StoreStatus::kNotStored);
  EXPECT_EQ(Put(store, StoreMode::kPrepend, "k", "v"), StoreStatus::kNotStored);
  EXPECT_EQ(Put(store, StoreMode::kCas, "k", "v", 1), StoreStatus::kNotFound);
  EXPECT_EQ(Incr(store, "k", 1), ArithStatus::kNotFound);
  EXPECT_EQ(store.Delete("k"), DeleteStatus::kNotFound);
  EXPECT_FALSE(store.Touch("k", 0));
  size_t visited = 0;
  ScanCursor cursor;
  while (!cursor.done()) visited += store.Scan(&cursor, 10, [](const ItemView&) {});
  EXPECT_EQ(visited, 0u);
  EXPECT_EQ(store.GetStats().tombstones, 1u);

  // add sees a missing key and replaces the tombstone with a newer version.
  const uint64_t tombstone_cas = DumpOf(store).at("k").cas;
  uint64_t cas = 0;
  ASSERT_EQ(Put(store, StoreMode::kAdd, "k", "new", 0, &cas), StoreStatus::kStored);
  EXPECT_GT(cas, tombstone_cas);
  stats = store.GetStats();
  EXPECT_EQ(stats.curr_items, 1u);
  EXPECT_EQ(stats.tombstones, 0u);
  EXPECT_EQ(stats.bytes, ScannedBytes(store));
  EXPECT_EQ(Value(store, "k"), "new");
}

TEST_F(TombstoneTest, LocalWritesReplaceTombstones) {
  Store store(Options());
  for (const char* key : {"set", "vivify"}) {
    ASSERT_EQ(Set(store, key, "1"), StoreStatus::kStored);
    ASSERT_EQ(store.Delete(key), DeleteStatus::kDeleted);
  }
  const uint64_t tombstone_cas = DumpOf(store).at("set").cas;
  uint64_t cas = 0;
  ASSERT_EQ(Set(store, "set", "2", 0, &cas), StoreStatus::kStored);
  EXPECT_GT(cas, tombstone_cas);
  ArithOptions vivify;
  vivify.autovivify = true;
  vivify.initial = 7;
  uint64_t value = 0;
  ASSERT_EQ(store.Arithmetic("vivify", vivify, &value, nullptr), ArithStatus::kOk);
  EXPECT_EQ(Value(store, "vivify"), "7");
  const StoreStats stats = store.GetStats();
  EXPECT_EQ(stats.curr_items, 2u);
  EXPECT_EQ(stats.tombstones, 0u);
  EXPECT_EQ(stats.bytes, ScannedBytes(store));
}

TEST_F(TombstoneTest, ReclaimedAfterTheirTtl) {
  StoreOptions options = Options();
  options.tombstone_ttl_s = 600;
  Store store(options);
  ASSERT_EQ(Set(store, "k", "v"), StoreStatus::kStored);
  ASSERT_EQ(store.Delete("k"), DeleteStatus::kDeleted);
  EXPECT_EQ(DumpOf(store).at("k").exptime, kStartSeconds + 600);
  clock_.Advance(599'999);
  EXPECT_EQ(store.ReclaimExpired(100), 0u);
  EXPECT_EQ(store.GetStats().tombstones, 1u);
  clock_.Advance(1);
  EXPECT_EQ(store.ReclaimExpired(100), 1u);
  const StoreStats stats = store.GetStats();
  EXPECT_EQ(stats.tombstones, 0u);
  EXPECT_EQ(stats.bytes, 0u);
  EXPECT_EQ(stats.reclaimed, 0u);  // counts items only

  // An applied delete whose TTL is already over frees the item, leaves nothing.
  ASSERT_EQ(Set(store, "k", "v"), StoreStatus::kStored);
  Record del;
  del.kind = RecordKind::kDelete;
  del.hlc = DumpOf(store).at("k").cas + 1;
  del.origin = 2;
  del.key = "k";
  clock_.Advance(600'000);
  EXPECT_EQ(store.Apply(del), ApplyStatus::kApplied);
  EXPECT_TRUE(DumpOf(store).empty());
  EXPECT_EQ(store.GetStats().bytes, 0u);
}

TEST_F(TombstoneTest, EvictedLikeItemsWithoutCountingEvictions) {
  for (const bool evict_to_free : {true, false}) {
    StoreOptions options = Options();
    options.limit_bytes = 64 * 1024;
    options.evict_to_free = evict_to_free;
    Store store(options);
    int written = 0;
    for (; store.GetStats().bytes < options.limit_bytes - 2048; ++written) {
      const std::string key = "tombstone" + std::to_string(written);
      ASSERT_EQ(Set(store, key, "v"), StoreStatus::kStored);
      ASSERT_EQ(store.Delete(key), DeleteStatus::kDeleted);
    }
    ASSERT_EQ(store.GetStats().tombstones, static_cast<uint64_t>(written));
    // Items need the tombstones' room: the oldest tombstones go, even with -M.
    for (int i = 0; i < 100; ++i) {
      ASSERT_EQ(Set(store, "item" + std::to_string(i), std::string(100, 'x')), StoreStatus::kStored) << i;
    }
    const StoreStats stats = store.GetStats();
    EXPECT_EQ(stats.curr_items, 100u);
    EXPECT_LT(stats.tombstones, static_cast<uint64_t>(written));
    EXPECT_EQ(stats.evictions, 0u);
    EXPECT_LE(stats.bytes, options.limit_bytes);
    EXPECT_EQ(stats.bytes, ScannedBytes(store));
  }
}

TEST_F(TombstoneTest, FlushAllFreesTombstones) {
  Store store(Options());
  for (int i = 0; i < 10; ++i) {
    ASSERT_EQ(Set(store, "k" + std::to_string(i), "v"), StoreStatus::kStored);
    ASSERT_EQ(store.Delete("k" + std::to_string(i)), DeleteStatus::kDeleted);
  }
  store.FlushAll(clock_.NowMillis());
  const StoreStats stats = store.GetStats();
  EXPECT_EQ(stats.tombstones, 0u);
  EXPECT_EQ(stats.bytes, 0u);
}

TEST_F(TombstoneTest, WithoutTombstonesDeletesOnlyFree) {
  StoreOptions options = Options();
  options.keep_tombstones = false;
  Store store(options);
  Collector collector;
  store.SetObserver(&collector);
  uint64_t cas = 0;
  ASSERT_EQ(Set(store, "k", "v", 0, &cas), StoreStatus::kStored);
  ASSERT_EQ(store.Delete("k"), DeleteStatus::kDeleted);
  EXPECT_EQ(store.GetStats().bytes, 0u);
  EXPECT_EQ(store.GetStats().tombstones, 0u);
  // The delete still carries a new version, so the peer drops only older items.
  ASSERT_EQ(collector.records.size(), 2u);
  EXPECT_EQ(collector.records[1].kind, RecordKind::kDelete);
  EXPECT_GT(collector.records[1].hlc, cas);
  EXPECT_EQ(collector.records[1].origin, 1u);
  EXPECT_EQ(collector.records[1].key, "k");

  // Apply: a newer delete frees the item, an older one is stale, a missing key
  // leaves nothing behind.
  ASSERT_EQ(Set(store, "k", "v", 0, &cas), StoreStatus::kStored);
  Record del;
  del.kind = RecordKind::kDelete;
  del.hlc = cas - 1;
  del.origin = 2;
  del.key = "k";
  EXPECT_EQ(store.Apply(del), ApplyStatus::kStale);
  EXPECT_EQ(Value(store, "k"), "v");
  del.hlc = cas + 1;
  EXPECT_EQ(store.Apply(del), ApplyStatus::kApplied);
  EXPECT_FALSE(Read(store, "k"));
  del.key = "missing";
  EXPECT_EQ(store.Apply(del), ApplyStatus::kApplied);
  EXPECT_TRUE(DumpOf(store).empty());
  EXPECT_EQ(store.GetStats().bytes, 0u);
}

// --- the observer ----------------------------------------------------------------

class ObserverTest : public TombstoneTest {};

TEST_F(ObserverTest, ReportsEveryLocalMutationWithTheItem) {
  Store store(Options());
  Collector collector;
  store.SetObserver(&collector);
  const auto& records = collector.records;
  const auto last = [&records]() { return records.back(); };

  uint64_t cas = 0;
  ASSERT_EQ(store.StoreItem(StoreMode::kSet, "k", "1", 42, kStartSeconds + 60, WriteOptions(), &cas),
            StoreStatus::kStored);
  ASSERT_EQ(records.size(), 1u);
  EXPECT_EQ(last().kind, RecordKind::kSet);
  EXPECT_EQ(last().hlc, cas);
  EXPECT_EQ(last().origin, 1u);
  EXPECT_EQ(last().key, "k");
  EXPECT_EQ(last().value, "1");
  EXPECT_EQ(last().flags, 42u);
  EXPECT_EQ(last().exptime, kStartSeconds + 60);
  EXPECT_EQ(last().exptime_version, cas);

  ASSERT_EQ(Put(store, StoreMode::kAppend, "k", "2"), StoreStatus::kStored);
  EXPECT_EQ(last().kind, RecordKind::kSet);
  EXPECT_EQ(last().value, "12");
  EXPECT_EQ(last().flags, 42u);
  ASSERT_EQ(Put(store, StoreMode::kPrepend, "k", "0"), StoreStatus::kStored);
  EXPECT_EQ(last().value, "012");
  ASSERT_EQ(Incr(store, "k", 1), ArithStatus::kOk);
  EXPECT_EQ(last().kind, RecordKind::kSet);
  EXPECT_EQ(last().value, "13");
  ASSERT_EQ(Put(store, StoreMode::kReplace, "k", "r", 0, &cas), StoreStatus::kStored);
  ASSERT_EQ(Put(store, StoreMode::kCas, "k", "c", cas, &cas), StoreStatus::kStored);
  EXPECT_EQ(last().value, "c");
  EXPECT_EQ(last().hlc, cas);
  ASSERT_EQ(Put(store, StoreMode::kAdd, "other", "a"), StoreStatus::kStored);
  EXPECT_EQ(last().key, "other");
  ASSERT_EQ(records.size(), 7u);

  // touch, gat and mg T: the whole item, same version, newer exptime_version.
  ASSERT_TRUE(store.Touch("k", kStartSeconds + 120));
  EXPECT_EQ(last().kind, RecordKind::kTouch);
  EXPECT_EQ(last().hlc, cas);
  EXPECT_GT(last().exptime_version, cas);
  EXPECT_EQ(last().exptime, kStartSeconds + 120);
  EXPECT_EQ(last().value, "c");
  const uint64_t touched = last().exptime_version;
  ReadOptions gat;
  gat.touch = true;
  gat.exptime = kStartSeconds + 180;
  ASSERT_TRUE(store.Get("k", gat, [](const ItemView&) {}));
  EXPECT_EQ(last().kind, RecordKind::kTouch);
  EXPECT_EQ(last().hlc, cas);
  EXPECT_GT(last().exptime_version, touched);
  EXPECT_EQ(last().exptime, kStartSeconds + 180);
  Entry entry;
  ASSERT_TRUE(Read(store, "k", &entry));
  EXPECT_EQ(entry.cas, cas);  // touch keeps the cas unique
  EXPECT_EQ(entry.exptime_version, last().exptime_version);

  // ma with autovivify.
  ArithOptions vivify;
  vivify.autovivify = true;
  vivify.initial = 5;
  uint64_t value = 0;
  ASSERT_EQ(store.Arithmetic("counter", vivify, &value, &cas), ArithStatus::kOk);
  EXPECT_EQ(last().kind, RecordKind::kSet);
  EXPECT_EQ(last().value, "5");
  EXPECT_EQ(last().hlc, cas);

  // delete: the tombstone's version.
  ASSERT_EQ(store.Delete("other"), DeleteStatus::kDeleted);
  EXPECT_EQ(last().kind, RecordKind::kDelete);
  EXPECT_EQ(last().key, "other");
  const Entry tombstone = DumpOf(store).at("other");
  EXPECT_TRUE(tombstone.tombstone);
  EXPECT_EQ(last().hlc, tombstone.cas);
  EXPECT_EQ(last().origin, 1u);

  // flush_all, now and delayed: the flush version and time.
  const size_t before_flush = records.size();
  store.FlushAll(clock_.NowMillis());
  ASSERT_EQ(records.size(), before_flush + 1);
  EXPECT_EQ(last().kind, RecordKind::kFlush);
  EXPECT_EQ(last().at_ms, clock_.NowMillis());
  EXPECT_GT(last().hlc, tombstone.cas);
  EXPECT_EQ(last().origin, 1u);
  store.FlushAll(clock_.NowMillis() + 5000);
  EXPECT_EQ(last().kind, RecordKind::kFlush);
  EXPECT_EQ(last().at_ms, clock_.NowMillis() + 5000);
  EXPECT_EQ(last().hlc >> 16, static_cast<uint64_t>(clock_.NowMillis() + 5000));
}

TEST_F(ObserverTest, SilentOnFailedWritesEvictionExpiryAndApply) {
  StoreOptions options = Options();
  options.limit_bytes = 32 * 1024;
  Store store(options);
  Collector collector;
  store.SetObserver(&collector);

  // Failed writes.
  ASSERT_EQ(Set(store, "k", "text"), StoreStatus::kStored);
  EXPECT_EQ(Put(store, StoreMode::kAdd, "k", "v"), StoreStatus::kNotStored);
  EXPECT_EQ(Put(store, StoreMode::kReplace, "missing", "v"), StoreStatus::kNotStored);
  EXPECT_EQ(Put(store, StoreMode::kAppend, "missing", "v"), StoreStatus::kNotStored);
  EXPECT_EQ(Put(store, StoreMode::kCas, "k", "v", 1), StoreStatus::kExists);
  EXPECT_EQ(Put(store, StoreMode::kSet, "k", std::string(2 << 20, 'x')), StoreStatus::kTooLarge);
  EXPECT_EQ(Incr(store, "k", 1), ArithStatus::kNonNumeric);
  EXPECT_EQ(Incr(store, "missing", 1), ArithStatus::kNotFound);
  EXPECT_EQ(store.Delete("missing"), DeleteStatus::kNotFound);
  EXPECT_EQ(store.Delete("k", 1), DeleteStatus::kExists);
  EXPECT_FALSE(store.Touch("missing", 0));
  EXPECT_EQ(collector.records.size(), 1u);

  // Evictions.
  for (int i = 0; i < 100; ++i) {
    ASSERT_EQ(Set(store, "big" + std::to_string(i), std::string(1000, 'x')), StoreStatus::kStored);
  }
  EXPECT_GT(store.GetStats().evictions, 0u);
  EXPECT_EQ(collector.records.size(), 101u);

  // Expiry, lazy and by ReclaimExpired().
  ASSERT_EQ(Set(store, "short", "v", kStartSeconds + 1), StoreStatus::kStored);
  ASSERT_EQ(Set(store, "short2", "v", kStartSeconds + 1), StoreStatus::kStored);
  clock_.Advance(2000);
  EXPECT_FALSE(Read(store, "short"));
  EXPECT_GT(store.ReclaimExpired(1000), 0u);
  EXPECT_EQ(collector.records.size(), 103u);

  // Apply.
  Record set;
  set.kind = RecordKind::kSet;
  set.hlc = store.NextVersion() + 1;
  set.origin = 2;
  set.key = "remote";
  set.value = "v";
  set.exptime_version = set.hlc;
  EXPECT_EQ(store.Apply(set), ApplyStatus::kApplied);
  set.kind = RecordKind::kDelete;
  set.hlc += 1;
  EXPECT_EQ(store.Apply(set), ApplyStatus::kApplied);
  Record flush;
  flush.kind = RecordKind::kFlush;
  flush.hlc = store.NextVersion() + 1;
  flush.origin = 2;
  flush.at_ms = clock_.NowMillis();
  EXPECT_EQ(store.Apply(flush), ApplyStatus::kApplied);
  EXPECT_EQ(collector.records.size(), 103u);
}

// --- Apply -----------------------------------------------------------------------

class ApplyTest : public TombstoneTest {
 protected:
  static Record SetRecord(std::string_view key, std::string_view value, uint64_t hlc, uint64_t origin = 2) {
    Record record;
    record.kind = RecordKind::kSet;
    record.hlc = hlc;
    record.origin = origin;
    record.key = key;
    record.value = value;
    record.exptime_version = hlc;
    return record;
  }

  uint64_t Now() const { return static_cast<uint64_t>(clock_.NowMillis()) << 16; }
};

TEST_F(ApplyTest, StoresTheRecordsVersionAndIsIdempotent) {
  Store store(Options());
  Record record = SetRecord("k", "v", Now() + 5);
  record.flags = 9;
  record.exptime = kStartSeconds + 30;
  EXPECT_EQ(store.Apply(record), ApplyStatus::kApplied);
  EXPECT_EQ(store.Apply(record), ApplyStatus::kStale);  // a duplicate
  const Entry entry = DumpOf(store).at("k");
  EXPECT_EQ(entry.value, "v");
  EXPECT_EQ(entry.flags, 9u);
  EXPECT_EQ(entry.exptime, kStartSeconds + 30);
  EXPECT_EQ(entry.cas, record.hlc);
  EXPECT_EQ(entry.origin, 2u);
  EXPECT_EQ(entry.exptime_version, record.hlc);
  const StoreStats stats = store.GetStats();
  EXPECT_EQ(stats.curr_items, 1u);
  EXPECT_EQ(stats.bytes, ScannedBytes(store));
  // The HLC moved past the applied version: a local write is newer.
  uint64_t cas = 0;
  ASSERT_EQ(Set(store, "k", "local", 0, &cas), StoreStatus::kStored);
  EXPECT_GT(cas, record.hlc);
  EXPECT_EQ(store.Apply(record), ApplyStatus::kStale);
  EXPECT_EQ(Value(store, "k"), "local");
}

TEST_F(ApplyTest, TooLargeAndOutOfMemory) {
  StoreOptions options = Options();
  options.limit_bytes = 16 * 1024;
  options.evict_to_free = false;
  options.item_size_max = 4096;
  Store store(options);
  const std::string long_key(kKeyMaxLength + 1, 'k');
  EXPECT_EQ(store.Apply(SetRecord(long_key, "v", Now())), ApplyStatus::kTooLarge);
  const std::string big(5000, 'x');
  EXPECT_EQ(store.Apply(SetRecord("k", big, Now())), ApplyStatus::kTooLarge);
  const std::string value(3000, 'x');
  std::vector<std::string> keys;
  for (int i = 0; i < 10; ++i) keys.push_back("k" + std::to_string(i));
  size_t applied = 0;
  ApplyStatus status = ApplyStatus::kApplied;
  for (const std::string& key : keys) {
    status = store.Apply(SetRecord(key, value, Now() + applied));
    if (status != ApplyStatus::kApplied) break;
    ++applied;
  }
  EXPECT_EQ(status, ApplyStatus::kOutOfMemory);  // -M: no eviction
  EXPECT_GT(applied, 0u);
  EXPECT_LE(store.GetStats().bytes, options.limit_bytes);

  // With eviction, Apply evicts like a set.
  options.evict_to_free = true;
  Store evicting(options);
  for (size_t i = 0; i < keys.size(); ++i) {
    EXPECT_EQ(evicting.Apply(SetRecord(keys[i], value, Now() + i)), ApplyStatus::kApplied);
  }
  EXPECT_GT(evicting.GetStats().evictions, 0u);
  EXPECT_LE(evicting.GetStats().bytes, options.limit_bytes);
}

TEST_F(ApplyTest, ARefusedNewerVersionFreesTheOlderItem) {
  // memcached frees the old item when a set fails (proto_text.c,
  // process_update_command); so does Apply, so a refused write of the twin
  // leaves a miss here, never the value the twin overwrote.
  StoreOptions options = Options();
  options.limit_bytes = 16 * 1024;
  options.evict_to_free = false;
  options.item_size_max = 4096;
  Store store(options);
  ASSERT_EQ(store.Apply(SetRecord("big", "old", Now() + 1)), ApplyStatus::kApplied);
  EXPECT_EQ(store.Apply(SetRecord("big", std::string(5000, 'x'), Now() + 2)), ApplyStatus::kTooLarge);
  EXPECT_EQ(DumpOf(store).count("big"), 0u);
  EXPECT_EQ(store.GetStats().bytes, ScannedBytes(store));
  // Not replaced by a tombstone: the record can still be stored later.
  EXPECT_EQ(store.Apply(SetRecord("big", "fits", Now() + 2)), ApplyStatus::kApplied);

  // An older refused record leaves a newer held item alone.
  ASSERT_EQ(store.Apply(SetRecord("new", "kept", Now() + 10)), ApplyStatus::kApplied);
  EXPECT_EQ(store.Apply(SetRecord("new", std::string(5000, 'x'), Now() + 3)), ApplyStatus::kTooLarge);
  EXPECT_EQ(DumpOf(store).at("new").value, "kept");

  // Out of memory (-M, full): the older item goes too.
  const std::string value(3000, 'y');
  ApplyStatus status = ApplyStatus::kApplied;
  for (int i = 0; i < 10 && status == ApplyStatus::kApplied; ++i) {
    status = store.Apply(SetRecord("fill" + std::to_string(i), value, Now() + 20 + i));
  }
  ASSERT_EQ(status, ApplyStatus::kOutOfMemory);
  ASSERT_EQ(store.Apply(SetRecord("small", "s", Now() + 40)), ApplyStatus::kApplied);
  EXPECT_EQ(store.Apply(SetRecord("small", value, Now() + 41)), ApplyStatus::kOutOfMemory);
  EXPECT_EQ(DumpOf(store).count("small"), 0u);
  EXPECT_EQ(store.GetStats().bytes, ScannedBytes(store));
}

TEST_F(ApplyTest, FlushVersionsOrderFlushes) {
  Store store(Options());
  ASSERT_EQ(store.Apply(SetRecord("old", "v", Now() + 1)), ApplyStatus::kApplied);
  Record flush;
  flush.kind = RecordKind::kFlush;
  flush.hlc = Now() + 2;
  flush.origin = 2;
  flush.at_ms = clock_.NowMillis();
  EXPECT_EQ(store.Apply(flush), ApplyStatus::kApplied);
  EXPECT_FALSE(Read(store, "old"));
  EXPECT_EQ(store.Apply(flush), ApplyStatus::kStale);
  // A set older than the reached flush stays invisible; a newer one survives.
  EXPECT_EQ(store.Apply(SetRecord("older", "v", Now() + 1, 3)), ApplyStatus::kStale);
  EXPECT_EQ(store.Apply(SetRecord("newer", "v", Now() + 3)), ApplyStatus::kApplied);
  EXPECT_TRUE(Read(store, "newer"));
  // Local writes come after the applied flush.
  ASSERT_EQ(Set(store, "local", "v"), StoreStatus::kStored);
  EXPECT_TRUE(Read(store, "local"));
  // An older flush changes nothing.
  Record older = flush;
  older.hlc = Now() + 1;
  EXPECT_EQ(store.Apply(older), ApplyStatus::kStale);
  EXPECT_TRUE(Read(store, "newer"));

  // A delayed flush does not move the HLC into the future ...
  Record delayed = flush;
  delayed.at_ms = clock_.NowMillis() + 10'000;
  delayed.hlc = (static_cast<uint64_t>(delayed.at_ms) << 16) | 0xFFFF;
  EXPECT_EQ(store.Apply(delayed), ApplyStatus::kApplied);
  EXPECT_LT(store.NextVersion(), Now() + (uint64_t{1} << 16));
  // ... and hides what was written before its time, when its time comes.
  ASSERT_EQ(Set(store, "before", "v"), StoreStatus::kStored);
  EXPECT_TRUE(Read(store, "before"));
  clock_.Advance(10'000);
  EXPECT_FALSE(Read(store, "before"));
  EXPECT_FALSE(Read(store, "newer"));
  clock_.Advance(1);
  ASSERT_EQ(Set(store, "after", "v"), StoreStatus::kStored);
  EXPECT_TRUE(Read(store, "after"));
}

TEST_F(ApplyTest, TouchOfAMissingItemStoresIt) {
  Store store(Options());
  Record touch = SetRecord("k", "v", Now() + 1);
  touch.kind = RecordKind::kTouch;
  touch.exptime = kStartSeconds + 50;
  touch.exptime_version = Now() + 4;
  EXPECT_EQ(store.Apply(touch), ApplyStatus::kApplied);
  // The set it followed arrives later: same version, older exptime_version.
  EXPECT_EQ(store.Apply(SetRecord("k", "v", Now() + 1)), ApplyStatus::kStale);
  Entry entry;
  ASSERT_TRUE(Read(store, "k", &entry));
  EXPECT_EQ(entry.exptime, kStartSeconds + 50);
  EXPECT_EQ(entry.exptime_version, Now() + 4);
  // A tombstone of the same key is not touched back to life.
  Record del = SetRecord("k", "", Now() + 5);
  del.kind = RecordKind::kDelete;
  EXPECT_EQ(store.Apply(del), ApplyStatus::kApplied);
  touch.exptime_version = Now() + 9;
  EXPECT_EQ(store.Apply(touch), ApplyStatus::kStale);
  EXPECT_FALSE(Read(store, "k"));
}

// --- threads ---------------------------------------------------------------------

// Counts records; OnRecord runs under different shard locks at once.
class CountingObserver final : public RecordObserver {
 public:
  void OnRecord(const Record&) override { count.fetch_add(1, std::memory_order_relaxed); }
  std::atomic<uint64_t> count{0};
};

TEST_F(TombstoneTest, ConcurrentWritesAndAppliesKeepExactAccounts) {
  StoreOptions options = Options();
  options.shard_bits = 2;
  options.limit_bytes = 128 * 1024;  // evictions of items and tombstones happen
  options.tombstone_ttl_s = 1;
  Store store(options);
  CountingObserver observer;
  store.SetObserver(&observer);
  constexpr int kThreads = 4;
  constexpr int kOpsPerThread = 20'000;
  std::atomic<uint64_t> local_mutations{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      std::mt19937 random(static_cast<uint32_t>(t));
      uint64_t mutations = 0;
      for (int i = 0; i < kOpsPerThread; ++i) {
        const std::string key = "key" + std::to_string(random() % 1000);
        if (t == 0 && i % 1000 == 0) {
          clock_.Advance(100);
          store.ReclaimExpired(50);
        }
        if (t == kThreads - 1) {
          // The peer: records a little older or newer than the local clock.
          Record record;
          record.kind = static_cast<RecordKind>(1 + random() % 3);
          record.hlc = (static_cast<uint64_t>(clock_.NowMillis()) << 16) + random() % 200'000 - 100'000;
          record.origin = 2;
          record.key = key;
          const std::string value(random() % 300, 'p');
          record.value = value;
          record.exptime_version = record.hlc + random() % 2;
          const ApplyStatus status = store.Apply(record);
          EXPECT_TRUE(status == ApplyStatus::kApplied || status == ApplyStatus::kStale);
          continue;
        }
        switch (random() % 6) {
          case 0:
            mutations += Set(store, key, std::string(random() % 400, 'x')) == StoreStatus::kStored;
            break;
          case 1:
            mutations += Put(store, StoreMode::kAppend, key, "12") == StoreStatus::kStored;
            break;
          case 2:
            mutations += Put(store, StoreMode::kAdd, key, "7") == StoreStatus::kStored;
            mutations += Incr(store, key, 1) == ArithStatus::kOk;
            break;
          case 3:
            mutations += store.Delete(key) == DeleteStatus::kDeleted;
            break;
          case 4:
            mutations += store.Touch(key, 0);
            break;
          default:
            Read(store, key);
        }
      }
      local_mutations.fetch_add(mutations);
    });
  }
  for (std::thread& thread : threads) thread.join();
  EXPECT_EQ(observer.count.load(), local_mutations.load());
  StoreStats stats = store.GetStats();
  EXPECT_LE(stats.bytes, options.limit_bytes);
  EXPECT_GT(stats.evictions, 0u);
  // Free what Scan skips but the counters hold; the first call may start
  // mid-shard, the second is then a full pass.
  store.ReclaimExpired(std::numeric_limits<size_t>::max());
  store.ReclaimExpired(std::numeric_limits<size_t>::max());
  stats = store.GetStats();
  const Dump dump = DumpOf(store);
  uint64_t items = 0;
  for (const auto& [key, entry] : dump) items += entry.tombstone ? 0 : 1;
  EXPECT_EQ(items, stats.curr_items);
  EXPECT_EQ(dump.size() - items, stats.tombstones);
  EXPECT_EQ(ScannedBytes(store), stats.bytes);
}

}  // namespace
}  // namespace twincache
