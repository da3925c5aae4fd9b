// PrefetchLines: asks for a range of cache lines ahead of the loads or
// stores that will touch it, for the optimised kernels. In a frame at more
// than one thread, a layer's input was just written, and its output buffer
// last read, often by another core; a kernel that meets those lines one
// miss at a time waits on each (bench/RESULTS.md, "At 2 threads: waiting
// on lines").
#ifndef SERDAB_ENCLAVE_ENGINE_OPTIMIZED_PREFETCH_H_
#define SERDAB_ENCLAVE_ENGINE_OPTIMIZED_PREFETCH_H_

#include <cstdint>

namespace serdab::engine {

enum class PrefetchFor { kRead, kWrite };

// Every cache line of [data, data + bytes): into L1, for reading, or owned
// (writable) for writing. A hint: nothing is loaded into registers, and
// addresses outside mapped memory are not faulted.
template <PrefetchFor kFor>
inline void PrefetchLines(const void* data, int64_t bytes) {
  constexpr int64_t kLine = 64;
  const char* begin = static_cast<const char*>(data);
  for (int64_t at = 0; at < bytes; at += kLine) {
    __builtin_prefetch(begin + at, kFor == PrefetchFor::kWrite ? 1 : 0, 3);
  }
}

}  // namespace serdab::engine

#endif  // SERDAB_ENCLAVE_ENGINE_OPTIMIZED_PREFETCH_H_
