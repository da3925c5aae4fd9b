// Cost profiles: what the sgx1 profile charges per page swap and per ECALL,
// and that "none" charges nothing. Checks the counters only, never wall time.
#include <gtest/gtest.h>

#include <cstdint>
#include <memory>

#include "enclave/epc/cycle_clock.h"
#include "enclave/epc/epc_heap.h"

namespace serdab::epc {
namespace {

constexpr size_t kMiB = size_t{1} << 20;

std::unique_ptr<EpcHeap> MakeHeap(CostProfile profile) {
  EpcConfig config;
  config.heap_bytes = 8 * kMiB;
  config.epc_bytes = kMinEpcBytes;
  config.profile = profile;
  Result<std::unique_ptr<EpcHeap>> heap = EpcHeap::Create(config);
  if (!heap.ok()) {
    ADD_FAILURE() << heap.status().ToString();
    return nullptr;
  }
  return std::move(heap).value();
}

// Writes one byte per page over `pages` pages, `passes` times.
void Sweep(uint8_t* data, size_t pages, int passes) {
  for (int pass = 0; pass < passes; ++pass) {
    for (size_t p = 0; p < pages; ++p) data[p * kPageBytes] = static_cast<uint8_t>(pass);
  }
}

TEST(EpcCostTest, Sgx1ChargesFortyThousandCyclesPerSwap) {
  std::unique_ptr<EpcHeap> heap = MakeHeap(CostProfile::Sgx1());
  ASSERT_NE(heap, nullptr);
  const size_t pages = 2 * heap->epc_pages();
  auto* data = static_cast<uint8_t*>(heap->Allocate(pages * kPageBytes));
  ASSERT_NE(data, nullptr);
  Sweep(data, pages, 3);
  const EpcStats s = heap->Stats();
  ASSERT_GT(s.swaps, 0u);
  EXPECT_EQ(s.swaps, s.page_faults - heap->epc_pages());  // every fault after the first fill
  // Each swap costs max(raw, 40000): the charge only tops up.
  const double raw = static_cast<double>(s.raw_swap_cycles) / s.swaps;
  const double charged = static_cast<double>(s.swap_cycles_charged) / s.swaps;
  EXPECT_LE(charged, kSgx1PageSwapCycles);
  EXPECT_GE(raw + charged, kSgx1PageSwapCycles);
  EXPECT_LE(raw + charged, kSgx1PageSwapCycles + raw);
  EXPECT_GT(s.fault_overhead_cycles, 0u);
  EXPECT_EQ(s.ecall_cycles_charged, 0u);
  EXPECT_EQ(s.cycles_charged(), s.swap_cycles_charged);
  heap->Deallocate(data, pages * kPageBytes);
}

TEST(EpcCostTest, FirstTouchUnderTheBudgetIsNotASwap) {
  // On SGX1 these pages would have been committed at enclave build; only the
  // emulation faults on them, so nothing is charged.
  std::unique_ptr<EpcHeap> heap = MakeHeap(CostProfile::Sgx1());
  ASSERT_NE(heap, nullptr);
  const size_t pages = heap->epc_pages() / 2;
  auto* data = static_cast<uint8_t*>(heap->Allocate(pages * kPageBytes));
  ASSERT_NE(data, nullptr);
  Sweep(data, pages, 2);
  const EpcStats s = heap->Stats();
  EXPECT_EQ(s.page_faults, pages);
  EXPECT_EQ(s.swaps, 0u);
  EXPECT_EQ(s.cycles_charged(), 0u);
  heap->Deallocate(data, pages * kPageBytes);
}

TEST(EpcCostTest, NoneChargesNothing) {
  std::unique_ptr<EpcHeap> heap = MakeHeap(CostProfile::None());
  ASSERT_NE(heap, nullptr);
  const size_t pages = 2 * heap->epc_pages();
  auto* data = static_cast<uint8_t*>(heap->Allocate(pages * kPageBytes));
  ASSERT_NE(data, nullptr);
  Sweep(data, pages, 2);
  heap->RecordEcall();
  const EpcStats s = heap->Stats();
  EXPECT_GT(s.swaps, 0u);
  EXPECT_GT(s.raw_swap_cycles, 0u);
  EXPECT_GT(s.pager_ns, 0u);
  EXPECT_EQ(s.ecalls, 1u);
  EXPECT_EQ(s.cycles_charged(), 0u);
  heap->Deallocate(data, pages * kPageBytes);
}

TEST(EpcCostTest, EcallsAreCountedAndChargedBySgx1) {
  std::unique_ptr<EpcHeap> heap = MakeHeap(CostProfile::Sgx1());
  ASSERT_NE(heap, nullptr);
  for (int i = 0; i < 10; ++i) heap->RecordEcall();
  const EpcStats s = heap->Stats();
  EXPECT_EQ(s.ecalls, 10u);
  EXPECT_EQ(s.ecall_cycles_charged, 10 * kSgx1EcallCycles);
  EXPECT_EQ(s.cycles_charged(), 10 * kSgx1EcallCycles);
  heap->ResetStats();
  EXPECT_EQ(heap->Stats().ecalls, 0u);
}

TEST(CycleClockTest, SpinWaitsAtLeastTheRequestedCycles) {
  EXPECT_GT(CyclesPerSecond(), 1e6);
  const uint64_t start = ReadCycles();
  SpinCycles(100000);
  EXPECT_GE(ReadCycles() - start, 100000u);
  const uint64_t ns = MonotonicNanos();
  EXPECT_GE(MonotonicNanos(), ns);
}

}  // namespace
}  // namespace serdab::epc
