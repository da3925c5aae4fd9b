// RangeAllocator: the EPC heap's bookkeeping of which bytes are in use.
#include "enclave/epc/range_allocator.h"

#include <gtest/gtest.h>

#include <map>
#include <random>
#include <vector>

namespace serdab::epc {
namespace {

constexpr uint64_t kPage = RangeAllocator::kPageBytes;

TEST(RangeAllocatorTest, LargeRequestsTakeWholePagesBestFit) {
  RangeAllocator ranges(16);
  std::optional<uint64_t> a = ranges.Allocate(3 * kPage);
  std::optional<uint64_t> b = ranges.Allocate(kPage + 1);  // two pages
  std::optional<uint64_t> c = ranges.Allocate(4 * kPage);
  ASSERT_TRUE(a && b && c);
  EXPECT_EQ(*a, 0u);
  EXPECT_EQ(*b, 3 * kPage);
  EXPECT_EQ(*c, 5 * kPage);
  EXPECT_EQ(ranges.free_pages(), 7u);
  // Freeing b leaves a two-page hole; a two-page request goes there, not to
  // the seven-page tail.
  std::optional<RangeAllocator::PageRange> freed = ranges.Free(*b);
  ASSERT_TRUE(freed);
  EXPECT_EQ(freed->first, 3u);
  EXPECT_EQ(freed->count, 2u);
  EXPECT_EQ(ranges.Allocate(2 * kPage), 3 * kPage);
}

TEST(RangeAllocatorTest, FreeCoalescesNeighbours) {
  RangeAllocator ranges(8);
  std::vector<uint64_t> offsets;
  for (int i = 0; i < 8; ++i) offsets.push_back(*ranges.Allocate(kPage));
  EXPECT_FALSE(ranges.Allocate(kPage));
  for (int i : {1, 3, 2, 0, 7, 5, 6, 4}) ASSERT_TRUE(ranges.Free(offsets[i]));
  EXPECT_EQ(ranges.free_pages(), 8u);
  EXPECT_EQ(ranges.Allocate(8 * kPage), 0u);  // one extent again
}

TEST(RangeAllocatorTest, SmallRequestsShareSlabPages) {
  RangeAllocator ranges(4);
  std::vector<uint64_t> slots;
  for (int i = 0; i < 32; ++i) {
    std::optional<uint64_t> s = ranges.Allocate(100);  // 128-byte class
    ASSERT_TRUE(s);
    EXPECT_EQ(*s % 128, 0u);
    EXPECT_EQ(*s / kPage, 0u);
    slots.push_back(*s);
  }
  EXPECT_EQ(ranges.Allocate(100).value() / kPage, 1u);  // the first slab is full
  EXPECT_EQ(ranges.Allocate(0).value() % 64, 0u);       // 64-byte class, its own slab
  for (int i = 0; i < 31; ++i) {
    std::optional<RangeAllocator::PageRange> freed = ranges.Free(slots[i]);
    ASSERT_TRUE(freed);
    EXPECT_EQ(freed->count, 0u);
  }
  std::optional<RangeAllocator::PageRange> last = ranges.Free(slots[31]);
  ASSERT_TRUE(last);
  EXPECT_EQ(last->first, 0u);
  EXPECT_EQ(last->count, 1u);
}

TEST(RangeAllocatorTest, RejectsDoubleAndForeignFrees) {
  RangeAllocator ranges(8);
  const uint64_t big = *ranges.Allocate(2 * kPage);
  const uint64_t small = *ranges.Allocate(64);
  EXPECT_FALSE(ranges.Free(big + 64));
  EXPECT_FALSE(ranges.Free(small + 1));
  EXPECT_FALSE(ranges.Free(small + 64));  // a free slot
  EXPECT_FALSE(ranges.Free(7 * kPage));   // never allocated
  EXPECT_TRUE(ranges.Free(big));
  EXPECT_FALSE(ranges.Free(big));
  EXPECT_TRUE(ranges.Free(small));
  EXPECT_FALSE(ranges.Free(small));
  EXPECT_EQ(ranges.free_pages(), 8u);
}

TEST(RangeAllocatorTest, RandomAllocationsNeverOverlap) {
  RangeAllocator ranges(256);
  std::mt19937 rng(3);
  std::map<uint64_t, uint64_t> live;  // offset -> bytes
  for (int step = 0; step < 20000; ++step) {
    if (live.empty() || rng() % 3 != 0) {
      const size_t bytes = rng() % 2 ? rng() % 2049 : rng() % (6 * kPage);
      std::optional<uint64_t> offset = ranges.Allocate(bytes);
      if (!offset) continue;
      ASSERT_EQ(*offset % 64, 0u);
      ASSERT_LE(*offset + bytes, 256 * kPage);
      auto next = live.lower_bound(*offset);
      if (next != live.end()) {
        ASSERT_LE(*offset + std::max<size_t>(bytes, 1), next->first);
      }
      if (next != live.begin()) {
        auto prev = std::prev(next);
        ASSERT_LE(prev->first + std::max<uint64_t>(prev->second, 1), *offset);
      }
      live[*offset] = bytes;
    } else {
      auto it = live.begin();
      std::advance(it, rng() % live.size());
      ASSERT_TRUE(ranges.Free(it->first));
      live.erase(it);
    }
  }
  for (const auto& [offset, bytes] : live) ASSERT_TRUE(ranges.Free(offset));
  EXPECT_EQ(ranges.free_pages(), 256u);
}

}  // namespace
}  // namespace serdab::epc
