// Optimised activations, Add/Sub/Mul/Div and BatchNormalization.
//
// Activations run the vectorised ApplyActivation (the same code as the fused
// Conv/Gemm epilogues) over chunks of the flat array. The binary ops split the
// output into chunks and run the reference element loops of broadcast.h on
// each, so their results are bit-identical to the reference kernels; the
// broadcast plan already reduces the cases that matter (same shapes, and the
// per-channel [1,C,1,1] x [N,C,H,W] of squeeze-excitation) to vectorised rows.
// BatchNormalization takes the reference's fused multiply-add per element.
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <string>
#include <vector>

#if defined(__AVX512F__)
#include <immintrin.h>
#endif

#include "enclave/engine/activation.h"
#include "enclave/engine/kernel.h"
#include "enclave/engine/ops/batch_norm_params.h"
#include "enclave/engine/ops/broadcast.h"
#include "enclave/engine/ops/register_ops.h"
#include "enclave/engine/thread_pool.h"

namespace serdab::engine {
namespace {

// Elements per chunk: enough work to amortise waking a thread.
constexpr int64_t kGrain = 16 * 1024;

class FastActivationKernel final : public Kernel {
 public:
  Status Setup(const KernelSetup& setup, std::vector<TensorInfo>* outputs) override {
    SERDAB_ASSIGN_OR_RETURN(act_, ActivationFromNode(setup));
    flops_ = NumElements(setup.info(0).shape);
    outputs->assign(1, setup.info(0));
    return Status::Ok();
  }

  Status Run(const KernelIO& io) const override {
    const float* in = io.inputs[0]->data<float>();
    float* out = io.outputs[0]->data<float>();
    io.pool->ParallelFor(io.inputs[0]->num_elements(), kGrain, [&](int64_t begin, int64_t end) {
      ApplyActivation(act_, in + begin, out + begin, end - begin);
    });
    return Status::Ok();
  }

  int64_t Flops() const override { return flops_; }

 private:
  Activation act_;
  int64_t flops_ = 0;
};

template <BinaryOpKind kKind>
class FastBinaryKernel final : public Kernel {
 public:
  Status Setup(const KernelSetup& setup, std::vector<TensorInfo>* outputs) override {
    TensorInfo out;
    SERDAB_RETURN_IF_ERROR(SetupBinaryOp(setup, &plan_, &out));
    dtype_ = out.dtype;
    SERDAB_ASSIGN_OR_RETURN(act_, BinaryEpilogue(setup, dtype_));
    node_ = "node '" + setup.n().name + "' (" + setup.n().op_type + ")";
    flops_ = NumElements(out.shape);
    outputs->assign(1, out);
    return Status::Ok();
  }

  Status Run(const KernelIO& io) const override {
    if (kKind == BinaryOpKind::kDiv && dtype_ == DataType::kInt64) {
      SERDAB_RETURN_IF_ERROR(CheckInt64Divisor(*io.inputs[1]).WithContext(node_));
    }
    const Tensor& a = *io.inputs[0];
    const Tensor& b = *io.inputs[1];
    Tensor* out = io.outputs[0];
    io.pool->ParallelFor(out->num_elements(), kGrain, [&](int64_t begin, int64_t end) {
      RunBinaryRange(kKind, dtype_, plan_, a, b, out, begin, end);
      if (!act_.is_none()) ApplyActivation(act_, out->data<float>() + begin, end - begin);
    });
    return Status::Ok();
  }

  int64_t Flops() const override { return flops_; }

 private:
  BroadcastPlan plan_;
  DataType dtype_ = DataType::kUndefined;
  Activation act_;    // fused into an Add
  std::string node_;  // for run-time messages
  int64_t flops_ = 0;
};

// BatchNormalization, plane by plane over the threads: each plane's
// multiply-adds, then the fused activation while the plane is in cache.
class FastBatchNormKernel final : public BatchNormKernelBase {
 public:
  Status Run(const KernelIO& io) const override {
    const float* x = io.inputs[0]->data<float>();
    float* y = io.outputs[0]->data<float>();
    const int64_t grain = std::max<int64_t>(1, kGrain / std::max<int64_t>(1, p_.spatial));
    io.pool->ParallelFor(p_.batch * p_.channels, grain, [&](int64_t begin, int64_t end) {
      for (int64_t plane = begin; plane < end; ++plane) {
        const int64_t c = plane % p_.channels;
        const BatchNormCoefficients k = ChannelCoefficients(p_, io, c);
        const float* in = x + plane * p_.spatial;
        float* out = y + plane * p_.spatial;
        int64_t i = 0;
#if defined(__AVX512F__)
        const __m512 a = _mm512_set1_ps(k.a);
        const __m512 b = _mm512_set1_ps(k.b);
        for (; i + 16 <= p_.spatial; i += 16) {
          _mm512_storeu_ps(out + i, _mm512_fmadd_ps(_mm512_loadu_ps(in + i), a, b));
        }
#endif
        for (; i < p_.spatial; ++i) out[i] = std::fma(in[i], k.a, k.b);
        ApplyActivation(p_.activation, out, p_.spatial);
      }
    });
    return Status::Ok();
  }
};

}  // namespace

void RegisterOptimizedElementwiseOps(OpRegistry* registry) {
  for (const char* op :
       {"Relu", "LeakyRelu", "Clip", "Sigmoid", "HardSigmoid", "HardSwish", "Tanh"}) {
    RegisterKernel<FastActivationKernel>(registry, op, KernelFlavor::kOptimized);
  }
  RegisterKernel<FastBinaryKernel<BinaryOpKind::kAdd>>(registry, "Add", KernelFlavor::kOptimized);
  RegisterKernel<FastBinaryKernel<BinaryOpKind::kSub>>(registry, "Sub", KernelFlavor::kOptimized);
  RegisterKernel<FastBinaryKernel<BinaryOpKind::kMul>>(registry, "Mul", KernelFlavor::kOptimized);
  RegisterKernel<FastBinaryKernel<BinaryOpKind::kDiv>>(registry, "Div", KernelFlavor::kOptimized);
  RegisterKernel<FastBatchNormKernel>(registry, "BatchNormalization", KernelFlavor::kOptimized);
}

}  // namespace serdab::engine
