// Fuzzes ONNX import, then model preparation (shape inference, constant
// folding, fusion, kernel setup) under small memory limits: a model is
// untrusted input to an enclave, and any input must end in a Status.
#include <cstddef>
#include <cstdint>
#include <string_view>
#include <utility>

#include "enclave/engine/model.h"
#include "enclave/engine/onnx_importer.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace serdab::engine;
  // Small enough that an accepted model cannot push the fuzzer past its RSS limit.
  constexpr TensorLimits kLimits{.max_tensor_bytes = 64 << 20, .max_total_bytes = 64 << 20};
  const std::string_view bytes(reinterpret_cast<const char*>(data), size);
  serdab::Result<Graph> graph = ImportOnnxBytes(bytes, "fuzz.onnx", nullptr, kLimits);
  if (graph.ok()) (void)Model::FromGraph(std::move(graph).value());
  return 0;
}
