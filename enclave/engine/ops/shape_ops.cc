// Reference kernels for ops that move data without arithmetic or compute
// shapes: Reshape, Flatten, Squeeze, Unsqueeze, Identity, Dropout, Transpose,
// Concat, Split, Slice, Gather, Expand, Shape, Constant, ConstantOfShape, Cast,
// Tile, DepthToSpace, GatherElements and TopK.
//
// Every kernel works on float32, uint8 and int64 alike: the constant folding
// pass runs these kernels on the int64 shape arithmetic that exporters emit,
// a model may reorder its uint8 pixels before casting them, and most copy
// elements without looking at them. A Cast that FusePixelInput made carries a
// pixel table (pixel_table.h). Inputs that decide an output shape
// (Reshape's shape, Slice's starts, ...) must be constants, so every output
// shape is known after Setup.
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <optional>
#include <string>
#include <vector>

#include "enclave/engine/kernel.h"
#include "enclave/engine/ops/pixel_table.h"
#include "enclave/engine/ops/register_ops.h"
#include "enclave/engine/tensor.h"

namespace serdab::engine {
namespace {

// ONNX TensorProto::DataType values that Cast's `to` may name.
enum OnnxType : int64_t {
  kOnnxFloat = 1,
  kOnnxUint8 = 2,
  kOnnxInt8 = 3,
  kOnnxUint16 = 4,
  kOnnxInt16 = 5,
  kOnnxInt32 = 6,
  kOnnxInt64 = 7,
  kOnnxBool = 9,
  kOnnxFloat16 = 10,
  kOnnxDouble = 11,
  kOnnxUint32 = 12,
  kOnnxUint64 = 13,
};

// Calls fn(T{}) with T the C++ type of `dtype`'s elements.
template <typename Fn>
void DispatchType(DataType dtype, Fn&& fn) {
  if (dtype == DataType::kInt64) {
    fn(int64_t{});
  } else if (dtype == DataType::kUint8) {
    fn(uint8_t{});
  } else {
    fn(float{});
  }
}

// The ops here move or select elements, which they do in any type the engine
// has: a model may reorder its uint8 pixels before casting them.
bool IsSupportedType(DataType dtype) {
  return dtype == DataType::kFloat32 || dtype == DataType::kUint8 || dtype == DataType::kInt64;
}

Status CheckInputCount(const KernelSetup& setup, int min, int max) {
  if (setup.num_inputs() < min || setup.num_inputs() > max) {
    return setup.Error("expects " + std::to_string(min) +
                       (max == min ? "" : " to " + std::to_string(max)) + " inputs, got " +
                       std::to_string(setup.num_inputs()));
  }
  for (int i = 0; i < min; ++i) {
    if (!setup.has_input(i)) return setup.Error("input " + std::to_string(i) + " is missing");
  }
  for (int i = 0; i < setup.num_inputs(); ++i) {
    if (setup.has_input(i) && !IsSupportedType(setup.info(i).dtype)) {
      return setup.Unsupported("input " + std::to_string(i) + " has data type " +
                               DataTypeName(setup.info(i).dtype));
    }
  }
  return Status::Ok();
}

// The values of constant int64 input `i` (a scalar or a 1-D tensor), which the
// op needs at load time.
Result<std::vector<int64_t>> ConstantInts(const KernelSetup& setup, int i,
                                          const std::string& name) {
  const Tensor* t = setup.constant(i);
  if (t == nullptr) {
    return setup.Unsupported("input '" + name + "' must be a constant (an initializer or " +
                             "computable at load time)");
  }
  if (t->dtype() != DataType::kInt64) {
    return setup.Error("input '" + name + "' must be int64, got " + DataTypeName(t->dtype()));
  }
  if (t->rank() > 1) {
    return setup.Error("input '" + name + "' must be 1-D, got shape " + ShapeToString(t->shape()));
  }
  const int64_t* p = t->data<int64_t>();
  return std::vector<int64_t>(p, p + t->num_elements());
}

// `axis` in [-rank, rank) as an index in [0, rank).
Result<int> NormalizeAxis(const KernelSetup& setup, int64_t axis, int rank,
                          const std::string& what = "axis") {
  if (axis < -rank || axis >= rank) {
    return setup.Error(what + " " + std::to_string(axis) + " is out of range for rank " +
                       std::to_string(rank));
  }
  return static_cast<int>(axis < 0 ? axis + rank : axis);
}

// Copies all of input 0 into output 0 (the two may be the same buffer when the
// executor runs a view op in place).
void CopyInputToOutput(const KernelIO& io) {
  const Tensor& in = *io.inputs[0];
  Tensor& out = *io.outputs[0];
  if (out.raw() != in.raw() && in.bytes() > 0) std::memcpy(out.raw(), in.raw(), in.bytes());
}

// A view of a tensor with arbitrary element strides (zero for broadcast
// dimensions, negative for reversed ones) and an element offset, copied into a
// dense output. Dimensions that are contiguous in the source are merged at
// construction so the inner loop is as long as possible, and a memcpy when its
// stride is 1. Serves Transpose, Slice, Split and Expand.
class StridedView {
 public:
  StridedView() = default;
  StridedView(const Shape& shape, const std::vector<int64_t>& strides, int64_t offset)
      : offset_(offset) {
    for (size_t d = 0; d < shape.size(); ++d) {
      if (shape[d] == 0) empty_ = true;
      if (shape[d] == 1) continue;
      if (!shape_.empty() && strides_.back() == strides[d] * shape[d]) {
        shape_.back() *= shape[d];
        strides_.back() = strides[d];
      } else {
        shape_.push_back(shape[d]);
        strides_.push_back(strides[d]);
      }
    }
  }

  void CopyTo(const Tensor& src, Tensor* dst) const {
    if (empty_) return;
    DispatchType(src.dtype(), [&](auto tag) {
      using T = decltype(tag);
      const T* from = src.data<T>() + offset_;
      T* to = dst->data<T>();
      if (shape_.empty()) {
        *to = *from;
      } else {
        CopyDims(from, to, shape_.data(), strides_.data(), static_cast<int>(shape_.size()));
      }
    });
  }

 private:
  // Copies dims [0, rank) of the view at `src` to `dst`; returns the end of
  // what it wrote.
  template <typename T>
  static T* CopyDims(const T* src, T* dst, const int64_t* shape, const int64_t* strides, int rank) {
    const int64_t n = shape[0];
    const int64_t stride = strides[0];
    if (rank == 1) {
      if (stride == 1) {
        std::memcpy(dst, src, static_cast<size_t>(n) * sizeof(T));
      } else if (stride == 0) {
        std::fill_n(dst, n, *src);
      } else {
        for (int64_t i = 0; i < n; ++i) dst[i] = src[i * stride];
      }
      return dst + n;
    }
    for (int64_t i = 0; i < n; ++i) {
      dst = CopyDims(src + i * stride, dst, shape + 1, strides + 1, rank - 1);
    }
    return dst;
  }

  Shape shape_;
  std::vector<int64_t> strides_;
  int64_t offset_ = 0;
  bool empty_ = false;
};

// Ops whose output is input 0's data, in the same order, under a new shape.
class ViewKernel : public Kernel {
 public:
  explicit ViewKernel(int max_inputs) : max_inputs_(max_inputs) {}

  Status Setup(const KernelSetup& setup, std::vector<TensorInfo>* outputs) final {
    SERDAB_RETURN_IF_ERROR(CheckInputCount(setup, 1, max_inputs_));
    SERDAB_ASSIGN_OR_RETURN(Shape shape, OutputShape(setup, setup.info(0).shape));
    if (NumElements(shape) != NumElements(setup.info(0).shape)) {
      return setup.Error("output shape " + ShapeToString(shape) + " does not hold the " +
                         std::to_string(NumElements(setup.info(0).shape)) +
                         " elements of input shape " + ShapeToString(setup.info(0).shape));
    }
    outputs->push_back({setup.info(0).dtype, std::move(shape)});
    return Status::Ok();
  }

  Status Run(const KernelIO& io) const final {
    CopyInputToOutput(io);
    return Status::Ok();
  }

 protected:
  virtual Result<Shape> OutputShape(const KernelSetup& setup, const Shape& in) const = 0;

 private:
  const int max_inputs_;
};

class ReshapeKernel final : public ViewKernel {
 public:
  ReshapeKernel() : ViewKernel(2) {}

 protected:
  Result<Shape> OutputShape(const KernelSetup& setup, const Shape& in) const override {
    SERDAB_RETURN_IF_ERROR(setup.n().attrs.CheckKinds(setup.n().name, {"allowzero"}, {"shape"}));
    std::vector<int64_t> target;
    if (setup.opset < 5) {
      target = setup.n().attrs.GetInts("shape");
    } else {
      if (!setup.has_input(1)) return setup.Error("input 'shape' is missing");
      SERDAB_ASSIGN_OR_RETURN(target, ConstantInts(setup, 1, "shape"));
    }
    const bool allow_zero = setup.n().attrs.GetInt("allowzero", 0) != 0;
    Shape out(target.size());
    int infer = -1;
    int64_t known = 1;
    for (size_t i = 0; i < target.size(); ++i) {
      const int64_t d = target[i];
      if (d == -1) {
        if (infer >= 0) return setup.Error("shape " + ShapeToString(target) + " has two -1s");
        infer = static_cast<int>(i);
        continue;
      }
      if (d < -1) return setup.Error("shape " + ShapeToString(target) + " has a negative size");
      if (d == 0 && !allow_zero) {
        if (i >= in.size()) {
          return setup.Error("shape " + ShapeToString(target) + " copies dimension " +
                             std::to_string(i) + " of rank-" + std::to_string(in.size()) +
                             " input");
        }
        out[i] = in[i];
      } else {
        out[i] = d;
      }
      // A product that overflows cannot match the input's element count.
      if (__builtin_mul_overflow(known, out[i], &known)) {
        return setup.Error("shape " + ShapeToString(target) +
                           " has more elements than input shape " + ShapeToString(in));
      }
    }
    if (infer >= 0) {
      if (allow_zero && std::count(target.begin(), target.end(), 0) > 0) {
        return setup.Error("shape " + ShapeToString(target) + " has both 0 and -1 with allowzero");
      }
      const int64_t total = NumElements(in);
      if (known == 0 || total % known != 0) {
        return setup.Error("cannot infer the -1 in shape " + ShapeToString(target) +
                           " for input shape " + ShapeToString(in));
      }
      out[infer] = total / known;
    }
    return out;
  }
};

class FlattenKernel final : public ViewKernel {
 public:
  FlattenKernel() : ViewKernel(1) {}

 protected:
  Result<Shape> OutputShape(const KernelSetup& setup, const Shape& in) const override {
    SERDAB_RETURN_IF_ERROR(setup.n().attrs.CheckKinds(setup.n().name, {"axis"}));
    const int rank = static_cast<int>(in.size());
    int64_t axis = setup.n().attrs.GetInt("axis", 1);
    if (axis < -rank || axis > rank) {
      return setup.Error("axis " + std::to_string(axis) + " is out of range for rank " +
                         std::to_string(rank));
    }
    if (axis < 0) axis += rank;
    const Shape outer(in.begin(), in.begin() + axis);
    const Shape inner(in.begin() + axis, in.end());
    return Shape{NumElements(outer), NumElements(inner)};
  }
};

class SqueezeKernel final : public ViewKernel {
 public:
  SqueezeKernel() : ViewKernel(2) {}

 protected:
  Result<Shape> OutputShape(const KernelSetup& setup, const Shape& in) const override {
    SERDAB_RETURN_IF_ERROR(setup.n().attrs.CheckKinds(setup.n().name, {}, {"axes"}));
    const int rank = static_cast<int>(in.size());
    std::vector<int64_t> axes;
    if (setup.opset < 13) {
      axes = setup.n().attrs.GetInts("axes");
    } else if (setup.has_input(1)) {
      SERDAB_ASSIGN_OR_RETURN(axes, ConstantInts(setup, 1, "axes"));
    }
    // No axes: drop every dimension of size 1.
    std::vector<bool> drop(rank, false);
    for (int d = 0; d < rank; ++d) drop[d] = axes.empty() && in[d] == 1;
    for (int64_t a : axes) {
      SERDAB_ASSIGN_OR_RETURN(int axis, NormalizeAxis(setup, a, rank));
      if (in[axis] != 1) {
        return setup.Error("cannot squeeze axis " + std::to_string(a) + " of size " +
                           std::to_string(in[axis]));
      }
      drop[axis] = true;
    }
    Shape out;
    for (int d = 0; d < rank; ++d) {
      if (!drop[d]) out.push_back(in[d]);
    }
    return out;
  }
};

class UnsqueezeKernel final : public ViewKernel {
 public:
  UnsqueezeKernel() : ViewKernel(2) {}

 protected:
  Result<Shape> OutputShape(const KernelSetup& setup, const Shape& in) const override {
    SERDAB_RETURN_IF_ERROR(setup.n().attrs.CheckKinds(setup.n().name, {}, {"axes"}));
    std::vector<int64_t> axes;
    if (setup.opset < 13) {
      if (!setup.n().attrs.has("axes")) return setup.Error("attribute 'axes' is missing");
      axes = setup.n().attrs.GetInts("axes");
    } else {
      if (!setup.has_input(1)) return setup.Error("input 'axes' is missing");
      SERDAB_ASSIGN_OR_RETURN(axes, ConstantInts(setup, 1, "axes"));
    }
    const int out_rank = static_cast<int>(in.size() + axes.size());
    std::vector<bool> inserted(out_rank, false);
    for (int64_t a : axes) {
      SERDAB_ASSIGN_OR_RETURN(int axis, NormalizeAxis(setup, a, out_rank));
      if (inserted[axis]) return setup.Error("axis " + std::to_string(a) + " is repeated");
      inserted[axis] = true;
    }
    Shape out(out_rank, 1);
    size_t next = 0;
    for (int d = 0; d < out_rank; ++d) {
      if (!inserted[d]) out[d] = in[next++];
    }
    return out;
  }
};

class IdentityKernel final : public ViewKernel {
 public:
  IdentityKernel() : ViewKernel(1) {}

 protected:
  Result<Shape> OutputShape(const KernelSetup& setup, const Shape& in) const override { return in; }
};

// Inference-time Dropout: the identity. The mask output and training mode
// would need random numbers, so they are refused.
class DropoutKernel final : public ViewKernel {
 public:
  DropoutKernel() : ViewKernel(3) {}

 protected:
  Result<Shape> OutputShape(const KernelSetup& setup, const Shape& in) const override {
    const auto& outs = setup.n().outputs;
    if (outs.size() > 1 && outs[1] != kNoValue) {
      return setup.Unsupported("the mask output is not supported (inference only)");
    }
    if (setup.opset >= 12 && setup.has_input(2)) {
      const Tensor* training = setup.constant(2);
      if (training == nullptr) {
        return setup.Unsupported("input 'training_mode' must be a constant false");
      }
      bool on = false;
      DispatchType(training->dtype(), [&](auto tag) {
        using T = decltype(tag);
        for (int64_t i = 0; i < training->num_elements(); ++i) {
          on = on || training->data<T>()[i] != T{0};
        }
      });
      if (on) return setup.Unsupported("training mode is not supported (inference only)");
    }
    return in;
  }
};

// A kernel whose output is a strided view of its first input, copied out:
// Setup builds view_ (transposes, slices, broadcasts, tiles, block
// rearrangements), Run is the copy.
class StridedCopyKernel : public Kernel {
 public:
  Status Run(const KernelIO& io) const final {
    view_.CopyTo(*io.inputs[0], io.outputs[0]);
    return Status::Ok();
  }

 protected:
  StridedView view_;
};

class TransposeKernel final : public StridedCopyKernel {
 public:
  Status Setup(const KernelSetup& setup, std::vector<TensorInfo>* outputs) override {
    SERDAB_RETURN_IF_ERROR(CheckInputCount(setup, 1, 1));
    SERDAB_RETURN_IF_ERROR(setup.n().attrs.CheckKinds(setup.n().name, {}, {"perm"}));
    const Shape& in = setup.info(0).shape;
    const int rank = static_cast<int>(in.size());
    std::vector<int64_t> perm = setup.n().attrs.GetInts("perm");
    if (perm.empty()) {
      for (int d = rank - 1; d >= 0; --d) perm.push_back(d);
    }
    if (static_cast<int>(perm.size()) != rank) {
      return setup.Error("perm has " + std::to_string(perm.size()) + " entries for rank " +
                         std::to_string(rank));
    }
    std::vector<bool> used(rank, false);
    const std::vector<int64_t> in_strides = Strides(in);
    Shape out(rank);
    std::vector<int64_t> strides(rank);
    for (int d = 0; d < rank; ++d) {
      const int64_t p = perm[d];
      if (p < 0 || p >= rank || used[p]) {
        return setup.Error("perm " + ShapeToString(perm) + " is not a permutation");
      }
      used[p] = true;
      out[d] = in[p];
      strides[d] = in_strides[p];
    }
    view_ = StridedView(out, strides, 0);
    outputs->push_back({setup.info(0).dtype, std::move(out)});
    return Status::Ok();
  }
};

class ConcatKernel final : public Kernel {
 public:
  Status Setup(const KernelSetup& setup, std::vector<TensorInfo>* outputs) override {
    SERDAB_RETURN_IF_ERROR(CheckInputCount(setup, setup.num_inputs(), setup.num_inputs()));
    if (setup.num_inputs() == 0) return setup.Error("has no inputs");
    SERDAB_RETURN_IF_ERROR(setup.n().attrs.CheckKinds(setup.n().name, {"axis"}));
    if (!setup.n().attrs.has("axis")) return setup.Error("attribute 'axis' is missing");
    const TensorInfo& first = setup.info(0);
    const int rank = static_cast<int>(first.shape.size());
    if (rank == 0) return setup.Error("cannot concatenate scalars");
    SERDAB_ASSIGN_OR_RETURN(const int axis,
                            NormalizeAxis(setup, setup.n().attrs.GetInt("axis", 0), rank));
    Shape out = first.shape;
    out[axis] = 0;
    for (int i = 0; i < setup.num_inputs(); ++i) {
      const TensorInfo& info = setup.info(i);
      bool matches = info.dtype == first.dtype && info.shape.size() == first.shape.size();
      for (int d = 0; matches && d < rank; ++d) {
        matches = d == axis || info.shape[d] == first.shape[d];
      }
      if (!matches) {
        return setup.Error("input " + std::to_string(i) + " (" + DataTypeName(info.dtype) + " " +
                           ShapeToString(info.shape) + ") does not match input 0 (" +
                           DataTypeName(first.dtype) + " " + ShapeToString(first.shape) +
                           ") outside axis " + std::to_string(axis));
      }
      out[axis] += info.shape[axis];
    }
    outer_ = NumElements(Shape(out.begin(), out.begin() + axis));
    const int64_t inner = NumElements(Shape(out.begin() + axis + 1, out.end()));
    block_bytes_.clear();
    for (int i = 0; i < setup.num_inputs(); ++i) {
      block_bytes_.push_back(static_cast<size_t>(setup.info(i).shape[axis] * inner) *
                             ElementSize(first.dtype));
    }
    outputs->push_back({first.dtype, std::move(out)});
    return Status::Ok();
  }

  Status Run(const KernelIO& io) const override {
    char* dst = static_cast<char*>(io.outputs[0]->raw());
    for (int64_t o = 0; o < outer_; ++o) {
      for (size_t i = 0; i < block_bytes_.size(); ++i) {
        const size_t bytes = block_bytes_[i];
        const char* src = static_cast<const char*>(io.inputs[i]->raw()) + o * bytes;
        // The model's planner may have placed the input here already.
        if (bytes != 0 && src != dst) std::memcpy(dst, src, bytes);
        dst += bytes;
      }
    }
    return Status::Ok();
  }

 private:
  int64_t outer_ = 0;
  std::vector<size_t> block_bytes_;  // per input: bytes per outer index
};

class SplitKernel final : public Kernel {
 public:
  Status Setup(const KernelSetup& setup, std::vector<TensorInfo>* outputs) override {
    SERDAB_RETURN_IF_ERROR(CheckInputCount(setup, 1, 2));
    SERDAB_RETURN_IF_ERROR(
        setup.n().attrs.CheckKinds(setup.n().name, {"axis", "num_outputs"}, {"split"}));
    const TensorInfo& in = setup.info(0);
    const int rank = static_cast<int>(in.shape.size());
    SERDAB_ASSIGN_OR_RETURN(const int axis,
                            NormalizeAxis(setup, setup.n().attrs.GetInt("axis", 0), rank));
    const int64_t dim = in.shape[axis];
    const int64_t num_outputs = static_cast<int64_t>(setup.n().outputs.size());
    if (num_outputs == 0) return setup.Error("has no outputs");

    std::vector<int64_t> split;
    if (setup.opset < 13) {
      split = setup.n().attrs.GetInts("split");
    } else if (setup.has_input(1)) {
      SERDAB_ASSIGN_OR_RETURN(split, ConstantInts(setup, 1, "split"));
    }
    if (split.empty()) {
      if (setup.n().attrs.has("num_outputs")) {
        // Opset 18: ceil-sized parts, the last one smaller when uneven.
        const int64_t n = setup.n().attrs.GetInt("num_outputs", 0);
        if (n != num_outputs) {
          return setup.Error("num_outputs " + std::to_string(n) + " but the node has " +
                             std::to_string(num_outputs) + " outputs");
        }
        const int64_t part = (dim + n - 1) / n;
        for (int64_t i = 0; i < n; ++i) {
          split.push_back(std::max<int64_t>(0, std::min(part, dim - i * part)));
        }
      } else {
        if (dim % num_outputs != 0) {
          return setup.Error("cannot split axis " + std::to_string(axis) + " of size " +
                             std::to_string(dim) + " into " + std::to_string(num_outputs) +
                             " equal parts");
        }
        split.assign(num_outputs, dim / num_outputs);
      }
    }
    if (static_cast<int64_t>(split.size()) != num_outputs) {
      return setup.Error("split has " + std::to_string(split.size()) + " sizes for " +
                         std::to_string(num_outputs) + " outputs");
    }
    int64_t total = 0;
    bool fits = true;
    for (int64_t s : split) {
      if (s < 0) return setup.Error("split " + ShapeToString(split) + " has a negative size");
      // Compared before adding, so that no sum of the model's sizes overflows.
      fits = fits && s <= dim - total;
      if (fits) total += s;
    }
    if (!fits || total != dim) {
      return setup.Error("split " + ShapeToString(split) + " does not add up to axis " +
                         std::to_string(axis) + "'s size " + std::to_string(dim));
    }

    const std::vector<int64_t> strides = Strides(in.shape);
    views_.clear();
    int64_t begin = 0;
    for (int64_t s : split) {
      Shape out = in.shape;
      out[axis] = s;
      views_.emplace_back(out, strides, begin * strides[axis]);
      outputs->push_back({in.dtype, std::move(out)});
      begin += s;
    }
    return Status::Ok();
  }

  Status Run(const KernelIO& io) const override {
    for (size_t i = 0; i < views_.size(); ++i) views_[i].CopyTo(*io.inputs[0], io.outputs[i]);
    return Status::Ok();
  }

 private:
  std::vector<StridedView> views_;
};

class SliceKernel final : public StridedCopyKernel {
 public:
  Status Setup(const KernelSetup& setup, std::vector<TensorInfo>* outputs) override {
    SERDAB_RETURN_IF_ERROR(
        CheckInputCount(setup, setup.opset < 10 ? 1 : 3, setup.opset < 10 ? 1 : 5));
    std::vector<int64_t> starts, ends, axes, steps;
    if (setup.opset < 10) {
      SERDAB_RETURN_IF_ERROR(
          setup.n().attrs.CheckKinds(setup.n().name, {}, {"starts", "ends", "axes"}));
      if (!setup.n().attrs.has("starts") || !setup.n().attrs.has("ends")) {
        return setup.Error("attributes 'starts' and 'ends' are required");
      }
      starts = setup.n().attrs.GetInts("starts");
      ends = setup.n().attrs.GetInts("ends");
      axes = setup.n().attrs.GetInts("axes");
    } else {
      SERDAB_ASSIGN_OR_RETURN(starts, ConstantInts(setup, 1, "starts"));
      SERDAB_ASSIGN_OR_RETURN(ends, ConstantInts(setup, 2, "ends"));
      if (setup.has_input(3)) {
        SERDAB_ASSIGN_OR_RETURN(axes, ConstantInts(setup, 3, "axes"));
      }
      if (setup.has_input(4)) {
        SERDAB_ASSIGN_OR_RETURN(steps, ConstantInts(setup, 4, "steps"));
      }
    }
    const TensorInfo& in = setup.info(0);
    const int rank = static_cast<int>(in.shape.size());
    const size_t n = starts.size();
    if (axes.empty()) {
      for (size_t i = 0; i < n; ++i) axes.push_back(static_cast<int64_t>(i));
    }
    if (steps.empty()) steps.assign(n, 1);
    if (ends.size() != n || axes.size() != n || steps.size() != n) {
      return setup.Error("starts, ends, axes and steps differ in length");
    }

    Shape out = in.shape;
    const std::vector<int64_t> in_strides = Strides(in.shape);
    std::vector<int64_t> strides = in_strides;
    int64_t offset = 0;
    std::vector<bool> seen(rank, false);
    for (size_t i = 0; i < n; ++i) {
      SERDAB_ASSIGN_OR_RETURN(const int axis, NormalizeAxis(setup, axes[i], rank));
      if (seen[axis]) return setup.Error("axis " + std::to_string(axes[i]) + " is repeated");
      seen[axis] = true;
      if (steps[i] == 0) return setup.Error("step 0 on axis " + std::to_string(axes[i]));
      int64_t start = 0, len = 0;
      ClampRange(in.shape[axis], starts[i], ends[i], &steps[i], &start, &len);
      out[axis] = len;
      offset += start * in_strides[axis];
      strides[axis] = steps[i] * in_strides[axis];
    }
    view_ = StridedView(out, strides, offset);
    outputs->push_back({in.dtype, std::move(out)});
    return Status::Ok();
  }

 private:
  // ONNX Slice index rules for one axis of size `dim`: negative indices count
  // from the end, then starts and ends are clamped (to [0, dim] going forward,
  // to [0, dim-1] and [-1, dim-1] going backward), so INT64_MAX and INT64_MIN
  // mean "to the end". Also clamps *step to the axis size so step * stride
  // cannot overflow.
  static void ClampRange(int64_t dim, int64_t start, int64_t end, int64_t* step, int64_t* first,
                         int64_t* len) {
    *first = 0;
    *len = 0;
    if (dim == 0) return;
    if (start < 0) start += dim;
    if (end < 0) end += dim;
    if (*step > 0) {
      start = std::clamp<int64_t>(start, 0, dim);
      end = std::clamp<int64_t>(end, 0, dim);
      if (end > start) *len = (end - start - 1) / *step + 1;
      *step = std::min(*step, dim);
    } else {
      start = std::clamp<int64_t>(start, 0, dim - 1);
      end = std::clamp<int64_t>(end, -1, dim - 1);
      if (start > end) *len = (end - start + 1) / *step + 1;
      *step = std::max(*step, -dim);
    }
    *first = *len > 0 ? start : 0;
  }
};

class GatherKernel final : public Kernel {
 public:
  Status Setup(const KernelSetup& setup, std::vector<TensorInfo>* outputs) override {
    SERDAB_RETURN_IF_ERROR(CheckInputCount(setup, 2, 2));
    SERDAB_RETURN_IF_ERROR(setup.n().attrs.CheckKinds(setup.n().name, {"axis"}));
    const TensorInfo& data = setup.info(0);
    const TensorInfo& indices = setup.info(1);
    if (indices.dtype != DataType::kInt64) {
      return setup.Error(std::string("indices must be int64, got ") + DataTypeName(indices.dtype));
    }
    const int rank = static_cast<int>(data.shape.size());
    if (rank == 0) return setup.Error("cannot gather from a scalar");
    SERDAB_ASSIGN_OR_RETURN(const int axis,
                            NormalizeAxis(setup, setup.n().attrs.GetInt("axis", 0), rank));
    axis_dim_ = data.shape[axis];
    if (const Tensor* c = setup.constant(1)) {
      SERDAB_RETURN_IF_ERROR(CheckIndices(*c).WithContext("node '" + setup.n().name + "'"));
    }
    outer_ = NumElements(Shape(data.shape.begin(), data.shape.begin() + axis));
    block_bytes_ =
        static_cast<size_t>(NumElements(Shape(data.shape.begin() + axis + 1, data.shape.end()))) *
        ElementSize(data.dtype);
    Shape out(data.shape.begin(), data.shape.begin() + axis);
    out.insert(out.end(), indices.shape.begin(), indices.shape.end());
    out.insert(out.end(), data.shape.begin() + axis + 1, data.shape.end());
    outputs->push_back({data.dtype, std::move(out)});
    return Status::Ok();
  }

  Status Run(const KernelIO& io) const override {
    const Tensor& indices = *io.inputs[1];
    SERDAB_RETURN_IF_ERROR(CheckIndices(indices));
    const int64_t* idx = indices.data<int64_t>();
    const int64_t count = indices.num_elements();
    if (block_bytes_ == 0 || count == 0) return Status::Ok();
    const char* src = static_cast<const char*>(io.inputs[0]->raw());
    char* dst = static_cast<char*>(io.outputs[0]->raw());
    for (int64_t o = 0; o < outer_; ++o) {
      const char* plane = src + o * axis_dim_ * block_bytes_;
      for (int64_t j = 0; j < count; ++j) {
        const int64_t k = idx[j] < 0 ? idx[j] + axis_dim_ : idx[j];
        std::memcpy(dst, plane + k * block_bytes_, block_bytes_);
        dst += block_bytes_;
      }
    }
    return Status::Ok();
  }

 private:
  Status CheckIndices(const Tensor& indices) const {
    const int64_t* idx = indices.data<int64_t>();
    for (int64_t j = 0; j < indices.num_elements(); ++j) {
      if (idx[j] < -axis_dim_ || idx[j] >= axis_dim_) {
        return Status::OutOfRange("Gather index " + std::to_string(idx[j]) +
                                  " is out of range for an axis of size " +
                                  std::to_string(axis_dim_));
      }
    }
    return Status::Ok();
  }

  int64_t axis_dim_ = 0;
  int64_t outer_ = 0;
  size_t block_bytes_ = 0;  // bytes of one slice along the axis
};

// Numpy-style broadcast of the input to a constant shape.
class ExpandKernel final : public StridedCopyKernel {
 public:
  Status Setup(const KernelSetup& setup, std::vector<TensorInfo>* outputs) override {
    SERDAB_RETURN_IF_ERROR(CheckInputCount(setup, 2, 2));
    SERDAB_ASSIGN_OR_RETURN(const std::vector<int64_t> target, ConstantInts(setup, 1, "shape"));
    const TensorInfo& in = setup.info(0);
    const int in_rank = static_cast<int>(in.shape.size());
    const int rank = std::max(in_rank, static_cast<int>(target.size()));
    const std::vector<int64_t> in_strides = Strides(in.shape);
    Shape out(rank);
    std::vector<int64_t> strides(rank, 0);
    for (int d = 0; d < rank; ++d) {
      const int di = d - (rank - in_rank);
      const int dt = d - (rank - static_cast<int>(target.size()));
      const int64_t a = di >= 0 ? in.shape[di] : 1;
      const int64_t b = dt >= 0 ? target[dt] : 1;
      if (a != b && a != 1 && b != 1) {
        return setup.Error("cannot broadcast input shape " + ShapeToString(in.shape) + " to " +
                           ShapeToString(target));
      }
      out[d] = a == 1 ? b : a;
      if (a != 1) strides[d] = in_strides[di];
    }
    view_ = StridedView(out, strides, 0);
    outputs->push_back({in.dtype, std::move(out)});
    return Status::Ok();
  }
};

// The input's shape as an int64 tensor, optionally a [start, end) range of it
// (opset 15). Reads only the input's shape, never its data.
class ShapeKernel final : public Kernel {
 public:
  Status Setup(const KernelSetup& setup, std::vector<TensorInfo>* outputs) override {
    SERDAB_RETURN_IF_ERROR(CheckInputCount(setup, 1, 1));
    SERDAB_RETURN_IF_ERROR(setup.n().attrs.CheckKinds(setup.n().name, {"start", "end"}));
    const int64_t rank = static_cast<int64_t>(setup.info(0).shape.size());
    auto clamp = [rank](int64_t i) { return std::clamp<int64_t>(i < 0 ? i + rank : i, 0, rank); };
    start_ = clamp(setup.n().attrs.GetInt("start", 0));
    const int64_t end = clamp(setup.n().attrs.GetInt("end", rank));
    count_ = std::max<int64_t>(0, end - start_);
    outputs->push_back({DataType::kInt64, {count_}});
    return Status::Ok();
  }

  Status Run(const KernelIO& io) const override {
    const Shape& shape = io.inputs[0]->shape();
    int64_t* out = io.outputs[0]->data<int64_t>();
    for (int64_t i = 0; i < count_; ++i) out[i] = shape[start_ + i];
    return Status::Ok();
  }

 private:
  int64_t start_ = 0;
  int64_t count_ = 0;
};

class ConstantKernel final : public Kernel {
 public:
  Status Setup(const KernelSetup& setup, std::vector<TensorInfo>* outputs) override {
    SERDAB_RETURN_IF_ERROR(CheckInputCount(setup, 0, 0));
    const Attributes& attrs = setup.n().attrs;
    SERDAB_RETURN_IF_ERROR(
        attrs.CheckKinds(setup.n().name, {"value_int"}, {"value_ints"}, {"value_float"}));
    for (const char* name : {"sparse_value", "value_string", "value_strings"}) {
      if (attrs.has(name)) return setup.Unsupported(std::string("attribute '") + name + "'");
    }
    if (const Tensor* t = attrs.GetTensor("value")) {
      if (!IsSupportedType(t->dtype())) {
        return setup.Unsupported(std::string("value of data type ") + DataTypeName(t->dtype()));
      }
      value_ = *t;
    } else if (attrs.has("value_float")) {
      SERDAB_RETURN_IF_ERROR(
          MakeValue<float>(DataType::kFloat32, {}, {attrs.GetFloat("value_float", 0.f)}));
    } else if (attrs.has("value_floats")) {
      const std::vector<float> v = attrs.GetFloats("value_floats");
      SERDAB_RETURN_IF_ERROR(
          MakeValue<float>(DataType::kFloat32, {static_cast<int64_t>(v.size())}, v));
    } else if (attrs.has("value_int")) {
      SERDAB_RETURN_IF_ERROR(
          MakeValue<int64_t>(DataType::kInt64, {}, {attrs.GetInt("value_int", 0)}));
    } else if (attrs.has("value_ints")) {
      const std::vector<int64_t> v = attrs.GetInts("value_ints");
      SERDAB_RETURN_IF_ERROR(
          MakeValue<int64_t>(DataType::kInt64, {static_cast<int64_t>(v.size())}, v));
    } else if (attrs.has("value")) {
      return setup.Error("attribute 'value' must be a tensor");
    } else {
      return setup.Error("has no value attribute");
    }
    outputs->push_back(value_.info());
    return Status::Ok();
  }

  Status Run(const KernelIO& io) const override {
    if (value_.bytes() > 0) std::memcpy(io.outputs[0]->raw(), value_.raw(), value_.bytes());
    return Status::Ok();
  }

 private:
  template <typename T>
  Status MakeValue(DataType dtype, Shape shape, const std::vector<T>& values) {
    SERDAB_ASSIGN_OR_RETURN(value_, Tensor::Create(dtype, std::move(shape)));
    if (!values.empty()) std::memcpy(value_.raw(), values.data(), values.size() * sizeof(T));
    return Status::Ok();
  }

  Tensor value_;
};

class ConstantOfShapeKernel final : public Kernel {
 public:
  Status Setup(const KernelSetup& setup, std::vector<TensorInfo>* outputs) override {
    SERDAB_RETURN_IF_ERROR(CheckInputCount(setup, 1, 1));
    SERDAB_ASSIGN_OR_RETURN(const Shape shape, ConstantInts(setup, 0, "input"));
    for (int64_t d : shape) {
      if (d < 0) return setup.Error("shape " + ShapeToString(shape) + " has a negative size");
    }
    if (const Tensor* value = setup.n().attrs.GetTensor("value")) {
      if (!IsSupportedType(value->dtype())) {
        return setup.Unsupported(std::string("value of data type ") + DataTypeName(value->dtype()));
      }
      if (value->num_elements() != 1) {
        return setup.Error("value must hold one element, got shape " +
                           ShapeToString(value->shape()));
      }
      dtype_ = value->dtype();
      std::memcpy(&bits_, value->raw(), value->bytes());
    } else if (setup.n().attrs.has("value")) {
      return setup.Error("attribute 'value' must be a tensor");
    }
    outputs->push_back({dtype_, shape});
    return Status::Ok();
  }

  Status Run(const KernelIO& io) const override {
    DispatchType(dtype_, [&](auto tag) {
      using T = decltype(tag);
      T v;
      std::memcpy(&v, &bits_, sizeof(T));
      std::fill_n(io.outputs[0]->data<T>(), io.outputs[0]->num_elements(), v);
    });
    return Status::Ok();
  }

 private:
  DataType dtype_ = DataType::kFloat32;
  uint64_t bits_ = 0;  // the fill value's bytes; all zero is 0.f and 0
};

// Cast. Every float type maps to float32 and every integer or bool type to
// int64, but the values are converted as the target type would hold them:
// floats truncate toward zero, narrow integers wrap, bool is 0 or 1.
class CastKernel final : public Kernel {
 public:
  Status Setup(const KernelSetup& setup, std::vector<TensorInfo>* outputs) override {
    const bool pixels = PixelTableLookup::Present(setup.n());
    SERDAB_RETURN_IF_ERROR(CheckInputCount(setup, pixels ? 2 : 1, pixels ? 2 : 1));
    SERDAB_RETURN_IF_ERROR(setup.n().attrs.CheckKinds(
        setup.n().name, {"to", kPixelAxisAttr, kPixelChannelsFirstAttr}));
    if (!setup.n().attrs.has("to")) return setup.Error("attribute 'to' is missing");
    if (pixels) {
      pixels_.emplace();
      TensorInfo out;
      SERDAB_RETURN_IF_ERROR(pixels_->Setup(setup, &out));
      outputs->push_back(std::move(out));
      return Status::Ok();
    }
    to_ = setup.n().attrs.GetInt("to", 0);
    switch (to_) {
      case kOnnxFloat:
      case kOnnxFloat16:
      case kOnnxDouble:
        out_type_ = DataType::kFloat32;
        break;
      case kOnnxUint8:
      case kOnnxInt8:
      case kOnnxUint16:
      case kOnnxInt16:
      case kOnnxInt32:
      case kOnnxInt64:
      case kOnnxBool:
      case kOnnxUint32:
      case kOnnxUint64:
        out_type_ = DataType::kInt64;
        break;
      default:
        return setup.Unsupported("cast to ONNX data type " + std::to_string(to_));
    }
    outputs->push_back({out_type_, setup.info(0).shape});
    return Status::Ok();
  }

  Status Run(const KernelIO& io) const override {
    const Tensor& in = *io.inputs[0];
    Tensor& out = *io.outputs[0];
    if (pixels_.has_value()) {
      pixels_->Run(in, &out, io.pool);
      return Status::Ok();
    }
    const int64_t n = in.num_elements();
    if (out_type_ == DataType::kFloat32) {
      float* dst = out.data<float>();
      if (in.dtype() == DataType::kFloat32) {
        if (dst != in.data<float>() && n > 0) std::memcpy(dst, in.raw(), in.bytes());
      } else if (in.dtype() == DataType::kUint8) {
        const uint8_t* src = in.data<uint8_t>();
        for (int64_t i = 0; i < n; ++i) dst[i] = static_cast<float>(src[i]);
      } else {
        const int64_t* src = in.data<int64_t>();
        for (int64_t i = 0; i < n; ++i) dst[i] = static_cast<float>(src[i]);
      }
      return Status::Ok();
    }
    int64_t* dst = out.data<int64_t>();
    if (in.dtype() == DataType::kUint8) {
      const uint8_t* src = in.data<uint8_t>();
      for (int64_t i = 0; i < n; ++i) dst[i] = Narrow(src[i]);
    } else if (in.dtype() == DataType::kFloat32) {
      const float* src = in.data<float>();
      if (to_ == kOnnxBool) {
        for (int64_t i = 0; i < n; ++i) dst[i] = src[i] != 0.f ? 1 : 0;
      } else {
        for (int64_t i = 0; i < n; ++i) dst[i] = Narrow(TruncateToInt64(src[i]));
      }
    } else {
      const int64_t* src = in.data<int64_t>();
      for (int64_t i = 0; i < n; ++i) dst[i] = Narrow(src[i]);
    }
    return Status::Ok();
  }

 private:
  // Truncation toward zero, saturating out-of-range values and sending NaN to
  // 0 where a plain static_cast would be undefined behaviour.
  static int64_t TruncateToInt64(float x) {
    constexpr float kLimit = 9.2233720368547758e18f;  // 2^63
    if (std::isnan(x)) return 0;
    if (x >= kLimit) return std::numeric_limits<int64_t>::max();
    if (x <= -kLimit) return std::numeric_limits<int64_t>::min();
    return static_cast<int64_t>(x);
  }

  // The value an int64 becomes when stored in the target integer type.
  int64_t Narrow(int64_t v) const {
    switch (to_) {
      case kOnnxUint8:
        return static_cast<uint8_t>(v);
      case kOnnxInt8:
        return static_cast<int8_t>(v);
      case kOnnxUint16:
        return static_cast<uint16_t>(v);
      case kOnnxInt16:
        return static_cast<int16_t>(v);
      case kOnnxInt32:
        return static_cast<int32_t>(v);
      case kOnnxUint32:
        return static_cast<uint32_t>(v);
      case kOnnxBool:
        return v != 0 ? 1 : 0;
      default:  // int64 and uint64 keep all 64 bits
        return v;
    }
  }

  int64_t to_ = 0;
  DataType out_type_ = DataType::kFloat32;
  std::optional<PixelTableLookup> pixels_;  // a fused Cast (pixel_table.h)
};

// Tile: output dimension d is input dimension d repeated repeats[d] times.
// Output index q * in[d] + r reads input index r, so the output is a strided
// view of the input with shape [repeats[0], in[0], repeats[1], in[1], ...] and
// stride 0 along every repeats[d].
class TileKernel final : public StridedCopyKernel {
 public:
  Status Setup(const KernelSetup& setup, std::vector<TensorInfo>* outputs) override {
    SERDAB_RETURN_IF_ERROR(CheckInputCount(setup, 2, 2));
    SERDAB_ASSIGN_OR_RETURN(const std::vector<int64_t> repeats, ConstantInts(setup, 1, "repeats"));
    const TensorInfo& in = setup.info(0);
    if (repeats.size() != in.shape.size()) {
      return setup.Error("has " + std::to_string(repeats.size()) + " repeats for input shape " +
                         ShapeToString(in.shape));
    }
    const std::vector<int64_t> in_strides = Strides(in.shape);
    Shape out, view_shape;
    std::vector<int64_t> view_strides;
    for (size_t d = 0; d < repeats.size(); ++d) {
      // Both factors are at most 2^31 (dimensions by TensorLimits), so the
      // product cannot overflow; CheckSize then bounds it.
      if (repeats[d] < 0 || repeats[d] > kMaxWindowGeometry) {
        return setup.Error("repeats[" + std::to_string(d) + "] = " + std::to_string(repeats[d]) +
                           " is not in [0, 2^31]");
      }
      out.push_back(in.shape[d] * repeats[d]);
      view_shape.insert(view_shape.end(), {repeats[d], in.shape[d]});
      view_strides.insert(view_strides.end(), {0, in_strides[d]});
    }
    SERDAB_RETURN_IF_ERROR(setup.CheckSize(in.dtype, out, "tiled output"));
    view_ = StridedView(view_shape, view_strides, 0);
    outputs->push_back({in.dtype, std::move(out)});
    return Status::Ok();
  }
};

// DepthToSpace on NCHW: [N, C, H, W] -> [N, C/b^2, H*b, W*b]. The output, seen
// as [N, C/b^2, H, b, W, b], is a strided view of the input whose channel
// strides depend on the mode: DCR (depth, column, row) takes block offset
// (i, j) from channel (i*b + j) * C/b^2 + c, CRD from channel c*b^2 + i*b + j.
class DepthToSpaceKernel final : public StridedCopyKernel {
 public:
  Status Setup(const KernelSetup& setup, std::vector<TensorInfo>* outputs) override {
    SERDAB_RETURN_IF_ERROR(CheckInputCount(setup, 1, 1));
    const Node& node = setup.n();
    SERDAB_RETURN_IF_ERROR(node.attrs.CheckKinds(node.name, {"blocksize"}, {}, {}, {"mode"}));
    const TensorInfo& in = setup.info(0);
    if (in.shape.size() != 4) {
      return setup.Error("input must be 4-D (NCHW), got shape " + ShapeToString(in.shape));
    }
    if (!node.attrs.has("blocksize")) return setup.Error("attribute 'blocksize' is missing");
    const int64_t b = node.attrs.GetInt("blocksize", 0);
    const std::string mode = node.attrs.GetString("mode", "DCR");
    if (mode != "DCR" && mode != "CRD") return setup.Error("unknown mode '" + mode + "'");
    const int64_t n = in.shape[0], c = in.shape[1], h = in.shape[2], w = in.shape[3];
    if (b < 1 || b > kMaxWindowGeometry || c % (b * b) != 0) {
      return setup.Error("blocksize " + std::to_string(b) + " does not divide " +
                         std::to_string(c) + " channels into blocks");
    }
    const int64_t oc = c / (b * b);
    const int64_t hw = h * w;
    const std::vector<int64_t> strides =
        mode == "DCR" ? std::vector<int64_t>{c * hw, hw, w, b * oc * hw, 1, oc * hw}
                      : std::vector<int64_t>{c * hw, b * b * hw, w, b * hw, 1, hw};
    view_ = StridedView({n, oc, h, b, w, b}, strides, 0);
    outputs->push_back({in.dtype, {n, oc, h * b, w * b}});
    return Status::Ok();
  }
};

// GatherElements: out[i] = data[i with its `axis` coordinate replaced by
// indices[i]]. Indices come from the model or from run-time data, so each is
// checked against the axis as it is read.
class GatherElementsKernel final : public Kernel {
 public:
  Status Setup(const KernelSetup& setup, std::vector<TensorInfo>* outputs) override {
    SERDAB_RETURN_IF_ERROR(CheckInputCount(setup, 2, 2));
    SERDAB_RETURN_IF_ERROR(setup.n().attrs.CheckKinds(setup.n().name, {"axis"}));
    const TensorInfo& data = setup.info(0);
    const TensorInfo& indices = setup.info(1);
    if (indices.dtype != DataType::kInt64) {
      return setup.Error(std::string("indices must be int64, got ") + DataTypeName(indices.dtype));
    }
    const int rank = static_cast<int>(data.shape.size());
    if (rank == 0) return setup.Error("cannot gather from a scalar");
    if (indices.shape.size() != data.shape.size()) {
      return setup.Error("indices " + ShapeToString(indices.shape) + " and data " +
                         ShapeToString(data.shape) + " differ in rank");
    }
    SERDAB_ASSIGN_OR_RETURN(axis_, NormalizeAxis(setup, setup.n().attrs.GetInt("axis", 0), rank));
    for (int d = 0; d < rank; ++d) {
      if (d != axis_ && indices.shape[d] > data.shape[d]) {
        return setup.Error("indices " + ShapeToString(indices.shape) + " exceed data " +
                           ShapeToString(data.shape) + " along dimension " + std::to_string(d));
      }
    }
    data_strides_ = Strides(data.shape);
    axis_dim_ = data.shape[axis_];
    outputs->push_back({data.dtype, indices.shape});
    return Status::Ok();
  }

  Status Run(const KernelIO& io) const override {
    Status status;
    DispatchType(io.inputs[0]->dtype(), [&](auto tag) {
      using T = decltype(tag);
      status = Gather(io.inputs[0]->data<T>(), *io.inputs[1], io.outputs[0]->data<T>());
    });
    return status;
  }

 private:
  template <typename T>
  Status Gather(const T* data, const Tensor& indices, T* out) const {
    const Shape& shape = indices.shape();
    const int rank = static_cast<int>(shape.size());
    const int64_t* idx = indices.data<int64_t>();
    std::vector<int64_t> index(rank, 0);
    // The data offset of `index` over every dimension but the axis.
    int64_t base = 0;
    for (int64_t i = 0; i < indices.num_elements(); ++i) {
      const int64_t k = idx[i] < 0 ? idx[i] + axis_dim_ : idx[i];
      if (k < 0 || k >= axis_dim_) {
        return Status::OutOfRange("GatherElements index " + std::to_string(idx[i]) +
                                  " is out of range for an axis of size " +
                                  std::to_string(axis_dim_));
      }
      out[i] = data[base + k * data_strides_[axis_]];
      for (int d = rank - 1; d >= 0; --d) {
        if (d != axis_) base += data_strides_[d];
        if (++index[d] < shape[d]) break;
        if (d != axis_) base -= data_strides_[d] * shape[d];
        index[d] = 0;
      }
    }
    return Status::Ok();
  }

  int axis_ = 0;
  int64_t axis_dim_ = 0;
  std::vector<int64_t> data_strides_;
};

// TopK: the k largest (or smallest) elements along `axis` and their indices,
// sorted (or in index order when `sorted` is 0). Equal values keep index order,
// as ONNX Runtime's do. k is a constant: it decides the output shape.
class TopKKernel final : public Kernel {
 public:
  Status Setup(const KernelSetup& setup, std::vector<TensorInfo>* outputs) override {
    const Node& node = setup.n();
    const bool k_input = setup.opset >= 10;
    SERDAB_RETURN_IF_ERROR(CheckInputCount(setup, k_input ? 2 : 1, k_input ? 2 : 1));
    SERDAB_RETURN_IF_ERROR(node.attrs.CheckKinds(node.name, {"axis", "k", "largest", "sorted"}));
    if (node.outputs.size() != 2) return setup.Error("expects 2 outputs");
    const TensorInfo& in = setup.info(0);
    const int rank = static_cast<int>(in.shape.size());
    if (rank == 0) return setup.Error("input must have at least one dimension");
    SERDAB_ASSIGN_OR_RETURN(const int axis,
                            NormalizeAxis(setup, node.attrs.GetInt("axis", -1), rank));
    if (k_input) {
      SERDAB_ASSIGN_OR_RETURN(const std::vector<int64_t> k, ConstantInts(setup, 1, "K"));
      if (k.size() != 1) return setup.Error("input 'K' must hold one value");
      k_ = k[0];
    } else {
      if (!node.attrs.has("k")) return setup.Error("attribute 'k' is missing");
      k_ = node.attrs.GetInt("k", 0);
    }
    if (k_ < 0 || k_ > in.shape[axis]) {
      return setup.Error("k = " + std::to_string(k_) + " is not in [0, " +
                         std::to_string(in.shape[axis]) + "]");
    }
    largest_ = node.attrs.GetInt("largest", 1) != 0;
    sorted_ = node.attrs.GetInt("sorted", 1) != 0;
    n_ = in.shape[axis];
    outer_ = NumElements(Shape(in.shape.begin(), in.shape.begin() + axis));
    inner_ = NumElements(Shape(in.shape.begin() + axis + 1, in.shape.end()));
    Shape out = in.shape;
    out[axis] = k_;
    outputs->push_back({in.dtype, out});
    outputs->push_back({DataType::kInt64, out});
    return Status::Ok();
  }

  Status Run(const KernelIO& io) const override {
    DispatchType(io.inputs[0]->dtype(), [&](auto tag) {
      using T = decltype(tag);
      Select(io.inputs[0]->data<T>(), io.outputs[0]->data<T>(), io.outputs[1]->data<int64_t>());
    });
    return Status::Ok();
  }

  int64_t Flops() const override { return outer_ * inner_ * n_; }

 private:
  template <typename T>
  void Select(const T* x, T* values, int64_t* indices) const {
    std::vector<int64_t> order(n_);
    for (int64_t o = 0; o < outer_; ++o) {
      for (int64_t i = 0; i < inner_; ++i) {
        const T* xs = x + o * n_ * inner_ + i;
        // a goes first if it is better, or as good and earlier. NaN ranks
        // above every number when selecting the largest and below every number
        // when selecting the smallest.
        auto better = [&](int64_t a, int64_t b) {
          const T va = xs[a * inner_], vb = xs[b * inner_];
          if (va == vb || (va != va && vb != vb)) return a < b;
          if (va != va) return largest_;
          if (vb != vb) return !largest_;
          return largest_ ? va > vb : va < vb;
        };
        for (int64_t j = 0; j < n_; ++j) order[j] = j;
        std::partial_sort(order.begin(), order.begin() + k_, order.end(), better);
        if (!sorted_) std::sort(order.begin(), order.begin() + k_);
        for (int64_t j = 0; j < k_; ++j) {
          const int64_t out = o * k_ * inner_ + j * inner_ + i;
          values[out] = xs[order[j] * inner_];
          indices[out] = order[j];
        }
      }
    }
  }

  int64_t k_ = 0;
  bool largest_ = true;
  bool sorted_ = true;
  int64_t n_ = 0;
  int64_t outer_ = 0;
  int64_t inner_ = 0;
};

}  // namespace

void RegisterShapeOps(OpRegistry* registry) {
  constexpr KernelFlavor kRef = KernelFlavor::kReference;
  RegisterKernel<ReshapeKernel>(registry, "Reshape", kRef);
  RegisterKernel<FlattenKernel>(registry, "Flatten", kRef);
  RegisterKernel<SqueezeKernel>(registry, "Squeeze", kRef);
  RegisterKernel<UnsqueezeKernel>(registry, "Unsqueeze", kRef);
  RegisterKernel<IdentityKernel>(registry, "Identity", kRef);
  RegisterKernel<DropoutKernel>(registry, "Dropout", kRef);
  RegisterKernel<TransposeKernel>(registry, "Transpose", kRef);
  RegisterKernel<ConcatKernel>(registry, "Concat", kRef);
  RegisterKernel<SplitKernel>(registry, "Split", kRef);
  RegisterKernel<SliceKernel>(registry, "Slice", kRef);
  RegisterKernel<GatherKernel>(registry, "Gather", kRef);
  RegisterKernel<ExpandKernel>(registry, "Expand", kRef);
  RegisterKernel<ShapeKernel>(registry, "Shape", kRef);
  RegisterKernel<ConstantKernel>(registry, "Constant", kRef);
  RegisterKernel<ConstantOfShapeKernel>(registry, "ConstantOfShape", kRef);
  RegisterKernel<CastKernel>(registry, "Cast", kRef);
  RegisterKernel<TileKernel>(registry, "Tile", kRef);
  RegisterKernel<DepthToSpaceKernel>(registry, "DepthToSpace", kRef);
  RegisterKernel<GatherElementsKernel>(registry, "GatherElements", kRef);
  RegisterKernel<TopKKernel>(registry, "TopK", kRef);
}

}  // namespace serdab::engine
