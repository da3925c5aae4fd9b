// The model file a pipeline stage needs, and the check that it had it.
//
// A stage runs layers [begin, end) of a Model (model.h) and keeps only their
// weights. The coordinator enclave provisions it with PartitionModelFile: the
// whole graph, with the data of just the weights those layers are computed
// from (the file's tensors their constants come from through folding and
// BatchNorm fusion, Value::sources); every other weight loses its data as in
// ArchitectureOnly (onnx_importer.h). A stage then holds, and a worker
// enclave ever sees, its own partition of the model, and a large model's
// rollout does not send every stage the whole file.
//
// The stage imports that file with ImportOptions::synthesize_absent_weights
// (the layers it does not run still need shapes) and CheckPartitionWeights
// refuses the partition if a layer it keeps would read a synthesized weight.
#ifndef SERDAB_ENCLAVE_ENGINE_PARTITION_FILE_H_
#define SERDAB_ENCLAVE_ENGINE_PARTITION_FILE_H_

#include <cstdint>
#include <string>
#include <string_view>

#include "enclave/common/status.h"
#include "enclave/engine/model.h"

namespace serdab::engine {

// `onnx` with only the weights of layers [begin, end) (end -1: to the last
// layer), numbered as Model numbers them with ModelOptions::fuse on (what a
// stage runs). `*removed_bytes` (if not null) gets the bytes left out.
// Errors as ImportOnnxBytes and Model::FromGraph give them (OutOfRange for
// a range outside the model).
Result<std::string> PartitionModelFile(std::string_view onnx, int begin, int end,
                                       uint64_t* removed_bytes = nullptr);

// OK unless a layer in the model's kept range reads a constant computed from
// a weight the importer synthesized (Graph::synthesized); then
// FailedPrecondition naming the layer and the weight.
Status CheckPartitionWeights(const Model& model);

}  // namespace serdab::engine

#endif  // SERDAB_ENCLAVE_ENGINE_PARTITION_FILE_H_
