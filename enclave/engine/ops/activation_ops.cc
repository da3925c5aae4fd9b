// Elementwise activations: Relu, LeakyRelu, Clip, Sigmoid, HardSigmoid,
// HardSwish, Tanh. Each node maps to an Activation (activation.h); the
// reference kernel applies ActivationReference one element at a time.
#include <cstdint>
#include <limits>
#include <string>
#include <vector>

#include "enclave/engine/activation.h"
#include "enclave/engine/kernel.h"
#include "enclave/engine/ops/broadcast.h"
#include "enclave/engine/ops/register_ops.h"

namespace serdab::engine {
namespace {

// Clip's min or max from opset 11 on: an optional constant scalar input.
Status ClipBound(const KernelSetup& setup, int input, float* bound) {
  if (!setup.has_input(input)) return Status::Ok();
  const char* name = input == 1 ? "min" : "max";
  const Tensor* t = setup.constant(input);
  if (t == nullptr) {
    return setup.Unsupported(std::string("input '") + name +
                             "' must be a constant (it is computed at run time)");
  }
  if (t->dtype() != DataType::kFloat32) {
    return setup.Error(std::string("input '") + name + "' has type " + DataTypeName(t->dtype()) +
                       ", expected float32 like the data");
  }
  if (t->num_elements() != 1) {
    return setup.Error(std::string("input '") + name + "' must be a scalar, got shape " +
                       ShapeToString(t->shape()));
  }
  *bound = t->data<float>()[0];
  return Status::Ok();
}

class ActivationKernel final : public Kernel {
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
    const int64_t n = io.inputs[0]->num_elements();
    for (int64_t i = 0; i < n; ++i) out[i] = ActivationReference(act_, in[i]);
    return Status::Ok();
  }

  int64_t Flops() const override { return flops_; }

 private:
  Activation act_;
  int64_t flops_ = 0;
};

}  // namespace

Result<Activation> ActivationFromNode(const KernelSetup& setup) {
  const Node& node = setup.n();
  const std::string& op = node.op_type;
  const int max_inputs = op == "Clip" && setup.opset >= 11 ? 3 : 1;
  if (setup.num_inputs() < 1 || setup.num_inputs() > max_inputs || !setup.has_input(0)) {
    return setup.Error("expects " + std::string(max_inputs == 1 ? "1 input" : "1 to 3 inputs") +
                       ", got " + std::to_string(setup.num_inputs()));
  }
  if (node.outputs.size() != 1) return setup.Error("expects 1 output");
  if (setup.info(0).dtype != DataType::kFloat32) {
    return setup.Unsupported(std::string("input of type ") + DataTypeName(setup.info(0).dtype) +
                             "; only float32 is supported");
  }
  SERDAB_RETURN_IF_ERROR(node.attrs.CheckKinds(node.name, {}, {}, {"alpha", "beta", "min", "max"}));

  Activation act;
  if (op == "Relu") {
    act.kind = Activation::Kind::kRelu;
  } else if (op == "LeakyRelu") {
    act.kind = Activation::Kind::kLeakyRelu;
    act.alpha = node.attrs.GetFloat("alpha", 0.01f);
  } else if (op == "Clip") {
    act.kind = Activation::Kind::kClip;
    act.alpha = -std::numeric_limits<float>::infinity();
    act.beta = std::numeric_limits<float>::infinity();
    if (setup.opset < 11) {
      act.alpha = node.attrs.GetFloat("min", act.alpha);
      act.beta = node.attrs.GetFloat("max", act.beta);
    } else {
      SERDAB_RETURN_IF_ERROR(ClipBound(setup, 1, &act.alpha));
      SERDAB_RETURN_IF_ERROR(ClipBound(setup, 2, &act.beta));
    }
  } else if (op == "Sigmoid") {
    act.kind = Activation::Kind::kSigmoid;
  } else if (op == "HardSigmoid") {
    act.kind = Activation::Kind::kHardSigmoid;
    act.alpha = node.attrs.GetFloat("alpha", 0.2f);
    act.beta = node.attrs.GetFloat("beta", 0.5f);
  } else if (op == "HardSwish") {
    act.kind = Activation::Kind::kHardSwish;
  } else if (op == "Tanh") {
    act.kind = Activation::Kind::kTanh;
  } else {
    return setup.Error("not an activation op");
  }
  return act;
}

void RegisterActivationOps(OpRegistry* registry) {
  for (const char* op :
       {"Relu", "LeakyRelu", "Clip", "Sigmoid", "HardSigmoid", "HardSwish", "Tanh"}) {
    RegisterKernel<ActivationKernel>(registry, op, KernelFlavor::kReference);
  }
}

}  // namespace serdab::engine
