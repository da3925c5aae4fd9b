#include "enclave/engine/optimized/winograd.h"

#include <algorithm>
#include <cstring>

#include "enclave/engine/allocator.h"
#include "enclave/engine/optimized/sgemm.h"
#include "enclave/engine/thread_pool.h"

#if defined(__AVX512F__)
#include <immintrin.h>
#endif

namespace serdab::engine {
namespace {

constexpr int64_t kXi = 36;  // positions of the 6x6 transform
// A band's transformed input, at most (unless one tile row takes more).
constexpr int64_t kBandBytes = 1 << 20;

int64_t RoundUp(int64_t n, int64_t m) { return (n + m - 1) / m * m; }

// t = G (g0, g1, g2)^T, G being F(4x4, 3x3)'s 6x3 matrix, for one float or
// 16 lanes of them, by the same operations in the same order (so both round
// alike: the build does not contract them into FMAs).
template <typename T>
void GTimes(T g0, T g1, T g2, T* t) {
  constexpr float kSixth = 1.f / 6.f, kTwelfth = 1.f / 12.f, kTwentyFourth = 1.f / 24.f;
  t[0] = g0 * 0.25f;
  t[1] = -((g0 + g1) + g2) * kSixth;
  t[2] = -((g0 - g1) + g2) * kSixth;
  t[3] = (g0 * kTwentyFourth + g1 * kTwelfth) + g2 * kSixth;
  t[4] = (g0 * kTwentyFourth - g1 * kTwelfth) + g2 * kSixth;
  t[5] = g2;
}

// B^T d down the columns of six input rows: r[i][x] for x < width. The rows
// are distinct slices of one buffer, which the restrict pointers tell the
// compiler: through the arrays of pointers it assumed that a store to r
// could change d and ran the loop a float at a time (vectorised, resnet18's
// TransformBand went from 11.7% to 7.5% of its frame at 1 thread, same bits).
void TransformColumns(const float* __restrict d0, const float* __restrict d1,
                      const float* __restrict d2, const float* __restrict d3,
                      const float* __restrict d4, const float* __restrict d5, float* __restrict r0,
                      float* __restrict r1, float* __restrict r2, float* __restrict r3,
                      float* __restrict r4, float* __restrict r5, int64_t width) {
  for (int64_t x = 0; x < width; ++x) {
    r0[x] = 4.f * d0[x] - 5.f * d2[x] + d4[x];
    r1[x] = -4.f * d1[x] - 4.f * d2[x] + d3[x] + d4[x];
    r2[x] = 4.f * d1[x] - 4.f * d2[x] - d3[x] + d4[x];
    r3[x] = -2.f * d1[x] - d2[x] + 2.f * d3[x] + d4[x];
    r4[x] = 2.f * d1[x] - d2[x] - 2.f * d3[x] + d4[x];
    r5[x] = 4.f * d1[x] - 5.f * d3[x] + d5[x];
  }
}

}  // namespace

WinogradConv::WinogradConv(const WinogradShape& shape, int threads) : s_(shape) {
  tiles_h_ = (s_.out_h + 3) / 4;
  tiles_w_ = (s_.out_w + 3) / 4;
  // A map whose tiles fit the columns of one GEMM tile (14x14: 16 tiles) is
  // split over the threads by output channels: in bands by tile rows, 8 tiles
  // a thread filled half of each vector of the products (256->256 at 14x14
  // took 1.26 times F(2x2, 3x3)'s time, and 0.64 split by output channels).
  split_outputs_ = WinogradSplitsOutputs(s_.out_h, s_.out_w);
  threads = std::max(1, threads);
  if (split_outputs_) {
    // One band of every tile, whose input all threads transform (by input
    // channels) and whose blocks of output channels they share.
    band_tiles_ = tiles_h_ * tiles_w_;
    bands_ = 1;
    slots_ = threads;
  } else {
    // Bands of whole tile rows, so that every output row is written, and its
    // activation applied, by one band: the vectorised activations round a
    // row's tail differently from its body, and a row cut elsewhere would
    // give bits that depend on the thread count. A band's transformed input
    // takes about kBandBytes at most (one tile row at least), so that it
    // stays in L2 while every block of output channels reads it, and the
    // bands split evenly over the threads.
    const int64_t row_bytes = kXi * s_.in_channels * tiles_w_ * static_cast<int64_t>(sizeof(float));
    const int64_t fit_rows = std::max<int64_t>(1, kBandBytes / row_bytes);
    const int64_t rows_per_thread = (tiles_h_ + threads - 1) / threads;
    const int64_t bands_per_thread = (rows_per_thread + fit_rows - 1) / fit_rows;
    const int64_t band_rows = (rows_per_thread + bands_per_thread - 1) / bands_per_thread;
    band_tiles_ = band_rows * tiles_w_;
    bands_ = (tiles_h_ + band_rows - 1) / band_rows;
    slots_ = ThreadPool::NumChunks(bands_, 1, threads);
  }
  // A padded input row, read 16 tiles at a time: four vectors from each of
  // the 6 columns a tile starts at.
  row_floats_ = RoundUp(4 * tiles_w_ + 70, 16);
}

Status WinogradConv::PrepareWeights(const float* w, Allocator* allocator) {
  SERDAB_ASSIGN_OR_RETURN(
      transformed_,
      Tensor::Create(DataType::kFloat32, {s_.out_channels, kXi, s_.in_channels}, allocator));
  TransformWeights(w, 0, s_.out_channels, transformed_.data<float>());
  return Status::Ok();
}

size_t WinogradConv::ScratchBytes() const {
  const int64_t u = PreparedBytes() > 0 ? 0 : kXi * s_.out_channels * s_.in_channels;
  return static_cast<size_t>(u + SharedFloats() + slots_ * SlotFloats()) * sizeof(float);
}

int64_t WinogradConv::SharedFloats() const {
  return split_outputs_ ? kXi * s_.in_channels * band_tiles_ : 0;
}

int64_t WinogradConv::SlotFloats() const {
  const int64_t v = split_outputs_ ? 0 : kXi * s_.in_channels * band_tiles_;
  return v + kXi * kGemmMr * band_tiles_ + 12 * row_floats_;
}

// U = G g G^T for g = w[k][c], with G = [1/4 0 0; -1/6 -1/6 -1/6; -1/6 1/6
// -1/6; 1/24 1/12 1/6; 1/24 -1/12 1/6; 0 0 1], in panels: for each block of
// kGemmMr output channels (the last one may have fewer, `rows`), the 36
// positions' [rows][in] matrices one after the other, as the products read
// them (U[xi] of block k0 at u + (k0 * 36 + xi * rows) * in).
void WinogradConv::TransformWeights(const float* w, int64_t k_begin, int64_t k_end,
                                    float* u) const {
  const int64_t channels = s_.in_channels;
#if defined(__AVX512F__)
  // 16 input channels at a time: tap j of channels c..c+15 is a gather of
  // stride 9, and each of the 36 results a contiguous store. (A weight that
  // streams is transformed at every run.)
  const __m512i stride9 =
      _mm512_mullo_epi32(_mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15),
                         _mm512_set1_epi32(9));
#endif
  for (int64_t k = k_begin; k < k_end; ++k) {
    const int64_t k0 = k / kGemmMr * kGemmMr;
    const int64_t plane = std::min(kGemmMr, s_.out_channels - k0) * channels;
    float* panel = u + (k0 * kXi + k - k0) * channels;
    int64_t c = 0;
#if defined(__AVX512F__)
    for (; c + 16 <= channels; c += 16) {
      const float* g = w + (k * channels + c) * 9;
      __m512 t[3][6];  // G g, column j of it as t[j]
      for (int j = 0; j < 3; ++j) {
        GTimes(_mm512_i32gather_ps(stride9, g + j, 4), _mm512_i32gather_ps(stride9, g + 3 + j, 4),
               _mm512_i32gather_ps(stride9, g + 6 + j, 4), t[j]);
      }
      for (int i = 0; i < 6; ++i) {
        __m512 row[6];
        GTimes(t[0][i], t[1][i], t[2][i], row);
        for (int j = 0; j < 6; ++j) _mm512_storeu_ps(panel + (6 * i + j) * plane + c, row[j]);
      }
    }
#endif
    for (; c < channels; ++c) {
      const float* g = w + (k * channels + c) * 9;
      float t[3][6];
      for (int j = 0; j < 3; ++j) GTimes(g[j], g[3 + j], g[6 + j], t[j]);
      for (int i = 0; i < 6; ++i) {
        float row[6];
        GTimes(t[0][i], t[1][i], t[2][i], row);
        for (int j = 0; j < 6; ++j) panel[(6 * i + j) * plane + c] = row[j];
      }
    }
  }
}

// V[xi][c][t] = (B^T d B)[xi] for the 6x6 patch d under each tile t of
// [t_begin, t_end) and input channel c of [c_begin, c_end), with B^T =
// [4 0 -5 0 1 0; 0 -4 -4 1 1 0; 0 4 -4 -1 1 0; 0 -2 -1 2 1 0; 0 2 -1 -2 1
// 0; 0 4 0 -5 0 1]: the row combination over whole padded rows, then the
// column combination, 16 tiles at a time.
void WinogradConv::TransformBand(const float* image, int64_t t_begin, int64_t t_end,
                                 int64_t c_begin, int64_t c_end, float* v, float* rows) const {
  const int64_t tiles = t_end - t_begin;
  const int64_t channels = s_.in_channels;
  const int64_t width = 4 * tiles_w_ + 2;
  float* d[6];
  float* r[6];
  for (int i = 0; i < 6; ++i) {
    d[i] = rows + i * row_floats_;
    r[i] = rows + (6 + i) * row_floats_;
  }
  // Read past `width` only for lanes that are not stored: zero.
  for (int i = 0; i < 6; ++i) std::fill(r[i] + width, r[i] + row_floats_, 0.f);
  const int64_t x_begin = std::max<int64_t>(0, s_.pad_left);
  const int64_t x_end = std::min<int64_t>(width, s_.pad_left + s_.in_w);
#if defined(__AVX512F__)
  // Lane t of 16 tiles from two pairs of vectors: column 4t of 64.
  const __m512i every4 =
      _mm512_setr_epi32(0, 4, 8, 12, 16, 20, 24, 28, 0, 4, 8, 12, 16, 20, 24, 28);
  const __m512 four = _mm512_set1_ps(4.f), five = _mm512_set1_ps(5.f), two = _mm512_set1_ps(2.f);
#endif
  for (int64_t c = c_begin; c < c_end; ++c) {
    const float* plane = image + c * s_.in_h * s_.in_w;
    for (int64_t ty = t_begin / tiles_w_; ty * tiles_w_ < t_end; ++ty) {
      const int64_t tx_begin = std::max<int64_t>(0, t_begin - ty * tiles_w_);
      const int64_t tx_end = std::min(tiles_w_, t_end - ty * tiles_w_);
      for (int i = 0; i < 6; ++i) {
        const int64_t y = 4 * ty - s_.pad_top + i;
        if (y < 0 || y >= s_.in_h || x_end <= x_begin) {
          std::fill(d[i], d[i] + width, 0.f);
          continue;
        }
        std::fill(d[i], d[i] + x_begin, 0.f);
        std::memcpy(d[i] + x_begin, plane + y * s_.in_w + (x_begin - s_.pad_left),
                    static_cast<size_t>(x_end - x_begin) * sizeof(float));
        std::fill(d[i] + x_end, d[i] + width, 0.f);
      }
      TransformColumns(d[0], d[1], d[2], d[3], d[4], d[5], r[0], r[1], r[2], r[3], r[4], r[5],
                       width);
      const int64_t t0 = ty * tiles_w_ - t_begin;
      for (int i = 0; i < 6; ++i) {
        float* vi[6];
        for (int j = 0; j < 6; ++j) vi[j] = v + ((6 * i + j) * channels + c) * tiles + t0;
        const float* row = r[i];
        int64_t tx = tx_begin;
#if defined(__AVX512F__)
        for (; tx < tx_end; tx += 16) {
          const __mmask16 mask = tx_end - tx >= 16
                                     ? static_cast<__mmask16>(0xffff)
                                     : static_cast<__mmask16>((1u << (tx_end - tx)) - 1);
          __m512 col[6];
          for (int l = 0; l < 6; ++l) {
            const float* at = row + 4 * tx + l;
            const __m512 lo =
                _mm512_permutex2var_ps(_mm512_loadu_ps(at), every4, _mm512_loadu_ps(at + 16));
            const __m512 hi =
                _mm512_permutex2var_ps(_mm512_loadu_ps(at + 32), every4, _mm512_loadu_ps(at + 48));
            col[l] = _mm512_mask_blend_ps(0xFF00, lo, hi);
          }
          const __m512 x0 = _mm512_add_ps(
              _mm512_sub_ps(_mm512_mul_ps(four, col[0]), _mm512_mul_ps(five, col[2])), col[4]);
          const __m512 x1 =
              _mm512_add_ps(_mm512_add_ps(_mm512_sub_ps(_mm512_mul_ps(_mm512_set1_ps(-4.f), col[1]),
                                                        _mm512_mul_ps(four, col[2])),
                                          col[3]),
                            col[4]);
          const __m512 x2 = _mm512_add_ps(
              _mm512_sub_ps(_mm512_sub_ps(_mm512_mul_ps(four, col[1]), _mm512_mul_ps(four, col[2])),
                            col[3]),
              col[4]);
          const __m512 x3 = _mm512_add_ps(
              _mm512_add_ps(_mm512_sub_ps(_mm512_mul_ps(_mm512_set1_ps(-2.f), col[1]), col[2]),
                            _mm512_mul_ps(two, col[3])),
              col[4]);
          const __m512 x4 =
              _mm512_add_ps(_mm512_sub_ps(_mm512_sub_ps(_mm512_mul_ps(two, col[1]), col[2]),
                                          _mm512_mul_ps(two, col[3])),
                            col[4]);
          const __m512 x5 = _mm512_add_ps(
              _mm512_sub_ps(_mm512_mul_ps(four, col[1]), _mm512_mul_ps(five, col[3])), col[5]);
          _mm512_mask_storeu_ps(vi[0] + tx, mask, x0);
          _mm512_mask_storeu_ps(vi[1] + tx, mask, x1);
          _mm512_mask_storeu_ps(vi[2] + tx, mask, x2);
          _mm512_mask_storeu_ps(vi[3] + tx, mask, x3);
          _mm512_mask_storeu_ps(vi[4] + tx, mask, x4);
          _mm512_mask_storeu_ps(vi[5] + tx, mask, x5);
        }
#endif
        for (; tx < tx_end; ++tx) {
          const float* col = row + 4 * tx;
          vi[0][tx] = 4.f * col[0] - 5.f * col[2] + col[4];
          vi[1][tx] = -4.f * col[1] - 4.f * col[2] + col[3] + col[4];
          vi[2][tx] = 4.f * col[1] - 4.f * col[2] - col[3] + col[4];
          vi[3][tx] = -2.f * col[1] - col[2] + 2.f * col[3] + col[4];
          vi[4][tx] = 2.f * col[1] - col[2] - 2.f * col[3] + col[4];
          vi[5][tx] = 4.f * col[1] - 5.f * col[3] + col[5];
        }
      }
    }
  }
}

// One band: its input transformed once, then for each block of kGemmMr
// output channels the products and the outputs.
void WinogradConv::RunBand(const float* image, const float* u, const float* bias,
                           const Activation& activation, const float* residual, int64_t band,
                           float* out, float* slot) const {
  const int64_t t_begin = band * band_tiles_;
  const int64_t t_end = std::min(tiles_h_ * tiles_w_, t_begin + band_tiles_);
  float* v = slot;
  float* m = v + kXi * s_.in_channels * band_tiles_;
  float* rows = m + kXi * kGemmMr * band_tiles_;
  TransformBand(image, t_begin, t_end, 0, s_.in_channels, v, rows);
  BlockOutputs(v, u, bias, activation, residual, t_begin, t_end, 0, s_.out_channels, out, m);
}

// Output channels [k_begin, k_end) (whole blocks of kGemmMr but the last)
// over tiles [t_begin, t_end), whose transformed input is v: per block of
// kGemmMr output channels, the products into m[xi][kGemmMr][tiles], then the
// outputs.
void WinogradConv::BlockOutputs(const float* v, const float* u, const float* bias,
                                const Activation& activation, const float* residual,
                                int64_t t_begin, int64_t t_end, int64_t k_begin, int64_t k_end,
                                float* out, float* m) const {
  const int64_t tiles = t_end - t_begin;
  const int64_t channels = s_.in_channels;
  const int64_t outs = s_.out_channels;
  const int64_t u_floats = kXi * outs * channels;
  for (int64_t k0 = k_begin; k0 < k_end; k0 += kGemmMr) {
    const int64_t rows_k = std::min(kGemmMr, outs - k0);
    for (int64_t t = 0; t < tiles; t += kGemmNr) {
      for (int64_t xi = 0; xi < kXi; ++xi) {
        const int64_t at = (k0 * kXi + xi * rows_k) * channels;
        // The next panel (of this block or the next), pulled into cache
        // while this one's first tile runs (sgemm.h: kGemmMr rows of it);
        // the later tiles find every panel of the block there.
        const int64_t next = at + rows_k * channels;
        const bool prefetch = t == 0 && next + kGemmMr * channels <= u_floats;
        const GemmB b{v + xi * channels * tiles + t, nullptr, tiles};
        GemmTile(rows_k, std::min(kGemmNr, tiles - t), channels, u + at, channels, b,
                 m + xi * kGemmMr * tiles + t, tiles, GemmInit::kZero, nullptr,
                 prefetch ? u + next : nullptr);
      }
    }
    OutputRows(m, k0, rows_k, t_begin, t_end, bias, activation, residual, out);
  }
}

// Y = A^T M A, A^T = [1 1 1 1 1 0; 0 1 -1 2 -2 0; 0 1 1 4 4
// 0; 0 1 -1 8 -8 1], per tile of [t_begin, t_end) for output channels [k0,
// k0 + rows_k), plus the bias; then the residual and activation over each
// output row. The multiples of 2, 4 and 8 are exact, so the sums round as
// plain additions do.
void WinogradConv::OutputRows(const float* m, int64_t k0, int64_t rows_k, int64_t t_begin,
                              int64_t t_end, const float* bias, const Activation& activation,
                              const float* residual, float* out) const {
  const int64_t tiles = t_end - t_begin;
  // The four outputs of a tile row from its six sums s (A^T s).
  auto combine = [](float s0, float s1, float s2, float s3, float s4, float s5, float* y) {
    const float a = s1 + s2, b = s1 - s2, c = s3 + s4, d = s3 - s4;
    y[0] = s0 + a + c;
    y[1] = b + 2.f * d;
    y[2] = a + 4.f * c;
    y[3] = b + 8.f * d + s5;
  };
#if defined(__AVX512F__)
  auto vcombine = [](__m512 s0, __m512 s1, __m512 s2, __m512 s3, __m512 s4, __m512 s5, __m512* y) {
    const __m512 a = _mm512_add_ps(s1, s2), b = _mm512_sub_ps(s1, s2);
    const __m512 c = _mm512_add_ps(s3, s4), d = _mm512_sub_ps(s3, s4);
    y[0] = _mm512_add_ps(_mm512_add_ps(s0, a), c);
    y[1] = _mm512_add_ps(b, _mm512_mul_ps(_mm512_set1_ps(2.f), d));
    y[2] = _mm512_add_ps(a, _mm512_mul_ps(_mm512_set1_ps(4.f), c));
    y[3] = _mm512_add_ps(_mm512_add_ps(b, _mm512_mul_ps(_mm512_set1_ps(8.f), d)), s5);
  };
  // Four vectors of 16 tiles' columns interleaved into 64 outputs.
  const __m512i pair_lo = _mm512_setr_epi32(0, 16, 1, 17, 2, 18, 3, 19, 4, 20, 5, 21, 6, 22, 7, 23);
  const __m512i pair_hi =
      _mm512_setr_epi32(8, 24, 9, 25, 10, 26, 11, 27, 12, 28, 13, 29, 14, 30, 15, 31);
  const __m512i quad_lo = _mm512_setr_epi32(0, 1, 16, 17, 2, 3, 18, 19, 4, 5, 20, 21, 6, 7, 22, 23);
  const __m512i quad_hi =
      _mm512_setr_epi32(8, 9, 24, 25, 10, 11, 26, 27, 12, 13, 28, 29, 14, 15, 30, 31);
#endif
  for (int64_t r = 0; r < rows_k; ++r) {
    const int64_t k = k0 + r;
    const float b0 = bias != nullptr ? bias[k] : 0.f;
    float* plane = out + k * s_.out_h * s_.out_w;
    for (int64_t ty = t_begin / tiles_w_; ty * tiles_w_ < t_end; ++ty) {
      const int64_t tx_begin = std::max<int64_t>(0, t_begin - ty * tiles_w_);
      const int64_t tx_end = std::min(tiles_w_, t_end - ty * tiles_w_);
      const int64_t t0 = ty * tiles_w_ + tx_begin - t_begin;
      const float* mk[36];
      for (int64_t xi = 0; xi < 36; ++xi) mk[xi] = m + (xi * kGemmMr + r) * tiles + t0;
      const int64_t x_begin = 4 * tx_begin;
      const int64_t x_end = std::min(s_.out_w, 4 * tx_end);
      const int64_t rows_out = std::min<int64_t>(4, s_.out_h - 4 * ty);
      int64_t i = 0;
#if defined(__AVX512F__)
      const __m512 vb = _mm512_set1_ps(b0);
      for (; i < tx_end - tx_begin; i += 16) {
        // s[row][j]: the rows of A^T applied down each column j of the 6x6.
        __m512 s[4][6];
        for (int j = 0; j < 6; ++j) {
          __m512 col[4];
          vcombine(_mm512_loadu_ps(mk[j] + i), _mm512_loadu_ps(mk[6 + j] + i),
                   _mm512_loadu_ps(mk[12 + j] + i), _mm512_loadu_ps(mk[18 + j] + i),
                   _mm512_loadu_ps(mk[24 + j] + i), _mm512_loadu_ps(mk[30 + j] + i), col);
          for (int row = 0; row < 4; ++row) s[row][j] = col[row];
        }
        const int64_t x = x_begin + 4 * i;
        const int64_t count = std::min<int64_t>(64, x_end - x);
        for (int64_t row = 0; row < rows_out; ++row) {
          __m512 y[4];
          vcombine(s[row][0], s[row][1], s[row][2], s[row][3], s[row][4], s[row][5], y);
          for (int q = 0; q < 4; ++q) y[q] = _mm512_add_ps(vb, y[q]);
          const __m512 ab_lo = _mm512_permutex2var_ps(y[0], pair_lo, y[1]);
          const __m512 ab_hi = _mm512_permutex2var_ps(y[0], pair_hi, y[1]);
          const __m512 cd_lo = _mm512_permutex2var_ps(y[2], pair_lo, y[3]);
          const __m512 cd_hi = _mm512_permutex2var_ps(y[2], pair_hi, y[3]);
          const __m512 o[4] = {_mm512_permutex2var_ps(ab_lo, quad_lo, cd_lo),
                               _mm512_permutex2var_ps(ab_lo, quad_hi, cd_lo),
                               _mm512_permutex2var_ps(ab_hi, quad_lo, cd_hi),
                               _mm512_permutex2var_ps(ab_hi, quad_hi, cd_hi)};
          float* dst = plane + (4 * ty + row) * s_.out_w + x;
          for (int q = 0; q < 4 && 16 * q < count; ++q) {
            const int64_t n = std::min<int64_t>(16, count - 16 * q);
            _mm512_mask_storeu_ps(dst + 16 * q, static_cast<__mmask16>((1u << n) - 1), o[q]);
          }
        }
      }
#endif
      for (int64_t tx = tx_begin + i; tx < tx_end; ++tx) {
        const int64_t t = tx - tx_begin;
        float s[4][6];
        for (int j = 0; j < 6; ++j) {
          float col[4];
          combine(mk[j][t], mk[6 + j][t], mk[12 + j][t], mk[18 + j][t], mk[24 + j][t],
                  mk[30 + j][t], col);
          for (int row = 0; row < 4; ++row) s[row][j] = col[row];
        }
        for (int64_t row = 0; row < rows_out; ++row) {
          float y[4];
          combine(s[row][0], s[row][1], s[row][2], s[row][3], s[row][4], s[row][5], y);
          float* dst = plane + (4 * ty + row) * s_.out_w + 4 * tx;
          for (int64_t q = 0; q < 4 && 4 * tx + q < s_.out_w; ++q) dst[q] = b0 + y[q];
        }
      }
      for (int64_t row = 0; row < rows_out; ++row) {
        float* dst = plane + (4 * ty + row) * s_.out_w + x_begin;
        if (residual != nullptr) {
          const int64_t at = (k * s_.out_h + 4 * ty + row) * s_.out_w + x_begin;
          ApplyActivationToSum(activation, residual + at, dst, x_end - x_begin);
        } else if (!activation.is_none()) {
          ApplyActivation(activation, dst, x_end - x_begin);
        }
      }
    }
  }
}

void WinogradConv::Run(ThreadPool* pool, const float* image, const float* w, const float* bias,
                       const Activation& activation, const float* residual, float* out,
                       void* scratch) const {
  float* slots = static_cast<float*>(scratch);
  const float* u = transformed_.data<float>();
  if (PreparedBytes() == 0) {
    float* transformed = slots;
    slots += kXi * s_.out_channels * s_.in_channels;
    pool->ParallelFor(s_.out_channels, 8, [&](int64_t begin, int64_t end) {
      TransformWeights(w, begin, end, transformed);
    });
    u = transformed;
  }
  if (split_outputs_) {
    // Every tile's input transformed by channels, then the blocks of output
    // channels shared; a thread's slot holds its products and rows.
    float* v = slots;
    slots += SharedFloats();
    const int64_t tiles = band_tiles_;
    // A pool larger than Setup planned slots for (no Model makes one) runs
    // it all on the calling thread.
    const bool serial = pool->num_threads() > slots_;
    auto slot = [&] { return slots + (serial ? 0 : ThreadPool::CurrentThread()) * SlotFloats(); };
    auto transform = [&](int64_t begin, int64_t end) {
      TransformBand(image, 0, tiles, begin, end, v, slot() + kXi * kGemmMr * tiles);
    };
    const int64_t blocks = (s_.out_channels + kGemmMr - 1) / kGemmMr;
    auto outputs = [&](int64_t begin, int64_t end) {
      BlockOutputs(v, u, bias, activation, residual, 0, tiles, begin * kGemmMr,
                   std::min(s_.out_channels, end * kGemmMr), out, slot());
    };
    if (serial) {
      transform(0, s_.in_channels);
      outputs(0, blocks);
    } else {
      pool->ParallelFor(s_.in_channels, 1, transform);
      pool->ParallelFor(blocks, 1, outputs);
    }
    return;
  }
  // One slot per thread: slot i runs its share of the bands in order.
  pool->ParallelFor(slots_, 1, [&](int64_t begin, int64_t end) {
    for (int64_t i = begin; i < end; ++i) {
      int64_t first, last;
      ThreadPool::ChunkRange(bands_, slots_, i, &first, &last);
      for (int64_t band = first; band < last; ++band) {
        RunBand(image, u, bias, activation, residual, band, out, slots + i * SlotFloats());
      }
    }
  });
}

}  // namespace serdab::engine
