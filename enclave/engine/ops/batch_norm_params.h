// Internals shared by the reference BatchNormalization kernel
// (ops/normalization_ops.cc) and the optimised one (optimized/elementwise.cc):
// the checks of Setup, and the per-channel coefficients and the fused
// multiply-add each element takes, in one place, so that both flavours give
// identical results.
#ifndef SERDAB_ENCLAVE_ENGINE_OPS_BATCH_NORM_PARAMS_H_
#define SERDAB_ENCLAVE_ENGINE_OPS_BATCH_NORM_PARAMS_H_

#include <cmath>
#include <cstdint>
#include <vector>

#include "enclave/common/status.h"
#include "enclave/engine/activation.h"
#include "enclave/engine/kernel.h"
#include "enclave/engine/tensor.h"

namespace serdab::engine {

// Inference-form BatchNormalization over X [N, C, ...]:
// y = act((x - mean) / sqrt(var + epsilon) * scale + B), per channel.
struct BatchNormParams {
  float epsilon = 1e-5f;
  int64_t batch = 0;
  int64_t channels = 0;
  int64_t spatial = 0;    // elements per (n, c) plane
  Activation activation;  // fused after it (graph_passes.h: FuseActivations)
};

// Checks the five float32 inputs, the attributes and the output count.
Result<BatchNormParams> ParseBatchNormParams(const KernelSetup& setup);

// Channel c's y = x * a + b, computed as one fused multiply-add.
struct BatchNormCoefficients {
  float a = 0.f;
  float b = 0.f;
};
// From one channel's scale, B, mean and var. Compiled once
// (normalization_ops.cc), so that the kernels and a Conv that took over a
// BatchNormalization (graph_passes.h: FuseInputBatchNorm) get the same bits.
BatchNormCoefficients ComputeBatchNormCoefficients(float scale, float bias, float mean, float var,
                                                   float epsilon);
// From the kernel's inputs 1-4 (scale, B, mean, var).
inline BatchNormCoefficients ChannelCoefficients(const BatchNormParams& p, const KernelIO& io,
                                                 int64_t c) {
  return ComputeBatchNormCoefficients(
      io.inputs[1]->data<float>()[c], io.inputs[2]->data<float>()[c],
      io.inputs[3]->data<float>()[c], io.inputs[4]->data<float>()[c], p.epsilon);
}

// Setup and Flops of both flavours; each implements Run.
class BatchNormKernelBase : public Kernel {
 public:
  Status Setup(const KernelSetup& setup, std::vector<TensorInfo>* outputs) override {
    SERDAB_ASSIGN_OR_RETURN(p_, ParseBatchNormParams(setup));
    outputs->assign(1, setup.info(0));
    return Status::Ok();
  }
  int64_t Flops() const override { return 2 * p_.batch * p_.channels * p_.spatial; }

 protected:
  BatchNormParams p_;
};

}  // namespace serdab::engine

#endif  // SERDAB_ENCLAVE_ENGINE_OPS_BATCH_NORM_PARAMS_H_
