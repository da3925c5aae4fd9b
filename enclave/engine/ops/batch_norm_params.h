// Internals shared by the reference BatchNormalization kernel
// (ops/normalization_ops.cc) and the optimised one (optimized/elementwise.cc):
// the checks of Setup, and the per-channel coefficients and the fused
// multiply-add each element takes, in one place, so that both flavours give
// identical results.
#ifndef SERDAB_ENCLAVE_ENGINE_OPS_BATCH_NORM_PARAMS_H_
#define SERDAB_ENCLAVE_ENGINE_OPS_BATCH_NORM_PARAMS_H_

#include <cmath>
#include <cstdint>

#include "enclave/common/status.h"
#include "enclave/engine/activation.h"
#include "enclave/engine/kernel.h"

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
inline BatchNormCoefficients ChannelCoefficients(float epsilon, float scale, float bias, float mean,
                                                 float var) {
  const float a = scale / std::sqrt(var + epsilon);
  return {a, bias - mean * a};
}

}  // namespace serdab::engine

#endif  // SERDAB_ENCLAVE_ENGINE_OPS_BATCH_NORM_PARAMS_H_
