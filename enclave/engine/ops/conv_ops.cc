// Reference Conv, 1-D to 3-D: the definition written as plain loops, one
// output element at a time. The optimised kernel (optimized/conv.cc) is tested
// against it, and hands it the 3-D convolutions.
//
// ConvTranspose, 1-D to 3-D, which has no optimised kernel: every input
// element scatters its products into the output through the kernel window.
#include <algorithm>
#include <cstdint>
#include <string>
#include <vector>

#include "enclave/engine/activation.h"
#include "enclave/engine/ops/conv_params.h"
#include "enclave/engine/ops/register_ops.h"

namespace serdab::engine {
namespace {

class ConvReference : public Kernel {
 public:
  Status Setup(const KernelSetup& setup, std::vector<TensorInfo>* outputs) override {
    SERDAB_ASSIGN_OR_RETURN(p_, ParseConvParams(setup));
    outputs->push_back({DataType::kFloat32, p_.output_shape()});
    return Status::Ok();
  }

  Status Run(const KernelIO& io) const override {
    const float* x = io.inputs[0]->data<float>();
    const float* w = io.inputs[1]->data<float>();
    const float* b = p_.has_bias && io.inputs[2] != nullptr ? io.inputs[2]->data<float>() : nullptr;
    const float* residual = p_.has_residual ? io.inputs[3]->data<float>() : nullptr;
    const float* in_a = p_.has_input_affine ? io.inputs[4]->data<float>() : nullptr;
    const float* in_b = p_.has_input_affine ? io.inputs[5]->data<float>() : nullptr;
    float* y = io.outputs[0]->data<float>();
    const int64_t cin_g = p_.in_channels_per_group();
    const int64_t cout_g = p_.out_channels_per_group();
    const int64_t in_plane = p_.in_h * p_.in_w;
    const int64_t kernel_plane = p_.kernel_h * p_.kernel_w;
    for (int64_t n = 0; n < p_.batch; ++n) {
      for (int64_t m = 0; m < p_.out_channels; ++m) {
        const int64_t g = m / cout_g;
        for (int64_t oz = 0; oz < p_.out_d; ++oz) {
          for (int64_t oy = 0; oy < p_.out_h; ++oy) {
            for (int64_t ox = 0; ox < p_.out_w; ++ox) {
              float acc = b != nullptr ? b[m] : 0.f;
              for (int64_t c = 0; c < cin_g; ++c) {
                const int64_t ci = g * cin_g + c;
                for (int64_t kz = 0; kz < p_.kernel_d; ++kz) {
                  const int64_t iz = oz * p_.stride_d - p_.pad_front + kz * p_.dilation_d;
                  if (iz < 0 || iz >= p_.in_d) continue;
                  const float* xp = x + ((n * p_.in_channels + ci) * p_.in_d + iz) * in_plane;
                  const float* wp = w + ((m * cin_g + c) * p_.kernel_d + kz) * kernel_plane;
                  for (int64_t ky = 0; ky < p_.kernel_h; ++ky) {
                    const int64_t iy = oy * p_.stride_h - p_.pad_top + ky * p_.dilation_h;
                    if (iy < 0 || iy >= p_.in_h) continue;
                    for (int64_t kx = 0; kx < p_.kernel_w; ++kx) {
                      const int64_t ix = ox * p_.stride_w - p_.pad_left + kx * p_.dilation_w;
                      if (ix < 0 || ix >= p_.in_w) continue;
                      float v = xp[iy * p_.in_w + ix];
                      if (in_a != nullptr) v = ConvInputValue(v, in_a[ci], in_b[ci], p_.input_relu);
                      acc += v * wp[ky * p_.kernel_w + kx];
                    }
                  }
                }
              }
              const int64_t at =
                  (((n * p_.out_channels + m) * p_.out_d + oz) * p_.out_h + oy) * p_.out_w + ox;
              if (residual != nullptr) acc += residual[at];
              y[at] = ActivationReference(p_.activation, acc);
            }
          }
        }
      }
    }
    return Status::Ok();
  }

  int64_t Flops() const override { return p_.Flops(); }

 private:
  ConvParams p_;
};

// ConvTranspose over X [N, C, D1..Dk] (k = 1, 2 or 3) with W [C, M/group,
// K1..Kk] and optional B [M]. Output position o along axis i receives input
// position x through kernel tap t when o = x * stride + t * dilation -
// pad_begin. The output size is output_shape when given (the pads then follow
// from it, as in ONNX Runtime), else stride * (in - 1) + output_padding +
// (K - 1) * dilation + 1 - pad_begin - pad_end.
class ConvTransposeKernel final : public Kernel {
 public:
  Status Setup(const KernelSetup& setup, std::vector<TensorInfo>* outputs) override {
    const Attributes& attrs = setup.n().attrs;
    SERDAB_RETURN_IF_ERROR(attrs.CheckKinds(
        setup.n().name, {"group"},
        {"kernel_shape", "strides", "pads", "dilations", "output_padding", "output_shape"}, {},
        {"auto_pad"}));
    if (setup.num_inputs() < 2 || setup.num_inputs() > 3 || !setup.has_input(0) ||
        !setup.has_input(1)) {
      return setup.Error("expects inputs X, W and an optional B, got " +
                         std::to_string(setup.num_inputs()) + " inputs");
    }
    if (setup.n().outputs.size() != 1) return setup.Error("expects 1 output");
    const TensorInfo& x = setup.info(0);
    const TensorInfo& w = setup.info(1);
    if (x.dtype != DataType::kFloat32 || w.dtype != DataType::kFloat32) {
      return setup.Unsupported(std::string("inputs of type ") + DataTypeName(x.dtype) + " and " +
                               DataTypeName(w.dtype) + "; only float32 is supported");
    }
    const int rank = static_cast<int>(x.shape.size()) - 2;
    if (rank < 1 || rank > 3) {
      return setup.Error("input X must be [N,C,D1..Dk] with k in 1..3, got " +
                         ShapeToString(x.shape));
    }
    if (w.shape.size() != x.shape.size()) {
      return setup.Error("weight W " + ShapeToString(w.shape) + " must have the rank of X " +
                         ShapeToString(x.shape));
    }
    batch_ = x.shape[0];
    in_channels_ = x.shape[1];
    group_ = attrs.GetInt("group", 1);
    if (group_ < 1 || in_channels_ % group_ != 0 || w.shape[0] != in_channels_) {
      return setup.Error("weight " + ShapeToString(w.shape) + " and group " +
                         std::to_string(group_) + " do not fit input " + ShapeToString(x.shape));
    }
    out_per_group_ = w.shape[1];
    const Shape in(x.shape.begin() + 2, x.shape.end());
    const Shape kernel(w.shape.begin() + 2, w.shape.end());
    if (attrs.has("kernel_shape") && attrs.GetInts("kernel_shape") != kernel) {
      return setup.Error("kernel_shape " + ShapeToString(attrs.GetInts("kernel_shape")) +
                         " does not match weight shape " + ShapeToString(w.shape));
    }
    SERDAB_ASSIGN_OR_RETURN(const std::vector<int64_t> strides,
                            Geometry(setup, "strides", rank, 1, 1));
    SERDAB_ASSIGN_OR_RETURN(const std::vector<int64_t> dilations,
                            Geometry(setup, "dilations", rank, 1, 1));
    SERDAB_ASSIGN_OR_RETURN(const std::vector<int64_t> output_padding,
                            Geometry(setup, "output_padding", rank, 0, 0));
    SERDAB_ASSIGN_OR_RETURN(std::vector<int64_t> pads, Geometry(setup, "pads", 2 * rank, 0, 0));
    const std::string auto_pad = attrs.GetString("auto_pad", "NOTSET");
    if (auto_pad != "NOTSET" && auto_pad != "SAME_UPPER" && auto_pad != "SAME_LOWER" &&
        auto_pad != "VALID") {
      return setup.Error("unknown auto_pad '" + auto_pad + "'");
    }
    std::vector<int64_t> output_shape = attrs.GetInts("output_shape");
    // Some exporters give the whole output shape, N and C included.
    if (static_cast<int>(output_shape.size()) == rank + 2) {
      output_shape.erase(output_shape.begin(), output_shape.begin() + 2);
    }
    if (!output_shape.empty() && static_cast<int>(output_shape.size()) != rank) {
      return setup.Error("output_shape " + ShapeToString(output_shape) + " does not fit a " +
                         std::to_string(rank) + "-D transposed convolution");
    }

    Shape out = {batch_, group_ * out_per_group_};
    for (int i = 0; i < rank; ++i) {
      if (in[i] < 1 || kernel[i] < 1) {
        return setup.Error("empty spatial dimension in X " + ShapeToString(x.shape) + " or W " +
                           ShapeToString(w.shape));
      }
      // Every term is below 2^62 (dimensions by TensorLimits, geometry by
      // kMaxWindowGeometry), so the full size cannot overflow.
      const int64_t full =
          strides[i] * (in[i] - 1) + output_padding[i] + (kernel[i] - 1) * dilations[i] + 1;
      const bool derived_pads =
          !output_shape.empty() || auto_pad == "SAME_UPPER" || auto_pad == "SAME_LOWER";
      if (auto_pad == "VALID") pads[i] = pads[i + rank] = 0;
      const int64_t size = !output_shape.empty() ? output_shape[i]
                           : derived_pads        ? in[i] * strides[i]
                                                 : full - pads[i] - pads[i + rank];
      if (size < 1 || size > kMaxWindowGeometry) {
        return setup.Error("output size " + std::to_string(size) + " along spatial axis " +
                           std::to_string(i) + " is not in [1, 2^31]");
      }
      // Padding that trims the full output to the size asked for; the odd
      // element goes at the end for SAME_UPPER, at the beginning otherwise.
      const int64_t total = std::max<int64_t>(0, full - size);
      const int64_t pad_begin = !derived_pads              ? pads[i]
                                : auto_pad == "SAME_UPPER" ? total / 2
                                                           : total - total / 2;
      out.push_back(size);
      const int a = 3 - rank + i;
      in_[a] = in[i];
      out_[a] = size;
      kernel_[a] = kernel[i];
      strides_[a] = strides[i];
      dilations_[a] = dilations[i];
      pad_begin_[a] = pad_begin;
    }
    SERDAB_RETURN_IF_ERROR(setup.CheckSize(DataType::kFloat32, out, "output"));
    if (setup.has_input(2)) {
      const TensorInfo& b = setup.info(2);
      if (b.dtype != DataType::kFloat32 || b.shape != Shape{out[1]}) {
        return setup.Error("bias B must be float32 [" + std::to_string(out[1]) + "], got " +
                           DataTypeName(b.dtype) + " " + ShapeToString(b.shape));
      }
    }
    flops_ = 2 * NumElements(x.shape) * out_per_group_ * NumElements(kernel);
    outputs->push_back({DataType::kFloat32, std::move(out)});
    return Status::Ok();
  }

  Status Run(const KernelIO& io) const override {
    const float* x = io.inputs[0]->data<float>();
    const float* w = io.inputs[1]->data<float>();
    const float* b =
        io.inputs.size() > 2 && io.inputs[2] != nullptr ? io.inputs[2]->data<float>() : nullptr;
    float* y = io.outputs[0]->data<float>();
    const int64_t out_channels = group_ * out_per_group_;
    const int64_t in_size = in_[0] * in_[1] * in_[2];
    const int64_t out_size = out_[0] * out_[1] * out_[2];
    const int64_t kernel_size = kernel_[0] * kernel_[1] * kernel_[2];
    const int64_t in_per_group = in_channels_ / group_;
    for (int64_t n = 0; n < batch_; ++n) {
      for (int64_t m = 0; m < out_channels; ++m) {
        std::fill_n(y + (n * out_channels + m) * out_size, out_size, b != nullptr ? b[m] : 0.f);
      }
    }
    for (int64_t n = 0; n < batch_; ++n) {
      for (int64_t c = 0; c < in_channels_; ++c) {
        const int64_t g = c / in_per_group;
        const float* xc = x + (n * in_channels_ + c) * in_size;
        for (int64_t m = 0; m < out_per_group_; ++m) {
          const float* wk = w + (c * out_per_group_ + m) * kernel_size;
          float* ym = y + (n * out_channels + g * out_per_group_ + m) * out_size;
          for (int64_t i = 0; i < in_size; ++i) {
            const int64_t xi[3] = {i / (in_[1] * in_[2]), i / in_[2] % in_[1], i % in_[2]};
            for (int64_t t = 0; t < kernel_size; ++t) {
              const int64_t ti[3] = {t / (kernel_[1] * kernel_[2]), t / kernel_[2] % kernel_[1],
                                     t % kernel_[2]};
              int64_t o = 0;
              bool inside = true;
              for (int d = 0; d < 3 && inside; ++d) {
                const int64_t pos = xi[d] * strides_[d] + ti[d] * dilations_[d] - pad_begin_[d];
                inside = pos >= 0 && pos < out_[d];
                o = o * out_[d] + pos;
              }
              if (inside) ym[o] += xc[i] * wk[t];
            }
          }
        }
      }
    }
    return Status::Ok();
  }

  int64_t Flops() const override { return flops_; }

 private:
  // An INTS attribute of `count` values in [lo, kMaxWindowGeometry], each
  // `fallback` when the attribute is absent.
  static Result<std::vector<int64_t>> Geometry(const KernelSetup& setup, const char* name,
                                               int count, int64_t fallback, int64_t lo) {
    std::vector<int64_t> v = setup.n().attrs.GetInts(name, std::vector<int64_t>(count, fallback));
    if (static_cast<int>(v.size()) != count) {
      return setup.Error(std::string(name) + " has " + std::to_string(v.size()) +
                         " values, expected " + std::to_string(count));
    }
    for (int64_t e : v) {
      if (e < lo || e > kMaxWindowGeometry) {
        return setup.Error(std::string(name) + " must be in [" + std::to_string(lo) +
                           ", 2^31], got " + ShapeToString(v));
      }
    }
    return v;
  }

  int64_t batch_ = 0;
  int64_t in_channels_ = 0;
  int64_t group_ = 1;
  int64_t out_per_group_ = 0;
  // The spatial geometry as 3-D: a 1-D or 2-D one gets leading axes of size 1
  // (stride and dilation 1, no padding).
  int64_t in_[3] = {1, 1, 1};
  int64_t out_[3] = {1, 1, 1};
  int64_t kernel_[3] = {1, 1, 1};
  int64_t strides_[3] = {1, 1, 1};
  int64_t dilations_[3] = {1, 1, 1};
  int64_t pad_begin_[3] = {0, 0, 0};
  int64_t flops_ = 0;
};

}  // namespace

void RegisterConvOps(OpRegistry* registry) {
  RegisterKernel<ConvReference>(registry, "Conv", KernelFlavor::kReference);
  RegisterKernel<ConvTransposeKernel>(registry, "ConvTranspose", KernelFlavor::kReference);
}

}  // namespace serdab::engine
