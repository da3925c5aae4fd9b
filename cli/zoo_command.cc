// serdab zoo: writes a model with a torchvision architecture and seeded
// random weights, for tests, benchmarks and demos without downloads.
#include <CLI/CLI.hpp>
#include <cstdio>
#include <limits>
#include <string>

#include "cli/commands.h"
#include "cli/zoo/model_zoo.h"

namespace serdab::cli {

int RunZooCommand(int argc, char** argv) {
  std::string name, out;
  int64_t seed = 0;
  bool list = false;
  zoo::ZooOptions options;
  std::string models = "models:\n";
  for (const std::string& n : zoo::ModelNames()) {
    models += "  " + n + std::string(n.size() < 16 ? 16 - n.size() : 1, ' ') +
              zoo::DescribeModel(n) + "\n";
  }
  CLI::App app{
      "Writes an ONNX model (opset 13) whose architecture is identical to torchvision's,\n"
      "with deterministic random weights: the same seed gives the same bytes.",
      "zoo"};
  app.footer(models);
  app.add_option("--name", name, "model name (see the list below)");
  app.add_option("--out", out, "output .onnx file");
  app.add_option("--seed", seed, "weight seed")
      ->capture_default_str()
      ->transform(DecimalInteger())
      ->check(CLI::Range(int64_t{0}, std::numeric_limits<int64_t>::max()));
  app.add_flag("--pixel-input", options.pixel_input,
               "take a camera's uint8 RGB picture (1 x H x W x 3) and normalise it in the "
               "model, as torchvision's ToTensor and Normalize do: a frame then crosses the "
               "network and the enclave boundary at a byte per sample");
  app.add_flag("--list", list, "print the model names and exit");
  if (auto rc = ParseFlags(app, argc, argv)) return *rc;
  if (list) {
    for (const std::string& n : zoo::ModelNames()) std::printf("%s\n", n.c_str());
    return 0;
  }
  // Required unless --list, which CLI11 cannot say, so checked here.
  if (name.empty() || out.empty()) {
    return ReportError("zoo", Status::InvalidArgument("--name and --out are required"), true);
  }
  if (Status s = zoo::WriteModel(name, static_cast<uint64_t>(seed), out, options); !s.ok()) {
    return ReportError("zoo", s);
  }
  std::printf("wrote %s (seed %lld) to %s\n", name.c_str(), static_cast<long long>(seed),
              out.c_str());
  return 0;
}

}  // namespace serdab::cli
