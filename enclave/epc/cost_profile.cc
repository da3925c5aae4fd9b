#include "enclave/epc/cost_profile.h"

namespace serdab::epc {

CostProfile CostProfile::None() { return CostProfile{}; }

CostProfile CostProfile::Sgx1() {
  CostProfile p;
  p.name = "sgx1";
  p.page_swap_cycles = kSgx1PageSwapCycles;
  p.ecall_cycles = kSgx1EcallCycles;
  return p;
}

Result<CostProfile> CostProfile::Parse(std::string_view name) {
  if (name == "none") return None();
  if (name == "sgx1") return Sgx1();
  return Status::InvalidArgument("unknown enclave cost profile '" + std::string(name) +
                                 "': expected 'sgx1' or 'none'");
}

}  // namespace serdab::epc
