// Unit tests for SlabAllocator (core/store/slab_allocator.h): size classes,
// the page limit, free lists, one-slot pages and the CLOCK hand.
#include "core/store/slab_allocator.h"

#include <gtest/gtest.h>

#include <cstring>
#include <set>
#include <vector>

namespace twincache {
namespace store_internal {
namespace {

constexpr size_t kPage = 64 * 1024;

TEST(SlabAllocatorTest, ClassesAreFineThenGeometricAndHoldTheirSize) {
  SlabAllocator slabs(kPage * 16, 36, 1 << 20, kPage);
  EXPECT_EQ(slabs.SlotSize(0), 40u);
  EXPECT_EQ(slabs.ClassFor(1), 0);
  EXPECT_EQ(slabs.ClassFor(40), 0);
  EXPECT_EQ(slabs.SlotSize(slabs.ClassFor(41)), 48u);
  EXPECT_EQ(slabs.SlotSize(slabs.ClassFor(166)), 168u);  // 36-byte header + 30-byte key + 100-byte value
  size_t previous = 0;
  for (int cls = 0; cls < slabs.class_count(); ++cls) {
    const size_t size = slabs.SlotSize(cls);
    EXPECT_GT(size, previous);
    EXPECT_EQ(size % 8, 0u);
    if (previous >= SlabAllocator::kFineMax) {
      EXPECT_LE(size, previous * 9 / 8 + 8) << cls;
    } else if (previous != 0) {
      EXPECT_EQ(size, previous + 8) << cls;
    }
    previous = size;
  }
  EXPECT_GE(previous, size_t{1} << 20);
  EXPECT_EQ(slabs.ClassFor(previous + 1), -1);
  for (size_t bytes : {1u, 39u, 200u, 511u, 513u, 4000u, 70000u, 1000000u}) {
    const int cls = slabs.ClassFor(bytes);
    ASSERT_GE(cls, 0) << bytes;
    EXPECT_GE(slabs.SlotSize(cls), bytes);
    if (cls > 0) {
      EXPECT_LT(slabs.SlotSize(cls - 1), bytes);
    }
  }
}

TEST(SlabAllocatorTest, PagesStayWithinTheLimitButTheFirstIsAlwaysGranted) {
  SlabAllocator slabs(2 * kPage, 40, 4096, kPage);
  const int cls = slabs.ClassFor(1000);
  const size_t per_page = kPage / slabs.SlotSize(cls);
  std::vector<void*> slots;
  {
    auto lock = slabs.Lock(cls);
    while (void* slot = slabs.Allocate(cls)) {
      std::memset(slot, 0xab, slabs.SlotSize(cls));
      slots.push_back(slot);
      ASSERT_LE(slots.size(), 3 * per_page);
    }
  }
  EXPECT_EQ(slots.size(), 2 * per_page);
  EXPECT_EQ(slabs.page_bytes(), 2 * kPage);
  EXPECT_EQ(slabs.UsedBytes(cls), slots.size() * slabs.SlotSize(cls));
  EXPECT_EQ(std::set<void*>(slots.begin(), slots.end()).size(), slots.size());
  // Another class has no page yet: it gets one past the limit, then no more.
  const int other = slabs.ClassFor(100);
  auto lock = slabs.Lock(other);
  size_t other_slots = 0;
  while (slabs.Allocate(other) != nullptr) {
    ++other_slots;
    ASSERT_LE(other_slots, kPage);
  }
  EXPECT_EQ(other_slots, kPage / slabs.SlotSize(other));
  EXPECT_EQ(slabs.page_bytes(), 3 * kPage);
}

TEST(SlabAllocatorTest, FreedSlotsAreReused) {
  SlabAllocator slabs(kPage, 40, 4096, kPage);
  const int cls = slabs.ClassFor(64);
  auto lock = slabs.Lock(cls);
  void* a = slabs.Allocate(cls);
  void* b = slabs.Allocate(cls);
  ASSERT_NE(a, nullptr);
  ASSERT_NE(b, nullptr);
  slabs.Free(cls, a);
  EXPECT_EQ(slabs.UsedBytes(cls), slabs.SlotSize(cls));
  EXPECT_EQ(slabs.Allocate(cls), a);
  EXPECT_EQ(slabs.SlotCount(cls), 2u);
}

TEST(SlabAllocatorTest, OneSlotPagesAreReleasedWithTheirSlot) {
  SlabAllocator slabs(kPage * 4, 40, 3 * kPage, kPage);
  const int cls = slabs.ClassFor(kPage);  // larger than half a page
  ASSERT_GE(cls, 0);
  auto lock = slabs.Lock(cls);
  void* a = slabs.Allocate(cls);
  void* b = slabs.Allocate(cls);
  ASSERT_NE(a, nullptr);
  ASSERT_NE(b, nullptr);
  EXPECT_EQ(slabs.page_bytes(), 2 * slabs.SlotSize(cls));
  EXPECT_EQ(slabs.SlotCount(cls), 2u);
  slabs.Free(cls, a);
  EXPECT_EQ(slabs.page_bytes(), slabs.SlotSize(cls));
  EXPECT_EQ(slabs.SlotCount(cls), 1u);
  EXPECT_EQ(slabs.NextSlot(cls), b);
  EXPECT_EQ(slabs.NextSlot(cls), b);
  slabs.Free(cls, b);
  EXPECT_EQ(slabs.page_bytes(), 0u);
  EXPECT_EQ(slabs.NextSlot(cls), nullptr);
}

TEST(SlabAllocatorTest, TheHandVisitsEveryCarvedSlotOncePerTurn) {
  SlabAllocator slabs(kPage * 8, 40, 4096, kPage);
  const int cls = slabs.ClassFor(3000);
  auto lock = slabs.Lock(cls);
  EXPECT_EQ(slabs.NextSlot(cls), nullptr);
  std::vector<void*> slots;
  for (int i = 0; i < 50; ++i) slots.push_back(slabs.Allocate(cls));  // 21 per page: 3 pages
  ASSERT_EQ(slabs.SlotCount(cls), 50u);
  for (int turn = 0; turn < 3; ++turn) {
    for (int i = 0; i < 50; ++i) EXPECT_EQ(slabs.NextSlot(cls), slots[i]) << turn << " " << i;
  }
  slots.push_back(slabs.Allocate(cls));  // carved where the hand stands: visited next
  EXPECT_EQ(slabs.NextSlot(cls), slots[50]);
  for (int i = 0; i < 51; ++i) EXPECT_EQ(slabs.NextSlot(cls), slots[i]) << i;
}

TEST(SlabAllocatorTest, APageMovesBetweenClassesOfTheSamePageSize) {
  SlabAllocator slabs(2 * kPage, 40, 4096, kPage);
  const int from = slabs.ClassFor(100);
  const int to = slabs.ClassFor(1000);
  std::vector<void*> first_page;
  char* page = nullptr;
  {
    auto lock = slabs.Lock(from);
    const size_t per_page = kPage / slabs.SlotSize(from);
    std::vector<void*> slots;
    for (size_t i = 0; i < per_page + 3; ++i) slots.push_back(slabs.Allocate(from));  // 2 pages
    ASSERT_EQ(slabs.PageCount(from), 2u);
    page = slabs.RemovablePage(from);  // the hand's page: the first
    first_page = slabs.SlotsOf(from, page);
    ASSERT_EQ(first_page.size(), per_page);
    EXPECT_EQ(first_page.front(), page);
    // Free the page's slots and a slot of the other page, then take the page out.
    for (void* slot : first_page) slabs.Free(from, slot);
    slabs.Free(from, slots.back());
    slabs.RemovePage(from, page);
    EXPECT_EQ(slabs.PageCount(from), 1u);
    EXPECT_EQ(slabs.SlotCount(from), 3u);
    EXPECT_EQ(slabs.UsedBytes(from), 2 * slabs.SlotSize(from));
    // Only the other page's free slot is left on the free list, then carving goes on.
    EXPECT_EQ(slabs.Allocate(from), slots.back());
    void* carved = slabs.Allocate(from);
    EXPECT_EQ(static_cast<char*>(carved), static_cast<char*>(slots[per_page]) + 3 * slabs.SlotSize(from));
  }
  EXPECT_EQ(slabs.page_bytes(), 2 * kPage);  // still counted while it moves
  auto lock = slabs.Lock(to);
  void* before = slabs.Allocate(to);  // the class's first page
  slabs.AddPage(to, page);
  EXPECT_EQ(slabs.PageCount(to), 2u);
  std::set<void*> from_moved;
  for (size_t i = 0; i < kPage / slabs.SlotSize(to); ++i) {
    void* slot = slabs.Allocate(to);
    ASSERT_NE(slot, nullptr);
    from_moved.insert(slot);
    EXPECT_GE(static_cast<char*>(slot), page);
    EXPECT_LT(static_cast<char*>(slot), page + kPage);
  }
  EXPECT_EQ(from_moved.size(), kPage / slabs.SlotSize(to));
  EXPECT_NE(slabs.Allocate(to), nullptr);  // then the first page's carving goes on
  EXPECT_NE(before, nullptr);
}

TEST(SlabAllocatorTest, UsageCountsPagesUsedSlotsAndTheUncarvedEnd) {
  SlabAllocator slabs(kPage * 8, 40, 3 * kPage, kPage);
  const int cls = slabs.ClassFor(100);
  SlabClassUsage usage = slabs.Usage(cls);
  EXPECT_EQ(usage.slot_size, slabs.SlotSize(cls));
  EXPECT_EQ(usage.slots_per_page, kPage / slabs.SlotSize(cls));
  EXPECT_EQ(usage.pages, 0u);
  EXPECT_EQ(usage.used_slots, 0u);
  EXPECT_EQ(usage.uncarved_slots, 0u);
  const size_t per_page = usage.slots_per_page;
  std::vector<void*> slots;
  {
    auto lock = slabs.Lock(cls);
    for (size_t i = 0; i < per_page + 3; ++i) slots.push_back(slabs.Allocate(cls));
    slabs.Free(cls, slots[0]);  // to the free list: not at the end
  }
  usage = slabs.Usage(cls);
  EXPECT_EQ(usage.pages, 2u);
  EXPECT_EQ(usage.used_slots, per_page + 2);
  EXPECT_EQ(usage.uncarved_slots, per_page - 3);

  const int large = slabs.ClassFor(kPage);  // one-slot pages
  {
    auto lock = slabs.Lock(large);
    slabs.Allocate(large);
    slabs.Allocate(large);
  }
  usage = slabs.Usage(large);
  EXPECT_EQ(usage.slots_per_page, 1u);
  EXPECT_EQ(usage.pages, 2u);
  EXPECT_EQ(usage.used_slots, 2u);
  EXPECT_EQ(usage.uncarved_slots, 0u);
}

// Under AddressSanitizer a freed slot is poisoned past its readable prefix,
// so a use after free is reported as it would be for malloc'd memory.
TEST(SlabAllocatorDeathTest, AFreedSlotIsPoisonedUnderAddressSanitizer) {
#if defined(__SANITIZE_ADDRESS__)
  SlabAllocator slabs(kPage, 40, 4096, kPage, 16);
  const int cls = slabs.ClassFor(200);
  auto lock = slabs.Lock(cls);
  auto* slot = static_cast<volatile char*>(slabs.Allocate(cls));
  slot[100] = 1;
  slabs.Free(cls, const_cast<char*>(slot));
  EXPECT_EQ(slot[8], slot[8]);  // the readable prefix
  EXPECT_DEATH(slot[100] = 2, "use-after-poison");
#else
  GTEST_SKIP() << "needs AddressSanitizer (TWINCACHE_SANITIZE)";
#endif
}

}  // namespace
}  // namespace store_internal
}  // namespace twincache
