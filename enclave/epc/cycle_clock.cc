#include "enclave/epc/cycle_clock.h"

#include <time.h>

#include <chrono>
#include <thread>

#if defined(__x86_64__) || defined(__i386__)
#include <x86intrin.h>
#define SERDAB_EPC_HAVE_TSC 1
#endif

namespace serdab::epc {

uint64_t ReadCycles() {
#ifdef SERDAB_EPC_HAVE_TSC
  return __rdtsc();
#else
  return MonotonicNanos();
#endif
}

uint64_t MonotonicNanos() {
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<uint64_t>(ts.tv_sec) * 1000000000ull + static_cast<uint64_t>(ts.tv_nsec);
}

double CyclesPerSecond() {
  static const double rate = [] {
#ifdef SERDAB_EPC_HAVE_TSC
    // A sleep is fine here: the TSC keeps ticking, and 20 ms bounds the error
    // from the two clock reads to well under 0.1%.
    const auto t0 = std::chrono::steady_clock::now();
    const uint64_t c0 = ReadCycles();
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
    const auto t1 = std::chrono::steady_clock::now();
    const uint64_t c1 = ReadCycles();
    const double seconds = std::chrono::duration<double>(t1 - t0).count();
    return static_cast<double>(c1 - c0) / seconds;
#else
    return 1e9;
#endif
  }();
  return rate;
}

void SpinCycles(uint64_t cycles) {
  if (cycles == 0) return;
  const uint64_t end = ReadCycles() + cycles;
  while (ReadCycles() < end) {
#ifdef SERDAB_EPC_HAVE_TSC
    _mm_pause();
#endif
  }
}

}  // namespace serdab::epc
