// Optimised Conv.
//
// Every convolution is computed as an implicit GEMM: output rows are output
// channels (A = the ONNX weight [M, C/g*kh*kw], read in place, so a run-time
// weight works too), and columns are output pixels. The input is first
// rearranged into "phase planes": the zero-padded input split by stride
// phase, so that for every tap (c, ky, kx) the inputs of consecutive output
// pixels along a row are consecutive floats. Flattening each plane row-major,
// tap t of output position q = oy * wq + ox reads plane_data[offset[t] + q],
// and a GEMM tile of 48 positions loads each B row with three plain vector
// loads, with no im2col buffer. Positions with ox >= out_w (the plane is wider
// than the output) are computed and dropped. A stride-1 convolution without
// padding reads the input itself (a 1x1 convolution is then a plain GEMM
// W x X). The bias starts the sums; a residual and a Relu or Clip are applied
// in registers by tiles written straight to the output, and any other
// epilogue per block while it is in cache.
//
// Three ways to schedule it:
// - whole image: planes for the whole input, then work units of (group,
//   block of output channels, block of columns) spread over the threads;
// - bands, when the planes take a quarter of L2 or more, on maps of enough
//   rows: each chunk of work builds
//   the planes of its own bands of output rows in its own scratch slice and
//   computes them at once;
// - small maps (up to 22x22) with many output channels: the pixel columns are
//   packed densely from the planes, and a few leftover columns past a
//   multiple of 16 are dot products rather than a mostly empty tile.
//
// 3x3 stride-1 layers with enough channels on maps of 14x14 and more run as
// Winograd F(2x2, 3x3) (winograd.h; see SuitsWinograd), and many others
// with many output channels on maps of 14x14 and more take a schedule with
// output channels in the vector lanes (conv_channel_lanes.h).
//
// Depthwise convolutions (one input channel per group) on maps up to 28
// wide keep 16 channels in the vector lanes (depthwise_channel_lanes.h);
// wider ones, and channel multipliers above 1, use a direct kernel
// vectorised along the output row.
//
// 3-D convolutions run the reference kernel.
#include <algorithm>
#include <cstring>
#include <limits>
#include <memory>
#include <vector>

#if defined(__AVX512F__)
#include <immintrin.h>
#endif

#include "enclave/engine/activation.h"
#include "enclave/engine/ops/conv_params.h"
#include "enclave/engine/ops/register_ops.h"
#include "enclave/engine/optimized/conv_channel_lanes.h"
#include "enclave/engine/optimized/depthwise_channel_lanes.h"
#include "enclave/engine/optimized/lane_mask.h"
#include "enclave/engine/optimized/prefetch.h"
#include "enclave/engine/optimized/sgemm.h"
#include "enclave/engine/optimized/winograd.h"
#include "enclave/engine/thread_pool.h"

namespace serdab::engine {
namespace {

// GEMM tiles per work unit along the output positions, at most: one unit
// keeps an A panel (8 rows of the weight) in cache across this many tiles.
constexpr int64_t kTilesPerUnit = 4;
// Work units per thread on a map of one position block, whose units split the
// output channels: enough for an idle thread to take over some of a slower
// one's (thread_pool.h), few enough that the columns, which every unit
// reads, are not read again too often. (8 was 5-20% slower than 4 on 7x7 and
// 14x14 maps in kernels_bench at 2 threads.)
constexpr int64_t kUnitsPerThread = 4;
// In band mode (see RunBands) each band's planes take about kBandBytes, each
// thread has kMinBandsPerThread bands at least, and maps have kMinBandRows
// rows at least: two a band at 2 threads.
constexpr int64_t kBandBytes = 512 << 10;
constexpr int64_t kMinBandsPerThread = 2;
constexpr int64_t kMinBandRows = 8;
// Small output maps with enough output channels are computed on compact pixel
// columns packed from the planes, so that tiles do not compute the planes'
// dropped positions (up to 22% of a 7x7 map's 3x3 planes, 26% of a 17x17
// map's 1x7 planes: inception_v3's 1x7 convolutions were 10-15% faster
// packed).
constexpr int64_t kPackedMaxPixels = 512;
constexpr int64_t kPackedMinChannels = 64;
// When the pixel columns end with this few past a multiple of 16, those
// columns are dot products (GemmDot) rather than a mostly empty tile.
constexpr int64_t kMaxDotColumns = 6;
// A 1x1 convolution's unit copies its B columns into a panel only when it
// computes this many output channels or more, over which the copy is spread:
// at 2 threads, squeezenet's 512->64 at 13x13 (units of 8 channels) was 1.5x
// slower copying, googlenet's 528->256 at 14x14 and 832->256 at 7x7 (units
// of 32) 1.2-1.3x.
constexpr int64_t kMinPanelRows = 64;
// A depthwise channel on the padded path is computed in this many slices of
// rows, and after each the kernel asks for a slice of the next channel's
// input lines, and of its output lines in a writable state. In a frame at 2
// threads those lines are often in the other core's cache (the input was
// written by the layer before, split otherwise; the output buffer was read
// by the next layer in the last frame), and a store that waits for a line
// to cross between cores stalls the kernel: mnasnet1_0's 3x3 layers at
// 56x56 took 83-105 us without this and 57-62 with it. Asked for all at
// once, at the start of a channel, the lines held up the loads of the
// channel's own taps (70-78 us). Each slice also copies the input rows it
// reads into the padded buffer just before its taps read them from L1:
// copied whole first, a 112x112 channel's rows had left L1 by then
// (mobilenet_v2's 3x3 stride-2 layer at 112x112 alone, 0.86x at 1 thread
// and 0.81x at 2).
constexpr int64_t kPrefetchSlices = 8;
// The per-core L2 cache we plan blocks for (1 MiB on Zen 4 and 5, 1.25-2 MiB
// on recent Xeons).
constexpr int64_t kL2Bytes = 1 << 20;

// Whether a 3x3 stride-1 layer runs as Winograd F(4x4, 3x3) (winograd.h)
// rather than on the channel-lanes or GEMM schedules: on maps of more tiles
// than a GEMM tile's columns (49 and more: 25x25 and larger) with 16
// channels a side or more, and on smaller maps of 14x14 and more with 64 or
// more. The products save 3/4 of the multiply-adds, but the transforms cost
// per input and per output channel, which fewer channels do not repay.
// Measured on single layers at 2 threads against what ran before (the
// lanes or GEMM schedules): 32->96 at 28x28 0.73, 32->64 at 147x147 0.69,
// 32->32 at 147x147 0.92, 128->32 at 28x28 0.89, 16->64 at 55x55 0.91,
// 16->32 at 28x28 0.89; but on 14x14 maps (split by output channels)
// 128->32 1.05, 32->64 1.12, 24->64 1.38. Not taken either: 7x7 maps and
// 13x13 ones, which F(2x2, 3x3) made slower (googlenet's 160->320 and
// 192->384 at 7x7 1.22-1.34, squeezenet's 64->256 at 13x13 1.38; resnet50's
// 512 at 7x7 0.94). It depends on the input side and the whole layer's
// output channels only, so that a slice of a layer's output channels
// (output_slice.h) decides as the layer does.
bool SuitsWinograd(const ConvParams& p, int64_t layer_out_channels) {
  if (p.spatial_rank != 2 || p.group != 1 || p.kernel_h != 3 || p.kernel_w != 3 ||
      p.stride_h != 1 || p.stride_w != 1 || p.dilation_h != 1 || p.dilation_w != 1) {
    return false;
  }
  const int64_t channels = std::min(p.in_channels, layer_out_channels);
  return (!WinogradSplitsOutputs(p.out_h, p.out_w) && channels >= 16) ||
         (p.out_h * p.out_w >= 14 * 14 && channels >= 64);
}

// The padded input split by stride phase. Plane (c, a, b) holds padded input
// rows a, a + sh, ... and columns b, b + sw, ...; only phases that some tap
// reads are stored.
struct PhasePlanes {
  bool use_input = false;  // stride 1 and no padding: read the input directly
  int64_t hq = 0;
  int64_t wq = 0;
  std::vector<int> phase_index;  // [a * sw + b] -> index among stored phases, or -1
  int64_t phases = 0;
  int64_t plane_size() const { return hq * wq; }
  int64_t channel_stride() const { return phases * plane_size(); }
};

PhasePlanes MakePhasePlanes(const ConvParams& p) {
  PhasePlanes pp;
  const int64_t padded_h = p.in_h + p.pad_top + p.pad_bottom;
  const int64_t padded_w = p.in_w + p.pad_left + p.pad_right;
  pp.use_input = p.stride_h == 1 && p.stride_w == 1 && p.pad_top == 0 && p.pad_left == 0 &&
                 p.pad_bottom == 0 && p.pad_right == 0;
  pp.hq = (padded_h + p.stride_h - 1) / p.stride_h;
  pp.wq = (padded_w + p.stride_w - 1) / p.stride_w;
  pp.phase_index.assign(p.stride_h * p.stride_w, -1);
  for (int64_t ky = 0; ky < p.kernel_h; ++ky) {
    for (int64_t kx = 0; kx < p.kernel_w; ++kx) {
      const int64_t phase =
          (ky * p.dilation_h % p.stride_h) * p.stride_w + kx * p.dilation_w % p.stride_w;
      if (pp.phase_index[phase] < 0) pp.phase_index[phase] = static_cast<int>(pp.phases++);
    }
  }
  return pp;
}

// Offset of tap (c, ky, kx) from the start of channel 0's planes, for an
// output at plane position 0.
int64_t TapOffset(const ConvParams& p, const PhasePlanes& pp, int64_t c, int64_t ky, int64_t kx) {
  const int64_t dy = ky * p.dilation_h;
  const int64_t dx = kx * p.dilation_w;
  const int64_t phase = pp.phase_index[(dy % p.stride_h) * p.stride_w + dx % p.stride_w];
  return c * pp.channel_stride() + phase * pp.plane_size() + (dy / p.stride_h) * pp.wq +
         dx / p.stride_w;
}

// dst[0, n) = src[0, n) and dst[0, n) = 0, inline: plane rows and tile row
// segments are a few dozen floats, for which a libc call costs more than the
// copy.
inline void CopyFloats(const float* src, int64_t n, float* dst) {
#if defined(__AVX512F__)
  int64_t i = 0;
  for (; i + 16 <= n; i += 16) _mm512_storeu_ps(dst + i, _mm512_loadu_ps(src + i));
  if (i < n) {
    const __mmask16 m = static_cast<__mmask16>((1u << (n - i)) - 1);
    _mm512_mask_storeu_ps(dst + i, m, _mm512_maskz_loadu_ps(m, src + i));
  }
#else
  std::memcpy(dst, src, n * sizeof(float));
#endif
}

// dst[i] = ConvInputValue(src[i], a, b, relu) for i in [0, n): an input
// BatchNormalization (and Relu) taken over by a 1x1 Conv, with the
// BatchNormalization kernel's fused multiply-add and the Relu's max.
inline void TransformFloats(const float* src, int64_t n, float a, float b, bool relu, float* dst) {
  int64_t i = 0;
#if defined(__AVX512F__)
  const __m512 av = _mm512_set1_ps(a), bv = _mm512_set1_ps(b), zero = _mm512_setzero_ps();
  auto one = [&](__m512 x) {
    const __m512 y = _mm512_fmadd_ps(x, av, bv);
    return relu ? _mm512_max_ps(zero, y) : y;  // std::max(y, 0) lane by lane
  };
  for (; i + 16 <= n; i += 16) _mm512_storeu_ps(dst + i, one(_mm512_loadu_ps(src + i)));
  if (i < n) {
    const __mmask16 m = static_cast<__mmask16>((1u << (n - i)) - 1);
    _mm512_mask_storeu_ps(dst + i, m, one(_mm512_maskz_loadu_ps(m, src + i)));
  }
#endif
  for (; i < n; ++i) dst[i] = ConvInputValue(src[i], a, b, relu);
}

inline void ZeroFloats(float* dst, int64_t n) {
#if defined(__AVX512F__)
  int64_t i = 0;
  for (; i + 16 <= n; i += 16) _mm512_storeu_ps(dst + i, _mm512_setzero_ps());
  if (i < n) {
    _mm512_mask_storeu_ps(dst + i, static_cast<__mmask16>((1u << (n - i)) - 1),
                          _mm512_setzero_ps());
  }
#else
  std::memset(dst, 0, n * sizeof(float));
#endif
}

// Plane rows of stride-2 phases are built from a copy of the input row with
// its zero padding, in a buffer of this many floats on the stack; wider rows
// take the general path.
constexpr int64_t kPaddedRowFloats = 2048;

#if defined(__AVX512F__)
// Of the 32 floats lo:hi, the 16 at even (or odd) positions: a stride-2 read.
inline __m512 EvenLanes(__m512 lo, __m512 hi) {
  const __m512i even = _mm512_set_epi32(30, 28, 26, 24, 22, 20, 18, 16, 14, 12, 10, 8, 6, 4, 2, 0);
  return _mm512_permutex2var_ps(lo, even, hi);
}

inline __m512 OddLanes(__m512 lo, __m512 hi) {
  const __m512i odd = _mm512_set_epi32(31, 29, 27, 25, 23, 21, 19, 17, 15, 13, 11, 9, 7, 5, 3, 1);
  return _mm512_permutex2var_ps(lo, odd, hi);
}

// Row r of the two column phases of padded input row `padded` (2 * wq
// floats and 32 more, zero past the input): even[xq] = padded[2 * xq],
// odd[xq] = padded[2 * xq + 1]; either may be nullptr (a phase no tap reads).
void DeinterleaveRow(const float* padded, int64_t wq, float* even, float* odd) {
  for (int64_t x = 0; x < wq; x += 16) {
    const __m512 lo = _mm512_loadu_ps(padded + 2 * x);
    const __m512 hi = _mm512_loadu_ps(padded + 2 * x + 16);
    const __mmask16 m = static_cast<__mmask16>(LaneMask(0, wq - x, 16));
    if (even != nullptr) _mm512_mask_storeu_ps(even + x, m, EvenLanes(lo, hi));
    if (odd != nullptr) _mm512_mask_storeu_ps(odd + x, m, OddLanes(lo, hi));
  }
}
#endif

// Writes rows [first_row, first_row + rows) of the phase planes of one input
// channel, each plane's first row at planes + plane index * pp.plane_size().
void BuildPlanes(const ConvParams& p, const PhasePlanes& pp, int64_t first_row, int64_t rows,
                 const float* channel, float* planes) {
  const int64_t sh = p.stride_h, sw = p.stride_w;
#if defined(__AVX512F__)
  if (sw == 2 && 2 * pp.wq + 32 <= kPaddedRowFloats) {
    // Both column phases of a row from one pass over it.
    float padded[kPaddedRowFloats];
    const int64_t tail = 2 * pp.wq + 32 - p.pad_left - p.in_w;
    ZeroFloats(padded, p.pad_left);
    for (int64_t a = 0; a < sh; ++a) {
      float* phase[2];
      for (int64_t b = 0; b < 2; ++b) {
        const int index = pp.phase_index[a * sw + b];
        phase[b] = index < 0 ? nullptr : planes + index * pp.plane_size();
      }
      if (phase[0] == nullptr && phase[1] == nullptr) continue;
      for (int64_t r = 0; r < rows; ++r) {
        const int64_t iy = (first_row + r) * sh + a - p.pad_top;
        float* even = phase[0] != nullptr ? phase[0] + r * pp.wq : nullptr;
        float* odd = phase[1] != nullptr ? phase[1] + r * pp.wq : nullptr;
        if (iy < 0 || iy >= p.in_h) {
          if (even != nullptr) ZeroFloats(even, pp.wq);
          if (odd != nullptr) ZeroFloats(odd, pp.wq);
          continue;
        }
        CopyFloats(channel + iy * p.in_w, p.in_w, padded + p.pad_left);
        ZeroFloats(padded + p.pad_left + p.in_w, tail);
        DeinterleaveRow(padded, pp.wq, even, odd);
      }
    }
    return;
  }
#endif
  for (int64_t a = 0; a < sh; ++a) {
    for (int64_t b = 0; b < sw; ++b) {
      const int index = pp.phase_index[a * sw + b];
      if (index < 0) continue;
      float* dst = planes + index * pp.plane_size();
      // Plane column xq reads input column xq * sw + b - pad_left: the valid
      // ones are [x_lo, x_hi).
      const int64_t x_lo = std::min(pp.wq, std::max<int64_t>(0, (p.pad_left - b + sw - 1) / sw));
      const int64_t x_hi = std::max(x_lo, std::min(pp.wq, (p.in_w + p.pad_left - b + sw - 1) / sw));
      const int64_t shift = b - p.pad_left;
      for (int64_t r = 0; r < rows; ++r) {
        float* row = dst + r * pp.wq;
        const int64_t iy = (first_row + r) * sh + a - p.pad_top;
        if (iy < 0 || iy >= p.in_h) {
          ZeroFloats(row, pp.wq);
          continue;
        }
        const float* in_row = channel + iy * p.in_w;
        ZeroFloats(row, x_lo);
        if (sw == 1) {
          CopyFloats(in_row + x_lo + shift, x_hi - x_lo, row + x_lo);
        } else {
          for (int64_t xq = x_lo; xq < x_hi; ++xq) row[xq] = in_row[xq * sw + shift];
        }
        ZeroFloats(row + x_hi, pp.wq - x_hi);
      }
    }
  }
}

// Index in the compact output row-major [out_h, out_w] of plane position q,
// or of the next valid position when q is a dropped one.
int64_t CompactIndex(const ConvParams& p, int64_t wq, int64_t q) {
  return (q / wq) * p.out_w + std::min(q % wq, p.out_w);
}

// Masks of the plane positions that are output pixels (column < out_w), per
// 16 positions, for positions [0, count).
std::vector<uint16_t> PixelMasks(int64_t count, int64_t wq, int64_t out_w) {
  std::vector<uint16_t> masks((count + 15) / 16, 0);
  for (int64_t q = 0; q < count; ++q) {
    if (q % wq < out_w) masks[q / 16] |= static_cast<uint16_t>(1u << (q % 16));
  }
  return masks;
}

// dst[0, pixels) = the values of src at the pixel positions, in order.
void CompressPixels(const float* src, const std::vector<uint16_t>& masks, float* dst) {
  for (size_t c = 0; c < masks.size(); ++c) {
#if defined(__AVX512F__)
    // The register form of vcompressps: the memory form is slow on Zen 4.
    const __mmask16 m = masks[c];
    const __m512 v = _mm512_maskz_compress_ps(m, _mm512_maskz_loadu_ps(m, src + 16 * c));
    const int n = __builtin_popcount(m);
    _mm512_mask_storeu_ps(dst, static_cast<__mmask16>((1u << n) - 1), v);
    dst += n;
#else
    for (int l = 0; l < 16; ++l) {
      if (masks[c] & (1u << l)) *dst++ = src[16 * c + l];
    }
#endif
  }
}

// Depthwise geometry, fixed at Setup. Output rows are computed 16 columns
// (one vector) at a time; for vector block b and kernel column kx, lane l
// reads input column col[b * kw + kx] + l * stride_w of the tap's input row,
// and mask[b * kw + kx] says which lanes (for stride 2: which of the 32
// loaded input columns) lie inside the row. Lanes outside read nothing and
// count as zero padding, so the input needs no padded copy.
struct DepthwisePlan {
  int64_t blocks = 0;
  std::vector<int64_t> col;
  std::vector<uint32_t> mask;
};

DepthwisePlan MakeDepthwisePlan(const ConvParams& p) {
  DepthwisePlan plan;
  plan.blocks = (p.out_w + 15) / 16;
  for (int64_t b = 0; b < plan.blocks; ++b) {
    for (int64_t kx = 0; kx < p.kernel_w; ++kx) {
      const int64_t col = b * 16 * p.stride_w - p.pad_left + kx * p.dilation_w;
      uint32_t mask = 0;
      if (p.stride_w <= 2) {
        // Contiguous loads of 16 (stride 1) or 32 (stride 2) input columns.
        mask = LaneMask(-col, p.in_w - col, 16 * p.stride_w);
      } else {
        for (int64_t l = 0; l < 16; ++l) {
          const int64_t c = col + l * p.stride_w;
          if (c >= 0 && c < p.in_w) mask |= 1u << l;
        }
      }
      plan.col.push_back(col);
      plan.mask.push_back(mask);
    }
  }
  return plan;
}

// The rows PaddedChannel groups: 4 on maps one vector wide, else 2.
int64_t PaddedRowAlignment(const ConvParams& p) { return p.out_w <= 16 ? 4 : 2; }

// Asks for the lines of slice `slice` of kPrefetchSlices of `floats` floats
// at `data`.
template <PrefetchFor kFor>
void PrefetchSlice(const float* data, int64_t floats, int64_t slice) {
  const int64_t size = floats * static_cast<int64_t>(sizeof(float));
  const int64_t begin = size * slice / kPrefetchSlices & ~int64_t{63};
  PrefetchLines<kFor>(reinterpret_cast<const char*>(data) + begin,
                      size * (slice + 1) / kPrefetchSlices - begin);
}

#if defined(__AVX512F__)

// 16 output lanes of one tap: input columns col + l * SW of `row`.
template <int SW>
inline __m512 LoadTap(const float* row, int64_t col, uint32_t mask, int64_t stride) {
  if constexpr (SW == 1) {
    return _mm512_maskz_loadu_ps(static_cast<__mmask16>(mask), row + col);
  } else if constexpr (SW == 2) {
    const __m512 lo = _mm512_maskz_loadu_ps(static_cast<__mmask16>(mask), row + col);
    const __m512 hi = _mm512_maskz_loadu_ps(static_cast<__mmask16>(mask >> 16), row + col + 16);
    return EvenLanes(lo, hi);
  } else {
    const __m512i index =
        _mm512_mullo_epi32(_mm512_set_epi32(15, 14, 13, 12, 11, 10, 9, 8, 7, 6, 5, 4, 3, 2, 1, 0),
                           _mm512_set1_epi32(static_cast<int>(stride)));
    return _mm512_mask_i32gather_ps(_mm512_setzero_ps(), static_cast<__mmask16>(mask), index,
                                    row + col, 4);
  }
}

// NB vector blocks of one output row, starting at block b0. The loops over
// blocks are unrolled explicitly so that GCC keeps the accumulators in
// registers (left alone, it spills them after every FMA).
template <int SW, int NB>
inline void DepthwiseBlocks(const ConvParams& p, const DepthwisePlan& plan, const float* in,
                            const float* w, float bias, int64_t oy, int64_t b0, float* out_row) {
  const int64_t kh = p.kernel_h, kw = p.kernel_w, in_h = p.in_h, in_w = p.in_w;
  const int64_t stride_w = p.stride_w, dilation_h = p.dilation_h;
  const int64_t iy0 = oy * p.stride_h - p.pad_top;
  const int64_t* col = plan.col.data() + b0 * kw;
  const uint32_t* mask = plan.mask.data() + b0 * kw;
  __m512 acc[NB];
#pragma GCC unroll 4
  for (int b = 0; b < NB; ++b) acc[b] = _mm512_set1_ps(bias);
  for (int64_t ky = 0; ky < kh; ++ky) {
    const int64_t iy = iy0 + ky * dilation_h;
    if (iy < 0 || iy >= in_h) continue;
    const float* row = in + iy * in_w;
    const float* wk = w + ky * kw;
    for (int64_t kx = 0; kx < kw; ++kx) {
      const __m512 wv = _mm512_set1_ps(wk[kx]);
#pragma GCC unroll 4
      for (int b = 0; b < NB; ++b) {
        const __m512 x = LoadTap<SW>(row, col[b * kw + kx], mask[b * kw + kx], stride_w);
        acc[b] = _mm512_fmadd_ps(wv, x, acc[b]);
      }
    }
  }
  const int64_t out_w = p.out_w;
#pragma GCC unroll 4
  for (int b = 0; b < NB; ++b) {
    const int64_t ox = (b0 + b) * 16;
    const int64_t lanes = std::min<int64_t>(16, out_w - ox);
    _mm512_mask_storeu_ps(out_row + ox, static_cast<__mmask16>((1u << lanes) - 1), acc[b]);
  }
}

// One depthwise output channel from its input channel, any kernel size.
template <int SW>
void DepthwiseChannel(const ConvParams& p, const DepthwisePlan& plan, const float* in,
                      const float* w, float bias, float* out) {
  for (int64_t oy = 0; oy < p.out_h; ++oy) {
    float* out_row = out + oy * p.out_w;
    int64_t b = 0;
    for (; b + 4 <= plan.blocks; b += 4) {
      DepthwiseBlocks<SW, 4>(p, plan, in, w, bias, oy, b, out_row);
    }
    switch (plan.blocks - b) {
      case 3:
        DepthwiseBlocks<SW, 3>(p, plan, in, w, bias, oy, b, out_row);
        break;
      case 2:
        DepthwiseBlocks<SW, 2>(p, plan, in, w, bias, oy, b, out_row);
        break;
      case 1:
        DepthwiseBlocks<SW, 1>(p, plan, in, w, bias, oy, b, out_row);
        break;
      default:
        break;
    }
  }
}

// The fast path for kernel width 3 or 5 and stride 1 or 2 (MobileNet,
// EfficientNet): the channel is first copied into a zero-padded buffer of
// `padded_w` floats per row, so every tap is a plain load at a fixed offset.
// NB vector blocks of one output row, starting at block b0.
template <int SW, int KW, int NB>
inline void PaddedBlocks(const ConvParams& p, const float* padded, int64_t padded_w, const float* w,
                         float bias, int64_t oy, int64_t b0, float* out_row) {
  const int64_t kh = p.kernel_h, dilation_w = p.dilation_w;
  const float* rows = padded + oy * p.stride_h * padded_w + b0 * 16 * SW;
  const int64_t row_step = p.dilation_h * padded_w;
  __m512 acc[NB];
#pragma GCC unroll 4
  for (int b = 0; b < NB; ++b) acc[b] = _mm512_set1_ps(bias);
  for (int64_t ky = 0; ky < kh; ++ky) {
    const float* row = rows + ky * row_step;
    const float* wk = w + ky * KW;
#pragma GCC unroll 5
    for (int kx = 0; kx < KW; ++kx) {
      const __m512 wv = _mm512_set1_ps(wk[kx]);
      const float* r = row + kx * dilation_w;
#pragma GCC unroll 4
      for (int b = 0; b < NB; ++b) {
        __m512 x;
        if constexpr (SW == 1) {
          x = _mm512_loadu_ps(r + 16 * b);
        } else {
          x = EvenLanes(_mm512_loadu_ps(r + 32 * b), _mm512_loadu_ps(r + 32 * b + 16));
        }
        acc[b] = _mm512_fmadd_ps(wv, x, acc[b]);
      }
    }
  }
  const int64_t out_w = p.out_w;
#pragma GCC unroll 4
  for (int b = 0; b < NB; ++b) {
    const int64_t ox = (b0 + b) * 16;
    const int64_t lanes = std::min<int64_t>(16, out_w - ox);
    _mm512_mask_storeu_ps(out_row + ox, static_cast<__mmask16>((1u << lanes) - 1), acc[b]);
  }
}

// R output rows (oy .. oy + R - 1) at once for a square KxK kernel with
// equal strides and no dilation: each input row loaded serves every output
// row whose window covers it, and the K*K weights are loaded once (wv). Each
// output vector sums kernel row ky into partial accumulator ky % P, so that
// R * NB * P independent FMA chains (about 8) keep the FMA units busy: on a
// map one vector wide (7x7, 14x14) one chain per output vector would leave
// the core waiting on the FMA latency, most of a 5x5 layer's time.
template <int S, int K, int R, int NB>
inline void PaddedRows(const float* padded, int64_t padded_w, const __m512* wv, float bias,
                       int64_t oy, int64_t b0, int64_t out_w, float* out_row) {
  constexpr int P = std::min(K, std::max(1, 8 / (R * NB)));
  const float* base = padded + oy * S * padded_w + b0 * 16 * S;
  __m512 acc[R][P][NB];
#pragma GCC unroll 4
  for (int r = 0; r < R; ++r) {
#pragma GCC unroll 8
    for (int q = 0; q < P; ++q) {
#pragma GCC unroll 2
      for (int b = 0; b < NB; ++b) acc[r][q][b] = _mm512_set1_ps(q == 0 ? bias : 0.f);
    }
  }
#pragma GCC unroll 16
  for (int i = 0; i < (R - 1) * S + K; ++i) {
    const float* row = base + i * padded_w;
#pragma GCC unroll 5
    for (int kx = 0; kx < K; ++kx) {
#pragma GCC unroll 2
      for (int b = 0; b < NB; ++b) {
        __m512 x;
        if constexpr (S == 1) {
          x = _mm512_loadu_ps(row + kx + 16 * b);
        } else {
          x = EvenLanes(_mm512_loadu_ps(row + kx + 32 * b),
                        _mm512_loadu_ps(row + kx + 32 * b + 16));
        }
#pragma GCC unroll 4
        for (int r = 0; r < R; ++r) {
          const int ky = i - r * S;
          if (ky >= 0 && ky < K) {
            acc[r][ky % P][b] = _mm512_fmadd_ps(wv[ky * K + kx], x, acc[r][ky % P][b]);
          }
        }
      }
    }
  }
#pragma GCC unroll 4
  for (int r = 0; r < R; ++r) {
#pragma GCC unroll 2
    for (int b = 0; b < NB; ++b) {
      __m512 sum = acc[r][0][b];
#pragma GCC unroll 8
      for (int q = 1; q < P; ++q) sum = _mm512_add_ps(sum, acc[r][q][b]);
      const int64_t ox = (b0 + b) * 16;
      const __mmask16 mask = static_cast<__mmask16>((1u << std::min<int64_t>(16, out_w - ox)) - 1);
      _mm512_mask_storeu_ps(out_row + r * out_w + ox, mask, sum);
    }
  }
}

// Output rows [oy, oy + R) of every vector block, two blocks at a time;
// out_row is row oy's.
template <int S, int K, int R>
inline void PaddedRowGroup(const float* padded, int64_t padded_w, const __m512* wv, float bias,
                           int64_t oy, int64_t blocks, int64_t out_w, float* out_row) {
  int64_t b = 0;
  for (; b + 2 <= blocks; b += 2) {
    PaddedRows<S, K, R, 2>(padded, padded_w, wv, bias, oy, b, out_w, out_row);
  }
  if (b < blocks) PaddedRows<S, K, R, 1>(padded, padded_w, wv, bias, oy, b, out_w, out_row);
}

// Output rows [oy_begin, oy_end) of one channel (`out` is its plane) from
// its padded input. oy_begin is a multiple of PaddedRowAlignment, so that
// the rows are grouped as they are over the whole map: the bits do not
// depend on how a channel's rows are split.
template <int SW, int KW>
void PaddedChannel(const ConvParams& p, const float* padded, int64_t padded_w, const float* w,
                   float bias, int64_t oy_begin, int64_t oy_end, float* out) {
  const int64_t blocks = (p.out_w + 15) / 16;
  const int64_t out_w = p.out_w;
  int64_t oy = oy_begin;
  if (p.kernel_h == KW && p.stride_h == SW && p.dilation_h == 1 && p.dilation_w == 1) {
    __m512 wv[KW * KW];
    for (int t = 0; t < KW * KW; ++t) wv[t] = _mm512_set1_ps(w[t]);
    // Maps one vector wide take four rows at a time, wider ones two (already
    // four chains per partial sum).
    if (blocks == 1) {
      for (; oy + 4 <= oy_end; oy += 4) {
        PaddedRowGroup<SW, KW, 4>(padded, padded_w, wv, bias, oy, blocks, out_w, out + oy * out_w);
      }
    }
    for (; oy + 2 <= oy_end; oy += 2) {
      PaddedRowGroup<SW, KW, 2>(padded, padded_w, wv, bias, oy, blocks, out_w, out + oy * out_w);
    }
    if (oy < oy_end) {
      PaddedRowGroup<SW, KW, 1>(padded, padded_w, wv, bias, oy, blocks, out_w, out + oy * out_w);
    }
    return;
  }
  for (; oy < oy_end; ++oy) {
    float* out_row = out + oy * p.out_w;
    int64_t b = 0;
    for (; b + 4 <= blocks; b += 4) {
      PaddedBlocks<SW, KW, 4>(p, padded, padded_w, w, bias, oy, b, out_row);
    }
    switch (blocks - b) {
      case 3:
        PaddedBlocks<SW, KW, 3>(p, padded, padded_w, w, bias, oy, b, out_row);
        break;
      case 2:
        PaddedBlocks<SW, KW, 2>(p, padded, padded_w, w, bias, oy, b, out_row);
        break;
      case 1:
        PaddedBlocks<SW, KW, 1>(p, padded, padded_w, w, bias, oy, b, out_row);
        break;
      default:
        break;
    }
  }
}

// Copies input rows [y_begin, y_end) of one channel into the interior of a
// padded buffer whose borders are already zero.
void FillPadded(const ConvParams& p, const float* in, int64_t y_begin, int64_t y_end,
                int64_t padded_w, float* padded) {
  const __mmask16 tail = static_cast<__mmask16>(LaneMask(0, p.in_w % 16, 16));
  for (int64_t y = std::max<int64_t>(0, y_begin); y < std::min(p.in_h, y_end); ++y) {
    const float* src = in + y * p.in_w;
    float* dst = padded + (p.pad_top + y) * padded_w + p.pad_left;
    int64_t x = 0;
    for (; x + 16 <= p.in_w; x += 16) _mm512_storeu_ps(dst + x, _mm512_loadu_ps(src + x));
    if (tail != 0) _mm512_mask_storeu_ps(dst + x, tail, _mm512_maskz_loadu_ps(tail, src + x));
  }
}

#else

template <int SW>
void DepthwiseChannel(const ConvParams& p, const DepthwisePlan& plan, const float* in,
                      const float* w, float bias, float* out) {
  for (int64_t oy = 0; oy < p.out_h; ++oy) {
    for (int64_t ox = 0; ox < p.out_w; ++ox) {
      float acc = bias;
      for (int64_t ky = 0; ky < p.kernel_h; ++ky) {
        const int64_t iy = oy * p.stride_h - p.pad_top + ky * p.dilation_h;
        if (iy < 0 || iy >= p.in_h) continue;
        for (int64_t kx = 0; kx < p.kernel_w; ++kx) {
          const int64_t ix = ox * p.stride_w - p.pad_left + kx * p.dilation_w;
          if (ix >= 0 && ix < p.in_w) acc += w[ky * p.kernel_w + kx] * in[iy * p.in_w + ix];
        }
      }
      out[oy * p.out_w + ox] = acc;
    }
  }
}

#endif  // __AVX512F__

class ConvOptimized : public Kernel {
 public:
  Status Setup(const KernelSetup& setup, std::vector<TensorInfo>* outputs) override {
    SERDAB_ASSIGN_OR_RETURN(p_, ParseConvParams(setup));
    // An input BatchNormalization is applied as a 1x1 unit copies its
    // columns into its panel; the graph passes fuse one into no other Conv.
    const bool plain_1x1 = p_.kernel_h == 1 && p_.kernel_w == 1 && p_.stride_h == 1 &&
                           p_.stride_w == 1 && p_.pad_top == 0 && p_.pad_left == 0 &&
                           p_.pad_bottom == 0 && p_.pad_right == 0 && p_.group == 1 &&
                           p_.in_channels > 1;
    if (p_.spatial_rank == 3 || (p_.has_input_affine && (!plain_1x1 || p_.spatial_rank != 2))) {
      reference_ = OpRegistry::Builtin().Create("Conv", KernelFlavor::kReference);
      return reference_->Setup(setup, outputs);
    }
    outputs->push_back({DataType::kFloat32, p_.output_shape()});
    const int threads = std::max(1, setup.num_threads);
    depthwise_ = p_.in_channels_per_group() == 1;
    if (depthwise_) {
      if (DepthwiseChannelLanes::Applies(p_)) {
        depthwise_lanes_mode_ = true;
        depthwise_lanes_.Setup(p_, threads);
        return Status::Ok();
      }
      depthwise_plan_ = MakeDepthwisePlan(p_);
      depthwise_chunks_ = ThreadPool::NumChunks(p_.out_channels, 1, threads);
#if defined(__AVX512F__)
      padded_path_ = (p_.kernel_w == 3 || p_.kernel_w == 5) && p_.stride_w <= 2;
#endif
      if (padded_path_) {
        // Wide enough for every load of every output block, garbage lanes
        // of the last block included; a multiple of 16 so that rows start
        // on cache lines.
        const int64_t blocks = (p_.out_w + 15) / 16;
        padded_w_ = std::max(p_.in_w + p_.pad_left + p_.pad_right,
                             blocks * 16 * p_.stride_w + (p_.kernel_w - 1) * p_.dilation_w);
        padded_w_ = (padded_w_ + 15) / 16 * 16;
        padded_h_ = p_.in_h + p_.pad_top + p_.pad_bottom;
      }
      return Status::Ok();
    }
    // A slice of a layer's output channels takes the schedule the whole
    // layer takes (output_slice.h), as for packing below.
    const int64_t layer_channels = setup.whole_output_features > 0
                                       ? setup.whole_output_features / p_.group
                                       : p_.out_channels_per_group();
    if (SuitsWinograd(p_, layer_channels)) {
      winograd_ = std::make_unique<WinogradConv>(
          WinogradShape{p_.in_channels, p_.out_channels, p_.in_h, p_.in_w, p_.out_h, p_.out_w,
                        p_.pad_top, p_.pad_left},
          threads);
      if (const Tensor* w = setup.constant(1); w != nullptr) {
        SERDAB_RETURN_IF_ERROR(winograd_->PrepareWeights(w->data<float>(), setup.weight_allocator));
      }
      return Status::Ok();
    }
    if (ChannelLanesConv::Applies(p_, layer_channels)) {
      lanes_mode_ = true;
      lanes_.Setup(p_, threads);
      return Status::Ok();
    }
    layout_ = MakePhasePlanes(p_);
    const int64_t plane_bytes = p_.in_channels * layout_.channel_stride() * sizeof(float);
    // Built band by band, by the thread that computes the band, the planes
    // stay in that core's L2; built whole, they go through L3, and to the
    // other cores when the units split channels. Bands paid off from planes
    // of a quarter of L2 (at 2 threads, the 3x3 stride-2 128-channel layer
    // at 56x56 went from 987 to 741 us, 3x3 128 at 28x28 from 760 to 670),
    // on maps of kMinBandRows rows or more (a 7x7 map in bands is slower).
    // The choice ignores the thread count: band mode has no dot columns, so
    // it would change the bits of a map whose whole-image mode has them.
    //
    // A strided 1x1 convolution's planes are a plain subsample of its input,
    // which whole-image mode builds in parallel too; its bands were short
    // (a 14x14 map's are 3-4 rows, 42-56 positions, that fill tiles poorly):
    // resnet50's 512->1024 at 28->14 took 2.2 ms in bands and 1.6 in whole
    // mode, in the frame at 2 threads.
    const bool one_by_one = p_.kernel_h == 1 && p_.kernel_w == 1;
    band_mode_ = !layout_.use_input && !one_by_one && plane_bytes >= kL2Bytes / 4 &&
                 p_.out_h >= kMinBandRows;
    if (band_mode_) {
      // Bands of output rows: enough that each band's planes stay in cache,
      // and a multiple of the thread count for balance.
      const int64_t halo = (p_.kernel_h - 1) * p_.dilation_h / p_.stride_h;
      const int64_t row_bytes = p_.in_channels * layout_.phases * layout_.wq * sizeof(float);
      const int64_t rows_fit = std::max<int64_t>(1, kBandBytes / row_bytes - halo);
      int64_t bands =
          std::max<int64_t>((p_.out_h + rows_fit - 1) / rows_fit, kMinBandsPerThread * threads);
      bands = std::min(p_.out_h, (bands + threads - 1) / threads * threads);
      bands_ = bands;
      layout_.hq = (p_.out_h + bands - 1) / bands + halo;
      band_chunks_ = ThreadPool::NumChunks(bands_, 1, threads);
    }
    // The tile kernel takes 32-bit offsets into one group's planes.
    const int64_t group_span = p_.in_channels_per_group() * layout_.channel_stride();
    if (group_span > std::numeric_limits<int32_t>::max()) {
      return setup.Unsupported("input too large for the optimised Conv: " +
                               ShapeToString(setup.info(0).shape));
    }
    offsets_.reserve(p_.reduction_size());
    for (int64_t c = 0; c < p_.in_channels_per_group(); ++c) {
      for (int64_t ky = 0; ky < p_.kernel_h; ++ky) {
        for (int64_t kx = 0; kx < p_.kernel_w; ++kx) {
          offsets_.push_back(static_cast<int32_t>(TapOffset(p_, layout_, c, ky, kx)));
        }
      }
    }
    fusable_epilogue_ = p_.activation.is_clamp();
    if (p_.activation.kind == Activation::Kind::kRelu) {
      tile_epilogue_ = {nullptr, true, 0.f, std::numeric_limits<float>::infinity()};
    } else if (p_.activation.kind == Activation::Kind::kClip) {
      tile_epilogue_ = {nullptr, true, p_.activation.alpha, p_.activation.beta};
    }
    if (band_mode_) return Status::Ok();
    positions_ = (p_.out_h - 1) * layout_.wq + p_.out_w;
    const int64_t pixels = p_.out_h * p_.out_w;
    const bool compact = layout_.wq == p_.out_w;
    // A slice of a layer's output channels packs as the whole layer would
    // (output_slice.h): packing decides which columns take the dot-product path.
    const int64_t channels = setup.whole_output_features > 0
                                 ? setup.whole_output_features / p_.group
                                 : p_.out_channels_per_group();
    packed_ = !compact && pixels <= kPackedMaxPixels && channels >= kPackedMinChannels;
    columns_ = compact || packed_ ? pixels : positions_;
    dot_columns_ = (compact || packed_) && columns_ % 16 <= kMaxDotColumns ? columns_ % 16 : 0;
    tile_columns_ = columns_ - dot_columns_;
    packed_stride_ = (tile_columns_ + 15) / 16 * 16;
    if (packed_) pixel_masks_ = PixelMasks(positions_, layout_.wq, p_.out_w);
    const int64_t tiles = (tile_columns_ + kGemmNr - 1) / kGemmNr;
    // A unit's columns take at most half of L2, the rest being for the
    // weight panels and the output: on a 14x14 map with K = 2304 (ResNet's
    // 3x3 256) a unit of one tile is 17% faster at 2 threads than one of the
    // map's four, which both threads' units read again from L3 for each
    // block of channels (kernels_bench).
    const int64_t tiles_per_unit =
        std::clamp<int64_t>(kL2Bytes / 2 / ColumnBytes(kGemmNr), 1, kTilesPerUnit);
    position_blocks_ = std::max<int64_t>(1, (tiles + tiles_per_unit - 1) / tiles_per_unit);
    // Fewer position blocks than threads would leave the units to split the
    // output channels, and every thread would read all of the columns. When
    // the columns (the input) outweigh the weights, a tile per block splits
    // the columns instead: each thread then reads half of the input, which
    // the layer before has just written, half of it on the other core, and
    // all of the weights, which no layer writes and both cores can cache.
    // At 2 threads mobilenet_v2's 384->64 and 576->96 layers at 14x14 went
    // from 51-91 to 45-80 us in the frame; mobilenet_v2, mnasnet1_0,
    // efficientnet_b0, googlenet and densenet121 by 2-4%.
    const int64_t weight_bytes =
        p_.out_channels_per_group() * p_.reduction_size() * static_cast<int64_t>(sizeof(float));
    if (position_blocks_ < threads && tiles >= threads &&
        ColumnBytes(tile_columns_) > weight_bytes) {
      position_blocks_ = tiles;
    }
    // Blocks of equal width, in whole vectors: a short last block would make
    // its units a fraction of the others' (an 8x8 map's 64 columns are two
    // blocks of 32, not 48 and 16). A tile's arithmetic per column does not
    // depend on its width, so the bits do not either.
    block_columns_ = (tile_columns_ + position_blocks_ - 1) / position_blocks_;
    block_columns_ = (block_columns_ + 15) / 16 * 16;
    // Few position blocks (small images): split the output channels too, but
    // no further than needed, since every unit of a position block reads all
    // of its columns: to two units per thread, or kUnitsPerThread when the
    // whole map is one block (7x7, 14x14). (Splitting 28x28 maps to four per
    // thread made their layers 6-15% slower in kernels_bench at 2 threads.)
    const int64_t m_tiles = (p_.out_channels_per_group() + kGemmMr - 1) / kGemmMr;
    const int64_t wanted = (position_blocks_ > 1 ? 2 : kUnitsPerThread) * threads;
    const int64_t units = p_.group * position_blocks_;
    m_blocks_ = units >= wanted ? 1 : std::min(m_tiles, (wanted + units - 1) / units);
    // Few units that the threads cannot share evenly leave one thread a
    // whole unit more: resnet50's 1x1 stride-2 256->512 at 28x28, five
    // units of 160 columns, ran 1.26x faster at 2 threads than at 1. Split
    // the output channels until the units are a multiple of the threads, as
    // long as there are few of them (904-914 -> 837-866 us in the frame).
    for (int64_t m = m_blocks_; m <= m_tiles && units * m < 2 * kUnitsPerThread * threads; ++m) {
      const int64_t tiles_each = (m_tiles + m - 1) / m;
      const int64_t blocks = (m_tiles + tiles_each - 1) / tiles_each;
      if (units * blocks % threads == 0) {
        m_blocks_ = blocks;
        break;
      }
    }
    m_block_tiles_ = (m_tiles + m_blocks_ - 1) / m_blocks_;
    m_blocks_ = (m_tiles + m_block_tiles_ - 1) / m_block_tiles_;
    // Read in place, a 1x1 convolution's B rows are its input channels, a
    // page or more apart on large maps: every step of k of a tile loads from
    // another page, which the prefetchers do not follow. Each unit copies
    // its columns into a contiguous panel first (1x1 64->256 at 56x56 with
    // a cold input and output: 41 -> 60 GFLOP/s at 1 thread), if the unit
    // has enough output channels to pay for the copy (kMinPanelRows).
    panel_mode_ = layout_.use_input && compact &&
                  (m_block_tiles_ * kGemmMr >= kMinPanelRows || p_.has_input_affine);
    panel_threads_ = threads;
    return Status::Ok();
  }

  Status Run(const KernelIO& io) const override {
    if (reference_ != nullptr) return reference_->Run(io);
    const float* x = io.inputs[0]->data<float>();
    const float* w = io.inputs[1]->data<float>();
    const float* bias =
        p_.has_bias && io.inputs[2] != nullptr ? io.inputs[2]->data<float>() : nullptr;
    const float* r = p_.has_residual ? io.inputs[3]->data<float>() : nullptr;
    float* y = io.outputs[0]->data<float>();
    const int64_t in_image = p_.in_channels * p_.in_h * p_.in_w;
    const int64_t out_image = p_.out_channels * p_.out_h * p_.out_w;
    for (int64_t n = 0; n < p_.batch; ++n) {
      const float* image = x + n * in_image;
      const Output out{y + n * out_image, r != nullptr ? r + n * out_image : nullptr};
      if (winograd_) {
        winograd_->Run(io.pool, image, w, bias, p_.activation, out.residual, out.data, io.scratch);
      } else if (depthwise_lanes_mode_) {
        depthwise_lanes_.Run(io.pool, io.scratch, image, w, bias, out.data, out.residual);
      } else if (depthwise_) {
        RunDepthwise(io, image, w, bias, out);
      } else if (lanes_mode_) {
        lanes_.Run(io.pool, io.scratch, image, w, bias, out.data, out.residual);
      } else if (band_mode_) {
        RunBands(io, image, w, bias, out);
      } else {
        RunWhole(io, image, w, bias, out);
      }
    }
    return Status::Ok();
  }

  int64_t Flops() const override { return p_.Flops(); }

  size_t PreparedWeightBytes() const override { return winograd_ ? winograd_->PreparedBytes() : 0; }

  size_t ScratchBytes() const override {
    if (reference_ != nullptr) return reference_->ScratchBytes();
    if (winograd_) return winograd_->ScratchBytes();
    if (depthwise_lanes_mode_) return depthwise_lanes_.ScratchBytes();
    if (depthwise_) return depthwise_chunks_ * PaddedFloats() * sizeof(float);
    if (lanes_mode_) return lanes_.ScratchBytes();
    if (band_mode_) return band_chunks_ * PlaneFloats() * sizeof(float);
    return (PlaneFloats() + PackedFloats() + DotFloats() + panel_threads_ * PanelFloats()) *
           sizeof(float);
  }

 private:
  // Bytes of `columns` B columns of one group: the GEMM's K rows of them.
  int64_t ColumnBytes(int64_t columns) const {
    return p_.reduction_size() * columns * static_cast<int64_t>(sizeof(float));
  }
  int64_t PaddedFloats() const { return padded_path_ ? padded_h_ * padded_w_ : 0; }
  int64_t PlaneFloats() const {
    return layout_.use_input ? 0 : p_.in_channels * layout_.channel_stride();
  }
  int64_t PackedFloats() const {
    return packed_ ? p_.group * p_.reduction_size() * packed_stride_ : 0;
  }
  int64_t DotFloats() const { return p_.group * p_.reduction_size() * dot_columns_; }
  // One thread's panel in panel mode: a unit's columns of one group's B.
  int64_t PanelFloats() const { return panel_mode_ ? p_.reduction_size() * block_columns_ : 0; }

  // One image's output, and the residual summed into it (or nullptr), which
  // has the output's layout.
  struct Output {
    float* data;
    const float* residual;
  };

  // The residual and the activation, over output elements [at, at + n) of
  // the image.
  void Epilogue(const Output& out, int64_t at, int64_t n) const {
    if (out.residual != nullptr) {
      ApplyActivationToSum(p_.activation, out.residual + at, out.data + at, n);
    } else if (!p_.activation.is_none()) {
      ApplyActivation(p_.activation, out.data + at, n);
    }
  }

  // Planes for the whole image (unless the input is read directly), the
  // packed columns and dot-product columns if any, then units of (group,
  // block of output channels, block of columns).
  void RunWhole(const KernelIO& io, const float* image, const float* w, const float* bias,
                const Output& out) const {
    const float* src = image;
    float* planes = static_cast<float*>(io.scratch);
    const int64_t mg = p_.out_channels_per_group();
    const int64_t units = p_.group * m_blocks_ * position_blocks_;
    if (!layout_.use_input) {
      if (p_.group == 1 && !packed_) {
        // Each thread builds the plane rows its chunk of units starts with,
        // so that the tiles read planes from their own thread's cache (all
        // but the few halo rows past the chunk's end).
        const int64_t chunks = ThreadPool::NumChunks(units, 1, io.pool->num_threads());
        io.pool->ParallelFor(chunks, 1, [&](int64_t begin, int64_t end) {
          for (int64_t chunk = begin; chunk < end; ++chunk) {
            const int64_t first = FirstPlaneRow(units, chunks, chunk);
            const int64_t rows = FirstPlaneRow(units, chunks, chunk + 1) - first;
            for (int64_t c = 0; c < p_.in_channels && rows > 0; ++c) {
              BuildPlanes(p_, layout_, first, rows, image + c * p_.in_h * p_.in_w,
                          planes + c * layout_.channel_stride() + first * layout_.wq);
            }
          }
        });
      } else {
        io.pool->ParallelFor(p_.in_channels, 1, [&](int64_t begin, int64_t end) {
          for (int64_t c = begin; c < end; ++c) {
            BuildPlanes(p_, layout_, 0, layout_.hq, image + c * p_.in_h * p_.in_w,
                        planes + c * layout_.channel_stride());
          }
        });
      }
      src = planes;
    }
    const int64_t kg = p_.reduction_size();
    const int64_t group_stride = p_.in_channels_per_group() * layout_.channel_stride();
    float* packed = planes + PlaneFloats();
    float* dots = packed + PackedFloats();
    // Per thread, since units move between threads.
    float* panels = panel_mode_ ? dots + DotFloats() : nullptr;
    const float* in_a = p_.has_input_affine ? io.inputs[4]->data<float>() : nullptr;
    const float* in_b = p_.has_input_affine ? io.inputs[5]->data<float>() : nullptr;
    if (packed_ || dot_columns_ > 0) {
      // One row of B (a tap) at a time: its tile columns packed densely, its
      // dot columns transposed so that each is a contiguous vector over taps.
      io.pool->ParallelFor(p_.group * kg, 64, [&](int64_t begin, int64_t end) {
        float row[kPackedMaxPixels + 16];
        for (int64_t r = begin; r < end; ++r) {
          const int64_t g = r / kg, k = r % kg;
          const float* tap = src + g * group_stride + offsets_[k];
          const float* pixels = tap;
          if (packed_) {
            CompressPixels(tap, pixel_masks_, row);
            float* dst = packed + r * packed_stride_;
            std::memcpy(dst, row, tile_columns_ * sizeof(float));
            std::memset(dst + tile_columns_, 0, (packed_stride_ - tile_columns_) * sizeof(float));
            pixels = row;
          }
          for (int64_t j = 0; j < dot_columns_; ++j) {
            float v = pixels[tile_columns_ + j];
            if (in_a != nullptr) v = ConvInputValue(v, in_a[k], in_b[k], p_.input_relu);
            dots[(g * dot_columns_ + j) * kg + k] = v;
          }
        }
      });
    }
    // Units are ordered column-major so that a chunk of consecutive units
    // shares the same input columns.
    auto run_units = [&](int64_t begin, int64_t end, float* panel) {
      int64_t panel_columns = -1;  // g * position_blocks_ + pb of the panel's contents
      for (int64_t u = begin; u < end; ++u) {
        const int64_t g = u / (m_blocks_ * position_blocks_);
        const int64_t pb = u / m_blocks_ % position_blocks_;
        const int64_t mb = u % m_blocks_;
        const int64_t m_begin = g * mg + mb * m_block_tiles_ * kGemmMr;
        const int64_t m_end = std::min(g * mg + mg, m_begin + m_block_tiles_ * kGemmMr);
        const int64_t q_begin = std::min(tile_columns_, pb * block_columns_);
        const bool last = pb + 1 == position_blocks_;
        const int64_t q_end =
            last ? tile_columns_ : std::min(tile_columns_, q_begin + block_columns_);
        BlockSource source;
        if (packed_) {
          source.b.data = packed + g * kg * packed_stride_;
          source.b.stride = packed_stride_;
          source.wq = p_.out_w;
        } else if (panel != nullptr) {
          if (panel_columns != g * position_blocks_ + pb) {
            const float* group_src = src + g * group_stride + q_begin;
            for (int64_t k = 0; k < kg; ++k) {
              if (in_a != nullptr) {
                TransformFloats(group_src + offsets_[k], q_end - q_begin, in_a[k], in_b[k],
                                p_.input_relu, panel + k * block_columns_);
              } else {
                CopyFloats(group_src + offsets_[k], q_end - q_begin, panel + k * block_columns_);
              }
            }
            panel_columns = g * position_blocks_ + pb;
          }
          source.b.data = panel;
          source.b.stride = block_columns_;
          source.first_column = q_begin;
          source.wq = layout_.wq;
        } else {
          source.b.data = src + g * group_stride;
          source.b.offsets = offsets_.data();
          source.wq = layout_.wq;
        }
        if (last && dot_columns_ > 0) source.dots = dots + g * dot_columns_ * kg;
        ComputeBlock(source, m_begin, m_end, q_begin, q_end, 0, w, bias, out);
      }
    };
    if (panels != nullptr && io.pool->num_threads() > panel_threads_) {
      // A pool larger than Setup planned panels for (no Model makes one).
      run_units(0, units, panels);
      return;
    }
    io.pool->ParallelFor(units, 1, [&](int64_t begin, int64_t end) {
      run_units(begin, end,
                panels != nullptr ? panels + ThreadPool::CurrentThread() * PanelFloats() : nullptr);
    });
  }

  // The first plane row that the units of `chunk` (of `chunks` over
  // `units`, one group) read; the planes' height for chunk == chunks.
  int64_t FirstPlaneRow(int64_t units, int64_t chunks, int64_t chunk) const {
    if (chunk >= chunks) return layout_.hq;
    int64_t begin, end;
    ThreadPool::ChunkRange(units, chunks, chunk, &begin, &end);
    const int64_t q = std::min(tile_columns_, begin / m_blocks_ * block_columns_);
    return std::min(layout_.hq, q / layout_.wq);
  }

  // Each chunk of bands builds the planes of its own bands of output rows
  // in its own slice of scratch, while they are in cache, and computes them.
  void RunBands(const KernelIO& io, const float* image, const float* w, const float* bias,
                const Output& out) const {
    const int64_t planes_floats = PlaneFloats();
    const int64_t mg = p_.out_channels_per_group();
    io.pool->ParallelFor(band_chunks_, 1, [&](int64_t chunk_begin, int64_t chunk_end) {
      for (int64_t chunk = chunk_begin; chunk < chunk_end; ++chunk) {
        float* planes = static_cast<float*>(io.scratch) + chunk * planes_floats;
        int64_t band_begin, band_end;
        ThreadPool::ChunkRange(bands_, band_chunks_, chunk, &band_begin, &band_end);
        for (int64_t band = band_begin; band < band_end; ++band) {
          int64_t oy_begin, oy_end;
          ThreadPool::ChunkRange(p_.out_h, bands_, band, &oy_begin, &oy_end);
          for (int64_t c = 0; c < p_.in_channels; ++c) {
            BuildPlanes(p_, layout_, oy_begin, layout_.hq, image + c * p_.in_h * p_.in_w,
                        planes + c * layout_.channel_stride());
          }
          const int64_t positions = (oy_end - oy_begin - 1) * layout_.wq + p_.out_w;
          for (int64_t g = 0; g < p_.group; ++g) {
            BlockSource source;
            source.b.data = planes + g * p_.in_channels_per_group() * layout_.channel_stride();
            source.b.offsets = offsets_.data();
            source.wq = layout_.wq;
            ComputeBlock(source, g * mg, (g + 1) * mg, 0, positions, oy_begin * p_.out_w, w, bias,
                         out);
          }
        }
      }
    });
  }

  // Where one group's B columns come from.
  struct BlockSource {
    GemmB b;                      // B at column first_column
    int64_t first_column = 0;     // a panel's first column; 0 elsewhere
    int64_t wq = 0;               // columns per output row: out_w, or the planes' width
    const float* dots = nullptr;  // dot columns [dot_columns_][K], after tile_columns_
  };

  // Output channels [m_begin, m_end) (of one group) at columns [q_begin,
  // q_end) of `source`, whose column 0 is output pixel pixel_base, then the
  // dot columns if source.dots is set. Applies the bias, the residual and the
  // activation.
  void ComputeBlock(const BlockSource& source, int64_t m_begin, int64_t m_end, int64_t q_begin,
                    int64_t q_end, int64_t pixel_base, const float* w, const float* bias,
                    const Output& out) const {
    const int64_t kg = p_.reduction_size();
    const int64_t hw = p_.out_h * p_.out_w;
    const int64_t wq = source.wq;
    const bool compact = wq == p_.out_w;
    GemmB b = source.b;
    float* base = out.data + pixel_base;
    alignas(64) float tile[kGemmMr * kGemmNr];
    const GemmInit init = bias != nullptr ? GemmInit::kRowBias : GemmInit::kZero;
    // Tiles are written straight to the output when its rows are the
    // columns' (compact), or when the output rows are at least a tile wide,
    // so that a tile crosses one row's end at most and stores its columns on
    // either side of the gap (GemmEpilogue); with a residual, which those
    // tiles do not read, they go through `tile` and are copied. (The stem of
    // squeezenet1_1, 3x3 stride 2 with K = 27, spent a third of its time
    // copying tiles and applying its Relu over the cold output afterwards.)
    // Tiles written straight apply the residual and a Relu or Clip in
    // registers; the rest (other activations, tiles copied out, dot columns)
    // are applied over the block below.
    const bool direct = compact || (p_.out_w >= kGemmNr && out.residual == nullptr);
    const bool fused = direct && fusable_epilogue_;
    GemmEpilogue epilogue = fused ? tile_epilogue_ : GemmEpilogue{};
    // One tile: output channels [m, m + 8) at columns [q, q + 48).
    auto compute_tile = [&](int64_t m, int64_t q) {
      const int64_t rows = std::min(kGemmMr, m_end - m);
      const int64_t cols = std::min(kGemmNr, q_end - q);
      const float* a = w + m * kg;
      const float* row_bias = bias != nullptr ? bias + m : nullptr;
      // The first tile of a row of tiles fetches the next row's weights.
      const float* next_a = q == q_begin && m + kGemmMr < m_end ? a + kGemmMr * kg : nullptr;
      b.data = source.b.data + (q - source.first_column);
      if (direct) {
        // Where column q goes: output pixel (q / wq, q % wq), the columns
        // past that row's end to the next row (GemmEpilogue).
        const int64_t x = q % wq;
        const int64_t pixel = q / wq * p_.out_w + x;
        if (!compact) {
          epilogue.row_end = p_.out_w - x;
          epilogue.next_row = wq - x;
          epilogue.row_gap = wq - p_.out_w;
        }
        // The output rows of the tile below, owned for writing ahead of
        // time: a frame's output is cold, and eight rows of a tile are eight
        // pages whose stores would each wait for their line.
        if (m + kGemmMr < m_end) {
          const int64_t next_rows = std::min(kGemmMr, m_end - m - kGemmMr);
          const int64_t pixels = std::min(cols, p_.out_h * p_.out_w - pixel_base - pixel);
          for (int64_t i = 0; i < next_rows; ++i) {
            const float* row = base + (m + kGemmMr + i) * hw + pixel;
            PrefetchLines<PrefetchFor::kWrite>(row, pixels * static_cast<int64_t>(sizeof(float)));
          }
        }
        if (out.residual != nullptr) epilogue.residual = out.residual + pixel_base + m * hw + q;
        GemmTile(rows, cols, kg, a, kg, b, base + m * hw + pixel, hw, init, row_bias, next_a,
                 fused || !compact ? &epilogue : nullptr);
        return;
      }
      GemmTile(rows, cols, kg, a, kg, b, tile, kGemmNr, init, row_bias, next_a);
      // Copy the positions that are real output pixels, row by row.
      for (int64_t s = q; s < q + cols;) {
        const int64_t ox = s % wq;
        const int64_t run = std::min(wq - ox, q + cols - s);
        const int64_t valid = std::min(run, p_.out_w - ox);
        if (valid > 0) {
          const int64_t dst = (s / wq) * p_.out_w + ox;
          for (int64_t i = 0; i < rows; ++i) {
            CopyFloats(tile + i * kGemmNr + (s - q), valid, base + (m + i) * hw + dst);
          }
        }
        s += run;
      }
    };
    // The dot columns of a row of tiles right after its tiles, while its
    // rows of the weight are in cache: after the whole block they came from
    // L3 or memory again (one dot column over a 512 x 2048 weight: 168 us
    // cold, 70 warm; resnet50's 3x3 512 at 7x7 became 0.82x at 1 thread).
    for (int64_t m = m_begin; m < m_end; m += kGemmMr) {
      for (int64_t q = q_begin; q < q_end; q += kGemmNr) compute_tile(m, q);
      if (source.dots != nullptr) {
        GemmDot(std::min(kGemmMr, m_end - m), dot_columns_, kg, w + m * kg, kg, source.dots, kg,
                base + m * hw + q_end, hw, bias != nullptr ? bias + m : nullptr);
      }
    }
    if (!p_.activation.is_none() || out.residual != nullptr) {
      const int64_t c_begin = CompactIndex(p_, wq, fused ? q_end : q_begin);
      const int64_t c_end =
          CompactIndex(p_, wq, q_end) + (source.dots != nullptr ? dot_columns_ : 0);
      // Nothing left when the tiles applied it all (no dot columns).
      for (int64_t m = m_begin; m < m_end && c_begin < c_end; ++m) {
        Epilogue(out, pixel_base + m * hw + c_begin, c_end - c_begin);
      }
    }
  }

  // Channels split into chunks; on the padded path, chunk c pads its input
  // channels into scratch slice c, whose borders it zeroes once.
  void RunDepthwise(const KernelIO& io, const float* image, const float* w, const float* bias,
                    const Output& out) const {
    const int64_t in_plane = p_.in_h * p_.in_w;
    const int64_t out_plane = p_.out_h * p_.out_w;
    const int64_t taps = p_.kernel_h * p_.kernel_w;
    const int64_t multiplier = p_.out_channels / p_.in_channels;
    io.pool->ParallelFor(depthwise_chunks_, 1, [&](int64_t chunk_begin, int64_t chunk_end) {
      for (int64_t chunk = chunk_begin; chunk < chunk_end; ++chunk) {
        int64_t begin, end;
        ThreadPool::ChunkRange(p_.out_channels, depthwise_chunks_, chunk, &begin, &end);
        float* padded = static_cast<float*>(io.scratch) + chunk * PaddedFloats();
        if (padded_path_) std::memset(padded, 0, PaddedFloats() * sizeof(float));
        int64_t filled = -1;
        for (int64_t m = begin; m < end; ++m) {
          const int64_t c = m / multiplier;
          const float* in = image + c * in_plane;
          const float b = bias != nullptr ? bias[m] : 0.f;
          const float* wm = w + m * taps;
          float* om = out.data + m * out_plane;
          if (padded_path_) {
            // The rows in kPrefetchSlices slices, each followed by a slice
            // of the next channel's input and output lines (see there). A
            // slice first copies the input rows it reads that are not in
            // the buffer yet, which its taps then find in L1.
            const bool fill = c != filled;
            filled = c;
            int64_t filled_rows = 0;  // input rows copied so far
            const bool next = m + 1 < end;
            const bool next_input = next && (m + 1) / multiplier != c;
            for (int64_t slice = 0; slice < kPrefetchSlices; ++slice) {
              const int64_t oy0 = PrefetchSliceRow(slice), oy1 = PrefetchSliceRow(slice + 1);
              if (oy0 >= oy1) continue;
              const int64_t rows_end =
                  (oy1 - 1) * p_.stride_h + (p_.kernel_h - 1) * p_.dilation_h + 1 - p_.pad_top;
              if (fill && rows_end > filled_rows) {
#if defined(__AVX512F__)
                FillPadded(p_, in, filled_rows, rows_end, padded_w_, padded);
#endif
                filled_rows = rows_end;
              }
              RunPadded(padded, wm, b, oy0, oy1, om);
              if (next_input) PrefetchSlice<PrefetchFor::kRead>(in + in_plane, in_plane, slice);
              if (next) PrefetchSlice<PrefetchFor::kWrite>(om + out_plane, out_plane, slice);
            }
          } else if (p_.stride_w == 1) {
            DepthwiseChannel<1>(p_, depthwise_plan_, in, wm, b, om);
          } else if (p_.stride_w == 2) {
            DepthwiseChannel<2>(p_, depthwise_plan_, in, wm, b, om);
          } else {
            DepthwiseChannel<0>(p_, depthwise_plan_, in, wm, b, om);
          }
          Epilogue(out, m * out_plane, out_plane);
        }
      }
    });
  }

  // Row `slice` of kPrefetchSlices starts at, aligned for PaddedChannel.
  int64_t PrefetchSliceRow(int64_t slice) const {
    if (slice >= kPrefetchSlices) return p_.out_h;
    const int64_t align = PaddedRowAlignment(p_);
    return std::min(p_.out_h, p_.out_h * slice / kPrefetchSlices / align * align);
  }

  void RunPadded(const float* padded, const float* w, float bias, int64_t oy_begin, int64_t oy_end,
                 float* out) const {
#if defined(__AVX512F__)
    const bool s1 = p_.stride_w == 1;
    if (p_.kernel_w == 3) {
      s1 ? PaddedChannel<1, 3>(p_, padded, padded_w_, w, bias, oy_begin, oy_end, out)
         : PaddedChannel<2, 3>(p_, padded, padded_w_, w, bias, oy_begin, oy_end, out);
    } else {
      s1 ? PaddedChannel<1, 5>(p_, padded, padded_w_, w, bias, oy_begin, oy_end, out)
         : PaddedChannel<2, 5>(p_, padded, padded_w_, w, bias, oy_begin, oy_end, out);
    }
#endif
  }

  ConvParams p_;
  std::unique_ptr<Kernel> reference_;  // set for 3-D convolutions, which it runs
  bool depthwise_ = false;
  bool depthwise_lanes_mode_ = false;
  DepthwiseChannelLanes depthwise_lanes_;
  DepthwisePlan depthwise_plan_;
  int64_t depthwise_chunks_ = 0;
  bool padded_path_ = false;  // kernel width 3 or 5, stride 1 or 2
  int64_t padded_w_ = 0;
  int64_t padded_h_ = 0;
  // Output channels in the vector lanes (conv_channel_lanes.h).
  bool lanes_mode_ = false;
  ChannelLanesConv lanes_;
  std::unique_ptr<WinogradConv> winograd_;
  // GEMM: the planes' layout (in band mode, one band's) and the offset of
  // each row of B (tap) in a group's planes.
  PhasePlanes layout_;
  std::vector<int32_t> offsets_;
  // Whole-image mode. GEMM columns are plane positions, or output pixels when
  // the planes are as wide as the output or the pixels are packed.
  int64_t positions_ = 0;  // plane positions up to the last output pixel
  bool packed_ = false;
  std::vector<uint16_t> pixel_masks_;  // packed: which positions are pixels
  int64_t columns_ = 0;
  int64_t tile_columns_ = 0;  // the columns computed by tiles
  int64_t dot_columns_ = 0;   // the rest, by dot products
  int64_t packed_stride_ = 0;
  int64_t position_blocks_ = 0;
  int64_t block_columns_ = 0;  // columns per position block, a multiple of 16
  int64_t m_blocks_ = 1;
  int64_t m_block_tiles_ = 1;
  bool fusable_epilogue_ = false;  // the activation is none, a Relu or a Clip
  GemmEpilogue tile_epilogue_;     // its clamp, for tiles that apply it
  bool panel_mode_ = false;        // each unit copies its B columns into a panel
  int64_t panel_threads_ = 0;
  // Band mode.
  bool band_mode_ = false;
  int64_t bands_ = 0;
  int64_t band_chunks_ = 0;
};

}  // namespace

void RegisterOptimizedConvOps(OpRegistry* registry) {
  RegisterKernel<ConvOptimized>(registry, "Conv", KernelFlavor::kOptimized);
}

}  // namespace serdab::engine
