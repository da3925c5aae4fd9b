// What the emulated EPC costs on this machine, and what the sgx1 profile
// charges on top.
//
//   BM_PageSwap/none   a touch that evicts a page and pages another in: the
//                      raw cost of one swap here (signal, mprotect, seal,
//                      hole punch, open, kernel faults).
//   BM_PageSwap/sgx1   the same, topped up to 40,000 cycles per swap.
//   BM_FirstTouch      a fault on a page never used before with the budget
//                      not yet full (zero fill, no eviction): an artefact of
//                      the emulation (SGX1 commits these pages at build), so
//                      never charged.
//   BM_SealOpenPage    the AEAD share of a swap: sealing plus opening 4 KiB.
//   BM_Ecall/none|sgx1 one ECALL as the boundary records it.
//
// Counters (per swap or per call, in TSC cycles unless named _ns):
//   raw_cycles_per_swap     measured inside the handler plus the signal
//                           delivery overhead calibrated at Create
//   charged_cycles_per_swap what the profile added
//   total_cycles_per_swap   raw + charged (the modelled cost)
//   cycles_per_iter         wall cycles per benchmark iteration, measured
//                           around the loop (includes everything)
//   passes_per_swap, mprotects_per_swap, punches_per_swap
//                           runs of the clock and the pager's system calls
//                           (BM_PageSwap; batched eviction lowers them)
#include <benchmark/benchmark.h>

#include <algorithm>
#include <cstdint>
#include <memory>
#include <vector>

#include "enclave/epc/cycle_clock.h"
#include "enclave/epc/epc_heap.h"
#include "enclave/epc/page_cipher.h"

namespace serdab::epc {
namespace {

constexpr size_t kMiB = size_t{1} << 20;

std::unique_ptr<EpcHeap> MakeHeap(size_t epc_bytes, const CostProfile& profile) {
  EpcConfig config;
  config.heap_bytes = 256 * kMiB;
  config.epc_bytes = epc_bytes;
  config.profile = profile;
  Result<std::unique_ptr<EpcHeap>> heap = EpcHeap::Create(config);
  return heap.ok() ? std::move(heap).value() : nullptr;
}

void SetPerEventCounters(benchmark::State& state, const EpcStats& s, uint64_t events,
                         uint64_t loop_cycles) {
  const double n = events > 0 ? static_cast<double>(events) : 1.0;
  state.counters["raw_cycles_per_swap"] = static_cast<double>(s.raw_swap_cycles) / n;
  state.counters["charged_cycles_per_swap"] = static_cast<double>(s.swap_cycles_charged) / n;
  state.counters["total_cycles_per_swap"] =
      static_cast<double>(s.raw_swap_cycles + s.swap_cycles_charged) / n;
  state.counters["pager_ns_per_fault"] =
      static_cast<double>(s.pager_ns) / static_cast<double>(std::max<uint64_t>(1, s.page_faults));
  state.counters["signal_overhead_cycles"] = static_cast<double>(s.fault_overhead_cycles);
  state.counters["cycles_per_iter"] =
      static_cast<double>(loop_cycles) / static_cast<double>(state.iterations());
  state.counters["tsc_ghz"] = CyclesPerSecond() / 1e9;
}

void BM_PageSwap(benchmark::State& state) {
  const bool sgx1 = state.range(0) != 0;
  state.SetLabel(sgx1 ? "sgx1" : "none");
  const size_t epc_bytes = 4 * kMiB;
  std::unique_ptr<EpcHeap> heap = MakeHeap(epc_bytes, sgx1 ? CostProfile::Sgx1() : CostProfile{});
  if (heap == nullptr) {
    state.SkipWithError("cannot create the EPC heap");
    return;
  }
  // A cyclic sweep over four times the budget: every touch misses.
  const size_t pages = 4 * epc_bytes / kPageBytes;
  auto* data = static_cast<uint8_t*>(heap->Allocate(pages * kPageBytes));
  for (int pass = 0; pass < 2; ++pass) {
    for (size_t p = 0; p < pages; ++p) data[p * kPageBytes] += 1;
  }
  heap->ResetStats();
  size_t p = 0;
  const uint64_t start = ReadCycles();
  for (auto _ : state) {
    data[p * kPageBytes] += 1;
    p = p + 1 == pages ? 0 : p + 1;
  }
  const uint64_t loop_cycles = ReadCycles() - start;
  const EpcStats s = heap->Stats();
  SetPerEventCounters(state, s, s.swaps, loop_cycles);
  state.counters["swaps_per_iter"] =
      static_cast<double>(s.swaps) / static_cast<double>(state.iterations());
  const double swaps = static_cast<double>(std::max<uint64_t>(1, s.swaps));
  state.counters["passes_per_swap"] = static_cast<double>(s.eviction_passes) / swaps;
  state.counters["mprotects_per_swap"] = static_cast<double>(s.mprotect_calls) / swaps;
  state.counters["punches_per_swap"] = static_cast<double>(s.hole_punches) / swaps;
  heap->Deallocate(data, pages * kPageBytes);
}
BENCHMARK(BM_PageSwap)->Arg(0)->Arg(1)->Unit(benchmark::kMicrosecond);

void BM_FirstTouch(benchmark::State& state) {
  const size_t epc_bytes = 64 * kMiB;
  std::unique_ptr<EpcHeap> heap = MakeHeap(epc_bytes, CostProfile::Sgx1());
  if (heap == nullptr) {
    state.SkipWithError("cannot create the EPC heap");
    return;
  }
  const size_t pages = epc_bytes / kPageBytes / 2;
  auto* data = static_cast<uint8_t*>(heap->Allocate(pages * kPageBytes));
  size_t p = 0;
  uint64_t loop_cycles = 0;
  uint64_t start = ReadCycles();
  for (auto _ : state) {
    data[p * kPageBytes] = 1;
    if (++p == pages) {
      // Freeing drops every page, so the same range faults afresh.
      loop_cycles += ReadCycles() - start;
      state.PauseTiming();
      heap->Deallocate(data, pages * kPageBytes);
      data = static_cast<uint8_t*>(heap->Allocate(pages * kPageBytes));
      p = 0;
      state.ResumeTiming();
      start = ReadCycles();
    }
  }
  loop_cycles += ReadCycles() - start;
  const EpcStats s = heap->Stats();
  SetPerEventCounters(state, s, s.swaps, loop_cycles);
  state.counters["faults_per_iter"] =
      static_cast<double>(s.page_faults) / static_cast<double>(state.iterations());
  state.counters["charged_cycles"] = static_cast<double>(s.cycles_charged());
  heap->Deallocate(data, pages * kPageBytes);
}
BENCHMARK(BM_FirstTouch)->Unit(benchmark::kMicrosecond);

void BM_SealOpenPage(benchmark::State& state) {
  Result<std::unique_ptr<PageCipher>> cipher = PageCipher::Create();
  if (!cipher.ok()) {
    state.SkipWithError("cannot create the page cipher");
    return;
  }
  state.SetLabel((*cipher)->name());
  alignas(64) static uint8_t page[kPageBytes];
  uint8_t tag[PageCipher::kTagBytes];
  uint64_t version = 0;
  const uint64_t start = ReadCycles();
  for (auto _ : state) {
    ++version;
    (*cipher)->Seal(7, version, page, kPageBytes, tag);
    if (!(*cipher)->Open(7, version, page, kPageBytes, tag)) {
      state.SkipWithError("open failed");
      break;
    }
  }
  state.counters["cycles_per_iter"] = static_cast<double>(ReadCycles() - start) /
                                      static_cast<double>(std::max<int64_t>(1, state.iterations()));
  state.SetBytesProcessed(state.iterations() * 2 * static_cast<int64_t>(kPageBytes));
}
BENCHMARK(BM_SealOpenPage);

void BM_Ecall(benchmark::State& state) {
  const bool sgx1 = state.range(0) != 0;
  state.SetLabel(sgx1 ? "sgx1" : "none");
  std::unique_ptr<EpcHeap> heap =
      MakeHeap(kMinEpcBytes, sgx1 ? CostProfile::Sgx1() : CostProfile{});
  if (heap == nullptr) {
    state.SkipWithError("cannot create the EPC heap");
    return;
  }
  const uint64_t start = ReadCycles();
  for (auto _ : state) heap->RecordEcall();
  const EpcStats s = heap->Stats();
  const double n = static_cast<double>(std::max<uint64_t>(1, s.ecalls));
  state.counters["cycles_per_iter"] = static_cast<double>(ReadCycles() - start) / n;
  state.counters["charged_cycles_per_ecall"] = static_cast<double>(s.ecall_cycles_charged) / n;
}
BENCHMARK(BM_Ecall)->Arg(0)->Arg(1);

}  // namespace
}  // namespace serdab::epc

BENCHMARK_MAIN();
