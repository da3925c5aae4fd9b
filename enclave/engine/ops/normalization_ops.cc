// BatchNormalization (inference form), Softmax, LogSoftmax and Hardmax.
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <string>
#include <vector>

#include "enclave/engine/activation.h"
#include "enclave/engine/kernel.h"
#include "enclave/engine/ops/batch_norm_params.h"
#include "enclave/engine/ops/register_ops.h"

namespace serdab::engine {
namespace {

// The graph passes usually fold BatchNormalization into the preceding Conv;
// this kernel runs the ones that remain (DenseNet's, after each Concat).
class BatchNormKernel final : public BatchNormKernelBase {
 public:
  Status Run(const KernelIO& io) const override {
    const float* x = io.inputs[0]->data<float>();
    float* y = io.outputs[0]->data<float>();
    for (int64_t n = 0; n < p_.batch; ++n) {
      for (int64_t c = 0; c < p_.channels; ++c) {
        const BatchNormCoefficients k = ChannelCoefficients(p_, io, c);
        const int64_t base = (n * p_.channels + c) * p_.spatial;
        for (int64_t i = 0; i < p_.spatial; ++i) {
          y[base + i] = ActivationReference(p_.activation, std::fma(x[base + i], k.a, k.b));
        }
      }
    }
    return Status::Ok();
  }
};

enum class SoftmaxKind { kSoftmax, kLogSoftmax, kHardmax };

// Softmax, LogSoftmax and Hardmax over a [outer, n, inner] view of the input.
// Before opset 13 the input is coerced to 2-D at `axis` (n is everything from
// axis on, inner = 1); from 13 on they work along the single dimension `axis`.
template <SoftmaxKind kKind>
class SoftmaxKernel final : public Kernel {
 public:
  Status Setup(const KernelSetup& setup, std::vector<TensorInfo>* outputs) override {
    const Node& node = setup.n();
    if (setup.num_inputs() != 1 || !setup.has_input(0)) return setup.Error("expects 1 input");
    if (node.outputs.size() != 1) return setup.Error("expects 1 output");
    if (setup.info(0).dtype != DataType::kFloat32) {
      return setup.Unsupported(std::string("input of type ") + DataTypeName(setup.info(0).dtype) +
                               "; only float32 is supported");
    }
    SERDAB_RETURN_IF_ERROR(node.attrs.CheckKinds(node.name, {"axis"}));
    const Shape& shape = setup.info(0).shape;
    const int64_t rank = static_cast<int64_t>(shape.size());
    int64_t axis = node.attrs.GetInt("axis", setup.opset < 13 ? 1 : -1);
    if (axis < -rank || axis >= rank) {
      return setup.Error("axis " + std::to_string(axis) + " is out of range for shape " +
                         ShapeToString(shape));
    }
    if (axis < 0) axis += rank;
    outer_ = 1;
    n_ = 1;
    inner_ = 1;
    for (int64_t d = 0; d < rank; ++d) {
      if (d < axis) {
        outer_ *= shape[d];
      } else if (d == axis || setup.opset < 13) {
        n_ *= shape[d];
      } else {
        inner_ *= shape[d];
      }
    }
    outputs->assign(1, setup.info(0));
    return Status::Ok();
  }

  // Subtracts the maximum before exp so that large inputs do not overflow.
  Status Run(const KernelIO& io) const override {
    const float* x = io.inputs[0]->data<float>();
    float* y = io.outputs[0]->data<float>();
    if (n_ == 0) return Status::Ok();
    for (int64_t o = 0; o < outer_; ++o) {
      for (int64_t i = 0; i < inner_; ++i) {
        const float* xs = x + o * n_ * inner_ + i;
        float* ys = y + o * n_ * inner_ + i;
        float max = xs[0];
        int64_t argmax = 0;
        for (int64_t k = 1; k < n_; ++k) {
          if (xs[k * inner_] > max) {
            max = xs[k * inner_];
            argmax = k;
          }
        }
        if (kKind == SoftmaxKind::kHardmax) {
          // 1 at the first maximum, 0 elsewhere.
          for (int64_t k = 0; k < n_; ++k) ys[k * inner_] = k == argmax ? 1.f : 0.f;
          continue;
        }
        if (kKind == SoftmaxKind::kLogSoftmax) {
          float sum = 0.f;
          for (int64_t k = 0; k < n_; ++k) sum += std::exp(xs[k * inner_] - max);
          const float log_sum = std::log(sum);
          for (int64_t k = 0; k < n_; ++k) ys[k * inner_] = xs[k * inner_] - max - log_sum;
          continue;
        }
        float sum = 0.f;
        for (int64_t k = 0; k < n_; ++k) {
          ys[k * inner_] = std::exp(xs[k * inner_] - max);
          sum += ys[k * inner_];
        }
        const float inv = 1.f / sum;
        for (int64_t k = 0; k < n_; ++k) ys[k * inner_] *= inv;
      }
    }
    return Status::Ok();
  }

  // Per element: subtract, exp, add to the sum, scale.
  int64_t Flops() const override { return 4 * outer_ * n_ * inner_; }

 private:
  int64_t outer_ = 0;
  int64_t n_ = 0;
  int64_t inner_ = 0;
};

}  // namespace

BatchNormCoefficients ComputeBatchNormCoefficients(float scale, float bias, float mean, float var,
                                                   float epsilon) {
  const float a = scale / std::sqrt(var + epsilon);
  return {a, bias - mean * a};
}

Result<BatchNormParams> ParseBatchNormParams(const KernelSetup& setup) {
  const Node& node = setup.n();
  if (setup.num_inputs() != 5) {
    return setup.Error("expects 5 inputs (X, scale, B, mean, var), got " +
                       std::to_string(setup.num_inputs()));
  }
  for (int i = 0; i < 5; ++i) {
    if (!setup.has_input(i)) return setup.Error("input " + std::to_string(i) + " is missing");
    if (setup.info(i).dtype != DataType::kFloat32) {
      return setup.Unsupported("input " + std::to_string(i) + " of type " +
                               DataTypeName(setup.info(i).dtype) + "; only float32 is supported");
    }
  }
  if (node.outputs.size() != 1) {
    return setup.Unsupported("training-mode outputs (running mean/var) are not supported");
  }
  SERDAB_RETURN_IF_ERROR(
      node.attrs.CheckKinds(node.name, {"spatial", "training_mode"}, {}, {"epsilon"}));
  if (node.attrs.GetInt("training_mode", 0) != 0) {
    return setup.Unsupported("training_mode=1 is not supported");
  }
  if (setup.opset < 9 && node.attrs.GetInt("spatial", 1) != 1) {
    return setup.Unsupported("spatial=0 (per-activation statistics) is not supported");
  }
  BatchNormParams p;
  p.epsilon = node.attrs.GetFloat("epsilon", 1e-5f);
  Result<Activation> act = Activation::FromAttributes(node.attrs);
  if (!act.ok()) return setup.Error(act.status().message());
  p.activation = *act;

  const Shape& x = setup.info(0).shape;
  if (x.size() < 2) {
    return setup.Error("input X must have at least 2 dimensions, got " + ShapeToString(x));
  }
  p.channels = x[1];
  for (int i = 1; i < 5; ++i) {
    if (NumElements(setup.info(i).shape) != p.channels || setup.info(i).shape.size() != 1) {
      return setup.Error("input " + std::to_string(i) + " has shape " +
                         ShapeToString(setup.info(i).shape) + ", expected [" +
                         std::to_string(p.channels) + "]");
    }
  }
  p.batch = x[0];
  p.spatial = 1;
  for (size_t d = 2; d < x.size(); ++d) p.spatial *= x[d];
  return p;
}

void RegisterNormalizationOps(OpRegistry* registry) {
  RegisterKernel<BatchNormKernel>(registry, "BatchNormalization", KernelFlavor::kReference);
  RegisterKernel<SoftmaxKernel<SoftmaxKind::kSoftmax>>(registry, "Softmax",
                                                       KernelFlavor::kReference);
  RegisterKernel<SoftmaxKernel<SoftmaxKind::kLogSoftmax>>(registry, "LogSoftmax",
                                                          KernelFlavor::kReference);
  RegisterKernel<SoftmaxKernel<SoftmaxKind::kHardmax>>(registry, "Hardmax",
                                                       KernelFlavor::kReference);
}

}  // namespace serdab::engine
