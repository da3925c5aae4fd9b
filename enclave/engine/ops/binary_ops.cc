// Add, Sub, Mul, Div, Pow with numpy broadcasting, on float32 and int64 (int64
// tensors carry shape arithmetic). The element loops live in broadcast.h and
// are shared with the optimised kernels, which only split the output across
// threads.
//
// Also the ops built on the same loops: PRelu, Equal (whose boolean result
// the engine holds as int64 0 or 1) and the variadic Min, Max and Sum.
#include <algorithm>
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

struct PReluOp {
  float operator()(float x, float slope) const { return x < 0.f ? x * slope : x; }
};

// 1 where equal, 0 elsewhere, in the input's type.
struct EqualOp {
  float operator()(float a, float b) const { return a == b ? 1.f : 0.f; }
  int64_t operator()(int64_t a, int64_t b) const { return a == b ? 1 : 0; }
};

// Min and Max propagate NaN, as numpy's minimum and maximum do.
struct MinOp {
  float operator()(float a, float b) const { return std::isnan(a) || a < b ? a : b; }
  int64_t operator()(int64_t a, int64_t b) const { return std::min(a, b); }
};
struct MaxOp {
  float operator()(float a, float b) const { return std::isnan(a) || a > b ? a : b; }
  int64_t operator()(int64_t a, int64_t b) const { return std::max(a, b); }
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
    SERDAB_ASSIGN_OR_RETURN(act_, BinaryEpilogue(setup, dtype_));
    int_exponents_ = setup.info(1).dtype != dtype_;
    exponents_ = NumElements(setup.info(1).shape);
    node_ = "node '" + setup.n().name + "' (" + setup.n().op_type + ")";
    flops_ = NumElements(out.shape);
    outputs->assign(1, out);
    return Status::Ok();
  }

  Status Run(const KernelIO& io) const override {
    if (kKind == BinaryOpKind::kDiv && dtype_ == DataType::kInt64) {
      SERDAB_RETURN_IF_ERROR(CheckInt64Divisor(*io.inputs[1]).WithContext(node_));
    }
    if (int_exponents_) {
      // A float32 base with int64 exponents: the exponents become float32.
      const int64_t* e = io.inputs[1]->data<int64_t>();
      float* exponents = static_cast<float*>(io.scratch);
      for (int64_t i = 0; i < exponents_; ++i) exponents[i] = static_cast<float>(e[i]);
      BinaryRange(plan_, io.inputs[0]->data<float>(), exponents, io.outputs[0]->data<float>(), 0,
                  io.outputs[0]->num_elements(), PowOp{});
      return Status::Ok();
    }
    RunBinaryRange(kKind, dtype_, plan_, *io.inputs[0], *io.inputs[1], io.outputs[0], 0,
                   io.outputs[0]->num_elements());
    if (!act_.is_none()) {
      float* y = io.outputs[0]->data<float>();
      for (int64_t i = 0; i < io.outputs[0]->num_elements(); ++i) {
        y[i] = ActivationReference(act_, y[i]);
      }
    }
    return Status::Ok();
  }

  int64_t Flops() const override { return flops_; }
  size_t ScratchBytes() const override {
    return int_exponents_ ? static_cast<size_t>(exponents_) * sizeof(float) : 0;
  }

 private:
  BroadcastPlan plan_;
  DataType dtype_ = DataType::kUndefined;
  Activation act_;              // fused into an Add
  bool int_exponents_ = false;  // Pow of a float32 base by int64 exponents
  int64_t exponents_ = 0;       // elements of input 1
  std::string node_;            // for run-time messages
  int64_t flops_ = 0;
};

// PRelu(X, slope): the slope broadcasts to X (unidirectionally), never the
// other way. Before opset 7 a 1-D slope holds one value per channel
// (dimension 1), whatever X's rank.
class PReluKernel final : public Kernel {
 public:
  Status Setup(const KernelSetup& setup, std::vector<TensorInfo>* outputs) override {
    TensorInfo out;
    SERDAB_RETURN_IF_ERROR(SetupBinaryOp(setup, &plan_, &out, PerChannelSlope(setup)));
    if (out.dtype != DataType::kFloat32) {
      return setup.Unsupported(std::string("inputs of type ") + DataTypeName(out.dtype));
    }
    if (out.shape != setup.info(0).shape) {
      return setup.Error("slope " + ShapeToString(setup.info(1).shape) +
                         " does not broadcast to the input " + ShapeToString(setup.info(0).shape));
    }
    flops_ = NumElements(out.shape);
    outputs->assign(1, out);
    return Status::Ok();
  }

  Status Run(const KernelIO& io) const override {
    BinaryRange(plan_, io.inputs[0]->data<float>(), io.inputs[1]->data<float>(),
                io.outputs[0]->data<float>(), 0, io.outputs[0]->num_elements(), PReluOp{});
    return Status::Ok();
  }

  int64_t Flops() const override { return flops_; }

 private:
  // The shape the slope broadcasts as: [C, 1, ..., 1] for a legacy
  // per-channel slope, else its own.
  static Shape PerChannelSlope(const KernelSetup& setup) {
    if (setup.num_inputs() != 2 || !setup.has_input(0) || !setup.has_input(1)) return {};
    const Shape& x = setup.info(0).shape;
    const Shape& slope = setup.info(1).shape;
    if (setup.opset >= 7 || slope.size() != 1 || x.size() < 3 || slope[0] != x[1]) return slope;
    Shape channel(x.size() - 1, 1);
    channel[0] = slope[0];
    return channel;
  }

  BroadcastPlan plan_;
  int64_t flops_ = 0;
};

// Equal on float32 or int64; the result is int64, which is how the engine
// holds ONNX's bool.
class EqualKernel final : public Kernel {
 public:
  Status Setup(const KernelSetup& setup, std::vector<TensorInfo>* outputs) override {
    TensorInfo out;
    SERDAB_RETURN_IF_ERROR(SetupBinaryOp(setup, &plan_, &out));
    dtype_ = out.dtype;
    elements_ = NumElements(out.shape);
    outputs->assign(1, TensorInfo{DataType::kInt64, out.shape});
    return Status::Ok();
  }

  // float32 comparisons go through the scratch buffer, then become int64.
  Status Run(const KernelIO& io) const override {
    int64_t* out = io.outputs[0]->data<int64_t>();
    if (dtype_ == DataType::kInt64) {
      BinaryRange(plan_, io.inputs[0]->data<int64_t>(), io.inputs[1]->data<int64_t>(), out, 0,
                  elements_, EqualOp{});
      return Status::Ok();
    }
    float* equal = static_cast<float*>(io.scratch);
    BinaryRange(plan_, io.inputs[0]->data<float>(), io.inputs[1]->data<float>(), equal, 0,
                elements_, EqualOp{});
    for (int64_t i = 0; i < elements_; ++i) out[i] = equal[i] != 0.f ? 1 : 0;
    return Status::Ok();
  }

  int64_t Flops() const override { return elements_; }
  size_t ScratchBytes() const override {
    return dtype_ == DataType::kFloat32 ? static_cast<size_t>(elements_) * sizeof(float) : 0;
  }

 private:
  BroadcastPlan plan_;
  DataType dtype_ = DataType::kUndefined;
  int64_t elements_ = 0;
};

// Min, Max and Sum of one or more inputs, all broadcast together. The output
// starts as input 0 and folds in the others left to right, so Sum adds in
// the order the node lists its inputs.
template <typename Op>
class VariadicKernel final : public Kernel {
 public:
  Status Setup(const KernelSetup& setup, std::vector<TensorInfo>* outputs) override {
    if (setup.num_inputs() < 1) return setup.Error("expects at least 1 input");
    if (setup.n().outputs.size() != 1) return setup.Error("expects 1 output");
    for (int i = 0; i < setup.num_inputs(); ++i) {
      if (!setup.has_input(i)) return setup.Error("input " + std::to_string(i) + " is missing");
    }
    dtype_ = setup.info(0).dtype;
    if (dtype_ != DataType::kFloat32 && dtype_ != DataType::kInt64) {
      return setup.Unsupported(std::string("inputs of type ") + DataTypeName(dtype_));
    }
    Shape out = setup.info(0).shape;
    for (int i = 0; i < setup.num_inputs(); ++i) {
      if (setup.info(i).dtype != dtype_) {
        return setup.Error("input " + std::to_string(i) + " has type " +
                           DataTypeName(setup.info(i).dtype) + ", input 0 " + DataTypeName(dtype_));
      }
      BroadcastPlan plan;
      SERDAB_RETURN_IF_ERROR(Broadcast(setup, out, setup.info(i).shape, &plan));
      out = plan.out_shape;
    }
    // Each input against the whole output: input i is `a`, the output `b`.
    plans_.resize(setup.num_inputs());
    for (int i = 0; i < setup.num_inputs(); ++i) {
      SERDAB_RETURN_IF_ERROR(Broadcast(setup, setup.info(i).shape, out, &plans_[i]));
    }
    elements_ = NumElements(out);
    outputs->assign(1, TensorInfo{dtype_, out});
    return Status::Ok();
  }

  Status Run(const KernelIO& io) const override {
    if (dtype_ == DataType::kInt64) {
      RunTyped<int64_t>(io);
    } else {
      RunTyped<float>(io);
    }
    return Status::Ok();
  }

  int64_t Flops() const override {
    return elements_ * static_cast<int64_t>(plans_.size() > 0 ? plans_.size() - 1 : 0);
  }

 private:
  static Status Broadcast(const KernelSetup& setup, const Shape& a, const Shape& b,
                          BroadcastPlan* plan) {
    const Status s = MakeBroadcastPlan(a, b, plan);
    if (s.code() == Status::Code::kUnimplemented) return setup.Unsupported(s.message());
    if (!s.ok()) return setup.Error(s.message());
    return Status::Ok();
  }

  // Every pass reads the output at the position it writes, so it can run in
  // place.
  template <typename T>
  void RunTyped(const KernelIO& io) const {
    T* out = io.outputs[0]->data<T>();
    std::fill(out, out + elements_, T{});
    BinaryRange(plans_[0], io.inputs[0]->data<T>(), out, out, 0, elements_,
                [](T a, T) { return a; });
    for (size_t i = 1; i < plans_.size(); ++i) {
      BinaryRange(plans_[i], io.inputs[i]->data<T>(), out, out, 0, elements_,
                  [](T a, T b) { return Op{}(b, a); });
    }
  }

  std::vector<BroadcastPlan> plans_;
  DataType dtype_ = DataType::kUndefined;
  int64_t elements_ = 0;
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
  return SetupBinaryOp(setup, plan, output, setup.has_input(1) ? setup.info(1).shape : Shape{});
}

Status SetupBinaryOp(const KernelSetup& setup, BroadcastPlan* plan, TensorInfo* output,
                     const Shape& b_shape) {
  if (setup.num_inputs() != 2 || !setup.has_input(0) || !setup.has_input(1)) {
    return setup.Error("expects 2 inputs, got " + std::to_string(setup.num_inputs()));
  }
  if (setup.n().outputs.size() != 1) return setup.Error("expects 1 output");
  const TensorInfo& a = setup.info(0);
  const TensorInfo& b = setup.info(1);
  // From opset 12 Pow's exponent may have another type than its base; a
  // float32 base with int64 exponents is supported.
  const bool int_exponents =
      setup.n().op_type == "Pow" && a.dtype == DataType::kFloat32 && b.dtype == DataType::kInt64;
  if (a.dtype != b.dtype && !int_exponents) {
    return setup.Error(std::string("inputs have different types: ") + DataTypeName(a.dtype) +
                       " and " + DataTypeName(b.dtype));
  }
  if (a.dtype != DataType::kFloat32 && a.dtype != DataType::kInt64) {
    return setup.Unsupported(std::string("inputs of type ") + DataTypeName(a.dtype));
  }
  const Status s = MakeBroadcastPlan(a.shape, b_shape, plan);
  if (s.code() == Status::Code::kUnimplemented) return setup.Unsupported(s.message());
  if (!s.ok()) return setup.Error(s.message());
  *output = TensorInfo{a.dtype, plan->out_shape};
  return Status::Ok();
}

Result<Activation> BinaryEpilogue(const KernelSetup& setup, DataType dtype) {
  Result<Activation> act = Activation::FromAttributes(setup.n().attrs);
  if (!act.ok()) return setup.Error(act.status().message());
  if (!act->is_none() && (setup.n().op_type != "Add" || dtype != DataType::kFloat32)) {
    return setup.Error("a fused activation needs a float32 Add");
  }
  return act;
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
  RegisterKernel<PReluKernel>(registry, "PRelu", KernelFlavor::kReference);
  RegisterKernel<EqualKernel>(registry, "Equal", KernelFlavor::kReference);
  RegisterKernel<VariadicKernel<MinOp>>(registry, "Min", KernelFlavor::kReference);
  RegisterKernel<VariadicKernel<MaxOp>>(registry, "Max", KernelFlavor::kReference);
  RegisterKernel<VariadicKernel<AddOp>>(registry, "Sum", KernelFlavor::kReference);
}

}  // namespace serdab::engine
