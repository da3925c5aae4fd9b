#include "enclave/engine/optimized/depthwise_channel_lanes.h"

#include <algorithm>
#include <limits>
#include <utility>

#if defined(__AVX512F__)
#include <immintrin.h>
#endif

#include "enclave/engine/activation.h"
#include "enclave/engine/optimized/lane_mask.h"
#include "enclave/engine/optimized/prefetch.h"
#include "enclave/engine/optimized/transpose16.h"

namespace serdab::engine {

#if defined(__AVX512F__)

namespace {

// Channels per unit: one vector.
constexpr int64_t kLanes = 16;
// A band's padded input rows take at most this much (unless one output row
// alone needs more), so that they stay in L2 while its taps read them.
constexpr int64_t kBandBytes = 64 * 1024;
// Where this schedule pays, measured against conv.cc's depthwise kernel on
// mobilenet_v2's and mnasnet1_0's layers alone at 2 threads: on inputs up
// to 28 wide, 0.45-0.8x at 7x7, 0.6-0.9x at 14x14, 0.6-0.75x at 28x28; on
// 56 wide and more, 1.0-1.5x (the two transposes cost what the 3x3 taps
// do, and wide rows already fill the row kernel's lanes).
constexpr int64_t kMaxInputWidth = 28;
// Output pixels per run of accumulators, at most.
constexpr int kMaxRun = 8;

int64_t RoundUp(int64_t n, int64_t multiple) { return (n + multiple - 1) / multiple * multiple; }

// NX output pixels of one row, 16 channels each: sums[j * 16 + l] =
// bias[l] + sum over (ky, kx) of w[(ky * kw + kx) * 16 + l] * in[ky *
// row_step + kx * tap_step + j * pixel_step + l], in that order. KW and SW,
// when not 0, fix the kernel width and the stride (with no dilation), so
// that every load is at a constant offset from one pointer per kernel row
// (at run-time steps GCC keeps a pointer per pixel and spills them).
template <int KW, int SW, int NX>
inline void PixelRun(const float* in, int64_t row_step, int64_t kh, int64_t kw, int64_t tap_step,
                     int64_t pixel_step, const float* w, __m512 bias, float* sums) {
  const int64_t width = KW > 0 ? KW : kw;
  const int64_t tap = KW > 0 ? kLanes : tap_step;
  const int64_t pixel = KW > 0 ? SW * kLanes : pixel_step;
  __m512 acc[NX];
#pragma GCC unroll 8
  for (int j = 0; j < NX; ++j) acc[j] = bias;
  for (int64_t ky = 0; ky < kh; ++ky) {
    const float* row = in + ky * row_step;
    const float* wr = w + ky * width * kLanes;
#pragma GCC unroll 5
    for (int64_t kx = 0; kx < width; ++kx) {
      const __m512 wv = _mm512_loadu_ps(wr + kx * kLanes);
#pragma GCC unroll 8
      for (int j = 0; j < NX; ++j) {
        acc[j] = _mm512_fmadd_ps(wv, _mm512_loadu_ps(row + kx * tap + j * pixel), acc[j]);
      }
    }
  }
#pragma GCC unroll 8
  for (int j = 0; j < NX; ++j) _mm512_storeu_ps(sums + j * kLanes, acc[j]);
}

using PixelRunFn = void (*)(const float*, int64_t, int64_t, int64_t, int64_t, int64_t, const float*,
                            __m512, float*);

// PixelRun<KW, SW, nx> for nx = 1 .. kMaxRun, so that a run's width, known
// only at run time, still picks a loop whose accumulators are registers.
template <int KW, int SW, size_t... N>
void PixelRunOf(int nx, std::index_sequence<N...>, const float* in, int64_t row_step, int64_t kh,
                int64_t kw, int64_t tap_step, int64_t pixel_step, const float* w, __m512 bias,
                float* sums) {
  static constexpr PixelRunFn kRuns[] = {&PixelRun<KW, SW, static_cast<int>(N) + 1>...};
  kRuns[nx - 1](in, row_step, kh, kw, tap_step, pixel_step, w, bias, sums);
}

template <int KW, int SW>
void PixelRunOf(int nx, const float* in, int64_t row_step, int64_t kh, int64_t kw, int64_t tap_step,
                int64_t pixel_step, const float* w, __m512 bias, float* sums) {
  PixelRunOf<KW, SW>(nx, std::make_index_sequence<kMaxRun>(), in, row_step, kh, kw, tap_step,
                     pixel_step, w, bias, sums);
}

}  // namespace

bool DepthwiseChannelLanes::Applies(const ConvParams& p) {
  return p.spatial_rank != 3 && p.group == p.in_channels && p.out_channels == p.in_channels &&
         !p.has_input_affine && p.in_w <= kMaxInputWidth;
}

void DepthwiseChannelLanes::Setup(const ConvParams& p, int threads) {
  p_ = p;
  padded_w_ = std::max(p.pad_left + p.in_w + p.pad_right,
                       (p.out_w - 1) * p.stride_w + (p.kernel_w - 1) * p.dilation_w + 1);
  const int64_t row_bytes = padded_w_ * kLanes * static_cast<int64_t>(sizeof(float));
  const int64_t window = (p.kernel_h - 1) * p.dilation_h + 1;
  const int64_t fit_rows = kBandBytes / row_bytes;
  band_rows_ = fit_rows >= window ? (fit_rows - window) / p.stride_h + 1 : 1;
  band_rows_ = std::clamp<int64_t>(band_rows_, 1, p.out_h);
  // Bands of equal size: 56 rows in bands of at most 10 are six of 10 and
  // 9, not five of 10 and one of 6.
  bands_ = (p.out_h + band_rows_ - 1) / band_rows_;
  band_rows_ = (p.out_h + bands_ - 1) / bands_;
  bands_ = (p.out_h + band_rows_ - 1) / band_rows_;
  band_in_rows_ = (band_rows_ - 1) * p.stride_h + window;
  channel_blocks_ = (p.out_channels + kLanes - 1) / kLanes;
  units_ = channel_blocks_ * bands_;
  threads_ = std::max(1, threads);
}

int64_t DepthwiseChannelLanes::PaddedFloats() const { return band_in_rows_ * padded_w_ * kLanes; }

int64_t DepthwiseChannelLanes::SliceFloats() const {
  const int64_t sums = band_rows_ * p_.out_w * kLanes;
  const int64_t weights = p_.kernel_h * p_.kernel_w * kLanes;
  return RoundUp(PaddedFloats() + sums + weights, kLanes);
}

size_t DepthwiseChannelLanes::ScratchBytes() const {
  return threads_ * SliceFloats() * sizeof(float);
}

void DepthwiseChannelLanes::Run(ThreadPool* pool, void* scratch, const float* image, const float* w,
                                const float* bias, float* out, const float* residual) const {
  float* base = static_cast<float*>(scratch);
  if (pool->num_threads() > threads_) {
    // A pool larger than Setup planned scratch for (no Model makes one).
    for (int64_t u = 0; u < units_; ++u) RunUnit(u, base, image, w, bias, out, residual);
    return;
  }
  // Units move between threads, so scratch is per thread, not per unit.
  pool->ParallelFor(units_, 1, [&](int64_t u_begin, int64_t u_end) {
    float* slice = base + ThreadPool::CurrentThread() * SliceFloats();
    for (int64_t u = u_begin; u < u_end; ++u) RunUnit(u, slice, image, w, bias, out, residual);
  });
}

void DepthwiseChannelLanes::RunUnit(int64_t unit, float* scratch, const float* image,
                                    const float* w, const float* bias, float* out,
                                    const float* residual) const {
  // Locals, not members: the stores below could alias them, and the
  // compiler would reload every field in every loop.
  const int64_t in_h = p_.in_h, in_w = p_.in_w, out_h = p_.out_h, out_w = p_.out_w;
  const int64_t kh = p_.kernel_h, kw = p_.kernel_w, stride_h = p_.stride_h;
  const int64_t pad_top = p_.pad_top, pad_left = p_.pad_left, padded_w = padded_w_;
  const int64_t c0 = unit % channel_blocks_ * kLanes;
  const int64_t nc = std::min(kLanes, p_.out_channels - c0);
  const int64_t oy0 = unit / channel_blocks_ * band_rows_;
  const int64_t oy1 = std::min(out_h, oy0 + band_rows_);
  const int64_t py0 = oy0 * stride_h;  // the padded row the band's buffer starts at
  const int64_t rows_in = (oy1 - oy0 - 1) * stride_h + (kh - 1) * p_.dilation_h + 1;
  const int64_t taps = kh * kw;
  const int64_t in_plane = in_h * in_w;
  const int64_t out_plane = out_h * out_w;
  float* padded = scratch;
  float* sums = padded + PaddedFloats();
  float* wt = sums + band_rows_ * out_w * kLanes;
  // Channel c of the block at row c of a transpose; rows past the last
  // channel load nothing (a zero mask reads no memory) and are zero.
  const float* channel[kLanes];
  __mmask16 live[kLanes];
  for (int64_t c = 0; c < kLanes; ++c) {
    channel[c] = c < nc ? image + (c0 + c) * in_plane : image;
    live[c] = c < nc ? 0xFFFF : 0;
  }

  // The unit's output lines, asked for in a writable state now so that the
  // transposes at the end do not wait on them one store at a time: in a
  // frame at 2 threads they are usually in the other core's cache (the
  // buffer held another layer's tensor), and mnasnet1_0's 7x7 layers took
  // 38-50 us without this and 29-39 with it.
  const int64_t band_pixels = (oy1 - oy0) * out_w;
  for (int64_t c = 0; c < nc; ++c) {
    PrefetchLines<PrefetchFor::kWrite>(out + (c0 + c) * out_plane + oy0 * out_w,
                                       band_pixels * static_cast<int64_t>(sizeof(float)));
  }
  // The block's weights as [tap][16], zero past the last channel.
  for (int64_t t = 0; t < taps; t += kLanes) {
    const int64_t n = std::min(kLanes, taps - t);
    __m512 r[16];
    for (int64_t c = 0; c < kLanes; ++c) {
      r[c] = _mm512_maskz_loadu_ps(live[c] & FirstLanes(n), w + (c < nc ? (c0 + c) * taps + t : 0));
    }
    Transpose16(r);
    for (int64_t j = 0; j < n; ++j) _mm512_storeu_ps(wt + (t + j) * kLanes, r[j]);
  }

  // Zero padding: whole rows above and below the input, columns either side.
  const int64_t row_floats = padded_w * kLanes;
  const __m512 zero = _mm512_setzero_ps();
  for (int64_t r = 0; r < rows_in; ++r) {
    float* row = padded + r * row_floats;
    const int64_t iy = py0 + r - pad_top;
    if (iy < 0 || iy >= in_h) {
      for (int64_t x = 0; x < row_floats; x += kLanes) _mm512_storeu_ps(row + x, zero);
      continue;
    }
    for (int64_t x = 0; x < pad_left * kLanes; x += kLanes) _mm512_storeu_ps(row + x, zero);
    for (int64_t x = (pad_left + in_w) * kLanes; x < row_floats; x += kLanes) {
      _mm512_storeu_ps(row + x, zero);
    }
  }
  // The input rows the band reads, 16 pixels of 16 channels at a time.
  const int64_t iy_begin = std::max<int64_t>(0, py0 - pad_top);
  const int64_t iy_end = std::min(in_h, py0 + rows_in - pad_top);
  const int64_t q_end = iy_end * in_w;
  const int64_t row_gap = (padded_w - in_w) * kLanes;
  int64_t x = 0;
  float* dst = padded + ((iy_begin + pad_top - py0) * padded_w + pad_left) * kLanes;
  for (int64_t q = iy_begin * in_w; q < q_end; q += kLanes) {
    const int64_t n = std::min(kLanes, q_end - q);
    const __mmask16 mask = FirstLanes(n);
    __m512 r[16];
    for (int64_t c = 0; c < kLanes; ++c)
      r[c] = _mm512_maskz_loadu_ps(live[c] & mask, channel[c] + q);
    Transpose16(r);
    for (int64_t j = 0; j < n; ++j) {
      _mm512_storeu_ps(dst, r[j]);
      dst += kLanes;
      if (++x == in_w) {
        x = 0;
        dst += row_gap;
      }
    }
  }

  // The sums, pixel by pixel in runs of up to kMaxRun.
  const __m512 b = bias != nullptr ? _mm512_maskz_loadu_ps(FirstLanes(nc), bias + c0) : zero;
  const int64_t runs = (out_w + kMaxRun - 1) / kMaxRun;
  const int64_t run = (out_w + runs - 1) / runs;
  const int64_t row_step = p_.dilation_h * row_floats;
  const int64_t tap_step = p_.dilation_w * kLanes;
  const int64_t pixel_step = p_.stride_w * kLanes;
  const bool fixed = p_.dilation_w == 1 && p_.stride_w <= 2;
  for (int64_t oy = oy0; oy < oy1; ++oy) {
    const float* in_row = padded + (oy - oy0) * stride_h * row_floats;
    float* sum_row = sums + (oy - oy0) * out_w * kLanes;
    for (int64_t ox = 0; ox < out_w; ox += run) {
      const int nx = static_cast<int>(std::min(run, out_w - ox));
      const float* in = in_row + ox * pixel_step;
      float* s = sum_row + ox * kLanes;
      if (fixed && kw == 3) {
        p_.stride_w == 1
            ? PixelRunOf<3, 1>(nx, in, row_step, kh, kw, tap_step, pixel_step, wt, b, s)
            : PixelRunOf<3, 2>(nx, in, row_step, kh, kw, tap_step, pixel_step, wt, b, s);
      } else if (fixed && kw == 5) {
        p_.stride_w == 1
            ? PixelRunOf<5, 1>(nx, in, row_step, kh, kw, tap_step, pixel_step, wt, b, s)
            : PixelRunOf<5, 2>(nx, in, row_step, kh, kw, tap_step, pixel_step, wt, b, s);
      } else {
        PixelRunOf<0, 0>(nx, in, row_step, kh, kw, tap_step, pixel_step, wt, b, s);
      }
    }
  }

  // Back to the output's planes, 16 pixels of 16 channels at a time. A
  // Relu or Clip with no residual is applied to the sums on the way, as the
  // GEMM tiles apply it (the same bits as a pass over the planes, which
  // then is not made); anything else a plane at a time after.
  const Activation& act = p_.activation;
  const bool clamp = residual == nullptr &&
                     (act.kind == Activation::Kind::kRelu || act.kind == Activation::Kind::kClip);
  const __m512 lo = _mm512_set1_ps(act.kind == Activation::Kind::kClip ? act.alpha : 0.f);
  const __m512 hi = _mm512_set1_ps(
      act.kind == Activation::Kind::kClip ? act.beta : std::numeric_limits<float>::infinity());
  float* out_band = out + c0 * out_plane + oy0 * out_w;
  for (int64_t q = 0; q < band_pixels; q += kLanes) {
    const int64_t n = std::min(kLanes, band_pixels - q);
    __m512 r[16];
    for (int64_t j = 0; j < kLanes; ++j) {
      r[j] = _mm512_maskz_loadu_ps(j < n ? 0xFFFF : 0, sums + (q + (j < n ? j : 0)) * kLanes);
      if (clamp) r[j] = _mm512_min_ps(hi, _mm512_max_ps(lo, r[j]));
    }
    Transpose16(r);
    const __mmask16 mask = FirstLanes(n);
    for (int64_t c = 0; c < nc; ++c)
      _mm512_mask_storeu_ps(out_band + c * out_plane + q, mask, r[c]);
  }
  if (clamp || (residual == nullptr && act.is_none())) return;
  for (int64_t c = 0; c < nc; ++c) {
    float* plane = out_band + c * out_plane;
    if (residual != nullptr) {
      ApplyActivationToSum(act, residual + (plane - out), plane, band_pixels);
    } else {
      ApplyActivation(act, plane, band_pixels);
    }
  }
}

#else  // no AVX-512: conv.cc's depthwise kernel takes every layer

bool DepthwiseChannelLanes::Applies(const ConvParams&) { return false; }
void DepthwiseChannelLanes::Setup(const ConvParams& p, int) { p_ = p; }
int64_t DepthwiseChannelLanes::PaddedFloats() const { return 0; }
int64_t DepthwiseChannelLanes::SliceFloats() const { return 0; }
size_t DepthwiseChannelLanes::ScratchBytes() const { return 0; }
void DepthwiseChannelLanes::Run(ThreadPool*, void*, const float*, const float*, const float*,
                                float*, const float*) const {}
void DepthwiseChannelLanes::RunUnit(int64_t, float*, const float*, const float*, const float*,
                                    float*, const float*) const {}

#endif  // __AVX512F__

}  // namespace serdab::engine
