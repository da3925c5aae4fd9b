// Kernel: the contract every op implementation follows, and the registry that
// maps an ONNX op type to its implementations.
//
// Each op has a plain reference kernel (enclave/engine/ops/), written for
// clarity, and may have an optimised kernel (enclave/engine/optimized/) that is
// tested against it. The registry hands out the optimised one when asked and
// falls back to the reference one.
#ifndef SERDAB_ENCLAVE_ENGINE_KERNEL_H_
#define SERDAB_ENCLAVE_ENGINE_KERNEL_H_

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "enclave/common/status.h"
#include "enclave/engine/graph.h"
#include "enclave/engine/tensor.h"

namespace serdab::engine {

class Allocator;
class ThreadPool;

// What a kernel sees while it is set up for one node, once, at load time.
struct KernelSetup {
  const Node* node = nullptr;
  // One per node input: the value (type, shape, and constant data when the
  // input is a constant), or nullptr for an omitted optional input.
  std::vector<const Value*> inputs;
  int opset = 0;        // the model's default-domain opset
  int num_threads = 1;  // threads Run will be given
  TensorLimits limits;  // the graph's (graph.h)
  // Set when the node computes a slice of a larger layer's output features
  // (output_slice.h): that layer's feature count. Kernels then make every
  // choice that changes rounding as they would for the whole layer, so that
  // the slices side by side are bit-identical to it. 0: the node is whole.
  int64_t whole_output_features = 0;
  // Where a kernel keeps weights it prepares from constant inputs (see
  // Kernel::PreparedWeightBytes): the model's weight memory. Null: the heap.
  Allocator* weight_allocator = nullptr;

  const Node& n() const { return *node; }
  int num_inputs() const { return static_cast<int>(inputs.size()); }
  bool has_input(int i) const { return i < num_inputs() && inputs[i] != nullptr; }
  const TensorInfo& info(int i) const { return inputs[i]->info; }
  // Constant data of input i, or nullptr when absent or only known at run time.
  const Tensor* constant(int i) const {
    return has_input(i) && inputs[i]->is_constant() ? &inputs[i]->constant : nullptr;
  }
  // "node 'name' (OpType): message" as InvalidArgument.
  Status Error(const std::string& message) const;
  // As Error, but Unimplemented: valid ONNX that this engine does not support.
  Status Unsupported(const std::string& message) const;
  // InvalidArgument unless a tensor of `dtype` and `shape` fits `limits`. A
  // Setup that builds tables sized by an output's dimensions (which the model
  // chose) checks that output, named `what`, first.
  Status CheckSize(DataType dtype, const Shape& shape, const std::string& what) const;
};

// Window geometry (strides, dilations, pads of convolutions and pooling) above
// this is refused: the model chose it, and bounded so, the product of two such
// values plus a dimension within TensorLimits cannot overflow int64.
inline constexpr int64_t kMaxWindowGeometry = int64_t{1} << 31;

// What a kernel sees when it runs on one frame.
struct KernelIO {
  std::vector<const Tensor*> inputs;  // nullptr for omitted optional inputs
  std::vector<Tensor*> outputs;       // allocated with the shapes Setup returned
  ThreadPool* pool = nullptr;         // never null; may have one thread
  void* scratch = nullptr;            // ScratchBytes() bytes, 64-byte aligned
};

class Kernel {
 public:
  virtual ~Kernel() = default;

  // Reads and validates the node's attributes and inputs, and returns each
  // output's type and shape. Weight repacking, if any, happens here.
  virtual Status Setup(const KernelSetup& setup, std::vector<TensorInfo>* outputs) = 0;

  // Computes the outputs. Must be deterministic for a given thread count and
  // safe to call from several threads at once with distinct KernelIO.
  virtual Status Run(const KernelIO& io) const = 0;

  // Floating point operations per run (a multiply-add counts two); after Setup.
  virtual int64_t Flops() const { return 0; }

  // Scratch memory Run needs; after Setup.
  virtual size_t ScratchBytes() const { return 0; }

  // Bytes of weights the kernel holds in a form of its own (transformed at
  // Setup from constant inputs, in KernelSetup::weight_allocator), beside
  // the constants themselves; after Setup. The layer view counts them with
  // the layer's weights, since they are resident as long as it is.
  virtual size_t PreparedWeightBytes() const { return 0; }
};

enum class KernelFlavor { kReference, kOptimized };

using KernelFactory = std::unique_ptr<Kernel> (*)();

class OpRegistry {
 public:
  // The registry of every op this build supports (built on first use).
  static const OpRegistry& Builtin();

  void Register(const std::string& op_type, KernelFlavor flavor, KernelFactory factory);

  // A new kernel for op_type: the optimised one if asked for and registered,
  // else the reference one; nullptr for an op type this registry does not know.
  std::unique_ptr<Kernel> Create(const std::string& op_type, KernelFlavor flavor) const;

  bool Supports(const std::string& op_type) const { return reference_.count(op_type) != 0; }
  bool HasOptimized(const std::string& op_type) const { return optimized_.count(op_type) != 0; }
  std::vector<std::string> OpTypes() const;

 private:
  std::map<std::string, KernelFactory> reference_;
  std::map<std::string, KernelFactory> optimized_;
};

// Registers a Kernel subclass under an op type: registry->Register(...) with a
// factory that default-constructs `KernelClass`.
template <typename KernelClass>
void RegisterKernel(OpRegistry* registry, const std::string& op_type, KernelFlavor flavor) {
  registry->Register(op_type, flavor,
                     []() -> std::unique_ptr<Kernel> { return std::make_unique<KernelClass>(); });
}

}  // namespace serdab::engine

#endif  // SERDAB_ENCLAVE_ENGINE_KERNEL_H_
