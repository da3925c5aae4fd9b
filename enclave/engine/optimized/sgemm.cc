#include "enclave/engine/optimized/sgemm.h"

#include <algorithm>

#include "enclave/engine/optimized/lane_mask.h"

#if defined(__AVX512F__)
#include <immintrin.h>
#endif

namespace serdab::engine {
namespace {

#if defined(__AVX512F__)

// MR rows x NV vectors of 16 columns, all accumulators in registers (8 x 3 =
// 24 of the 32 zmm registers). Each step of k loads NV vectors of B and
// broadcasts MR values of A, so every B load feeds MR FMAs and every A value
// NV of them. Only the last vector is masked: `mask` has its valid lanes.
template <int MR, int NV, bool kOffsets>
void Tile(int64_t k, const float* __restrict a, int64_t lda, const float* __restrict b,
          const int32_t* __restrict offsets, int64_t stride, float* __restrict c, int64_t ldc,
          GemmInit init, const float* __restrict row_bias, __mmask16 mask, const float* prefetch_a,
          const GemmEpilogue* epilogue) {
  __m512 acc[MR][NV];
#pragma GCC unroll 8
  for (int i = 0; i < MR; ++i) {
#pragma GCC unroll 3
    for (int v = 0; v < NV; ++v) {
      if (init == GemmInit::kLoadC) {
        acc[i][v] = v + 1 < NV ? _mm512_loadu_ps(c + i * ldc + 16 * v)
                               : _mm512_maskz_loadu_ps(mask, c + i * ldc + 16 * v);
      } else if (init == GemmInit::kRowBias) {
        acc[i][v] = _mm512_set1_ps(row_bias[i]);
      } else {
        acc[i][v] = _mm512_setzero_ps();
      }
    }
  }
  const float* ar[MR];
#pragma GCC unroll 8
  for (int i = 0; i < MR; ++i) ar[i] = a + i * lda;

  for (int64_t t = 0; t < k; ++t) {
    _mm_prefetch(reinterpret_cast<const char*>(prefetch_a + (t >> 1) * 16), _MM_HINT_T0);
    const float* bt = kOffsets ? b + offsets[t] : b + t * stride;
    __m512 bv[NV];
#pragma GCC unroll 3
    for (int v = 0; v + 1 < NV; ++v) bv[v] = _mm512_loadu_ps(bt + 16 * v);
    bv[NV - 1] = _mm512_maskz_loadu_ps(mask, bt + 16 * (NV - 1));
#pragma GCC unroll 8
    for (int i = 0; i < MR; ++i) {
      const __m512 av = _mm512_set1_ps(ar[i][t]);
#pragma GCC unroll 3
      for (int v = 0; v < NV; ++v) acc[i][v] = _mm512_fmadd_ps(av, bv[v], acc[i][v]);
    }
  }
  if (epilogue != nullptr) {
    // The operands in Eigen's order (activation.cc), whose max and min
    // return the second one on NaN and on equal zeros, as std::max does.
    const float* residual = epilogue->residual;
    const __m512 lo = _mm512_set1_ps(epilogue->lo);
    const __m512 hi = _mm512_set1_ps(epilogue->hi);
#pragma GCC unroll 8
    for (int i = 0; i < MR; ++i) {
#pragma GCC unroll 3
      for (int v = 0; v < NV; ++v) {
        if (residual != nullptr) {
          const float* r = residual + i * ldc + 16 * v;
          acc[i][v] = _mm512_add_ps(
              acc[i][v], v + 1 < NV ? _mm512_loadu_ps(r) : _mm512_maskz_loadu_ps(mask, r));
        }
        if (epilogue->clamp) acc[i][v] = _mm512_min_ps(hi, _mm512_max_ps(lo, acc[i][v]));
      }
    }
  }
  if (epilogue != nullptr && epilogue->row_gap > 0) {
    // Across a row of the output: each vector's lanes up to the row's end
    // in place, those from the next row's start row_gap floats back.
#pragma GCC unroll 3
    for (int v = 0; v < NV; ++v) {
      const __mmask16 lanes = v + 1 < NV ? __mmask16{0xFFFF} : mask;
      const auto first =
          static_cast<__mmask16>(lanes & LaneMask(0, epilogue->row_end - 16 * v, 16));
      const auto second =
          static_cast<__mmask16>(lanes & LaneMask(epilogue->next_row - 16 * v, 16, 16));
#pragma GCC unroll 8
      for (int i = 0; i < MR; ++i) {
        float* at = c + i * ldc + 16 * v;
        _mm512_mask_storeu_ps(at, first, acc[i][v]);
        if (second != 0) _mm512_mask_storeu_ps(at - epilogue->row_gap, second, acc[i][v]);
      }
    }
    return;
  }
#pragma GCC unroll 8
  for (int i = 0; i < MR; ++i) {
#pragma GCC unroll 3
    for (int v = 0; v + 1 < NV; ++v) _mm512_storeu_ps(c + i * ldc + 16 * v, acc[i][v]);
    _mm512_mask_storeu_ps(c + i * ldc + 16 * (NV - 1), mask, acc[i][NV - 1]);
  }
}

using TileFn = void (*)(int64_t, const float*, int64_t, const float*, const int32_t*, int64_t,
                        float*, int64_t, GemmInit, const float*, __mmask16, const float*,
                        const GemmEpilogue*);

template <int MR, bool kOffsets>
constexpr TileFn kRow[3] = {Tile<MR, 1, kOffsets>, Tile<MR, 2, kOffsets>, Tile<MR, 3, kOffsets>};

template <bool kOffsets>
constexpr const TileFn* kTable[kGemmMr] = {kRow<1, kOffsets>, kRow<2, kOffsets>, kRow<3, kOffsets>,
                                           kRow<4, kOffsets>, kRow<5, kOffsets>, kRow<6, kOffsets>,
                                           kRow<7, kOffsets>, kRow<8, kOffsets>};

// Written with zero-masked shuffles: _mm512_reduce_add_ps, the unmasked
// shuffles and the 512->128 cast start from an undefined register, which
// GCC 12 flags with -Wuninitialized.
float HorizontalSum(__m512 v) {
  v = _mm512_add_ps(v, _mm512_maskz_shuffle_f32x4(0xFFFF, v, v, 0x4E));
  v = _mm512_add_ps(v, _mm512_maskz_shuffle_f32x4(0xFFFF, v, v, 0xB1));
  v = _mm512_add_ps(v, _mm512_maskz_permute_ps(0xFFFF, v, 0x4E));
  v = _mm512_add_ps(v, _mm512_maskz_permute_ps(0xFFFF, v, 0xB1));
  return _mm512_cvtss_f32(v);
}

// out[i * JN + j] = dot(a + i * lda, bt + j * ldbt) for i < MR, j < JN: each
// load of a row of A feeds JN chains and each load of a column MR, so that
// MR * JN independent chains hide the FMA latency (one row and one column
// is one chain, latency-bound). Every chain sums its k in the same order
// whatever MR and JN are, so the blocking does not change the bits.
template <int MR, int JN>
void DotBlock(int64_t k, const float* a, int64_t lda, const float* bt, int64_t ldbt, float* out) {
  __m512 acc[MR][JN];
#pragma GCC unroll 8
  for (int i = 0; i < MR; ++i) {
#pragma GCC unroll 4
    for (int j = 0; j < JN; ++j) acc[i][j] = _mm512_setzero_ps();
  }
  auto step = [&](int64_t t, __mmask16 mask) {
    __m512 bv[JN];
#pragma GCC unroll 4
    for (int j = 0; j < JN; ++j) bv[j] = _mm512_maskz_loadu_ps(mask, bt + j * ldbt + t);
#pragma GCC unroll 8
    for (int i = 0; i < MR; ++i) {
      const __m512 av = _mm512_maskz_loadu_ps(mask, a + i * lda + t);
#pragma GCC unroll 4
      for (int j = 0; j < JN; ++j) acc[i][j] = _mm512_fmadd_ps(av, bv[j], acc[i][j]);
    }
  };
  int64_t t = 0;
  for (; t + 16 <= k; t += 16) step(t, 0xFFFF);
  if (t < k) step(t, static_cast<__mmask16>((1u << (k - t)) - 1));
#pragma GCC unroll 8
  for (int i = 0; i < MR; ++i) {
#pragma GCC unroll 4
    for (int j = 0; j < JN; ++j) out[i * JN + j] = HorizontalSum(acc[i][j]);
  }
}

#else

template <int MR, int JN>
void DotBlock(int64_t k, const float* a, int64_t lda, const float* bt, int64_t ldbt, float* out) {
  for (int i = 0; i < MR; ++i) {
    for (int j = 0; j < JN; ++j) {
      float acc = 0.f;
      for (int64_t t = 0; t < k; ++t) acc += a[i * lda + t] * bt[j * ldbt + t];
      out[i * JN + j] = acc;
    }
  }
}

#endif  // __AVX512F__

// Up to 4 columns for up to 4 rows, 3 beyond (MR * JN accumulators and
// the loaded vectors within the 32 registers).
constexpr int64_t MaxDotColumns(int64_t rows) { return rows <= 4 ? 4 : 3; }

using DotFn = void (*)(int64_t, const float*, int64_t, const float*, int64_t, float*);

// Blocks of MR rows by 1-4 columns; past 4 rows there is no 4-column block
// (and none is compiled).
template <int MR>
constexpr DotFn kDotRow[4] = {DotBlock<MR, 1>, DotBlock<MR, 2>, DotBlock<MR, 3>,
                              MaxDotColumns(MR) >= 4 ? DotBlock<MR, MaxDotColumns(MR)> : nullptr};

constexpr const DotFn* kDotTable[kGemmMr] = {kDotRow<1>, kDotRow<2>, kDotRow<3>, kDotRow<4>,
                                             kDotRow<5>, kDotRow<6>, kDotRow<7>, kDotRow<8>};

}  // namespace

void GemmDot(int64_t m, int64_t n, int64_t k, const float* a, int64_t lda, const float* bt,
             int64_t ldbt, float* c, int64_t ldc, const float* row_bias) {
  float dots[kGemmMr * 4];
  for (int64_t i = 0; i < m; i += kGemmMr) {
    const int64_t rows = std::min(kGemmMr, m - i);
    const int64_t max_columns = MaxDotColumns(rows);
    for (int64_t j = 0; j < n;) {
      const int64_t columns = std::min(max_columns, n - j);
      kDotTable[rows - 1][columns - 1](k, a + i * lda, lda, bt + j * ldbt, ldbt, dots);
      for (int64_t ii = 0; ii < rows; ++ii) {
        const float init = row_bias != nullptr ? row_bias[i + ii] : 0.f;
        for (int64_t jj = 0; jj < columns; ++jj) {
          c[(i + ii) * ldc + j + jj] = init + dots[ii * columns + jj];
        }
      }
      j += columns;
    }
  }
}

void GemmTile(int64_t m, int64_t n, int64_t k, const float* a, int64_t lda, const GemmB& b,
              float* c, int64_t ldc, GemmInit init, const float* row_bias, const float* prefetch_a,
              const GemmEpilogue* epilogue) {
  if (m <= 0 || n <= 0) return;
#if defined(__AVX512F__)
  const int64_t nv = (n + 15) / 16;
  const int64_t tail = n - 16 * (nv - 1);
  const __mmask16 mask = static_cast<__mmask16>((1u << tail) - 1);
  const TileFn fn =
      b.offsets != nullptr ? kTable<true>[m - 1][nv - 1] : kTable<false>[m - 1][nv - 1];
  // Without a next tile, the tile prefetches its own A, which is in cache
  // by then: cheaper than a branch at every step.
  fn(k, a, lda, b.data, b.offsets, b.stride, c, ldc, init, row_bias, mask,
     prefetch_a != nullptr ? prefetch_a : a, epilogue);
#else
  // Portable fallback: the same arithmetic, left to the auto-vectoriser.
  static_cast<void>(prefetch_a);
  for (int64_t i = 0; i < m; ++i) {
    float acc[kGemmNr];
    for (int64_t j = 0; j < n; ++j) {
      acc[j] = init == GemmInit::kLoadC     ? c[i * ldc + j]
               : init == GemmInit::kRowBias ? row_bias[i]
                                            : 0.f;
    }
    for (int64_t t = 0; t < k; ++t) {
      const float* bt = b.offsets != nullptr ? b.data + b.offsets[t] : b.data + t * b.stride;
      const float av = a[i * lda + t];
      for (int64_t j = 0; j < n; ++j) acc[j] += av * bt[j];
    }
    for (int64_t j = 0; j < n; ++j) {
      float x = acc[j];
      int64_t at = i * ldc + j;
      if (epilogue != nullptr) {
        if (epilogue->residual != nullptr) x += epilogue->residual[at];
        if (epilogue->clamp) x = std::min(std::max(x, epilogue->lo), epilogue->hi);
        if (epilogue->row_gap > 0) {
          if (j >= epilogue->row_end && j < epilogue->next_row) continue;
          if (j >= epilogue->next_row) at -= epilogue->row_gap;
        }
      }
      c[at] = x;
    }
  }
#endif
}

}  // namespace serdab::engine
