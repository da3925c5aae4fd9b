// ONNX import: reads a .onnx file into a Graph.
//
// The importer checks the container (a parseable ModelProto with a graph and a
// default-domain opset), decodes initializers and Constant attributes into
// tensors, and names unnamed nodes. It does not know any op's semantics; the
// kernels' Setup does, at Model load. The model is decoded by onnx_wire.h,
// which leaves weights where they are in the input: each is copied once,
// straight into its tensor. ImportOnnxFile releases each weight's memory as
// soon as it has been copied, so peak memory stays near one copy of the
// weights.
//
// A model is untrusted input. Every tensor is held to `limits` (graph.h)
// before anything is allocated for it: each initializer and Constant must
// carry exactly the data its declared shape implies, no tensor may exceed
// limits.max_tensor_bytes, and all of them together limits.max_total_bytes.
// The graph keeps the limits, so that Model::FromGraph holds the tensors that
// shape inference and constant folding create to the same bounds.
//
// Architecture-only models let a model be profiled where its weights must not
// go (a worker whose enclave is not yet trusted with them): ArchitectureOnly
// removes the weights' data and keeps their names, types and shapes, and an
// import with ImportOptions::synthesize_absent_weights fills them with
// synthetic values of the same shapes, so every layer does the work it does
// with the real weights.
#ifndef SERDAB_ENCLAVE_ENGINE_ONNX_IMPORTER_H_
#define SERDAB_ENCLAVE_ENGINE_ONNX_IMPORTER_H_

#include <cstdint>
#include <set>
#include <string>
#include <string_view>

#include "enclave/common/status.h"
#include "enclave/engine/allocator.h"
#include "enclave/engine/graph.h"

namespace serdab::engine {

struct ImportOptions {
  // A floating-point tensor (initializer or Constant value) that declares a
  // non-empty shape but carries no data, as ArchitectureOnly leaves weights,
  // is filled with synthetic values instead of being refused. They are
  // deterministic (seeded by a hash of the tensor's name, or its Constant
  // node's), never zero, denormal or infinite, and keep activations in a
  // normal range: a tensor of rank 2 or more is uniform in +-sqrt(6 / fan_in)
  // (Kaiming-uniform for ReLU, fan_in the product of dims after the first);
  // one of rank 0 or 1 (a bias, a normalisation's scale, mean or variance) is
  // uniform in [0.5, 1.5], positive so that a BatchNormalization variance is.
  // Off, such a tensor is refused with its name.
  bool synthesize_absent_weights = false;
};

// Weights are allocated from `weight_allocator` (the heap if null).
Result<Graph> ImportOnnxFile(const std::string& path, Allocator* weight_allocator = nullptr,
                             const TensorLimits& limits = {}, const ImportOptions& options = {});

// As ImportOnnxFile, from the serialized bytes of a ModelProto. `origin` names
// the source in messages.
Result<Graph> ImportOnnxBytes(std::string_view bytes, const std::string& origin,
                              Allocator* weight_allocator = nullptr,
                              const TensorLimits& limits = {}, const ImportOptions& options = {});

// The model `onnx` without its weights' data. A weight is a floating-point
// tensor (a graph initializer, or the value of a Constant node) whose values
// no kernel needs at load time: it is not an input that some kernel reads as
// a constant to configure itself (Reshape's shape, Slice's starts/ends/axes/
// steps, Squeeze/Unsqueeze axes, Split's split, Expand's shape,
// ConstantOfShape's input, Pad's pads/value/axes, Resize's roi/scales/sizes,
// Upsample's scales, Clip's min/max, Dropout's training_mode, ReduceMean's
// axes; and Pow's exponent, which decides whether its result is finite), nor
// folded at load time (through nodes whose inputs are all constants, not
// through Shape) into such an input.
// Integer tensors are never weights. Each weight keeps its name, data type
// and dims and loses every field that holds or locates its values; every
// other byte of the file is kept as it is. `*removed_bytes` (if not null)
// gets the bytes of the fields removed (the length prefixes of the messages
// around them shrink besides). Refuses bytes that are not a ModelProto
// with a graph, as ImportOnnxBytes does.
Result<std::string> ArchitectureOnly(std::string_view onnx, uint64_t* removed_bytes = nullptr);

// As ArchitectureOnly, but the weights named in `keep` (initializer names,
// Constant nodes' output names) keep their data.
Result<std::string> StripWeightsExcept(std::string_view onnx, const std::set<std::string>& keep,
                                       uint64_t* removed_bytes = nullptr);

}  // namespace serdab::engine

#endif  // SERDAB_ENCLAVE_ENGINE_ONNX_IMPORTER_H_
