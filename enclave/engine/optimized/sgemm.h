// Single-precision GEMM micro-tiles shared by the optimised Conv, Gemm and
// MatMul kernels.
//
// A tile computes C[0:m, 0:n] (m <= kGemmMr, n <= kGemmNr) = init + A * B with
// A row-major and read in place (the ONNX Conv weight [M, C/g*kh*kw] and the
// Gemm/MatMul A are used without repacking), and each row of B read as one
// contiguous run of n floats wherever the caller says it is. The caller splits
// the work across threads; a tile is single threaded.
#ifndef SERDAB_ENCLAVE_ENGINE_OPTIMIZED_SGEMM_H_
#define SERDAB_ENCLAVE_ENGINE_OPTIMIZED_SGEMM_H_

#include <cstdint>

namespace serdab::engine {

inline constexpr int64_t kGemmMr = 8;   // rows of C per tile
inline constexpr int64_t kGemmNr = 48;  // columns of C per tile: three AVX-512 vectors

// Where row k of B starts: data + offsets[k] when offsets is set (a Conv's
// taps gathered from its input), else data + k * stride.
struct GemmB {
  const float* data = nullptr;
  const int32_t* offsets = nullptr;
  int64_t stride = 0;
};

// How a tile's accumulators start.
enum class GemmInit {
  kZero,
  kRowBias,  // init[i] for row i (a Conv bias)
  kLoadC,    // the tile's current contents (accumulating over blocks of k)
};

// What a tile does to its sums on the way to C, while they are in registers:
// adds a residual laid out as C (ldc), then clamps to [lo, hi] (a Relu is
// [0, +inf], a Clip [alpha, beta]). Each step is the operation
// ApplyActivationToSum does, in the same order, so the bits are the same as
// storing C and applying it afterwards.
//
// It also says where the columns go when C is an output whose rows the
// tile's columns cross with a gap (a padded or strided Conv's planes are
// wider than its output, so some of their positions are no output pixel):
// columns [0, row_end) go to c + j, columns [next_row, n) to c + j - row_gap,
// and those between to nowhere. With row_gap 0 every column goes in place;
// a residual is read only then.
struct GemmEpilogue {
  const float* residual = nullptr;  // at C's [0, 0], or nullptr
  bool clamp = false;
  float lo = 0.f;
  float hi = 0.f;
  int64_t row_end = 0;
  int64_t next_row = 0;
  int64_t row_gap = 0;
};

// C[i*ldc + j] = init + sum_{t<k} a[i*lda + t] * B_t[j], for i < m, j < n.
// B_t is the B row for t, and column j reads B_t[j]; lanes past n are neither
// loaded nor stored.
//
// prefetch_a, if set, is where the caller's next tile's A starts: a block of
// kGemmMr * k contiguous floats (kGemmMr rows with lda == k), which the tile
// pulls into cache while it computes, one line every two steps of k. A
// model's weights outgrow L2, so a frame may find a Conv's weights in
// memory, and the hardware prefetchers do not follow eight short rows at
// once: tile rows over a 1x1 192->1152 at 7x7 with cold weights, 309 ->
// 246 us.
//
// epilogue, if set, is applied to the sums before they are stored.
void GemmTile(int64_t m, int64_t n, int64_t k, const float* a, int64_t lda, const GemmB& b,
              float* c, int64_t ldc, GemmInit init, const float* row_bias,
              const float* prefetch_a = nullptr, const GemmEpilogue* epilogue = nullptr);

// C[i*ldc + j] = (row_bias ? row_bias[i] : 0) + sum_{t<k} a[i*lda + t] * bt[j*ldbt + t]
// for i < m, j < n: dot products of contiguous rows, vectorised along k and
// computed in blocks of up to 8 rows by 3 or 4 columns, whose independent
// sums hide the FMA latency; each sum runs over k in the same order however
// it is blocked, so the bits do not depend on m or n. For the few columns
// that a 16-lane tile would mostly waste, and for matrix-vector products.
void GemmDot(int64_t m, int64_t n, int64_t k, const float* a, int64_t lda, const float* bt,
             int64_t ldbt, float* c, int64_t ldc, const float* row_bias);

}  // namespace serdab::engine

#endif  // SERDAB_ENCLAVE_ENGINE_OPTIMIZED_SGEMM_H_
