// A 16 x 16 transpose of floats in AVX-512 registers, shared by the kernels
// that keep channels in the vector lanes on NCHW tensors.
#ifndef SERDAB_ENCLAVE_ENGINE_OPTIMIZED_TRANSPOSE16_H_
#define SERDAB_ENCLAVE_ENGINE_OPTIMIZED_TRANSPOSE16_H_

#if defined(__AVX512F__)
#include <immintrin.h>

namespace serdab::engine {

// In place: rows r[0..16) of 16 floats become the columns. Written with
// zero-masked shuffles: the unmasked ones start from an undefined register,
// which GCC 12 flags with -Wuninitialized (as in sgemm.cc).
inline void Transpose16(__m512 r[16]) {
  constexpr __mmask16 kAll = 0xFFFF;
  __m512 t[16], u[16];
  for (int i = 0; i < 16; i += 2) {
    t[i] = _mm512_maskz_unpacklo_ps(kAll, r[i], r[i + 1]);
    t[i + 1] = _mm512_maskz_unpackhi_ps(kAll, r[i], r[i + 1]);
  }
  // u[4b + j]: rows 4b..4b+3 at column 4l + j of each 128-bit lane l.
  for (int b = 0; b < 4; ++b) {
    const __m512 lo0 = t[4 * b], hi0 = t[4 * b + 1], lo1 = t[4 * b + 2], hi1 = t[4 * b + 3];
    u[4 * b + 0] = _mm512_maskz_shuffle_ps(kAll, lo0, lo1, 0x44);
    u[4 * b + 1] = _mm512_maskz_shuffle_ps(kAll, lo0, lo1, 0xEE);
    u[4 * b + 2] = _mm512_maskz_shuffle_ps(kAll, hi0, hi1, 0x44);
    u[4 * b + 3] = _mm512_maskz_shuffle_ps(kAll, hi0, hi1, 0xEE);
  }
  for (int j = 0; j < 4; ++j) {
    const __m512 v0 = _mm512_maskz_shuffle_f32x4(kAll, u[j], u[4 + j], 0x88);
    const __m512 v1 = _mm512_maskz_shuffle_f32x4(kAll, u[j], u[4 + j], 0xDD);
    const __m512 w0 = _mm512_maskz_shuffle_f32x4(kAll, u[8 + j], u[12 + j], 0x88);
    const __m512 w1 = _mm512_maskz_shuffle_f32x4(kAll, u[8 + j], u[12 + j], 0xDD);
    r[j] = _mm512_maskz_shuffle_f32x4(kAll, v0, w0, 0x88);
    r[8 + j] = _mm512_maskz_shuffle_f32x4(kAll, v0, w0, 0xDD);
    r[4 + j] = _mm512_maskz_shuffle_f32x4(kAll, v1, w1, 0x88);
    r[12 + j] = _mm512_maskz_shuffle_f32x4(kAll, v1, w1, 0xDD);
  }
}

}  // namespace serdab::engine

#endif  // __AVX512F__

#endif  // SERDAB_ENCLAVE_ENGINE_OPTIMIZED_TRANSPOSE16_H_
