#include "enclave/epc/range_allocator.h"

#include <bit>

namespace serdab::epc {
namespace {

static_assert((RangeAllocator::kMinSlotBytes << (RangeAllocator::kNumSizeClasses - 1)) ==
              RangeAllocator::kMaxSlotBytes);

int SizeClass(size_t bytes) {
  int c = 0;
  while ((RangeAllocator::kMinSlotBytes << c) < bytes) ++c;
  return c;
}

uint64_t SlotsPerSlab(int size_class) {
  return RangeAllocator::kPageBytes / (RangeAllocator::kMinSlotBytes << size_class);
}

uint64_t FullMask(int size_class) {
  const uint64_t slots = SlotsPerSlab(size_class);
  return slots == 64 ? ~uint64_t{0} : (uint64_t{1} << slots) - 1;
}

}  // namespace

RangeAllocator::RangeAllocator(uint64_t num_pages) {
  if (num_pages > 0) InsertExtent(0, num_pages);
}

std::optional<uint64_t> RangeAllocator::Allocate(size_t bytes) {
  if (bytes > kMaxSlotBytes) {
    const uint64_t pages = (bytes + kPageBytes - 1) / kPageBytes;
    std::optional<uint64_t> first = AllocatePages(pages);
    if (!first) return std::nullopt;
    large_[*first] = pages;
    return *first * kPageBytes;
  }
  const int size_class = SizeClass(bytes);
  std::set<uint64_t>& partial = partial_slabs_[size_class];
  if (partial.empty()) {
    std::optional<uint64_t> page = AllocatePages(1);
    if (!page) return std::nullopt;
    slabs_[*page] = Slab{size_class, FullMask(size_class)};
    partial.insert(*page);
  }
  const uint64_t page = *partial.begin();
  Slab& slab = slabs_[page];
  const int slot = std::countr_zero(slab.free_mask);
  slab.free_mask &= ~(uint64_t{1} << slot);
  if (slab.free_mask == 0) partial.erase(partial.begin());
  return page * kPageBytes + static_cast<uint64_t>(slot) * (kMinSlotBytes << size_class);
}

std::optional<RangeAllocator::PageRange> RangeAllocator::Free(uint64_t offset) {
  const uint64_t page = offset / kPageBytes;
  if (auto it = slabs_.find(page); it != slabs_.end()) {
    Slab& slab = it->second;
    const uint64_t slot_bytes = kMinSlotBytes << slab.size_class;
    const uint64_t in_page = offset % kPageBytes;
    if (in_page % slot_bytes != 0) return std::nullopt;
    const uint64_t bit = uint64_t{1} << (in_page / slot_bytes);
    if (slab.free_mask & bit) return std::nullopt;
    if (slab.free_mask == 0) partial_slabs_[slab.size_class].insert(page);
    slab.free_mask |= bit;
    if (slab.free_mask != FullMask(slab.size_class)) return PageRange{};
    partial_slabs_[slab.size_class].erase(page);
    slabs_.erase(it);
    FreePages(page, 1);
    return PageRange{page, 1};
  }
  if (offset % kPageBytes != 0) return std::nullopt;
  auto it = large_.find(page);
  if (it == large_.end()) return std::nullopt;
  const uint64_t count = it->second;
  large_.erase(it);
  FreePages(page, count);
  return PageRange{page, count};
}

std::optional<uint64_t> RangeAllocator::AllocatePages(uint64_t count) {
  auto fit = extents_by_size_.lower_bound({count, 0});
  if (fit == extents_by_size_.end()) return std::nullopt;
  const auto [length, first] = *fit;
  EraseExtent(extents_.find(first));
  if (length > count) InsertExtent(first + count, length - count);
  return first;
}

void RangeAllocator::FreePages(uint64_t first, uint64_t count) {
  auto next = extents_.lower_bound(first);
  if (next != extents_.end() && next->first == first + count) {
    count += next->second;
    next = std::next(next);
    EraseExtent(std::prev(next));
  }
  if (next != extents_.begin()) {
    auto prev = std::prev(next);
    if (prev->first + prev->second == first) {
      first = prev->first;
      count += prev->second;
      EraseExtent(prev);
    }
  }
  InsertExtent(first, count);
}

void RangeAllocator::InsertExtent(uint64_t first, uint64_t count) {
  extents_.emplace(first, count);
  extents_by_size_.emplace(count, first);
  free_page_count_ += count;
}

void RangeAllocator::EraseExtent(std::map<uint64_t, uint64_t>::iterator it) {
  extents_by_size_.erase({it->second, it->first});
  free_page_count_ -= it->second;
  extents_.erase(it);
}

}  // namespace serdab::epc
