// serdab layers: the layer view the partitioner plans with.
#include <CLI/CLI.hpp>
#include <cstdio>
#include <string>

#include "cli/commands.h"
#include "enclave/engine/model.h"

namespace serdab::cli {
namespace {

constexpr double kMiB = 1024.0 * 1024.0;

std::string JsonEscape(const std::string& s) {
  std::string out;
  for (char c : s) {
    if (c == '"' || c == '\\') {
      out += '\\';
      out += c;
    } else if (static_cast<unsigned char>(c) < 0x20) {
      char buf[8];
      std::snprintf(buf, sizeof(buf), "\\u%04x", c);
      out += buf;
    } else {
      out += c;
    }
  }
  return out;
}

std::string JsonShape(const engine::Shape& shape) {
  std::string s = "[";
  for (size_t i = 0; i < shape.size(); ++i) s += (i ? "," : "") + std::to_string(shape[i]);
  return s + "]";
}

void PrintJson(const engine::Model& model) {
  std::printf("{\"layers\":[");
  for (const engine::LayerInfo& l : model.layers()) {
    const engine::CutInfo& cut = model.cuts()[l.index];
    std::printf("%s\n{\"index\":%d,\"name\":\"%s\",\"op\":\"%s\",\"fused\":\"%s\",",
                l.index ? "," : "", l.index, JsonEscape(l.name).c_str(), l.op_type.c_str(),
                l.fused.c_str());
    std::printf("\"output_shapes\":[");
    for (size_t i = 0; i < l.outputs.size(); ++i) {
      std::printf("%s%s", i ? "," : "", JsonShape(l.outputs[i].shape).c_str());
    }
    std::printf(
        "],\"weight_bytes\":%zu,\"flops\":%lld,\"cut_bytes_before\":%zu,\"cut_tensors_before\":[",
        l.weight_bytes, static_cast<long long>(l.flops), cut.bytes);
    for (size_t i = 0; i < cut.names.size(); ++i) {
      std::printf("%s\"%s\"", i ? "," : "", JsonEscape(cut.names[i]).c_str());
    }
    std::printf("]}");
  }
  const engine::CutInfo& last = model.cuts().back();
  std::printf("\n],\"output_bytes\":%zu,\"weight_bytes\":%zu}\n", last.bytes, model.weight_bytes());
}

void PrintTable(const engine::Model& model) {
  std::printf("%5s  %-34s %-28s %-18s %10s %10s %12s\n", "index", "name", "op", "output shape",
              "weight MiB", "MFLOPs", "cut bytes");
  for (const engine::LayerInfo& l : model.layers()) {
    std::string op = l.op_type;
    if (!l.fused.empty()) op += "+" + l.fused;
    std::string name = l.name.size() > 34 ? "..." + l.name.substr(l.name.size() - 31) : l.name;
    std::printf("%5d  %-34s %-28s %-18s %10.3f %10.2f %12zu\n", l.index, name.c_str(), op.c_str(),
                engine::ShapeToString(l.outputs.front().shape).c_str(), l.weight_bytes / kMiB,
                l.flops / 1e6, model.cuts()[l.index].bytes);
  }
  std::printf("%d layers, %.2f MiB of weights, output %zu bytes\n", model.num_layers(),
              model.weight_bytes() / kMiB, model.cuts().back().bytes);
}

}  // namespace

int RunLayersCommand(int argc, char** argv) {
  std::string model_path;
  bool json = false;
  CLI::App app{
      "Lists the layers of a model after constant folding and fusion: index, name,\n"
      "op, output shape, weight MiB, MFLOPs and the bytes live across the cut before\n"
      "each layer (the data a pipeline stage starting there receives).",
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
