// GemmParams and MatMulParams: the shapes of a Gemm or MatMul node, parsed once
// and shared by the reference and the optimised kernels.
#ifndef SERDAB_ENCLAVE_ENGINE_OPS_MATMUL_PARAMS_H_
#define SERDAB_ENCLAVE_ENGINE_OPS_MATMUL_PARAMS_H_

#include <cstdint>
#include <vector>

#include "enclave/common/status.h"
#include "enclave/engine/activation.h"
#include "enclave/engine/kernel.h"
#include "enclave/engine/tensor.h"

namespace serdab::engine {

// Y[M,N] = act(alpha * op(A) * op(B) + beta * C), op = optional transpose.
struct GemmParams {
  int64_t m = 0;
  int64_t n = 0;
  int64_t k = 0;
  bool trans_a = false;
  bool trans_b = false;
  float alpha = 1.f;
  float beta = 1.f;
  // C, when present, broadcasts to [M,N]: element (i, j) is
  // c[(i * c_row_step) + (j * c_col_step)], a step being 0 on a broadcast axis.
  bool has_c = false;
  int64_t c_row_step = 0;
  int64_t c_col_step = 0;
  Activation activation;

  int64_t Flops() const { return 2 * m * n * k; }
};

Result<GemmParams> ParseGemmParams(const KernelSetup& setup);

// numpy matmul: 1-D operands are promoted to matrices and the promoted axis is
// dropped from the result; leading (batch) axes broadcast.
struct MatMulParams {
  int64_t m = 0;
  int64_t n = 0;
  int64_t k = 0;
  Shape output_shape;
  // For each of the output's batch matrices, the element offset of its A and B
  // matrices in the inputs.
  std::vector<int64_t> a_offsets;
  std::vector<int64_t> b_offsets;
  Activation activation;

  int64_t batch() const { return static_cast<int64_t>(a_offsets.size()); }
  int64_t Flops() const { return 2 * batch() * m * n * k; }
};

Result<MatMulParams> ParseMatMulParams(const KernelSetup& setup);

}  // namespace serdab::engine

#endif  // SERDAB_ENCLAVE_ENGINE_OPS_MATMUL_PARAMS_H_
