#include "enclave/engine/ops/register_ops.h"

namespace serdab::engine {

void RegisterReferenceOps(OpRegistry* registry) {
  RegisterActivationOps(registry);
  RegisterBinaryOps(registry);
  RegisterUnaryOps(registry);
  RegisterConvOps(registry);
  RegisterMatMulOps(registry);
  RegisterNormalizationOps(registry);
  RegisterPoolingOps(registry);
  RegisterReduceOps(registry);
  RegisterShapeOps(registry);
  RegisterResizeOps(registry);
}

void RegisterOptimizedOps(OpRegistry* registry) {
  RegisterOptimizedConvOps(registry);
  RegisterOptimizedMatMulOps(registry);
  RegisterOptimizedElementwiseOps(registry);
  RegisterOptimizedPoolingOps(registry);
}

}  // namespace serdab::engine
