// Reference Gemm and MatMul: one dot product per output element, in order.
#include "enclave/engine/activation.h"
#include "enclave/engine/ops/matmul_params.h"
#include "enclave/engine/ops/register_ops.h"

namespace serdab::engine {
namespace {

class GemmReference : public Kernel {
 public:
  Status Setup(const KernelSetup& setup, std::vector<TensorInfo>* outputs) override {
    SERDAB_ASSIGN_OR_RETURN(p_, ParseGemmParams(setup));
    outputs->push_back({DataType::kFloat32, {p_.m, p_.n}});
    return Status::Ok();
  }

  Status Run(const KernelIO& io) const override {
    const float* a = io.inputs[0]->data<float>();
    const float* b = io.inputs[1]->data<float>();
    const float* c = p_.has_c ? io.inputs[2]->data<float>() : nullptr;
    float* y = io.outputs[0]->data<float>();
    for (int64_t i = 0; i < p_.m; ++i) {
      for (int64_t j = 0; j < p_.n; ++j) {
        float acc = 0.f;
        for (int64_t k = 0; k < p_.k; ++k) {
          const float av = p_.trans_a ? a[k * p_.m + i] : a[i * p_.k + k];
          const float bv = p_.trans_b ? b[j * p_.k + k] : b[k * p_.n + j];
          acc += av * bv;
        }
        float v = p_.alpha * acc;
        if (c != nullptr) v += p_.beta * c[i * p_.c_row_step + j * p_.c_col_step];
        y[i * p_.n + j] = ActivationReference(p_.activation, v);
      }
    }
    return Status::Ok();
  }

  int64_t Flops() const override { return p_.Flops(); }

 private:
  GemmParams p_;
};

class MatMulReference : public Kernel {
 public:
  Status Setup(const KernelSetup& setup, std::vector<TensorInfo>* outputs) override {
    SERDAB_ASSIGN_OR_RETURN(p_, ParseMatMulParams(setup));
    outputs->push_back({DataType::kFloat32, p_.output_shape});
    return Status::Ok();
  }

  Status Run(const KernelIO& io) const override {
    const float* a = io.inputs[0]->data<float>();
    const float* b = io.inputs[1]->data<float>();
    float* y = io.outputs[0]->data<float>();
    for (int64_t batch = 0; batch < p_.batch(); ++batch) {
      const float* ab = a + p_.a_offsets[batch];
      const float* bb = b + p_.b_offsets[batch];
      float* yb = y + batch * p_.m * p_.n;
      for (int64_t i = 0; i < p_.m; ++i) {
        for (int64_t j = 0; j < p_.n; ++j) {
          float acc = 0.f;
          for (int64_t k = 0; k < p_.k; ++k) acc += ab[i * p_.k + k] * bb[k * p_.n + j];
          yb[i * p_.n + j] = ActivationReference(p_.activation, acc);
        }
      }
    }
    return Status::Ok();
  }

  int64_t Flops() const override { return p_.Flops(); }

 private:
  MatMulParams p_;
};

}  // namespace

void RegisterMatMulOps(OpRegistry* registry) {
  RegisterKernel<GemmReference>(registry, "Gemm", KernelFlavor::kReference);
  RegisterKernel<MatMulReference>(registry, "MatMul", KernelFlavor::kReference);
}

}  // namespace serdab::engine
