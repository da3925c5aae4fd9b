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
#ifndef SERDAB_ENCLAVE_ENGINE_ONNX_IMPORTER_H_
#define SERDAB_ENCLAVE_ENGINE_ONNX_IMPORTER_H_

#include <string>
#include <string_view>

#include "enclave/common/status.h"
#include "enclave/engine/allocator.h"
#include "enclave/engine/graph.h"

namespace serdab::engine {

// Weights are allocated from `weight_allocator` (the heap if null).
Result<Graph> ImportOnnxFile(const std::string& path, Allocator* weight_allocator = nullptr,
                             const TensorLimits& limits = {});

// As ImportOnnxFile, from the serialized bytes of a ModelProto. `origin` names
// the source in messages.
Result<Graph> ImportOnnxBytes(std::string_view bytes, const std::string& origin,
                              Allocator* weight_allocator = nullptr,
                              const TensorLimits& limits = {});

}  // namespace serdab::engine

#endif  // SERDAB_ENCLAVE_ENGINE_ONNX_IMPORTER_H_
