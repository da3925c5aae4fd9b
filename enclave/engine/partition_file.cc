#include "enclave/engine/partition_file.h"

#include <memory>
#include <set>

#include "enclave/engine/onnx_importer.h"

namespace serdab::engine {

Result<LayerWeightSources> LayerWeightSources::Of(std::string_view onnx) {
  SERDAB_ASSIGN_OR_RETURN(Graph graph, ImportOnnxBytes(onnx, "the model"));
  // Only the layer numbering and the constants' sources matter here: no
  // layer is kept, so no kernel is set up and no weight stays.
  ModelOptions options;
  options.optimized_kernels = false;
  options.partition = true;
  options.keep_begin = 0;
  options.keep_end = 0;
  SERDAB_ASSIGN_OR_RETURN(std::unique_ptr<Model> model,
                          Model::FromGraph(std::move(graph), options));
  const Graph& g = model->graph();
  LayerWeightSources out;
  out.by_layer_.resize(g.nodes().size());
  for (size_t n = 0; n < g.nodes().size(); ++n) {
    std::set<std::string> sources;
    for (int in : g.nodes()[n].inputs) {
      if (in != kNoValue) sources.insert(g.value(in).sources.begin(), g.value(in).sources.end());
    }
    out.by_layer_[n].assign(sources.begin(), sources.end());
  }
  return out;
}

Result<std::set<std::string>> LayerWeightSources::OfRange(int begin, int end) const {
  if (end < 0) end = layers();
  if (begin < 0 || begin > end || end > layers()) {
    return Status::OutOfRange("layers [" + std::to_string(begin) + ", " + std::to_string(end) +
                              ") are not within the model's " + std::to_string(layers()) +
                              " layers");
  }
  std::set<std::string> keep;
  for (int n = begin; n < end; ++n) keep.insert(by_layer_[n].begin(), by_layer_[n].end());
  return keep;
}

Result<std::string> PartitionModelFile(std::string_view onnx, const LayerWeightSources& sources,
                                       int begin, int end, uint64_t* removed_bytes) {
  SERDAB_ASSIGN_OR_RETURN(std::set<std::string> keep, sources.OfRange(begin, end));
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
