// serdab zoo: writes a model with a torchvision architecture and seeded
// random weights, for tests, benchmarks and demos without downloads.
#include <cstdio>
#include <string>

#include "cli/commands.h"
#include "cli/flags.h"
#include "cli/zoo/model_zoo.h"

namespace serdab::cli {

int RunZooCommand(int argc, char** argv) {
  std::string name, out;
  int64_t seed = 0;
  bool list = false;
  std::string summary =
      "Writes an ONNX model (opset 13) whose architecture is identical to torchvision's,\n"
      "with deterministic random weights: the same seed gives the same bytes.\n\nmodels:\n";
  for (const std::string& n : zoo::ModelNames()) {
    summary += "  " + n + std::string(n.size() < 16 ? 16 - n.size() : 1, ' ') +
               zoo::DescribeModel(n) + "\n";
  }
  FlagParser flags("zoo", summary);
  flags.AddString("name", &name, "model name (see the list above)");
  flags.AddString("out", &out, "output .onnx file");
  flags.AddInt("seed", &seed, "weight seed", 0);
  flags.AddBool("list", &list, "print the model names and exit");
  if (Status s = flags.Parse(argc, argv, 2); !s.ok()) return ReportError("zoo", s, true);
  if (flags.help_requested()) {
    std::printf("%s", flags.Usage().c_str());
    return 0;
  }
  if (list) {
    for (const std::string& n : zoo::ModelNames()) std::printf("%s\n", n.c_str());
    return 0;
  }
  if (name.empty() || out.empty()) {
    return ReportError("zoo", Status::InvalidArgument("--name and --out are required"), true);
  }
  if (Status s = zoo::WriteModel(name, static_cast<uint64_t>(seed), out); !s.ok()) {
    return ReportError("zoo", s);
  }
  std::printf("wrote %s (seed %lld) to %s\n", name.c_str(), static_cast<long long>(seed),
              out.c_str());
  return 0;
}

}  // namespace serdab::cli
