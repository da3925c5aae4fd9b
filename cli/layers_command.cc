// serdab layers: the layer view the partitioner plans with.
#include <CLI/CLI.hpp>
#include <cstdio>
#include <nlohmann/json.hpp>
#include <string>

#include "cli/commands.h"
#include "enclave/engine/model.h"

namespace serdab::cli {
namespace {

constexpr double kMiB = 1024.0 * 1024.0;

void PrintJson(const engine::Model& model) {
  nlohmann::ordered_json layers = nlohmann::ordered_json::array();
  for (const engine::LayerInfo& l : model.layers()) {
    const engine::CutInfo& cut = model.cuts()[l.index];
    nlohmann::ordered_json output_shapes = nlohmann::ordered_json::array();
    for (const engine::TensorInfo& output : l.outputs) output_shapes.push_back(output.shape);
    layers.push_back(nlohmann::ordered_json{
        {"index", l.index},
        {"name", l.name},
        {"op", l.op_type},
        {"fused", l.fused},
        {"output_shapes", std::move(output_shapes)},
        {"weight_bytes", l.weight_bytes},
        {"streamable_weight_bytes", l.streamable_weight_bytes},
        {"prepared_weight_bytes", l.prepared_weight_bytes},
        {"flops", l.flops},
        {"cut_bytes_before", cut.bytes},
        {"cut_tensors_before", cut.names},
    });
  }
  const nlohmann::ordered_json json = {
      {"layers", std::move(layers)},
      {"output_bytes", model.cuts().back().bytes},
      {"weight_bytes", model.weight_bytes()},
  };
  // Names come from the model file: invalid UTF-8 in them is replaced, not fatal.
  std::printf("%s\n",
              json.dump(-1, ' ', false, nlohmann::ordered_json::error_handler_t::replace).c_str());
}

void PrintTable(const engine::Model& model) {
  std::printf("%5s  %-34s %-28s %-18s %10s %10s %10s %12s\n", "index", "name", "op", "output shape",
              "weight MiB", "stream MiB", "MFLOPs", "cut bytes");
  size_t streamable = 0, prepared = 0;
  for (const engine::LayerInfo& l : model.layers()) {
    std::string op = l.op_type;
    if (!l.fused.empty()) op += "+" + l.fused;
    std::string name = l.name.size() > 34 ? "..." + l.name.substr(l.name.size() - 31) : l.name;
    std::printf("%5d  %-34s %-28s %-18s %10.3f %10.3f %10.2f %12zu\n", l.index, name.c_str(),
                op.c_str(), engine::ShapeToString(l.outputs.front().shape).c_str(),
                l.weight_bytes / kMiB, l.streamable_weight_bytes / kMiB, l.flops / 1e6,
                model.cuts()[l.index].bytes);
    streamable += l.streamable_weight_bytes;
    prepared += l.prepared_weight_bytes;
  }
  std::printf(
      "%d layers, %.2f MiB of weights (%.2f MiB of them transformed copies that kernels "
      "prepared, %.2f MiB streamable), output %zu bytes\n",
      model.num_layers(), model.weight_bytes() / kMiB, prepared / kMiB, streamable / kMiB,
      model.cuts().back().bytes);
}

}  // namespace

int RunLayersCommand(int argc, char** argv) {
  std::string model_path;
  bool json = false;
  CLI::App app{
      "Lists the layers of a model after constant folding and fusion: index, name,\n"
      "op, output shape, weight MiB (the weights and any transformed copy a kernel\n"
      "keeps, e.g. Winograd's), the MiB of those an enclave can stream instead of\n"
      "holding, MFLOPs and the bytes live across the cut before each layer (the data\n"
      "a pipeline stage starting there receives).",
      "layers"};
  app.add_option("--model", model_path, "ONNX model file")->required();
  app.add_flag("--json", json, "print JSON instead of a table");
  if (auto rc = ParseFlags(app, argc, argv)) return *rc;
  auto model = engine::Model::LoadOnnx(model_path);
  if (!model.ok()) return ReportError("layers", model.status());
  if (json) {
    PrintJson(**model);
  } else {
    PrintTable(**model);
  }
  return 0;
}

}  // namespace serdab::cli
