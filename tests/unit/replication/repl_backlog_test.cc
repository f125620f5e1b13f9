// Tests for the replication backlog ring.
#include "core/replication/repl_backlog.h"

#include <gtest/gtest.h>

#include <cstdint>
#include <cstdio>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "core/replication/repl_frame.h"

namespace twincache {
namespace {

constexpr size_t kMaxFrame = MaxFrameFor(1u << 20);

// A DELETE of a 6-byte key: every such frame is kDeleteFrameSize bytes.
constexpr size_t kDeleteFrameSize = 4 + 1 + 8 + 17 + 1 + 6;

std::string KeyOf(int i) {
  char key[16];
  std::snprintf(key, sizeof(key), "k%05d", i);
  return key;
}

Record Delete(const std::string& key) {
  Record r;
  r.kind = RecordKind::kDelete;
  r.hlc = 1000;
  r.origin = 1;
  r.key = key;
  return r;
}

Record Set(const std::string& key, const std::string& value) {
  Record r;
  r.kind = RecordKind::kSet;
  r.hlc = 2000;
  r.origin = 1;
  r.key = key;
  r.value = value;
  r.exptime_version = r.hlc;
  return r;
}

struct Decoded {
  uint64_t offset;
  std::string key;
  std::string value;
};

// Decodes a run of RECORD frames, failing the test on anything else.
std::vector<Decoded> DecodeAll(std::string_view bytes) {
  std::vector<Decoded> out;
  while (!bytes.empty()) {
    Frame f;
    const DecodeResult result = DecodeFrame(bytes, kMaxFrame, &f);
    EXPECT_EQ(result.status, DecodeStatus::kFrame) << result.reason();
    if (result.status != DecodeStatus::kFrame) break;
    EXPECT_EQ(f.type, FrameType::kRecord);
    out.push_back({f.record_offset, std::string(f.record.key), std::string(f.record.value)});
    bytes.remove_prefix(result.consumed);
  }
  return out;
}

TEST(ReplBacklogTest, EmptyBacklog) {
  Backlog backlog(1024);
  EXPECT_EQ(backlog.capacity_bytes(), 1024u);
  EXPECT_EQ(backlog.last_offset(), 0u);
  EXPECT_EQ(backlog.first_offset(), 0u);
  EXPECT_EQ(backlog.used_bytes(), 0u);
  EXPECT_FALSE(backlog.Contains(0));
  EXPECT_FALSE(backlog.Contains(1));
  std::string out;
  uint64_t last = 99;
  EXPECT_EQ(backlog.CopyFrom(1, 1024, &out, &last), 0u);
  EXPECT_EQ(last, 99u);
  EXPECT_TRUE(out.empty());
  EXPECT_EQ(backlog.AppendTimeOf(1), -1);
}

TEST(ReplBacklogTest, OffsetsStartAtOneAndFramesDecode) {
  Backlog backlog(1 << 16);
  const std::string value("\0\r\nv", 4);
  EXPECT_EQ(backlog.Append(Set("a", value), 10), 1u);
  EXPECT_EQ(backlog.Append(Delete("bb"), 11), 2u);
  EXPECT_EQ(backlog.Append(Set("c", ""), 12), 3u);
  EXPECT_EQ(backlog.first_offset(), 1u);
  EXPECT_EQ(backlog.last_offset(), 3u);
  EXPECT_TRUE(backlog.Contains(1));
  EXPECT_TRUE(backlog.Contains(3));
  EXPECT_FALSE(backlog.Contains(0));
  EXPECT_FALSE(backlog.Contains(4));

  std::string out = "kept";
  uint64_t last = 0;
  EXPECT_EQ(backlog.CopyFrom(1, 1 << 16, &out, &last), 3u);
  EXPECT_EQ(last, 3u);
  ASSERT_EQ(out.substr(0, 4), "kept");
  EXPECT_EQ(backlog.used_bytes(), out.size() - 4);
  const std::vector<Decoded> frames = DecodeAll(std::string_view(out).substr(4));
  ASSERT_EQ(frames.size(), 3u);
  EXPECT_EQ(frames[0].offset, 1u);
  EXPECT_EQ(frames[0].key, "a");
  EXPECT_EQ(frames[0].value, value);
  EXPECT_EQ(frames[1].offset, 2u);
  EXPECT_EQ(frames[1].key, "bb");
  EXPECT_EQ(frames[2].offset, 3u);
  EXPECT_EQ(frames[2].value, "");

  // The frames are exactly what AppendRecord produces.
  std::string expected;
  AppendRecord(2, Delete("bb"), &expected);
  out.clear();
  EXPECT_EQ(backlog.CopyFrom(2, 1, &out, &last), 1u);
  EXPECT_EQ(out, expected);
}

// A stream resumed by a warm restart goes on after its saved offset; only
// a peer holding exactly that offset can be partially synced at first.
TEST(ReplBacklogTest, StartAfterContinuesAResumedStream) {
  Backlog backlog(1 << 16);
  backlog.StartAfter(500);
  EXPECT_EQ(backlog.last_offset(), 500u);
  EXPECT_EQ(backlog.first_offset(), 0u);
  EXPECT_FALSE(backlog.Contains(500));
  EXPECT_EQ(backlog.Append(Set("a", "1"), 10), 501u);
  EXPECT_EQ(backlog.first_offset(), 501u);
  EXPECT_TRUE(backlog.Contains(501));
  EXPECT_FALSE(backlog.Contains(500));
  std::string out;
  uint64_t last = 0;
  EXPECT_EQ(backlog.CopyFrom(501, 1 << 16, &out, &last), 1u);
  EXPECT_EQ(last, 501u);
  backlog.StartAfter(9);  // ignored once records were appended
  EXPECT_EQ(backlog.last_offset(), 501u);
}

TEST(ReplBacklogTest, EvictsOldestAtCapacity) {
  Backlog backlog(3 * kDeleteFrameSize);
  for (int i = 1; i <= 3; ++i) backlog.Append(Delete(KeyOf(i)), i);
  EXPECT_EQ(backlog.first_offset(), 1u);
  EXPECT_EQ(backlog.used_bytes(), 3 * kDeleteFrameSize);
  backlog.Append(Delete(KeyOf(4)), 4);
  EXPECT_EQ(backlog.first_offset(), 2u);
  EXPECT_EQ(backlog.last_offset(), 4u);
  EXPECT_EQ(backlog.used_bytes(), 3 * kDeleteFrameSize);
  EXPECT_FALSE(backlog.Contains(1));
  EXPECT_TRUE(backlog.Contains(2));
  // A frame the size of two evicts two.
  const std::string value(2 * kDeleteFrameSize - (kDeleteFrameSize + 4 + 8 + 8 + 4), 'v');
  backlog.Append(Set(KeyOf(5), value), 5);
  EXPECT_EQ(backlog.used_bytes(), 3 * kDeleteFrameSize);
  EXPECT_EQ(backlog.first_offset(), 4u);
  EXPECT_LE(backlog.used_bytes(), backlog.capacity_bytes());
}

TEST(ReplBacklogTest, CopyFromAcrossEvictionAndRingWrap) {
  // A capacity that is not a multiple of the frame size, so frames wrap the ring.
  Backlog backlog(10 * kDeleteFrameSize + 7);
  for (int i = 1; i <= 1000; ++i) {
    backlog.Append(Delete(KeyOf(i)), i);
    const uint64_t first = backlog.first_offset();
    ASSERT_EQ(backlog.last_offset(), static_cast<uint64_t>(i));
    ASSERT_EQ(first, i <= 10 ? 1u : static_cast<uint64_t>(i - 9));
    // Everything held copies out intact, from any held offset.
    for (uint64_t from = first; from <= static_cast<uint64_t>(i); from += 3) {
      std::string out;
      uint64_t last = 0;
      const size_t n = backlog.CopyFrom(from, 1 << 20, &out, &last);
      ASSERT_EQ(n, static_cast<size_t>(i) - from + 1);
      ASSERT_EQ(last, static_cast<uint64_t>(i));
      const std::vector<Decoded> frames = DecodeAll(out);
      ASSERT_EQ(frames.size(), n);
      for (size_t j = 0; j < n; ++j) {
        ASSERT_EQ(frames[j].offset, from + j);
        ASSERT_EQ(frames[j].key, KeyOf(static_cast<int>(from + j)));
      }
    }
    std::string out;
    uint64_t last = 0;
    if (first > 1) {
      EXPECT_EQ(backlog.CopyFrom(first - 1, 1 << 20, &out, &last), 0u);
    }
    EXPECT_EQ(backlog.CopyFrom(i + 1, 1 << 20, &out, &last), 0u);
  }
}

TEST(ReplBacklogTest, CopyFromStopsAtWholeFrames) {
  Backlog backlog(1 << 16);
  for (int i = 1; i <= 10; ++i) backlog.Append(Delete(KeyOf(i)), i);
  std::string out;
  uint64_t last = 0;
  EXPECT_EQ(backlog.CopyFrom(3, 3 * kDeleteFrameSize + 5, &out, &last), 3u);
  EXPECT_EQ(last, 5u);
  EXPECT_EQ(out.size(), 3 * kDeleteFrameSize);
  out.clear();
  EXPECT_EQ(backlog.CopyFrom(3, 3 * kDeleteFrameSize, &out, &last), 3u);
  out.clear();
  // At least one frame, even when it does not fit.
  EXPECT_EQ(backlog.CopyFrom(4, 0, &out, &last), 1u);
  EXPECT_EQ(last, 4u);
  EXPECT_EQ(DecodeAll(out)[0].key, KeyOf(4));
}

TEST(ReplBacklogTest, OversizeRecordIsHeldAlone) {
  Backlog backlog(4 * kDeleteFrameSize);
  backlog.Append(Delete(KeyOf(1)), 1);
  backlog.Append(Delete(KeyOf(2)), 2);
  const std::string big(1000, 'B');
  EXPECT_EQ(backlog.Append(Set("big", big), 3), 3u);
  EXPECT_EQ(backlog.first_offset(), 3u);
  EXPECT_EQ(backlog.last_offset(), 3u);
  EXPECT_GT(backlog.used_bytes(), backlog.capacity_bytes());
  std::string out;
  uint64_t last = 0;
  ASSERT_EQ(backlog.CopyFrom(3, 10, &out, &last), 1u);
  EXPECT_EQ(DecodeAll(out)[0].value, big);
  // The next record evicts it and the backlog is back within capacity, in the
  // grown ring, wrapping as usual.
  for (int i = 4; i <= 200; ++i) {
    backlog.Append(Delete(KeyOf(i)), i);
    ASSERT_LE(backlog.used_bytes(), backlog.capacity_bytes());
  }
  EXPECT_EQ(backlog.first_offset(), 197u);
  out.clear();
  ASSERT_EQ(backlog.CopyFrom(197, 1 << 20, &out, &last), 4u);
  const std::vector<Decoded> frames = DecodeAll(out);
  ASSERT_EQ(frames.size(), 4u);
  EXPECT_EQ(frames[3].key, KeyOf(200));
  // A second oversize record, larger than the grown ring.
  const std::string bigger(5000, 'C');
  backlog.Append(Set("bigger", bigger), 201);
  out.clear();
  ASSERT_EQ(backlog.CopyFrom(201, 0, &out, &last), 1u);
  EXPECT_EQ(DecodeAll(out)[0].value, bigger);
}

TEST(ReplBacklogTest, AppendTimes) {
  Backlog backlog(2 * kDeleteFrameSize);
  backlog.Append(Delete(KeyOf(1)), 1000);
  backlog.Append(Delete(KeyOf(2)), 1005);
  EXPECT_EQ(backlog.AppendTimeOf(1), 1000);
  EXPECT_EQ(backlog.AppendTimeOf(2), 1005);
  EXPECT_EQ(backlog.AppendTimeOf(3), -1);
  backlog.Append(Delete(KeyOf(3)), 1010);
  EXPECT_EQ(backlog.AppendTimeOf(1), -1);
  EXPECT_EQ(backlog.AppendTimeOf(2), 1005);
  EXPECT_EQ(backlog.AppendTimeOf(3), 1010);
  EXPECT_EQ(backlog.AppendTimeOf(0), -1);
}

TEST(ReplBacklogTest, IndexGrowsWhileWrapped) {
  // Hold ~300 records, so the index doubles several times with its head
  // somewhere in the middle.
  Backlog backlog(300 * kDeleteFrameSize);
  for (int i = 1; i <= 2000; ++i) backlog.Append(Delete(KeyOf(i % 100000)), i);
  EXPECT_EQ(backlog.first_offset(), 1701u);
  for (uint64_t offset = 1701; offset <= 2000; ++offset)
    ASSERT_EQ(backlog.AppendTimeOf(offset), static_cast<int64_t>(offset));
  std::string out;
  uint64_t last = 0;
  ASSERT_EQ(backlog.CopyFrom(1701, 1 << 20, &out, &last), 300u);
  const std::vector<Decoded> frames = DecodeAll(out);
  ASSERT_EQ(frames.size(), 300u);
  for (size_t j = 0; j < frames.size(); ++j) ASSERT_EQ(frames[j].offset, 1701 + j);
}

TEST(ReplBacklogTest, ConcurrentAppendsGetUniqueContiguousOffsets) {
  constexpr int kThreads = 4;
  constexpr int kPerThread = 5000;
  Backlog backlog(kThreads * kPerThread * kDeleteFrameSize);
  std::vector<std::vector<uint64_t>> offsets(kThreads);
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&backlog, &offsets, t] {
      for (int i = 0; i < kPerThread; ++i) {
        // Key "<thread><seq>": 6 bytes, so every frame has the same size.
        char key[16];
        std::snprintf(key, sizeof(key), "%d%05d", t, i);
        offsets[t].push_back(backlog.Append(Delete(key), i));
      }
    });
  }
  for (std::thread& thread : threads) thread.join();

  std::vector<bool> seen(kThreads * kPerThread + 1, false);
  for (const std::vector<uint64_t>& mine : offsets) {
    for (size_t i = 0; i < mine.size(); ++i) {
      ASSERT_GE(mine[i], 1u);
      ASSERT_LE(mine[i], static_cast<uint64_t>(kThreads * kPerThread));
      ASSERT_FALSE(seen[mine[i]]);
      seen[mine[i]] = true;
      if (i > 0) {
        ASSERT_LT(mine[i - 1], mine[i]);  // a thread's records stay in its order
      }
    }
  }
  EXPECT_EQ(backlog.first_offset(), 1u);
  EXPECT_EQ(backlog.last_offset(), static_cast<uint64_t>(kThreads * kPerThread));

  // Each frame carries the offset its writer was given.
  std::string out;
  uint64_t last = 0;
  ASSERT_EQ(backlog.CopyFrom(1, SIZE_MAX, &out, &last), static_cast<size_t>(kThreads * kPerThread));
  const std::vector<Decoded> frames = DecodeAll(out);
  ASSERT_EQ(frames.size(), static_cast<size_t>(kThreads * kPerThread));
  for (const Decoded& d : frames) {
    const int t = d.key[0] - '0';
    const int i = std::stoi(d.key.substr(1));
    ASSERT_EQ(offsets[t][i], d.offset);
  }
}

}  // namespace
}  // namespace twincache
