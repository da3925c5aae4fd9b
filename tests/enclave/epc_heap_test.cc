// EpcHeap basics: configuration, allocation, residency, paging round trips,
// freeing, counters and fault routing.
#include "enclave/epc/epc_heap.h"

#include <gtest/gtest.h>
#include <signal.h>

#include <cstdint>
#include <cstring>
#include <memory>
#include <set>
#include <vector>

namespace serdab::epc {
namespace {

constexpr size_t kMiB = size_t{1} << 20;

std::unique_ptr<EpcHeap> MakeHeap(size_t heap_bytes, size_t epc_bytes,
                                  CostProfile profile = CostProfile::None()) {
  EpcConfig config;
  config.heap_bytes = heap_bytes;
  config.epc_bytes = epc_bytes;
  config.profile = profile;
  Result<std::unique_ptr<EpcHeap>> heap = EpcHeap::Create(config);
  EXPECT_TRUE(heap.ok()) << heap.status().ToString();
  return heap.ok() ? std::move(heap).value() : nullptr;
}

uint64_t Pattern(uint64_t i) {
  uint64_t z = i + 0x9e3779b97f4a7c15ull;
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  return z ^ (z >> 27);
}

TEST(CostProfileTest, ParsesKnownNamesAndRejectsOthers) {
  Result<CostProfile> sgx1 = CostProfile::Parse("sgx1");
  ASSERT_TRUE(sgx1.ok());
  EXPECT_EQ(sgx1->name, "sgx1");
  EXPECT_EQ(sgx1->page_swap_cycles, 40000u);
  EXPECT_EQ(sgx1->ecall_cycles, 8600u);
  Result<CostProfile> none = CostProfile::Parse("none");
  ASSERT_TRUE(none.ok());
  EXPECT_EQ(none->page_swap_cycles, 0u);
  EXPECT_EQ(none->ecall_cycles, 0u);
  Result<CostProfile> bad = CostProfile::Parse("sgx3");
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.status().code(), Status::Code::kInvalidArgument);
  EXPECT_NE(bad.status().message().find("'sgx3'"), std::string::npos);
  EXPECT_NE(bad.status().message().find("sgx1"), std::string::npos);
}

TEST(EpcHeapTest, DefaultsModelSgx1) {
  EpcConfig config;
  EXPECT_EQ(config.epc_bytes, 93 * kMiB + kMiB / 2);
  EXPECT_EQ(config.heap_bytes, size_t{4} << 30);
}

TEST(EpcHeapTest, RejectsBadConfigurations) {
  EpcConfig config;
  config.heap_bytes = 0;
  EXPECT_EQ(EpcHeap::Create(config).status().code(), Status::Code::kInvalidArgument);
  config.heap_bytes = 16 * kMiB;
  config.epc_bytes = 16 * kPageBytes;
  Result<std::unique_ptr<EpcHeap>> small = EpcHeap::Create(config);
  ASSERT_FALSE(small.ok());
  EXPECT_NE(small.status().message().find("minimum"), std::string::npos);
  // A budget whose worst case needs more mappings than vm.max_map_count.
  config.heap_bytes = size_t{1} << 40;
  config.epc_bytes = size_t{1} << 40;
  Result<std::unique_ptr<EpcHeap>> huge = EpcHeap::Create(config);
  ASSERT_FALSE(huge.ok());
  EXPECT_EQ(huge.status().code(), Status::Code::kResourceExhausted);
  EXPECT_NE(huge.status().message().find("vm.max_map_count"), std::string::npos);
}

TEST(EpcHeapTest, AllocationsAreAlignedDisjointAndInside) {
  std::unique_ptr<EpcHeap> heap = MakeHeap(16 * kMiB, kMinEpcBytes);
  ASSERT_NE(heap, nullptr);
  EXPECT_STREQ(heap->name(), "epc");
  const std::vector<size_t> sizes = {0, 1, 63, 64, 65, 200, 2048, 2049, 4096, 5000, 100000};
  std::vector<std::pair<uint8_t*, size_t>> blocks;
  for (size_t size : sizes) {
    auto* p = static_cast<uint8_t*>(heap->Allocate(size));
    ASSERT_NE(p, nullptr) << size;
    EXPECT_EQ(reinterpret_cast<uintptr_t>(p) % engine::kTensorAlignment, 0u) << size;
    EXPECT_TRUE(heap->Contains(p));
    blocks.push_back({p, size});
  }
  for (size_t b = 0; b < blocks.size(); ++b) {
    std::memset(blocks[b].first, static_cast<int>(b + 1), blocks[b].second);
  }
  for (size_t b = 0; b < blocks.size(); ++b) {
    for (size_t i = 0; i < blocks[b].second; ++i) {
      ASSERT_EQ(blocks[b].first[i], static_cast<uint8_t>(b + 1)) << "block " << b << " byte " << i;
    }
  }
  for (auto [p, size] : blocks) heap->Deallocate(p, size);
  EXPECT_FALSE(heap->Contains(&blocks));
}

TEST(EpcHeapTest, AllocateReturnsNullWhenTheVirtualHeapIsFull) {
  std::unique_ptr<EpcHeap> heap = MakeHeap(kMiB, kMinEpcBytes);
  ASSERT_NE(heap, nullptr);
  EXPECT_EQ(heap->Allocate(2 * kMiB), nullptr);
  void* all = heap->Allocate(kMiB);
  ASSERT_NE(all, nullptr);
  EXPECT_EQ(heap->Allocate(64), nullptr);
  heap->Deallocate(all, kMiB);
  void* again = heap->Allocate(kMiB / 2);
  EXPECT_NE(again, nullptr);
  heap->Deallocate(again, kMiB / 2);
}

TEST(EpcHeapTest, SmallAllocationsSharePages) {
  std::unique_ptr<EpcHeap> heap = MakeHeap(16 * kMiB, kMinEpcBytes);
  ASSERT_NE(heap, nullptr);
  std::vector<uint8_t*> slots;
  for (int i = 0; i < 64; ++i) {
    slots.push_back(static_cast<uint8_t*>(heap->Allocate(64)));
    ASSERT_NE(slots.back(), nullptr);
    std::memset(slots.back(), i, 64);
  }
  std::set<uintptr_t> pages;
  for (uint8_t* p : slots) pages.insert(reinterpret_cast<uintptr_t>(p) / kPageBytes);
  EXPECT_EQ(pages.size(), 1u);
  EXPECT_EQ(heap->Stats().page_faults, 1u);
  // The page is dropped only when its last slot is freed.
  for (int i = 0; i < 63; ++i) heap->Deallocate(slots[i], 64);
  EXPECT_TRUE(heap->IsResident(slots[63]));
  EXPECT_EQ(slots[63][7], 63);
  heap->Deallocate(slots[63], 64);
  EXPECT_FALSE(heap->IsResident(slots[63]));
  EXPECT_EQ(heap->Stats().pages_dropped, 1u);
}

TEST(EpcHeapTest, NoFaultsOnceTheWorkingSetIsResident) {
  std::unique_ptr<EpcHeap> heap = MakeHeap(64 * kMiB, kMiB);
  ASSERT_NE(heap, nullptr);
  const size_t bytes = kMiB / 2;
  auto* data = static_cast<uint64_t*>(heap->Allocate(bytes));
  ASSERT_NE(data, nullptr);
  const size_t words = bytes / sizeof(uint64_t);
  for (size_t i = 0; i < words; ++i) data[i] = Pattern(i);
  EpcStats warm = heap->Stats();
  EXPECT_EQ(warm.page_faults, bytes / kPageBytes);
  EXPECT_EQ(warm.zero_fills, bytes / kPageBytes);
  EXPECT_EQ(warm.evictions, 0u);
  for (int pass = 0; pass < 5; ++pass) {
    for (size_t i = 0; i < words; ++i) data[i] = data[i] * 3 + 1;
  }
  for (size_t i = 0; i < words; ++i) {
    uint64_t expected = Pattern(i);
    for (int pass = 0; pass < 5; ++pass) expected = expected * 3 + 1;
    ASSERT_EQ(data[i], expected) << i;
  }
  EpcStats after = heap->Stats();
  EXPECT_EQ(after.page_faults, warm.page_faults);
  EXPECT_EQ(after.reference_faults, 0u);
  EXPECT_EQ(after.evictions, 0u);
  EXPECT_EQ(after.swaps, 0u);
  heap->Deallocate(data, bytes);
}

TEST(EpcHeapTest, EvictedPageComesBackIntact) {
  std::unique_ptr<EpcHeap> heap = MakeHeap(16 * kMiB, kMinEpcBytes);
  ASSERT_NE(heap, nullptr);
  auto* page = static_cast<uint64_t*>(heap->Allocate(kPageBytes));
  ASSERT_NE(page, nullptr);
  for (size_t i = 0; i < kPageBytes / 8; ++i) page[i] = Pattern(i);
  ASSERT_TRUE(heap->IsResident(page));
  ASSERT_TRUE(heap->Evict(page).ok());
  EXPECT_FALSE(heap->IsResident(page));
  EXPECT_EQ(heap->PhysicalBytes(), 0u);
  for (size_t i = 0; i < kPageBytes / 8; ++i) ASSERT_EQ(page[i], Pattern(i)) << i;
  EpcStats s = heap->Stats();
  EXPECT_EQ(s.evictions, 1u);
  EXPECT_EQ(s.pages_in, 1u);
  EXPECT_EQ(s.bytes_paged_out(), kPageBytes);
  EXPECT_EQ(s.bytes_paged_in(), kPageBytes);
  heap->Deallocate(page, kPageBytes);
}

TEST(EpcHeapTest, SequentialPassesOverFourTimesTheBudget) {
  const size_t budget = kMinEpcBytes;
  std::unique_ptr<EpcHeap> heap = MakeHeap(16 * kMiB, budget);
  ASSERT_NE(heap, nullptr);
  const size_t bytes = 4 * budget;
  auto* data = static_cast<uint64_t*>(heap->Allocate(bytes));
  ASSERT_NE(data, nullptr);
  const size_t words = bytes / sizeof(uint64_t);
  for (int pass = 0; pass < 3; ++pass) {
    for (size_t i = 0; i < words; ++i) data[i] = pass == 0 ? Pattern(i) : data[i] + 1;
    EXPECT_LE(heap->PhysicalBytes(), budget);
  }
  for (size_t i = 0; i < words; ++i) ASSERT_EQ(data[i], Pattern(i) + 2) << i;
  EpcStats s = heap->Stats();
  EXPECT_EQ(s.page_faults, s.pages_in + s.zero_fills);
  EXPECT_EQ(s.zero_fills, bytes / kPageBytes);
  EXPECT_GE(s.evictions, 3 * bytes / kPageBytes - heap->epc_pages());
  EXPECT_LE(s.pages_in, s.evictions);
  EXPECT_EQ(s.resident_pages, s.page_faults - s.evictions - s.pages_dropped);
  EXPECT_EQ(s.peak_resident_pages, heap->epc_pages());
  EXPECT_EQ(s.swaps, s.page_faults - (heap->epc_pages()));  // all but the first fills evict
  heap->Deallocate(data, bytes);
  EXPECT_EQ(heap->Stats().resident_pages, 0u);
  EXPECT_EQ(heap->PhysicalBytes(), 0u);
}

TEST(EpcHeapTest, FreedPagesAreDroppedNotWrittenBack) {
  std::unique_ptr<EpcHeap> heap = MakeHeap(16 * kMiB, kMinEpcBytes);
  ASSERT_NE(heap, nullptr);
  const size_t bytes = 2 * kMinEpcBytes;
  auto* data = static_cast<uint8_t*>(heap->Allocate(bytes));
  ASSERT_NE(data, nullptr);
  std::memset(data, 0xAB, bytes);  // half of it ends up evicted
  EpcStats before = heap->Stats();
  // The last batch may have evicted ahead of demand.
  EXPECT_GE(before.evictions, heap->epc_pages());
  EXPECT_LT(before.evictions, heap->epc_pages() + kEvictBatch);
  heap->Deallocate(data, bytes);
  EpcStats after = heap->Stats();
  EXPECT_EQ(after.evictions, before.evictions);
  EXPECT_EQ(after.pages_dropped, before.resident_pages);
  EXPECT_EQ(after.resident_pages, 0u);
  // The same range again: fresh zero pages, nothing paged in.
  auto* again = static_cast<uint8_t*>(heap->Allocate(bytes));
  ASSERT_EQ(again, data);
  for (size_t i = 0; i < bytes; i += 512) ASSERT_EQ(again[i], 0) << i;
  EpcStats reused = heap->Stats();
  EXPECT_EQ(reused.pages_in, 0u);
  EXPECT_EQ(reused.zero_fills, before.zero_fills + bytes / kPageBytes);
  heap->Deallocate(again, bytes);
}

TEST(EpcHeapTest, ClockKeepsRecentlyUsedPages) {
  // A hot page touched between every fault keeps its reference bit and is
  // never chosen while cold pages are available.
  std::unique_ptr<EpcHeap> heap = MakeHeap(16 * kMiB, kMinEpcBytes);
  ASSERT_NE(heap, nullptr);
  auto* hot = static_cast<volatile uint64_t*>(heap->Allocate(kPageBytes));
  const size_t bytes = 4 * kMinEpcBytes;
  auto* stream = static_cast<uint8_t*>(heap->Allocate(bytes));
  ASSERT_NE(stream, nullptr);
  *hot = 1;
  for (size_t i = 0; i < bytes; i += kPageBytes) {
    stream[i] = 1;
    *hot = *hot + 1;
  }
  EXPECT_TRUE(heap->IsResident(const_cast<uint64_t*>(hot)));
  EXPECT_EQ(*hot, 1 + bytes / kPageBytes);
  EpcStats s = heap->Stats();
  EXPECT_GT(s.reference_faults, 0u);
  EXPECT_EQ(s.pages_in, 0u);  // the hot page was never evicted and read back
  heap->Deallocate(const_cast<uint64_t*>(hot), kPageBytes);
  heap->Deallocate(stream, bytes);
}

TEST(EpcHeapTest, EvictionsComeInBatchesAndCoalesceSystemCalls) {
  // A cyclic sweep over twice the budget misses on every page. Unbatched,
  // each miss runs the clock once, cools one page (one mprotect), opens the
  // missed page (another) and releases one run.
  const size_t budget = kMinEpcBytes;
  std::unique_ptr<EpcHeap> heap = MakeHeap(16 * kMiB, budget);
  ASSERT_NE(heap, nullptr);
  const size_t bytes = 2 * budget;
  const size_t pages = bytes / kPageBytes;
  auto* data = static_cast<uint64_t*>(heap->Allocate(bytes));
  ASSERT_NE(data, nullptr);
  const size_t words = bytes / sizeof(uint64_t);
  for (size_t i = 0; i < words; ++i) data[i] = Pattern(i);
  heap->ResetStats();
  for (int pass = 1; pass <= 3; ++pass) {
    for (size_t i = 0; i < words; ++i) data[i] += 1;
    EXPECT_LE(heap->PhysicalBytes(), budget);
  }
  const EpcStats s = heap->Stats();
  for (size_t i = 0; i < words; ++i) ASSERT_EQ(data[i], Pattern(i) + 3) << i;
  EXPECT_EQ(s.swaps, 3 * pages);  // batching changes what a swap costs, not their number
  EXPECT_EQ(s.pages_in, 3 * pages);
  EXPECT_LE(s.peak_resident_pages, heap->epc_pages());
  // Steady state: one pass of the clock, one cooling mprotect and one
  // release per full batch; one mprotect per page-in.
  EXPECT_GT(s.eviction_passes, 0u);
  EXPECT_LE(s.eviction_passes * (kEvictBatch / 2), s.evictions);
  EXPECT_LE(s.page_releases * (kEvictBatch / 2), s.evictions);
  EXPECT_LE(s.mprotect_calls, s.swaps + s.swaps / 4);
  heap->Deallocate(data, bytes);
  EXPECT_EQ(heap->PhysicalBytes(), 0u);
}

TEST(EpcHeapTest, FramesABatchFreedAreSwapsNotFirstTouches) {
  // Zero fills that take a frame a batch vacated ahead of them are swaps, as
  // they would be had each evicted for itself; only fills into never-used or
  // freed frames are first touches.
  std::unique_ptr<EpcHeap> heap = MakeHeap(16 * kMiB, kMinEpcBytes);
  ASSERT_NE(heap, nullptr);
  const size_t pages = 3 * heap->epc_pages();
  auto* data = static_cast<uint8_t*>(heap->Allocate(pages * kPageBytes));
  ASSERT_NE(data, nullptr);
  for (size_t p = 0; p < pages; ++p) data[p * kPageBytes] = 1;
  const EpcStats s = heap->Stats();
  EXPECT_EQ(s.pages_in, 0u);
  EXPECT_EQ(s.first_touches, heap->epc_pages());
  EXPECT_EQ(s.swaps, pages - heap->epc_pages());
  EXPECT_LT(s.eviction_passes, s.swaps);
  heap->Deallocate(data, pages * kPageBytes);
}

TEST(EpcHeapTest, TwoHeapsPageIndependently) {
  std::unique_ptr<EpcHeap> a = MakeHeap(8 * kMiB, kMinEpcBytes);
  std::unique_ptr<EpcHeap> b = MakeHeap(8 * kMiB, kMinEpcBytes);
  ASSERT_NE(a, nullptr);
  ASSERT_NE(b, nullptr);
  const size_t bytes = 2 * kMinEpcBytes;
  auto* pa = static_cast<uint32_t*>(a->Allocate(bytes));
  auto* pb = static_cast<uint32_t*>(b->Allocate(bytes));
  for (size_t i = 0; i < bytes / 4; ++i) {
    pa[i] = static_cast<uint32_t>(i);
    pb[i] = static_cast<uint32_t>(~i);
  }
  for (size_t i = 0; i < bytes / 4; ++i) {
    ASSERT_EQ(pa[i], static_cast<uint32_t>(i));
    ASSERT_EQ(pb[i], static_cast<uint32_t>(~i));
  }
  EXPECT_GT(a->Stats().evictions, 0u);
  EXPECT_GT(b->Stats().evictions, 0u);
  a->Deallocate(pa, bytes);
  b->Deallocate(pb, bytes);
}

TEST(EpcHeapTest, StatsSerialiseToJson) {
  std::unique_ptr<EpcHeap> heap = MakeHeap(8 * kMiB, kMinEpcBytes, CostProfile::Sgx1());
  ASSERT_NE(heap, nullptr);
  heap->RecordEcall();
  const std::string json = heap->Stats().ToJson();
  EXPECT_EQ(json.front(), '{');
  EXPECT_EQ(json.back(), '}');
  for (const char* field :
       {"\"profile\":\"sgx1\"", "\"ecalls\":1", "\"page_faults\":0", "\"evictions\":0",
        "\"bytes_paged_in\":0", "\"bytes_paged_out\":0", "\"cycles_charged\":8600",
        "\"pager_ns\":0", "\"epc_pages\":64", "\"cipher\":"}) {
    EXPECT_NE(json.find(field), std::string::npos) << field << " in " << json;
  }
}

TEST(EpcHeapDeathTest, FaultsOutsideEveryHeapStillCrash) {
  // The EPC handler must pass faults it does not own to the handler before
  // it (or the default action) rather than swallow them and loop.
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  std::unique_ptr<EpcHeap> heap = MakeHeap(8 * kMiB, kMinEpcBytes);
  ASSERT_NE(heap, nullptr);
  auto crash = [] {
    volatile int* null = nullptr;
    *null = 1;
  };
#if defined(__SANITIZE_THREAD__) || defined(__SANITIZE_ADDRESS__)
  // The sanitizer's own SIGSEGV handler was there first: it reports and aborts.
  EXPECT_DEATH(crash(), "SEGV on unknown address");
#else
  EXPECT_EXIT(crash(), ::testing::KilledBySignal(SIGSEGV), "");
#endif
}

TEST(EpcHeapDeathTest, FreeingAForeignPointerIsFatal) {
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  EXPECT_DEATH(
      {
        std::unique_ptr<EpcHeap> heap = MakeHeap(8 * kMiB, kMinEpcBytes);
        void* p = heap->Allocate(kPageBytes);
        heap->Deallocate(p, kPageBytes);
        heap->Deallocate(p, kPageBytes);
      },
      "not a live allocation");
}

}  // namespace
}  // namespace serdab::epc
