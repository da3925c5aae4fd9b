// CostProfile: the hardware costs the sim enclave adds on top of the work it
// really does.
//
// The emulated EPC pages through real faults and real crypto, which on this
// machine cost what they cost (measured, and reported as "raw"). A profile
// tops that up to a published hardware figure, so that totals match the
// platform being modelled:
//
//   none  adds nothing: the emulation's own cost only.
//   sgx1  a page swap costs 40,000 cycles in total (VAULT, MICRO 2018: the
//         EWB + ELDU pair plus the enclave exit and re-entry around the
//         fault), and an ECALL 8,600 cycles (HotCalls, ISCA 2017).
//
// The top-up is spun on the faulting thread (see SpinCycles), never slept.
#ifndef SERDAB_ENCLAVE_EPC_COST_PROFILE_H_
#define SERDAB_ENCLAVE_EPC_COST_PROFILE_H_

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "enclave/common/status.h"

namespace serdab::epc {

// Usable EPC of an SGX1 part: 93.5 MiB of the 128 MiB Processor Reserved
// Memory (the rest holds the EPCM and version-array pages).
inline constexpr size_t kSgx1EpcBytes = 98041856;  // 93.5 MiB
inline constexpr uint64_t kSgx1PageSwapCycles = 40000;
inline constexpr uint64_t kSgx1EcallCycles = 8600;

struct CostProfile {
  std::string name = "none";
  // Total cycles one page swap should cost. A swap whose measured raw cost is
  // below this is topped up to it; one above it is charged nothing extra.
  // 0 charges nothing.
  uint64_t page_swap_cycles = 0;
  // Cycles charged for every ECALL (the emulated boundary itself is a plain
  // function call, so the whole figure is charged).
  uint64_t ecall_cycles = 0;

  static CostProfile None();
  static CostProfile Sgx1();
  // "none" or "sgx1"; anything else is InvalidArgument naming the choices.
  static Result<CostProfile> Parse(std::string_view name);
};

}  // namespace serdab::epc

#endif  // SERDAB_ENCLAVE_EPC_COST_PROFILE_H_
