// Exp, Log, Sqrt, Neg, Abs, Reciprocal, Elu, Selu, Softplus, ThresholdedRelu:
// elementwise float32 functions that are not fusable activations (a
// detector's box decoding uses Exp, for one).
#include <cmath>
#include <string>
#include <vector>

#include "enclave/engine/kernel.h"
#include "enclave/engine/ops/register_ops.h"
#include "enclave/engine/thread_pool.h"

namespace serdab::engine {
namespace {

// The float attributes of the functions that have some, with ONNX's defaults.
struct UnaryParams {
  float alpha = 0.f;
  float gamma = 0.f;
};

UnaryParams DefaultParams(const std::string& op) {
  if (op == "Elu" || op == "ThresholdedRelu") return {1.f, 0.f};
  if (op == "Selu") return {1.67326319217681884765625f, 1.05070102214813232421875f};
  return {};
}

template <float (*kFn)(float, const UnaryParams&)>
class UnaryKernel final : public Kernel {
 public:
  Status Setup(const KernelSetup& setup, std::vector<TensorInfo>* outputs) override {
    const Node& node = setup.n();
    if (setup.num_inputs() != 1 || !setup.has_input(0)) return setup.Error("expects 1 input");
    if (node.outputs.size() != 1) return setup.Error("expects 1 output");
    if (setup.info(0).dtype != DataType::kFloat32) {
      return setup.Unsupported(std::string("input of type ") + DataTypeName(setup.info(0).dtype) +
                               "; only float32 is supported");
    }
    SERDAB_RETURN_IF_ERROR(node.attrs.CheckKinds(node.name, {}, {}, {"alpha", "gamma"}));
    params_ = DefaultParams(node.op_type);
    params_.alpha = node.attrs.GetFloat("alpha", params_.alpha);
    params_.gamma = node.attrs.GetFloat("gamma", params_.gamma);
    elements_ = NumElements(setup.info(0).shape);
    outputs->assign(1, setup.info(0));
    return Status::Ok();
  }

  Status Run(const KernelIO& io) const override {
    const float* in = io.inputs[0]->data<float>();
    float* out = io.outputs[0]->data<float>();
    io.pool->ParallelFor(elements_, 16 * 1024, [&](int64_t begin, int64_t end) {
      for (int64_t i = begin; i < end; ++i) out[i] = kFn(in[i], params_);
    });
    return Status::Ok();
  }

  int64_t Flops() const override { return elements_; }

 private:
  UnaryParams params_;
  int64_t elements_ = 0;
};

float Exp(float x, const UnaryParams&) { return std::exp(x); }
float Log(float x, const UnaryParams&) { return std::log(x); }
float Sqrt(float x, const UnaryParams&) { return std::sqrt(x); }
float Neg(float x, const UnaryParams&) { return -x; }
float Abs(float x, const UnaryParams&) { return std::fabs(x); }
float Reciprocal(float x, const UnaryParams&) { return 1.f / x; }
float Elu(float x, const UnaryParams& p) { return x < 0.f ? p.alpha * std::expm1(x) : x; }
float Selu(float x, const UnaryParams& p) {
  return x <= 0.f ? p.gamma * p.alpha * std::expm1(x) : p.gamma * x;
}
// log(1 + e^x), written so that e^x neither overflows for large x nor loses
// the result to rounding for very negative x.
float Softplus(float x, const UnaryParams&) {
  return x > 0.f ? x + std::log1p(std::exp(-x)) : std::log1p(std::exp(x));
}
float ThresholdedRelu(float x, const UnaryParams& p) { return x > p.alpha ? x : 0.f; }

}  // namespace

void RegisterUnaryOps(OpRegistry* registry) {
  RegisterKernel<UnaryKernel<Exp>>(registry, "Exp", KernelFlavor::kReference);
  RegisterKernel<UnaryKernel<Log>>(registry, "Log", KernelFlavor::kReference);
  RegisterKernel<UnaryKernel<Sqrt>>(registry, "Sqrt", KernelFlavor::kReference);
  RegisterKernel<UnaryKernel<Neg>>(registry, "Neg", KernelFlavor::kReference);
  RegisterKernel<UnaryKernel<Abs>>(registry, "Abs", KernelFlavor::kReference);
  RegisterKernel<UnaryKernel<Reciprocal>>(registry, "Reciprocal", KernelFlavor::kReference);
  RegisterKernel<UnaryKernel<Elu>>(registry, "Elu", KernelFlavor::kReference);
  RegisterKernel<UnaryKernel<Selu>>(registry, "Selu", KernelFlavor::kReference);
  RegisterKernel<UnaryKernel<Softplus>>(registry, "Softplus", KernelFlavor::kReference);
  RegisterKernel<UnaryKernel<ThresholdedRelu>>(registry, "ThresholdedRelu",
                                               KernelFlavor::kReference);
}

}  // namespace serdab::engine
