// RangeAllocator: who owns which bytes of an EPC heap, kept outside the heap.
//
// The bookkeeping lives in ordinary process memory so that allocating and
// freeing never touch (and so never fault on) the heap itself. It deals in
// byte offsets from the heap's base and knows nothing about residency; the
// heap uses the page ranges that Free reports to drop dead pages.
//
// Requests of up to kMaxSlotBytes share pages: they go to one-page slabs of
// power-of-two slots (64 .. 2048 bytes). Larger requests get whole pages,
// best fit, with free neighbours coalesced. Every result is 64-byte aligned.
// Not thread-safe: the heap serialises calls.
#ifndef SERDAB_ENCLAVE_EPC_RANGE_ALLOCATOR_H_
#define SERDAB_ENCLAVE_EPC_RANGE_ALLOCATOR_H_

#include <cstddef>
#include <cstdint>
#include <map>
#include <optional>
#include <set>
#include <unordered_map>
#include <utility>

namespace serdab::epc {

class RangeAllocator {
 public:
  static constexpr size_t kPageBytes = 4096;
  static constexpr size_t kMinSlotBytes = 64;
  static constexpr size_t kMaxSlotBytes = 2048;
  static constexpr int kNumSizeClasses = 6;  // 64, 128, ..., 2048

  // Pages no longer holding any live allocation: [first, first + count).
  struct PageRange {
    uint64_t first = 0;
    uint64_t count = 0;
  };

  explicit RangeAllocator(uint64_t num_pages);

  // The offset of `bytes` fresh bytes (0 bytes is one minimal slot), or
  // nullopt when no free range is large enough.
  std::optional<uint64_t> Allocate(size_t bytes);

  // Releases the allocation at `offset`. Returns the pages that became free
  // (count 0 when a slab still holds other slots), or nullopt when `offset`
  // is not the start of a live allocation (a double or foreign free).
  std::optional<PageRange> Free(uint64_t offset);

  uint64_t free_pages() const { return free_page_count_; }

 private:
  struct Slab {
    int size_class = 0;      // slot size is kMinSlotBytes << size_class
    uint64_t free_mask = 0;  // bit i set: slot i is free
  };

  std::optional<uint64_t> AllocatePages(uint64_t count);
  void FreePages(uint64_t first, uint64_t count);
  void InsertExtent(uint64_t first, uint64_t count);
  void EraseExtent(std::map<uint64_t, uint64_t>::iterator it);

  // Free page extents, by start page and by (length, start) for best fit.
  std::map<uint64_t, uint64_t> extents_;
  std::set<std::pair<uint64_t, uint64_t>> extents_by_size_;
  uint64_t free_page_count_ = 0;

  // Live page-granular allocations: start page -> page count.
  std::unordered_map<uint64_t, uint64_t> large_;
  // Slab pages, and per size class the slab pages that have a free slot.
  std::unordered_map<uint64_t, Slab> slabs_;
  std::set<uint64_t> partial_slabs_[kNumSizeClasses];
};

}  // namespace serdab::epc

#endif  // SERDAB_ENCLAVE_EPC_RANGE_ALLOCATOR_H_
