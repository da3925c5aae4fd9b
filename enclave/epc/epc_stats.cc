#include "enclave/epc/epc_stats.h"

#include <cmath>
#include <nlohmann/json.hpp>
#include <string>

namespace serdab::epc {

nlohmann::ordered_json EpcStats::ToJsonObject() const {
  return {
      {"profile", profile},
      {"cipher", cipher},
      // Whole cycles, and the overhead to 4 decimals: the precision readers
      // have always been given.
      {"cycles_per_second", std::llround(cycles_per_second)},
      {"has_target", has_target},
      {"target_epc_bytes", target_epc_bytes},
      {"swap_price_cycles", swap_price_cycles},
      {"first_touch_price_cycles", first_touch_price_cycles},
      {"ecall_price_cycles", ecall_price_cycles},
      {"memory_overhead", std::round(memory_overhead * 1e4) / 1e4},
      {"heap_base", heap_base},
      {"heap_bytes", heap_bytes},
      {"epc_pages", epc_pages},
      {"epc_bytes", epc_pages * kPageBytes},
      {"fault_overhead_cycles", fault_overhead_cycles},
      {"page_faults", page_faults},
      {"pages_in", pages_in},
      {"zero_fills", zero_fills},
      {"reference_faults", reference_faults},
      {"spurious_faults", spurious_faults},
      {"evictions", evictions},
      {"eviction_passes", eviction_passes},
      {"mprotect_calls", mprotect_calls},
      {"page_releases", page_releases},
      {"pages_dropped", pages_dropped},
      {"resident_pages", resident_pages},
      {"peak_resident_pages", peak_resident_pages},
      {"bytes_paged_in", bytes_paged_in()},
      {"bytes_paged_out", bytes_paged_out()},
      {"swaps", swaps},
      {"raw_swap_cycles", raw_swap_cycles},
      {"swap_cycles_charged", swap_cycles_charged},
      {"ecalls", ecalls},
      {"ecall_cycles_charged", ecall_cycles_charged},
      {"cycles_charged", cycles_charged()},
      {"pager_ns", pager_ns},
      {"first_touches", first_touches},
      {"first_touch_cycles_charged", first_touch_cycles_charged},
      {"stall_ns", stall_ns},
      {"wall_ns", wall_ns},
      {"emulation_ns", emulation_ns},
      {"priced_ns", priced_ns},
      {"tee_ns", tee_ns},
  };
}

std::string EpcStats::ToJson() const {
  // Replaces invalid UTF-8 (none is expected) rather than throwing: this runs
  // inside ECALLs.
  return ToJsonObject().dump(-1, ' ', false, nlohmann::ordered_json::error_handler_t::replace);
}

}  // namespace serdab::epc
