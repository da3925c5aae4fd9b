#include "enclave/engine/partition_file.h"

#include <memory>
#include <set>

#include "enclave/engine/onnx_importer.h"

namespace serdab::engine {

Result<std::string> PartitionModelFile(std::string_view onnx, int begin, int end,
                                       uint64_t* removed_bytes) {
  SERDAB_ASSIGN_OR_RETURN(Graph graph, ImportOnnxBytes(onnx, "the model"));
  // Reference kernels: only the layer numbering and the constants' sources
  // matter here, not how fast the kept layers would run.
  ModelOptions options;
  options.optimized_kernels = false;
  options.partition = true;
  options.keep_begin = begin;
  options.keep_end = end;
  SERDAB_ASSIGN_OR_RETURN(std::unique_ptr<Model> model,
                          Model::FromGraph(std::move(graph), options));
  const Graph& g = model->graph();
  std::set<std::string> keep;
  for (int n = model->kept_begin(); n < model->kept_end(); ++n) {
    for (int in : g.nodes()[n].inputs) {
      if (in == kNoValue) continue;
      for (const std::string& source : g.value(in).sources) keep.insert(source);
    }
  }
  return StripWeightsExcept(onnx, keep, removed_bytes);
}

Status CheckPartitionWeights(const Model& model) {
  const Graph& g = model.graph();
  if (g.synthesized().empty()) return Status::Ok();
  for (int n = model.kept_begin(); n < model.kept_end(); ++n) {
    const Node& node = g.nodes()[n];
    for (int in : node.inputs) {
      if (in == kNoValue) continue;
      for (const std::string& source : g.value(in).sources) {
        if (g.synthesized().count(source) > 0) {
          return Status::FailedPrecondition("layer " + std::to_string(n) + " ('" + node.name +
                                            "') reads weight '" + source +
                                            "', which the partition does not carry");
        }
      }
    }
  }
  return Status::Ok();
}

}  // namespace serdab::engine
