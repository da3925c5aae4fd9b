// EpcStats: a snapshot of one EPC heap's paging and boundary counters.
//
// Vocabulary:
//   page fault      a fault that made a non-resident page resident: either a
//                   page-in (decrypt + verify from the backing store) or a
//                   zero fill (first touch, or first touch after a free).
//   reference fault a fault on a page that was resident but that the clock
//                   hand had marked cold; it only re-enables access (the
//                   software stand-in for the hardware accessed bit).
//   spurious fault  a fault on a page another thread made accessible while
//                   this one waited for the pager.
//   swap            a page fault that evicted a page or paged one in: what
//                   SGX pays EWB/ELDU for, and what the cost profile charges.
//                   Evictions come in batches (up to 16 per pass of the
//                   clock); a fault that takes a frame a batch vacated ahead
//                   of it counts as having evicted, so batching changes the
//                   raw cost of swaps, not their number.
//   eviction pass   one run of the clock that evicted a batch of pages.
//   dropped page    a resident page released because its memory was freed
//                   (it is neither written back nor counted as an eviction).
//   first touch     a zero fill that evicted nothing: free on SGX1 (the page
//                   was committed at build), an EAUG on SGX2.
//
// Two clocks, both since the counters were last reset:
//   wall_ns       monotonic time on the host.
//   emulation_ns  the part of it the emulation spent paging instead of the
//                 target: stall_ns, the wall time during which at least one
//                 thread was stalled on a fault (from its signal delivery,
//                 calibrated, through waiting for the pager lock, paging and
//                 spinning a charge), plus the ECALL charges spun. A union
//                 over threads, not a sum: two threads queued on the pager
//                 stall a frame once, not twice; and the target's swaps are
//                 priced as serialised too (the SGX driver pages under one
//                 lock).
//   priced_ns     what the target pays for the same events: swaps x
//                 page_swap_cycles + first touches x first_touch_cycles +
//                 ECALLs x ecall_cycles.
//   tee_ns        the TEE-equivalent time: (wall_ns - emulation_ns) x
//                 (1 + memory_overhead) + priced_ns; wall_ns when the profile
//                 has no target ("none").
// Every term is a sum of events, so the difference of two snapshots taken
// around a piece of work is that work's time on each clock (the multiplied
// term up to rounding). Measure around the work: idle time between snapshots
// counts as compute on both clocks.
//
// Invariants once the heap is quiescent:
//   page_faults == pages_in + zero_fills
//   resident_pages == page_faults - evictions - pages_dropped
//   pages_in <= evictions, peak_resident_pages <= epc_pages
#ifndef SERDAB_ENCLAVE_EPC_EPC_STATS_H_
#define SERDAB_ENCLAVE_EPC_EPC_STATS_H_

#include <cstddef>
#include <cstdint>
#include <nlohmann/json_fwd.hpp>
#include <string>

namespace serdab::epc {

struct EpcStats {
  static constexpr uint64_t kPageBytes = 4096;

  // Configuration.
  std::string profile;  // cost profile name
  // The profile's target and prices (cost_profile.h), so that a reader of the
  // stats can price events without linking the EPC library.
  bool has_target = false;
  uint64_t target_epc_bytes = 0;  // 0: no limit
  uint64_t swap_price_cycles = 0;
  uint64_t first_touch_price_cycles = 0;
  uint64_t ecall_price_cycles = 0;
  double memory_overhead = 0;
  std::string cipher;  // page AEAD
  // The heap's virtual range, [heap_base, heap_base + heap_bytes): the
  // enclave's linear range, which an SGX host knows too (it mapped it).
  uint64_t heap_base = 0;
  uint64_t heap_bytes = 0;
  uint64_t epc_pages = 0;  // resident budget
  double cycles_per_second = 0;
  // Signal delivery, sigreturn and the re-executed access's minor fault, for
  // one fault, measured at Create: part of every swap's raw cost but outside
  // the handler's own clock.
  uint64_t fault_overhead_cycles = 0;

  // Faults.
  uint64_t page_faults = 0;
  uint64_t pages_in = 0;
  uint64_t zero_fills = 0;
  uint64_t reference_faults = 0;
  uint64_t spurious_faults = 0;
  uint64_t evictions = 0;
  uint64_t eviction_passes = 0;
  // The pager's mprotect and MADV_DONTNEED calls on the enclave view: a run of
  // contiguous pages costs one.
  uint64_t mprotect_calls = 0;
  uint64_t page_releases = 0;
  uint64_t pages_dropped = 0;
  uint64_t resident_pages = 0;
  uint64_t peak_resident_pages = 0;

  // Cost.
  uint64_t swaps = 0;
  uint64_t raw_swap_cycles = 0;      // measured: handler time + fault_overhead_cycles
  uint64_t swap_cycles_charged = 0;  // added by the cost profile
  uint64_t ecalls = 0;
  uint64_t ecall_cycles_charged = 0;  // added by the cost profile
  uint64_t pager_ns = 0;  // thread time in the fault handler, lock waits included, charges not
  uint64_t first_touches = 0;
  uint64_t first_touch_cycles_charged = 0;  // added by the cost profile
  uint64_t stall_ns = 0;                    // wall time with at least one thread stalled on a fault

  // Clocks (see above).
  uint64_t wall_ns = 0;
  uint64_t emulation_ns = 0;
  uint64_t priced_ns = 0;
  uint64_t tee_ns = 0;

  uint64_t bytes_paged_in() const { return pages_in * kPageBytes; }
  uint64_t bytes_paged_out() const { return evictions * kPageBytes; }
  uint64_t cycles_charged() const {
    return swap_cycles_charged + first_touch_cycles_charged + ecall_cycles_charged;
  }

  // One JSON object with every field above (derived ones included).
  nlohmann::ordered_json ToJsonObject() const;
  // The same object on one line.
  std::string ToJson() const;
};

}  // namespace serdab::epc

#endif  // SERDAB_ENCLAVE_EPC_EPC_STATS_H_
