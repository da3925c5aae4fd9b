// Add, Sub, Mul, Div, Pow with numpy broadcasting, on float32 and int64 (int64
// tensors carry shape arithmetic). The element loops live in broadcast.h and
// are shared with the optimised kernels, which only split the output across
// threads.
#include <cmath>
#include <cstdint>
#include <string>
#include <vector>

#include "enclave/engine/kernel.h"
#include "enclave/engine/ops/broadcast.h"
#include "enclave/engine/ops/register_ops.h"

namespace serdab::engine {
namespace {

// int64 arithmetic wraps (as ONNX Runtime does on two's complement hardware)
// rather than being undefined behaviour on overflow.
int64_t Wrap(uint64_t v) { return static_cast<int64_t>(v); }

struct AddOp {
  float operator()(float a, float b) const { return a + b; }
  int64_t operator()(int64_t a, int64_t b) const {
    return Wrap(static_cast<uint64_t>(a) + static_cast<uint64_t>(b));
  }
};
struct SubOp {
  float operator()(float a, float b) const { return a - b; }
  int64_t operator()(int64_t a, int64_t b) const {
    return Wrap(static_cast<uint64_t>(a) - static_cast<uint64_t>(b));
  }
};
struct MulOp {
  float operator()(float a, float b) const { return a * b; }
  int64_t operator()(int64_t a, int64_t b) const {
    return Wrap(static_cast<uint64_t>(a) * static_cast<uint64_t>(b));
  }
};
struct DivOp {
  float operator()(float a, float b) const { return a / b; }
  // Truncates toward zero like C++. INT64_MIN / -1 overflows; it wraps.
  int64_t operator()(int64_t a, int64_t b) const {
    return b == -1 ? Wrap(0 - static_cast<uint64_t>(a)) : a / b;
  }
};

struct PowOp {
  float operator()(float a, float b) const { return std::pow(a, b); }
  // Integer power by squaring; a negative exponent truncates toward zero like
  // integer division (only 1 and -1 keep a non-zero result).
  int64_t operator()(int64_t a, int64_t b) const {
    if (b < 0) return a == 1 ? 1 : a == -1 ? (b % 2 ? -1 : 1) : 0;
    uint64_t result = 1, base = static_cast<uint64_t>(a);
    for (; b > 0; b >>= 1, base *= base) {
      if (b & 1) result *= base;
    }
    return Wrap(result);
  }
};

template <typename T>
void RunTyped(BinaryOpKind kind, const BroadcastPlan& plan, const T* a, const T* b, T* out,
              int64_t begin, int64_t end) {
  switch (kind) {
    case BinaryOpKind::kAdd:
      return BinaryRange(plan, a, b, out, begin, end, AddOp{});
    case BinaryOpKind::kSub:
      return BinaryRange(plan, a, b, out, begin, end, SubOp{});
    case BinaryOpKind::kMul:
      return BinaryRange(plan, a, b, out, begin, end, MulOp{});
    case BinaryOpKind::kDiv:
      return BinaryRange(plan, a, b, out, begin, end, DivOp{});
    case BinaryOpKind::kPow:
      return BinaryRange(plan, a, b, out, begin, end, PowOp{});
  }
}

template <BinaryOpKind kKind>
class BinaryKernel final : public Kernel {
 public:
  Status Setup(const KernelSetup& setup, std::vector<TensorInfo>* outputs) override {
    TensorInfo out;
    SERDAB_RETURN_IF_ERROR(SetupBinaryOp(setup, &plan_, &out));
    dtype_ = out.dtype;
    node_ = "node '" + setup.n().name + "' (" + setup.n().op_type + ")";
    flops_ = NumElements(out.shape);
    outputs->assign(1, out);
    return Status::Ok();
  }

  Status Run(const KernelIO& io) const override {
    if (kKind == BinaryOpKind::kDiv && dtype_ == DataType::kInt64) {
      SERDAB_RETURN_IF_ERROR(CheckInt64Divisor(*io.inputs[1]).WithContext(node_));
    }
    RunBinaryRange(kKind, dtype_, plan_, *io.inputs[0], *io.inputs[1], io.outputs[0], 0,
                   io.outputs[0]->num_elements());
    return Status::Ok();
  }

  int64_t Flops() const override { return flops_; }

 private:
  BroadcastPlan plan_;
  DataType dtype_ = DataType::kUndefined;
  std::string node_;  // for run-time messages
  int64_t flops_ = 0;
};

}  // namespace

Status MakeBroadcastPlan(const Shape& a, const Shape& b, BroadcastPlan* plan) {
  const size_t rank = std::max(a.size(), b.size());
  if (rank > static_cast<size_t>(kMaxBroadcastRank)) {
    return Status::Unimplemented("broadcasting over " + std::to_string(rank) +
                                 " dimensions; at most " + std::to_string(kMaxBroadcastRank) +
                                 " are supported");
  }
  *plan = BroadcastPlan();
  // Per collapsed dimension: is a (resp. b) broadcast along it?
  std::vector<bool> a_bcast, b_bcast;
  for (size_t d = 0; d < rank; ++d) {
    const int64_t ad = d + a.size() < rank ? 1 : a[d + a.size() - rank];
    const int64_t bd = d + b.size() < rank ? 1 : b[d + b.size() - rank];
    if (ad != bd && ad != 1 && bd != 1) {
      return Status::InvalidArgument("shapes " + ShapeToString(a) + " and " + ShapeToString(b) +
                                     " do not broadcast (dimension " + std::to_string(d) + ")");
    }
    const int64_t od = ad == 1 ? bd : ad;
    plan->out_shape.push_back(od);
    if (od == 1) continue;
    const bool ab = ad == 1;
    const bool bb = bd == 1;
    if (!plan->dims.empty() && a_bcast.back() == ab && b_bcast.back() == bb) {
      plan->dims.back() *= od;
    } else {
      plan->dims.push_back(od);
      a_bcast.push_back(ab);
      b_bcast.push_back(bb);
    }
  }
  if (plan->dims.empty()) {
    plan->dims.push_back(1);
    a_bcast.push_back(false);
    b_bcast.push_back(false);
  }
  const size_t n = plan->dims.size();
  plan->a_strides.assign(n, 0);
  plan->b_strides.assign(n, 0);
  int64_t a_stride = 1;
  int64_t b_stride = 1;
  for (size_t d = n; d-- > 0;) {
    if (!a_bcast[d]) {
      plan->a_strides[d] = a_stride;
      a_stride *= plan->dims[d];
    }
    if (!b_bcast[d]) {
      plan->b_strides[d] = b_stride;
      b_stride *= plan->dims[d];
    }
  }
  return Status::Ok();
}

Status SetupBinaryOp(const KernelSetup& setup, BroadcastPlan* plan, TensorInfo* output) {
  if (setup.num_inputs() != 2 || !setup.has_input(0) || !setup.has_input(1)) {
    return setup.Error("expects 2 inputs, got " + std::to_string(setup.num_inputs()));
  }
  if (setup.n().outputs.size() != 1) return setup.Error("expects 1 output");
  const TensorInfo& a = setup.info(0);
  const TensorInfo& b = setup.info(1);
  if (a.dtype != b.dtype) {
    return setup.Error(std::string("inputs have different types: ") + DataTypeName(a.dtype) +
                       " and " + DataTypeName(b.dtype));
  }
  if (a.dtype != DataType::kFloat32 && a.dtype != DataType::kInt64) {
    return setup.Unsupported(std::string("inputs of type ") + DataTypeName(a.dtype));
  }
  const Status s = MakeBroadcastPlan(a.shape, b.shape, plan);
  if (s.code() == Status::Code::kUnimplemented) return setup.Unsupported(s.message());
  if (!s.ok()) return setup.Error(s.message());
  *output = TensorInfo{a.dtype, plan->out_shape};
  return Status::Ok();
}

void RunBinaryRange(BinaryOpKind kind, DataType dtype, const BroadcastPlan& plan, const Tensor& a,
                    const Tensor& b, Tensor* out, int64_t begin, int64_t end) {
  if (dtype == DataType::kInt64) {
    RunTyped(kind, plan, a.data<int64_t>(), b.data<int64_t>(), out->data<int64_t>(), begin, end);
  } else {
    RunTyped(kind, plan, a.data<float>(), b.data<float>(), out->data<float>(), begin, end);
  }
}

Status CheckInt64Divisor(const Tensor& divisor) {
  const int64_t* d = divisor.data<int64_t>();
  for (int64_t i = 0; i < divisor.num_elements(); ++i) {
    if (d[i] == 0) return Status::InvalidArgument("integer division by zero");
  }
  return Status::Ok();
}

void RegisterBinaryOps(OpRegistry* registry) {
  RegisterKernel<BinaryKernel<BinaryOpKind::kAdd>>(registry, "Add", KernelFlavor::kReference);
  RegisterKernel<BinaryKernel<BinaryOpKind::kSub>>(registry, "Sub", KernelFlavor::kReference);
  RegisterKernel<BinaryKernel<BinaryOpKind::kMul>>(registry, "Mul", KernelFlavor::kReference);
  RegisterKernel<BinaryKernel<BinaryOpKind::kDiv>>(registry, "Div", KernelFlavor::kReference);
  RegisterKernel<BinaryKernel<BinaryOpKind::kPow>>(registry, "Pow", KernelFlavor::kReference);
}

}  // namespace serdab::engine
