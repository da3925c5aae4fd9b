// Cost profiles: what each profile charges per page swap, first touch and
// ECALL, and the two clocks' accounting. Checks the counters only, never how
// long anything took.
#include <gtest/gtest.h>

#include <cstdint>
#include <memory>
#include <string>
#include <thread>
#include <vector>

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

// Writes one byte per page over `pages` pages, `passes` times (volatile: the
// compiler must not fold the passes into one).
void Sweep(uint8_t* data, size_t pages, int passes) {
  volatile uint8_t* bytes = data;
  for (int pass = 0; pass < passes; ++pass) {
    for (size_t p = 0; p < pages; ++p) bytes[p * kPageBytes] = static_cast<uint8_t>(pass);
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

// The TEE-equivalent clock from the counters alone, as epc_stats.h defines it.
double ExpectedTeeNs(const EpcStats& s, const CostProfile& p) {
  const double ns_per_cycle = 1e9 / s.cycles_per_second;
  const double emulation =
      static_cast<double>(s.stall_ns) + static_cast<double>(s.ecall_cycles_charged) * ns_per_cycle;
  const double priced = (static_cast<double>(s.swaps * p.page_swap_cycles) +
                         static_cast<double>(s.first_touches * p.first_touch_cycles) +
                         static_cast<double>(s.ecalls * p.ecall_cycles)) *
                        ns_per_cycle;
  return (static_cast<double>(s.wall_ns) - emulation) * (1 + p.memory_overhead) + priced;
}

TEST(EpcCostTest, TeeClockReplacesThePagersTimeWithTheProfilesPrice) {
  const CostProfile profile = CostProfile::Sgx1();
  std::unique_ptr<EpcHeap> heap = MakeHeap(profile);
  ASSERT_NE(heap, nullptr);
  const size_t pages = 4 * heap->epc_pages();
  auto* data = static_cast<uint8_t*>(heap->Allocate(pages * kPageBytes));
  ASSERT_NE(data, nullptr);
  heap->ResetStats();
  Sweep(data, pages, 4);
  for (int i = 0; i < 3; ++i) heap->RecordEcall();
  const EpcStats s = heap->Stats();
  ASSERT_GT(s.swaps, 3 * pages);
  // One thread: the stall is its own handler time plus the charges it spun.
  EXPECT_GE(s.stall_ns, s.pager_ns);
  EXPECT_LE(s.emulation_ns, s.wall_ns);
  const double ns_per_cycle = 1e9 / s.cycles_per_second;
  EXPECT_NEAR(
      static_cast<double>(s.priced_ns),
      static_cast<double>(s.swaps * kSgx1PageSwapCycles + 3 * kSgx1EcallCycles) * ns_per_cycle,
      1.0);
  EXPECT_NEAR(static_cast<double>(s.tee_ns), ExpectedTeeNs(s, profile), 2.0);
  EXPECT_EQ(s.tee_ns, s.wall_ns - s.emulation_ns + s.priced_ns);
  heap->Deallocate(data, pages * kPageBytes);
}

TEST(EpcCostTest, StallIsAUnionOverThreadsNotASum) {
  // Two threads thrash the same small EPC and queue on the pager lock: their
  // summed handler time (pager_ns) may exceed the wall time, the stall never
  // does.
  std::unique_ptr<EpcHeap> heap = MakeHeap(CostProfile::None());
  ASSERT_NE(heap, nullptr);
  const size_t pages = 2 * heap->epc_pages();
  std::vector<uint8_t*> regions;
  for (int t = 0; t < 2; ++t) {
    regions.push_back(static_cast<uint8_t*>(heap->Allocate(pages * kPageBytes)));
    ASSERT_NE(regions.back(), nullptr);
  }
  heap->ResetStats();
  std::vector<std::thread> threads;
  for (uint8_t* region : regions)
    threads.emplace_back([region, pages] { Sweep(region, pages, 3); });
  for (std::thread& t : threads) t.join();
  const EpcStats s = heap->Stats();
  ASSERT_GT(s.swaps, 0u);
  EXPECT_GT(s.stall_ns, 0u);
  EXPECT_LE(s.stall_ns, s.wall_ns);
  // No target: the TEE-equivalent clock is the wall clock.
  EXPECT_EQ(s.tee_ns, s.wall_ns);
  EXPECT_EQ(s.priced_ns, 0u);
  for (uint8_t* region : regions) heap->Deallocate(region, pages * kPageBytes);
}

TEST(EpcCostTest, ClocksAreDifferencesOfSnapshots) {
  const CostProfile profile = CostProfile::Sgx1();
  std::unique_ptr<EpcHeap> heap = MakeHeap(profile);
  ASSERT_NE(heap, nullptr);
  const size_t pages = 2 * heap->epc_pages();
  auto* data = static_cast<uint8_t*>(heap->Allocate(pages * kPageBytes));
  ASSERT_NE(data, nullptr);
  Sweep(data, pages, 1);
  const EpcStats before = heap->Stats();
  Sweep(data, pages, 2);
  heap->RecordEcall();
  const EpcStats after = heap->Stats();
  const uint64_t swaps = after.swaps - before.swaps;
  EXPECT_EQ(swaps, 2 * pages);  // a cyclic sweep of 2x the EPC misses every page
  EXPECT_EQ(after.ecalls - before.ecalls, 1u);
  const double ns_per_cycle = 1e9 / after.cycles_per_second;
  const double priced = static_cast<double>(after.priced_ns - before.priced_ns);
  EXPECT_NEAR(priced,
              static_cast<double>(swaps * kSgx1PageSwapCycles + kSgx1EcallCycles) * ns_per_cycle,
              2.0);
  const double tee = static_cast<double>(after.tee_ns) - static_cast<double>(before.tee_ns);
  const double wall = static_cast<double>(after.wall_ns - before.wall_ns);
  const double emulation = static_cast<double>(after.emulation_ns - before.emulation_ns);
  EXPECT_NEAR(tee, wall - emulation + priced, 4.0);
  heap->Deallocate(data, pages * kPageBytes);
}

TEST(EpcCostTest, Sgx2ChargesFirstTouchesAndPagesAtTheSgx1Price) {
  const CostProfile profile = CostProfile::Sgx2();
  EXPECT_GT(profile.epc_bytes, size_t{1} << 30);
  std::unique_ptr<EpcHeap> heap = MakeHeap(profile);
  ASSERT_NE(heap, nullptr);
  const size_t pages = heap->epc_pages() / 2;
  auto* data = static_cast<uint8_t*>(heap->Allocate(pages * kPageBytes));
  ASSERT_NE(data, nullptr);
  Sweep(data, pages, 2);
  const EpcStats s = heap->Stats();
  EXPECT_EQ(s.first_touches, pages);
  EXPECT_EQ(s.swaps, 0u);
  // A first touch costs max(raw, 25000): the charge only tops up.
  EXPECT_LE(s.first_touch_cycles_charged, pages * kSgx2FirstTouchCycles);
  const double ns_per_cycle = 1e9 / s.cycles_per_second;
  EXPECT_NEAR(static_cast<double>(s.priced_ns),
              static_cast<double>(pages * kSgx2FirstTouchCycles) * ns_per_cycle, 1.0);
  EXPECT_NEAR(static_cast<double>(s.tee_ns), ExpectedTeeNs(s, profile), 2.0);
  EXPECT_EQ(profile.page_swap_cycles, kSgx1PageSwapCycles);
  heap->Deallocate(data, pages * kPageBytes);
}

TEST(EpcCostTest, VmTeesPriceNoPagingButEveryExitAndTheMemoryEngine) {
  for (const char* name : {"tdx", "sev-snp"}) {
    SCOPED_TRACE(name);
    const CostProfile profile = CostProfile::Parse(name).value();
    EXPECT_EQ(profile.epc_bytes, 0u);  // no limit
    EXPECT_EQ(profile.page_swap_cycles, 0u);
    EXPECT_GT(profile.memory_overhead, 0.0);
    std::unique_ptr<EpcHeap> heap = MakeHeap(profile);
    ASSERT_NE(heap, nullptr);
    const size_t pages = 2 * heap->epc_pages();
    auto* data = static_cast<uint8_t*>(heap->Allocate(pages * kPageBytes));
    ASSERT_NE(data, nullptr);
    Sweep(data, pages, 2);
    heap->RecordEcall();
    const EpcStats s = heap->Stats();
    EXPECT_GT(s.swaps, 0u);  // the emulation still pages its small budget...
    EXPECT_EQ(s.swap_cycles_charged, 0u);
    const double ns_per_cycle = 1e9 / s.cycles_per_second;
    // ...but the target only pays for the exit.
    EXPECT_NEAR(static_cast<double>(s.priced_ns),
                static_cast<double>(kVmTeeExitCycles) * ns_per_cycle, 1.0);
    EXPECT_NEAR(static_cast<double>(s.tee_ns), ExpectedTeeNs(s, profile), 2.0);
    heap->Deallocate(data, pages * kPageBytes);
  }
}

TEST(EpcCostTest, ParseNamesEveryProfile) {
  for (const char* name : {"none", "sgx1", "sgx2", "tdx", "sev-snp"}) {
    Result<CostProfile> p = CostProfile::Parse(name);
    ASSERT_TRUE(p.ok()) << name;
    EXPECT_EQ(p->name, name);
    EXPECT_EQ(p->has_target, std::string(name) != "none");
  }
  Result<CostProfile> bad = CostProfile::Parse("sgx3");
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.status().ToString().find("sev-snp"), std::string::npos);
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
