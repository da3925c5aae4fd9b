// Reference kernels for ops that resample or pad spatial data: Resize,
// Upsample (its predecessor, opsets 7-9) and Pad.
//
// Resize and Upsample share one kernel: at setup every output coordinate is
// mapped to its source (one table per dimension for nearest; two taps and
// weights per row and column for linear, four for cubic), so a run is plain
// gathers. Coordinates follow the ONNX reference implementation: the resized
// length in the coordinate formulas is input length * scale, unrounded.
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <string>
#include <type_traits>
#include <vector>

#include "enclave/engine/kernel.h"
#include "enclave/engine/ops/register_ops.h"
#include "enclave/engine/tensor.h"
#include "enclave/engine/thread_pool.h"

namespace serdab::engine {
namespace {

// Output elements per ParallelFor chunk, at least; below this the hand-off
// costs more than it saves.
constexpr int64_t kMinElementsPerChunk = 16384;

// Calls fn(T{}) with T the C++ type of `dtype`'s elements.
template <typename Fn>
void DispatchType(DataType dtype, Fn&& fn) {
  if (dtype == DataType::kInt64) {
    fn(int64_t{});
  } else {
    fn(float{});
  }
}

Status CheckData(const KernelSetup& setup, int min_inputs, int max_inputs) {
  if (setup.num_inputs() < min_inputs || setup.num_inputs() > max_inputs) {
    return setup.Error("expects " + std::to_string(min_inputs) + " to " +
                       std::to_string(max_inputs) + " inputs, got " +
                       std::to_string(setup.num_inputs()));
  }
  if (!setup.has_input(0)) return setup.Error("input 0 is missing");
  const DataType dtype = setup.info(0).dtype;
  if (dtype != DataType::kFloat32 && dtype != DataType::kInt64) {
    return setup.Unsupported(std::string("input of data type ") + DataTypeName(dtype));
  }
  return Status::Ok();
}

// The values of constant input `i`, a scalar or 1-D tensor of type T.
template <typename T>
Result<std::vector<T>> ConstantValues(const KernelSetup& setup, int i, const std::string& name) {
  const Tensor* t = setup.constant(i);
  if (t == nullptr) {
    return setup.Unsupported("input '" + name + "' must be a constant (an initializer or " +
                             "computable at load time)");
  }
  const DataType want = std::is_same_v<T, float> ? DataType::kFloat32 : DataType::kInt64;
  if (t->dtype() != want) {
    return setup.Error("input '" + name + "' must be " + DataTypeName(want) + ", got " +
                       DataTypeName(t->dtype()));
  }
  if (t->rank() > 1) {
    return setup.Error("input '" + name + "' must be 1-D, got shape " + ShapeToString(t->shape()));
  }
  const T* p = t->data<T>();
  return std::vector<T>(p, p + t->num_elements());
}

enum class InterpMode { kNearest, kLinear, kCubic };

// How an output coordinate maps back to the input (ONNX Resize's
// coordinate_transformation_mode).
enum class CoordMode {
  kHalfPixel,
  kPytorchHalfPixel,
  kAlignCorners,
  kAsymmetric,
  kTfHalfPixelForNearest,
  kTfCropAndResize,
  kHalfPixelSymmetric,
};

// How a fractional source coordinate picks a pixel (ONNX Resize's
// nearest_mode).
enum class NearestMode { kRoundPreferFloor, kRoundPreferCeil, kFloor, kCeil };

// One axis of a resize: input length, scale, and the resized length that the
// coordinate formulas use (in * scale, which need not be a whole number).
// roi_start and roi_end are tf_crop_and_resize's region, as fractions of the
// input.
struct AxisGeometry {
  int64_t in = 0;
  int64_t out = 0;
  float scale = 1.f;
  double length = 0.0;
  float roi_start = 0.f;
  float roi_end = 1.f;
};

float SourceCoordinate(CoordMode mode, int64_t x, const AxisGeometry& a) {
  const float xf = static_cast<float>(x);
  const double in_span = static_cast<double>(a.in - 1);
  switch (mode) {
    case CoordMode::kHalfPixel:
      return (xf + 0.5f) / a.scale - 0.5f;
    case CoordMode::kPytorchHalfPixel:
      return a.length > 1.0 ? (xf + 0.5f) / a.scale - 0.5f : 0.f;
    case CoordMode::kAlignCorners:
      return a.length == 1.0 ? 0.f : static_cast<float>(x * in_span / (a.length - 1.0));
    case CoordMode::kAsymmetric:
      return xf / a.scale;
    case CoordMode::kTfHalfPixelForNearest:
      return (xf + 0.5f) / a.scale;
    case CoordMode::kHalfPixelSymmetric: {
      // half_pixel, shifted so that the rounding of the output length is
      // spread evenly over both ends.
      const double adjustment = static_cast<double>(a.out) / a.length;
      const double offset = static_cast<double>(a.in) / 2.0 * (1.0 - adjustment);
      return static_cast<float>(offset + (xf + 0.5) / a.scale - 0.5);
    }
    case CoordMode::kTfCropAndResize: {
      const double span = static_cast<double>(a.roi_end) - a.roi_start;
      const double offset =
          a.length == 1.0 ? span * in_span / 2.0 : x * span * in_span / (a.length - 1.0);
      return static_cast<float>(offset + a.roi_start * in_span);
    }
  }
  return 0.f;
}

// tf_crop_and_resize fills the output outside the input (or at a coordinate
// that is not a number) with extrapolation_value instead of sampling.
bool Extrapolated(CoordMode mode, float s, int64_t in) {
  return mode == CoordMode::kTfCropAndResize && !(s >= 0.f && s <= static_cast<float>(in - 1));
}

// The cubic convolution weights of the taps at floor(s) - 1 .. floor(s) + 2
// for s's fractional part t (Keys' kernel with parameter a).
void CubicWeights(float t, float a, float w[4]) {
  const float u = 1.f - t;
  w[0] = ((a * (t + 1.f) - 5.f * a) * (t + 1.f) + 8.f * a) * (t + 1.f) - 4.f * a;
  w[1] = ((a + 2.f) * t - (a + 3.f)) * t * t + 1.f;
  w[2] = ((a + 2.f) * u - (a + 3.f)) * u * u + 1.f;
  w[3] = ((a * (u + 1.f) - 5.f * a) * (u + 1.f) + 8.f * a) * (u + 1.f) - 4.f * a;
}

// The input index nearest to source coordinate x, clamped to [0, in).
int64_t NearestIndex(NearestMode mode, float x, int64_t in) {
  const bool half = x == std::floor(x) + 0.5f;
  float r = 0.f;
  switch (mode) {
    case NearestMode::kRoundPreferFloor:
      r = half ? std::floor(x) : std::round(x);
      break;
    case NearestMode::kRoundPreferCeil:
      r = half ? std::ceil(x) : std::round(x);
      break;
    case NearestMode::kFloor:
      r = std::floor(x);
      break;
    case NearestMode::kCeil:
      r = std::ceil(x);
      break;
  }
  return static_cast<int64_t>(std::clamp(r, 0.f, static_cast<float>(in - 1)));
}

// What Resize and Upsample agree on once their inputs are parsed.
struct ResizePlan {
  InterpMode mode = InterpMode::kNearest;
  CoordMode coord = CoordMode::kHalfPixel;
  NearestMode nearest = NearestMode::kRoundPreferFloor;
  std::vector<float> scales;  // one per dimension, > 0
  // Per dimension: the resized length the coordinates use (in * scale, or the
  // size asked for); empty means in * scale.
  std::vector<double> lengths;
  std::vector<float> roi;  // tf_crop_and_resize: starts, then ends, per dimension
  float cubic_a = -0.75f;
  bool exclude_outside = false;  // cubic: taps outside the input weigh 0
  float extrapolation = 0.f;     // tf_crop_and_resize
  Shape out;
};

// Output sizes floor(in * scale), the ONNX rule for scales.
Shape ScaledShape(const Shape& in, const std::vector<float>& scales) {
  // The scales are the model's: a NaN or negative size becomes -1 and a huge
  // one 2^62 (converting either to int64 would be undefined), both refused
  // when the plan is checked.
  constexpr double kHuge = static_cast<double>(int64_t{1} << 62);
  Shape out(in.size());
  for (size_t d = 0; d < in.size(); ++d) {
    const double size = std::floor(static_cast<double>(in[d]) * scales[d]);
    out[d] = size >= 0 ? static_cast<int64_t>(std::min(size, kHuge)) : -1;
  }
  return out;
}

Result<InterpMode> ParseInterpMode(const KernelSetup& setup, const std::string& mode) {
  if (mode == "nearest") return InterpMode::kNearest;
  if (mode == "linear" || mode == "bilinear") return InterpMode::kLinear;
  if (mode == "cubic") return InterpMode::kCubic;
  return setup.Error("unknown mode '" + mode + "'");
}

class InterpolateKernel : public Kernel {
 public:
  Status Run(const KernelIO& io) const override {
    if (mode_ == InterpMode::kNearest) {
      DispatchType(io.inputs[0]->dtype(), [&](auto tag) { RunNearest<decltype(tag)>(io); });
    } else if (mode_ == InterpMode::kLinear) {
      RunSeparable<2>(io);
    } else {
      RunSeparable<4>(io);
    }
    return Status::Ok();
  }

  int64_t Flops() const override { return flops_; }

 protected:
  // Builds the coordinate tables for `plan` and reports the output.
  Status Configure(const KernelSetup& setup, const ResizePlan& plan,
                   std::vector<TensorInfo>* outputs) {
    const TensorInfo& in = setup.info(0);
    const int rank = static_cast<int>(in.shape.size());
    if (rank == 0) return setup.Error("cannot resize a scalar");
    if (static_cast<int>(plan.scales.size()) != rank) {
      return setup.Error("has " + std::to_string(plan.scales.size()) + " scales for rank " +
                         std::to_string(rank));
    }
    for (int d = 0; d < rank; ++d) {
      if (!(plan.scales[d] > 0.f) || !std::isfinite(plan.scales[d])) {
        return setup.Error("scale " + std::to_string(plan.scales[d]) + " of dimension " +
                           std::to_string(d) + " is not a positive number");
      }
      if (plan.out[d] < 0 || (in.shape[d] == 0 && plan.out[d] > 0)) {
        return setup.Error("cannot resize dimension " + std::to_string(d) + " from " +
                           std::to_string(in.shape[d]) + " to " + std::to_string(plan.out[d]));
      }
    }
    if (plan.coord == CoordMode::kTfCropAndResize &&
        plan.roi.size() != static_cast<size_t>(2 * rank)) {
      return setup.Error("tf_crop_and_resize needs a roi of " + std::to_string(2 * rank) +
                         " values, got " + std::to_string(plan.roi.size()));
    }
    // The coordinate tables hold one entry per output index.
    SERDAB_RETURN_IF_ERROR(setup.CheckSize(in.dtype, plan.out, "resized output"));
    std::vector<AxisGeometry> axes(rank);
    for (int d = 0; d < rank; ++d) {
      axes[d].in = in.shape[d];
      axes[d].out = plan.out[d];
      axes[d].scale = plan.scales[d];
      axes[d].length = plan.lengths.empty() ? static_cast<double>(in.shape[d]) * plan.scales[d]
                                            : plan.lengths[d];
      if (!plan.roi.empty()) {
        axes[d].roi_start = plan.roi[d];
        axes[d].roi_end = plan.roi[d + rank];
      }
    }
    mode_ = plan.mode;
    extrapolates_ = plan.coord == CoordMode::kTfCropAndResize;
    extrapolation_ = plan.extrapolation;
    in_shape_ = in.shape;
    out_shape_ = plan.out;
    if (plan.mode == InterpMode::kNearest) {
      const std::vector<int64_t> strides = Strides(in.shape);
      offsets_.assign(rank, {});
      for (int d = 0; d < rank; ++d) {
        for (int64_t x = 0; x < plan.out[d]; ++x) {
          const float s = SourceCoordinate(plan.coord, x, axes[d]);
          offsets_[d].push_back(Extrapolated(plan.coord, s, in.shape[d])
                                    ? kOutside
                                    : NearestIndex(plan.nearest, s, in.shape[d]) * strides[d]);
        }
      }
      flops_ = 0;
    } else {
      const char* name = plan.mode == InterpMode::kLinear ? "linear" : "cubic";
      if (in.dtype != DataType::kFloat32) {
        return setup.Unsupported(std::string(name) + " resize of " + DataTypeName(in.dtype));
      }
      for (int d = 0; d + 2 < rank; ++d) {
        const bool whole = plan.roi.empty() || (plan.roi[d] == 0.f && plan.roi[d + rank] == 1.f);
        if (plan.scales[d] != 1.f || !whole) {
          return setup.Unsupported(std::string(name) + " resize of dimension " + std::to_string(d) +
                                   " (only the last two dimensions may change)");
        }
      }
      // A 1-D input resizes as one row: an axis of length 1 that stays 1.
      AxisGeometry flat;
      flat.in = 1;
      flat.out = 1;
      flat.length = 1.0;
      const AxisGeometry& rows = rank >= 2 ? axes[rank - 2] : flat;
      const int64_t out_h = rank >= 2 ? plan.out[rank - 2] : 1;
      const int64_t in_w = in.shape[rank - 1];
      rows_ = MakeTaps(plan, rows, out_h, in_w);
      cols_ = MakeTaps(plan, axes[rank - 1], plan.out[rank - 1], 1);
      flops_ = (plan.mode == InterpMode::kLinear ? 9 : 40) * NumElements(plan.out);
    }
    outputs->push_back({in.dtype, plan.out});
    return Status::Ok();
  }

 private:
  // The offsets_ entry of an output index that tf_crop_and_resize fills with
  // extrapolation_value.
  static constexpr int64_t kOutside = -1;

  // `taps` source offsets and weights per output coordinate along one axis
  // (2 for linear, 4 for cubic), and whether the coordinate is extrapolated.
  struct Taps {
    int taps = 0;
    std::vector<int64_t> offset;  // out * taps
    std::vector<float> weight;    // out * taps
    std::vector<bool> outside;    // out
  };

  // Taps beyond the input read its border element, which makes the border
  // extend outward as PyTorch, ONNX Runtime and the ONNX reference do.
  static Taps MakeTaps(const ResizePlan& plan, const AxisGeometry& axis, int64_t out,
                       int64_t stride) {
    Taps t;
    t.taps = plan.mode == InterpMode::kLinear ? 2 : 4;
    const int64_t in = axis.in;
    for (int64_t x = 0; x < out; ++x) {
      float s = SourceCoordinate(plan.coord, x, axis);
      const bool outside = Extrapolated(plan.coord, s, in);
      t.outside.push_back(outside);
      if (outside) s = 0.f;
      float w[4];
      int64_t first;
      if (plan.mode == InterpMode::kLinear) {
        s = std::clamp(s, 0.f, static_cast<float>(in - 1));
        first = static_cast<int64_t>(s);
        w[1] = s - static_cast<float>(first);
        w[0] = 1.f - w[1];
      } else {
        // Past two elements beyond either border every tap reads the border,
        // so s is clamped there before it becomes an integer.
        s = std::clamp(s, -2.f, static_cast<float>(in + 1));
        const float f = std::floor(s);
        first = static_cast<int64_t>(f) - 1;
        CubicWeights(s - f, plan.cubic_a, w);
        if (plan.exclude_outside) {
          float sum = 0.f;
          for (int k = 0; k < 4; ++k) {
            if (first + k < 0 || first + k >= in) w[k] = 0.f;
            sum += w[k];
          }
          for (int k = 0; k < 4 && sum != 0.f; ++k) w[k] /= sum;
        }
      }
      for (int k = 0; k < t.taps; ++k) {
        t.offset.push_back(std::clamp<int64_t>(first + k, 0, in - 1) * stride);
        t.weight.push_back(w[k]);
      }
    }
    return t;
  }

  // extrapolation_value as a T. An int64 output gets it truncated toward
  // zero and saturated (NaN becomes 0) where a plain cast would be undefined.
  template <typename T>
  T Fill() const {
    if constexpr (std::is_same_v<T, float>) {
      return extrapolation_;
    } else {
      constexpr float kLimit = 9.2233720368547758e18f;  // 2^63
      if (std::isnan(extrapolation_)) return 0;
      if (extrapolation_ >= kLimit) return std::numeric_limits<int64_t>::max();
      if (extrapolation_ <= -kLimit) return std::numeric_limits<int64_t>::min();
      return static_cast<int64_t>(extrapolation_);
    }
  }

  template <typename T>
  void RunNearest(const KernelIO& io) const {
    const int rank = static_cast<int>(out_shape_.size());
    const int64_t width = out_shape_[rank - 1];
    const int64_t rows = NumElements(out_shape_) / std::max<int64_t>(width, 1);
    if (width == 0 || rows == 0) return;
    const T* src = io.inputs[0]->data<T>();
    T* dst = io.outputs[0]->data<T>();
    const int64_t* cols = offsets_[rank - 1].data();
    const T fill = Fill<T>();
    auto fill_rows = [&](int64_t begin, int64_t end) {
      for (int64_t r = begin; r < end; ++r) {
        int64_t offset = 0;
        bool outside = false;
        int64_t rest = r;
        for (int d = rank - 2; d >= 0; --d) {
          const int64_t o = offsets_[d][rest % out_shape_[d]];
          outside = outside || o == kOutside;
          offset += o;
          rest /= out_shape_[d];
        }
        const T* row = src + offset;
        T* out = dst + r * width;
        if (outside) {
          std::fill_n(out, width, fill);
        } else if (extrapolates_) {
          for (int64_t x = 0; x < width; ++x) out[x] = cols[x] == kOutside ? fill : row[cols[x]];
        } else {
          for (int64_t x = 0; x < width; ++x) out[x] = row[cols[x]];
        }
      }
    };
    io.pool->ParallelFor(rows, std::max<int64_t>(1, kMinElementsPerChunk / width), fill_rows);
  }

  // Linear and cubic resizes of the last two dimensions: each output element
  // is the kTaps x kTaps weighted sum around its source, rows outermost.
  template <int kTaps>
  void RunSeparable(const KernelIO& io) const {
    const int rank = static_cast<int>(out_shape_.size());
    const int64_t out_h = static_cast<int64_t>(rows_.outside.size());
    const int64_t out_w = static_cast<int64_t>(cols_.outside.size());
    const int64_t in_plane = (rank >= 2 ? in_shape_[rank - 2] : 1) * in_shape_[rank - 1];
    const int64_t rows = NumElements(out_shape_) / std::max<int64_t>(out_w, 1);
    if (out_w == 0 || rows == 0) return;
    const float* src = io.inputs[0]->data<float>();
    float* dst = io.outputs[0]->data<float>();
    auto fill_rows = [&](int64_t begin, int64_t end) {
      for (int64_t r = begin; r < end; ++r) {
        const int64_t y = r % out_h;
        const float* plane = src + (r / out_h) * in_plane;
        float* out = dst + r * out_w;
        if (rows_.outside[y]) {
          std::fill_n(out, out_w, extrapolation_);
          continue;
        }
        const int64_t* row_offset = rows_.offset.data() + y * kTaps;
        const float* row_weight = rows_.weight.data() + y * kTaps;
        for (int64_t x = 0; x < out_w; ++x) {
          if (cols_.outside[x]) {
            out[x] = extrapolation_;
            continue;
          }
          const int64_t* col_offset = cols_.offset.data() + x * kTaps;
          const float* col_weight = cols_.weight.data() + x * kTaps;
          float sum = 0.f;
          for (int i = 0; i < kTaps; ++i) {
            const float* row = plane + row_offset[i];
            float row_sum = 0.f;
            for (int j = 0; j < kTaps; ++j) row_sum += col_weight[j] * row[col_offset[j]];
            sum += row_weight[i] * row_sum;
          }
          out[x] = sum;
        }
      }
    };
    io.pool->ParallelFor(rows, std::max<int64_t>(1, kMinElementsPerChunk / out_w), fill_rows);
  }

  InterpMode mode_ = InterpMode::kNearest;
  Shape in_shape_;
  Shape out_shape_;
  bool extrapolates_ = false;  // tf_crop_and_resize
  float extrapolation_ = 0.f;
  // Nearest: per dimension, the input element offset (index * stride) that
  // each output index reads, or kOutside.
  std::vector<std::vector<int64_t>> offsets_;
  // Linear and cubic: taps along the second-to-last (rows) and last
  // (columns) axis.
  Taps rows_;
  Taps cols_;
  int64_t flops_ = 0;
};

class ResizeKernel final : public InterpolateKernel {
 public:
  Status Setup(const KernelSetup& setup, std::vector<TensorInfo>* outputs) override {
    const bool legacy = setup.opset < 11;
    SERDAB_RETURN_IF_ERROR(CheckData(setup, legacy ? 2 : 1, legacy ? 2 : 4));
    const Attributes& attrs = setup.n().attrs;
    SERDAB_RETURN_IF_ERROR(attrs.CheckKinds(
        setup.n().name, {"exclude_outside", "antialias"}, {"axes"},
        {"cubic_coeff_a", "extrapolation_value"},
        {"mode", "coordinate_transformation_mode", "nearest_mode", "keep_aspect_ratio_policy"}));
    const Shape& in = setup.info(0).shape;
    const int rank = static_cast<int>(in.size());
    ResizePlan plan;
    SERDAB_ASSIGN_OR_RETURN(plan.mode, ParseInterpMode(setup, attrs.GetString("mode", "nearest")));
    if (legacy) {
      // Opset 10 has neither coordinate nor rounding modes: it samples like
      // Upsample, at x / scale, rounding down.
      plan.coord = CoordMode::kAsymmetric;
      plan.nearest = NearestMode::kFloor;
      SERDAB_ASSIGN_OR_RETURN(plan.scales, ConstantValues<float>(setup, 1, "scales"));
      if (static_cast<int>(plan.scales.size()) != rank) {
        return setup.Error("has " + std::to_string(plan.scales.size()) + " scales for rank " +
                           std::to_string(rank));
      }
      plan.out = ScaledShape(in, plan.scales);
      return Configure(setup, plan, outputs);
    }

    SERDAB_ASSIGN_OR_RETURN(
        plan.coord,
        ParseCoordMode(setup, attrs.GetString("coordinate_transformation_mode", "half_pixel")));
    SERDAB_ASSIGN_OR_RETURN(
        plan.nearest,
        ParseNearestMode(setup, attrs.GetString("nearest_mode", "round_prefer_floor")));
    if (attrs.GetInt("antialias", 0) != 0) return setup.Unsupported("antialias");
    plan.cubic_a = attrs.GetFloat("cubic_coeff_a", -0.75f);
    plan.exclude_outside = attrs.GetInt("exclude_outside", 0) != 0;
    plan.extrapolation = attrs.GetFloat("extrapolation_value", 0.f);
    if (attrs.GetString("keep_aspect_ratio_policy", "stretch") != "stretch") {
      return setup.Unsupported("keep_aspect_ratio_policy other than 'stretch'");
    }

    // An empty scales or sizes tensor stands for an omitted one.
    std::vector<float> scales;
    std::vector<int64_t> sizes;
    if (setup.has_input(2)) {
      SERDAB_ASSIGN_OR_RETURN(scales, ConstantValues<float>(setup, 2, "scales"));
    }
    if (setup.has_input(3)) {
      SERDAB_ASSIGN_OR_RETURN(sizes, ConstantValues<int64_t>(setup, 3, "sizes"));
    }
    if (scales.empty() == sizes.empty()) {
      return setup.Error("needs exactly one of 'scales' and 'sizes'");
    }

    // Opset 18's axes: scales or sizes name only these dimensions.
    std::vector<int> axes;
    for (int64_t a : attrs.GetInts("axes")) {
      if (a < -rank || a >= rank) {
        return setup.Error("axis " + std::to_string(a) + " is out of range for rank " +
                           std::to_string(rank));
      }
      axes.push_back(static_cast<int>(a < 0 ? a + rank : a));
    }
    if (axes.empty()) {
      for (int d = 0; d < rank; ++d) axes.push_back(d);
    }
    const size_t given = scales.empty() ? sizes.size() : scales.size();
    if (given != axes.size()) {
      return setup.Error("has " + std::to_string(given) + " scales or sizes for " +
                         std::to_string(axes.size()) + " axes");
    }
    plan.scales.assign(rank, 1.f);
    if (!scales.empty()) {
      for (size_t i = 0; i < axes.size(); ++i) plan.scales[axes[i]] = scales[i];
      plan.out = ScaledShape(in, plan.scales);
    } else {
      plan.out = in;
      for (size_t i = 0; i < axes.size(); ++i) {
        const int d = axes[i];
        plan.out[d] = sizes[i];
        if (in[d] > 0) plan.scales[d] = static_cast<float>(sizes[i]) / static_cast<float>(in[d]);
      }
      plan.lengths.assign(plan.out.begin(), plan.out.end());
    }
    if (plan.coord == CoordMode::kTfCropAndResize) {
      // The region of interest, starts then ends, over the resized axes.
      if (!setup.has_input(1)) return setup.Error("tf_crop_and_resize needs input 'roi'");
      SERDAB_ASSIGN_OR_RETURN(const std::vector<float> roi, ConstantValues<float>(setup, 1, "roi"));
      if (roi.size() != 2 * axes.size()) {
        return setup.Error("roi has " + std::to_string(roi.size()) + " values for " +
                           std::to_string(axes.size()) + " axes");
      }
      plan.roi.assign(rank, 0.f);
      plan.roi.resize(2 * rank, 1.f);
      for (size_t i = 0; i < axes.size(); ++i) {
        plan.roi[axes[i]] = roi[i];
        plan.roi[axes[i] + rank] = roi[i + axes.size()];
      }
    }
    return Configure(setup, plan, outputs);
  }

 private:
  static Result<CoordMode> ParseCoordMode(const KernelSetup& setup, const std::string& name) {
    if (name == "half_pixel") return CoordMode::kHalfPixel;
    if (name == "pytorch_half_pixel") return CoordMode::kPytorchHalfPixel;
    if (name == "align_corners") return CoordMode::kAlignCorners;
    if (name == "asymmetric") return CoordMode::kAsymmetric;
    if (name == "tf_half_pixel_for_nearest") return CoordMode::kTfHalfPixelForNearest;
    if (name == "tf_crop_and_resize") return CoordMode::kTfCropAndResize;
    if (name == "half_pixel_symmetric") return CoordMode::kHalfPixelSymmetric;
    return setup.Error("unknown coordinate_transformation_mode '" + name + "'");
  }

  static Result<NearestMode> ParseNearestMode(const KernelSetup& setup, const std::string& name) {
    if (name == "round_prefer_floor") return NearestMode::kRoundPreferFloor;
    if (name == "round_prefer_ceil") return NearestMode::kRoundPreferCeil;
    if (name == "floor") return NearestMode::kFloor;
    if (name == "ceil") return NearestMode::kCeil;
    return setup.Error("unknown nearest_mode '" + name + "'");
  }
};

// Upsample (opsets 7-9): scales as an attribute (7) or a constant input (9);
// samples at x / scale, rounding down for nearest.
class UpsampleKernel final : public InterpolateKernel {
 public:
  Status Setup(const KernelSetup& setup, std::vector<TensorInfo>* outputs) override {
    SERDAB_RETURN_IF_ERROR(CheckData(setup, 1, 2));
    const Attributes& attrs = setup.n().attrs;
    SERDAB_RETURN_IF_ERROR(attrs.CheckKinds(setup.n().name, {}, {}, {}, {"mode"}));
    ResizePlan plan;
    SERDAB_ASSIGN_OR_RETURN(plan.mode, ParseInterpMode(setup, attrs.GetString("mode", "nearest")));
    plan.coord = CoordMode::kAsymmetric;
    plan.nearest = NearestMode::kFloor;
    if (attrs.has("scales")) {
      plan.scales = attrs.GetFloats("scales");
    } else if (setup.has_input(1)) {
      SERDAB_ASSIGN_OR_RETURN(plan.scales, ConstantValues<float>(setup, 1, "scales"));
    } else {
      return setup.Error("has neither a 'scales' attribute nor a 'scales' input");
    }
    const Shape& in = setup.info(0).shape;
    if (plan.scales.size() != in.size()) {
      return setup.Error("has " + std::to_string(plan.scales.size()) + " scales for rank " +
                         std::to_string(in.size()));
    }
    plan.out = ScaledShape(in, plan.scales);
    return Configure(setup, plan, outputs);
  }
};

// Pad in constant, edge and reflect modes. Negative pads crop; the cropped
// input is then padded (as ONNX Runtime does), so edge and reflect read the
// cropped borders.
class PadKernel final : public Kernel {
 public:
  Status Setup(const KernelSetup& setup, std::vector<TensorInfo>* outputs) override {
    const bool legacy = setup.opset < 11;
    SERDAB_RETURN_IF_ERROR(CheckData(setup, legacy ? 1 : 2, legacy ? 1 : 4));
    const Attributes& attrs = setup.n().attrs;
    SERDAB_RETURN_IF_ERROR(attrs.CheckKinds(setup.n().name, {}, {"pads"}, {"value"}, {"mode"}));
    const TensorInfo& in = setup.info(0);
    const int rank = static_cast<int>(in.shape.size());
    dtype_ = in.dtype;

    const std::string mode = attrs.GetString("mode", "constant");
    if (mode != "constant" && mode != "edge" && mode != "reflect") {
      if (mode == "wrap") return setup.Unsupported("mode 'wrap'");
      return setup.Error("unknown mode '" + mode + "'");
    }

    std::vector<int64_t> pads;
    std::vector<int> axes;
    fill_float_ = 0.f;
    fill_int_ = 0;
    if (legacy) {
      if (!attrs.has("pads")) return setup.Error("attribute 'pads' is missing");
      pads = attrs.GetInts("pads");
      fill_float_ = attrs.GetFloat("value", 0.f);
      fill_int_ = static_cast<int64_t>(fill_float_);
    } else {
      SERDAB_ASSIGN_OR_RETURN(pads, ConstantValues<int64_t>(setup, 1, "pads"));
      if (setup.has_input(2)) SERDAB_RETURN_IF_ERROR(ReadFillValue(setup));
      if (setup.has_input(3)) {
        SERDAB_ASSIGN_OR_RETURN(const std::vector<int64_t> a,
                                ConstantValues<int64_t>(setup, 3, "axes"));
        for (int64_t v : a) {
          if (v < -rank || v >= rank) {
            return setup.Error("axis " + std::to_string(v) + " is out of range for rank " +
                               std::to_string(rank));
          }
          axes.push_back(static_cast<int>(v < 0 ? v + rank : v));
        }
      }
    }
    if (axes.empty()) {
      for (int d = 0; d < rank; ++d) axes.push_back(d);
    }
    if (pads.size() != 2 * axes.size()) {
      return setup.Error("has " + std::to_string(pads.size()) + " pads for " +
                         std::to_string(axes.size()) + " axes (needs two per axis)");
    }
    std::vector<int64_t> begin(rank, 0), end(rank, 0);
    for (size_t i = 0; i < axes.size(); ++i) {
      begin[axes[i]] = pads[i];
      end[axes[i]] = pads[i + axes.size()];
    }

    // The maps below hold one entry per output index, and the pads are the
    // model's: they are bounded, and the output must fit the limits, before
    // anything is computed from them.
    out_.assign(rank, 0);
    for (int d = 0; d < rank; ++d) {
      const int64_t n = in.shape[d];
      if (begin[d] < -n || end[d] < -n || __builtin_add_overflow(n, begin[d], &out_[d]) ||
          __builtin_add_overflow(out_[d], end[d], &out_[d]) || out_[d] < 0) {
        return setup.Error("pads " + ShapeToString(pads) + " crop more than dimension " +
                           std::to_string(d) + " of size " + std::to_string(n) + " or overflow it");
      }
    }
    SERDAB_RETURN_IF_ERROR(setup.CheckSize(in.dtype, out_, "padded output"));
    maps_.assign(rank, {});
    for (int d = 0; d < rank; ++d) {
      const int64_t n = in.shape[d];
      // The input range [lo, lo + kept) that survives cropping, padded by
      // `before` and the rest of the output.
      const int64_t lo = std::max<int64_t>(0, -begin[d]);
      const int64_t kept = n - lo - std::max<int64_t>(0, -end[d]);
      const int64_t before = std::max<int64_t>(0, begin[d]);
      if (kept < 0) {
        return setup.Error("pads " + ShapeToString(pads) + " crop more than dimension " +
                           std::to_string(d) + " of size " + std::to_string(n));
      }
      if (kept == 0 && out_[d] > 0 && mode != "constant") {
        return setup.Error("cannot " + mode + "-pad dimension " + std::to_string(d) +
                           ", which has no elements");
      }
      for (int64_t o = 0; o < out_[d]; ++o) {
        int64_t i = o - before;
        if (i < 0 || i >= kept) {
          if (mode == "constant") {
            maps_[d].push_back(-1);
            continue;
          }
          i = mode == "edge" ? std::clamp<int64_t>(i, 0, kept - 1) : Reflect(i, kept);
        }
        maps_[d].push_back(lo + i);
      }
      if (d == rank - 1) {
        inner_begin_ = std::min(before, out_[d]);
        inner_end_ = std::min(before + kept, out_[d]);
        inner_src_ = lo;
      }
    }
    in_strides_ = Strides(in.shape);
    out_blocks_ = Strides(out_);
    outputs->push_back({in.dtype, out_});
    return Status::Ok();
  }

  Status Run(const KernelIO& io) const override {
    if (io.outputs[0]->num_elements() == 0) return Status::Ok();
    DispatchType(dtype_, [&](auto tag) {
      using T = decltype(tag);
      const T* src = io.inputs[0]->data<T>();
      T* dst = io.outputs[0]->data<T>();
      const T fill =
          std::is_same_v<T, float> ? static_cast<T>(fill_float_) : static_cast<T>(fill_int_);
      if (out_.empty()) {
        *dst = *src;
      } else {
        PadDims(src, dst, 0, fill);
      }
    });
    return Status::Ok();
  }

 private:
  // Index i mirrored into [0, n) without repeating the border element, as
  // numpy's "reflect" does, for pads of any width.
  static int64_t Reflect(int64_t i, int64_t n) {
    if (n == 1) return 0;
    const int64_t period = 2 * (n - 1);
    i %= period;
    if (i < 0) i += period;
    return i < n ? i : period - i;
  }

  Status ReadFillValue(const KernelSetup& setup) {
    const Tensor* t = setup.constant(2);
    if (t == nullptr) return setup.Unsupported("input 'constant_value' must be a constant");
    if (t->dtype() != dtype_) {
      return setup.Error(std::string("constant_value is ") + DataTypeName(t->dtype()) +
                         " but the data is " + DataTypeName(dtype_));
    }
    if (t->num_elements() > 1) return setup.Error("constant_value must hold one element");
    if (t->num_elements() == 1) {
      if (dtype_ == DataType::kFloat32) {
        fill_float_ = *t->data<float>();
      } else {
        fill_int_ = *t->data<int64_t>();
      }
    }
    return Status::Ok();
  }

  // Writes output dims [d, rank) from the input block at `src`.
  template <typename T>
  void PadDims(const T* src, T* dst, int d, T fill) const {
    const std::vector<int64_t>& map = maps_[d];
    const int64_t n = out_[d];
    if (d + 1 == static_cast<int>(out_.size())) {
      for (int64_t o = 0; o < inner_begin_; ++o) dst[o] = map[o] < 0 ? fill : src[map[o]];
      if (inner_end_ > inner_begin_) {
        std::memcpy(dst + inner_begin_, src + inner_src_,
                    static_cast<size_t>(inner_end_ - inner_begin_) * sizeof(T));
      }
      for (int64_t o = inner_end_; o < n; ++o) dst[o] = map[o] < 0 ? fill : src[map[o]];
      return;
    }
    const int64_t block = out_blocks_[d];
    for (int64_t o = 0; o < n; ++o) {
      T* to = dst + o * block;
      if (map[o] < 0) {
        std::fill_n(to, block, fill);
      } else {
        PadDims(src + map[o] * in_strides_[d], to, d + 1, fill);
      }
    }
  }

  DataType dtype_ = DataType::kFloat32;
  float fill_float_ = 0.f;
  int64_t fill_int_ = 0;
  Shape out_;
  std::vector<int64_t> in_strides_;
  std::vector<int64_t> out_blocks_;  // output elements per index of each dimension
  // Per dimension: the input index each output index reads, -1 for the fill.
  std::vector<std::vector<int64_t>> maps_;
  // The last dimension's unpadded run: output [inner_begin_, inner_end_) is
  // input [inner_src_, ...), copied with one memcpy.
  int64_t inner_begin_ = 0;
  int64_t inner_end_ = 0;
  int64_t inner_src_ = 0;
};

}  // namespace

void RegisterResizeOps(OpRegistry* registry) {
  RegisterKernel<ResizeKernel>(registry, "Resize", KernelFlavor::kReference);
  RegisterKernel<UpsampleKernel>(registry, "Upsample", KernelFlavor::kReference);
  RegisterKernel<PadKernel>(registry, "Pad", KernelFlavor::kReference);
}

}  // namespace serdab::engine
