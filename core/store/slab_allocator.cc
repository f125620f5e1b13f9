// SlabAllocator (see slab_allocator.h).
#include "core/store/slab_allocator.h"

#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <cstring>

#if defined(__SANITIZE_ADDRESS__)
#include <sanitizer/asan_interface.h>
#define TWINCACHE_POISON(address, size) ASAN_POISON_MEMORY_REGION(address, size)
#define TWINCACHE_UNPOISON(address, size) ASAN_UNPOISON_MEMORY_REGION(address, size)
#else
#define TWINCACHE_POISON(address, size) ((void)(address), (void)(size))
#define TWINCACHE_UNPOISON(address, size) ((void)(address), (void)(size))
#endif

namespace twincache {
namespace store_internal {

namespace {

constexpr size_t kAlign = 8;

// Pages of whole memory pages are aligned to them and populated at once
// (madvise(2) MADV_POPULATE_WRITE, Linux 5.14): one call instead of a page
// fault per memory page as slots are carved, which a bulk insert (a full
// sync, a state file) otherwise pays item by item. Where the kernel lacks it
// the pages fault in as before.
size_t MemoryPageSize() {
  static const size_t size = [] {
    const long value = sysconf(_SC_PAGESIZE);
    return value > 0 ? static_cast<size_t>(value) : size_t{4096};
  }();
  return size;
}
#ifndef MADV_POPULATE_WRITE
#define MADV_POPULATE_WRITE 23
#endif

size_t RoundUp(size_t bytes) { return (bytes + kAlign - 1) / kAlign * kAlign; }

}  // namespace

SlabAllocator::SlabAllocator(size_t limit_bytes, size_t min_slot, size_t max_slot, size_t page_size,
                             size_t readable_prefix)
    : readable_prefix_(std::max(readable_prefix, sizeof(void*))), limit_bytes_(limit_bytes) {
  min_slot_ = RoundUp(std::max(min_slot, readable_prefix_));
  max_slot = std::max(max_slot, min_slot_);
  std::vector<size_t> sizes;
  for (size_t size = min_slot_; size <= kFineMax; size += kFineStep) {
    sizes.push_back(size);
  }
  fine_classes_ = sizes.size();
  for (size_t size = sizes.empty() ? min_slot_ : sizes.back(); size < max_slot;) {
    size = std::max(RoundUp(static_cast<size_t>(static_cast<double>(size) * kFactor)), size + kAlign);
    sizes.push_back(std::min(size, RoundUp(max_slot)));
  }
  for (size_t size : sizes) {
    auto c = std::make_unique<SizeClass>();
    c->slot_size = size;
    c->page_size = size * 2 <= page_size ? page_size : size;
    c->slots_per_page = c->page_size / size;
    classes_.push_back(std::move(c));
  }
}

SlabAllocator::~SlabAllocator() {
  for (const auto& c : classes_) {
    for (char* page : c->pages) {
      TWINCACHE_UNPOISON(page, c->page_size);
      std::free(page);
    }
  }
}

// A free slot: its prefix readable (the free list link, the store's CLOCK
// byte), the rest poisoned.
void SlabAllocator::PoisonFree(const SizeClass& c, void* slot) const {
  TWINCACHE_UNPOISON(slot, readable_prefix_);
  TWINCACHE_POISON(static_cast<char*>(slot) + readable_prefix_, c.slot_size - readable_prefix_);
}

int SlabAllocator::ClassFor(size_t bytes) const {
  if (bytes <= min_slot_) {
    return 0;
  }
  if (fine_classes_ > 0 && bytes <= classes_[fine_classes_ - 1]->slot_size) {
    return static_cast<int>((bytes - min_slot_ + kFineStep - 1) / kFineStep);
  }
  const auto it =
      std::lower_bound(classes_.begin() + static_cast<std::ptrdiff_t>(fine_classes_), classes_.end(), bytes,
                       [](const auto& c, size_t n) { return c->slot_size < n; });
  return it == classes_.end() ? -1 : static_cast<int>(it - classes_.begin());
}

bool SlabAllocator::TakePage(SizeClass& c) {
  // memcached do_slabs_newslab: within the limit, or the class's first page.
  size_t held = page_bytes_.load(std::memory_order_relaxed);
  do {
    if (!c.pages.empty() && held + c.page_size > limit_bytes_.load(std::memory_order_relaxed)) {
      return false;
    }
  } while (!page_bytes_.compare_exchange_weak(held, held + c.page_size, std::memory_order_relaxed));
  const size_t memory_page = MemoryPageSize();
  const bool whole_pages = c.page_size % memory_page == 0;
  void* page = std::aligned_alloc(whole_pages ? memory_page : kAlign, c.page_size);
  if (page == nullptr) {
    page_bytes_.fetch_sub(c.page_size, std::memory_order_relaxed);
    return false;
  }
  if (whole_pages) {
    (void)madvise(page, c.page_size, MADV_POPULATE_WRITE);  // advice: a failure only leaves the faults
  }
  TWINCACHE_POISON(page, c.page_size);  // not carved yet
  c.pages.push_back(static_cast<char*>(page));
  c.page_count.store(c.pages.size(), std::memory_order_relaxed);
  c.carved = 0;
  return true;
}

void* SlabAllocator::Allocate(int cls) {
  SizeClass& c = *classes_[cls];
  void* slot = c.free_list;
  if (slot != nullptr) {
    std::memcpy(&c.free_list, slot, sizeof(void*));
  } else {
    if (c.pages.empty() || c.carved == c.slots_per_page) {
      if (!TakePage(c)) {
        return nullptr;
      }
    }
    slot = c.pages.back() + c.carved * c.slot_size;
    ++c.carved;
  }
  TWINCACHE_UNPOISON(slot, c.slot_size);
  c.used_bytes.fetch_add(c.slot_size, std::memory_order_relaxed);
  return slot;
}

void SlabAllocator::Free(int cls, void* slot) {
  SizeClass& c = *classes_[cls];
  c.used_bytes.fetch_sub(c.slot_size, std::memory_order_relaxed);
  if (c.slots_per_page == 1) {
    // One-slot page: release it, keeping the hand on the page that took its place.
    const auto it = std::find(c.pages.begin(), c.pages.end(), static_cast<char*>(slot));
    if (it != c.pages.end()) {
      *it = c.pages.back();
      c.pages.pop_back();
      c.page_count.store(c.pages.size(), std::memory_order_relaxed);
      c.carved = c.pages.empty() ? 0 : 1;
      TWINCACHE_UNPOISON(slot, c.page_size);
      std::free(slot);
      page_bytes_.fetch_sub(c.page_size, std::memory_order_relaxed);
    }
    return;
  }
  PoisonFree(c, slot);
  std::memcpy(slot, &c.free_list, sizeof(void*));
  c.free_list = slot;
}

void* SlabAllocator::NextSlot(int cls) {
  SizeClass& c = *classes_[cls];
  if (SlotCount(cls) == 0) {
    return nullptr;
  }
  const auto carved_in = [&c](size_t page) {
    return page + 1 == c.pages.size() ? c.carved : c.slots_per_page;
  };
  // Ends: some page has a carved slot.
  while (c.hand_page >= c.pages.size() || c.hand_slot >= carved_in(c.hand_page)) {
    c.hand_page = c.hand_page >= c.pages.size() ? 0 : c.hand_page + 1;
    c.hand_slot = 0;
  }
  void* slot = c.pages[c.hand_page] + c.hand_slot * c.slot_size;
  ++c.hand_slot;
  return slot;
}

size_t SlabAllocator::SlotCount(int cls) const {
  const SizeClass& c = *classes_[cls];
  return c.pages.empty() ? 0 : (c.pages.size() - 1) * c.slots_per_page + c.carved;
}

SlabClassUsage SlabAllocator::Usage(int cls) {
  SizeClass& c = *classes_[cls];
  std::lock_guard<std::mutex> lock(c.mu);
  SlabClassUsage usage;
  usage.slot_size = c.slot_size;
  usage.slots_per_page = c.slots_per_page;
  usage.pages = c.pages.size();
  usage.used_slots = c.used_bytes.load(std::memory_order_relaxed) / c.slot_size;
  usage.uncarved_slots = c.pages.empty() ? 0 : c.slots_per_page - c.carved;
  return usage;
}

char* SlabAllocator::RemovablePage(int cls) const {
  const SizeClass& c = *classes_[cls];
  if (c.pages.empty()) {
    return nullptr;
  }
  return c.pages[c.hand_page < c.pages.size() ? c.hand_page : 0];
}

std::vector<void*> SlabAllocator::SlotsOf(int cls, const char* page) const {
  const SizeClass& c = *classes_[cls];
  std::vector<void*> slots;
  const size_t carved = page == c.pages.back() ? c.carved : c.slots_per_page;
  slots.reserve(carved);
  for (size_t i = 0; i < carved; ++i) {
    slots.push_back(const_cast<char*>(page) + i * c.slot_size);
  }
  return slots;
}

void SlabAllocator::RemovePage(int cls, char* page) {
  SizeClass& c = *classes_[cls];
  const auto it = std::find(c.pages.begin(), c.pages.end(), page);
  if (it == c.pages.end()) {
    return;
  }
  // Rebuild the free list without the page's slots, in the same order.
  void* kept = nullptr;
  void* kept_tail = nullptr;
  for (void* slot = c.free_list; slot != nullptr;) {
    void* next = nullptr;
    std::memcpy(&next, slot, sizeof(void*));
    char* bytes = static_cast<char*>(slot);
    if (bytes < page || bytes >= page + c.page_size) {
      if (kept_tail == nullptr) {
        kept = slot;
      } else {
        std::memcpy(kept_tail, &slot, sizeof(void*));
      }
      kept_tail = slot;
    }
    slot = next;
  }
  if (kept_tail != nullptr) {
    const void* end = nullptr;
    std::memcpy(kept_tail, &end, sizeof(void*));
  }
  c.free_list = kept;
  TWINCACHE_POISON(page, c.page_size);  // no class's slots until AddPage
  const bool last = it + 1 == c.pages.end();
  const auto index = static_cast<size_t>(it - c.pages.begin());
  c.pages.erase(it);
  c.page_count.store(c.pages.size(), std::memory_order_relaxed);
  if (last) {
    c.carved = c.pages.empty() ? 0 : c.slots_per_page;
  }
  if (c.hand_page > index) {
    --c.hand_page;
  } else if (c.hand_page == index) {
    c.hand_slot = 0;
  }
}

void SlabAllocator::AddPage(int cls, char* page) {
  SizeClass& c = *classes_[cls];
  if (c.pages.empty()) {
    c.pages.push_back(page);
    c.page_count.store(1, std::memory_order_relaxed);
    c.carved = 0;  // carved on demand, as a new page
    return;
  }
  // In front of the partly carved last page, all its slots free.
  c.pages.insert(c.pages.begin(), page);
  c.page_count.store(c.pages.size(), std::memory_order_relaxed);
  ++c.hand_page;
  for (size_t i = c.slots_per_page; i > 0; --i) {
    void* slot = page + (i - 1) * c.slot_size;
    PoisonFree(c, slot);
    std::memcpy(slot, &c.free_list, sizeof(void*));
    c.free_list = slot;
  }
}

}  // namespace store_internal
}  // namespace twincache
