#include "enclave/epc/epc_stats.h"

#include <cstdio>
#include <string>

namespace serdab::epc {
namespace {

void AddField(std::string* out, const char* name, uint64_t value) {
  *out += ",\"";
  *out += name;
  *out += "\":";
  *out += std::to_string(value);
}

}  // namespace

std::string EpcStats::ToJson() const {
  // Names come from our own tables (no characters that need escaping).
  std::string out = "{\"profile\":\"" + profile + "\",\"cipher\":\"" + cipher + "\"";
  char rate[32];
  std::snprintf(rate, sizeof(rate), "%.0f", cycles_per_second);
  out += ",\"cycles_per_second\":";
  out += rate;
  out += ",\"has_target\":";
  out += has_target ? "true" : "false";
  AddField(&out, "target_epc_bytes", target_epc_bytes);
  AddField(&out, "swap_price_cycles", swap_price_cycles);
  AddField(&out, "first_touch_price_cycles", first_touch_price_cycles);
  AddField(&out, "ecall_price_cycles", ecall_price_cycles);
  char overhead[32];
  std::snprintf(overhead, sizeof(overhead), "%.4f", memory_overhead);
  out += ",\"memory_overhead\":";
  out += overhead;
  AddField(&out, "heap_bytes", heap_bytes);
  AddField(&out, "epc_pages", epc_pages);
  AddField(&out, "epc_bytes", epc_pages * kPageBytes);
  AddField(&out, "fault_overhead_cycles", fault_overhead_cycles);
  AddField(&out, "page_faults", page_faults);
  AddField(&out, "pages_in", pages_in);
  AddField(&out, "zero_fills", zero_fills);
  AddField(&out, "reference_faults", reference_faults);
  AddField(&out, "spurious_faults", spurious_faults);
  AddField(&out, "evictions", evictions);
  AddField(&out, "pages_dropped", pages_dropped);
  AddField(&out, "resident_pages", resident_pages);
  AddField(&out, "peak_resident_pages", peak_resident_pages);
  AddField(&out, "bytes_paged_in", bytes_paged_in());
  AddField(&out, "bytes_paged_out", bytes_paged_out());
  AddField(&out, "swaps", swaps);
  AddField(&out, "raw_swap_cycles", raw_swap_cycles);
  AddField(&out, "swap_cycles_charged", swap_cycles_charged);
  AddField(&out, "ecalls", ecalls);
  AddField(&out, "ecall_cycles_charged", ecall_cycles_charged);
  AddField(&out, "cycles_charged", cycles_charged());
  AddField(&out, "pager_ns", pager_ns);
  AddField(&out, "first_touches", first_touches);
  AddField(&out, "first_touch_cycles_charged", first_touch_cycles_charged);
  AddField(&out, "stall_ns", stall_ns);
  AddField(&out, "wall_ns", wall_ns);
  AddField(&out, "emulation_ns", emulation_ns);
  AddField(&out, "priced_ns", priced_ns);
  AddField(&out, "tee_ns", tee_ns);
  return out + "}";
}

}  // namespace serdab::epc
