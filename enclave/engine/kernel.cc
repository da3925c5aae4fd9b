#include "enclave/engine/kernel.h"

#include "enclave/engine/ops/register_ops.h"

namespace serdab::engine {

Status KernelSetup::Error(const std::string& message) const {
  return Status::InvalidArgument("node '" + node->name + "' (" + node->op_type + "): " + message);
}

Status KernelSetup::Unsupported(const std::string& message) const {
  return Status::Unimplemented("node '" + node->name + "' (" + node->op_type + ", opset " +
                               std::to_string(opset) + "): " + message);
}

Status KernelSetup::CheckSize(DataType dtype, const Shape& shape, const std::string& what) const {
  return CheckedTensorBytes(dtype, shape, limits,
                            "node '" + node->name + "' (" + node->op_type + "): " + what)
      .status();
}

const OpRegistry& OpRegistry::Builtin() {
  static const OpRegistry* registry = [] {
    auto* r = new OpRegistry;
    RegisterReferenceOps(r);
    RegisterOptimizedOps(r);
    return r;
  }();
  return *registry;
}

void OpRegistry::Register(const std::string& op_type, KernelFlavor flavor, KernelFactory factory) {
  (flavor == KernelFlavor::kReference ? reference_ : optimized_)[op_type] = factory;
}

std::unique_ptr<Kernel> OpRegistry::Create(const std::string& op_type, KernelFlavor flavor) const {
  if (flavor == KernelFlavor::kOptimized) {
    auto it = optimized_.find(op_type);
    if (it != optimized_.end()) return it->second();
  }
  auto it = reference_.find(op_type);
  return it == reference_.end() ? nullptr : it->second();
}

std::vector<std::string> OpRegistry::OpTypes() const {
  std::vector<std::string> types;
  for (const auto& [type, factory] : reference_) types.push_back(type);
  return types;
}

}  // namespace serdab::engine
