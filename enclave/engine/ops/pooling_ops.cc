// MaxPool, AveragePool, GlobalAveragePool, GlobalMaxPool and ReduceMean.
//
// Window semantics follow ONNX and PyTorch: with ceil_mode the last window
// must start inside the input or the left padding, padding never wins a max,
// and AveragePool with count_include_pad divides by the padded window size
// clipped at the end of the padding.
#include <algorithm>
#include <cstdint>
#include <cstring>
#include <limits>
#include <string>
#include <vector>

#include "enclave/engine/kernel.h"
#include "enclave/engine/ops/pool_params.h"
#include "enclave/engine/ops/register_ops.h"

namespace serdab::engine {
namespace {

int64_t CeilDiv(int64_t a, int64_t b) { return (a + b - 1) / b; }

// The window of output index o along one axis of size `in`.
PoolWindow MakeWindow(int64_t o, int64_t in, int64_t kernel, int64_t stride, int64_t dilation,
                      int64_t pad_begin, int64_t pad_end) {
  PoolWindow w;
  w.start = o * stride - pad_begin;
  w.first_tap = w.start >= 0 ? 0 : CeilDiv(-w.start, dilation);
  w.end_tap = w.start > in - 1 ? 0 : std::min(kernel, (in - 1 - w.start) / dilation + 1);
  w.end_tap = std::max(w.end_tap, w.first_tap);
  w.padded_size = std::min(w.start + (kernel - 1) * dilation + 1, in + pad_end) - w.start;
  return w;
}

// Output size and pads along one axis. pad_begin/pad_end hold the explicit
// pads on entry and the pads actually used on return.
Status AxisOutput(const KernelSetup& setup, const std::string& auto_pad, bool ceil_mode, int64_t in,
                  int64_t kernel, int64_t stride, int64_t dilation, int64_t* pad_begin,
                  int64_t* pad_end, int64_t* out) {
  const int64_t extent = (kernel - 1) * dilation + 1;
  if (auto_pad == "SAME_UPPER" || auto_pad == "SAME_LOWER") {
    *out = CeilDiv(in, stride);
    const int64_t total = std::max<int64_t>(0, (*out - 1) * stride + extent - in);
    *pad_begin = auto_pad == "SAME_UPPER" ? total / 2 : total - total / 2;
    *pad_end = total - *pad_begin;
    return Status::Ok();
  }
  if (auto_pad == "VALID") {
    *pad_begin = 0;
    *pad_end = 0;
    ceil_mode = false;
  }
  const int64_t span = in + *pad_begin + *pad_end - extent;
  if (span < 0) {
    return setup.Error("kernel extent " + std::to_string(extent) +
                       " is larger than the padded input (" +
                       std::to_string(in + *pad_begin + *pad_end) + ")");
  }
  *out = (ceil_mode ? CeilDiv(span, stride) : span / stride) + 1;
  // The last window must start inside the input or the left padding.
  if (ceil_mode && (*out - 1) * stride >= in + *pad_begin) --*out;
  return Status::Ok();
}

Status CheckFloatInput(const KernelSetup& setup) {
  if (setup.num_inputs() < 1 || !setup.has_input(0)) return setup.Error("input X is missing");
  if (setup.info(0).dtype != DataType::kFloat32) {
    return setup.Unsupported(std::string("input of type ") + DataTypeName(setup.info(0).dtype) +
                             "; only float32 is supported");
  }
  return Status::Ok();
}

class PoolKernel : public Kernel {
 public:
  explicit PoolKernel(PoolKind kind) : kind_(kind) {}

  Status Setup(const KernelSetup& setup, std::vector<TensorInfo>* outputs) override {
    SERDAB_RETURN_IF_ERROR(ParsePoolParams(setup, kind_, &p_));
    outputs->assign(1, TensorInfo{DataType::kFloat32, p_.output_shape()});
    return Status::Ok();
  }

  Status Run(const KernelIO& io) const override {
    const float* x = io.inputs[0]->data<float>();
    float* y = io.outputs[0]->data<float>();
    const int64_t in_plane = p_.in_h * p_.in_w;
    const int64_t out_plane = p_.out_h * p_.out_w;
    for (int64_t volume = 0; volume < p_.planes(); ++volume) {
      for (int64_t od = 0; od < p_.out_d; ++od) {
        const PoolWindow& z = p_.depths[od];
        const float* in = x + volume * p_.in_d * in_plane;
        float* out = y + (volume * p_.out_d + od) * out_plane;
        for (int64_t oh = 0; oh < p_.out_h; ++oh) {
          const PoolWindow& r = p_.rows[oh];
          for (int64_t ow = 0; ow < p_.out_w; ++ow) {
            const PoolWindow& c = p_.cols[ow];
            float value;
            if (kind_ == PoolKind::kMax) {
              value = -std::numeric_limits<float>::infinity();
              for (int64_t k = z.first_tap; k < z.end_tap; ++k) {
                const float* slice = in + (z.start + k * p_.dilation_d) * in_plane;
                for (int64_t i = r.first_tap; i < r.end_tap; ++i) {
                  const float* row = slice + (r.start + i * p_.dilation_h) * p_.in_w;
                  for (int64_t j = c.first_tap; j < c.end_tap; ++j) {
                    value = std::max(value, row[c.start + j * p_.dilation_w]);
                  }
                }
              }
            } else {
              float sum = 0.f;
              for (int64_t k = z.first_tap; k < z.end_tap; ++k) {
                const float* slice = in + (z.start + k) * in_plane;
                for (int64_t i = r.first_tap; i < r.end_tap; ++i) {
                  const float* row = slice + (r.start + i) * p_.in_w;
                  for (int64_t j = c.first_tap; j < c.end_tap; ++j) sum += row[c.start + j];
                }
              }
              const int64_t depth = p_.count_include_pad ? z.padded_size : z.taps();
              value = sum / static_cast<float>(depth * p_.Divisor(oh, ow));
            }
            out[oh * p_.out_w + ow] = value;
          }
        }
      }
    }
    return Status::Ok();
  }

  int64_t Flops() const override { return p_.Flops(); }

 private:
  PoolKind kind_;
  PoolParams p_;
};

class MaxPoolKernel final : public PoolKernel {
 public:
  MaxPoolKernel() : PoolKernel(PoolKind::kMax) {}
};

class AveragePoolKernel final : public PoolKernel {
 public:
  AveragePoolKernel() : PoolKernel(PoolKind::kAverage) {}
};

class GlobalPoolKernel : public Kernel {
 public:
  explicit GlobalPoolKernel(PoolKind kind) : kind_(kind) {}

  Status Setup(const KernelSetup& setup, std::vector<TensorInfo>* outputs) override {
    TensorInfo out;
    SERDAB_RETURN_IF_ERROR(ParseGlobalPoolParams(setup, &p_, &out));
    outputs->assign(1, out);
    return Status::Ok();
  }

  Status Run(const KernelIO& io) const override {
    const float* x = io.inputs[0]->data<float>();
    float* y = io.outputs[0]->data<float>();
    if (kind_ == PoolKind::kAverage) {
      MeanOfBlocks(x, p_.plane_size, y, 0, p_.planes);
      return Status::Ok();
    }
    for (int64_t plane = 0; plane < p_.planes; ++plane) {
      const float* in = x + plane * p_.plane_size;
      float max = -std::numeric_limits<float>::infinity();
      for (int64_t i = 0; i < p_.plane_size; ++i) max = std::max(max, in[i]);
      y[plane] = max;
    }
    return Status::Ok();
  }

  int64_t Flops() const override { return p_.planes * p_.plane_size; }

 private:
  PoolKind kind_;
  GlobalPoolParams p_;
};

class GlobalAveragePoolKernel final : public GlobalPoolKernel {
 public:
  GlobalAveragePoolKernel() : GlobalPoolKernel(PoolKind::kAverage) {}
};

class GlobalMaxPoolKernel final : public GlobalPoolKernel {
 public:
  GlobalMaxPoolKernel() : GlobalPoolKernel(PoolKind::kMax) {}
};

class ReduceMeanKernel final : public Kernel {
 public:
  Status Setup(const KernelSetup& setup, std::vector<TensorInfo>* outputs) override {
    TensorInfo out;
    SERDAB_RETURN_IF_ERROR(ParseReduceMeanParams(setup, &p_, &out));
    outputs->assign(1, out);
    return Status::Ok();
  }

  Status Run(const KernelIO& io) const override {
    const float* x = io.inputs[0]->data<float>();
    float* y = io.outputs[0]->data<float>();
    if (p_.trailing()) {
      MeanOfBlocks(x, p_.count, y, 0, p_.out_elements);
    } else {
      ReduceMeanGeneral(p_, x, y);
    }
    return Status::Ok();
  }

  int64_t Flops() const override { return p_.out_elements * p_.count; }

 private:
  ReduceMeanParams p_;
};

}  // namespace

Status ParsePoolParams(const KernelSetup& setup, PoolKind kind, PoolParams* p) {
  const Node& node = setup.n();
  SERDAB_RETURN_IF_ERROR(CheckFloatInput(setup));
  if (node.outputs.size() != 1) {
    return setup.Unsupported("the Indices output of MaxPool is not supported");
  }
  SERDAB_RETURN_IF_ERROR(
      node.attrs.CheckKinds(node.name, {"ceil_mode", "count_include_pad", "storage_order"},
                            {"kernel_shape", "strides", "pads", "dilations"}, {}, {"auto_pad"}));
  Shape x = setup.info(0).shape;
  if (x.size() < 3 || x.size() > 5) {
    return setup.Error("input must be [N,C,L], [N,C,H,W] or [N,C,D,H,W], got shape " +
                       ShapeToString(x));
  }
  const size_t rank = x.size() - 2;
  std::vector<int64_t> kernel = node.attrs.GetInts("kernel_shape");
  std::vector<int64_t> strides = node.attrs.GetInts("strides", std::vector<int64_t>(rank, 1));
  std::vector<int64_t> dilations = node.attrs.GetInts("dilations", std::vector<int64_t>(rank, 1));
  const std::vector<int64_t> pads = node.attrs.GetInts("pads", std::vector<int64_t>(2 * rank, 0));
  const std::string auto_pad = node.attrs.GetString("auto_pad", "NOTSET");
  const bool ceil_mode = node.attrs.GetInt("ceil_mode", 0) != 0;
  const std::string values = std::to_string(rank) + " values";
  if (kernel.size() != rank) return setup.Error("kernel_shape must have " + values);
  if (strides.size() != rank) return setup.Error("strides must have " + values);
  if (dilations.size() != rank) return setup.Error("dilations must have " + values);
  if (pads.size() != 2 * rank) return setup.Error("pads must have " + values + " per side");
  if (auto_pad != "NOTSET" && auto_pad != "SAME_UPPER" && auto_pad != "SAME_LOWER" &&
      auto_pad != "VALID") {
    return setup.Error("unknown auto_pad '" + auto_pad + "'");
  }
  // From here on every axis list is [depth, height, width]; the axes a 1-D
  // or 2-D pooling lacks have size 1 and a window of 1.
  const size_t missing = 3 - rank;
  x.insert(x.begin() + 2, missing, 1);
  kernel.insert(kernel.begin(), missing, 1);
  strides.insert(strides.begin(), missing, 1);
  dilations.insert(dilations.begin(), missing, 1);
  int64_t begin[3] = {0, 0, 0}, end[3] = {0, 0, 0};
  for (size_t i = 0; i < rank; ++i) {
    begin[missing + i] = pads[i];
    end[missing + i] = pads[rank + i];
  }
  for (int i = 0; i < 3; ++i) {
    for (int64_t v : {kernel[i], strides[i], dilations[i]}) {
      if (v < 1 || v > kMaxWindowGeometry) {
        return setup.Error("kernel_shape, strides and dilations must be in [1, 2^31]");
      }
    }
  }
  for (int64_t pad : pads) {
    if (pad < 0 || pad > kMaxWindowGeometry) return setup.Error("pads must be in [0, 2^31]");
  }
  if (kind == PoolKind::kAverage && (dilations[0] != 1 || dilations[1] != 1 || dilations[2] != 1)) {
    return setup.Unsupported("AveragePool with dilations");
  }

  p->kind = kind;
  p->spatial_rank = static_cast<int>(rank);
  p->batch = x[0];
  p->channels = x[1];
  p->in_d = x[2];
  p->in_h = x[3];
  p->in_w = x[4];
  p->kernel_d = kernel[0];
  p->kernel_h = kernel[1];
  p->kernel_w = kernel[2];
  p->stride_d = strides[0];
  p->stride_h = strides[1];
  p->stride_w = strides[2];
  p->dilation_d = dilations[0];
  p->dilation_h = dilations[1];
  p->dilation_w = dilations[2];
  p->count_include_pad = node.attrs.GetInt("count_include_pad", 0) != 0;
  int64_t* const in[3] = {&p->in_d, &p->in_h, &p->in_w};
  int64_t* const out[3] = {&p->out_d, &p->out_h, &p->out_w};
  for (int i = 0; i < 3; ++i) {
    SERDAB_RETURN_IF_ERROR(AxisOutput(setup, auto_pad, ceil_mode, *in[i], kernel[i], strides[i],
                                      dilations[i], &begin[i], &end[i], out[i]));
  }
  // One window per output row and column: the output must fit the limits first.
  SERDAB_RETURN_IF_ERROR(setup.CheckSize(DataType::kFloat32, p->output_shape(), "output"));
  std::vector<PoolWindow>* const windows[3] = {&p->depths, &p->rows, &p->cols};
  for (int i = 0; i < 3; ++i) {
    windows[i]->clear();
    for (int64_t o = 0; o < *out[i]; ++o) {
      const PoolWindow w =
          MakeWindow(o, *in[i], kernel[i], strides[i], dilations[i], begin[i], end[i]);
      if (w.taps() == 0) {
        return setup.Unsupported("a pooling window lies entirely in the padding (pads " +
                                 ShapeToString(pads) + ", kernel_shape " +
                                 ShapeToString(node.attrs.GetInts("kernel_shape")) + ")");
      }
      windows[i]->push_back(w);
    }
  }
  return Status::Ok();
}

Status ParseGlobalPoolParams(const KernelSetup& setup, GlobalPoolParams* p, TensorInfo* output) {
  SERDAB_RETURN_IF_ERROR(CheckFloatInput(setup));
  if (setup.n().outputs.size() != 1) return setup.Error("expects 1 output");
  const Shape& x = setup.info(0).shape;
  if (x.size() < 3) {
    return setup.Error("input must be [N, C, spatial...], got shape " + ShapeToString(x));
  }
  p->planes = x[0] * x[1];
  p->plane_size = 1;
  Shape out = {x[0], x[1]};
  for (size_t d = 2; d < x.size(); ++d) {
    p->plane_size *= x[d];
    out.push_back(1);
  }
  if (p->plane_size == 0) return setup.Error("input has an empty spatial dimension");
  *output = TensorInfo{DataType::kFloat32, out};
  return Status::Ok();
}

Status ParseReducedAxes(const KernelSetup& setup, bool axes_input, std::vector<bool>* reduce,
                        Shape* output_shape) {
  const Node& node = setup.n();
  SERDAB_RETURN_IF_ERROR(
      node.attrs.CheckKinds(node.name, {"keepdims", "noop_with_empty_axes"}, {"axes"}));
  const Shape& x = setup.info(0).shape;
  const int64_t rank = static_cast<int64_t>(x.size());

  std::vector<int64_t> axes;
  if (!axes_input) {
    axes = node.attrs.GetInts("axes");
  } else if (setup.has_input(1)) {
    const Tensor* t = setup.constant(1);
    if (t == nullptr) {
      return setup.Unsupported("input 'axes' must be a constant (it is computed at run time)");
    }
    if (t->dtype() != DataType::kInt64 || t->rank() > 1) {
      return setup.Error("input 'axes' must be a 1-D int64 tensor");
    }
    axes.assign(t->data<int64_t>(), t->data<int64_t>() + t->num_elements());
  }
  const bool keepdims = node.attrs.GetInt("keepdims", 1) != 0;
  // With no axes, a reduction reduces everything unless the node asks for
  // the identity instead.
  const bool noop = axes_input && node.attrs.GetInt("noop_with_empty_axes", 0) != 0;

  reduce->assign(x.size(), axes.empty() && !noop);
  for (int64_t axis : axes) {
    if (axis < -rank || axis >= rank) {
      return setup.Error("axis " + std::to_string(axis) + " is out of range for shape " +
                         ShapeToString(x));
    }
    if (axis < 0) axis += rank;
    if ((*reduce)[axis]) return setup.Error("axis " + std::to_string(axis) + " is repeated");
    (*reduce)[axis] = true;
  }
  output_shape->clear();
  for (size_t d = 0; d < x.size(); ++d) {
    if (!(*reduce)[d]) {
      output_shape->push_back(x[d]);
    } else if (keepdims) {
      output_shape->push_back(1);
    }
  }
  return Status::Ok();
}

Status ParseReduceMeanParams(const KernelSetup& setup, ReduceMeanParams* p, TensorInfo* output) {
  const Node& node = setup.n();
  SERDAB_RETURN_IF_ERROR(CheckFloatInput(setup));
  if (node.outputs.size() != 1) return setup.Error("expects 1 output");
  const Shape& x = setup.info(0).shape;
  std::vector<bool> reduce;
  Shape out;
  SERDAB_RETURN_IF_ERROR(ParseReducedAxes(setup, setup.opset >= 18, &reduce, &out));

  *p = ReduceMeanParams();
  p->count = 1;
  for (size_t d = 0; d < x.size(); ++d) {
    if (reduce[d]) p->count *= x[d];
    if (x[d] == 1) continue;
    if (!p->dims.empty() && p->reduced.back() == reduce[d]) {
      p->dims.back() *= x[d];
    } else {
      p->dims.push_back(x[d]);
      p->reduced.push_back(reduce[d]);
    }
  }
  if (p->dims.empty()) {
    p->dims.push_back(1);
    p->reduced.push_back(true);
  }
  p->out_strides.assign(p->dims.size(), 0);
  int64_t stride = 1;
  for (size_t d = p->dims.size(); d-- > 0;) {
    if (!p->reduced[d]) {
      p->out_strides[d] = stride;
      stride *= p->dims[d];
    }
  }
  p->out_elements = NumElements(out);
  *output = TensorInfo{DataType::kFloat32, out};
  return Status::Ok();
}

void ReduceMeanGeneral(const ReduceMeanParams& p, const float* x, float* y) {
  const int rank = static_cast<int>(p.dims.size());
  std::fill(y, y + p.out_elements, 0.f);
  const int64_t inner = p.dims.back();
  const int64_t rows = NumElements(p.dims) / std::max<int64_t>(inner, 1);
  std::vector<int64_t> index(rank, 0);
  int64_t out_off = 0;
  for (int64_t r = 0; r < rows; ++r) {
    const float* in = x + r * inner;
    if (p.reduced.back()) {
      y[out_off] += SumBlocked(in, inner);
    } else {
      for (int64_t i = 0; i < inner; ++i) y[out_off + i] += in[i];
    }
    for (int d = rank - 2; d >= 0; --d) {
      out_off += p.out_strides[d];
      if (++index[d] < p.dims[d]) break;
      out_off -= p.out_strides[d] * p.dims[d];
      index[d] = 0;
    }
  }
  const float divisor = static_cast<float>(p.count);
  for (int64_t o = 0; o < p.out_elements; ++o) y[o] /= divisor;
}

void RegisterPoolingOps(OpRegistry* registry) {
  RegisterKernel<MaxPoolKernel>(registry, "MaxPool", KernelFlavor::kReference);
  RegisterKernel<AveragePoolKernel>(registry, "AveragePool", KernelFlavor::kReference);
  RegisterKernel<GlobalAveragePoolKernel>(registry, "GlobalAveragePool", KernelFlavor::kReference);
  RegisterKernel<GlobalMaxPoolKernel>(registry, "GlobalMaxPool", KernelFlavor::kReference);
  RegisterKernel<ReduceMeanKernel>(registry, "ReduceMean", KernelFlavor::kReference);
}

}  // namespace serdab::engine
