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
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "enclave/common/status.h"
#include "enclave/engine/model.h"

namespace serdab::engine {

// The file's weights each layer reads (Value::sources: the initializers and
// Constant outputs its constants are computed from), by layer, numbered as
// Model numbers them with ModelOptions::fuse on (what a stage runs). Finding
// them imports and fuses the whole model once; a rollout's stages then each
// take their share of the file without doing it again.
class LayerWeightSources {
 public:
  // Errors as ImportOnnxBytes and Model::FromGraph give them.
  static Result<LayerWeightSources> Of(std::string_view onnx);

  int layers() const { return static_cast<int>(by_layer_.size()); }
  // The weights layers [begin, end) read (end -1: to the last layer);
  // OutOfRange for a range outside the model.
  Result<std::set<std::string>> OfRange(int begin, int end) const;

 private:
  std::vector<std::vector<std::string>> by_layer_;
};

// `onnx` with only the weights of layers [begin, end) (end -1: to the last
// layer), whose sources are `sources` (found in the same file).
// `*removed_bytes` (if not null) gets the bytes left out. OutOfRange for a
// range outside the model.
Result<std::string> PartitionModelFile(std::string_view onnx, const LayerWeightSources& sources,
                                       int begin, int end, uint64_t* removed_bytes = nullptr);

// OK unless a layer in the model's kept range reads a constant computed from
// a weight the importer synthesized (Graph::synthesized); then
// FailedPrecondition naming the layer and the weight.
Status CheckPartitionWeights(const Model& model);

}  // namespace serdab::engine

#endif  // SERDAB_ENCLAVE_ENGINE_PARTITION_FILE_H_
