// Unit tests for the warm restart state file (core/store/snapshot.h): a round
// trip of items, tombstones, the flush point and the replication identity;
// what a load drops (expired, over -m); that a file is consumed by opening
// it; and that every corruption (each byte flipped, each truncation, another
// version, another node, trailing bytes, bad shapes under a valid checksum)
// is refused whole. Files live in a fresh temporary directory per test.
#include "core/store/snapshot.h"

#include <gtest/gtest.h>
#include <openssl/evp.h>
#include <unistd.h>

#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <map>
#include <string>
#include <tuple>

#include "core/base/clock.h"

namespace twincache {
namespace {

constexpr int64_t kStartMillis = 1'700'000'000'000;  // 2023-11-14, unix ms
constexpr int64_t kStartSeconds = kStartMillis / 1000;
constexpr std::string_view kIdentity = "port=11211 peer=192.0.2.2:11212";
constexpr size_t kDigestSize = 32;

// What a Scan shows of an entry, for comparing two stores.
using Entry = std::tuple<std::string, uint32_t, int64_t, uint64_t, uint64_t, uint64_t, bool, bool, bool>;

std::map<std::string, Entry> Dump(Store* store) {
  std::map<std::string, Entry> out;
  ScanCursor cursor;
  while (!cursor.done()) {
    store->Scan(
        &cursor, 1000,
        [&](const ItemView& item) {
          out[std::string(item.key)] =
              Entry{std::string(item.value), item.flags,     item.exptime, item.cas,           item.origin,
                    item.exptime_version,    item.tombstone, item.stale,   item.win_token_sent};
        },
        /*include_tombstones=*/true);
  }
  return out;
}

std::string ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

void WriteFile(const std::string& path, const std::string& bytes) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
}

// The bytes with their trailer recomputed, so a test reaches the checks
// after the checksum.
std::string Resealed(std::string bytes) {
  bytes.resize(bytes.size() - kDigestSize);
  unsigned char digest[kDigestSize];
  unsigned int size = 0;
  EXPECT_EQ(EVP_Digest(bytes.data(), bytes.size(), digest, &size, EVP_sha256(), nullptr), 1);
  bytes.append(reinterpret_cast<const char*>(digest), kDigestSize);
  return bytes;
}

class SnapshotTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char pattern[] = "/tmp/twincache-snapshot-XXXXXX";
    ASSERT_NE(mkdtemp(pattern), nullptr);
    dir_ = pattern;
    path_ = dir_ + "/state";
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }

  StoreOptions Options(uint64_t node_id = 7) {
    StoreOptions options;
    options.clock = &clock_;
    options.node_id = node_id;
    options.keep_tombstones = true;
    options.shard_bits = 2;
    return options;
  }

  SnapshotMeta Meta() {
    SnapshotMeta meta;
    meta.node_id = 7;
    meta.identity = std::string(kIdentity);
    meta.stream.replid.fill(0xab);
    meta.stream.offset = 1234;
    meta.stream.peer_replid.fill(0xcd);
    meta.stream.applied_offset = 987;
    return meta;
  }

  // A store with items of every kind, a tombstone and a flush point, saved.
  void SaveSample(Store* store) {
    ASSERT_EQ(store->StoreItem(StoreMode::kSet, "plain", "value", 5, 0, {}, nullptr), StoreStatus::kStored);
    ASSERT_EQ(store->StoreItem(StoreMode::kSet, "expiring", "soon", 0, kStartSeconds + 100, {}, nullptr),
              StoreStatus::kStored);
    ASSERT_EQ(store->StoreItem(StoreMode::kSet, "empty", "", 0xffffffffu, 0, {}, nullptr),
              StoreStatus::kStored);
    ASSERT_EQ(store->StoreItem(StoreMode::kSet, "touched", "t", 1, 0, {}, nullptr), StoreStatus::kStored);
    ASSERT_TRUE(store->Touch("touched", kStartSeconds + 500));
    ASSERT_EQ(store->StoreItem(StoreMode::kSet, "stale", "s", 0, 0, {}, nullptr), StoreStatus::kStored);
    ASSERT_EQ(store->Invalidate("stale", {}), DeleteStatus::kDeleted);
    ASSERT_EQ(store->StoreItem(StoreMode::kSet, "gone", "x", 0, 0, {}, nullptr), StoreStatus::kStored);
    ASSERT_EQ(store->Delete("gone"), DeleteStatus::kDeleted);
    Record remote;
    remote.kind = RecordKind::kSet;
    remote.hlc = store->NextVersion() + 5;
    remote.origin = 99;
    remote.key = "remote";
    const std::string remote_value(3000, 'r');  // the record views it
    remote.value = remote_value;
    remote.exptime_version = remote.hlc;
    ASSERT_EQ(store->Apply(remote), ApplyStatus::kApplied);
    store->FlushAll(kStartMillis + 3'600'000);  // delayed an hour: pending across the restart
    std::string error;
    SnapshotCounts counts;
    ASSERT_TRUE(SaveSnapshot(path_, store, Meta(), &counts, &error)) << error;
    EXPECT_EQ(counts.items, 6u);
    EXPECT_EQ(counts.tombstones, 1u);
    EXPECT_EQ(counts.file_bytes, std::filesystem::file_size(path_));
  }

  // Opens path_ as a load would: the status and the reason.
  SnapshotFile::OpenStatus Open(std::string* error, std::string_view identity = kIdentity) {
    SnapshotFile file;
    return file.Open(path_, identity, error);
  }

  ManualClock clock_{kStartMillis};
  std::string dir_;
  std::string path_;
};

TEST_F(SnapshotTest, RoundTripKeepsEveryItemTombstoneFlushAndIdentity) {
  Store saved(Options());
  SaveSample(&saved);
  EXPECT_FALSE(std::filesystem::exists(path_ + ".tmp"));

  SnapshotFile file;
  std::string error;
  ASSERT_EQ(file.Open(path_, kIdentity, &error), SnapshotFile::OpenStatus::kOk) << error;
  EXPECT_FALSE(std::filesystem::exists(path_)) << "the file is consumed when opened";
  const SnapshotMeta& meta = file.meta();
  EXPECT_EQ(meta.node_id, 7u);
  EXPECT_EQ(meta.identity, kIdentity);
  EXPECT_EQ(meta.stream.replid, Meta().stream.replid);
  EXPECT_EQ(meta.stream.offset, 1234u);
  EXPECT_EQ(meta.stream.peer_replid, Meta().stream.peer_replid);
  EXPECT_EQ(meta.stream.applied_offset, 987u);
  EXPECT_GT(meta.saved_at_ms, 0);

  Store loaded(Options());
  SnapshotCounts counts;
  file.LoadInto(&loaded, &counts);
  EXPECT_EQ(counts.items, 6u);
  EXPECT_EQ(counts.tombstones, 1u);
  EXPECT_EQ(counts.dropped, 0u);
  EXPECT_EQ(counts.not_fitting, 0u);
  EXPECT_EQ(Dump(&loaded), Dump(&saved));
  EXPECT_EQ(loaded.GetStats().curr_items, 6u);
  EXPECT_EQ(loaded.GetStats().tombstones, 1u);

  // The HLC moved past every loaded version: a new write is newer.
  uint64_t cas = 0;
  ASSERT_EQ(loaded.StoreItem(StoreMode::kSet, "new", "n", 0, 0, {}, &cas), StoreStatus::kStored);
  for (const auto& [key, entry] : Dump(&saved)) {
    EXPECT_GT(cas, std::get<3>(entry)) << key;
  }
  // The pending flush came along: it empties the store when its time comes.
  clock_.Advance(3'600'001);
  EXPECT_FALSE(loaded.Get("plain", {}, [](const ItemView&) {}));
  EXPECT_FALSE(loaded.Get("new", {}, [](const ItemView&) {}));
}

TEST_F(SnapshotTest, EmptyStoreRoundTrips) {
  Store saved(Options());
  std::string error;
  ASSERT_TRUE(SaveSnapshot(path_, &saved, Meta(), nullptr, &error)) << error;
  SnapshotFile file;
  ASSERT_EQ(file.Open(path_, kIdentity, &error), SnapshotFile::OpenStatus::kOk) << error;
  Store loaded(Options());
  SnapshotCounts counts;
  file.LoadInto(&loaded, &counts);
  EXPECT_EQ(counts.items, 0u);
  EXPECT_TRUE(Dump(&loaded).empty());
}

TEST_F(SnapshotTest, LoadDropsWhatExpiredWhileDown) {
  Store saved(Options());
  SaveSample(&saved);
  clock_.Advance(200'000);  // past "expiring" (100 s), not "touched" (500 s)
  SnapshotFile file;
  std::string error;
  ASSERT_EQ(file.Open(path_, kIdentity, &error), SnapshotFile::OpenStatus::kOk) << error;
  Store loaded(Options());
  SnapshotCounts counts;
  file.LoadInto(&loaded, &counts);
  EXPECT_EQ(counts.items, 5u);
  EXPECT_EQ(counts.dropped, 1u);
  EXPECT_FALSE(loaded.Get("expiring", {}, [](const ItemView&) {}));
  EXPECT_TRUE(loaded.Get("touched", {}, [](const ItemView&) {}));
}

TEST_F(SnapshotTest, TombstonesNeedReplication) {
  Store saved(Options());
  SaveSample(&saved);
  SnapshotFile file;
  std::string error;
  ASSERT_EQ(file.Open(path_, kIdentity, &error), SnapshotFile::OpenStatus::kOk) << error;
  StoreOptions standalone = Options();
  standalone.keep_tombstones = false;
  Store loaded(standalone);
  SnapshotCounts counts;
  file.LoadInto(&loaded, &counts);
  EXPECT_EQ(counts.items, 6u);
  EXPECT_EQ(counts.tombstones, 0u);
  EXPECT_EQ(loaded.GetStats().tombstones, 0u);
}

TEST_F(SnapshotTest, FileLargerThanTheMemoryLimitLoadsWhatFits) {
  StoreOptions big = Options();
  big.limit_bytes = 64u << 20;
  Store saved(big);
  const std::string value(10'000, 'v');
  for (int i = 0; i < 1000; ++i) {
    ASSERT_EQ(saved.StoreItem(StoreMode::kSet, "key" + std::to_string(i), value, 0, 0, {}, nullptr),
              StoreStatus::kStored);
  }
  std::string error;
  ASSERT_TRUE(SaveSnapshot(path_, &saved, Meta(), nullptr, &error)) << error;
  SnapshotFile file;
  ASSERT_EQ(file.Open(path_, kIdentity, &error), SnapshotFile::OpenStatus::kOk) << error;
  StoreOptions small = Options();
  small.limit_bytes = 2u << 20;
  Store loaded(small);
  SnapshotCounts counts;
  file.LoadInto(&loaded, &counts);
  EXPECT_GT(counts.items, 100u);
  EXPECT_GT(counts.not_fitting, 0u);
  EXPECT_EQ(counts.items + counts.not_fitting, 1000u);
  EXPECT_LE(loaded.GetStats().bytes, small.limit_bytes);
  EXPECT_EQ(loaded.GetStats().evictions, 0u) << "a load never evicts what it loaded";
}

TEST_F(SnapshotTest, AbsentFileIsAColdStart) {
  std::string error;
  EXPECT_EQ(Open(&error), SnapshotFile::OpenStatus::kAbsent);
}

TEST_F(SnapshotTest, SaveIntoAMissingDirectoryFailsAndLeavesNothing) {
  Store saved(Options());
  std::string error;
  EXPECT_FALSE(SaveSnapshot(dir_ + "/missing/state", &saved, Meta(), nullptr, &error));
  EXPECT_NE(error.find("cannot create"), std::string::npos) << error;
}

TEST_F(SnapshotTest, SaveReplacesAnOlderFileWhole) {
  Store first(Options());
  ASSERT_EQ(first.StoreItem(StoreMode::kSet, "old", "1", 0, 0, {}, nullptr), StoreStatus::kStored);
  std::string error;
  ASSERT_TRUE(SaveSnapshot(path_, &first, Meta(), nullptr, &error)) << error;
  Store second(Options());
  ASSERT_EQ(second.StoreItem(StoreMode::kSet, "new", "2", 0, 0, {}, nullptr), StoreStatus::kStored);
  ASSERT_TRUE(SaveSnapshot(path_, &second, Meta(), nullptr, &error)) << error;
  SnapshotFile file;
  ASSERT_EQ(file.Open(path_, kIdentity, &error), SnapshotFile::OpenStatus::kOk) << error;
  Store loaded(Options());
  file.LoadInto(&loaded, nullptr);
  EXPECT_EQ(Dump(&loaded), Dump(&second));
}

TEST_F(SnapshotTest, EveryFlippedByteIsRefusedWhole) {
  Store saved(Options());
  ASSERT_EQ(saved.StoreItem(StoreMode::kSet, "k", "value", 3, 0, {}, nullptr), StoreStatus::kStored);
  ASSERT_EQ(saved.StoreItem(StoreMode::kSet, "gone", "x", 0, 0, {}, nullptr), StoreStatus::kStored);
  ASSERT_EQ(saved.Delete("gone"), DeleteStatus::kDeleted);
  std::string error;
  ASSERT_TRUE(SaveSnapshot(path_, &saved, Meta(), nullptr, &error)) << error;
  const std::string good = ReadFile(path_);
  for (size_t i = 0; i < good.size(); ++i) {
    std::string bad = good;
    bad[i] = static_cast<char>(bad[i] ^ 0x01);
    WriteFile(path_, bad);
    error.clear();
    ASSERT_EQ(Open(&error), SnapshotFile::OpenStatus::kRefused) << "byte " << i;
    EXPECT_FALSE(error.empty());
    EXPECT_FALSE(std::filesystem::exists(path_)) << "a refused file is consumed too";
  }
}

TEST_F(SnapshotTest, EveryTruncationIsRefused) {
  Store saved(Options());
  SaveSample(&saved);
  const std::string good = ReadFile(path_);
  for (size_t size = 0; size < good.size(); size += (size < 300 ? 1 : 97)) {
    WriteFile(path_, good.substr(0, size));
    std::string error;
    ASSERT_EQ(Open(&error), SnapshotFile::OpenStatus::kRefused) << "size " << size;
  }
}

TEST_F(SnapshotTest, TrailingBytesAreRefused) {
  Store saved(Options());
  SaveSample(&saved);
  WriteFile(path_, ReadFile(path_) + "x");
  std::string error;
  EXPECT_EQ(Open(&error), SnapshotFile::OpenStatus::kRefused);
}

TEST_F(SnapshotTest, OtherFormatVersionIsRefusedByItsVersion) {
  Store saved(Options());
  SaveSample(&saved);
  std::string bytes = ReadFile(path_);
  bytes[8] = 2;  // u32 format version, little-endian
  WriteFile(path_, Resealed(bytes));
  std::string error;
  EXPECT_EQ(Open(&error), SnapshotFile::OpenStatus::kRefused);
  EXPECT_EQ(error, "format version 2, this build reads 1");
}

TEST_F(SnapshotTest, BadMagicIsRefused) {
  WriteFile(path_, std::string(200, 'x'));
  std::string error;
  EXPECT_EQ(Open(&error), SnapshotFile::OpenStatus::kRefused);
  EXPECT_NE(error.find("bad magic"), std::string::npos) << error;
}

TEST_F(SnapshotTest, AnotherNodesFileIsRefused) {
  Store saved(Options());
  SaveSample(&saved);
  std::string error;
  EXPECT_EQ(Open(&error, "port=11311 peer=192.0.2.2:11212"), SnapshotFile::OpenStatus::kRefused);
  EXPECT_NE(error.find("another node"), std::string::npos) << error;
}

TEST_F(SnapshotTest, ShapeErrorsUnderAValidChecksumAreRefused) {
  Store saved(Options());
  ASSERT_EQ(saved.StoreItem(StoreMode::kSet, "k", "value", 3, 0, {}, nullptr), StoreStatus::kStored);
  std::string error;
  ASSERT_TRUE(SaveSnapshot(path_, &saved, Meta(), nullptr, &error)) << error;
  const std::string good = ReadFile(path_);
  const size_t header = 16 + 90 + kIdentity.size();  // fixed header, body
  ASSERT_EQ(good[header], 1) << "the first entry is an item";
  const size_t end = good.size() - kDigestSize - 17;
  ASSERT_EQ(static_cast<uint8_t>(good[end]), 0xff) << "the end marker";
  struct Case {
    const char* name;
    size_t at;
    char byte;
  };
  const Case cases[] = {
      {"unknown entry kind", header, 9},  {"unknown item bits", header + 1, 4},
      {"key length 0", header + 2, 0},    {"value running past the file", header + 42, 0x7f},
      {"end count of items", end + 1, 2}, {"header length", 12, 3},
  };
  for (const Case& c : cases) {
    std::string bad = good;
    bad[c.at] = c.byte;
    WriteFile(path_, Resealed(bad));
    error.clear();
    EXPECT_EQ(Open(&error), SnapshotFile::OpenStatus::kRefused) << c.name;
  }
}

}  // namespace
}  // namespace twincache
