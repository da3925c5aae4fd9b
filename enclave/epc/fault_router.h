// FaultRouter: the process-wide SIGSEGV handler that turns access faults on
// EPC heaps into calls to their pagers.
//
// The handler is installed on the first registration and stays for the life
// of the process. A fault the kernel raised at an address inside a registered
// region goes to that region's callback, which makes the page accessible and
// returns, so the faulting instruction re-executes. Every other SIGSEGV (an
// address outside every region, or one sent with kill) goes to the handler
// that was installed before ours, or to the default action (a core dump). A
// handler installed after ours must chain to it in the same way.
//
// Region lookups in the handler are lock-free (one seqlock per slot), so a
// fault never waits on a registration elsewhere.
#ifndef SERDAB_ENCLAVE_EPC_FAULT_ROUTER_H_
#define SERDAB_ENCLAVE_EPC_FAULT_ROUTER_H_

#include <cstddef>
#include <cstdint>

#include "enclave/common/status.h"

namespace serdab::epc {

// Called from the signal handler, on the faulting thread, with the faulting
// address. Must be async-signal-safe in the sense spelled out in epc_heap.h.
using FaultCallback = void (*)(void* context, uintptr_t address);

// Routes faults in [base, base + bytes) to callback(context, address).
// Returns a handle for UnregisterFaultRegion. ResourceExhausted when
// kMaxFaultRegions regions are live; Internal when sigaction fails.
Result<int> RegisterFaultRegion(const void* base, size_t bytes, FaultCallback callback,
                                void* context);

// Stops routing faults for the region. The caller guarantees no thread still
// touches it (any later fault there goes to the previous handler).
void UnregisterFaultRegion(int handle);

inline constexpr int kMaxFaultRegions = 64;

}  // namespace serdab::epc

#endif  // SERDAB_ENCLAVE_EPC_FAULT_ROUTER_H_
