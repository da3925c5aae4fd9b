#include "enclave/engine/optimized/conv_channel_lanes.h"

#include <algorithm>
#include <cstring>

#if defined(__AVX512F__)
#include <immintrin.h>
#endif

#include "enclave/engine/activation.h"
#include "enclave/engine/optimized/lane_mask.h"
#include "enclave/engine/optimized/transpose16.h"

namespace serdab::engine {
namespace {

// Output channels per tile and per unit: four vectors.
constexpr int64_t kLanes = 64;
// Output positions per tile: 4 x 6 accumulators, 4 weight vectors and the
// broadcast take 29 of the 32 vector registers.
constexpr int kTilePositions = 6;
// Reduction steps (channel, tap) per block: the block's packed weights take
// 128 x 64 floats = 32 KiB, within L1 beside the rows they multiply.
constexpr int64_t kStepsPerBlock = 128;
// Output positions per unit at most: its sums take 1024 x 64 floats = 256
// KiB, in L2.
constexpr int64_t kMaxChunkPositions = 1024;
// Where this schedule pays, measured against the GEMM schedule on the same
// layers (kernels_bench, alternated): 3x3 convolutions on maps of 13x13 and
// more with 64 output channels or more (0.68-0.96x; squeezenet1_1's and
// alexnet's 3x3 layers at 13x13 0.76-0.86x alone on a Zen 5 host, and the
// whole of squeezenet1_1 0.94x), and inception_v3's 1x7 and 7x1 on 17x17
// maps (1.0x at 1 thread, 0.8-0.9x at 2). Left to the
// GEMM: 7x7 maps, where the packing is spread over too few positions
// (1.1-1.3x); 32 output channels, two vectors a step (1.1-1.3x); 1x1
// convolutions, even reading the input in place (0.95-1.4x, 1.9-2.4x at
// stride 2); and reductions shorter than one block, as VGG's first layer's
// K = 27 (2-3x).
constexpr int64_t kMinTaps = 7;
constexpr int64_t kMinReduction = kStepsPerBlock;
constexpr int64_t kMinPositions = 13 * 13;
constexpr int64_t kMinOutputChannels = 64;

int64_t RoundUp(int64_t n, int64_t multiple) { return (n + multiple - 1) / multiple * multiple; }

}  // namespace

struct ChannelLanesConv::Unit {
  int64_t m_begin;  // first output channel
  int64_t q_begin;  // output positions [q_begin, q_end), row-major
  int64_t q_end;
  int64_t row_begin;  // padded input rows [row_begin, row_begin + rows) are read
  int64_t rows;
};

#if defined(__AVX512F__)

namespace {

// Prefetches `count` regions of `bytes` bytes each, `stride` bytes apart,
// into L2, a share of their lines per call to Next(): a loop that calls it
// `calls` times spreads the requests over its iterations instead of queueing
// them all at once.
class StridedPrefetch {
 public:
  StridedPrefetch(const void* first, int64_t stride, int64_t bytes, int64_t count, int64_t calls)
      : region_(static_cast<const char*>(first)), stride_(stride), bytes_(bytes) {
    regions_left_ = bytes > 0 ? count : 0;
    // Regions need not start on a line: each may cover one line more.
    per_call_ = (regions_left_ * ((bytes + 63) / 64 + 1) + calls - 1) / std::max<int64_t>(calls, 1);
    StartRegion();
  }

  void Next() {
    for (int64_t i = 0; i < per_call_ && regions_left_ > 0; ++i) {
      _mm_prefetch(line_, _MM_HINT_T1);
      line_ += 64;
      // Past the last region nothing is formed: it may lie past the array.
      if (line_ >= region_ + bytes_ && --regions_left_ > 0) {
        region_ += stride_;
        StartRegion();
      }
    }
  }

 private:
  void StartRegion() { line_ = region_ - (reinterpret_cast<uintptr_t>(region_) & 63); }

  const char* region_;
  const char* line_ = nullptr;
  int64_t stride_;
  int64_t bytes_;
  int64_t regions_left_ = 0;
  int64_t per_call_ = 0;
};

// NV vectors of output channels by P positions. sums[p * 64 + 16 v] holds
// position p's sums, which start from `init` (the bias, or zero) when
// `first`. Position p reads input channel c, tap t at
// base[p] + c * channel_stride + tap_offsets[t]; the weights of step
// (c, t) are the 64 floats at w + (c * taps + t) * 64.
template <int NV, int P>
void LanesTile(int64_t channels, int64_t taps, const int32_t* tap_offsets, int64_t channel_stride,
               const float* const* base, const float* w, float* sums, bool first,
               const __m512* init) {
  __m512 acc[NV][P];
#pragma GCC unroll 6
  for (int p = 0; p < P; ++p) {
#pragma GCC unroll 4
    for (int v = 0; v < NV; ++v) {
      acc[v][p] = first ? init[v] : _mm512_load_ps(sums + p * kLanes + 16 * v);
    }
  }
  const float* b[P];
#pragma GCC unroll 6
  for (int p = 0; p < P; ++p) b[p] = base[p];
  for (int64_t c = 0; c < channels; ++c) {
    for (int64_t t = 0; t < taps; ++t) {
      const int64_t off = tap_offsets[t];
      __m512 wv[NV];
#pragma GCC unroll 4
      for (int v = 0; v < NV; ++v) wv[v] = _mm512_load_ps(w + 16 * v);
      w += kLanes;
#pragma GCC unroll 6
      for (int p = 0; p < P; ++p) {
        const __m512 x = _mm512_set1_ps(b[p][off]);
#pragma GCC unroll 4
        for (int v = 0; v < NV; ++v) acc[v][p] = _mm512_fmadd_ps(wv[v], x, acc[v][p]);
      }
    }
#pragma GCC unroll 6
    for (int p = 0; p < P; ++p) b[p] += channel_stride;
  }
#pragma GCC unroll 6
  for (int p = 0; p < P; ++p) {
#pragma GCC unroll 4
    for (int v = 0; v < NV; ++v) _mm512_store_ps(sums + p * kLanes + 16 * v, acc[v][p]);
  }
}

using LanesTileFn = void (*)(int64_t, int64_t, const int32_t*, int64_t, const float* const*,
                             const float*, float*, bool, const __m512*);

template <int NV>
constexpr LanesTileFn kLanesRow[kTilePositions] = {LanesTile<NV, 1>, LanesTile<NV, 2>,
                                                   LanesTile<NV, 3>, LanesTile<NV, 4>,
                                                   LanesTile<NV, 5>, LanesTile<NV, 6>};

constexpr const LanesTileFn* kLanesTable[4] = {kLanesRow<1>, kLanesRow<2>, kLanesRow<3>,
                                               kLanesRow<4>};

}  // namespace

bool ChannelLanesConv::Applies(const ConvParams& p, int64_t layer_channels) {
  return p.spatial_rank == 2 && p.group == 1 && p.kernel_h * p.kernel_w >= kMinTaps &&
         p.out_h * p.out_w >= kMinPositions && p.reduction_size() >= kMinReduction &&
         std::max(layer_channels, p.out_channels) >= kMinOutputChannels;
}

void ChannelLanesConv::Setup(const ConvParams& p, int threads) {
  p_ = p;
  taps_ = p.kernel_h * p.kernel_w;
  padded_w_ = std::max(p.in_w + p.pad_left + p.pad_right,
                       (p.out_w - 1) * p.stride_w + (p.kernel_w - 1) * p.dilation_w + 1);
  channels_per_step_ = std::clamp<int64_t>(kStepsPerBlock / taps_, 1, p.in_channels);
  tap_offsets_.clear();
  for (int64_t ky = 0; ky < p.kernel_h; ++ky) {
    for (int64_t kx = 0; kx < p.kernel_w; ++kx) {
      tap_offsets_.push_back(
          static_cast<int32_t>(ky * p.dilation_h * padded_w_ + kx * p.dilation_w));
    }
  }
  // Blocks of equal size in whole vectors, so that units cost the same: 96
  // channels are two blocks of 48, not 64 and 32 (which left one thread
  // twice the other's work on inception_v3's 96-channel 3x3 layers).
  channel_blocks_ = (p.out_channels + kLanes - 1) / kLanes;
  block_channels_ = RoundUp((p.out_channels + channel_blocks_ - 1) / channel_blocks_, 16);
  channel_blocks_ = (p.out_channels + block_channels_ - 1) / block_channels_;
  // Enough units for two per thread, in chunks of whole transposes
  // (multiples of 16 positions) and as equal as that allows: 56x56 in
  // multiples of 48 was 816, 816, 816 and 688 positions, and at 2 threads
  // one thread had 8% more work than the other.
  const int64_t positions = p.out_h * p.out_w;
  int64_t chunks = std::max((positions + kMaxChunkPositions - 1) / kMaxChunkPositions,
                            (2 * threads + channel_blocks_ - 1) / channel_blocks_);
  chunk_positions_ = RoundUp((positions + chunks - 1) / chunks, 16);
  position_chunks_ = (positions + chunk_positions_ - 1) / chunk_positions_;
  units_ = channel_blocks_ * position_chunks_;
  chunk_rows_ = 0;
  for (int64_t pc = 0; pc < position_chunks_; ++pc) {
    chunk_rows_ = std::max(chunk_rows_, UnitAt(pc * channel_blocks_).rows);
  }
  threads_ = std::max(1, threads);
}

ChannelLanesConv::Unit ChannelLanesConv::UnitAt(int64_t u) const {
  Unit unit;
  unit.m_begin = u % channel_blocks_ * block_channels_;
  unit.q_begin = u / channel_blocks_ * chunk_positions_;
  unit.q_end = std::min(p_.out_h * p_.out_w, unit.q_begin + chunk_positions_);
  const int64_t first_row = unit.q_begin / p_.out_w;
  const int64_t last_row = (unit.q_end - 1) / p_.out_w;
  unit.row_begin = first_row * p_.stride_h;
  unit.rows = (last_row - first_row) * p_.stride_h + (p_.kernel_h - 1) * p_.dilation_h + 1;
  return unit;
}

int64_t ChannelLanesConv::RowFloats() const {
  return RoundUp(channels_per_step_ * chunk_rows_ * padded_w_ + 16, 16);
}

size_t ChannelLanesConv::ScratchBytes() const {
  const int64_t sums = chunk_positions_ * kLanes;
  const int64_t weights = channels_per_step_ * taps_ * kLanes;
  const int64_t stage = 16 * chunk_positions_;
  return threads_ * (sums + weights + RowFloats() + stage) * sizeof(float);
}

void ChannelLanesConv::Run(ThreadPool* pool, void* scratch, const float* image, const float* w,
                           const float* bias, float* out, const float* residual) const {
  const int64_t slice = ScratchBytes() / sizeof(float) / threads_;
  auto run_units = [&](int64_t u_begin, int64_t u_end, float* unit_scratch) {
    for (int64_t u = u_begin; u < u_end; ++u) {
      RunUnit(UnitAt(u), unit_scratch, image, w, bias, out, residual);
    }
  };
  if (pool->num_threads() > threads_) {
    // A pool larger than Setup planned scratch for (no Model makes one).
    run_units(0, units_, static_cast<float*>(scratch));
    return;
  }
  // Units move between threads (a vCPU the host slows hands its last ones
  // to the other), so scratch is per thread, not per chunk of units.
  pool->ParallelFor(units_, 1, [&](int64_t u_begin, int64_t u_end) {
    run_units(u_begin, u_end, static_cast<float*>(scratch) + ThreadPool::CurrentThread() * slice);
  });
}

void ChannelLanesConv::RunUnit(const Unit& unit, float* scratch, const float* image, const float* w,
                               const float* bias, float* out, const float* residual) const {
  float* sums = scratch;
  float* packed = sums + chunk_positions_ * kLanes;
  float* rows = packed + channels_per_step_ * taps_ * kLanes;
  const int64_t channel_stride = chunk_rows_ * padded_w_;
  const int64_t m_count = std::min(block_channels_, p_.out_channels - unit.m_begin);
  const int64_t nv = (m_count + 15) / 16;
  const LanesTileFn* tiles = kLanesTable[nv - 1];
  __m512 init[4];
  for (int64_t v = 0; v < 4; ++v) {
    const __mmask16 m = FirstLanes(std::max<int64_t>(0, m_count - 16 * v));
    init[v] = bias != nullptr ? _mm512_maskz_loadu_ps(m, bias + unit.m_begin + 16 * v)
                              : _mm512_setzero_ps();
  }
  const int64_t k = p_.in_channels * taps_;
  const int64_t tiles_per_block = (unit.q_end - unit.q_begin + kTilePositions - 1) / kTilePositions;
  for (int64_t c = 0; c < p_.in_channels; c += channels_per_step_) {
    const int64_t channels = std::min(channels_per_step_, p_.in_channels - c);
    PackWeights(w, unit.m_begin, c, channels, packed);
    CopyInputRows(image, c, channels, unit.row_begin, unit.rows, rows);
    // The next block's weights and input rows, into L2 while this block
    // computes: the packing and the copy read them first, and from L3 or
    // memory they waited on each row (vgg16's 3x3 512 at 14x14: 13% of the
    // layer's time in packing; six chained 3x3 128 at 56x56, whose input the
    // layer before wrote: 0.90-0.95 of the time at 2 threads with the rows
    // prefetched).
    const int64_t next = c + channels_per_step_;
    const int64_t next_channels = std::clamp<int64_t>(p_.in_channels - next, 0, channels_per_step_);
    // In the last block there is no next channel: no address past the
    // weights or the image is formed.
    const int64_t next_step = std::min(next, p_.in_channels) * taps_;
    StridedPrefetch next_weights(w + unit.m_begin * k + next_step, k * sizeof(float),
                                 next_channels * taps_ * sizeof(float), m_count, tiles_per_block);
    const int64_t first_row = std::clamp<int64_t>(unit.row_begin - p_.pad_top, 0, p_.in_h);
    const int64_t end_row =
        std::clamp<int64_t>(unit.row_begin + unit.rows - p_.pad_top, 0, p_.in_h);
    const float* next_image = next_channels > 0 ? image + next * p_.in_h * p_.in_w : image;
    StridedPrefetch next_rows(next_image + first_row * p_.in_w, p_.in_h * p_.in_w * sizeof(float),
                              (end_row - first_row) * p_.in_w * sizeof(float), next_channels,
                              tiles_per_block);
    int64_t oy = unit.q_begin / p_.out_w, ox = unit.q_begin % p_.out_w;
    for (int64_t q = unit.q_begin; q < unit.q_end; q += kTilePositions) {
      next_weights.Next();
      next_rows.Next();
      const int64_t n = std::min<int64_t>(kTilePositions, unit.q_end - q);
      const float* base[kTilePositions];
      for (int64_t i = 0; i < n; ++i) {
        base[i] = rows + (oy * p_.stride_h - unit.row_begin) * padded_w_ + ox * p_.stride_w;
        if (++ox == p_.out_w) {
          ox = 0;
          ++oy;
        }
      }
      tiles[n - 1](channels, taps_, tap_offsets_.data(), channel_stride, base, packed,
                   sums + (q - unit.q_begin) * kLanes, c == 0, init);
    }
  }
  // [position][channel] to the output's rows, 16 channels at a time: their
  // rows transposed 16 x 16 into `stage`, then each written to the output
  // in one contiguous run, with the residual and the activation. (Written
  // 16 floats at a time to 16 rows of a cold output, the stores took 13% of
  // inception_v3's 3x3 80->192 at 71x71.)
  const int64_t hw = p_.out_h * p_.out_w;
  const int64_t positions = unit.q_end - unit.q_begin;
  float* stage = rows + RowFloats();
  for (int64_t v = 0; v < nv; ++v) {
    for (int64_t q = 0; q < positions; q += 16) {
      const int64_t n = std::min<int64_t>(16, positions - q);
      __m512 r[16];
      for (int64_t i = 0; i < 16; ++i) {
        r[i] = i < n ? _mm512_load_ps(sums + (q + i) * kLanes + 16 * v) : _mm512_setzero_ps();
      }
      Transpose16(r);
      for (int64_t j = 0; j < 16; ++j) _mm512_store_ps(stage + j * chunk_positions_ + q, r[j]);
    }
    const int64_t channels = std::min<int64_t>(16, m_count - 16 * v);
    for (int64_t j = 0; j < channels; ++j) {
      const int64_t m = unit.m_begin + 16 * v + j;
      float* row = stage + j * chunk_positions_;
      float* y = out + m * hw + unit.q_begin;
      if (residual != nullptr) {
        ApplyActivationToSum(p_.activation, residual + m * hw + unit.q_begin, row, positions);
        std::memcpy(y, row, positions * sizeof(float));
      } else if (p_.activation.is_clamp()) {
        ApplyActivation(p_.activation, row, y, positions);
      } else {
        // Vector code rounds a sigmoid or tanh differently from the scalar
        // code that takes what is left before an aligned destination and
        // after the last whole vector. In `stage`, aligned where the unit's
        // positions start (a multiple of 16), each output is rounded the same
        // way however the positions are cut into units, that is for every
        // thread count.
        ApplyActivation(p_.activation, row, row, positions);
        std::memcpy(y, row, positions * sizeof(float));
      }
    }
  }
}

// packed[(ci * taps + t) * 64 + l] = weight of output channel m_begin + l,
// input channel c_begin + ci, tap t, for the block's vectors of channels
// (zero past the last output channel): its rows of the ONNX weight,
// transposed 16 x 16.
void ChannelLanesConv::PackWeights(const float* w, int64_t m_begin, int64_t c_begin,
                                   int64_t channels, float* packed) const {
  const int64_t k = p_.in_channels * taps_;
  const int64_t steps = channels * taps_;
  const int64_t m_count = std::min(block_channels_, p_.out_channels - m_begin);
  for (int64_t v = 0; v < (m_count + 15) / 16; ++v) {
    for (int64_t s = 0; s < steps; s += 16) {
      const __mmask16 mask = FirstLanes(steps - s);
      __m512 r[16];
      for (int64_t i = 0; i < 16; ++i) {
        const int64_t m = 16 * v + i;
        r[i] = m < m_count
                   ? _mm512_maskz_loadu_ps(mask, w + (m_begin + m) * k + c_begin * taps_ + s)
                   : _mm512_setzero_ps();
      }
      Transpose16(r);
      const int64_t n = std::min<int64_t>(16, steps - s);
      for (int64_t j = 0; j < n; ++j) _mm512_store_ps(packed + (s + j) * kLanes + 16 * v, r[j]);
    }
  }
}

// rows[(ci * chunk_rows_ + r) * padded_w_ + x] = padded input channel
// c_begin + ci at row row_begin + r, column x, for r < row_count.
void ChannelLanesConv::CopyInputRows(const float* image, int64_t c_begin, int64_t channels,
                                     int64_t row_begin, int64_t row_count, float* rows) const {
  for (int64_t ci = 0; ci < channels; ++ci) {
    const float* channel = image + (c_begin + ci) * p_.in_h * p_.in_w;
    for (int64_t r = 0; r < row_count; ++r) {
      float* dst = rows + (ci * chunk_rows_ + r) * padded_w_;
      const int64_t iy = row_begin + r - p_.pad_top;
      // Rows are a few dozen floats: inline vector stores, not libc calls
      // (which took 5% of a 14x14 layer).
      for (int64_t x = 0; x < padded_w_; x += 16) {
        _mm512_mask_storeu_ps(dst + x, FirstLanes(padded_w_ - x), _mm512_setzero_ps());
      }
      if (iy < 0 || iy >= p_.in_h) continue;
      const float* src = channel + iy * p_.in_w;
      for (int64_t x = 0; x < p_.in_w; x += 16) {
        const __mmask16 m = FirstLanes(p_.in_w - x);
        _mm512_mask_storeu_ps(dst + p_.pad_left + x, m, _mm512_maskz_loadu_ps(m, src + x));
      }
    }
  }
}

#else  // no AVX-512: the GEMM schedule takes every convolution

bool ChannelLanesConv::Applies(const ConvParams&, int64_t) { return false; }
void ChannelLanesConv::Setup(const ConvParams& p, int) { p_ = p; }
int64_t ChannelLanesConv::RowFloats() const {
  return RoundUp(channels_per_step_ * chunk_rows_ * padded_w_ + 16, 16);
}

size_t ChannelLanesConv::ScratchBytes() const { return 0; }
void ChannelLanesConv::Run(ThreadPool*, void*, const float*, const float*, const float*, float*,
                           const float*) const {}

#endif  // __AVX512F__

}  // namespace serdab::engine
