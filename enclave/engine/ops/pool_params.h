// Internals shared by the reference pooling kernels (ops/pooling_ops.cc) and
// the optimised ones (optimized/pooling.cc): attribute parsing, output sizes
// and pooling windows are computed once at Setup, in one place, and the sums
// that GlobalAveragePool and ReduceMean take are taken in one fixed order, so
// both flavours give identical results for those ops.
#ifndef SERDAB_ENCLAVE_ENGINE_OPS_POOL_PARAMS_H_
#define SERDAB_ENCLAVE_ENGINE_OPS_POOL_PARAMS_H_

#include <cstdint>
#include <vector>

#include "enclave/common/status.h"
#include "enclave/engine/kernel.h"
#include "enclave/engine/tensor.h"

namespace serdab::engine {

// One output position's window along one spatial axis. Tap i (0 <= i <
// kernel) reads input index start + i * dilation; taps [first_tap, end_tap)
// are the ones inside the input, the others fall in the padding.
struct PoolWindow {
  int64_t start = 0;
  int64_t first_tap = 0;
  int64_t end_tap = 0;
  // Positions from start up to the end of the window or of the end padding,
  // whichever comes first: AveragePool's count_include_pad divisor along this
  // axis (as in PyTorch, positions past the padded end are not counted).
  int64_t padded_size = 0;

  int64_t taps() const { return end_tap - first_tap; }
};

enum class PoolKind { kMax, kAverage };

// A 2-D MaxPool or AveragePool over NCHW input. A 1-D one over [N, C, L] is
// the 2-D one with H = 1 and a window height of 1; it keeps rank 3 only in its
// output shape. A 3-D one over [N, C, D, H, W] adds the depth axis (the d
// fields and `depths`, a single window of one tap otherwise), which only the
// reference kernel walks: the optimised one hands 3-D pooling to it.
struct PoolParams {
  PoolKind kind = PoolKind::kMax;
  int spatial_rank = 2;
  int64_t batch = 0, channels = 0;
  int64_t in_d = 1, in_h = 0, in_w = 0;
  int64_t out_d = 1, out_h = 0, out_w = 0;
  int64_t kernel_d = 1, kernel_h = 1, kernel_w = 1;
  int64_t stride_d = 1, stride_h = 1, stride_w = 1;
  int64_t dilation_d = 1, dilation_h = 1, dilation_w = 1;
  bool count_include_pad = false;
  std::vector<PoolWindow> depths;  // one per output depth
  std::vector<PoolWindow> rows;    // one per output row
  std::vector<PoolWindow> cols;    // one per output column

  int64_t planes() const { return batch * channels; }
  Shape output_shape() const {
    if (spatial_rank == 1) return {batch, channels, out_w};
    if (spatial_rank == 3) return {batch, channels, out_d, out_h, out_w};
    return {batch, channels, out_h, out_w};
  }
  // One compare or add per tap that lies in the input.
  int64_t Flops() const {
    int64_t depth_taps = 0, row_taps = 0, col_taps = 0;
    for (const PoolWindow& w : depths) depth_taps += w.taps();
    for (const PoolWindow& w : rows) row_taps += w.taps();
    for (const PoolWindow& w : cols) col_taps += w.taps();
    return planes() * depth_taps * row_taps * col_taps;
  }
  // AveragePool's divisor for output (oh, ow) of a 1-D or 2-D pooling.
  int64_t Divisor(int64_t oh, int64_t ow) const {
    return count_include_pad ? rows[oh].padded_size * cols[ow].padded_size
                             : rows[oh].taps() * cols[ow].taps();
  }
};

// Parses a MaxPool or AveragePool node (kernel_shape, strides, pads,
// dilations, auto_pad, ceil_mode, count_include_pad) and computes the output
// shape and every window. Defined in ops/pooling_ops.cc.
Status ParsePoolParams(const KernelSetup& setup, PoolKind kind, PoolParams* params);

// A GlobalAveragePool or GlobalMaxPool over [N, C, spatial...].
struct GlobalPoolParams {
  int64_t planes = 0;      // N * C
  int64_t plane_size = 0;  // product of the spatial dimensions
};

Status ParseGlobalPoolParams(const KernelSetup& setup, GlobalPoolParams* params,
                             TensorInfo* output);

// ReduceMean, with the input viewed as row-major `dims` after dropping size-1
// dimensions and merging neighbours that are both reduced or both kept.
struct ReduceMeanParams {
  std::vector<int64_t> dims;
  std::vector<bool> reduced;         // per dims entry
  std::vector<int64_t> out_strides;  // per dims entry; 0 for reduced ones
  int64_t out_elements = 0;
  int64_t count = 0;  // input elements per output
  // True when the input is [kept..., reduced] with one kept block: output o is
  // the mean of the contiguous block o (GlobalAveragePool's shape).
  bool trailing() const {
    return dims.size() <= 2 && !reduced.empty() && reduced.back() &&
           (dims.size() == 1 || !reduced.front());
  }
};

Status ParseReduceMeanParams(const KernelSetup& setup, ReduceMeanParams* params,
                             TensorInfo* output);

// What every Reduce* node reduces: per input dimension whether it is reduced
// (from the `axes` attribute, or with `axes_input` from the constant input 1,
// where noop_with_empty_axes may ask for no reduction), and the output shape
// (keepdims). Checks the attributes a Reduce* node may carry.
Status ParseReducedAxes(const KernelSetup& setup, bool axes_input, std::vector<bool>* reduce,
                        Shape* output_shape);

// The sum of x[0, n), always added in the same order: kLanes interleaved
// partial sums, combined pairwise, then the tail. The fixed lane count keeps
// the result independent of the vector width the compiler picks.
inline float SumBlocked(const float* x, int64_t n) {
  constexpr int kLanes = 32;
  float acc[kLanes] = {};
  int64_t i = 0;
  for (; i + kLanes <= n; i += kLanes) {
    for (int j = 0; j < kLanes; ++j) acc[j] += x[i + j];
  }
  for (int width = kLanes / 2; width > 0; width /= 2) {
    for (int j = 0; j < width; ++j) acc[j] += acc[j + width];
  }
  float sum = acc[0];
  for (; i < n; ++i) sum += x[i];
  return sum;
}

// Mean of each contiguous block of `block` elements: y[o] for o in [begin, end).
inline void MeanOfBlocks(const float* x, int64_t block, float* y, int64_t begin, int64_t end) {
  const float divisor = static_cast<float>(block);
  for (int64_t o = begin; o < end; ++o) y[o] = SumBlocked(x + o * block, block) / divisor;
}

// ReduceMean on any axes, one thread.
void ReduceMeanGeneral(const ReduceMeanParams& params, const float* x, float* y);

}  // namespace serdab::engine

#endif  // SERDAB_ENCLAVE_ENGINE_OPS_POOL_PARAMS_H_
