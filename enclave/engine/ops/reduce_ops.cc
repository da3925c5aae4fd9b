// ReduceSum, ReduceMax, ReduceMin, ReduceProd, ReduceL1, ReduceL2,
// ReduceSumSquare, ReduceLogSum and ReduceLogSumExp on float32. (ReduceMean,
// which has an optimised kernel, lives in pooling_ops.cc.)
//
// Every reduction is one pass over the input in row-major order that folds
// each element into its output slot, then a finishing step per output (the
// square root of L2, the log of LogSum). Sums accumulate in double so that a
// long reduction keeps float32 precision.
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <string>
#include <vector>

#include "enclave/engine/kernel.h"
#include "enclave/engine/ops/pool_params.h"
#include "enclave/engine/ops/register_ops.h"

namespace serdab::engine {
namespace {

enum class ReduceKind { kSum, kMax, kMin, kProd, kL1, kL2, kSumSquare, kLogSum, kLogSumExp };

double Identity(ReduceKind kind) {
  switch (kind) {
    case ReduceKind::kMax:
      return -std::numeric_limits<double>::infinity();
    case ReduceKind::kMin:
      return std::numeric_limits<double>::infinity();
    case ReduceKind::kProd:
      return 1.0;
    default:
      return 0.0;
  }
}

template <ReduceKind kKind>
class ReduceKernel final : public Kernel {
 public:
  Status Setup(const KernelSetup& setup, std::vector<TensorInfo>* outputs) override {
    const Node& node = setup.n();
    // ReduceSum took its axes as an input from opset 13, the others from 18.
    const bool axes_input = setup.opset >= (kKind == ReduceKind::kSum ? 13 : 18);
    if (setup.num_inputs() < 1 || setup.num_inputs() > (axes_input ? 2 : 1) ||
        !setup.has_input(0)) {
      return setup.Error("expects " + std::string(axes_input ? "1 or 2 inputs" : "1 input") +
                         ", got " + std::to_string(setup.num_inputs()));
    }
    if (node.outputs.size() != 1) return setup.Error("expects 1 output");
    if (setup.info(0).dtype != DataType::kFloat32) {
      return setup.Unsupported(std::string("input of type ") + DataTypeName(setup.info(0).dtype) +
                               "; only float32 is supported");
    }
    const Shape& x = setup.info(0).shape;
    std::vector<bool> reduce;
    Shape out;
    SERDAB_RETURN_IF_ERROR(ParseReducedAxes(setup, axes_input, &reduce, &out));

    dims_ = x;
    out_strides_.assign(x.size(), 0);
    int64_t stride = 1;
    for (size_t d = x.size(); d-- > 0;) {
      if (!reduce[d]) {
        out_strides_[d] = stride;
        stride *= x[d];
      }
    }
    in_elements_ = NumElements(x);
    outputs->assign(1, TensorInfo{DataType::kFloat32, out});
    return Status::Ok();
  }

  Status Run(const KernelIO& io) const override {
    const float* x = io.inputs[0]->data<float>();
    float* y = io.outputs[0]->data<float>();
    const int64_t out_elements = io.outputs[0]->num_elements();
    std::vector<double> acc(out_elements, Identity(kKind));
    // LogSumExp subtracts each output's maximum first so that exp cannot
    // overflow: one pass for the maxima, one for the sums.
    std::vector<double> max;
    if (kKind == ReduceKind::kLogSumExp) {
      max.assign(out_elements, -std::numeric_limits<double>::infinity());
      ForEach([&](int64_t i, int64_t o) { max[o] = std::max(max[o], double{x[i]}); });
      for (double& m : max) {
        if (std::isinf(m)) m = 0.0;
      }
    }
    ForEach([&](int64_t i, int64_t o) {
      const double v = x[i];
      switch (kKind) {
        case ReduceKind::kSum:
        case ReduceKind::kLogSum:
          acc[o] += v;
          break;
        case ReduceKind::kMax:
          acc[o] = std::isnan(v) ? v : std::max(acc[o], v);
          break;
        case ReduceKind::kMin:
          acc[o] = std::isnan(v) ? v : std::min(acc[o], v);
          break;
        case ReduceKind::kProd:
          acc[o] *= v;
          break;
        case ReduceKind::kL1:
          acc[o] += std::fabs(v);
          break;
        case ReduceKind::kL2:
        case ReduceKind::kSumSquare:
          acc[o] += v * v;
          break;
        case ReduceKind::kLogSumExp:
          acc[o] += std::exp(v - max[o]);
          break;
      }
    });
    for (int64_t o = 0; o < out_elements; ++o) {
      double v = acc[o];
      if (kKind == ReduceKind::kL2) v = std::sqrt(v);
      if (kKind == ReduceKind::kLogSum) v = std::log(v);
      if (kKind == ReduceKind::kLogSumExp) v = max[o] + std::log(v);
      y[o] = static_cast<float>(v);
    }
    return Status::Ok();
  }

  int64_t Flops() const override { return in_elements_; }

 private:
  // Calls fn(input index, output index) for every input element in order.
  template <typename Fn>
  void ForEach(Fn&& fn) const {
    if (in_elements_ == 0) return;
    const int rank = static_cast<int>(dims_.size());
    std::vector<int64_t> index(rank, 0);
    int64_t o = 0;
    for (int64_t i = 0; i < in_elements_; ++i) {
      fn(i, o);
      for (int d = rank - 1; d >= 0; --d) {
        o += out_strides_[d];
        if (++index[d] < dims_[d]) break;
        o -= out_strides_[d] * dims_[d];
        index[d] = 0;
      }
    }
  }

  Shape dims_;
  std::vector<int64_t> out_strides_;  // per input dimension; 0 where reduced
  int64_t in_elements_ = 0;
};

}  // namespace

void RegisterReduceOps(OpRegistry* registry) {
  constexpr KernelFlavor kRef = KernelFlavor::kReference;
  RegisterKernel<ReduceKernel<ReduceKind::kSum>>(registry, "ReduceSum", kRef);
  RegisterKernel<ReduceKernel<ReduceKind::kMax>>(registry, "ReduceMax", kRef);
  RegisterKernel<ReduceKernel<ReduceKind::kMin>>(registry, "ReduceMin", kRef);
  RegisterKernel<ReduceKernel<ReduceKind::kProd>>(registry, "ReduceProd", kRef);
  RegisterKernel<ReduceKernel<ReduceKind::kL1>>(registry, "ReduceL1", kRef);
  RegisterKernel<ReduceKernel<ReduceKind::kL2>>(registry, "ReduceL2", kRef);
  RegisterKernel<ReduceKernel<ReduceKind::kSumSquare>>(registry, "ReduceSumSquare", kRef);
  RegisterKernel<ReduceKernel<ReduceKind::kLogSum>>(registry, "ReduceLogSum", kRef);
  RegisterKernel<ReduceKernel<ReduceKind::kLogSumExp>>(registry, "ReduceLogSumExp", kRef);
}

}  // namespace serdab::engine
