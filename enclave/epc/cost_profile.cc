#include "enclave/epc/cost_profile.h"

namespace serdab::epc {
namespace {

CostProfile VmTee(const char* name) {
  CostProfile p;
  p.name = name;
  p.has_target = true;
  p.ecall_cycles = kVmTeeExitCycles;
  p.memory_overhead = kVmTeeMemoryOverhead;
  return p;
}

}  // namespace

CostProfile CostProfile::None() { return CostProfile{}; }

CostProfile CostProfile::Sgx1() {
  CostProfile p;
  p.name = "sgx1";
  p.has_target = true;
  p.epc_bytes = kSgx1EpcBytes;
  p.page_swap_cycles = kSgx1PageSwapCycles;
  p.ecall_cycles = kSgx1EcallCycles;
  return p;
}

CostProfile CostProfile::Sgx2() {
  CostProfile p = Sgx1();
  p.name = "sgx2";
  p.epc_bytes = kSgx2EpcBytes;
  p.first_touch_cycles = kSgx2FirstTouchCycles;
  return p;
}

CostProfile CostProfile::Tdx() { return VmTee("tdx"); }

CostProfile CostProfile::SevSnp() { return VmTee("sev-snp"); }

Result<CostProfile> CostProfile::Parse(std::string_view name) {
  if (name == "none") return None();
  if (name == "sgx1") return Sgx1();
  if (name == "sgx2") return Sgx2();
  if (name == "tdx") return Tdx();
  if (name == "sev-snp") return SevSnp();
  return Status::InvalidArgument("unknown enclave cost profile '" + std::string(name) +
                                 "': expected one of none, sgx1, sgx2, tdx, sev-snp");
}

}  // namespace serdab::epc
