// SlabAllocator: the store's item memory. Pages are carved into fixed-size
// slots of one size class each; a class keeps a free list of its slots and a
// CLOCK hand over them. Internal to the store (store_internal.h); nothing
// outside core/store includes it.
//
// Design follows memcached slabs.c (do_slabs_newslab, do_slabs_alloc,
// do_slabs_free): 1 MiB pages, a memory limit counted in pages, and a class
// that has no page yet gets its first one even past the limit, so every size
// stays storable. Unlike memcached, the classes are fine (8-byte steps up to
// 512 bytes, then a factor of 1.125) so that an item wastes at most 7 bytes
// (12 % above 512), and a class whose slot is larger than half a page gets
// pages of exactly one slot, freed with their slot. The store may move a page
// between classes (memcached's slab_reassign: RemovePage, AddPage).
#ifndef TWINCACHE_CORE_STORE_SLAB_ALLOCATOR_H_
#define TWINCACHE_CORE_STORE_SLAB_ALLOCATOR_H_

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <mutex>
#include <vector>

namespace twincache {
namespace store_internal {

/// The page and slot figures of one size class at one instant (memcached
/// slabs.c do_slabs_stats). Counts, except slot_size (bytes).
struct SlabClassUsage {
  size_t slot_size = 0;       ///< bytes of one slot
  size_t slots_per_page = 0;  ///< 1 for a class of one-slot pages
  size_t pages = 0;           ///< pages the class holds
  size_t used_slots = 0;      ///< slots handed out by Allocate and not freed
  size_t uncarved_slots = 0;  ///< slots of the last page not carved yet (free, at its end)
};

class SlabAllocator {
 public:
  /// Bytes of a page of a class whose slots are at most half of it.
  static constexpr size_t kPageSize = size_t{1} << 20;
  /// Classes grow by this many bytes up to kFineMax, then by kFactor.
  static constexpr size_t kFineStep = 8;
  static constexpr size_t kFineMax = 512;
  static constexpr double kFactor = 1.125;

  /// Classes from `min_slot` bytes (rounded up to 8) to at least `max_slot`
  /// bytes; `limit_bytes` bounds the page bytes (see Allocate). Every slot is
  /// 8-byte aligned and at least 8 bytes (the free list link lives in it).
  /// Under AddressSanitizer the bytes of a free slot from `readable_prefix`
  /// on (at least the link's 8) are poisoned, as is memory not carved yet,
  /// so a use after Free() is reported; the prefix of a free slot stays
  /// readable for a CLOCK hand that must tell free slots from used ones.
  SlabAllocator(size_t limit_bytes, size_t min_slot, size_t max_slot, size_t page_size = kPageSize,
                size_t readable_prefix = 8);
  ~SlabAllocator();  // frees every page; slots still allocated die with them
  SlabAllocator(const SlabAllocator&) = delete;
  SlabAllocator& operator=(const SlabAllocator&) = delete;

  /// Number of classes; class ids are 0..class_count()-1, smallest first.
  int class_count() const { return static_cast<int>(classes_.size()); }

  /// The smallest class whose slots hold `bytes`, or -1 when none does.
  int ClassFor(size_t bytes) const;

  /// Bytes of one slot of class `cls`.
  size_t SlotSize(int cls) const { return classes_[cls]->slot_size; }

  /// The class's mutex. Allocate, Free, NextSlot and SlotCount need it held;
  /// never hold two class mutexes at once.
  std::unique_lock<std::mutex> Lock(int cls) { return std::unique_lock<std::mutex>(classes_[cls]->mu); }

  /// A free slot of `cls` (uninitialised memory): from the free list, else
  /// carved from the class's last page, else from a new page when the page
  /// bytes stay within the limit or the class has no page yet. nullptr when
  /// none (the caller evicts from the class and retries) or the system is out
  /// of memory. Caller holds Lock(cls).
  void* Allocate(int cls);

  /// Returns `slot`, allocated from `cls`, to the class. A one-slot page is
  /// released with it. Caller holds Lock(cls).
  void Free(int cls, void* slot);

  /// The CLOCK hand of `cls`: the slot under the hand (free or not), moving
  /// the hand to the next carved slot, pages in order, wrapping at the end.
  /// nullptr when the class has no slot. Caller holds Lock(cls).
  void* NextSlot(int cls);

  /// Slots of `cls` carved so far (free or not). Caller holds Lock(cls).
  size_t SlotCount(int cls) const;

  // Moving a page between classes (memcached slabs.c slab_reassign): the
  // caller frees every slot of a page of one class (RemovablePage), takes it
  // out (RemovePage) and gives it to another class of the same page size
  // (AddPage). Each needs its class's mutex held.

  /// Pages of `cls` (a relaxed read, no lock needed).
  size_t PageCount(int cls) const { return classes_[cls]->page_count.load(std::memory_order_relaxed); }
  /// Bytes of a page of `cls`.
  size_t PageSize(int cls) const { return classes_[cls]->page_size; }
  /// The page the CLOCK hand of `cls` is in (the one to take from it), or
  /// nullptr without a page. Its slots: SlotsOf().
  char* RemovablePage(int cls) const;
  /// The carved slots of `page` of `cls`, in order.
  std::vector<void*> SlotsOf(int cls, const char* page) const;
  /// Takes `page`, whose carved slots are all free, out of `cls` (its slots
  /// leave the free list). The page stays counted in page_bytes().
  void RemovePage(int cls, char* page);
  /// Gives `page` (from RemovePage of a class with the same PageSize) to
  /// `cls`, all its slots free.
  void AddPage(int cls, char* page);

  /// Bytes of the slots of `cls` handed out and not freed (a relaxed read,
  /// no lock needed).
  size_t UsedBytes(int cls) const { return classes_[cls]->used_bytes.load(std::memory_order_relaxed); }

  /// The figures of `cls`, read under its mutex (taken here: the caller must
  /// hold no class mutex), so they agree with each other. Its slots are
  /// pages * slots_per_page; those not used are free (on the free list or
  /// not carved yet).
  SlabClassUsage Usage(int cls);

  /// Bytes of all pages held (a relaxed read).
  size_t page_bytes() const { return page_bytes_.load(std::memory_order_relaxed); }

  /// Changes the page limit; pages past a lowered limit stay (as memcached's).
  void SetLimit(size_t limit_bytes) { limit_bytes_.store(limit_bytes, std::memory_order_relaxed); }

 private:
  struct alignas(64) SizeClass {
    size_t slot_size = 0;
    size_t page_size = 0;  // kPageSize, or slot_size for one-slot pages
    size_t slots_per_page = 0;
    std::mutex mu;              // guards the fields below
    std::vector<char*> pages;   // in carving order
    size_t carved = 0;          // slots carved from pages.back()
    void* free_list = nullptr;  // singly linked through each slot's first 8 bytes
    size_t hand_page = 0;       // CLOCK hand: page index ...
    size_t hand_slot = 0;       // ... and slot within it
    std::atomic<size_t> used_bytes{0};
    std::atomic<size_t> page_count{0};  // pages.size(), for readers without the mutex
  };

  bool TakePage(SizeClass& c);
  void PoisonFree(const SizeClass& c, void* slot) const;

  size_t readable_prefix_ = 8;
  std::vector<std::unique_ptr<SizeClass>> classes_;
  size_t fine_classes_ = 0;  // classes_[0..fine_classes_) step by kFineStep
  size_t min_slot_ = 0;
  std::atomic<size_t> limit_bytes_;
  std::atomic<size_t> page_bytes_{0};
};

}  // namespace store_internal
}  // namespace twincache

#endif  // TWINCACHE_CORE_STORE_SLAB_ALLOCATOR_H_
