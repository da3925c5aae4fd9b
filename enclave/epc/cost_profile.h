// CostProfile: the target TEE whose costs the sim enclave accounts for.
//
// The emulated EPC pages through real faults and real crypto, which on the
// host cost what they cost: the host's page-fault path, and the pager lock
// when several threads fault at once, make a raw swap 20 us on one VM and
// 75 us on another. A profile names the hardware being modelled and its
// published prices, and the heap keeps two clocks (see epc_stats.h): wall
// time, and TEE-equivalent time, which is wall time with the emulation's own
// paging taken out and the profile's prices put in. TEE-equivalent time is
// what plans and baselines compare, so they do not depend on the host.
//
// The profiles and their sources:
//
//   none     no target: the emulation's costs are the costs (TEE-equivalent
//            time equals wall time).
//   sgx1     93.5 MiB of usable EPC (128 MiB PRM less the EPCM and
//            version-array pages; Intel SGX developer reference). A page swap
//            costs 40,000 cycles in all: EWB + ELDU plus the enclave exit and
//            re-entry around the fault (VAULT, Taassori et al., ASPLOS 2018,
//            and Eleos, Orenbach et al., EuroSys 2017, both measure 40k+). An
//            ECALL costs 8,600 cycles (HotCalls, Weisse et al., ISCA 2017).
//            Heap pages are committed when the enclave is built (EADD), so a
//            first touch is free.
//   sgx2     Ice Lake-SP and later: EPC of up to 512 GiB per socket (64 GiB
//            on common parts; Intel 3rd Gen Xeon Scalable brief), so a model
//            pages rarely, at the same EWB/ELDU price when it does. The heap
//            grows by EDMM: a first touch is an #PF, EAUG in the driver and
//            EACCEPT in the enclave, ~25,000 cycles (our estimate from the
//            exit + re-entry of the swap figure less the copy and crypto; the
//            Linux sgx driver's sgx_encl_eaug_page). ECALL as sgx1.
//   tdx      VM-level TEEs: the whole guest memory is encrypted, with no EPC
//   sev-snp  limit and no paging of its own; the memory encryption engine
//            costs a few per cent of compute (2-5% in AMD's SEV-SNP and
//            Intel's TDX performance papers; we charge 3%), and every I/O
//            exit is a TDVMCALL / VMGEXIT round trip through the TDX module or
//            the PSP-managed VMSA, ~20,000 cycles (several times a plain VM
//            exit; Cheng et al., "Intel TDX Demystified", 2023, and Misono et
//            al., "Confidential VMs Explained", SIGMETRICS 2024).
//
// The heap also spins the swap, first-touch and ECALL prices on the faulting
// or calling thread when the emulation's own cost is lower (see SpinCycles),
// so wall time on a fast host is not cheaper than the target; the
// TEE-equivalent clock takes those spins out again with the rest of the
// emulation's time.
#ifndef SERDAB_ENCLAVE_EPC_COST_PROFILE_H_
#define SERDAB_ENCLAVE_EPC_COST_PROFILE_H_

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "enclave/common/status.h"

namespace serdab::epc {

inline constexpr size_t kSgx1EpcBytes = 98041856;  // 93.5 MiB
inline constexpr uint64_t kSgx1PageSwapCycles = 40000;
inline constexpr uint64_t kSgx1EcallCycles = 8600;
inline constexpr size_t kSgx2EpcBytes = size_t{64} << 30;
inline constexpr uint64_t kSgx2FirstTouchCycles = 25000;
inline constexpr uint64_t kVmTeeExitCycles = 20000;
inline constexpr double kVmTeeMemoryOverhead = 0.03;

struct CostProfile {
  std::string name = "none";
  // Whether the profile models a target at all: "none" does not, and its
  // TEE-equivalent time is the wall time.
  bool has_target = false;
  // The target's usable protected memory; 0 = no limit (a VM-level TEE).
  // What planners assume for a worker of this kind; the emulated heap's own
  // budget is set by EpcConfig.
  size_t epc_bytes = 0;
  // Cycles one page swap (an eviction, a page-in, or both) costs on the
  // target. 0: the target does not page.
  uint64_t page_swap_cycles = 0;
  // Cycles the first touch of a heap page costs when it evicts nothing.
  uint64_t first_touch_cycles = 0;
  // Cycles charged for every ECALL, or for a VM-level TEE every I/O exit (the
  // emulated boundary itself is a plain function call).
  uint64_t ecall_cycles = 0;
  // Fraction that memory encryption adds to compute time (0.03 = 3%).
  double memory_overhead = 0;

  static CostProfile None();
  static CostProfile Sgx1();
  static CostProfile Sgx2();
  static CostProfile Tdx();
  static CostProfile SevSnp();
  // One of the names above; anything else is InvalidArgument naming the
  // choices.
  static Result<CostProfile> Parse(std::string_view name);
};

}  // namespace serdab::epc

#endif  // SERDAB_ENCLAVE_EPC_COST_PROFILE_H_
