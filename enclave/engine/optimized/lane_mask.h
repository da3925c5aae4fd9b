// Masks of vector lanes shared by the optimised kernels.
#ifndef SERDAB_ENCLAVE_ENGINE_OPTIMIZED_LANE_MASK_H_
#define SERDAB_ENCLAVE_ENGINE_OPTIMIZED_LANE_MASK_H_

#include <algorithm>
#include <cstdint>

#if defined(__AVX512F__)
#include <immintrin.h>
#endif

namespace serdab::engine {

// Bits [lo, hi) of a mask of `width` lanes (at most 32), clamped to
// [0, width): the lanes of a load or store that lie inside a row.
inline uint32_t LaneMask(int64_t lo, int64_t hi, int64_t width) {
  lo = std::max<int64_t>(lo, 0);
  hi = std::min(hi, width);
  if (hi <= lo) return 0;
  const uint64_t bits = ((uint64_t{1} << (hi - lo)) - 1) << lo;
  return static_cast<uint32_t>(bits);
}

#if defined(__AVX512F__)
// Lanes [0, n) of 16.
inline __mmask16 FirstLanes(int64_t n) { return static_cast<__mmask16>(LaneMask(0, n, 16)); }
#endif

}  // namespace serdab::engine

#endif  // SERDAB_ENCLAVE_ENGINE_OPTIMIZED_LANE_MASK_H_
