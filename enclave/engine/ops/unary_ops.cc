// Exp, Log, Sqrt, Neg, Abs, Reciprocal: elementwise float32 functions that are
// not fusable activations (a detector's box decoding uses Exp, for one).
#include <cmath>
#include <string>
#include <vector>

#include "enclave/engine/kernel.h"
#include "enclave/engine/ops/register_ops.h"
#include "enclave/engine/thread_pool.h"

namespace serdab::engine {
namespace {

template <float (*kFn)(float)>
class UnaryKernel final : public Kernel {
 public:
  Status Setup(const KernelSetup& setup, std::vector<TensorInfo>* outputs) override {
    if (setup.num_inputs() != 1 || !setup.has_input(0)) return setup.Error("expects 1 input");
    if (setup.n().outputs.size() != 1) return setup.Error("expects 1 output");
    if (setup.info(0).dtype != DataType::kFloat32) {
      return setup.Unsupported(std::string("input of type ") + DataTypeName(setup.info(0).dtype) +
                               "; only float32 is supported");
    }
    elements_ = NumElements(setup.info(0).shape);
    outputs->assign(1, setup.info(0));
    return Status::Ok();
  }

  Status Run(const KernelIO& io) const override {
    const float* in = io.inputs[0]->data<float>();
    float* out = io.outputs[0]->data<float>();
    io.pool->ParallelFor(elements_, 16 * 1024, [&](int64_t begin, int64_t end) {
      for (int64_t i = begin; i < end; ++i) out[i] = kFn(in[i]);
    });
    return Status::Ok();
  }

  int64_t Flops() const override { return elements_; }

 private:
  int64_t elements_ = 0;
};

float Exp(float x) { return std::exp(x); }
float Log(float x) { return std::log(x); }
float Sqrt(float x) { return std::sqrt(x); }
float Neg(float x) { return -x; }
float Abs(float x) { return std::fabs(x); }
float Reciprocal(float x) { return 1.f / x; }

}  // namespace

void RegisterUnaryOps(OpRegistry* registry) {
  RegisterKernel<UnaryKernel<Exp>>(registry, "Exp", KernelFlavor::kReference);
  RegisterKernel<UnaryKernel<Log>>(registry, "Log", KernelFlavor::kReference);
  RegisterKernel<UnaryKernel<Sqrt>>(registry, "Sqrt", KernelFlavor::kReference);
  RegisterKernel<UnaryKernel<Neg>>(registry, "Neg", KernelFlavor::kReference);
  RegisterKernel<UnaryKernel<Abs>>(registry, "Abs", KernelFlavor::kReference);
  RegisterKernel<UnaryKernel<Reciprocal>>(registry, "Reciprocal", KernelFlavor::kReference);
}

}  // namespace serdab::engine
