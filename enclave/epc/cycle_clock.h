// Cycle clock: the time base of the EPC cost model.
//
// Costs are expressed in cycles of the time-stamp counter (TSC), which on
// current x86 parts ticks at the CPU's nominal frequency regardless of power
// state, so "40,000 cycles" means the same wall time on every call. On other
// architectures the clock falls back to nanoseconds (1 "cycle" = 1 ns).
//
// ReadCycles and SpinCycles are async-signal-safe: the EPC pager calls them
// from its SIGSEGV handler.
#ifndef SERDAB_ENCLAVE_EPC_CYCLE_CLOCK_H_
#define SERDAB_ENCLAVE_EPC_CYCLE_CLOCK_H_

#include <cstdint>

namespace serdab::epc {

// The current value of the cycle counter.
uint64_t ReadCycles();

// Counter ticks per second, measured once against std::chrono::steady_clock
// (about 20 ms on the first call; later calls return the cached value).
// Thread-safe; not async-signal-safe on its first call.
double CyclesPerSecond();

// Busy-waits for `cycles` counter ticks.
//
// This is cost calibration, not a sleep: it models hardware work that this
// machine does not do (an SGX page swap, an enclave transition), so the
// calling thread stays on its core exactly as it would while the CPU executed
// EWB/ELDU or EENTER/EEXIT.
void SpinCycles(uint64_t cycles);

// Monotonic wall time in nanoseconds (clock_gettime; async-signal-safe).
uint64_t MonotonicNanos();

}  // namespace serdab::epc

#endif  // SERDAB_ENCLAVE_EPC_CYCLE_CLOCK_H_
